//! Mapping a tree: a sorted walk on the calling thread (stat only), blake3 hashing on
//! worker threads, and an ordered writer — all streamed through a bounded window.
//!
//! The previous map of the same tree is the stat cache: it is read alongside the walk (both
//! are in map order) and a file whose size, mtime, ctime, inode, mode and type are
//! unchanged keeps its hash without being read. An entry that was changed too close to the
//! previous map's start is re-hashed anyway ("racily clean", as git calls it), so an edit in
//! the same timestamp tick is never missed: too close is 100 ms where the file system keeps
//! sub-second times (the kernel stamps them from a clock that lags by at most one tick, a
//! few milliseconds), and 2 s where it keeps whole seconds (FAT keeps even seconds).
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
use super::walker::{Found, Ignores, LeftOut, Step, WalkOptions};
use super::{Entry, EntryKind, FLAG_UNREADABLE, FLAG_UNSTABLE, Problem, cmp_paths};
use crate::engine::jobs::{Cancelled, Progress};

/// Entries in flight between the walk and the writer.
const WINDOW: usize = 8192;
/// Problems kept in a report (the count goes on).
const MAX_PROBLEMS: usize = 1000;
/// A cached entry changed closer than this to its map's start is re-hashed, where the file
/// system keeps sub-second times ...
const RACY_FINE_NS: i64 = 100_000_000;
/// ... and where it keeps whole seconds.
const RACY_COARSE_NS: i64 = 2_000_000_000;

/// Whether a cached entry may be stale although its stat looks the same: it was changed
/// so close to the start of the map that recorded it that a later edit in the same
/// timestamp tick would leave the same times.
pub(super) fn racily_clean(old: &Entry, started: i64) -> bool {
    const SECOND: i64 = 1_000_000_000;
    let fine = old.ctime_ns % SECOND != 0 || old.mtime_ns % SECOND != 0;
    let margin = if fine { RACY_FINE_NS } else { RACY_COARSE_NS };
    old.mtime_ns.saturating_add(margin) >= started || old.ctime_ns.saturating_add(margin) >= started
}

/// Which paths a map takes.
pub type PathFilter = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

/// What a [`Tap`] is told: the map's start time first, then every entry as it is written.
pub enum Tapped<'a> {
    Started(i64),
    Entry(&'a Entry),
}

/// Sees a map while it is made (to send it meanwhile); an error stops the scan.
pub type Tap = Arc<dyn Fn(Tapped<'_>) -> anyhow::Result<()> + Send + Sync>;

/// How to map.
#[derive(Clone, Default)]
pub struct ScanOptions {
    /// Hashing threads (0: one per core).
    pub threads: usize,
    /// Keep only files for which this is true (a domain's globs).
    pub keep: Option<PathFilter>,
    /// Told of every entry as it is written, in map order.
    pub tap: Option<Tap>,
    /// Folders are entries too (deploy maps; see the `map` module doc).
    pub dirs: bool,
    /// Which ignore files count.
    pub ignores: Ignores,
    /// Counts what ignore files leave out, by rule.
    pub left_out: Option<Arc<LeftOut>>,
}

/// What a scan did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ScanReport {
    /// Files and symlinks.
    pub files: u64,
    /// Folders (maps with folders only).
    pub dirs: u64,
    pub bytes: u64,
    /// Files read and hashed (the rest came from the stat cache).
    pub hashed: u64,
    pub cached: u64,
    pub problems: Vec<Problem>,
    pub problem_count: u64,
    /// Something could not be read: the map is incomplete or has unstable entries.
    pub partial: bool,
}

/// A hasher's answer for one file: its sequence number, entry, and problem if any.
type Hashed = (u64, Entry, Option<Problem>);

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
    let (cache, cache_started) = match cache
        .filter(|c| c.exists())
        .and_then(|c| MapReader::open(c).ok())
    {
        Some(r) => {
            let started = r.started_ns;
            (Some(r.peekable()), started)
        }
        None => (None, i64::MIN),
    };
    let writer = MapWriter::create_as(out, started_ns, opts.dirs)?;
    if let Some(t) = &opts.tap {
        t(Tapped::Started(started_ns))?;
    }
    let threads = if opts.threads > 0 {
        opts.threads
    } else {
        std::thread::available_parallelism().map_or(2, |n| n.get())
    };
    let (job_tx, job_rx) = sync_channel::<Vec<Job>>(WINDOW / JOB_BATCH + 1);
    let job_rx = Arc::new(Mutex::new(job_rx));
    let (res_tx, res_rx) = channel::<Vec<Hashed>>();
    // The walk (readdir + stat) runs on its own thread and hands over batches; this thread
    // merges with the cache, sends misses to the hashers and writes in order.
    let (walk_tx, walk_rx) = sync_channel::<Vec<Step>>(64);
    let keep = opts.keep.clone();
    let (dirs, ignores, left_out) = (opts.dirs, opts.ignores, opts.left_out.clone());

    let mut merger = Merger {
        root,
        cache,
        cache_started,
        writer,
        tap: opts.tap.clone(),
        report: ScanReport::default(),
        window: VecDeque::with_capacity(WINDOW),
        base: 0,
        seq: 0,
        waiting: 0,
        jobs: job_tx,
        pending: Vec::with_capacity(JOB_BATCH),
        results: res_rx,
    };
    std::thread::scope(|s| -> anyhow::Result<()> {
        for _ in 0..threads {
            let rx = job_rx.clone();
            let tx = res_tx.clone();
            s.spawn(move || hash_worker(&rx, &tx));
        }
        drop(res_tx);
        let walker = s.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let wopts = WalkOptions {
                keep: keep.as_deref(),
                dirs,
                ignores,
                left_out: left_out.as_deref(),
            };
            let r = super::walker::walk_with(root, &wopts, &mut |step| {
                batch.push(step);
                if batch.len() == BATCH {
                    walk_tx
                        .send(std::mem::replace(&mut batch, Vec::with_capacity(BATCH)))
                        .map_err(|_| Cancelled)?;
                }
                Ok(())
            });
            if !batch.is_empty() {
                let _ = walk_tx.send(batch);
            }
            r
        });
        let merged = (|| -> anyhow::Result<()> {
            for batch in &walk_rx {
                for step in batch {
                    merger.step(step)?;
                }
                merger.send_pending()?;
                if progress.is_cancelled() {
                    return Err(Cancelled.into());
                }
                progress.set(merger.seq, None, "mapping");
            }
            merger.drain()
        })();
        drop(walk_rx);
        let walked = walker
            .join()
            .unwrap_or_else(|_| Err(anyhow::anyhow!("the walk panicked")));
        // Close the job queue so the hashers stop, whatever happened.
        let (tx, _) = sync_channel(1);
        drop(std::mem::replace(&mut merger.jobs, tx));
        merged?;
        walked
    })?;
    let Merger {
        writer, mut report, ..
    } = merger;
    report.partial = report.problem_count > 0;
    writer.finish(report.partial)?;
    progress.set(report.files, Some(report.files), "mapped");
    Ok(report)
}

/// Steps handed from the walk thread at a time.
const BATCH: usize = 512;
/// Files handed to a hasher at a time.
const JOB_BATCH: usize = 32;

/// Slots of the ordered window: an entry is written when every earlier one is.
enum Slot {
    Ready(Entry),
    Waiting,
    Dropped,
}

/// The merge of the walk with the stat cache, and the ordered writer.
struct Merger<'a> {
    root: &'a Path,
    cache: Option<std::iter::Peekable<MapReader>>,
    cache_started: i64,
    writer: MapWriter,
    tap: Option<Tap>,
    report: ScanReport,
    window: VecDeque<Slot>,
    /// seq of window[0]
    base: u64,
    seq: u64,
    waiting: usize,
    jobs: SyncSender<Vec<Job>>,
    /// Misses not yet handed to the hashers (sent in batches to spare the queue).
    pending: Vec<Job>,
    results: Receiver<Vec<Hashed>>,
}

impl Merger<'_> {
    fn step(&mut self, step: Step) -> anyhow::Result<()> {
        let Found {
            rel,
            file_type: ft,
            meta,
        } = match step {
            Step::Found(f) => f,
            Step::Problem(p) => {
                add_problem(&mut self.report, p);
                return Ok(());
            }
        };
        let kind = if ft.is_symlink() {
            EntryKind::Symlink
        } else if ft.is_dir() {
            EntryKind::Dir
        } else {
            EntryKind::File
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
        if kind == EntryKind::Dir {
            // A folder has no content: nothing to hash or look up.
            entry.size = 0;
            self.window.push_back(Slot::Ready(entry));
        } else {
            self.file(entry)?;
        }
        self.seq += 1;
        if self.waiting > 0 {
            while let Ok(batch) = self.results.try_recv() {
                self.place_all(batch);
            }
            if self.window.len() >= WINDOW {
                self.send_pending()?;
            }
            while self.window.len() >= WINDOW && self.waiting > 0 {
                let batch = self.results.recv().context("hash workers stopped")?;
                self.place_all(batch);
            }
        }
        self.flush()
    }

    /// A file or symlink: its hash from the cache, or a job for the hashers.
    fn file(&mut self, mut entry: Entry) -> anyhow::Result<()> {
        let started = self.cache_started;
        let hit = self
            .cache
            .as_mut()
            .and_then(|c| lookup(c, &entry.path))
            .filter(|old| {
                old.kind == entry.kind
                    && old.size == entry.size
                    && old.mtime_ns == entry.mtime_ns
                    && old.ctime_ns == entry.ctime_ns
                    && old.ino == entry.ino
                    && old.mode == entry.mode
                    && old.hash_valid()
                    && !racily_clean(old, started)
            });
        if let Some(old) = hit {
            entry.hash = old.hash;
            self.report.cached += 1;
            self.window.push_back(Slot::Ready(entry));
        } else {
            self.report.hashed += 1;
            self.window.push_back(Slot::Waiting);
            self.waiting += 1;
            let abs = super::walker::abs_path(self.root, &entry.path);
            self.pending.push(Job {
                seq: self.seq,
                abs,
                entry,
            });
            if self.pending.len() >= JOB_BATCH {
                self.send_pending()?;
            }
        }
        Ok(())
    }

    /// Hand the waiting misses to the hashers.
    fn send_pending(&mut self) -> anyhow::Result<()> {
        if !self.pending.is_empty() {
            let batch = std::mem::replace(&mut self.pending, Vec::with_capacity(JOB_BATCH));
            self.jobs.send(batch).context("hash workers stopped")?;
        }
        Ok(())
    }

    fn place_all(&mut self, batch: Vec<Hashed>) {
        for r in batch {
            self.place(r);
        }
    }

    fn place(&mut self, (s, e, p): Hashed) {
        self.waiting -= 1;
        if let Some(p) = p {
            add_problem(&mut self.report, p);
        }
        let gone = e.flags & FLAG_UNREADABLE != 0 && e.size == u64::MAX;
        self.window[(s - self.base) as usize] = if gone { Slot::Dropped } else { Slot::Ready(e) };
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        while matches!(self.window.front(), Some(Slot::Ready(_) | Slot::Dropped)) {
            if let Some(Slot::Ready(e)) = self.window.pop_front() {
                if e.kind == EntryKind::Dir {
                    self.report.dirs += 1;
                } else {
                    self.report.files += 1;
                    self.report.bytes += e.size;
                }
                self.writer.push(&e)?;
                if let Some(t) = &self.tap {
                    t(Tapped::Entry(&e))?;
                }
            }
            self.base += 1;
        }
        Ok(())
    }

    /// Wait for the hashes still out, and write everything.
    fn drain(&mut self) -> anyhow::Result<()> {
        self.send_pending()?;
        while self.waiting > 0 {
            let batch = self.results.recv().context("hash workers stopped")?;
            self.place_all(batch);
        }
        self.flush()
    }
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

fn hash_worker(jobs: &Mutex<Receiver<Vec<Job>>>, results: &std::sync::mpsc::Sender<Vec<Hashed>>) {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let batch = {
            let rx = jobs.lock().unwrap_or_else(|e| e.into_inner());
            match rx.recv() {
                Ok(j) => j,
                Err(_) => return,
            }
        };
        let mut done = Vec::with_capacity(batch.len());
        for Job {
            seq,
            abs,
            mut entry,
        } in batch
        {
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
                EntryKind::Dir => None,
            };
            done.push((seq, entry, problem));
        }
        if results.send(done).is_err() {
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

fn lossy(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Now, in nanoseconds since the epoch.
pub fn now_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}
