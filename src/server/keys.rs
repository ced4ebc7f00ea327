//! API keys of the HTTP agent, in the agent's state database (`deploy.db`, table
//! `api_keys`). A key is 32 random bytes, base64url without padding; only its blake3 hash
//! is stored, with a label and the times it was created and revoked. The key itself is
//! shown once, when it is made.
//!
//! Verification hashes the presented key and compares it with every live hash in constant
//! time (`subtle`). [`Throttle`] limits the rate of key checks per client address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use base64::Engine;
use rusqlite::{Connection, params};
use serde::Serialize;
use subtle::ConstantTimeEq;

use crate::engine::deploy::now_ms;

/// One key, as listed (never the key itself).
#[derive(Debug, Clone, Serialize)]
pub struct KeyInfo {
    pub id: i64,
    pub label: String,
    /// Unix milliseconds.
    pub created: i64,
    pub revoked: Option<i64>,
}

/// The keys table in the state folder `state_dir`.
pub struct Keys {
    conn: Connection,
}

impl Keys {
    /// Open the keys of the state folder (which [`crate::engine::deploy::State::open`] made).
    pub fn open(state_dir: &Path) -> anyhow::Result<Keys> {
        let db = state_dir.join("deploy.db");
        let conn =
            Connection::open(&db).with_context(|| format!("cannot open {}", db.display()))?;
        conn.busy_timeout(Duration::from_secs(30))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS api_keys(
               id INTEGER PRIMARY KEY AUTOINCREMENT,
               label TEXT NOT NULL,
               hash TEXT NOT NULL UNIQUE,
               created INTEGER NOT NULL,
               revoked INTEGER);",
        )?;
        Ok(Keys { conn })
    }

    /// Make a key: returns its id and the key (the only time it exists outside the caller).
    pub fn create(&self, label: &str) -> anyhow::Result<(i64, String)> {
        let mut raw = [0u8; 32];
        random_bytes(&mut raw)?;
        let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        self.conn.execute(
            "INSERT INTO api_keys(label, hash, created) VALUES (?1, ?2, ?3)",
            params![label, hash_key(&key), now_ms()],
        )?;
        Ok((self.conn.last_insert_rowid(), key))
    }

    pub fn list(&self) -> anyhow::Result<Vec<KeyInfo>> {
        let mut st = self
            .conn
            .prepare("SELECT id, label, created, revoked FROM api_keys ORDER BY id")?;
        let rows = st.query_map([], |r| {
            Ok(KeyInfo {
                id: r.get(0)?,
                label: r.get(1)?,
                created: r.get(2)?,
                revoked: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Revoke key `id` (by id, or by label when `which` is not a number).
    pub fn revoke(&self, which: &str) -> anyhow::Result<KeyInfo> {
        let found = self
            .list()?
            .into_iter()
            .find(|k| match which.parse::<i64>() {
                Ok(id) => k.id == id,
                Err(_) => k.label == which,
            });
        let Some(mut k) = found else {
            bail!("no key {which}; see `devsky serve key list`");
        };
        if k.revoked.is_none() {
            let now = now_ms();
            self.conn.execute(
                "UPDATE api_keys SET revoked = ?2 WHERE id = ?1",
                params![k.id, now],
            )?;
            k.revoked = Some(now);
        }
        Ok(k)
    }

    /// Whether `key` is a live key. Every live hash is compared, in constant time.
    pub fn verify(&self, key: &str) -> anyhow::Result<bool> {
        let presented = hash_key(key);
        let mut st = self
            .conn
            .prepare("SELECT hash FROM api_keys WHERE revoked IS NULL")?;
        let hashes = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut ok = subtle::Choice::from(0u8);
        for h in hashes {
            let h = h?;
            ok |= h.as_bytes().ct_eq(presented.as_bytes());
        }
        Ok(bool::from(ok))
    }
}

/// blake3 of a key, hex.
fn hash_key(key: &str) -> String {
    blake3::hash(key.as_bytes()).to_hex().to_string()
}

pub(super) fn random_bytes(buf: &mut [u8]) -> anyhow::Result<()> {
    use std::io::Read;
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .context("cannot read /dev/urandom")
}

/// The rate of key checks by client address, shared by all its connections: a burst of
/// [`Throttle::BURST`] checks, then one per [`Throttle::INTERVAL`] (a generic cell rate
/// limiter: each address has the time at which its next check would be on schedule).
///
/// Every check *reserves* a slot before the key is looked at and waits for it, so that
/// many guesses sent at once are checked one by one at that rate — a right guess among them
/// is not found any faster. A check that passes gives its slot back: a client with a good
/// key is never slowed down by its own requests. IPv6 addresses count by /64 (what one
/// host is usually given). Memory is bounded: past [`Throttle::MAX_ADDRESSES`] addresses
/// with a pending schedule, new addresses share one schedule.
#[derive(Default)]
pub struct Throttle {
    /// By address (None: the shared schedule of addresses past the bound).
    due: Mutex<HashMap<Option<IpAddr>, Instant>>,
}

impl Throttle {
    pub const BURST: u32 = 10;
    pub const INTERVAL: Duration = Duration::from_millis(250);
    pub const MAX_ADDRESSES: usize = 10_000;

    /// The address an address is counted under (its /64 for IPv6).
    fn group(ip: IpAddr) -> IpAddr {
        match ip.to_canonical() {
            IpAddr::V6(v6) => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
            v4 => v4,
        }
    }

    /// Reserve a key check for `ip`; returns how long to wait before checking.
    pub fn reserve(&self, ip: IpAddr) -> Duration {
        let now = Instant::now();
        let mut map = self.due.lock().unwrap_or_else(|e| e.into_inner());
        let mut k = Some(Self::group(ip));
        if !map.contains_key(&k) && map.len() >= Self::MAX_ADDRESSES {
            // Forget addresses that are on schedule again; if still full, share.
            map.retain(|_, due| *due > now);
            if map.len() >= Self::MAX_ADDRESSES {
                k = None;
            }
        }
        let due = map.entry(k).or_insert(now);
        *due = (*due).max(now) + Self::INTERVAL;
        let allowed = due.checked_sub(Self::INTERVAL * Self::BURST).unwrap_or(now);
        allowed.saturating_duration_since(now)
    }

    /// A check of `ip` passed: give its slot back.
    pub fn refund(&self, ip: IpAddr) {
        let now = Instant::now();
        let mut map = self.due.lock().unwrap_or_else(|e| e.into_inner());
        let k = Some(Self::group(ip));
        if let Some(due) = map.get_mut(&k) {
            match due.checked_sub(Self::INTERVAL) {
                Some(t) if t > now => *due = t,
                _ => {
                    map.remove(&k);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_verify_revoke() {
        let d = tempfile::tempdir().unwrap();
        let k = Keys::open(d.path()).unwrap();
        let (id, key) = k.create("ci").unwrap();
        assert_eq!(key.len(), 43);
        assert!(k.verify(&key).unwrap());
        assert!(!k.verify("nope").unwrap());
        let stored: String = k
            .conn
            .query_row("SELECT hash FROM api_keys", [], |r| r.get(0))
            .unwrap();
        assert_ne!(stored, key);
        k.revoke(&id.to_string()).unwrap();
        assert!(!k.verify(&key).unwrap());
        assert!(k.list().unwrap()[0].revoked.is_some());
    }

    #[test]
    fn throttle_a_burst_then_one_per_interval_per_address() {
        let t = Throttle::default();
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        for _ in 0..Throttle::BURST {
            assert_eq!(t.reserve(ip), Duration::ZERO);
        }
        // Reserved at once: each further check waits one interval more than the last.
        let waits: Vec<Duration> = (0..4).map(|_| t.reserve(ip)).collect();
        for (n, w) in waits.iter().enumerate() {
            let want = Throttle::INTERVAL * (n as u32 + 1);
            assert!(
                *w <= want && *w + Duration::from_millis(50) >= want,
                "{n}: {w:?}"
            );
        }
        // Another address is not slowed down; the same /64 is.
        assert_eq!(t.reserve("192.0.2.8".parse().unwrap()), Duration::ZERO);
        let a: IpAddr = "2001:db8::1".parse().unwrap();
        for _ in 0..Throttle::BURST {
            assert_eq!(t.reserve(a), Duration::ZERO);
        }
        assert!(t.reserve("2001:db8::ffff".parse().unwrap()) > Duration::ZERO);
        assert_eq!(t.reserve("2001:db9::1".parse().unwrap()), Duration::ZERO);
    }

    #[test]
    fn throttle_good_checks_give_their_slot_back() {
        let t = Throttle::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..100 {
            assert_eq!(t.reserve(ip), Duration::ZERO);
            t.refund(ip);
        }
        assert!(t.due.lock().unwrap().is_empty());
    }

    #[test]
    fn throttle_memory_is_bounded() {
        let t = Throttle::default();
        for n in 0..(Throttle::MAX_ADDRESSES as u32 + 500) {
            t.reserve(IpAddr::V4(std::net::Ipv4Addr::from(0x0a00_0000 + n)));
        }
        let map = t.due.lock().unwrap();
        assert!(map.len() <= Throttle::MAX_ADDRESSES + 1, "{}", map.len());
        assert!(map.contains_key(&None), "new addresses share one schedule");
    }
}
