//! Webhook signatures (../shared/design/FORMATS.md "Webhooks"), both ways.
//!
//! Out: [`sign`] gives the headers of a delivery: Standard Webhooks (`webhook-id`,
//! `webhook-timestamp`, `webhook-signature: v1,<base64 HMAC-SHA256 of id.timestamp.body>`)
//! and GitHub's `X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of body>`.
//!
//! In: [`Verifier::verify`] accepts a request signed either way with any of several
//! secrets (rotation), compares in constant time (`hmac`'s `verify_slice`), refuses a
//! timestamp more than [`TOLERANCE_SECS`] away from now and an id it has seen before
//! (replay). A timestamp and an id are required whichever signature is used: a bare
//! `X-Hub-Signature-256` cannot be told from a replay. Ids are remembered for twice the
//! tolerance (older ones fail the timestamp check anyway), in memory and, when given a
//! file, on disk, so that a restart does not open a replay window.
//!
//! A secret written `whsec_<base64>` (the Standard Webhooks form) signs with the decoded
//! bytes; any other secret with its own bytes.

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// How far a timestamp may be from now, either way.
pub const TOLERANCE_SECS: i64 = 300;
/// The longest id accepted (Standard Webhooks ids are short; GitHub's are GUIDs).
const MAX_ID: usize = 200;

/// The key bytes of a secret: `whsec_<base64>` decoded, else the text itself.
pub fn key_bytes(secret: &str) -> Vec<u8> {
    if let Some(b) = secret.strip_prefix("whsec_")
        && let Ok(k) = B64.decode(b)
    {
        return k;
    }
    secret.as_bytes().to_vec()
}

fn mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes a key of any length.
    HmacSha256::new_from_slice(key).expect("HMAC accepts any key length")
}

/// `sha256=<hex>`: GitHub's `X-Hub-Signature-256` of `body`.
pub fn hub_signature(secret: &str, body: &[u8]) -> String {
    let mut m = mac(&key_bytes(secret));
    m.update(body);
    let out = m.finalize().into_bytes();
    let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The content Standard Webhooks signs: `id.timestamp.body`.
fn standard_mac(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> HmacSha256 {
    let mut m = mac(key);
    m.update(id.as_bytes());
    m.update(b".");
    m.update(timestamp.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    m
}

/// `v1,<base64>`: the Standard Webhooks signature of `body` sent as `id` at `timestamp`.
pub fn standard_signature(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> String {
    let m = standard_mac(&key_bytes(secret), id, timestamp, body);
    format!("v1,{}", B64.encode(m.finalize().into_bytes()))
}

/// The signature headers of a delivery, as (name, value).
pub fn sign(secret: &str, id: &str, timestamp: i64, body: &[u8]) -> Vec<(&'static str, String)> {
    vec![
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", timestamp.to_string()),
        (
            "webhook-signature",
            standard_signature(secret, id, timestamp, body),
        ),
        ("X-Hub-Signature-256", hub_signature(secret, body)),
    ]
}

/// Why a request was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejected {
    #[error("missing header {0}")]
    Missing(&'static str),
    #[error("malformed header {0}")]
    Malformed(&'static str),
    #[error("the timestamp is more than {TOLERANCE_SECS} s away from the server's clock")]
    Stale,
    #[error("no valid signature")]
    BadSignature,
    #[error("this webhook id was already delivered (replay)")]
    Replayed,
    #[error("no webhook secret is configured")]
    NoSecret,
}

/// Checks incoming signed requests (see the module doc).
pub struct Verifier {
    keys: Vec<Vec<u8>>,
    seen: Mutex<HashMap<String, i64>>,
    /// Where seen ids are kept across restarts (`id timestamp` lines).
    file: Option<PathBuf>,
}

impl Verifier {
    /// A verifier accepting any of `secrets`; with `file`, ids seen are kept there too.
    pub fn new(secrets: &[String], file: Option<PathBuf>) -> Verifier {
        let mut seen = HashMap::new();
        if let Some(f) = &file
            && let Ok(text) = std::fs::read_to_string(f)
        {
            for l in text.lines() {
                if let Some((id, ts)) = l.rsplit_once(' ')
                    && let Ok(ts) = ts.parse::<i64>()
                {
                    seen.insert(id.to_string(), ts);
                }
            }
        }
        Verifier {
            keys: secrets.iter().map(|s| key_bytes(s)).collect(),
            seen: Mutex::new(seen),
            file,
        }
    }

    /// Check a request: `header` looks a header up by its lower-case name. On success,
    /// the id is remembered (a second delivery of it is [`Rejected::Replayed`]).
    pub fn verify(
        &self,
        header: &dyn Fn(&str) -> Option<String>,
        body: &[u8],
        now: i64,
    ) -> Result<String, Rejected> {
        if self.keys.is_empty() {
            return Err(Rejected::NoSecret);
        }
        let id = header("webhook-id")
            .or_else(|| header("x-github-delivery"))
            .ok_or(Rejected::Missing("webhook-id"))?;
        if id.is_empty() || id.len() > MAX_ID || id.bytes().any(|b| !b.is_ascii_graphic()) {
            return Err(Rejected::Malformed("webhook-id"));
        }
        let ts: i64 = header("webhook-timestamp")
            .ok_or(Rejected::Missing("webhook-timestamp"))?
            .trim()
            .parse()
            .map_err(|_| Rejected::Malformed("webhook-timestamp"))?;
        if now.abs_diff(ts) > TOLERANCE_SECS as u64 {
            return Err(Rejected::Stale);
        }
        let standard = header("webhook-signature");
        let hub = header("x-hub-signature-256");
        if standard.is_none() && hub.is_none() {
            return Err(Rejected::Missing("webhook-signature"));
        }
        let mut good = false;
        if let Some(s) = &standard {
            // Several signatures, space-separated: `v1,abc v1,def`.
            let sigs: Vec<Vec<u8>> = s
                .split_ascii_whitespace()
                .filter_map(|p| p.strip_prefix("v1,"))
                .filter_map(|b| B64.decode(b).ok())
                .collect();
            for key in &self.keys {
                for sig in &sigs {
                    // Every pair is checked: the time taken says nothing of which matched.
                    good |= standard_mac(key, &id, ts, body).verify_slice(sig).is_ok();
                }
            }
        }
        if let Some(h) = &hub {
            let sig = h
                .trim()
                .strip_prefix("sha256=")
                .and_then(hex_bytes)
                .ok_or(Rejected::Malformed("X-Hub-Signature-256"))?;
            for key in &self.keys {
                let mut m = mac(key);
                m.update(body);
                good |= m.verify_slice(&sig).is_ok();
            }
        }
        if !good {
            return Err(Rejected::BadSignature);
        }
        self.remember(&id, ts, now)?;
        Ok(id)
    }

    /// Record `id`, or refuse it if it was seen; forget ids too old to pass anyway.
    fn remember(&self, id: &str, ts: i64, now: i64) -> Result<(), Rejected> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.contains_key(id) {
            return Err(Rejected::Replayed);
        }
        let before = seen.len();
        seen.retain(|_, t| now.abs_diff(*t) <= 2 * TOLERANCE_SECS as u64);
        seen.insert(id.to_string(), ts);
        if let Some(f) = &self.file {
            let written = if seen.len() <= before {
                // Some were forgotten: write the file anew (temp + rename).
                let text: String = seen.iter().map(|(i, t)| format!("{i} {t}\n")).collect();
                let tmp = f.with_extension("tmp");
                std::fs::write(&tmp, text).and_then(|_| std::fs::rename(&tmp, f))
            } else {
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(f)
                    .and_then(|mut w| w.write_all(format!("{id} {ts}\n").as_bytes()))
            };
            if let Err(e) = written {
                eprintln!("devsky: cannot record webhook id in {}: {e}", f.display());
            }
        }
        Ok(())
    }
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// GitHub's documented test vector (FORMATS.md).
    #[test]
    fn github_test_vector() {
        assert_eq!(
            hub_signature("It's a Secret to Everybody", b"Hello, World!"),
            "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
        );
    }

    /// The Standard Webhooks reference test vector (its libraries' tests).
    #[test]
    fn standard_webhooks_test_vector() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let id = "msg_p5jXN8AQM9LWM0D4loKWxJek";
        let body = br#"{"test": 2432232314}"#;
        assert_eq!(
            standard_signature(secret, id, 1614265330, body),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
    }

    fn headers(h: Vec<(&'static str, String)>) -> impl Fn(&str) -> Option<String> {
        move |name: &str| {
            h.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        }
    }

    #[test]
    fn verify_accepts_rotation_and_refuses_tampering_age_and_replay() {
        let v = Verifier::new(&["old".into(), "new".into()], None);
        let now = 1_700_000_000;
        let body = b"{\"release\":3}";
        let h = headers(sign("new", "msg_1", now, body));
        assert_eq!(v.verify(&h, body, now + 10), Ok("msg_1".into()));
        assert_eq!(v.verify(&h, body, now + 10), Err(Rejected::Replayed));
        let h = headers(sign("old", "msg_2", now, body));
        assert!(
            v.verify(&h, body, now).is_ok(),
            "the old secret still works"
        );
        let h = headers(sign("other", "msg_3", now, body));
        assert_eq!(v.verify(&h, body, now), Err(Rejected::BadSignature));
        let h = headers(sign("new", "msg_4", now, body));
        assert_eq!(
            v.verify(&h, b"{\"release\":4}", now),
            Err(Rejected::BadSignature)
        );
        assert_eq!(v.verify(&h, body, now + 301), Err(Rejected::Stale));
        // Extreme timestamps are stale, never an overflow.
        for ts in [i64::MIN, i64::MAX] {
            let h = headers(sign("new", "msg_x", ts, body));
            assert_eq!(v.verify(&h, body, now), Err(Rejected::Stale));
        }
        assert_eq!(v.verify(&h, body, now - 301), Err(Rejected::Stale));
        // Only the hub signature, with the id and timestamp.
        let only_hub: Vec<_> = sign("new", "msg_5", now, body)
            .into_iter()
            .filter(|(k, _)| *k != "webhook-signature")
            .collect();
        assert!(v.verify(&headers(only_hub), body, now).is_ok());
        let no_ts: Vec<_> = sign("new", "msg_6", now, body)
            .into_iter()
            .filter(|(k, _)| *k != "webhook-timestamp")
            .collect();
        assert_eq!(
            v.verify(&headers(no_ts), body, now),
            Err(Rejected::Missing("webhook-timestamp"))
        );
    }

    #[test]
    fn seen_ids_survive_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("seen");
        let now = 1_700_000_000;
        let h = headers(sign("s", "msg_a", now, b"x"));
        let v = Verifier::new(&["s".into()], Some(f.clone()));
        assert!(v.verify(&h, b"x", now).is_ok());
        let v = Verifier::new(&["s".into()], Some(f));
        assert_eq!(v.verify(&h, b"x", now), Err(Rejected::Replayed));
    }
}
