//! The Files tab's model: the rows of the upload and delete lists (a tree: each file under
//! the line of the folder it is in, a folder's count is of the files drawn under it), the
//! ticks, and the plan narrowed to what is ticked.

use std::collections::BTreeMap;

use super::{DeployScreen, Row};
use crate::engine::deploy::plan::Plan;

impl DeployScreen {
    pub fn is_ticked(&self, path: &[u8]) -> bool {
        !self.unticked.contains(path)
    }

    /// The plan narrowed to what is ticked.
    pub fn selection(&self) -> Option<Plan> {
        let p = self.plan.as_ref()?;
        Some(Plan {
            uploads: p
                .uploads
                .iter()
                .filter(|u| self.is_ticked(&u.path))
                .cloned()
                .collect(),
            deletes: p
                .deletes
                .iter()
                .filter(|d| self.is_ticked(&d.path))
                .cloned()
                .collect(),
            // Folders to make or change go along; one to remove only with all its deletes.
            folders: p
                .folders
                .iter()
                .filter(|f| {
                    f.mode.is_some()
                        || p.deletes.iter().all(|d| {
                            !(d.path.starts_with(&f.path)
                                && d.path.get(f.path.len()) == Some(&b'/'))
                                || self.is_ticked(&d.path)
                        })
                })
                .cloned()
                .collect(),
            folders_listed: p.folders_listed,
            left_out: p.left_out.clone(),
            sql: p.sql.clone(),
        })
    }

    /// Does `path` pass the filter?
    fn shown(&self, path: &[u8]) -> bool {
        let f = self.filter.text().to_lowercase();
        f.is_empty() || String::from_utf8_lossy(path).to_lowercase().contains(&f)
    }

    /// Rebuild the visible rows from the plan and the filter: per section a tree, each
    /// folder's own files first, then its subfolders, each under the folder it is in.
    pub(super) fn rebuild_rows(&mut self) {
        self.rows.clear();
        let Some(plan) = &self.plan else { return };
        let mut rows = Vec::new();
        for upload in [true, false] {
            let paths: Vec<&[u8]> = if upload {
                plan.uploads.iter().map(|u| u.path.as_slice()).collect()
            } else {
                plan.deletes.iter().map(|d| d.path.as_slice()).collect()
            };
            let mut tree = Dir::default();
            for (idx, p) in paths.into_iter().enumerate() {
                if self.shown(p) {
                    tree.insert(p, idx);
                }
            }
            rows.push(Row::Header { upload });
            tree.rows(upload, &[], 0, &mut rows);
        }
        self.rows = rows;
        self.files.selected = self.files.selected.min(self.rows.len().saturating_sub(1));
    }

    /// The paths of a section (uploads or deletes) under `dir/` that the filter shows: the
    /// files drawn under that folder's line.
    pub(super) fn paths_under(&self, upload: bool, dir: &[u8]) -> Vec<Vec<u8>> {
        let Some(plan) = &self.plan else {
            return Vec::new();
        };
        let mut prefix = dir.to_vec();
        prefix.push(b'/');
        let all: Vec<&Vec<u8>> = if upload {
            plan.uploads.iter().map(|u| &u.path).collect()
        } else {
            plan.deletes.iter().map(|d| &d.path).collect()
        };
        all.into_iter()
            .filter(|p| p.starts_with(&prefix) && self.shown(p))
            .cloned()
            .collect()
    }

    pub fn row_path(&self, row: &Row) -> Option<&[u8]> {
        let plan = self.plan.as_ref()?;
        match row {
            Row::File {
                upload: true, idx, ..
            } => plan.uploads.get(*idx).map(|u| u.path.as_slice()),
            Row::File {
                upload: false, idx, ..
            } => plan.deletes.get(*idx).map(|d| d.path.as_slice()),
            _ => None,
        }
    }

    /// Folder state: all ticked, some, none.
    pub fn folder_ticks(&self, upload: bool, dir: &[u8]) -> (usize, usize) {
        let paths = self.paths_under(upload, dir);
        let on = paths.iter().filter(|p| self.is_ticked(p)).count();
        (on, paths.len())
    }

    pub(super) fn toggle(&mut self) {
        let Some(row) = self.rows.get(self.files.selected).cloned() else {
            return;
        };
        let paths = match &row {
            Row::File { .. } => self
                .row_path(&row)
                .map(|p| vec![p.to_vec()])
                .unwrap_or_default(),
            Row::Folder { upload, dir, .. } => self.paths_under(*upload, dir),
            Row::Header { upload } => {
                let Some(plan) = &self.plan else { return };
                if *upload {
                    plan.uploads.iter().map(|u| u.path.clone()).collect()
                } else {
                    plan.deletes.iter().map(|d| d.path.clone()).collect()
                }
            }
        };
        // Tick all when any is unticked; untick all otherwise.
        let any_off = paths.iter().any(|p| !self.is_ticked(p));
        for p in paths {
            if any_off {
                self.unticked.remove(&p);
            } else {
                self.unticked.insert(p);
            }
        }
        if matches!(row, Row::File { .. }) {
            self.files.selected = (self.files.selected + 1).min(self.rows.len().saturating_sub(1));
        }
    }
}

/// A folder of the tree being built: its files (name, index into the section) and its
/// subfolders, both in byte order.
#[derive(Default)]
struct Dir<'a> {
    files: Vec<(&'a [u8], usize)>,
    dirs: BTreeMap<&'a [u8], Dir<'a>>,
}

impl<'a> Dir<'a> {
    fn insert(&mut self, path: &'a [u8], idx: usize) {
        let mut node = self;
        let mut rest = path;
        while let Some(i) = rest.iter().position(|&b| b == b'/') {
            node = node.dirs.entry(&rest[..i]).or_default();
            rest = &rest[i + 1..];
        }
        node.files.push((rest, idx));
    }

    /// The rows of this folder's content (it is `dir`, at `depth`): files, then each
    /// subfolder's line and content. A chain of folders holding only one folder is one
    /// line (`a/b/c/`).
    fn rows(&self, upload: bool, dir: &[u8], depth: u16, out: &mut Vec<Row>) {
        let mut files = self.files.clone();
        files.sort();
        for (_, idx) in files {
            out.push(Row::File { upload, idx, depth });
        }
        for (name, mut sub) in &self.dirs {
            let mut path = dir.to_vec();
            if !path.is_empty() {
                path.push(b'/');
            }
            let label = path.len();
            path.extend_from_slice(name);
            while sub.files.is_empty() && sub.dirs.len() == 1 {
                let (n, s) = sub.dirs.iter().next().expect("one subfolder");
                path.push(b'/');
                path.extend_from_slice(n);
                sub = s;
            }
            out.push(Row::Folder {
                upload,
                dir: path.clone(),
                depth,
                label,
            });
            sub.rows(upload, &path, depth + 1, out);
        }
    }
}

/// The last part of a path: a file's name in the tree.
pub(super) fn name(p: &[u8]) -> &[u8] {
    match p.iter().rposition(|&b| b == b'/') {
        Some(i) => &p[i + 1..],
        None => p,
    }
}
