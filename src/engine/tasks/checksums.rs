//! `devsky task checksums`: md5, sha256 and blake3 of every file, read once in chunks (no
//! size limit; a file is never held in memory whole).

use std::io::Read;

use anyhow::Result;
use md5::Digest as _;

use super::{Files, Table, step, unreadable};
use crate::engine::jobs::Progress;

pub fn run(files: &Files, progress: &Progress) -> Result<Table> {
    let mut t = Table::new("checksums", &["path", "size", "md5", "sha256", "blake3"]);
    t.problems = files.problems.clone();
    let mut buf = vec![0u8; 1 << 16];
    for (i, rel) in files.paths.iter().enumerate() {
        step(progress, i, files.paths.len(), "checksums")?;
        match sums(&files.root.join(rel), &mut buf) {
            Ok((size, md5, sha, b3)) => t.rows.push(vec![
                rel.as_str().into(),
                size.into(),
                md5.into(),
                sha.into(),
                b3.into(),
            ]),
            Err(e) => t.problems.push(unreadable(rel, e)),
        }
    }
    step(progress, files.paths.len(), files.paths.len(), "checksums")?;
    t.summary = format!("{} file(s) summed", t.rows.len());
    Ok(t)
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Size, md5, sha256 and blake3 of the file at `path`.
fn sums(path: &std::path::Path, buf: &mut [u8]) -> std::io::Result<(u64, String, String, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut md5 = md5::Md5::new();
    let mut sha = <sha2::Sha256 as sha2::Digest>::new();
    let mut b3 = blake3::Hasher::new();
    let mut size = 0u64;
    loop {
        let n = f.read(buf)?;
        if n == 0 {
            break;
        }
        md5.update(&buf[..n]);
        sha2::Digest::update(&mut sha, &buf[..n]);
        b3.update(&buf[..n]);
        size += n as u64;
    }
    Ok((
        size,
        hex(&md5.finalize()),
        hex(&sha2::Digest::finalize(sha)),
        b3.finalize().to_hex().to_string(),
    ))
}
