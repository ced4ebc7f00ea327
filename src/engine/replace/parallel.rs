//! Reading and matching a domain's files on a small pool of threads, with the results put
//! back in the walk's order: one thread walks (the project's sorted walk,
//! [`super::files::walk`]) and hands out numbered batches of paths; the workers plan each
//! file; the caller's thread takes the batches back in number order, so what it sees is
//! exactly what a single-threaded scan gives, in the same order, while the reads overlap.
//! Returning false from the caller's callback stops the walk and the workers ("latest
//! request wins" in the Replace screen).

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, sync_channel};
use std::sync::{Arc, Mutex};

use super::Problem;
use super::files::{Outcome, walk};
use crate::engine::map::scan::PathFilter;

/// Paths per batch: small enough that the first matches show at once, large enough that
/// the channels are not the cost.
const BATCH: usize = 32;
/// Batches walked ahead of the slowest worker, per worker (bounds the memory held).
const AHEAD: usize = 8;
/// At most this many workers.
const MAX_WORKERS: usize = 8;

/// What planning one file gives.
pub type Planned = Result<Outcome, Problem>;

/// How many workers read and match: one per core, at least 2 (a read waiting on the disk
/// then does not hold the others up), at most [`MAX_WORKERS`].
pub fn workers() -> usize {
    std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(2, MAX_WORKERS)
}

/// Plan every file the walk of `root` (narrowed by `filter`) gives with `plan`, on
/// [`workers`] threads, handing each outcome to `each` on this thread in the walk's order.
/// Gives what the walk could not read, or None when `each` returned false (stopped).
pub fn in_order(
    root: &Path,
    filter: Option<&PathFilter>,
    plan: &(dyn Fn(&str) -> Planned + Sync),
    each: &mut dyn FnMut(Planned) -> bool,
) -> Option<Vec<Problem>> {
    let n = workers();
    let stop = AtomicBool::new(false);
    let (job_tx, job_rx) = sync_channel::<(usize, Vec<String>)>(n * AHEAD);
    let (done_tx, done_rx) = sync_channel::<(usize, Vec<Planned>)>(n * AHEAD);
    let job_rx = Arc::new(Mutex::new(job_rx));
    std::thread::scope(|s| {
        let stop = &stop;
        let walker = s.spawn(move || {
            let mut batch = Vec::with_capacity(BATCH);
            let mut seq = 0;
            let problems = walk(root, filter, &mut |rel| {
                batch.push(rel);
                if batch.len() == BATCH {
                    let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                    // A send fails when the workers are gone: stopped.
                    if job_tx.send((seq, full)).is_err() {
                        return false;
                    }
                    seq += 1;
                }
                !stop.load(Ordering::Relaxed)
            });
            if !batch.is_empty() {
                let _ = job_tx.send((seq, batch));
            }
            problems
        });
        for _ in 0..n {
            let (jobs, done) = (Arc::clone(&job_rx), done_tx.clone());
            s.spawn(move || work(&jobs, &done, plan, stop));
        }
        drop((job_rx, done_tx));
        let finished = gather(&done_rx, each);
        if !finished {
            stop.store(true, Ordering::Relaxed);
        }
        // Workers blocked on a full result channel see it closed and stop.
        drop(done_rx);
        let problems = walker.join().expect("the search's walk panicked");
        finished.then_some(problems)
    })
}

/// A worker: plan the batches it is given until there are none or the scan stopped.
fn work(
    jobs: &Mutex<Receiver<(usize, Vec<String>)>>,
    done: &std::sync::mpsc::SyncSender<(usize, Vec<Planned>)>,
    plan: &(dyn Fn(&str) -> Planned + Sync),
    stop: &AtomicBool,
) {
    loop {
        let job = jobs.lock().expect("job queue").recv();
        let Ok((seq, paths)) = job else { return };
        let mut outs = Vec::with_capacity(paths.len());
        for rel in &paths {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            outs.push(plan(rel));
        }
        if done.send((seq, outs)).is_err() {
            return;
        }
    }
}

/// Hand the outcomes to `each` in batch order, holding back batches that came early.
/// False when `each` stopped it.
fn gather(done: &Receiver<(usize, Vec<Planned>)>, each: &mut dyn FnMut(Planned) -> bool) -> bool {
    let mut early = BTreeMap::new();
    let mut next = 0;
    for (seq, outs) in done.iter() {
        early.insert(seq, outs);
        while let Some(outs) = early.remove(&next) {
            next += 1;
            for o in outs {
                if !each(o) {
                    return false;
                }
            }
        }
    }
    true
}
