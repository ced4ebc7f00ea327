//! What an agentless target holds, as devsky knows it ([`View`]): the state file
//! (`.devsky-state`, the full map devsky wrote at the end of its last deploy) plus the
//! files a push that did not finish already put in place (its local journal), checked
//! against a size/mtime listing of the tree.
//!
//! The map a plan is made against is what devsky believes is there (the state and the
//! journal): a file someone else changed, added or removed since is *drift* ([`Drift`]),
//! listed beside the plan and never overwritten by a push without `--force`. A file of the
//! journal is trusted by its size (the journal has no server mtime); one of the state by
//! its size and mtime, as precise as the server's listing is (FTP's LIST: a minute).
//!
//! A target with files but no state file was not deployed by devsky: its map is refused
//! until `devsky deploy adopt` has hashed its files once ([`super::push::adopt`]).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use super::record::{Record, Touched};
use super::{RemoteFs, STATE_FILE, Stat, StatKind, TEMP_PREFIX, check_listed_name};
use crate::engine::map::format::{MapReader, MapWriter};
use crate::engine::map::{Entry, EntryKind, cmp_paths};

/// Most entries a listing may have (a hostile server must not exhaust memory).
const MAX_LISTED: usize = 5_000_000;
/// Largest state file read (a map entry is about 100 bytes).
const MAX_STATE: u64 = 1 << 30;

/// A file as devsky believes it is on the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Believed {
    pub hash: [u8; 32],
    pub size: u64,
    pub mode: u32,
    /// The server's mtime (seconds) when devsky recorded it (None: from the journal, only
    /// the size is checked).
    pub mtime: Option<i64>,
}

impl Believed {
    pub fn hash_hex(&self) -> String {
        blake3::Hash::from_bytes(self.hash).to_hex().to_string()
    }
}

/// A file as listed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listed {
    pub size: u64,
    pub mtime: i64,
    pub mode: Option<u32>,
}

/// A path someone else changed since devsky's last deploy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    pub path: String,
    /// `changed`, `removed` or `added`.
    pub what: &'static str,
}

/// The server's tree as devsky knows it, and as listed.
#[derive(Debug, Default)]
pub struct View {
    /// Whether the root has a state file.
    pub has_state: bool,
    /// Whether the root folder exists.
    pub root_exists: bool,
    /// The state file's entries.
    pub state: BTreeMap<String, Believed>,
    /// The state with the journal of an unfinished push applied.
    pub believed: BTreeMap<String, Believed>,
    /// Every file listed (not the state file, not temp uploads).
    pub listed: BTreeMap<String, Listed>,
    /// Every folder listed.
    pub dirs: BTreeSet<String>,
    /// Temp uploads left by an interrupted push.
    pub leftovers: Vec<String>,
}

/// Parse a hex blake3.
pub fn parse_hash(h: &str) -> anyhow::Result<[u8; 32]> {
    Ok(*blake3::Hash::from_hex(h)
        .with_context(|| format!("{h:?} is not a blake3 hash"))?
        .as_bytes())
}

impl View {
    /// List the tree and read the state file and the local journal.
    pub fn load(fs: &mut dyn RemoteFs, rec: &Record) -> anyhow::Result<View> {
        let mut v = View::default();
        let mut todo = vec![String::new()];
        let mut count = 0usize;
        while let Some(dir) = todo.pop() {
            let Some(entries) = fs.list(&dir)? else {
                if dir.is_empty() {
                    // No root yet: nothing there.
                    break;
                }
                anyhow::bail!("folder {dir} vanished while it was listed");
            };
            if dir.is_empty() {
                v.root_exists = true;
            }
            for Stat {
                name,
                kind,
                size,
                mtime,
                mode,
            } in entries
            {
                if name == "." || name == ".." {
                    continue;
                }
                check_listed_name(&name)?;
                count += 1;
                if count > MAX_LISTED {
                    anyhow::bail!("the server listed more than {MAX_LISTED} entries");
                }
                let path = if dir.is_empty() {
                    name.clone()
                } else {
                    format!("{dir}/{name}")
                };
                match kind {
                    // The deploy lock (lock.rs): devsky's own, never deployed.
                    StatKind::Dir if dir.is_empty() && name == super::lock::LOCK_DIR => {}
                    StatKind::Dir => {
                        v.dirs.insert(path.clone());
                        todo.push(path);
                    }
                    StatKind::File if dir.is_empty() && name == STATE_FILE => {
                        if size > MAX_STATE {
                            anyhow::bail!(
                                "the server's .devsky-state has {size} bytes: more than a map \
                                 of {MAX_LISTED} files; refused"
                            );
                        }
                        v.has_state = true
                    }
                    StatKind::File if name.starts_with(TEMP_PREFIX) => v.leftovers.push(path),
                    StatKind::File => {
                        v.listed.insert(path, Listed { size, mtime, mode });
                    }
                    StatKind::Other => {}
                }
            }
        }
        if v.has_state {
            let tmp = tempfile::NamedTempFile::new()?;
            let mut f = Capped {
                out: tmp.reopen()?,
                left: MAX_STATE,
            };
            fs.get(STATE_FILE, &mut f)
                .context("cannot download the state file .devsky-state")?;
            drop(f);
            v.state = read_state(tmp.path())?;
        }
        v.believed = v.state.clone();
        // A file whose rename may or may not have happened when the push stopped: if the
        // server has the content it was to have, it is finished.
        let lines = rec.journal()?;
        let done: BTreeSet<&str> = lines
            .iter()
            .filter(|t| !t.pending)
            .map(|t| t.path.as_str())
            .collect();
        let mut settled = Vec::new();
        for t in lines
            .iter()
            .filter(|t| t.pending && !done.contains(t.path.as_str()))
        {
            if let (Some(want), Some(l)) = (&t.after, v.listed.get(&t.path))
                && l.size == t.after_size
                && super::hash_remote(fs, &t.path, None)? == *want
            {
                settled.push(Touched {
                    pending: false,
                    ..t.clone()
                });
            }
        }
        if !settled.is_empty() {
            let mut j = rec.journal_writer()?;
            for t in &settled {
                j.add(t)?;
            }
        }
        for t in rec.journal_done()? {
            match &t.after {
                Some(h) => {
                    v.believed.insert(
                        t.path.clone(),
                        Believed {
                            hash: parse_hash(h)?,
                            size: t.after_size,
                            mode: t.after_mode.unwrap_or(0o644),
                            mtime: None,
                        },
                    );
                }
                None => {
                    v.believed.remove(&t.path);
                }
            }
        }
        Ok(v)
    }

    /// Whether what is at `path` is not what devsky believes.
    pub fn drifted(&self, path: &str) -> bool {
        match (self.believed.get(path), self.listed.get(path)) {
            (None, None) => false,
            (Some(b), Some(l)) => b.size != l.size || b.mtime.is_some_and(|m| m != l.mtime),
            _ => true,
        }
    }

    /// Every drifted path, in map order.
    pub fn drift(&self) -> Vec<Drift> {
        let paths: BTreeSet<&String> = self.believed.keys().chain(self.listed.keys()).collect();
        let mut out: Vec<Drift> = paths
            .into_iter()
            .filter(|p| self.drifted(p))
            .map(|p| Drift {
                path: p.clone(),
                what: match (self.believed.contains_key(p), self.listed.contains_key(p)) {
                    (true, true) => "changed",
                    (true, false) => "removed",
                    _ => "added",
                },
            })
            .collect();
        out.sort_by(|a, b| cmp_paths(a.path.as_bytes(), b.path.as_bytes()));
        out
    }

    /// Refuse a target devsky has no map of: files, but no state file (nor a journal
    /// that accounts for them).
    pub fn require_known(&self, label: &str) -> anyhow::Result<()> {
        if self.has_state || self.listed.keys().all(|p| self.believed.contains_key(p)) {
            return Ok(());
        }
        anyhow::bail!(
            "{label} has {} file(s) but no .devsky-state: devsky did not deploy there. \
             `devsky deploy adopt SERVER` hashes its files once and writes the state file; \
             then plan and push",
            self.listed.len()
        )
    }

    /// The map a plan is made against: what devsky believes is there.
    pub fn write_map(&self, out: &Path) -> anyhow::Result<()> {
        write_entries(&self.believed, out)
    }
}

/// A writer that refuses more than `left` bytes (a server sending more than it listed).
struct Capped<W> {
    out: W,
    left: u64,
}

impl<W: std::io::Write> std::io::Write for Capped<W> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if b.len() as u64 > self.left {
            return Err(std::io::Error::other("the state file is larger than 1 GiB"));
        }
        self.left -= b.len() as u64;
        self.out.write_all(b)?;
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The entries of a state file.
pub fn read_state(path: &Path) -> anyhow::Result<BTreeMap<String, Believed>> {
    let entries = MapReader::open(path)
        .and_then(|r| r.read_all())
        .context("the server's .devsky-state is not a devsky map (damaged?)")?;
    let mut out = BTreeMap::new();
    for e in entries {
        if e.kind != EntryKind::File {
            continue;
        }
        let p = String::from_utf8(e.path.clone())
            .context("the server's .devsky-state has a path that is not UTF-8")?;
        crate::engine::deploy::manifest::check_path(&p)
            .context("the server's .devsky-state is refused")?;
        out.insert(
            p,
            Believed {
                hash: e.hash,
                size: e.size,
                mode: e.mode,
                mtime: (e.mtime_ns != i64::MIN).then(|| e.mtime_ns.div_euclid(1_000_000_000)),
            },
        );
    }
    Ok(out)
}

/// Write `entries` as a map file (files only; an unknown mtime as `i64::MIN`).
pub fn write_entries(entries: &BTreeMap<String, Believed>, out: &Path) -> anyhow::Result<()> {
    let mut sorted: Vec<(&String, &Believed)> = entries.iter().collect();
    sorted.sort_by(|a, b| cmp_paths(a.0.as_bytes(), b.0.as_bytes()));
    let mut w = MapWriter::create(out, crate::engine::map::scan::now_ns())?;
    for (p, b) in sorted {
        w.push(&Entry {
            path: p.as_bytes().to_vec(),
            kind: EntryKind::File,
            mode: b.mode,
            size: b.size,
            mtime_ns: b
                .mtime
                .map_or(i64::MIN, |m| m.saturating_mul(1_000_000_000)),
            ctime_ns: 0,
            ino: 0,
            hash: b.hash,
            flags: 0,
        })?;
    }
    w.finish(false)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(size: u64, mtime: Option<i64>) -> Believed {
        Believed {
            hash: [1; 32],
            size,
            mode: 0o644,
            mtime,
        }
    }

    fn l(size: u64, mtime: i64) -> Listed {
        Listed {
            size,
            mtime,
            mode: Some(0o644),
        }
    }

    #[test]
    fn drift_by_size_and_mtime() {
        let mut v = View::default();
        v.believed.insert("same".into(), b(5, Some(100)));
        v.listed.insert("same".into(), l(5, 100));
        v.believed.insert("touched".into(), b(5, Some(100)));
        v.listed.insert("touched".into(), l(5, 160));
        v.believed.insert("journal".into(), b(7, None));
        v.listed.insert("journal".into(), l(7, 999));
        v.believed.insert("gone".into(), b(1, Some(1)));
        v.listed.insert("new".into(), l(1, 1));
        let d: Vec<(String, &str)> = v.drift().into_iter().map(|d| (d.path, d.what)).collect();
        assert_eq!(
            d,
            [
                ("gone".to_string(), "removed"),
                ("new".to_string(), "added"),
                ("touched".to_string(), "changed")
            ]
        );
        // Files but no state file: refused until adopted.
        let mut w = View::default();
        w.listed.insert("x".into(), l(1, 1));
        assert!(
            w.require_known("t")
                .unwrap_err()
                .to_string()
                .contains("adopt")
        );
        assert!(View::default().require_known("t").is_ok());
    }

    #[test]
    fn a_state_file_round_trips_and_a_hostile_one_is_refused() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("s.map");
        let mut m = BTreeMap::new();
        m.insert("a/b.txt".to_string(), b(3, Some(1_700_000_000)));
        m.insert("j.txt".to_string(), b(4, None));
        write_entries(&m, &p).unwrap();
        assert_eq!(read_state(&p).unwrap(), m);
        let mut bad = BTreeMap::new();
        bad.insert("../etc/passwd".to_string(), b(3, Some(1)));
        write_entries(&bad, &p).unwrap();
        assert!(read_state(&p).is_err());
        std::fs::write(&p, b"not a map").unwrap();
        assert!(read_state(&p).is_err());
    }
}
