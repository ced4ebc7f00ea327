//! Holds: `GET /api/v1/map?hold=true` takes the deploy lock and maps the root under it; the
//! answer carries a `Devsky-Hold` token, and `POST /api/v1/push?hold=TOKEN` deploys from
//! that very map instead of mapping the root a second time (the lock never left the agent
//! in between, so no other deployment ran). A hold ends when a push takes it, on
//! `DELETE /api/v1/lock?hold=TOKEN`, when an agent over stdio exits, or after
//! [`hold_for`] unused.

use std::sync::Arc;
use std::time::Duration;

use super::Agent;
use crate::engine::deploy::apply::Held;

/// The answer header with the token of a hold.
pub const HEADER: &str = "devsky-hold";

/// How long a hold waits for its push: a minute (`DEVSKY_TEST_HOLD_MS` in tests).
pub fn hold_for() -> Duration {
    crate::engine::util::testhooks::var("DEVSKY_TEST_HOLD_MS")
        .and_then(|v| v.parse().ok())
        .map_or(Duration::from_secs(60), Duration::from_millis)
}

/// A new token: 32 random hex digits.
pub fn new_token() -> anyhow::Result<String> {
    let mut raw = [0u8; 16];
    super::keys::random_bytes(&mut raw)?;
    Ok(raw.iter().map(|b| format!("{b:02x}")).collect())
}

impl Agent {
    /// Keep `held` under `token`, released after [`hold_for`] unless a push took it.
    pub fn keep_hold(self: &Arc<Self>, token: String, held: Held) {
        let old = self
            .hold
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .replace((token.clone(), held));
        if let Some((_, h)) = old {
            h.release();
        }
        let agent = Arc::downgrade(self);
        let t = token.clone();
        tokio::spawn(async move {
            tokio::time::sleep(hold_for()).await;
            if let Some(agent) = agent.upgrade()
                && agent.release_hold(Some(&t))
            {
                eprintln!("devsky: a hold of the deploy lock expired unused; released");
            }
        });
    }

    /// The hold with this token, for the deployment that takes it over.
    pub fn take_hold(&self, token: &str) -> Option<Held> {
        let mut hold = self.hold.lock().unwrap_or_else(|e| e.into_inner());
        match hold.take() {
            Some((t, h)) if t == token => Some(h),
            other => {
                *hold = other;
                None
            }
        }
    }

    /// Release the hold with this token (any hold: `None`); whether there was one.
    pub fn release_hold(&self, token: Option<&str>) -> bool {
        let mut hold = self.hold.lock().unwrap_or_else(|e| e.into_inner());
        match hold.take() {
            Some((t, h)) if token.is_none_or(|want| want == t) => {
                drop(hold);
                h.release();
                true
            }
            other => {
                *hold = other;
                false
            }
        }
    }
}
