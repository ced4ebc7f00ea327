//! `devsky task lines`: line counts of every text file (newline bytes, as `wc -l` counts
//! them) and the total. Binary files are left out and counted.

use anyhow::Result;

use super::{Files, Table, is_binary, read, step};
use crate::engine::jobs::Progress;

pub fn run(files: &Files, progress: &Progress) -> Result<Table> {
    let mut t = Table::new("lines", &["path", "lines"]);
    t.problems = files.problems.clone();
    let (mut total, mut binary) = (0u64, 0usize);
    for (i, rel) in files.paths.iter().enumerate() {
        step(progress, i, files.paths.len(), "lines")?;
        match read(&files.root, rel) {
            Ok(b) if is_binary(&b) => binary += 1,
            Ok(b) => {
                let n = b.iter().filter(|&&c| c == b'\n').count() as u64;
                total += n;
                t.rows.push(vec![rel.as_str().into(), n.into()]);
            }
            Err(p) => t.problems.push(p),
        }
    }
    step(progress, files.paths.len(), files.paths.len(), "lines")?;
    t.summary = format!(
        "{total} line(s) in {} file(s); {binary} binary file(s) left out",
        t.rows.len()
    );
    Ok(t)
}
