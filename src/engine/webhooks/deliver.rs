//! One webhook delivery: the body (`{"type", "timestamp", "data"}`), signed
//! ([`super::sign::sign`]), POSTed with retries and a doubling backoff; every attempt is a
//! line of the delivery log (`.devsky/webhooks.log.jsonl`), which `devsky webhook log`
//! shows. Retries keep the message id (receivers drop repeats); each attempt is signed
//! with its own timestamp. The secret comes from the hook's environment variable when
//! the delivery starts; without it nothing is sent (the log says why).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Hook;
use super::sign::sign;
use crate::store::STATE_DIR;

/// How a delivery is retried.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Attempts in all (the first and the retries).
    pub attempts: u32,
    /// The wait before the first retry; it doubles for each next one.
    pub first_wait: Duration,
}

impl Retry {
    /// 5 attempts, waiting 1, 2, 4, 8 s in between; `DEVSKY_WEBHOOK_RETRY_MS` sets the
    /// first wait (tests shorten it).
    pub fn from_env() -> Retry {
        let ms = std::env::var("DEVSKY_WEBHOOK_RETRY_MS")
            .ok()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(1000)
            .min(60_000);
        Retry {
            attempts: 5,
            first_wait: Duration::from_millis(ms),
        }
    }
}

/// One attempt, as logged.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The message id (`webhook-id`), the same for every attempt of a delivery.
    pub message: String,
    pub hook: u32,
    pub url: String,
    pub event: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The receiver's HTTP status, if it answered.
    pub status: Option<u16>,
    pub ok: bool,
    pub error: Option<String>,
}

/// The delivery log.
pub fn log_file(project_root: &Path) -> PathBuf {
    project_root.join(STATE_DIR).join("webhooks.log.jsonl")
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// The body of an event.
pub fn payload(event: &str, data: serde_json::Value) -> Vec<u8> {
    serde_json::json!({
        "type": event,
        "timestamp": crate::engine::util::units::rfc3339(now_ms()),
        "data": data,
    })
    .to_string()
    .into_bytes()
}

/// A new message id: `msg_` and 32 hex digits from the system's randomness.
pub fn message_id() -> String {
    use std::io::Read;
    let mut b = [0u8; 16];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut b))
        .is_err()
    {
        // No /dev/urandom: the time and a counter still make it unique here.
        static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        b[..8].copy_from_slice(&now_ms().to_le_bytes());
        b[8..].copy_from_slice(&n.to_le_bytes());
    }
    format!(
        "msg_{}",
        b.iter().map(|x| format!("{x:02x}")).collect::<String>()
    )
}

fn append(project_root: &Path, a: &Attempt) {
    let line = match serde_json::to_string(a) {
        Ok(l) => l + "\n",
        Err(_) => return,
    };
    // One write of one line in append mode: lines of parallel deliveries do not mix.
    let r = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_file(project_root))
        .and_then(|mut f| f.write_all(line.as_bytes()));
    if let Err(e) = r {
        eprintln!("devsky: cannot write the webhook log: {e}");
    }
}

/// An attempt for people: `attempt 2: delivered (204)`.
fn attempt_text(a: &Attempt) -> String {
    match (a.ok, a.status, &a.error) {
        (true, Some(s), _) => format!("attempt {}: delivered ({s})", a.attempt),
        (_, _, Some(e)) => format!("attempt {}: {e}", a.attempt),
        _ => format!("attempt {}: failed", a.attempt),
    }
}

/// Deliver `body` (an `event`) to `hook`, retrying; each attempt also goes to `log`. How
/// it ended: the last attempt, or the error of the last one.
pub fn deliver(
    project_root: &Path,
    hook: &Hook,
    event: &str,
    body: &[u8],
    retry: Retry,
    log: &dyn Fn(String),
) -> anyhow::Result<String> {
    let append = |root: &Path, a: &Attempt| {
        log(attempt_text(a));
        append(root, a);
    };
    let message = message_id();
    let mut entry = Attempt {
        time_ms: now_ms(),
        message: message.clone(),
        hook: hook.id,
        url: hook.url.clone(),
        event: event.to_string(),
        attempt: 1,
        status: None,
        ok: false,
        error: None,
    };
    let secret = match std::env::var(&hook.secret_env) {
        Ok(s) if !s.is_empty() => s,
        _ => {
            entry.error = Some(format!(
                "not sent: the secret variable ${} is not set",
                hook.secret_env
            ));
            append(project_root, &entry);
            anyhow::bail!("{}", attempt_text(&entry));
        }
    };
    let client = match reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(15))
        .redirect(reqwest::redirect::Policy::none())
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            entry.error = Some(format!("no HTTP client: {e}"));
            append(project_root, &entry);
            anyhow::bail!("{}", attempt_text(&entry));
        }
    };
    let mut wait = retry.first_wait;
    for attempt in 1..=retry.attempts.max(1) {
        let ts = crate::store::now();
        let mut req = client
            .post(&hook.url)
            .header("content-type", "application/json")
            .header("user-agent", concat!("devsky/", env!("CARGO_PKG_VERSION")));
        for (k, v) in sign(&secret, &message, ts, body) {
            req = req.header(k, v);
        }
        entry.time_ms = now_ms();
        entry.attempt = attempt;
        match req.body(body.to_vec()).send() {
            Ok(r) => {
                entry.status = Some(r.status().as_u16());
                entry.ok = r.status().is_success();
                entry.error = (!entry.ok).then(|| format!("answered {}", r.status()));
            }
            Err(e) => {
                entry.status = None;
                entry.ok = false;
                // Without the URL: it may carry a token in its query.
                entry.error = Some(format!("{}", e.without_url()));
            }
        }
        append(project_root, &entry);
        // 410 Gone: the receiver asks never to be sent this again.
        if entry.ok {
            return Ok(attempt_text(&entry));
        }
        if entry.status == Some(410) {
            break;
        }
        if attempt < retry.attempts {
            std::thread::sleep(wait);
            wait = wait.saturating_mul(2);
        }
    }
    anyhow::bail!("not delivered: {}", attempt_text(&entry))
}

/// The newest `limit` attempts of the log, oldest first (lines that do not read are skipped).
pub fn read_log(project_root: &Path, limit: usize) -> anyhow::Result<Vec<Attempt>> {
    let text = match std::fs::read_to_string(log_file(project_root)) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(e.into()),
    };
    let all: Vec<Attempt> = text
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect();
    let skip = all.len().saturating_sub(limit);
    Ok(all.into_iter().skip(skip).collect())
}
