//! The HTTP client of the registry's API (reqwest, blocking): the index pages and the
//! archives, each answer's size counted (what `devsky update` reports as transferred).

use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

/// One index entry: a published version as it is now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Entry {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub depends: serde_json::Value,
    pub checksum: String,
    pub size: i64,
    pub yanked: bool,
    pub sky_id: i64,
    pub published: i64,
    pub cursor: i64,
}

/// One answer of `GET /api/v1/index`.
#[derive(Debug, Deserialize)]
pub struct IndexBody {
    pub cursor: i64,
    pub more: bool,
    pub entries: Vec<Entry>,
}

/// An index page: its body (None on 304 Not Modified), ETag and size on the wire.
pub struct IndexPage {
    pub body: Option<IndexBody>,
    pub etag: Option<String>,
    pub bytes: u64,
}

pub struct Client {
    url: String,
    token: String,
    http: reqwest::blocking::Client,
}

/// 64 lowercase hex digits.
pub fn is_checksum(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// The message of an error answer (`{"error": ...}`), or its status.
fn failure(what: &str, r: reqwest::blocking::Response) -> anyhow::Error {
    let status = r.status();
    let text = r.text().unwrap_or_default();
    let msg = serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v["error"].as_str().map(str::to_string))
        .unwrap_or_else(|| text.chars().take(200).collect());
    if status == reqwest::StatusCode::UNAUTHORIZED {
        return anyhow::anyhow!(
            "{what}: the registry refused the token (401); log in again with \
             `devsky registry login URL --token TOKEN`"
        );
    }
    anyhow::anyhow!("{what}: {status}: {msg}")
}

impl Client {
    pub fn new(url: &str, token: &str) -> anyhow::Result<Client> {
        let http = reqwest::blocking::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(600))
            .build()?;
        Ok(Client {
            url: url.trim_end_matches('/').to_string(),
            token: token.to_string(),
            http,
        })
    }

    fn get(&self, path: &str) -> reqwest::blocking::RequestBuilder {
        self.http
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
    }

    /// The index changes after `since`; `etag` of the last answer for the same cursor.
    pub fn index(&self, since: i64, etag: Option<&str>) -> anyhow::Result<IndexPage> {
        let mut req = self.get(&format!("/api/v1/index?since={since}"));
        if let Some(e) = etag {
            req = req.header(reqwest::header::IF_NONE_MATCH, e);
        }
        let r = req
            .send()
            .with_context(|| format!("cannot reach the registry at {}", self.url))?;
        let etag = r
            .headers()
            .get(reqwest::header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        if r.status() == reqwest::StatusCode::NOT_MODIFIED {
            return Ok(IndexPage {
                body: None,
                etag,
                bytes: 0,
            });
        }
        if !r.status().is_success() {
            return Err(failure("the index", r));
        }
        let bytes = r.bytes().context("reading the index")?;
        let body: IndexBody =
            serde_json::from_slice(&bytes).context("the registry's index answer is not valid")?;
        Ok(IndexPage {
            body: Some(body),
            etag,
            bytes: bytes.len() as u64,
        })
    }

    /// Download `name` `version` into `dir/<checksum>` (written under a temporary name,
    /// kept only when its blake3 is `checksum`); its size.
    pub fn download_to(
        &self,
        name: &str,
        version: &str,
        checksum: &str,
        dir: &Path,
    ) -> anyhow::Result<u64> {
        if !is_checksum(checksum) {
            bail!("{name} {version}: the index gives no valid checksum");
        }
        let mut r = self
            .get(&format!("/api/v1/packages/{name}/{version}"))
            .send()
            .with_context(|| format!("cannot reach the registry at {}", self.url))?;
        if !r.status().is_success() {
            return Err(failure(&format!("downloading {name} {version}"), r));
        }
        let tmp = dir.join(format!(".{checksum}.part"));
        let mut f = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot write {}", tmp.display()))?;
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; 256 * 1024];
        let mut n = 0u64;
        loop {
            let k = r.read(&mut buf).context("the download broke off")?;
            if k == 0 {
                break;
            }
            hasher.update(&buf[..k]);
            f.write_all(&buf[..k])?;
            n += k as u64;
        }
        let got = hasher.finalize().to_hex().to_string();
        if got != checksum {
            let _ = std::fs::remove_file(&tmp);
            bail!("{name} {version}: the archive's blake3 is {got}, the index says {checksum}");
        }
        f.sync_all()?;
        std::fs::rename(&tmp, dir.join(checksum))?;
        Ok(n)
    }
}
