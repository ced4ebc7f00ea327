//! `devsky package export|import|tune|show|list`: packages as `*.sky` archives
//! (docs/PACKAGES.md).

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use clap::Subcommand;
use serde::Serialize;

use super::output::print_json;
use super::snapshot::At;
use crate::engine::packages::archive::{self, Entry};
use crate::engine::packages::import::Outcome;
use crate::engine::packages::tune::{self, Finding, Level};
use crate::engine::packages::{export, import, tune_package};
use crate::engine::project::Project;
use crate::engine::scripts;
use crate::store::packages as extra;
use crate::store::scripts as rows;

#[derive(Debug, Subcommand)]
pub enum PackageCommand {
    /// Write packages as archives: floating ids renumbered from 50001, references rewritten.
    ///
    /// A package is a change script or an imported package (`devsky package list`). With
    /// -o, one package to FILE; with --dir, each to DIR/<name>-<version>.sky.
    Export {
        /// Package ids (or names).
        #[arg(required = true)]
        ids: Vec<String>,
        /// The archive to write (one package).
        #[arg(
            short = 'o',
            long = "output",
            value_name = "FILE",
            conflicts_with = "dir"
        )]
        output: Option<PathBuf>,
        /// A folder to write one archive per package into.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        #[command(flatten)]
        at: At,
    },
    /// Read an archive (devsky's or Coresky's, bzip2 or plain) into the codebase.
    ///
    /// Fixed-area ids are kept; floating ids are rebased into the free range and
    /// references rewritten. A fixed record that exists here with other content is a
    /// conflict: every conflict is listed, nothing is written, exit 2.
    Import {
        file: PathBuf,
        #[command(flatten)]
        at: At,
    },
    /// Check a package (id or name) or an archive file: header fields and lists,
    /// references, DEV.SKY's rules. Exit 2 when there is an error.
    Tune {
        /// A package id or name, or the path of a .sky file.
        package: String,
        #[command(flatten)]
        at: At,
    },
    /// Show an archive's header and entries (no project needed).
    Show {
        file: PathBuf,
        /// Print the result as JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the project's packages (change scripts and imported packages).
    List(At),
    /// Set header fields of a package made here (Tune says what they must hold). Lists
    /// take words: `--depends dev@^1 shop@1.2`; a list flag with no word empties it.
    Set {
        /// Package id or name.
        package: String,
        #[arg(long)]
        version: Option<String>,
        #[arg(long)]
        app: Option<String>,
        #[arg(long, num_args = 0.., value_name = "NAME@REQ")]
        depends: Option<Vec<String>>,
        #[arg(long, num_args = 0.., value_name = "WORD")]
        included: Option<Vec<String>>,
        #[arg(long, num_args = 0.., value_name = "ID|MACRO")]
        priorun: Option<Vec<String>>,
        #[arg(long)]
        authors: Option<String>,
        /// Not 0: the package is one unit starting at this record.
        #[arg(long, value_name = "ID")]
        start_id: Option<i64>,
        #[command(flatten)]
        at: At,
    },
    /// Pick a version of every package the request needs among the project's packages
    /// (their `depends`), or explain why no set of versions works (exit 2).
    Resolve {
        /// NAME or NAME@REQUIREMENT (Cargo's syntax: ^1.2, ~1.2, >=2,<3, =1.0.0).
        #[arg(required = true)]
        wants: Vec<String>,
        #[command(flatten)]
        at: At,
    },
}

pub fn run(cmd: PackageCommand) -> anyhow::Result<i32> {
    match cmd {
        PackageCommand::Export {
            ids,
            output,
            dir,
            at,
        } => export_cmd(ids, output, dir, at),
        PackageCommand::Import { file, at } => import_cmd(&file, at),
        PackageCommand::Tune { package, at } => tune_cmd(&package, at),
        PackageCommand::Show { file, json } => show_cmd(&file, json),
        PackageCommand::List(at) => list_cmd(at),
        PackageCommand::Resolve { wants, at } => resolve_cmd(&wants, at),
        PackageCommand::Set {
            package,
            version,
            app,
            depends,
            included,
            priorun,
            authors,
            start_id,
            at,
        } => set_cmd(
            &package,
            extra::HeaderEdit {
                version,
                app,
                depends,
                included,
                priorun,
                authors,
                start_id,
            },
            at,
        ),
    }
}

#[derive(Serialize)]
struct Written {
    package: i64,
    name: String,
    version: String,
    file: PathBuf,
    bytes: usize,
    blake3: String,
}

fn export_cmd(
    ids: Vec<String>,
    output: Option<PathBuf>,
    dir: Option<PathBuf>,
    at: At,
) -> anyhow::Result<i32> {
    let project = Project::locate(&at.project)?;
    let store = project.open_store(false)?;
    let packages = ids
        .iter()
        .map(|id| find(&store, id))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let targets: Vec<PathBuf> = match (&output, &dir) {
        (Some(o), None) if packages.len() == 1 => vec![o.clone()],
        (Some(_), None) => bail!("-o writes one package; give --dir DIR for several"),
        (None, Some(d)) => {
            std::fs::create_dir_all(d).with_context(|| format!("cannot make {}", d.display()))?;
            packages
                .iter()
                .map(|p| d.join(export::file_name(p)))
                .collect()
        }
        _ => bail!("say where to write: -o FILE.sky or --dir DIR"),
    };
    // Every archive is made before any is written: one bad package writes nothing.
    let mut made = Vec::new();
    for p in &packages {
        made.push(export::export(&store, p)?);
    }
    let mut written = Vec::new();
    for ((p, bytes), file) in packages.iter().zip(made).zip(targets) {
        write_atomic(&file, &bytes)?;
        written.push(Written {
            package: p.id,
            name: p.name.clone(),
            version: p.version.clone(),
            file,
            bytes: bytes.len(),
            blake3: blake3::hash(&bytes).to_hex().to_string(),
        });
    }
    if at.json {
        print_json(&written)?;
    } else {
        for w in &written {
            println!(
                "package {} \"{}\" {} -> {} ({} bytes)",
                w.package,
                w.name,
                w.version,
                w.file.display(),
                w.bytes
            );
        }
    }
    Ok(0)
}

/// A package by id or name (packages and change scripts share `_dev_packages`).
pub(super) fn find(store: &crate::store::Store, spec: &str) -> anyhow::Result<rows::Package> {
    scripts::resolve(store, spec).map_err(|e| {
        anyhow::anyhow!(
            "{}",
            e.to_string()
                .replace("no script", "no package")
                .replace("scripts are named", "packages are named")
                .replace("`devsky script list`", "`devsky package list`")
        )
    })
}

/// Write through a temporary file in the same folder and rename it into place.
fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

fn open_archive(file: &Path) -> anyhow::Result<archive::Archive> {
    let f = std::fs::File::open(file).with_context(|| format!("cannot open {}", file.display()))?;
    archive::read_from(std::io::BufReader::new(f)).with_context(|| format!("{}", file.display()))
}

fn import_cmd(file: &Path, at: At) -> anyhow::Result<i32> {
    let project = Project::locate(&at.project)?;
    let mut store = project.open_store(false)?;
    let a = open_archive(file)?;
    let outcome = import::import(&project, &mut store, a, &file.display().to_string())?;
    if at.json {
        print_json(&outcome)?;
    }
    match outcome {
        Outcome::Imported(i) => {
            if !at.json {
                let floating: Vec<i64> = i
                    .records
                    .iter()
                    .filter(|(from, _, _)| *from > crate::store::codebase::FIXED_AREA_MAX)
                    .map(|(_, to, _)| *to)
                    .collect();
                println!(
                    "imported {}package \"{}\" {} as package {}: {} record(s){}{}",
                    if i.coresky { "Coresky " } else { "" },
                    i.name,
                    i.version,
                    i.package,
                    i.records.len(),
                    match (floating.first(), floating.last()) {
                        (Some(a), Some(b)) => format!(", floating ids {a}..{b}"),
                        _ => String::new(),
                    },
                    if i.shared > 0 {
                        format!(", {} fixed record(s) already here", i.shared)
                    } else {
                        String::new()
                    }
                );
            }
            Ok(0)
        }
        Outcome::Conflicts { conflicts } => {
            for c in &conflicts {
                eprintln!("conflict: {c}");
            }
            eprintln!(
                "{} conflict(s): nothing was imported from {}",
                conflicts.len(),
                file.display()
            );
            Ok(2)
        }
    }
}

#[derive(Serialize)]
struct TuneReport {
    package: String,
    ok: bool,
    findings: Vec<Finding>,
}

fn tune_cmd(spec: &str, at: At) -> anyhow::Result<i32> {
    let path = Path::new(spec);
    let (label, findings) = if path.is_file() {
        let a = open_archive(path)?;
        let store = Project::locate(&at.project)
            .ok()
            .and_then(|p| p.open_store(false).ok());
        let exists = |id: i64| {
            store.as_ref().is_some_and(|s| {
                crate::store::codebase::summary(s.conn(), id)
                    .ok()
                    .flatten()
                    .is_some()
            })
        };
        let label = format!("{} {}", a.header.name, a.header.version);
        let f = tune::tune(
            &a,
            &tune::Context {
                exists: &exists,
                unsent_before: Vec::new(),
                dangling: Vec::new(),
            },
        );
        (label, f)
    } else {
        let store = Project::locate(&at.project)?.open_store(false)?;
        let p = find(&store, spec)?;
        (
            format!("{} {}", p.name, p.version),
            tune_package(&store, &p)?,
        )
    };
    let ok = !findings.iter().any(|f| f.level == Level::Error);
    if at.json {
        print_json(&TuneReport {
            package: label,
            ok,
            findings,
        })?;
    } else {
        for f in &findings {
            let level = match f.level {
                Level::Error => "error",
                Level::Warning => "warning",
            };
            println!("{level} [{}] {}", f.code, f.message);
        }
        let errors = findings.iter().filter(|f| f.level == Level::Error).count();
        println!(
            "{label}: {}",
            if ok {
                format!("ok ({} warning(s))", findings.len())
            } else {
                format!("{errors} error(s), {} warning(s)", findings.len() - errors)
            }
        );
    }
    Ok(if ok { 0 } else { 2 })
}

#[derive(Serialize)]
struct Shown {
    format: String,
    name: String,
    version: String,
    sky_id: i64,
    app: String,
    depends: Vec<String>,
    included: Vec<String>,
    priorun: Vec<String>,
    authors: String,
    start_id: i64,
    checksum: String,
    extra: Vec<(String, String)>,
    entries: Vec<String>,
}

fn show_cmd(file: &Path, json: bool) -> anyhow::Result<i32> {
    let a = open_archive(file)?;
    let h = a.header.clone();
    let entries: Vec<String> = a
        .entries
        .iter()
        .map(|e| match e {
            Entry::Record(r) => format!(
                "RECORD {} {} {} ({}, {}, {} bytes)",
                r.id,
                r.name,
                r.version,
                r.kind,
                r.status,
                r.body.len()
            ),
            Entry::Sql(s) => format!("SQL ({} bytes)", s.len()),
            Entry::File { path, data } => format!("FILE {path} ({} bytes)", data.len()),
            Entry::Dirs(d) => format!("DIRS {}", d.join(" ")),
        })
        .collect();
    let shown = Shown {
        format: if h.is_devsky() {
            h.format.clone()
        } else {
            "coresky".into()
        },
        name: h.name,
        version: h.version,
        sky_id: h.sky_id,
        app: h.app,
        depends: h.depends,
        included: h.included,
        priorun: h.priorun,
        authors: h.authors,
        start_id: h.start_id,
        checksum: h.checksum,
        extra: h.extra,
        entries,
    };
    if json {
        return print_json(&shown).map(|_| 0);
    }
    println!("format    {}", shown.format);
    println!("name      {}", shown.name);
    println!("version   {}", shown.version);
    println!("sky_id    {}", shown.sky_id);
    println!("app       {}", shown.app);
    println!("depends   {}", shown.depends.join(" "));
    println!("included  {}", shown.included.join(" "));
    println!("priorun   {}", shown.priorun.join(" "));
    println!("authors   {}", shown.authors);
    println!("start_id  {}", shown.start_id);
    if !shown.checksum.is_empty() {
        println!("checksum  {} (verified)", shown.checksum);
    }
    for (k, v) in &shown.extra {
        println!("{k:<9} {v}");
    }
    println!();
    for e in &shown.entries {
        println!("{e}");
    }
    Ok(0)
}

#[derive(Serialize)]
struct Listed {
    id: i64,
    name: String,
    version: String,
    sky_id: i64,
    origin: String,
    records: usize,
}

fn list_cmd(at: At) -> anyhow::Result<i32> {
    let store = Project::locate(&at.project)?.open_store(false)?;
    let mut out = Vec::new();
    for p in rows::packages(store.conn())? {
        let (_, origin) = extra::extra(store.conn(), p.id)?.unwrap_or_default();
        out.push(Listed {
            id: p.id,
            records: extra::records(store.conn(), p.id)?.len(),
            name: p.name,
            version: p.version,
            sky_id: p.sky_id,
            origin: if origin.is_empty() {
                "made here".into()
            } else {
                origin
            },
        });
    }
    if at.json {
        return print_json(&out).map(|_| 0);
    }
    for l in out {
        println!(
            "{:>4}  {:<30} {:<10} sky_id {:<6} {:>5} records  {}",
            l.id, l.name, l.version, l.sky_id, l.records, l.origin
        );
    }
    Ok(0)
}

fn resolve_cmd(wants: &[String], at: At) -> anyhow::Result<i32> {
    use crate::engine::packages::{StoreIndex, resolve};
    let store = Project::locate(&at.project)?.open_store(false)?;
    let deps = wants
        .iter()
        .map(|w| resolve::parse_dep(w))
        .collect::<Result<Vec<_>, _>>()?;
    match resolve::resolve(&StoreIndex(&store), &deps) {
        Ok(chosen) => {
            if at.json {
                let m: std::collections::BTreeMap<&String, String> =
                    chosen.iter().map(|(k, v)| (k, v.to_string())).collect();
                print_json(&m)?;
            } else {
                for (name, v) in &chosen {
                    println!("{name} {v}");
                }
            }
            Ok(0)
        }
        Err(resolve::ResolveError::NoSolution(why)) => {
            if at.json {
                print_json(&serde_json::json!({ "error": "no solution", "explanation": why }))?;
            } else {
                eprintln!("devsky: no set of package versions satisfies the request:\n{why}");
            }
            Ok(2)
        }
        Err(e) => Err(e.into()),
    }
}

fn set_cmd(spec: &str, edit: extra::HeaderEdit, at: At) -> anyhow::Result<i32> {
    let store = Project::locate(&at.project)?.open_store(false)?;
    let p = find(&store, spec)?;
    let (_, origin) = extra::extra(store.conn(), p.id)?.unwrap_or_default();
    if !origin.is_empty() {
        bail!(
            "package {} \"{}\" was imported ({origin}): its header travels with it and is not \
             changed here",
            p.id,
            p.name
        );
    }
    let one_line = |what: &str, v: &str| -> anyhow::Result<()> {
        if v.chars().any(char::is_control) {
            bail!("{what} must be one line");
        }
        Ok(())
    };
    for (what, v) in [
        ("version", &edit.version),
        ("app", &edit.app),
        ("authors", &edit.authors),
    ] {
        if let Some(v) = v {
            one_line(what, v)?;
        }
    }
    if let Some(v) = &edit.version {
        crate::engine::packages::resolve::parse_version(v)?;
    }
    for (what, list) in [
        ("depends", &edit.depends),
        ("included", &edit.included),
        ("priorun", &edit.priorun),
    ] {
        for w in list.iter().flatten() {
            if w.is_empty() || w.chars().any(|c| c.is_whitespace() || c.is_control()) {
                bail!("{what} entry {w:?}: entries are single words");
            }
        }
    }
    if edit.start_id.is_some_and(|s| s < 0) {
        bail!("--start-id is 0 or a record id");
    }
    extra::edit(store.conn(), p.id, &edit)?;
    let p = find(&store, &p.id.to_string())?;
    if at.json {
        print_json(&p)?;
    } else {
        println!(
            "package {} \"{}\" {}: depends [{}], included [{}], priorun [{}]",
            p.id,
            p.name,
            p.version,
            p.depends.join(" "),
            p.included.join(" "),
            p.priorun.join(" ")
        );
    }
    Ok(0)
}
