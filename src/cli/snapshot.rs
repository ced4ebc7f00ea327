//! `devsky snapshot create|list|show|delete|diff` and `devsky gc`.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use serde::Serialize;

use super::output::{print_json, stderr_progress};
use anyhow::Context;

use crate::engine::db::schema_diff::Rename;
use crate::engine::db::snapshot::{self as db_snapshot, DbSnapshot};
use crate::engine::db::{profile, verify_between};
use crate::engine::diff::changes::ChangeKind;
use crate::engine::map::EntryJson;
use crate::engine::project::Project;
use crate::engine::snapshot::objects::ObjectStore;
use crate::engine::snapshot::{self, Target};
use crate::engine::util::units::{format_time, human_size, thousands};

#[derive(Debug, Args)]
pub struct At {
    /// Project folder (default: the current folder).
    #[arg(short = 'C', long = "project", value_name = "DIR", default_value = ".")]
    pub project: PathBuf,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum SnapshotCommand {
    /// Snapshot the project (or a domain of it): its map and the content of every file.
    Create {
        #[arg(long)]
        name: Option<String>,
        /// Only the files of this domain (`devsky domain list`).
        #[arg(long)]
        domain: Option<String>,
        /// Also snapshot this database profile (`devsky db list`): schemas, and the rows
        /// or checksums of its tables. Default: the profile whose tables the domain names
        /// (`devsky domain add NAME --db PROFILE --tables T1,T2`), if it names one.
        #[arg(long, value_name = "PROFILE")]
        db: Option<String>,
        #[command(flatten)]
        at: At,
    },
    /// List snapshots, newest first.
    List(At),
    /// One snapshot: its details and, with --files, its map.
    Show {
        /// The snapshot: its id or its name.
        id: String,
        #[arg(long)]
        files: bool,
        #[command(flatten)]
        at: At,
    },
    /// Delete a snapshot (its contents go at the next `devsky gc`).
    Delete {
        /// The snapshot: its id or its name.
        id: String,
        #[command(flatten)]
        at: At,
    },
    /// What changed from snapshot A to snapshot B, or to the working tree. With --db: the
    /// SQL script from A's database to B's, or to the database now.
    Diff {
        /// The old snapshot: its id or its name.
        a: String,
        /// The new snapshot (id or name); default: the working tree.
        b: Option<String>,
        #[command(flatten)]
        db: DbDiffArgs,
        #[command(flatten)]
        at: At,
    },
}

#[derive(Debug, Args)]
pub struct DbDiffArgs {
    /// Diff the database part instead of files: print the forward SQL script.
    #[arg(long)]
    pub db: bool,
    /// Print the reverse script instead (back to snapshot A).
    #[arg(long, requires = "db")]
    pub reverse: bool,
    /// Allow destructive changes (dropped tables and columns, narrowed types) in the script
    /// printed. Without it they are refused with exit code 2 and their reasons on stderr.
    #[arg(long, requires = "db")]
    pub allow_destructive: bool,
    /// Print a script even when it is incomplete (something it does not do: data changes of
    /// 'checksum' tables, what the reverse cannot restore, objects devsky cannot script);
    /// it then carries one `-- INCOMPLETE:` comment per omission. Without it an incomplete
    /// script is refused with exit code 2 and each omission (object and reason) on stderr.
    #[arg(long, requires = "db")]
    pub allow_incomplete: bool,
    /// A column rename, TABLE.OLD=NEW (repeatable); otherwise a renamed column is a drop
    /// and an add.
    #[arg(long = "rename", value_name = "TABLE.OLD=NEW", requires = "db")]
    pub renames: Vec<String>,
    /// Apply both scripts to a scratch copy and check the results: without B a copy of the
    /// database now (reverse must give A, forward then the database); with B a copy built
    /// from A's database part alone (forward must give B, reverse then A; refused when A
    /// holds only checksums of a table).
    #[arg(long, requires = "db")]
    pub verify: bool,
    /// Run the script (the forward one, or with --reverse the reverse one) on the
    /// snapshot's database profile. Without B only --reverse makes sense (the database is
    /// already at the new side): it takes the database back to snapshot A. When a
    /// statement fails, the statements that ran and those that stay applied are listed on
    /// stderr, and the script that takes back exactly those is printed (exit code 1).
    #[arg(long, requires = "db", conflicts_with = "verify")]
    pub apply: bool,
}

#[derive(Serialize)]
struct DeltaJson {
    kind: ChangeKind,
    path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path_bytes: Option<Vec<u8>>,
    old: Option<EntryJson>,
    new: Option<EntryJson>,
}

pub fn run(cmd: SnapshotCommand) -> anyhow::Result<i32> {
    match cmd {
        SnapshotCommand::Create {
            name,
            domain,
            db,
            at,
        } => {
            let project = Project::locate(&at.project)?;
            let mut store = project.open_store(true)?;
            // A domain that names the tables of one database profile takes that database.
            let db = match (db, &domain) {
                (None, Some(d)) => {
                    let named = crate::store::snapshots::domain_db_tables(store.conn(), d)?;
                    (named.len() == 1)
                        .then(|| named.into_keys().next())
                        .flatten()
                }
                (db, _) => db,
            };
            let mut conn = match &db {
                Some(p) => Some(profile::connect(&project.root, &store, p, None)?),
                None => None,
            };
            let part = match (&db, conn.as_mut()) {
                (Some(p), Some(c)) => Some(snapshot::DbPart {
                    profile: p,
                    db: c.as_mut(),
                }),
                _ => None,
            };
            let c = snapshot::create_with_db(
                &project,
                &mut store,
                name.as_deref(),
                domain.as_deref(),
                part,
                &stderr_progress(),
            )?;
            if at.json {
                print_json(&c)?;
            } else {
                for p in &c.problems {
                    eprintln!("  {}: {}", p.path, p.reason);
                }
                println!(
                    "snapshot {} \"{}\": {} files, {} ({} new objects){}{}",
                    c.id,
                    c.name,
                    thousands(c.files as usize),
                    human_size(c.bytes as i64),
                    c.new_objects,
                    db.as_deref()
                        .map(|p| format!(", database {p}"))
                        .unwrap_or_default(),
                    if c.partial {
                        " — PARTIAL, see the problems above"
                    } else {
                        ""
                    }
                );
            }
            Ok(if c.partial { 3 } else { 0 })
        }
        SnapshotCommand::List(at) => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            let list = crate::store::snapshots::snapshots(store.conn())?;
            if at.json {
                return print_json(&list).map(|_| 0);
            }
            for s in list {
                println!(
                    "{:>4}  {}  {:>8} files {:>10}  {:<10} {}{}",
                    s.id,
                    format_time(s.created),
                    thousands(s.files as usize),
                    human_size(s.bytes),
                    s.domain.as_deref().unwrap_or("(all)"),
                    s.name,
                    if s.partial { "  [partial]" } else { "" }
                );
            }
            Ok(0)
        }
        SnapshotCommand::Show { id, files, at } => {
            let project = Project::locate(&at.project)?;
            let store = project.open_store(false)?;
            let s = snapshot::resolve(&store, &id)?;
            let id = s.id;
            let entries = if files {
                let objects = ObjectStore::open(&project.root)?;
                let m = snapshot::read_map(&objects, &s)?;
                Some(
                    m.map(|e| e.map(|e| EntryJson::from(&e)))
                        .collect::<anyhow::Result<Vec<_>>>()?,
                )
            } else {
                None
            };
            let db = snapshot::db_part(&store, id)?.map(
                |(profile, object)| serde_json::json!({ "profile": profile, "object": object }),
            );
            if at.json {
                print_json(&serde_json::json!({ "snapshot": s, "files": entries, "db": db }))?;
                return Ok(0);
            }
            println!("snapshot {}: {}", s.id, s.name);
            println!("created:  {}", format_time(s.created));
            println!(
                "domain:   {}  include {:?} exclude {:?}",
                s.domain.as_deref().unwrap_or("(all)"),
                s.include,
                s.exclude
            );
            println!(
                "files:    {} ({}){}",
                thousands(s.files as usize),
                human_size(s.bytes),
                if s.partial { ", partial" } else { "" }
            );
            if let Some(db) = &db {
                println!(
                    "database: {} (object {})",
                    db["profile"].as_str().unwrap_or(""),
                    db["object"].as_str().unwrap_or("")
                );
            }
            for e in entries.unwrap_or_default() {
                println!("{}  {}", e.blake3.unwrap_or_else(|| "-".repeat(64)), e.path);
            }
            Ok(0)
        }
        SnapshotCommand::Delete { id, at } => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            let id = snapshot::resolve(&store, &id)?.id;
            crate::store::snapshots::delete_snapshot(store.conn(), id)?;
            if !at.json {
                println!("deleted snapshot {id}; `devsky gc` frees its contents");
            }
            Ok(0)
        }
        SnapshotCommand::Diff { a, b, db, at } if db.db => {
            let store = Project::locate(&at.project)?.open_store(false)?;
            let (a, b) = resolve_pair(&store, &a, b.as_deref())?;
            db_diff(a, b, &db, &at)
        }
        SnapshotCommand::Diff { a, b, at, .. } => {
            let project = Project::locate(&at.project)?;
            let store = project.open_store(false)?;
            let (a, b) = resolve_pair(&store, &a, b.as_deref())?;
            let target = b.map_or(Target::Worktree, Target::Snapshot);
            let d = snapshot::diff_snapshot(&project, &store, a, target, &stderr_progress())?;
            if at.json {
                let list: Vec<DeltaJson> = d
                    .deltas
                    .iter()
                    .map(|x| DeltaJson {
                        kind: x.kind,
                        path: String::from_utf8_lossy(x.path()).into_owned(),
                        path_bytes: std::str::from_utf8(x.path())
                            .is_err()
                            .then(|| x.path().to_vec()),
                        old: x.old.as_ref().map(EntryJson::from),
                        new: x.new.as_ref().map(EntryJson::from),
                    })
                    .collect();
                print_json(
                    &serde_json::json!({ "old": d.old_label, "new": d.new_label, "partial": d.partial, "changes": list, "problems": d.problems }),
                )?;
            } else {
                let mut out = std::io::stdout().lock();
                for x in &d.deltas {
                    writeln!(
                        out,
                        "{} {}",
                        x.kind.letter(),
                        String::from_utf8_lossy(x.path()).replace('\n', "\\n")
                    )?;
                }
                eprintln!(
                    "{} → {}: {} change(s){}",
                    d.old_label,
                    d.new_label,
                    d.deltas.len(),
                    if d.partial { " (PARTIAL)" } else { "" }
                );
                for p in &d.problems {
                    eprintln!("  {}: {}", p.path, p.reason);
                }
            }
            Ok(if d.partial { 3 } else { 0 })
        }
    }
}

/// `TABLE.OLD=NEW` into a rename hint.
/// Two snapshots named by id or name (the second optional) -> their ids.
pub(super) fn resolve_pair(
    store: &crate::store::Store,
    a: &str,
    b: Option<&str>,
) -> anyhow::Result<(i64, Option<i64>)> {
    let a = snapshot::resolve(store, a)?.id;
    let b = b.map(|b| snapshot::resolve(store, b)).transpose()?;
    Ok((a, b.map(|s| s.id)))
}

fn parse_rename(text: &str) -> anyhow::Result<Rename> {
    let bad = || anyhow::anyhow!("bad --rename {text:?}: use TABLE.OLD=NEW");
    let (table, rest) = text.split_once('.').ok_or_else(bad)?;
    let (old, new) = rest.split_once('=').ok_or_else(bad)?;
    if [table, old, new].iter().any(|s| s.is_empty()) {
        return Err(bad());
    }
    Ok((table.to_string(), old.to_string(), new.to_string()))
}

/// The database part of snapshot `id`, loaded.
fn load_db_part(
    store: &crate::store::Store,
    objects: &ObjectStore,
    id: i64,
) -> anyhow::Result<(String, DbSnapshot)> {
    let (profile, object) = snapshot::db_part(store, id)?.with_context(|| {
        format!("snapshot {id} has no database part (make one with `devsky snapshot create --db PROFILE`)")
    })?;
    Ok((profile, DbSnapshot::load(objects, &object)?))
}

/// `devsky snapshot diff A [B] --db`: print the forward (or reverse) script; exit 2 when
/// destructive changes or an incomplete script are refused.
fn db_diff(a: i64, b: Option<i64>, args: &DbDiffArgs, at: &At) -> anyhow::Result<i32> {
    let project = Project::locate(&at.project)?;
    let store = project.open_store(false)?;
    let objects = ObjectStore::open(&project.root)?;
    let renames = args
        .renames
        .iter()
        .map(|r| parse_rename(r))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let (profile_name, old) = load_db_part(&store, &objects, a)?;
    if args.apply && b.is_none() && !args.reverse {
        anyhow::bail!(
            "--apply without B would run the script from snapshot {a} to the database now on the database now: add --reverse to take it back to snapshot {a}, or name B"
        );
    }
    let (script, new_label, new_snap) = match b {
        Some(b) => {
            let (new_profile, new) = load_db_part(&store, &objects, b)?;
            if new_profile != profile_name {
                anyhow::bail!(
                    "snapshot {a} is of database {profile_name}, snapshot {b} of database {new_profile}"
                );
            }
            (
                db_snapshot::between(&old, &new, &renames)?,
                format!("snapshot {b}"),
                Some(new),
            )
        }
        None => {
            let mut conn = profile::connect(&project.root, &store, &profile_name, None)?;
            let script = db_snapshot::diff(&old, conn.as_mut(), true, &renames)?;
            (script, format!("database {profile_name} now"), None)
        }
    };
    let reasons = if args.reverse {
        script.reverse_destructive.clone()
    } else {
        script.destructive()
    };
    let refused = (!args.allow_destructive)
        .then_some(reasons)
        .filter(|r| !r.is_empty());
    let incomplete = !args.allow_incomplete && !script.notes.is_empty();
    let report = match (args.verify, &refused) {
        (true, None) if !incomplete => Some(verify_between::verify_script(
            &project.root,
            &store,
            &profile_name,
            &old,
            new_snap.as_ref(),
            &script,
        )?),
        _ => None,
    };
    let verified = report.as_ref().is_none_or(|r| r.ok());
    if args.apply && refused.is_none() && !incomplete {
        let mut conn = profile::connect(&project.root, &store, &profile_name, None)?;
        return applied(
            db_snapshot::apply(conn.as_mut(), &script, args.reverse),
            &script,
            args.reverse,
            &profile_name,
            at.json,
        );
    }
    if at.json {
        print_json(&serde_json::json!({
            "old": format!("snapshot {a}"),
            "new": new_label,
            "refused": refused.is_some(),
            "incomplete": !script.notes.is_empty(),
            "destructive": script.destructive(),
            "reverse_destructive": script.reverse_destructive,
            "notes": script.notes,
            "steps": script.steps,
            "forward": script.forward_sql(),
            "reverse": script.reverse_sql(),
            "verify": report,
        }))?;
    } else if refused.is_some() || incomplete {
        if let Some(reasons) = &refused {
            eprintln!("destructive changes refused (allow them with --allow-destructive):");
            for r in reasons {
                eprintln!("  {r}");
            }
        }
        if incomplete {
            eprintln!("incomplete script refused (allow it with --allow-incomplete):");
            for n in &script.notes {
                eprintln!("  {n}");
            }
        }
    } else {
        let sql = if args.reverse {
            script.reverse_sql()
        } else {
            script.forward_sql()
        };
        print!("{sql}");
        let destructive = if args.reverse {
            script.reverse_destructive.len()
        } else {
            script.destructive().len()
        };
        eprintln!(
            "snapshot {a} → {new_label}: {} step(s){}",
            script
                .steps
                .iter()
                .filter(|s| !s.forward.is_empty())
                .count(),
            if destructive > 0 {
                format!(", {destructive} destructive (allowed)")
            } else {
                String::new()
            }
        );
        for n in &script.notes {
            eprintln!("  incomplete: {n}");
        }
        if let Some(r) = &report {
            eprint!("{}", r.text());
        }
    }
    Ok(if refused.is_some() || incomplete {
        2
    } else if !verified {
        1
    } else {
        0
    })
}

/// Report what `--apply` did: on a failure, what ran, what stays applied and the script
/// that takes it back (printed on stdout); exit code 1.
fn applied(
    result: Result<crate::engine::db::ApplyReport, crate::engine::db::ApplyError>,
    script: &db_snapshot::Script,
    reverse: bool,
    profile: &str,
    json: bool,
) -> anyhow::Result<i32> {
    let what = if reverse { "reverse" } else { "forward" };
    let e = match result {
        Ok(r) => {
            if json {
                print_json(&serde_json::json!({ "applied": true, "statements": r.statements }))?;
            } else {
                eprintln!(
                    "applied the {what} script to database {profile}: {} statement(s)",
                    r.statements
                );
            }
            return Ok(0);
        }
        Err(e) => e,
    };
    let h = script.halfway(reverse, &e);
    if json {
        print_json(&serde_json::json!({ "applied": false, "halfway": h }))?;
        return Ok(1);
    }
    eprintln!(
        "the {what} script failed on database {profile} at statement {}: {}",
        e.error.statement + 1,
        h.error
    );
    if let Some(f) = &h.failed {
        eprintln!("  failed: {}", f.replace('\n', " "));
    }
    eprintln!("{} statement(s) ran before it:", h.ran.len());
    for (i, s) in h.ran.iter().enumerate() {
        eprintln!("  {}: {}", i + 1, s.replace('\n', " "));
    }
    if h.applied.is_empty() {
        eprintln!("none of them stays applied (rolled back); the script below does nothing");
    } else {
        eprintln!(
            "{} of them stay applied (DDL commits as it runs); the script below takes back exactly those:",
            h.applied.len()
        );
    }
    for w in &h.warnings {
        eprintln!("  warning: {w}");
    }
    print!("{}", h.undo);
    Ok(1)
}

#[derive(Debug, Args)]
pub struct GcArgs {
    #[command(flatten)]
    pub at: At,
}

/// `devsky gc`: remove stored contents no snapshot references any more.
pub fn gc(a: GcArgs) -> anyhow::Result<i32> {
    let project = Project::locate(&a.at.project)?;
    let store = project.open_store(false)?;
    let r = snapshot::gc(&project, &store)?;
    if a.at.json {
        print_json(&r)?;
    } else {
        println!(
            "removed {} object(s), freed {}; {} kept",
            r.removed,
            human_size(r.freed_bytes as i64),
            r.kept
        );
    }
    Ok(0)
}
