//! The Replace screen's search, on its worker thread (files streamed in batches, stopped
//! when a newer search starts), and the database connection its jobs use.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::Batch;
use crate::app::worker::ReplyTx;
use crate::engine::db::profile;
use crate::engine::project::Project;
use crate::engine::replace::files::FilePlan;
use crate::engine::replace::{self, Plan, Request};
use crate::store::Store;

/// The connection to the database profile `name` (none for a files-only scope).
pub(super) fn connect(
    project: &Project,
    store: &Store,
    name: Option<&str>,
) -> anyhow::Result<Option<Box<dyn crate::engine::db::Db>>> {
    let Some(name) = name else { return Ok(None) };
    Ok(Some(profile::connect(&project.root, store, name, None)?))
}

/// The connection as the engine takes it.
pub(super) fn conn(
    db: &mut Option<Box<dyn crate::engine::db::Db>>,
) -> Option<&mut dyn crate::engine::db::Db> {
    db.as_mut()
        .map(|d| d.as_mut() as &mut dyn crate::engine::db::Db)
}

/// The search of generation `gen_`, on the worker thread: files stream to `stream` in
/// batches; it stops when `current` moves on.
pub(super) fn search(
    project: &Project,
    req: &Request,
    gen_: u64,
    current: &AtomicU64,
    stream: &ReplyTx,
) -> Result<Plan, String> {
    let run = || -> anyhow::Result<Plan> {
        let store = project.open_store(false)?;
        let mut db = connect(project, &store, req.db.as_deref())?;
        let mut batch: Vec<FilePlan> = Vec::new();
        let mut last = Instant::now();
        let plan = replace::preview_with(project, &store, req, conn(&mut db), &mut |f| {
            if current.load(Ordering::SeqCst) != gen_ {
                return false;
            }
            batch.push(f.clone());
            if batch.len() >= 64 || last.elapsed() > Duration::from_millis(30) {
                stream.send(Batch {
                    gen_,
                    files: std::mem::take(&mut batch),
                });
                last = Instant::now();
            }
            true
        })?;
        Ok(plan)
    };
    run().map_err(|e| format!("{e:#}"))
}
