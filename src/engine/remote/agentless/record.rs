//! The local record of an agentless target, under `.devsky/agentless/NAME/` (never
//! deployed): its deployments (`deployments.json`, what each touched, before and after),
//! their logs (`logs/ID.jsonl`), the journal of a push that has not finished
//! (`journal.jsonl`: one line per file in place, synced as it is written), and the
//! pre-images a push backed up (`blobs/BLAKE3`, checked against their name when used).
//!
//! The history is this machine's: another machine deploying to the same target has its
//! own. What the server holds is the state file, the same for everyone.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::engine::deploy::now_ms;
use crate::engine::remote::wire::{Outcome, WireLine};
use crate::engine::util::durable::write_atomic;

/// One path a deployment touched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Touched {
    pub path: String,
    /// The blake3 it had before (None: no file), kept in `blobs/`.
    pub before: Option<String>,
    pub before_mode: Option<u32>,
    /// The blake3 it has after (None: deleted).
    pub after: Option<String>,
    pub after_mode: Option<u32>,
    #[serde(default)]
    pub after_size: u64,
    /// Written before the rename that puts the file in place: whether the rename happened
    /// is found out by hashing the file if the push stops there.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pending: bool,
}

/// A deployment, as `GET /deployments` answers it (plus what it touched).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Dep {
    pub id: i64,
    /// `deploy`, `rollback` or `adopt`.
    pub kind: String,
    /// `applying`, `done`, `failed`, `rolled_back`.
    pub status: String,
    pub package_blake3: Option<String>,
    pub started: i64,
    pub finished: Option<i64>,
    pub parent: Option<i64>,
    pub summary: String,
    pub mode: String,
    #[serde(default)]
    pub running: bool,
    #[serde(default)]
    pub outcome: Option<Outcome>,
    #[serde(default)]
    pub touched: Vec<Touched>,
}

/// The record folder of one target.
pub struct Record {
    dir: PathBuf,
}

impl Record {
    pub fn new(dir: &Path) -> Record {
        Record {
            dir: dir.to_path_buf(),
        }
    }

    fn deps_file(&self) -> PathBuf {
        self.dir.join("deployments.json")
    }

    fn journal_file(&self) -> PathBuf {
        self.dir.join("journal.jsonl")
    }

    fn log_file(&self, id: i64) -> PathBuf {
        self.dir.join("logs").join(format!("{id}.jsonl"))
    }

    /// Where the pre-image with blake3 `hash` is kept.
    pub fn blob(&self, hash: &str) -> PathBuf {
        self.dir.join("blobs").join(hash)
    }

    /// A temp file beside the blobs (renamed to its blob once hashed).
    pub fn blob_temp(&self) -> anyhow::Result<tempfile::NamedTempFile> {
        let d = self.dir.join("blobs");
        std::fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
        Ok(tempfile::NamedTempFile::new_in(d)?)
    }

    /// Every deployment, oldest first.
    pub fn deployments(&self) -> anyhow::Result<Vec<Dep>> {
        match std::fs::read(self.deps_file()) {
            Ok(b) => serde_json::from_slice(&b)
                .with_context(|| format!("{} is damaged", self.deps_file().display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }

    fn save(&self, all: &[Dep]) -> anyhow::Result<()> {
        write_atomic(&self.deps_file(), &serde_json::to_vec_pretty(all)?)
    }

    pub fn deployment(&self, id: i64) -> anyhow::Result<Dep> {
        self.deployments()?
            .into_iter()
            .find(|d| d.id == id)
            .ok_or_else(|| {
                crate::engine::remote::wire::api_error(
                    404,
                    &serde_json::json!({"error": format!("no deployment {id}")}),
                )
            })
    }

    /// The newest deployment that is in place (done).
    pub fn current(&self) -> anyhow::Result<Option<Dep>> {
        Ok(self
            .deployments()?
            .into_iter()
            .rev()
            .find(|d| d.status == "done"))
    }

    /// Record a new deployment (`applying`); a deployment left `applying` by a process
    /// that was stopped becomes `failed`.
    pub fn start(&self, kind: &str, package: Option<&str>, summary: &str) -> anyhow::Result<Dep> {
        let mut all = self.deployments()?;
        for d in all.iter_mut().filter(|d| d.status == "applying") {
            d.status = "failed".into();
            d.summary = format!("{} (interrupted)", d.summary);
            d.outcome = Some(Outcome {
                exit_code: 1,
                error: Some("interrupted before it finished".into()),
                conflicts: Vec::new(),
            });
        }
        let d = Dep {
            id: all.iter().map(|d| d.id).max().unwrap_or(0) + 1,
            kind: kind.into(),
            status: "applying".into(),
            package_blake3: package.map(str::to_string),
            started: now_ms(),
            finished: None,
            parent: None,
            summary: summary.into(),
            mode: "files".into(),
            running: false,
            outcome: None,
            touched: Vec::new(),
        };
        all.push(d.clone());
        self.save(&all)?;
        Ok(d)
    }

    /// Write `d` over its record.
    pub fn update(&self, d: &Dep) -> anyhow::Result<()> {
        let mut all = self.deployments()?;
        match all.iter_mut().find(|x| x.id == d.id) {
            Some(x) => *x = d.clone(),
            None => all.push(d.clone()),
        }
        self.save(&all)
    }

    /// Record that `d` ended: done, or failed with `error`.
    pub fn finish(&self, d: &mut Dep, error: Option<&anyhow::Error>) -> anyhow::Result<()> {
        d.finished = Some(now_ms());
        match error {
            None => {
                d.status = "done".into();
                d.outcome = Some(Outcome {
                    exit_code: 0,
                    error: None,
                    conflicts: Vec::new(),
                });
            }
            Some(e) => {
                d.status = "failed".into();
                d.outcome = Some(Outcome {
                    exit_code: crate::engine::deploy::exit_code(e),
                    error: Some(format!("{e:#}")),
                    conflicts: Vec::new(),
                });
            }
        }
        self.update(d)
    }

    pub fn add_log(&self, id: i64, level: &str, message: &str) -> anyhow::Result<()> {
        let path = self.log_file(id);
        std::fs::create_dir_all(path.parent().context("no folder")?)?;
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)?;
        let l = WireLine {
            time_ms: now_ms(),
            level: level.into(),
            message: message.into(),
        };
        writeln!(f, "{}", serde_json::to_string(&l)?)?;
        Ok(())
    }

    pub fn logs(&self, id: i64) -> anyhow::Result<Vec<WireLine>> {
        let f = match std::fs::File::open(self.log_file(id)) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for l in std::io::BufReader::new(f).lines() {
            if let Ok(w) = serde_json::from_str(&l?) {
                out.push(w);
            }
        }
        Ok(out)
    }

    /// The journal of the push that has not finished (empty: none). A line cut short by
    /// a crash is the last one and is left out: its file is not taken as finished.
    pub fn journal(&self) -> anyhow::Result<Vec<Touched>> {
        let f = match std::fs::File::open(self.journal_file()) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e.into()),
        };
        let mut out = Vec::new();
        for l in std::io::BufReader::new(f).lines() {
            let l = l?;
            match serde_json::from_str::<Touched>(&l) {
                Ok(t) => {
                    crate::engine::deploy::manifest::check_path(&t.path)?;
                    out.push(t)
                }
                Err(_) => break,
            }
        }
        Ok(out)
    }

    /// The journal's finished lines only.
    pub fn journal_done(&self) -> anyhow::Result<Vec<Touched>> {
        Ok(self.journal()?.into_iter().filter(|t| !t.pending).collect())
    }

    /// Open the journal for appending.
    pub fn journal_writer(&self) -> anyhow::Result<Journal> {
        std::fs::create_dir_all(&self.dir)?;
        let f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.journal_file())
            .with_context(|| format!("cannot write {}", self.journal_file().display()))?;
        Ok(Journal { f })
    }

    /// Forget the journal (its push finished and the state file says it all).
    pub fn clear_journal(&self) -> anyhow::Result<()> {
        match std::fs::remove_file(self.journal_file()) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
            _ => Ok(()),
        }
    }
}

/// The journal of a push, appended to one finished file at a time.
pub struct Journal {
    f: std::fs::File,
}

impl Journal {
    /// Record `t` as done (synced before this returns).
    pub fn add(&mut self, t: &Touched) -> anyhow::Result<()> {
        let mut line = serde_json::to_vec(t)?;
        line.push(b'\n');
        self.f.write_all(&line)?;
        self.f.sync_data()?;
        Ok(())
    }
}
