//! `devsky task sizes`: bytes and file count of every folder, each folder's totals rolled
//! up from everything under it (the root is `.`).

use std::collections::BTreeMap;

use anyhow::Result;

use super::{Files, Table, step, unreadable};
use crate::engine::jobs::Progress;

pub fn run(files: &Files, progress: &Progress) -> Result<Table> {
    let mut t = Table::new("sizes", &["folder", "bytes", "files"]);
    t.problems = files.problems.clone();
    let mut folders: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    folders.insert(".".into(), (0, 0));
    for (i, rel) in files.paths.iter().enumerate() {
        step(progress, i, files.paths.len(), "sizes")?;
        let len = match std::fs::symlink_metadata(files.root.join(rel)) {
            Ok(m) => m.len(),
            Err(e) => {
                t.problems.push(unreadable(rel, e));
                continue;
            }
        };
        for folder in ancestors(rel) {
            let e = folders.entry(folder).or_default();
            e.0 += len;
            e.1 += 1;
        }
    }
    step(progress, files.paths.len(), files.paths.len(), "sizes")?;
    let (bytes, count) = folders["."];
    for (folder, (b, n)) in folders {
        t.rows.push(vec![folder.into(), b.into(), n.into()]);
    }
    t.summary = format!(
        "{} in {count} file(s), {} folder(s)",
        crate::engine::util::units::human_size(bytes as i64),
        t.rows.len()
    );
    Ok(t)
}

/// `.` and every folder on the way to `rel`: `a/b/c.txt` gives `.`, `a`, `a/b`.
fn ancestors(rel: &str) -> Vec<String> {
    let mut v = vec![".".to_string()];
    let mut at = 0;
    while let Some(i) = rel[at..].find('/') {
        v.push(rel[..at + i].to_string());
        at += i + 1;
    }
    v
}

#[cfg(test)]
mod tests {
    #[test]
    fn ancestors_of_a_path() {
        assert_eq!(super::ancestors("a/b/c.txt"), [".", "a", "a/b"]);
        assert_eq!(super::ancestors("c.txt"), ["."]);
    }
}
