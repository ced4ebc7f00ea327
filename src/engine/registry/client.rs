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

/// A claim on a record, as the registry answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claim {
    pub record: String,
    pub package: Option<String>,
    pub owner: String,
    pub created: i64,
    pub expires: i64,
}

/// What claiming a record gave.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "outcome", content = "claim", rename_all = "snake_case")]
pub enum ClaimOutcome {
    /// Newly ours.
    Taken(Claim),
    /// Ours already: renewed.
    Renewed(Claim),
    /// Someone else's.
    Conflict(Claim),
}

/// The live claims among some records: ours and others'.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verified {
    pub ours: Vec<Claim>,
    pub theirs: Vec<Claim>,
}

impl Client {
    fn json<T: serde::de::DeserializeOwned>(
        &self,
        what: &str,
        r: reqwest::Result<reqwest::blocking::Response>,
    ) -> anyhow::Result<T> {
        let r = r.with_context(|| format!("cannot reach the registry at {}", self.url))?;
        if !r.status().is_success() {
            return Err(failure(what, r));
        }
        r.json()
            .with_context(|| format!("{what}: the registry's answer is not valid"))
    }

    /// The URL of `/api/v1/claims/{record}`, the record percent-encoded as one segment.
    fn claim_url(&self, record: &str) -> anyhow::Result<reqwest::Url> {
        let mut u = reqwest::Url::parse(&format!("{}/api/v1/claims", self.url))?;
        u.path_segments_mut()
            .map_err(|_| anyhow::anyhow!("{} cannot take a path", self.url))?
            .push(record);
        Ok(u)
    }

    /// Take `record` into work (for `package`, whose owners may force its release).
    pub fn claim(&self, record: &str, package: Option<&str>) -> anyhow::Result<ClaimOutcome> {
        #[derive(Deserialize)]
        struct Answer {
            claim: Claim,
        }
        let r = self
            .http
            .post(format!("{}/api/v1/claims", self.url))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({"record": record, "package": package}))
            .send()
            .with_context(|| format!("cannot reach the registry at {}", self.url))?;
        let status = r.status();
        if status == reqwest::StatusCode::CONFLICT {
            let a: Answer = r.json().context("the registry's 409 has no claim")?;
            return Ok(ClaimOutcome::Conflict(a.claim));
        }
        let a: Answer = self.json(&format!("claiming {record}"), Ok(r))?;
        Ok(if status == reqwest::StatusCode::CREATED {
            ClaimOutcome::Taken(a.claim)
        } else {
            ClaimOutcome::Renewed(a.claim)
        })
    }

    /// The live claims (of `package` only, when given).
    pub fn claims(&self, package: Option<&str>) -> anyhow::Result<Vec<Claim>> {
        #[derive(Deserialize)]
        struct Answer {
            claims: Vec<Claim>,
        }
        let mut u = reqwest::Url::parse(&format!("{}/api/v1/claims", self.url))?;
        if let Some(p) = package {
            u.query_pairs_mut().append_pair("package", p);
        }
        let a: Answer = self.json(
            "listing claims",
            self.http.get(u).bearer_auth(&self.token).send(),
        )?;
        Ok(a.claims)
    }

    /// The live claims among `records` (all, when empty), sorted into ours and theirs.
    pub fn verify(&self, records: &[String]) -> anyhow::Result<Verified> {
        let body = if records.is_empty() {
            serde_json::json!({})
        } else {
            serde_json::json!({ "records": records })
        };
        self.json(
            "verifying claims",
            self.http
                .post(format!("{}/api/v1/claims/verify", self.url))
                .bearer_auth(&self.token)
                .json(&body)
                .send(),
        )
    }

    /// Release the claim on `record` (someone else's only with `force`, as a package owner).
    pub fn release(&self, record: &str, force: bool) -> anyhow::Result<Claim> {
        #[derive(Deserialize)]
        struct Answer {
            released: Claim,
        }
        let mut u = self.claim_url(record)?;
        if force {
            u.query_pairs_mut().append_pair("force", "true");
        }
        let a: Answer = self.json(
            &format!("releasing {record}"),
            self.http.delete(u).bearer_auth(&self.token).send(),
        )?;
        Ok(a.released)
    }
}

/// A dependency as reserve takes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dep {
    pub name: String,
    pub req: String,
}

/// What a reserve gave.
#[derive(Debug, Clone)]
pub enum Reservation {
    Reserved(i64),
    /// The version exists: its SKY_ID, who reserved it, whether it is uploaded.
    Taken {
        sky_id: i64,
        reserved_by: String,
        published: bool,
    },
}

/// What a publish did.
#[derive(Debug, Clone, Serialize)]
pub struct Published {
    pub name: String,
    pub version: String,
    pub sky_id: i64,
    pub checksum: String,
    pub size: u64,
    pub claims_renewed: i64,
}

impl Client {
    /// Reserve `name` `version` and upload the archive `file` (its blake3 sent along, the
    /// registry keeps it only if the bytes match).
    pub fn publish(
        &self,
        name: &str,
        version: &str,
        depends: &[Dep],
        in_work: bool,
        file: &Path,
    ) -> anyhow::Result<Published> {
        let sky_id = self.reserve(name, version, depends, in_work)?;
        self.upload(name, version, sky_id, file)
    }

    /// Reserve `name` `version` (with its `depends`): its SKY_ID.
    pub fn reserve(
        &self,
        name: &str,
        version: &str,
        depends: &[Dep],
        in_work: bool,
    ) -> anyhow::Result<i64> {
        match self.try_reserve(name, version, depends, in_work)? {
            Reservation::Reserved(id) => Ok(id),
            Reservation::Taken {
                sky_id,
                reserved_by,
                published,
            } => bail!(
                "reserving {name} {version}: 409 version_taken: it is {} by {reserved_by} already \
                 (SKY_ID {sky_id})",
                if published { "published" } else { "reserved" }
            ),
        }
    }

    /// Reserve `name` `version`, or say who has it (409 version_taken).
    pub fn try_reserve(
        &self,
        name: &str,
        version: &str,
        depends: &[Dep],
        in_work: bool,
    ) -> anyhow::Result<Reservation> {
        #[derive(Deserialize)]
        struct Reserved {
            sky_id: i64,
        }
        #[derive(Deserialize)]
        struct Taken {
            code: String,
            sky_id: i64,
            reserved_by: String,
            published: bool,
        }
        let what = format!("reserving {name} {version}");
        let r = self
            .http
            .post(format!("{}/api/v1/reserve", self.url))
            .bearer_auth(&self.token)
            .json(&serde_json::json!({"name": name, "version": version,
                                      "depends": depends, "in_work": in_work}))
            .send()
            .with_context(|| format!("cannot reach the registry at {}", self.url))?;
        if r.status() == reqwest::StatusCode::CONFLICT {
            let text = r.text().unwrap_or_default();
            return match serde_json::from_str::<Taken>(&text) {
                Ok(t) if t.code == "version_taken" => Ok(Reservation::Taken {
                    sky_id: t.sky_id,
                    reserved_by: t.reserved_by,
                    published: t.published,
                }),
                _ => bail!(
                    "{what}: 409 Conflict: {}",
                    text.chars().take(200).collect::<String>()
                ),
            };
        }
        let r: Reserved = self.json(&what, Ok(r))?;
        Ok(Reservation::Reserved(r.sky_id))
    }

    /// Upload the archive `file` of the reserved `name` `version` (its blake3 sent along,
    /// the registry keeps it only if the bytes match).
    pub fn upload(
        &self,
        name: &str,
        version: &str,
        sky_id: i64,
        file: &Path,
    ) -> anyhow::Result<Published> {
        let mut hasher = blake3::Hasher::new();
        hasher
            .update_reader(
                std::fs::File::open(file)
                    .with_context(|| format!("cannot read {}", file.display()))?,
            )
            .with_context(|| format!("cannot read {}", file.display()))?;
        let checksum = hasher.finalize().to_hex().to_string();
        let f = std::fs::File::open(file)?;
        let len = f.metadata()?.len();
        #[derive(Deserialize)]
        struct Uploaded {
            size: u64,
            claims_renewed: i64,
        }
        let mut u = reqwest::Url::parse(&format!("{}/api/v1/packages", self.url))?;
        u.path_segments_mut()
            .map_err(|_| anyhow::anyhow!("{} cannot take a path", self.url))?
            .push(name)
            .push(version);
        let up: Uploaded = self.json(
            &format!("uploading {name} {version}"),
            self.http
                .put(u)
                .bearer_auth(&self.token)
                .header("x-checksum-blake3", &checksum)
                .body(reqwest::blocking::Body::sized(f, len))
                .send(),
        )?;
        Ok(Published {
            name: name.to_string(),
            version: version.to_string(),
            sky_id,
            checksum,
            size: up.size,
            claims_renewed: up.claims_renewed,
        })
    }
}

impl Client {
    /// A JSON request to `path` (segments percent-encoded each), its JSON answer: for the
    /// routes that need no more than that (yank, owners, releases).
    pub fn call(
        &self,
        method: reqwest::Method,
        segments: &[&str],
        body: Option<serde_json::Value>,
    ) -> anyhow::Result<serde_json::Value> {
        let mut u = reqwest::Url::parse(&format!("{}/api/v1", self.url))?;
        u.path_segments_mut()
            .map_err(|_| anyhow::anyhow!("{} cannot take a path", self.url))?
            .extend(segments);
        let mut r = self.http.request(method, u).bearer_auth(&self.token);
        if let Some(b) = body {
            r = r.json(&b);
        }
        self.json(&segments.join("/"), r.send())
    }
}

/// A release snapshot in the registry's list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseInfo {
    pub name: String,
    pub created_by: String,
    /// ms since the epoch.
    pub created: i64,
}

/// One exact version of a release snapshot, as the registry answers it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleasePin {
    pub name: String,
    pub version: String,
    pub checksum: String,
}

/// A release snapshot, whole.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReleaseSnapshot {
    pub name: String,
    pub created_by: String,
    pub created: i64,
    pub packages: Vec<ReleasePin>,
}

#[derive(Deserialize)]
struct ReleaseList {
    releases: Vec<ReleaseInfo>,
}

impl Client {
    /// The registry's release snapshots (names and times).
    pub fn releases(&self) -> anyhow::Result<Vec<ReleaseInfo>> {
        let l: ReleaseList = self.json("listing releases", self.get("/api/v1/releases").send())?;
        Ok(l.releases)
    }

    /// Release snapshot `name`.
    pub fn release_snapshot(&self, name: &str) -> anyhow::Result<ReleaseSnapshot> {
        let mut u = reqwest::Url::parse(&format!("{}/api/v1/releases", self.url))?;
        u.path_segments_mut()
            .map_err(|_| anyhow::anyhow!("{} cannot take a path", self.url))?
            .push(name);
        let r = self.http.get(u).bearer_auth(&self.token).send();
        self.json(&format!("release {name}"), r)
    }
}
