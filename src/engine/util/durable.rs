//! Making written files durable: `fsync` of one folder, `syncfs(2)` of a whole filesystem
//! (one call instead of an fsync per file), and a count of the syncs this process made so
//! a step can report how many it cost, and an atomic whole-file write. Deploys, the object
//! store and the registry client use these.

use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::Context;

/// Syncs (fsync, syncfs) made by this process so far.
static SYNCS: AtomicU64 = AtomicU64::new(0);

/// Count one sync (see [`syncs`]).
pub(crate) fn count_sync() {
    SYNCS.fetch_add(1, Ordering::Relaxed);
}

/// Syncs made by this process so far: a step's count is the difference of two readings.
pub(crate) fn syncs() -> u64 {
    SYNCS.load(Ordering::Relaxed)
}

/// Write `bytes` to `path` whole or not at all: a temporary file in the same folder, synced,
/// then renamed over `path` (the folder is made when missing).
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path.parent().context("no folder")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// fsync a folder, so the entries added to or removed from it survive a crash (best effort:
/// a folder cannot be opened on every system).
pub(crate) fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        count_sync();
        let _ = d.sync_all();
    }
}

/// Make every file written under `dir` durable at once: `syncfs(2)` on its filesystem, one
/// call instead of an fsync per file (what staging a thousand uploads would cost).
pub(crate) fn sync_filesystem(dir: &Path) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let d = File::open(dir).with_context(|| format!("cannot open {}", dir.display()))?;
    count_sync();
    // SAFETY: syncfs only reads the descriptor, which stays open for the call.
    if unsafe { libc::syncfs(d.as_raw_fd()) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot sync the filesystem of {}", dir.display()));
    }
    Ok(())
}
