//! The deploy lock of a target without an agent: a folder `.devsky-lock` at the root, made
//! with one MKD (FTP) or mkdir (SFTP) — atomic on every server: of two pushes at once,
//! exactly one makes it — with `owner` inside saying who holds it (user, host, process,
//! since when, what). A push, rollback or adoption takes it before it changes anything and
//! removes it at its end, whatever the end.
//!
//! A push that was killed leaves its lock behind. It is broken without asking when it is
//! this machine's and its process is gone; otherwise the next push is refused with who
//! holds it (exit 4, as an agent's lock), and `--force-unlock` ([`break_stale`]) breaks a
//! lock older than [`STALE_AFTER`] (a younger one still refuses: its push may well be
//! running).

use std::io::Write;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::RemoteFs;
use crate::engine::deploy::{DeployError, now_ms};
use crate::engine::util::units::format_time;

/// The lock folder at the root of the target.
pub const LOCK_DIR: &str = ".devsky-lock";
/// The holder's record inside it.
const OWNER: &str = ".devsky-lock/owner";
/// How old a lock must be for `--force-unlock` to break it.
pub const STALE_AFTER: Duration = Duration::from_secs(10 * 60);
/// Most bytes of an owner record read (a hostile server may send more).
const MAX_OWNER: usize = 4096;

/// Who holds the lock.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Owner {
    // (Shown through `shown` only: it comes from the server.)
    pub user: String,
    pub host: String,
    pub pid: u32,
    /// Unix milliseconds (the holder's clock).
    pub since_ms: i64,
    /// `deploy`, `rollback` or `adopt`.
    pub what: String,
}

impl Owner {
    /// This process, about to do `what`.
    pub fn me(what: &str) -> Owner {
        Owner {
            user: std::env::var("USER")
                .or_else(|_| std::env::var("LOGNAME"))
                .unwrap_or_else(|_| format!("uid {}", unsafe { libc::getuid() })),
            host: this_host(),
            pid: std::process::id(),
            since_ms: now_ms(),
            what: what.into(),
        }
    }

    /// Whether it is a process of this machine that no longer runs.
    fn gone_here(&self) -> bool {
        self.host == this_host()
            && self.pid != 0
            && !std::path::Path::new(&format!("/proc/{}", self.pid)).exists()
    }

    fn age(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.since_ms).max(0) as u64)
    }
}

fn this_host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

/// What the owner record says (None: there is none, or it cannot be read).
fn read_owner(fs: &mut dyn RemoteFs) -> Option<Owner> {
    struct Capped(Vec<u8>);
    impl Write for Capped {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            if self.0.len() + b.len() > MAX_OWNER {
                return Err(std::io::Error::other("the lock's owner record is too big"));
            }
            self.0.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut out = Capped(Vec::new());
    fs.get(OWNER, &mut out).ok()?;
    serde_json::from_slice(&out.0).ok()
}

/// Remove the lock (its owner record, then the folder).
fn remove(fs: &mut dyn RemoteFs) -> anyhow::Result<()> {
    let _ = fs.remove(OWNER);
    fs.rmdir(LOCK_DIR)
        .context("cannot remove the deploy lock .devsky-lock")
}

/// Take the lock for `what`, breaking a dead one (this machine's, its process gone, or
/// this very process's from a push whose release failed); a lock held is
/// [`DeployError::Locked`].
pub fn take(fs: &mut dyn RemoteFs, what: &str) -> anyhow::Result<()> {
    let me = Owner::me(what);
    for attempt in 0..2 {
        let made = match fs.mkdir_new(LOCK_DIR) {
            Ok(m) => m,
            // The root is not there yet (a first push makes it).
            Err(_) => {
                fs.make_root()?;
                fs.mkdir_new(LOCK_DIR)?
            }
        };
        if made {
            let body = serde_json::to_vec(&me)?;
            if let Err(e) = fs.put(OWNER, &mut body.as_slice()) {
                let _ = fs.rmdir(LOCK_DIR);
                return Err(e.context("cannot write the deploy lock's owner"));
            }
            return Ok(());
        }
        let owner = read_owner(fs);
        let breakable = owner
            .as_ref()
            .is_some_and(|o| o.gone_here() || (o.host == me.host && o.pid == me.pid));
        if !breakable || attempt == 1 {
            return Err(locked(owner.as_ref(), false).into());
        }
        remove(fs)?;
    }
    unreachable!("the loop returns")
}

/// `--force-unlock`: break the lock if it is stale (older than [`STALE_AFTER`], or its
/// process gone, or without an owner record); true if there was one to break. A younger
/// lock is [`DeployError::Locked`].
pub fn break_stale(fs: &mut dyn RemoteFs) -> anyhow::Result<bool> {
    let Some(o) = holder(fs)? else {
        return Ok(false);
    };
    let known = o.pid != 0;
    if known && !o.gone_here() && o.age() < STALE_AFTER {
        return Err(locked(Some(&o), true).into());
    }
    remove(fs)?;
    Ok(true)
}

/// Let the lock go (the end of a push, rollback or adoption).
pub fn release(fs: &mut dyn RemoteFs) -> anyhow::Result<()> {
    remove(fs)
}

/// Who holds the lock (for a status), if anyone.
pub fn holder(fs: &mut dyn RemoteFs) -> anyhow::Result<Option<Owner>> {
    let listed = fs.list("")?.unwrap_or_default();
    if !listed.iter().any(|s| s.name == LOCK_DIR) {
        return Ok(None);
    }
    // No record (its push died between the folder and the record): pid 0.
    Ok(Some(read_owner(fs).unwrap_or(Owner {
        user: "?".into(),
        host: "?".into(),
        pid: 0,
        since_ms: 0,
        what: "unknown".into(),
    })))
}

/// A word of an owner record (from the server: maybe hostile) fit for a message: no
/// control characters (no terminal escapes), at most 64 characters.
fn shown(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

/// Who holds the lock and since when, for messages and `deploy status`: `USER@HOST (pid
/// N, WHAT)` and `YYYY-MM-DD HH:MM UTC`.
pub fn describe(o: &Owner) -> (String, String) {
    (
        format!(
            "{}@{} (pid {}, {})",
            shown(&o.user),
            shown(&o.host),
            o.pid,
            shown(&o.what)
        ),
        format_time(o.since_ms / 1000),
    )
}

fn locked(owner: Option<&Owner>, force_unlock: bool) -> DeployError {
    let stale_min = STALE_AFTER.as_secs() / 60;
    match owner {
        Some(o) => {
            let o = &Owner {
                user: shown(&o.user),
                host: shown(&o.host),
                what: shown(&o.what),
                ..o.clone()
            };
            let age = o.age();
            let hint = if age >= STALE_AFTER {
                format!(
                    " ({} min ago); if that {} is gone, push again with --force-unlock",
                    age.as_secs() / 60,
                    o.what
                )
            } else if force_unlock {
                format!(
                    " ({} s ago): younger than {stale_min} min, so not broken; wait for it",
                    age.as_secs()
                )
            } else {
                format!(
                    " ({} s ago): a {} is running; wait for it",
                    age.as_secs(),
                    o.what
                )
            };
            let (holder, since) = describe(o);
            DeployError::Locked {
                holder,
                since,
                hint,
            }
        }
        None => DeployError::Locked {
            holder: "an unknown push (.devsky-lock has no owner record)".into(),
            since: "an unknown time".into(),
            hint: "; push again with --force-unlock if no push runs".into(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_owner_record_is_shown_without_escapes() {
        let o = Owner {
            user: "eve\x1b]0;pwned\x07".into(),
            host: "h\r\nDELE x".repeat(20),
            pid: 7,
            since_ms: now_ms(),
            what: "deploy".into(),
        };
        let msg = locked(Some(&o), false).to_string();
        assert!(!msg.chars().any(char::is_control), "{msg:?}");
        assert!(msg.contains("eve]0;pwned@hDELE x"), "{msg}");
        assert!(msg.len() < 300, "{msg}");
    }
}
