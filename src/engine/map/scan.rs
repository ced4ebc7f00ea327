//! Mapping a tree: a sorted walk on the calling thread (stat only), blake3 hashing on
//! worker threads, and an ordered writer — all streamed through a bounded window.
//!
//! The previous map of the same tree is the stat cache: it is read alongside the walk (both
//! are in map order) and a file whose size, mtime, ctime, inode, mode and type are
//! unchanged keeps its hash without being read. An entry that was modified within a
//! second of the previous map's start is re-hashed anyway ("racily clean", as git calls it),
//! so an edit in the same timestamp tick is never missed.
//!
//! A file is stat'ed before and after it is read; one that changed meanwhile is read
//! again, and if it keeps changing it is recorded as unstable — never with a wrong hash.

use std::collections::VecDeque;
use std::fs::File;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, channel, sync_channel};
use std::sync::{Arc, Mutex};

use anyhow::Context;
use serde::Serialize;

use super::format::{MapReader, MapWriter};
use super::{Entry, EntryKind, FLAG_UNREADABLE, FLAG_UNSTABLE, Problem, cmp_paths};
use crate::engine::jobs::{Cancelled, Progress};

/// Entries in flight between the walk and the writer.
const WINDOW: usize = 8192;
/// Problems kept in a report (the count goes on).
const MAX_PROBLEMS: usize = 1000;
/// A cached entry modified closer than this to its map's start is re-hashed.
const RACY_NS: i64 = 1_000_000_000;

/// Which paths a map takes.
pub type PathFilter = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// How to map.
#[derive(Clone, Default)]
pub struct ScanOptions {
    /// Hashing threads (0: one per core).
    pub threads: usize,
    /// Keep only files for which this is true (a domain's globs).
    pub keep: Option<PathFilter>,
}

/// What a scan did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    pub files: u64,
    pub bytes: u64,
    /// Files read and hashed (the rest came from the stat cache).
    pub hashed: u64,
    pub cached: u64,
    pub problems: Vec<Problem>,
    pub problem_count: u64,
    /// Something could not be read: the map is incomplete or has unstable entries.
    pub partial: bool,
}

struct Job {
    seq: u64,
    abs: PathBuf,
    entry: Entry,
}

/// Map the tree at `root` into the map file `out`, using the map file `cache` (may be the
/// same path as `out`) as the stat cache when it exists.
pub fn scan(
    root: &Path,
    cache: Option<&Path>,
    out: &Path,
    opts: &ScanOptions,
    progress: &Progress,
) -> anyhow::Result<ScanReport> {
    let started_ns = now_ns();
    // A damaged or missing cache only makes the scan slower.
    let (mut cache, cache_started) = match cache
        .filter(|c| c.exists())
        .and_then(|c| MapReader::open(c).ok())
    {
        Some(r) => {
            let started = r.started_ns;
            (Some(r.peekable()), started)
        }
        None => (None, i64::MIN),
    };
    let mut writer = MapWriter::create(out, started_ns)?;
    let threads = if opts.threads > 0 {
        opts.threads
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    };
    let mut report = ScanReport::default();

    let (job_tx, job_rx) = sync_channel::<Job>(WINDOW);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (res_tx, res_rx) = channel::<(u64, Entry, Option<Problem>)>();

    std::thread::scope(|s| -> anyhow::Result<()> {
        for _ in 0..threads {
            let rx = job_rx.clone();
            let tx = res_tx.clone();
            s.spawn(move || hash_worker(&rx, &tx));
        }
        drop(res_tx);
        let result = walk(
            root,
            &mut cache,
            cache_started,
            opts,
            &job_tx,
            &res_rx,
            &mut writer,
            &mut report,
            progress,
        );
        drop(job_tx);
        result
    })?;
    report.partial = report.problem_count > 0;
    writer.finish(report.partial)?;
    progress.set(report.files, Some(report.files), "mapped");
    Ok(report)
}

/// Slots of the ordered window: an entry is written when every earlier one is.
enum Slot {
    Ready(Entry),
    Waiting,
    Dropped,
}

#[allow(clippy::too_many_arguments)]
fn walk(
    root: &Path,
    cache: &mut Option<std::iter::Peekable<MapReader>>,
    cache_started: i64,
    opts: &ScanOptions,
    jobs: &SyncSender<Job>,
    results: &Receiver<(u64, Entry, Option<Problem>)>,
    writer: &mut MapWriter,
    report: &mut ScanReport,
    progress: &Progress,
) -> anyhow::Result<()> {
    let mut window: VecDeque<Slot> = VecDeque::with_capacity(WINDOW);
    let mut base: u64 = 0; // seq of window[0]
    let mut seq: u64 = 0;
    let mut waiting = 0usize;

    let place = |window: &mut VecDeque<Slot>,
                 base: u64,
                 r: (u64, Entry, Option<Problem>),
                 report: &mut ScanReport| {
        let (s, e, p) = r;
        if let Some(p) = p {
            add_problem(report, p);
        }
        window[(s - base) as usize] = if e.flags & FLAG_UNREADABLE != 0 && e.size == u64::MAX {
            Slot::Dropped
        } else {
            Slot::Ready(e)
        };
    };
    let flush = |window: &mut VecDeque<Slot>,
                 base: &mut u64,
                 writer: &mut MapWriter,
                 report: &mut ScanReport|
     -> anyhow::Result<()> {
        while matches!(window.front(), Some(Slot::Ready(_) | Slot::Dropped)) {
            if let Some(Slot::Ready(e)) = window.pop_front() {
                report.files += 1;
                report.bytes += e.size;
                writer.push(&e)?;
            }
            *base += 1;
        }
        Ok(())
    };

    for item in super::super::walk::builder(root, true).build() {
        let dent = match item {
            Ok(d) => d,
            Err(err) => {
                add_problem(
                    report,
                    Problem {
                        path: error_path(&err, root),
                        reason: err.to_string(),
                    },
                );
                continue;
            }
        };
        let Some(ft) = dent.file_type() else { continue };
        if ft.is_dir() {
            continue;
        }
        let abs = dent.path();
        let rel = match abs.strip_prefix(root) {
            Ok(r) => r.as_os_str().as_bytes().to_vec(),
            Err(_) => continue,
        };
        if opts.keep.as_ref().is_some_and(|keep| !keep(&rel)) {
            continue;
        }
        let kind = if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_file() {
            EntryKind::File
        } else {
            continue; // sockets, fifos, devices are not content
        };
        let meta = match std::fs::symlink_metadata(abs) {
            Ok(m) => m,
            Err(e) => {
                add_problem(
                    report,
                    Problem {
                        path: lossy(&rel),
                        reason: format!("vanished while mapping ({e})"),
                    },
                );
                continue;
            }
        };
        let mut entry = Entry {
            path: rel,
            kind,
            mode: meta.mode() & 0o7777,
            size: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            ctime_ns: meta.ctime() * 1_000_000_000 + meta.ctime_nsec(),
            ino: meta.ino(),
            hash: [0; 32],
            flags: 0,
        };
        let cached = cache.as_mut().and_then(|c| lookup(c, &entry.path));
        let hit = cached.filter(|old| {
            old.kind == entry.kind
                && old.size == entry.size
                && old.mtime_ns == entry.mtime_ns
                && old.ctime_ns == entry.ctime_ns
                && old.ino == entry.ino
                && old.mode == entry.mode
                && old.hash_valid()
                && old.mtime_ns.saturating_add(RACY_NS) < cache_started
                && old.ctime_ns.saturating_add(RACY_NS) < cache_started
        });
        if let Some(old) = hit {
            entry.hash = old.hash;
            report.cached += 1;
            window.push_back(Slot::Ready(entry));
        } else {
            report.hashed += 1;
            window.push_back(Slot::Waiting);
            waiting += 1;
            jobs.send(Job {
                seq,
                abs: abs.to_path_buf(),
                entry,
            })
            .context("hash workers stopped")?;
        }
        seq += 1;
        while let Ok(r) = results.try_recv() {
            waiting -= 1;
            place(&mut window, base, r, report);
        }
        while window.len() >= WINDOW && waiting > 0 {
            let r = results.recv().context("hash workers stopped")?;
            waiting -= 1;
            place(&mut window, base, r, report);
        }
        flush(&mut window, &mut base, writer, report)?;
        if seq % 512 == 0 {
            if progress.is_cancelled() {
                return Err(Cancelled.into());
            }
            progress.set(seq, None, "mapping");
        }
    }
    while waiting > 0 {
        let r = results.recv().context("hash workers stopped")?;
        waiting -= 1;
        place(&mut window, base, r, report);
    }
    flush(&mut window, &mut base, writer, report)?;
    Ok(())
}

/// Advance the cache to `path`; the cached entry when it has one.
fn lookup(cache: &mut std::iter::Peekable<MapReader>, path: &[u8]) -> Option<Entry> {
    loop {
        let ord = match cache.peek()? {
            Ok(e) => cmp_paths(&e.path, path),
            Err(_) => return None,
        };
        match ord {
            std::cmp::Ordering::Less => {
                cache.next();
            }
            std::cmp::Ordering::Equal => return cache.next()?.ok(),
            std::cmp::Ordering::Greater => return None,
        }
    }
}

fn hash_worker(
    jobs: &Mutex<Receiver<Job>>,
    results: &std::sync::mpsc::Sender<(u64, Entry, Option<Problem>)>,
) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let job = {
            let rx = jobs.lock().unwrap_or_else(|e| e.into_inner());
            match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        let Job {
            seq,
            abs,
            mut entry,
        } = job;
        let problem = match entry.kind {
            EntryKind::Symlink => match std::fs::read_link(&abs) {
                Ok(target) => {
                    let t = target.as_os_str().as_bytes();
                    entry.hash = *blake3::hash(t).as_bytes();
                    entry.size = t.len() as u64;
                    None
                }
                Err(e) => unreadable(&mut entry, e),
            },
            EntryKind::File => hash_file(&abs, &mut entry, &mut buf),
        };
        if results.send((seq, entry, problem)).is_err() {
            return;
        }
    }
}

/// Hash a file, checking it did not change while read (twice at most).
fn hash_file(abs: &Path, entry: &mut Entry, buf: &mut [u8]) -> Option<Problem> {
    for attempt in 0..2 {
        let mut f = match File::open(abs) {
            Ok(f) => f,
            Err(e) => return unreadable(entry, e),
        };
        let before = match f.metadata() {
            Ok(m) => m,
            Err(e) => return unreadable(entry, e),
        };
        let mut hasher = blake3::Hasher::new();
        let mut read: u64 = 0;
        loop {
            match f.read(buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    read += n as u64;
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return unreadable(entry, e),
            }
        }
        let after = f.metadata().ok();
        let stable = after.is_some_and(|a| {
            a.len() == before.len()
                && a.mtime() == before.mtime()
                && a.mtime_nsec() == before.mtime_nsec()
                && a.ctime() == before.ctime()
                && a.ctime_nsec() == before.ctime_nsec()
                && read == before.len()
        });
        if stable {
            entry.hash = *hasher.finalize().as_bytes();
            entry.size = before.len();
            entry.mtime_ns = before.mtime() * 1_000_000_000 + before.mtime_nsec();
            entry.ctime_ns = before.ctime() * 1_000_000_000 + before.ctime_nsec();
            entry.ino = before.ino();
            entry.mode = before.mode() & 0o7777;
            return None;
        }
        if attempt == 1 {
            entry.flags |= FLAG_UNSTABLE;
            entry.hash = [0; 32];
        }
    }
    Some(Problem {
        path: lossy(&entry.path),
        reason: "changed while it was read; not hashed".into(),
    })
}

fn unreadable(entry: &mut Entry, e: std::io::Error) -> Option<Problem> {
    entry.flags |= FLAG_UNREADABLE;
    entry.hash = [0; 32];
    if e.kind() == std::io::ErrorKind::NotFound {
        // gone between the walk and the read: leave it out of the map
        entry.size = u64::MAX;
        return Some(Problem {
            path: lossy(&entry.path),
            reason: "vanished while mapping".into(),
        });
    }
    Some(Problem {
        path: lossy(&entry.path),
        reason: e.to_string(),
    })
}

fn add_problem(report: &mut ScanReport, p: Problem) {
    report.problem_count += 1;
    if report.problems.len() < MAX_PROBLEMS {
        report.problems.push(p);
    }
}

fn error_path(err: &ignore::Error, root: &Path) -> String {
    fn find(err: &ignore::Error) -> Option<&Path> {
        match err {
            ignore::Error::WithPath { path, .. } => Some(path),
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
                find(err)
            }
            ignore::Error::Loop { child, .. } => Some(child),
            _ => None,
        }
    }
    find(err)
        .map(|p| {
            p.strip_prefix(root)
                .unwrap_or(p)
                .to_string_lossy()
                .into_owned()
        })
        .unwrap_or_default()
}

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Now, in nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
