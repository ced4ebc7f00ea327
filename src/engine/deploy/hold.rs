//! A hold: the deploy lock taken before a deployment begins, together with a map of the
//! root made under it — the map a client plans against (the agent's
//! `GET /api/v1/map?hold=true`). A deployment given the hold starts from that map instead
//! of mapping the root again: the lock never left the agent in between, so no other
//! deployment ran.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::apply::recover_locked;
use super::state::LockGuard;
use super::transition::map_root_at;
use super::{Log, LogSink, State};
use crate::engine::jobs::Progress;
use crate::engine::map::scan::Tap;

/// The lock and the map made under it (`maps/.held.map`, taken over by the deployment).
pub struct Held {
    pub lock: LockGuard,
    pub map: PathBuf,
    /// When its scan started.
    pub mapped_at: Instant,
}

impl Held {
    /// Take the lock (recovering what a crash left behind, as a deployment does).
    pub fn lock(
        root: &Path,
        state: &State,
        progress: &Progress,
        sink: LogSink,
    ) -> anyhow::Result<LockGuard> {
        let lock = state.lock()?;
        let log = Log::new(state, progress, sink);
        recover_locked(root, state, &log, progress)?;
        Ok(lock)
    }

    /// Map the root under `lock` (with the state's stat cache), telling `tap` of every
    /// entry as it is made.
    pub fn map(
        lock: LockGuard,
        root: &Path,
        state: &State,
        tap: Option<Tap>,
        progress: &Progress,
    ) -> anyhow::Result<Held> {
        let map = state.dir().join("maps").join(".held.map");
        let mapped_at = Instant::now();
        map_root_at(root, &state.cache_path(), &map, tap, progress)?;
        Ok(Held {
            lock,
            map,
            mapped_at,
        })
    }

    /// [`Held::lock`], then [`Held::map`].
    pub fn take(
        root: &Path,
        state: &State,
        progress: &Progress,
        sink: LogSink,
    ) -> anyhow::Result<Held> {
        let lock = Held::lock(root, state, progress, sink)?;
        Held::map(lock, root, state, None, progress)
    }

    /// Release the lock and remove the map (a hold no deployment took).
    pub fn release(self) {
        let _ = std::fs::remove_file(&self.map);
        drop(self.lock);
    }
}
