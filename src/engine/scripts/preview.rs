//! A script as a [`ChangeSet`], for Compare: every file it changes (both sides read from
//! the object store, where the script keeps them) and, when it has a database part, the
//! table differences and its forward and reverse SQL (`engine::db::changes`).

use crate::engine::db::changes;
use crate::engine::diff::changes::{Change, ChangeKind, ChangeSet, Content};
use crate::engine::project::Project;

use super::{FileState, Loaded};

fn content(s: &Option<FileState>) -> Content {
    match s {
        Some(s) => Content::Object(s.blake3.clone()),
        None => Content::Missing,
    }
}

/// The changes of a loaded script, files first, then the database's.
pub fn change_set(project: &Project, l: &Loaded) -> anyhow::Result<ChangeSet> {
    let p = &l.package;
    let mut set = ChangeSet {
        title: format!("script {} \"{}\"", p.id, p.name),
        old_label: format!("snapshot {}", p.from_snapshot),
        new_label: p
            .to_snapshot
            .map_or("working tree".to_string(), |t| format!("snapshot {t}")),
        changes: Vec::new(),
        root: project.root.clone(),
        partial: false,
    };
    for f in &l.files {
        let kind = match (&f.before, &f.after) {
            (None, _) => ChangeKind::Added,
            (_, None) => ChangeKind::Removed,
            (Some(a), Some(b)) if a.kind != b.kind => ChangeKind::TypeChanged,
            (Some(a), Some(b)) if a.blake3 == b.blake3 => ChangeKind::ModeChanged,
            _ => ChangeKind::Modified,
        };
        set.changes.push(Change {
            path: f.path.clone(),
            raw_path: f.path.as_bytes().to_vec(),
            kind,
            old: content(&f.before),
            new: content(&f.after),
            old_size: f.before.as_ref().map(|s| s.size),
            new_size: f.after.as_ref().map(|s| s.size),
            old_mode: f.before.as_ref().map(|s| s.mode),
            new_mode: f.after.as_ref().map(|s| s.mode),
        });
    }
    if let Some((old, new)) = &l.db {
        let script = l.script()?;
        let profile = p.db_profile.as_deref().unwrap_or("db");
        let dbs = changes::change_set(profile, old, new, script.as_ref(), &project.root);
        set.changes.extend(dbs.changes);
    }
    Ok(set)
}
