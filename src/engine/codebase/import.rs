//! Importing project files into the codebase as `f:<path>` records.
//!
//! The walk honours `.gitignore` and `.devskyignore` (even outside a git repository) and
//! always leaves out `.git/` and `.devsky/`. A file already in the codebase under the same
//! name is updated (new version) when its content changed and left alone otherwise. A file
//! record under the imported paths whose file is gone is marked `removed` (and back to
//! `new` if the file comes back), so the store stays true to the project.
//! Writes go in small transactions so another devsky process can use the store meanwhile.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use serde::Serialize;

use crate::engine::jobs::{Cancelled, Progress};
use crate::engine::project::Project;
use crate::store::codebase::{self, Body, FILE_PREFIX, NewRecord};
use crate::store::{STATE_DIR, Store, now};

/// Files larger than this are skipped (the codebase holds source, not media libraries).
pub const MAX_FILE_SIZE: u64 = 16 * 1024 * 1024;
/// Files written per transaction.
const BATCH: usize = 256;

/// One file that was not imported, and why.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ImportReport {
    pub added: usize,
    pub updated: usize,
    pub unchanged: usize,
    /// Records whose file is gone from the project since the last import.
    pub removed: usize,
    pub skipped: Vec<Skipped>,
    /// False when the import was cancelled part way (what was written stays).
    pub complete: bool,
}

impl ImportReport {
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} added, {} updated, {} unchanged, {} removed, {} skipped",
            self.added,
            self.updated,
            self.unchanged,
            self.removed,
            self.skipped.len()
        );
        if !self.complete {
            s.push_str(" (cancelled: partial)");
        }
        s
    }
}

/// The files under `paths` that an import would take, relative to the project root.
pub fn collect_files(
    project: &Project,
    paths: &[PathBuf],
) -> anyhow::Result<(Vec<String>, Vec<Skipped>)> {
    let mut files = Vec::new();
    let mut skipped = Vec::new();
    for p in paths {
        let abs = p
            .canonicalize()
            .with_context(|| format!("cannot import {}: no such file or folder", p.display()))?;
        if project.relative(&abs).is_none() {
            bail!(
                "{} is outside the project {}",
                p.display(),
                project.root.display()
            );
        }
        let mut walk = ignore::WalkBuilder::new(&abs);
        walk.hidden(false)
            .require_git(false)
            .follow_links(false)
            .add_custom_ignore_filename(".devskyignore")
            .filter_entry(|e| {
                let n = e.file_name();
                !(e.depth() > 0
                    && e.file_type().is_some_and(|t| t.is_dir())
                    && (n == ".git" || n == STATE_DIR))
            });
        for entry in walk.build() {
            let entry = match entry {
                Ok(e) => e,
                Err(err) => {
                    skipped.push(Skipped {
                        path: String::new(),
                        reason: err.to_string(),
                    });
                    continue;
                }
            };
            let Some(ft) = entry.file_type() else {
                continue;
            };
            let Some(rel) = project.relative(entry.path()) else {
                continue;
            };
            if rel.split('/').any(|c| c == STATE_DIR || c == ".git") {
                continue;
            }
            if ft.is_symlink() {
                skipped.push(Skipped {
                    path: rel,
                    reason: "symbolic link (not followed)".into(),
                });
            } else if ft.is_file() {
                files.push(rel);
            }
        }
    }
    files.sort();
    files.dedup();
    Ok((files, skipped))
}

/// Import the files under `paths` (files or folders inside the project) as records.
pub fn import(
    project: &Project,
    store: &mut Store,
    paths: &[PathBuf],
    author: &str,
    progress: &Progress,
) -> anyhow::Result<ImportReport> {
    progress.set(0, None, "scanning");
    let (files, skipped) = collect_files(project, paths)?;
    let prefixes = paths
        .iter()
        .map(|p| {
            let abs = p.canonicalize()?;
            Ok(project.relative(&abs).unwrap_or_default())
        })
        .collect::<std::io::Result<Vec<String>>>()?;
    let mut report = ImportReport {
        skipped,
        complete: true,
        ..Default::default()
    };
    let total = files.len() as u64;
    for (n, chunk) in files.chunks(BATCH).enumerate() {
        if progress.is_cancelled() {
            report.complete = false;
            progress.log(format!("cancelled after {} of {} files", n * BATCH, total));
            return Ok(report);
        }
        let bodies: Vec<(String, Result<Body, String>)> = chunk
            .iter()
            .map(|rel| (rel.clone(), read_body(&project.root.join(rel))))
            .collect();
        let t = now();
        store.write(|tx| {
            for (rel, body) in &bodies {
                let body = match body {
                    Ok(b) => b,
                    Err(reason) => {
                        report.skipped.push(Skipped {
                            path: rel.clone(),
                            reason: reason.clone(),
                        });
                        continue;
                    }
                };
                let name = format!("{FILE_PREFIX}{rel}");
                match codebase::find_by_name(tx, &name)? {
                    Some((id, _, hash)) if hash == body.hash() => {
                        if codebase::status_of(tx, id)? == codebase::STATUS_REMOVED {
                            codebase::set_status(tx, id, "new", t)?;
                            report.added += 1;
                        } else {
                            report.unchanged += 1;
                        }
                    }
                    Some((id, _, _)) => {
                        codebase::update_body(tx, id, body, author, t)?;
                        report.updated += 1;
                    }
                    None => {
                        let rec = NewRecord {
                            name,
                            kind: "file".into(),
                            body: body.clone(),
                            authors: author.to_string(),
                            package: String::new(),
                            status: "new".into(),
                        };
                        codebase::insert(tx, &rec, t)?;
                        report.added += 1;
                    }
                }
            }
            Ok(())
        })?;
        let done = ((n + 1) * BATCH).min(files.len()) as u64;
        progress.set(done, Some(total), "importing");
    }
    report.removed = mark_removed(store, &prefixes, &files)?;
    for s in &report.skipped {
        progress.log(format!("skipped {}: {}", s.path, s.reason));
    }
    Ok(report)
}

/// Marks the file records under `prefixes` whose path is not among `present` as removed;
/// how many were newly marked.
fn mark_removed(
    store: &mut Store,
    prefixes: &[String],
    present: &[String],
) -> anyhow::Result<usize> {
    let present: std::collections::HashSet<&str> = present.iter().map(String::as_str).collect();
    let mut gone = Vec::new();
    for prefix in prefixes {
        for (id, name, status) in codebase::files_under(store.conn(), prefix)? {
            let path = &name[FILE_PREFIX.len()..];
            if status != codebase::STATUS_REMOVED && !present.contains(path) {
                gone.push(id);
            }
        }
    }
    gone.sort_unstable();
    gone.dedup();
    let t = now();
    store.write(|tx| {
        for id in &gone {
            codebase::set_status(tx, *id, codebase::STATUS_REMOVED, t)?;
        }
        Ok(())
    })?;
    Ok(gone.len())
}

fn read_body(path: &Path) -> Result<Body, String> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| e.to_string())?;
    if meta.len() > MAX_FILE_SIZE {
        return Err(format!("larger than {} MiB", MAX_FILE_SIZE / 1024 / 1024));
    }
    std::fs::read(path)
        .map(Body::from_bytes)
        .map_err(|e| e.to_string())
}

/// The author name for new records: the `user.name` setting, else `$USER`.
pub fn author(store: &Store) -> String {
    crate::store::settings::get(store.conn(), "user.name")
        .ok()
        .flatten()
        .or_else(|| std::env::var("USER").ok())
        .unwrap_or_else(|| "me".into())
}

/// Whether an error came from cancelling.
pub fn is_cancelled(e: &anyhow::Error) -> bool {
    e.downcast_ref::<Cancelled>().is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project() -> (tempfile::TempDir, Project) {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let w = |p: &str, c: &[u8]| {
            let f = root.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, c).unwrap();
        };
        w(".gitignore", b"vendor/\n*.log\n");
        w(".devskyignore", b"secret.txt\n");
        w("index.php", b"<?php echo 'hi';");
        w("app/User.php", b"<?php class User {}");
        w("vendor/lib.php", b"<?php // ignored");
        w("storage/app.log", b"ignored");
        w("secret.txt", b"ignored too");
        w(".git/config", b"never");
        w("img/logo.png", b"\x89PNG\0\0");
        std::os::unix::fs::symlink("/etc/passwd", root.join("link")).unwrap();
        Store::open_project(&root, true).unwrap();
        (dir, Project { root })
    }

    #[test]
    fn import_skips_ignored_and_updates_changed() {
        let (_d, p) = project();
        let mut store = p.open_store(false).unwrap();
        let r = import(
            &p,
            &mut store,
            std::slice::from_ref(&p.root),
            "ann",
            &Progress::silent(),
        )
        .unwrap();
        let names: Vec<String> = codebase::list(store.conn(), 0, 100)
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(
            names,
            [
                "f:.devskyignore",
                "f:.gitignore",
                "f:app/User.php",
                "f:img/logo.png",
                "f:index.php"
            ]
        );
        assert_eq!((r.added, r.updated, r.unchanged), (5, 0, 0));
        assert!(r.skipped.iter().any(|s| s.path == "link"));
        std::fs::write(p.root.join("index.php"), "<?php echo 'changed';").unwrap();
        let r = import(
            &p,
            &mut store,
            std::slice::from_ref(&p.root),
            "bob",
            &Progress::silent(),
        )
        .unwrap();
        assert_eq!((r.added, r.updated, r.unchanged), (0, 1, 4));
        let id = codebase::find_by_name(store.conn(), "f:index.php")
            .unwrap()
            .unwrap()
            .0;
        let rec = codebase::get(store.conn(), id).unwrap().unwrap();
        assert_eq!(
            (rec.version.as_str(), rec.authors.as_str()),
            ("2", "ann+bob")
        );
    }

    #[test]
    fn a_deleted_file_is_marked_removed_and_comes_back() {
        let (_d, p) = project();
        let mut store = p.open_store(false).unwrap();
        let all = std::slice::from_ref(&p.root);
        import(&p, &mut store, all, "ann", &Progress::silent()).unwrap();
        std::fs::remove_file(p.root.join("app/User.php")).unwrap();
        std::fs::write(p.root.join("app/Post.php"), "<?php class Post {}").unwrap();
        let r = import(&p, &mut store, all, "ann", &Progress::silent()).unwrap();
        assert_eq!((r.added, r.updated, r.unchanged, r.removed), (1, 0, 4, 1));
        assert!(r.summary().contains("1 removed"), "{}", r.summary());
        let status = |store: &Store, name: &str| {
            let id = codebase::find_by_name(store.conn(), name)
                .unwrap()
                .unwrap()
                .0;
            codebase::status_of(store.conn(), id).unwrap()
        };
        assert_eq!(status(&store, "f:app/User.php"), codebase::STATUS_REMOVED);
        assert_eq!(status(&store, "f:app/Post.php"), "new");
        // importing a subfolder only judges that subfolder
        std::fs::remove_file(p.root.join("index.php")).unwrap();
        let r = import(
            &p,
            &mut store,
            &[p.root.join("app")],
            "ann",
            &Progress::silent(),
        )
        .unwrap();
        assert_eq!(r.removed, 0);
        assert_eq!(status(&store, "f:index.php"), "new");
        // the file comes back: new again, counted as added
        std::fs::write(p.root.join("app/User.php"), "<?php class User {}").unwrap();
        let r = import(&p, &mut store, all, "ann", &Progress::silent()).unwrap();
        assert_eq!(
            (r.added, r.removed),
            (1, 1),
            "User.php back, index.php gone"
        );
        assert_eq!(status(&store, "f:app/User.php"), "new");
        assert_eq!(status(&store, "f:index.php"), codebase::STATUS_REMOVED);
    }

    #[test]
    fn paths_outside_the_project_are_refused() {
        let (_d, p) = project();
        let mut store = p.open_store(false).unwrap();
        let err = import(
            &p,
            &mut store,
            &[PathBuf::from("/tmp")],
            "x",
            &Progress::silent(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("outside the project"), "{err}");
    }

    #[test]
    fn cancelled_import_is_partial() {
        let (_d, p) = project();
        let mut store = p.open_store(false).unwrap();
        let progress = Progress::silent();
        progress.token().cancel();
        let r = import(
            &p,
            &mut store,
            std::slice::from_ref(&p.root),
            "x",
            &progress,
        )
        .unwrap();
        assert!(!r.complete);
        assert!(r.summary().contains("partial"));
    }
}
