//! `devsky submit PACKAGE` and `devsky install NAME[@REQ]`: a package of the store to the
//! project's registry (Tuned, claims checked, reserved, uploaded), and packages from it
//! into the store with their dependencies (docs/PACKAGES.md, docs/REGISTRY.md).

use clap::Args;

use super::output::print_json;
use super::snapshot::At;
use crate::engine::packages::tune::Level;
use crate::engine::project::Project;
use crate::engine::registry::packages::{self, InstallOutcome, Submitted};
use crate::engine::registry::releases::{self, Source};
use crate::engine::util::units::rfc3339;

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The package: its id (`3`, `#3`) or name.
    pub package: String,
    /// An "in work" version: uploading it renews your claims on the package.
    #[arg(long)]
    pub in_work: bool,
    #[command(flatten)]
    pub at: At,
}

#[derive(Debug, Args)]
pub struct InstallArgs {
    /// NAME or NAME@REQUIREMENT (Cargo's syntax: `shop@^1.2`).
    #[arg(required_unless_present = "release", conflicts_with = "release")]
    pub want: Option<String>,
    /// Install the exact versions release snapshot NAME pins (kept in the project's cache
    /// by the release's time; used from there when the registry cannot be reached).
    #[arg(long, value_name = "NAME")]
    pub release: Option<String>,
    /// With --release: bring the release and its archives into the cache, install nothing.
    #[arg(long, requires = "release")]
    pub download_only: bool,
    #[command(flatten)]
    pub at: At,
}

/// `devsky submit`: exit 0 published, 2 refused (Tune errors or others' claims).
pub fn submit(a: SubmitArgs) -> anyhow::Result<i32> {
    let project = Project::locate(&a.at.project)?;
    let store = project.open_store(false)?;
    let p = super::package::find(&store, &a.package)?;
    let out = packages::submit(&project, &store, &p, a.in_work)?;
    if a.at.json {
        print_json(&out)?;
    }
    match out {
        Submitted::Published {
            published,
            findings,
        } => {
            if !a.at.json {
                for f in &findings {
                    println!("warning [{}] {}", f.code, f.message);
                }
                println!(
                    "submitted {} {}: SKY_ID {}, {} bytes, blake3 {}",
                    published.name,
                    published.version,
                    published.sky_id,
                    published.size,
                    published.checksum
                );
            }
            Ok(0)
        }
        Submitted::Tune { findings } => {
            if !a.at.json {
                for f in &findings {
                    let level = if f.level == Level::Error {
                        "error"
                    } else {
                        "warning"
                    };
                    eprintln!("{level} [{}] {}", f.code, f.message);
                }
                eprintln!(
                    "{} {}: Tune found errors; nothing was sent (see `devsky package tune {}`)",
                    p.name, p.version, p.id
                );
            }
            Ok(2)
        }
        Submitted::Claimed { theirs } => {
            if !a.at.json {
                for c in &theirs {
                    eprintln!(
                        "claimed  {} by {} until {}",
                        c.record,
                        c.owner,
                        rfc3339(c.expires)
                    );
                }
                eprintln!(
                    "{} {}: {} record(s) are taken into work by someone else; nothing was sent",
                    p.name,
                    p.version,
                    theirs.len()
                );
            }
            Ok(2)
        }
    }
}

/// `devsky install`: exit 0 installed, 2 no solution or a conflict.
pub fn install(a: InstallArgs) -> anyhow::Result<i32> {
    let project = Project::locate(&a.at.project)?;
    let mut store = project.open_store(false)?;
    let (out, want) = match (&a.want, &a.release) {
        (Some(want), _) => (packages::install(&project, &mut store, want)?, want.clone()),
        (None, Some(name)) => {
            let r = releases::install(&project, &mut store, name, a.download_only)?;
            if a.at.json {
                print_json(&r)?;
                return Ok(r.outcome.as_ref().map_or(0, exit_code));
            }
            let from = match r.source {
                Source::Fetched => "fetched from the registry",
                Source::Cache => "from the cache (the registry lists the same time)",
                Source::Offline => "from the cache: the registry cannot be reached",
            };
            println!("release {} of {}, {from}", r.release, rfc3339(r.created));
            let Some(outcome) = r.outcome else {
                println!(
                    "{} archive(s) downloaded into the cache; nothing installed",
                    r.to_download
                );
                return Ok(0);
            };
            (outcome, format!("release {name}"))
        }
        (None, None) => anyhow::bail!("give NAME[@REQ] or --release NAME"),
    };
    let json = a.at.json;
    report(out, &want, json)
}

fn exit_code(o: &InstallOutcome) -> i32 {
    match o {
        InstallOutcome::Installed { .. } => 0,
        _ => 2,
    }
}

/// Print an install's outcome (unless `json`: printed as JSON); the exit code.
fn report(out: InstallOutcome, want: &str, json: bool) -> anyhow::Result<i32> {
    if json {
        print_json(&out)?;
        return Ok(exit_code(&out));
    }
    let list = |installed: &[packages::Installed]| {
        for i in installed {
            if i.already {
                println!(
                    "already here  {} {} (package {})",
                    i.name, i.version, i.package
                );
            } else {
                println!(
                    "installed     {} {} as package {}: {} record(s){}",
                    i.name,
                    i.version,
                    i.package,
                    i.records,
                    if i.downloaded {
                        ""
                    } else {
                        " (from the cache)"
                    }
                );
            }
        }
    };
    match out {
        InstallOutcome::Installed { installed } => {
            list(&installed);
            Ok(0)
        }
        InstallOutcome::NoSolution { explanation } => {
            eprintln!(
                "devsky: cannot install {want}: no set of package versions satisfies it:\n{explanation}"
            );
            Ok(2)
        }
        InstallOutcome::Conflicts {
            package,
            conflicts,
            installed,
        } => {
            list(&installed);
            for c in &conflicts {
                eprintln!("conflict: {c}");
            }
            eprintln!("{package}: {} conflict(s), not installed", conflicts.len());
            Ok(2)
        }
    }
}
