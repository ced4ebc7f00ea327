//! `devsky task encoding`: the text encoding of every file, detected as replace detects it
//! ([`crate::engine::replace::files::decode`]: a BOM, valid UTF-8, the domain's setting or
//! a guess). With a target (`--to UTF-8`) it plans the conversion of every file in another
//! encoding (the preview), and [`apply`] writes them: each original into the recycle bin
//! first, then the new bytes atomically (temp + rename, mode kept). A file that changed
//! since the preview, or whose text the target cannot write, is skipped and reported.

use anyhow::Result;
use encoding_rs::Encoding;
use serde::Serialize;

use super::{Files, Table, is_binary, read, step};
use crate::engine::bin::{Bin, checked_path, write_atomic};
use crate::engine::jobs::Progress;
use crate::engine::replace::files::decode;
use crate::engine::replace::{Problem, ProblemKind};

/// One file to convert.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub path: String,
    pub from: String,
    /// Blake3 of the bytes the plan was made from.
    pub before: String,
    pub bytes_before: u64,
    pub bytes_after: u64,
}

/// The detection table and, with a target, the conversions it would make.
pub struct Scan {
    pub table: Table,
    pub changes: Vec<Change>,
}

/// Detect every file's encoding; with `to`, plan converting those in another one.
/// `hint` is the domain's encoding setting (as replace reads it).
pub fn run(
    files: &Files,
    hint: Option<&'static Encoding>,
    to: Option<&'static Encoding>,
    progress: &Progress,
) -> Result<Scan> {
    let mut t = Table::new("encoding", &["path", "encoding", "action"]);
    t.problems = files.problems.clone();
    let mut changes = Vec::new();
    let mut by: std::collections::BTreeMap<String, usize> = Default::default();
    for (i, rel) in files.paths.iter().enumerate() {
        step(progress, i, files.paths.len(), "encoding")?;
        let bytes = match read(&files.root, rel) {
            Ok(b) => b,
            Err(p) => {
                t.problems.push(p);
                continue;
            }
        };
        if is_binary(&bytes) {
            *by.entry("binary".into()).or_default() += 1;
            t.rows
                .push(vec![rel.as_str().into(), "binary".into(), "".into()]);
            continue;
        }
        let (text, enc) = match decode(&bytes, hint) {
            Ok(d) => d,
            Err(why) => {
                t.problems.push(problem(rel, ProblemKind::Encoding, why));
                continue;
            }
        };
        *by.entry(enc.name().into()).or_default() += 1;
        let mut action = String::new();
        if let Some(to) = to.filter(|to| *to != enc) {
            match convert(&text, to) {
                Ok(new) if new == bytes => {} // the same bytes (ASCII): nothing to do
                Ok(new) => {
                    action = format!("-> {}", to.name());
                    changes.push(Change {
                        path: rel.clone(),
                        from: enc.name().into(),
                        before: blake3::hash(&bytes).to_hex().to_string(),
                        bytes_before: bytes.len() as u64,
                        bytes_after: new.len() as u64,
                    });
                }
                Err(why) => t.problems.push(problem(rel, ProblemKind::Refused, why)),
            }
        }
        t.rows
            .push(vec![rel.as_str().into(), enc.name().into(), action.into()]);
    }
    step(progress, files.paths.len(), files.paths.len(), "encoding")?;
    let counts: Vec<String> = by.iter().map(|(e, n)| format!("{n} {e}")).collect();
    t.summary = format!("{} file(s): {}", t.rows.len(), counts.join(", "));
    if let Some(to) = to {
        t.summary += &format!("; {} to convert to {}", changes.len(), to.name());
    }
    Ok(Scan { table: t, changes })
}

fn problem(rel: &str, kind: ProblemKind, reason: String) -> Problem {
    Problem {
        place: rel.to_string(),
        kind,
        reason,
    }
}

/// `text` written in `to`; refused when `to` cannot write every character.
fn convert(text: &str, to: &'static Encoding) -> Result<Vec<u8>, String> {
    // encoding_rs encodes UTF-16 as UTF-8 (the WHATWG rule); refuse rather than lie.
    if to.output_encoding() != to {
        return Err(format!("cannot write {}", to.name()));
    }
    let (out, _, unmappable) = to.encode(text);
    if unmappable {
        return Err(format!("holds characters that {} cannot write", to.name()));
    }
    Ok(out.into_owned())
}

/// Convert the files of `changes` to `to`: each original into the recycle bin, then the
/// new bytes written atomically with the file's mode. Gives the files converted and what
/// was skipped.
pub fn apply(
    files: &Files,
    hint: Option<&'static Encoding>,
    changes: &[Change],
    to: &'static Encoding,
    progress: &Progress,
) -> Result<(Vec<String>, Vec<Problem>)> {
    use std::os::unix::fs::MetadataExt;
    let bin = Bin::open(&files.root)?;
    let (mut done, mut skipped) = (Vec::new(), Vec::new());
    for (i, c) in changes.iter().enumerate() {
        step(progress, i, changes.len(), "converting")?;
        let one = || -> Result<(), Problem> {
            let path = checked_path(&files.root, &c.path)
                .map_err(|e| problem(&c.path, ProblemKind::Refused, e.to_string()))?;
            let bytes = read(&files.root, &c.path)?;
            if blake3::hash(&bytes).to_hex().as_str() != c.before {
                let why = "changed since the preview; not converted".to_string();
                return Err(problem(&c.path, ProblemKind::Changed, why));
            }
            let meta =
                std::fs::symlink_metadata(&path).map_err(|e| super::unreadable(&c.path, e))?;
            if meta.mode() & 0o222 == 0 {
                let why = "read-only; not converted".to_string();
                return Err(problem(&c.path, ProblemKind::ReadOnly, why));
            }
            let (text, _) =
                decode(&bytes, hint).map_err(|w| problem(&c.path, ProblemKind::Encoding, w))?;
            let new = convert(&text, to).map_err(|w| problem(&c.path, ProblemKind::Refused, w))?;
            let fail =
                |e: anyhow::Error| problem(&c.path, ProblemKind::Unreadable, format!("{e:#}"));
            bin.put(&c.path, &format!("task encoding -> {}", to.name()))
                .map_err(fail)?;
            write_atomic(&path, &new, meta.mode()).map_err(fail)?;
            Ok(())
        };
        match one() {
            Ok(()) => done.push(c.path.clone()),
            Err(p) => skipped.push(p),
        }
    }
    step(progress, changes.len(), changes.len(), "converting")?;
    Ok((done, skipped))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn changed_and_read_only_files_are_skipped_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let (cp, _, _) = encoding_rs::WINDOWS_1251.encode("Привет, мир! Старый текст.\n");
        for f in ["changed.txt", "locked.txt", "fine.txt"] {
            std::fs::write(root.join(f), &cp).unwrap();
        }
        std::fs::set_permissions(
            root.join("locked.txt"),
            std::fs::Permissions::from_mode(0o444),
        )
        .unwrap();
        let files = Files {
            root: root.to_path_buf(),
            paths: vec!["changed.txt".into(), "fine.txt".into(), "locked.txt".into()],
            problems: Vec::new(),
        };
        let hint = Some(encoding_rs::WINDOWS_1251);
        let p = Progress::silent();
        let scan = run(&files, hint, Some(encoding_rs::UTF_8), &p).unwrap();
        assert_eq!(scan.changes.len(), 3);
        std::fs::write(root.join("changed.txt"), b"edited meanwhile").unwrap();
        let (done, skipped) = apply(&files, hint, &scan.changes, encoding_rs::UTF_8, &p).unwrap();
        assert_eq!(done, ["fine.txt"]);
        let kinds: Vec<_> = skipped.iter().map(|s| (s.place.as_str(), s.kind)).collect();
        assert_eq!(
            kinds,
            [
                ("changed.txt", ProblemKind::Changed),
                ("locked.txt", ProblemKind::ReadOnly)
            ]
        );
        assert_eq!(
            std::fs::read(root.join("changed.txt")).unwrap(),
            b"edited meanwhile"
        );
        assert_eq!(std::fs::read(root.join("locked.txt")).unwrap(), cp.as_ref());
        assert_eq!(
            std::fs::read_to_string(root.join("fine.txt")).unwrap(),
            "Привет, мир! Старый текст.\n"
        );
        assert_eq!(Bin::open(root).unwrap().list().unwrap().len(), 1);
    }
}
