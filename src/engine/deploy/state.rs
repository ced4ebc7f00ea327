//! The agent's state folder, beside (never inside) the web root:
//!
//! ```text
//! deploy.db            deployments(...) and logs(...), SQLite in WAL mode
//! lock                 the deploy lock: pid@host, user, time (written whole, then linked)
//! journal/<id>.json    the journal of a deployment in progress
//! backups/<id>/<path>  what deployment <id> replaced or removed (mode and symlinks kept)
//! backups/<id>.json    the index of those backups (path, kind, mode, blake3)
//! maps/<id>.map        the map of the root before deployment <id>
//! maps/<id>.after.map  and after it (what verification saw)
//! archives/<id>.zip    the package of deployment <id>
//! cache/root.map       the stat cache of the root's map
//! ```
//!
//! Archives, backups and maps of all but the newest `keep` deployments are pruned.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::{DeployError, Level, LogLine, now_ms, rfc3339};
pub(crate) use crate::engine::util::durable::sync_dir;

const SCHEMA: i64 = 1;

/// A deployment, as the history lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deployment {
    pub id: i64,
    /// `deploy` or `rollback`.
    pub kind: String,
    /// `applying`, `done`, `failed` or `rolled_back`.
    pub status: String,
    pub package_blake3: Option<String>,
    /// Unix milliseconds.
    pub started: i64,
    pub finished: Option<i64>,
    /// For a deploy: the deployment the tree was at; for a rollback: the one it returned to.
    pub parent: Option<i64>,
    pub summary: String,
    /// `files` or `release`.
    pub mode: String,
    pub old_release: Option<String>,
    pub new_release: Option<String>,
}

/// Who holds the deploy lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// `pid@host`.
    pub holder: String,
    pub pid: u32,
    pub host: String,
    pub user: String,
    pub since_ms: i64,
    /// The holder's start time in clock ticks since boot (tells a reused pid apart).
    pub start_ticks: Option<u64>,
}

impl LockInfo {
    pub(crate) fn mine() -> LockInfo {
        let pid = std::process::id();
        let host = hostname();
        LockInfo {
            holder: format!("{pid}@{host}"),
            pid,
            host,
            user: username(),
            since_ms: now_ms(),
            start_ticks: start_ticks(pid),
        }
    }

    /// Whether the holder is known to be gone: it ran on this host and no live process
    /// with its pid and start time exists any more. A zombie (killed, not yet reaped by
    /// its parent) is dead: it holds nothing; a pid now used by a process that started at
    /// another time is another process.
    pub fn holder_is_dead(&self) -> bool {
        self.host == hostname()
            && match process(self.pid) {
                None => true,
                Some(p) => {
                    p.zombie
                        || (self.start_ticks.is_some() && Some(p.start_ticks) != self.start_ticks)
                }
            }
    }

    fn error(&self) -> DeployError {
        DeployError::Locked {
            holder: format!("{} ({})", self.holder, self.user),
            since: rfc3339(self.since_ms),
            hint: if self.holder_is_dead() {
                "; that process is no longer running: `devsky agent recover` finishes \
                 its work and removes the lock (or `devsky agent unlock` removes it)"
                    .into()
            } else {
                String::new()
            },
        }
    }
}

/// The lock, held until dropped.
pub struct LockGuard {
    path: PathBuf,
    info: LockInfo,
}

impl Drop for LockGuard {
    fn drop(&mut self) {
        // Only remove it if it is still ours (it may have been broken and retaken).
        if read_lock(&self.path).ok().flatten().as_ref() == Some(&self.info) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// The agent's state (see the module doc).
pub struct State {
    dir: PathBuf,
    conn: Connection,
}

impl State {
    /// Open (creating it if needed) the state folder `dir` for the web root `root`. A state
    /// folder inside the root is refused before anything is created.
    pub fn open(dir: &Path, root: &Path) -> anyhow::Result<State> {
        let root_c = root
            .canonicalize()
            .with_context(|| format!("the root {} does not exist", root.display()))?;
        let dir_abs = resolve_lenient(dir)?;
        if dir_abs.starts_with(&root_c) {
            bail!(
                "the state folder {} is inside the web root {}: it would be served and \
                 deployed over. Put it beside the root (e.g. {}.devsky-state)",
                dir.display(),
                root_c.display(),
                root_c.display()
            );
        }
        for sub in ["journal", "backups", "maps", "archives", "cache", "trash"] {
            std::fs::create_dir_all(dir_abs.join(sub))
                .with_context(|| format!("cannot create {}", dir_abs.join(sub).display()))?;
        }
        let db = dir_abs.join("deploy.db");
        let conn =
            Connection::open(&db).with_context(|| format!("cannot open {}", db.display()))?;
        conn.busy_timeout(Duration::from_secs(30))?;
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .with_context(|| format!("{} is not a devsky state database", db.display()))?;
        if !mode.eq_ignore_ascii_case("wal") {
            bail!("{}: could not switch to WAL mode", db.display());
        }
        // FULL: a status written is on disk before we go on (the history must never
        // claim less, or more, than happened).
        conn.execute_batch("PRAGMA synchronous=FULL;")?;
        let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        if version > SCHEMA {
            bail!(
                "{} was written by a newer devsky (schema {version}); upgrade devsky",
                db.display()
            );
        }
        conn.execute_batch(
            "BEGIN IMMEDIATE;
             CREATE TABLE IF NOT EXISTS deployments(
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               kind TEXT NOT NULL CHECK (kind IN ('deploy','rollback')),
               status TEXT NOT NULL CHECK (status IN ('applying','done','failed','rolled_back')),
               package_blake3 TEXT,
               started INTEGER NOT NULL,
               finished INTEGER,
               parent INTEGER,
               summary TEXT NOT NULL DEFAULT '',
               mode TEXT NOT NULL DEFAULT 'files',
               old_release TEXT,
               new_release TEXT);
             CREATE TABLE IF NOT EXISTS logs(
               deployment INTEGER NOT NULL,
               time INTEGER NOT NULL,
               level TEXT NOT NULL CHECK (level IN ('info','success','warning','error')),
               message TEXT NOT NULL);
             CREATE INDEX IF NOT EXISTS logs_by_deployment ON logs(deployment);
             PRAGMA user_version = 1;
             COMMIT;",
        )?;
        Ok(State { dir: dir_abs, conn })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }
    pub fn journal_path(&self, id: i64) -> PathBuf {
        self.dir.join("journal").join(format!("{id}.json"))
    }
    pub fn backup_dir(&self, id: i64) -> PathBuf {
        self.dir.join("backups").join(id.to_string())
    }
    pub fn backup_index(&self, id: i64) -> PathBuf {
        self.dir.join("backups").join(format!("{id}.json"))
    }
    pub fn map_path(&self, id: i64) -> PathBuf {
        self.dir.join("maps").join(format!("{id}.map"))
    }
    pub fn after_map_path(&self, id: i64) -> PathBuf {
        self.dir.join("maps").join(format!("{id}.after.map"))
    }
    pub fn archive_path(&self, id: i64) -> PathBuf {
        self.dir.join("archives").join(format!("{id}.zip"))
    }
    pub fn cache_path(&self) -> PathBuf {
        self.dir.join("cache").join("root.map")
    }
    fn lock_path(&self) -> PathBuf {
        self.dir.join("lock")
    }

    /// Ids of the journals present (deployments interrupted or in progress), oldest first.
    pub fn journals(&self) -> anyhow::Result<Vec<i64>> {
        let mut ids: Vec<i64> = std::fs::read_dir(self.dir.join("journal"))?
            .filter_map(|e| e.ok())
            .filter_map(|e| {
                let n = e.file_name().into_string().ok()?;
                n.strip_suffix(".json")?.parse().ok()
            })
            .collect();
        ids.sort_unstable();
        Ok(ids)
    }

    /// Record a new deployment as `applying`.
    pub fn begin(
        &self,
        kind: &str,
        package_blake3: Option<&str>,
        parent: Option<i64>,
        mode: &str,
    ) -> anyhow::Result<i64> {
        self.conn.execute(
            "INSERT INTO deployments(kind, status, package_blake3, started, parent, mode)
             VALUES (?1, 'applying', ?2, ?3, ?4, ?5)",
            params![kind, package_blake3, now_ms(), parent, mode],
        )?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Set a deployment's status (and its finish time, unless it is `applying`).
    pub fn set_status(&self, id: i64, status: &str, summary: &str) -> anyhow::Result<()> {
        let finished = (status != "applying").then(now_ms);
        let n = self.conn.execute(
            "UPDATE deployments SET status = ?2, summary = ?3, finished = ?4 WHERE id = ?1",
            params![id, status, summary, finished],
        )?;
        if n != 1 {
            bail!("no deployment {id}");
        }
        Ok(())
    }

    /// Record a deployment `done` and, in the same transaction, the deployments it undid
    /// as `rolled_back`.
    pub fn finish(&self, id: i64, summary: &str, undone: &[i64]) -> anyhow::Result<()> {
        let tx = self.conn.unchecked_transaction()?;
        for u in undone {
            tx.execute(
                "UPDATE deployments SET status = 'rolled_back' WHERE id = ?1 AND status = 'done'",
                [u],
            )?;
        }
        let n = tx.execute(
            "UPDATE deployments SET status = 'done', summary = ?2, finished = ?3 WHERE id = ?1",
            params![id, summary, now_ms()],
        )?;
        if n != 1 {
            bail!("no deployment {id}");
        }
        tx.commit()?;
        Ok(())
    }

    pub fn set_releases(
        &self,
        id: i64,
        old: Option<&str>,
        new: Option<&str>,
    ) -> anyhow::Result<()> {
        self.conn.execute(
            "UPDATE deployments SET old_release = ?2, new_release = ?3 WHERE id = ?1",
            params![id, old, new],
        )?;
        Ok(())
    }

    pub fn add_log(&self, id: i64, l: &LogLine) -> anyhow::Result<()> {
        self.conn.execute(
            "INSERT INTO logs(deployment, time, level, message) VALUES (?1, ?2, ?3, ?4)",
            params![id, l.time_ms, l.level.as_str(), l.message],
        )?;
        Ok(())
    }

    /// Every deployment, oldest first.
    pub fn deployments(&self) -> anyhow::Result<Vec<Deployment>> {
        let mut st = self.conn.prepare(&format!("{SELECT} ORDER BY id"))?;
        let rows = st.query_map([], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn deployment(&self, id: i64) -> anyhow::Result<Option<Deployment>> {
        Ok(self
            .conn
            .query_row(&format!("{SELECT} WHERE id = ?1"), [id], row)
            .optional()?)
    }

    /// The newest deployment that is `done` (of either kind): the tree's current state.
    pub fn current(&self) -> anyhow::Result<Option<Deployment>> {
        Ok(self
            .conn
            .query_row(
                &format!("{SELECT} WHERE status = 'done' ORDER BY id DESC LIMIT 1"),
                [],
                row,
            )
            .optional()?)
    }

    pub fn logs(&self, id: i64) -> anyhow::Result<Vec<LogLine>> {
        let mut st = self.conn.prepare(
            "SELECT time, level, message FROM logs WHERE deployment = ?1 ORDER BY rowid",
        )?;
        let rows = st.query_map([id], |r| {
            Ok(LogLine {
                time_ms: r.get(0)?,
                level: Level::parse(&r.get::<_, String>(1)?),
                message: r.get(2)?,
                started: None,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Keep a copy of the package as `archives/<id>.zip` (a hard link when possible).
    pub fn archive(&self, id: i64, package: &Path) -> anyhow::Result<()> {
        let dest = self.archive_path(id);
        let tmp = dest.with_extension("zip.tmp");
        let _ = std::fs::remove_file(&tmp);
        if std::fs::hard_link(package, &tmp).is_err() {
            std::fs::copy(package, &tmp)
                .with_context(|| format!("cannot archive the package to {}", tmp.display()))?;
            File::open(&tmp)?.sync_all()?;
        }
        std::fs::rename(&tmp, &dest)?;
        sync_dir(dest.parent().unwrap_or(&self.dir));
        Ok(())
    }

    /// Remove the archives, backups and maps of all deployments but the newest `keep`
    /// finished ones (and of failed ones, whose backups were never needed).
    pub fn prune(&self, keep: usize) -> anyhow::Result<Vec<i64>> {
        let all = self.deployments()?;
        let mut kept: Vec<i64> = all
            .iter()
            .filter(|d| d.status == "done" || d.status == "rolled_back")
            .map(|d| d.id)
            .collect();
        kept.reverse();
        kept.truncate(keep.max(1));
        let mut pruned = Vec::new();
        for d in &all {
            if d.status == "applying" || kept.contains(&d.id) {
                continue;
            }
            // Moved to the trash (a rename each); [`empty_trash`] removes them later, off
            // the deploy's clock.
            let mut any = false;
            let trash = self.dir.join("trash");
            for (n, p) in [
                self.archive_path(d.id),
                self.backup_index(d.id),
                self.map_path(d.id),
                self.after_map_path(d.id),
                self.backup_dir(d.id),
                // The SQL it ran (`super::sqlpart`): a rollback needs it no more than
                // the maps above.
                self.dir.join("sql").join(format!("{}.json", d.id)),
            ]
            .into_iter()
            .enumerate()
            {
                let to = trash.join(format!("{}-{n}", d.id));
                match std::fs::rename(&p, &to) {
                    Ok(()) => any = true,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => {
                        return Err(e).with_context(|| format!("cannot remove {}", p.display()));
                    }
                }
            }
            if any {
                pruned.push(d.id);
            }
        }
        Ok(pruned)
    }

    /// The trash of [`State::prune`].
    pub fn trash_dir(&self) -> PathBuf {
        self.dir.join("trash")
    }

    /// Take the deploy lock, or fail with "locked by {holder} since {time}". The lock is
    /// written complete to a temp file (O_EXCL), synced, then hard-linked to `lock`
    /// (link(2) fails if it exists): the lock appears atomically with its holder in it.
    pub fn lock(&self) -> anyhow::Result<LockGuard> {
        let path = self.lock_path();
        let info = LockInfo::mine();
        let tmp = self.dir.join(format!(".lock.{}.tmp", info.pid));
        for _ in 0..3 {
            let _ = std::fs::remove_file(&tmp);
            let mut f = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .with_context(|| format!("cannot create {}", tmp.display()))?;
            f.write_all(&serde_json::to_vec_pretty(&info)?)?;
            f.sync_all()?;
            drop(f);
            let linked = std::fs::hard_link(&tmp, &path);
            let _ = std::fs::remove_file(&tmp);
            match linked {
                Ok(()) => {
                    sync_dir(&self.dir);
                    return Ok(LockGuard { path, info });
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => {
                    return Err(e).with_context(|| format!("cannot create {}", path.display()));
                }
            }
            match std::fs::read(&path) {
                // released meanwhile: try again
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
                Ok(b) => match serde_json::from_slice::<LockInfo>(&b) {
                    Ok(held) => return Err(held.error().into()),
                    // Not devsky's JSON (written by hand, damaged): never taken over silently.
                    Err(_) => {
                        return Err(DeployError::Locked {
                            holder: "an unknown process (the lock file is unreadable)".into(),
                            since: std::fs::metadata(&path)
                                .and_then(|m| m.modified())
                                .ok()
                                .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                                .map_or("?".into(), |d| rfc3339(d.as_millis() as i64)),
                            hint: "; `devsky agent unlock` removes it".into(),
                        }
                        .into());
                    }
                },
            }
        }
        bail!(
            "the deploy lock {} keeps changing hands; try again",
            path.display()
        )
    }

    /// Who holds the lock, if anyone (Some(None): a lock file that cannot be read).
    pub fn lock_info(&self) -> anyhow::Result<Option<Option<LockInfo>>> {
        let path = self.lock_path();
        if !path.exists() {
            return Ok(None);
        }
        Ok(Some(read_lock(&path)?))
    }

    /// Remove the temp files of lock attempts cut short (a process killed between writing
    /// its temp file and linking it as the lock): those older than a minute, so never one
    /// in use. How many went.
    pub fn remove_stale_lock_temps(&self) -> usize {
        let Ok(rd) = std::fs::read_dir(&self.dir) else {
            return 0;
        };
        let old = |e: &std::fs::DirEntry| {
            e.metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > std::time::Duration::from_secs(60))
        };
        rd.flatten()
            .filter(|e| {
                let n = e.file_name();
                let n = n.to_string_lossy();
                n.starts_with(".lock.") && n.ends_with(".tmp") && old(e)
            })
            .filter(|e| std::fs::remove_file(e.path()).is_ok())
            .count()
    }

    /// Remove a stale lock explicitly. A lock whose holder is still running on this host
    /// is not broken. Returns who held it (None: no lock; Some(None): an unreadable one).
    pub fn break_lock(&self) -> anyhow::Result<Option<Option<LockInfo>>> {
        let path = self.lock_path();
        let Some(held) = self.lock_info()? else {
            return Ok(None);
        };
        if let Some(h) = &held
            && h.host == hostname()
            && !h.holder_is_dead()
        {
            bail!(
                "the lock is held by {} ({}), which is still running; stop it first",
                h.holder,
                h.user
            );
        }
        std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
        sync_dir(&self.dir);
        Ok(Some(held))
    }
}

const SELECT: &str = "SELECT id, kind, status, package_blake3, started, finished, parent, \
                      summary, mode, old_release, new_release FROM deployments";

fn row(r: &rusqlite::Row) -> rusqlite::Result<Deployment> {
    Ok(Deployment {
        id: r.get(0)?,
        kind: r.get(1)?,
        status: r.get(2)?,
        package_blake3: r.get(3)?,
        started: r.get(4)?,
        finished: r.get(5)?,
        parent: r.get(6)?,
        summary: r.get(7)?,
        mode: r.get(8)?,
        old_release: r.get(9)?,
        new_release: r.get(10)?,
    })
}

fn read_lock(path: &Path) -> anyhow::Result<Option<LockInfo>> {
    match std::fs::read(path) {
        Ok(b) => Ok(serde_json::from_slice(&b).ok()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// `p` made absolute with its existing part resolved (symlinks, `..`) and the rest
/// appended, so it can be compared with a canonical path before it exists.
fn resolve_lenient(p: &Path) -> anyhow::Result<PathBuf> {
    let abs = std::path::absolute(p)?;
    let mut existing = abs.as_path();
    let mut rest = Vec::new();
    while !existing.exists() {
        rest.push(
            existing
                .file_name()
                .map(|n| n.to_os_string())
                .unwrap_or_default(),
        );
        existing = match existing.parent() {
            Some(p) => p,
            None => break,
        };
    }
    let mut out = existing.canonicalize()?;
    for r in rest.into_iter().rev() {
        if r == ".." {
            out.pop();
        } else if !r.is_empty() && r != "." {
            out.push(r);
        }
    }
    Ok(out)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

fn username() -> String {
    if let Some(u) = std::env::var("USER")
        .ok()
        .or_else(|| std::env::var("LOGNAME").ok())
    {
        return u;
    }
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next())
                .map(|uid| format!("uid {uid}"))
        })
        .unwrap_or_else(|| "unknown".into())
}

/// What /proc/<pid>/stat says of a process: its start time and whether it is a zombie.
struct ProcStat {
    /// Field 22: clock ticks since boot.
    start_ticks: u64,
    /// Field 3 is `Z` (exited, not reaped) or `X` (being removed).
    zombie: bool,
}

/// A process as /proc shows it, None when it does not exist.
fn process(pid: u32) -> Option<ProcStat> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after
    // the last ')'.
    let mut fields = s[s.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?;
    Some(ProcStat {
        zombie: state == "Z" || state == "X",
        start_ticks: fields.nth(18)?.parse().ok()?,
    })
}

/// A process's start time (field 22 of /proc/<pid>/stat), None when it does not exist.
fn start_ticks(pid: u32) -> Option<u64> {
    process(pid).map(|p| p.start_ticks)
}

/// Remove what [`State::prune`] moved to the trash folder `trash` (safe to cut short and
/// to run again; nothing else uses the trash).
pub fn empty_trash(trash: &Path) {
    let Ok(rd) = std::fs::read_dir(trash) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let _ = if e.file_type().is_ok_and(|t| t.is_dir()) {
            std::fs::remove_dir_all(&p)
        } else {
            std::fs::remove_file(&p)
        };
    }
}
