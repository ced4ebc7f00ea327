//! Work over a list cut into consecutive runs, one thread a run: checking and unpacking a
//! package, and packing one, use every core this way.

use anyhow::anyhow;

/// Run `f` over `items` cut into consecutive runs, one thread a run (up to four threads,
/// one per core; a short list stays on the calling thread): the results in order, or the
/// first error.
pub(crate) fn in_parallel<T: Sync, R: Send>(
    items: &[T],
    f: impl Fn(&[T]) -> anyhow::Result<R> + Sync,
) -> anyhow::Result<Vec<R>> {
    const MIN_RUN: usize = 64;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, 4)
        .min(items.len().div_ceil(MIN_RUN))
        .max(1);
    if threads == 1 {
        return Ok(vec![f(items)?]);
    }
    let run = items.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = items.chunks(run).map(|c| s.spawn(|| f(c))).collect();
        let mut out = Vec::with_capacity(handles.len());
        let mut first = None;
        for h in handles {
            match h
                .join()
                .unwrap_or_else(|_| Err(anyhow!("a worker thread panicked")))
            {
                Ok(r) => out.push(r),
                Err(e) => {
                    first.get_or_insert(e);
                }
            }
        }
        match first {
            Some(e) => Err(e),
            None => Ok(out),
        }
    })
}
