//! One scan of the root for every map request that is waiting for it.
//!
//! `GET /api/v1/map` must answer with a map at least as new as the request: a scan that
//! *started* after the request arrived is good enough, one that started before is not (a
//! file may have changed in between). Requests arriving while a scan runs therefore wait
//! for it to end, and then share the next scan: 50 concurrent requests cost two scans, not
//! fifty that queue on the stat cache.
//!
//! The map is a temp file in the state's `cache/` folder, shared behind an [`Arc`]: it is
//! removed when the last request that holds it is done (a response that already opened it
//! keeps reading after that).

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tempfile::NamedTempFile;

/// The prefix of the temp map files (left-overs of a killed agent are removed at start).
pub const PREFIX: &str = ".served-";

/// The newest map and when its scan started.
struct Latest {
    started: Instant,
    file: Arc<NamedTempFile>,
}

/// Shares scans between concurrent map requests (see the module comment).
#[derive(Default)]
pub struct MapCache {
    latest: tokio::sync::Mutex<Option<Latest>>,
}

impl MapCache {
    /// A map of the root that was started no earlier than this call; `scan` makes one
    /// (it runs with the cache locked: one scan at a time).
    pub async fn get<F, Fut, E>(&self, scan: F) -> Result<Arc<NamedTempFile>, E>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<NamedTempFile, E>>,
    {
        let arrived = Instant::now();
        let mut latest = self.latest.lock().await;
        if let Some(l) = latest.as_ref()
            && l.started >= arrived
        {
            return Ok(l.file.clone());
        }
        let started = Instant::now();
        let file = Arc::new(scan().await?);
        *latest = Some(Latest {
            started,
            file: file.clone(),
        });
        Ok(file)
    }
}

/// Remove the temp maps a killed agent left in `cache_dir`.
pub fn remove_leftovers(cache_dir: &Path) {
    let Ok(rd) = std::fs::read_dir(cache_dir) else {
        return;
    };
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with(PREFIX) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_share_scans_and_none_gets_an_older_one() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Arc::new(MapCache::default());
        let scans = Arc::new(AtomicUsize::new(0));
        let scan = |cache: Arc<MapCache>, scans: Arc<AtomicUsize>, dir: std::path::PathBuf| async move {
            let arrived = Instant::now();
            let f = cache
                .get(|| async {
                    let n = scans.fetch_add(1, Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(300)).await;
                    let f = tempfile::Builder::new().prefix(PREFIX).tempfile_in(&dir)?;
                    std::fs::write(f.path(), format!("{n}"))?;
                    Ok::<_, std::io::Error>(f)
                })
                .await
                .unwrap();
            (arrived, f)
        };
        // One request starts a scan; 19 more arrive while it runs.
        let mut tasks = Vec::new();
        for i in 0..20 {
            tasks.push(tokio::spawn(scan(
                cache.clone(),
                scans.clone(),
                dir.path().to_path_buf(),
            )));
            if i == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        for t in tasks {
            let (_, f) = t.await.unwrap();
            assert!(f.path().exists());
        }
        // The first request scans; all that arrive during its scan share the second.
        assert_eq!(scans.load(Ordering::SeqCst), 2);

        // A request arriving after every scan ended never gets an old map.
        let before = scans.load(Ordering::SeqCst);
        let (_, f) = scan(cache.clone(), scans.clone(), dir.path().to_path_buf()).await;
        assert_eq!(scans.load(Ordering::SeqCst), before + 1);
        assert_eq!(
            std::fs::read_to_string(f.path()).unwrap(),
            before.to_string()
        );

        // The files go away with their last holder; left-overs are cleaned.
        let path = f.path().to_path_buf();
        drop(f);
        drop(cache);
        assert!(!path.exists());
        let stray = dir.path().join(format!("{PREFIX}x.map"));
        std::fs::write(&stray, "").unwrap();
        remove_leftovers(dir.path());
        assert!(!stray.exists());
    }
}
