//! The Files tab's model: the rows of the upload and delete lists (with folder lines), the
//! ticks, and the plan narrowed to what is ticked.

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
        })
    }

    /// Rebuild the visible rows from the plan and the filter.
    pub(super) fn rebuild_rows(&mut self) {
        self.rows.clear();
        let Some(plan) = &self.plan else { return };
        let f = self.filter.text().to_lowercase();
        let keep =
            |p: &[u8]| f.is_empty() || String::from_utf8_lossy(p).to_lowercase().contains(&f);
        let section = |upload: bool, paths: Vec<&[u8]>, rows: &mut Vec<Row>| {
            rows.push(Row::Header { upload });
            let mut last_dir: Option<&[u8]> = None;
            for (idx, p) in paths.into_iter().enumerate() {
                if !keep(p) {
                    continue;
                }
                let dir = parent(p);
                if !dir.is_empty() && last_dir != Some(dir) {
                    rows.push(Row::Folder {
                        upload,
                        dir: dir.to_vec(),
                    });
                }
                last_dir = Some(dir);
                rows.push(Row::File { upload, idx });
            }
        };
        let mut rows = Vec::new();
        section(
            true,
            plan.uploads.iter().map(|u| u.path.as_slice()).collect(),
            &mut rows,
        );
        section(
            false,
            plan.deletes.iter().map(|d| d.path.as_slice()).collect(),
            &mut rows,
        );
        self.rows = rows;
        self.files.selected = self.files.selected.min(self.rows.len().saturating_sub(1));
    }

    /// The paths of a section (uploads or deletes) under `dir/`.
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
            .filter(|p| p.starts_with(&prefix))
            .cloned()
            .collect()
    }

    pub fn row_path(&self, row: &Row) -> Option<&[u8]> {
        let plan = self.plan.as_ref()?;
        match row {
            Row::File { upload: true, idx } => plan.uploads.get(*idx).map(|u| u.path.as_slice()),
            Row::File { upload: false, idx } => plan.deletes.get(*idx).map(|d| d.path.as_slice()),
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
            Row::Folder { upload, dir } => self.paths_under(*upload, dir),
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

pub(super) fn parent(p: &[u8]) -> &[u8] {
    match p.iter().rposition(|&b| b == b'/') {
        Some(i) => &p[..i],
        None => &[],
    }
}
