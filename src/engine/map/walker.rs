//! The walk under a map: depth first, siblings in byte order (map order), one `readdir`
//! per folder and one `fstatat` per file relative to its folder — no full-path lookups,
//! no extra probes for ignore files (they are seen in the listing).
//!
//! Rules, as for the rest of devsky: `.gitignore` and `.devskyignore` in any folder (a
//! `.devskyignore` wins over a `.gitignore` of the same folder; deeper files win over
//! shallower ones; `!pattern` re-includes), `.git/info/exclude` at the root, hidden files
//! included, `.git/` and `.devsky/` always left out, symlinks never followed.

use std::ffi::OsString;
use std::fs::{FileType, Metadata};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::Problem;
use crate::engine::walk::IGNORE_FILE;
use crate::store::STATE_DIR;

/// A filter on relative paths (a domain).
pub type Keep = dyn Fn(&[u8]) -> bool + Send + Sync;

/// One file or symlink found by the walk.
pub struct Found {
    /// Relative, `/`-separated bytes.
    pub rel: Vec<u8>,
    pub file_type: FileType,
    pub meta: Metadata,
}

/// What the walk tells its caller.
pub enum Step {
    Found(Found),
    Problem(Problem),
}

/// Walk `root`, calling `f` for every file and symlink in map order. `keep` filters by
/// relative path (a domain); `f` returning an error stops the walk.
pub fn walk(
    root: &Path,
    keep: Option<&Keep>,
    f: &mut dyn FnMut(Step) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let mut ignores: Vec<Option<Gitignore>> = Vec::new();
    let exclude = root.join(".git/info/exclude");
    if exclude.is_file() {
        let mut b = GitignoreBuilder::new(root);
        b.add(&exclude);
        ignores.push(b.build().ok());
    }
    let mut rel = Vec::with_capacity(256);
    visit(root, root, &mut rel, &mut ignores, keep, f)
}

fn is_ignored(ignores: &[Option<Gitignore>], abs: &Path, is_dir: bool) -> bool {
    for gi in ignores.iter().rev().flatten() {
        match gi.matched(abs, is_dir) {
            Match::Ignore(_) => return true,
            Match::Whitelist(_) => return false,
            Match::None => {}
        }
    }
    false
}

fn visit(
    root: &Path,
    dir: &Path,
    rel: &mut Vec<u8>,
    ignores: &mut Vec<Option<Gitignore>>,
    keep: Option<&Keep>,
    f: &mut dyn FnMut(Step) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let problem = |rel: &[u8], e: std::io::Error| Problem {
        path: String::from_utf8_lossy(rel).into_owned(),
        reason: e.to_string(),
    };
    let listing = match std::fs::read_dir(dir) {
        Ok(l) => l,
        Err(e) => return f(Step::Problem(problem(rel, e))),
    };
    let mut entries: Vec<(OsString, std::fs::DirEntry)> = Vec::new();
    for e in listing {
        match e {
            Ok(e) => entries.push((e.file_name(), e)),
            Err(e) => f(Step::Problem(problem(rel, e)))?,
        }
    }
    entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let has = |n: &str| {
        entries
            .binary_search_by(|(name, _)| name.as_bytes().cmp(n.as_bytes()))
            .is_ok()
    };
    let pushed = if has(".gitignore") || has(IGNORE_FILE) {
        let mut b = GitignoreBuilder::new(dir);
        for n in [".gitignore", IGNORE_FILE] {
            if has(n)
                && let Some(err) = b.add(dir.join(n))
            {
                f(Step::Problem(Problem {
                    path: String::from_utf8_lossy(rel).into_owned() + n,
                    reason: err.to_string(),
                }))?;
            }
        }
        ignores.push(b.build().ok());
        true
    } else {
        false
    };
    let base = rel.len();
    for (name, entry) in entries {
        let ft = match entry.file_type() {
            Ok(t) => t,
            Err(e) => {
                f(Step::Problem(problem(name.as_bytes(), e)))?;
                continue;
            }
        };
        let is_dir = ft.is_dir();
        if is_dir && (name == ".git" || name == STATE_DIR) {
            continue;
        }
        rel.truncate(base);
        rel.extend_from_slice(name.as_bytes());
        let needs_match = ignores.iter().any(Option::is_some);
        if needs_match && is_ignored(ignores, &dir.join(&name), is_dir) {
            continue;
        }
        if is_dir {
            rel.push(b'/');
            let sub: PathBuf = dir.join(&name);
            visit(root, &sub, rel, ignores, keep, f)?;
            continue;
        }
        if !(ft.is_file() || ft.is_symlink()) {
            continue; // sockets, fifos, devices are not content
        }
        if keep.is_some_and(|k| !k(rel)) {
            continue;
        }
        match entry.metadata() {
            Ok(meta) => f(Step::Found(Found {
                rel: rel.clone(),
                file_type: ft,
                meta,
            }))?,
            Err(e) => f(Step::Problem(Problem {
                path: String::from_utf8_lossy(rel).into_owned(),
                reason: format!("vanished while mapping ({e})"),
            }))?,
        }
    }
    rel.truncate(base);
    if pushed {
        ignores.pop();
    }
    let _ = root;
    Ok(())
}

/// The absolute path of a relative map path.
pub fn abs_path(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(OsString::from_vec(rel.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        walk(root, None, &mut |s| {
            if let Step::Found(f) = s {
                out.push(String::from_utf8(f.rel).unwrap());
            }
            Ok(())
        })
        .unwrap();
        out
    }

    #[test]
    fn ignore_rules_nest_and_reinclude() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let w = |p: &str, c: &str| {
            let f = r.join(p);
            std::fs::create_dir_all(f.parent().unwrap()).unwrap();
            std::fs::write(f, c).unwrap();
        };
        w(".gitignore", "*.log\nbuild/\n");
        w("a.log", "");
        w("keep.txt", "");
        w("build/out.js", "");
        w("sub/.gitignore", "!important.log\n");
        w("sub/important.log", "");
        w("sub/other.log", "");
        w("sub/.devskyignore", "secret.txt\n");
        w("sub/secret.txt", "");
        w(".git/info/exclude", "local.txt\n");
        w("local.txt", "");
        w(".devsky/x", "");
        assert_eq!(
            names(r),
            [
                ".gitignore",
                "keep.txt",
                "sub/.devskyignore",
                "sub/.gitignore",
                "sub/important.log"
            ]
        );
    }
}
