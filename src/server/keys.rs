//! API keys of the HTTP agent, in the agent's state database (`deploy.db`, table
//! `api_keys`). A key is 32 random bytes, base64url without padding; only its blake3 hash
//! is stored, with a label and the times it was created and revoked. The key itself is
//! shown once, when it is made.
//!
//! Verification hashes the presented key and compares it with every live hash in constant
//! time (`subtle`). [`Throttle`] slows down an address that keeps failing.

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

/// Failed authentications by address: after [`Throttle::FREE`] failures within a minute,
/// each further failure is answered only after a second.
#[derive(Default)]
pub struct Throttle {
    failures: Mutex<HashMap<IpAddr, Vec<Instant>>>,
}

impl Throttle {
    pub const FREE: usize = 5;
    const WINDOW: Duration = Duration::from_secs(60);

    /// Record a failure from `ip`; returns how long to wait before answering.
    pub fn fail(&self, ip: IpAddr) -> Duration {
        let now = Instant::now();
        let mut map = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        // Forget quiet addresses so the map cannot grow without bound.
        if map.len() > 10_000 {
            map.retain(|_, v| v.last().is_some_and(|t| now - *t < Self::WINDOW));
        }
        let v = map.entry(ip).or_default();
        v.retain(|t| now - *t < Self::WINDOW);
        v.push(now);
        if v.len() > Self::FREE {
            Duration::from_secs(1)
        } else {
            Duration::ZERO
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
    fn throttle_after_five() {
        let t = Throttle::default();
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        for _ in 0..5 {
            assert_eq!(t.fail(ip), Duration::ZERO);
        }
        assert_eq!(t.fail(ip), Duration::from_secs(1));
    }
}
