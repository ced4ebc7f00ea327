//! A replace as one operation: [`apply`] puts every original file in the recycle bin,
//! writes the new files atomically (temp + rename, mode kept) and changes the rows in one
//! transaction, and records it all in `.devsky/replace/<id>.json`; [`undo`] gives back
//! the files byte for byte (from the bin's objects) and the rows' old values. A file or a
//! row changed since (the preview, or the replace for undo) is skipped and reported, never
//! overwritten.

use std::fs;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use super::db::{RowPlan, change};
use super::files::{encoding_for, rewrite};
use super::{Plan, Problem, ProblemKind, Request};
use crate::engine::bin::{Bin, create_numbered, hash_file, write_atomic};
use crate::engine::db::Db;
use crate::store::STATE_DIR;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Applied,
    Undone,
}

/// A file the replace changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDone {
    pub path: String,
    /// Its recycle bin entry.
    pub bin: u64,
    /// Object id of the original content.
    pub before: String,
    /// Blake3 of the new content.
    pub after: String,
    pub mode: u32,
    pub count: usize,
}

/// A replace that was applied (and maybe undone).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Operation {
    pub id: u64,
    pub time: i64,
    pub state: State,
    pub request: Request,
    pub files: Vec<FileDone>,
    /// The database profile the rows belong to.
    pub profile: Option<String>,
    pub rows: Vec<RowPlan>,
    /// What the apply left alone (the preview's problems and what changed since).
    pub skipped: Vec<Problem>,
    pub binary_skipped: usize,
    /// What the undo could not give back.
    pub undo_skipped: Vec<Problem>,
}

fn dir(root: &Path) -> Result<PathBuf> {
    let d = root.join(STATE_DIR).join("replace");
    fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))?;
    Ok(d)
}

fn save(root: &Path, op: &Operation) -> Result<()> {
    let path = dir(root)?.join(format!("{}.json", op.id));
    write_atomic(&path, &serde_json::to_vec_pretty(op)?, 0o644)
}

/// Every recorded operation, oldest first.
pub fn list(root: &Path) -> Result<Vec<Operation>> {
    let mut out = Vec::new();
    for f in fs::read_dir(dir(root)?)? {
        let f = f?;
        if f.path().extension().is_none_or(|e| e != "json") {
            continue;
        }
        let text = fs::read(f.path())?;
        if text.is_empty() {
            continue; // an id taken by an apply that is still running
        }
        let op: Operation = serde_json::from_slice(&text)
            .with_context(|| format!("replace record {} is damaged", f.path().display()))?;
        out.push(op);
    }
    out.sort_by_key(|o| o.id);
    Ok(out)
}

/// Operation `id`, or the newest applied one.
pub fn get(root: &Path, id: Option<u64>) -> Result<Operation> {
    let all = list(root)?;
    match id {
        Some(id) => all
            .into_iter()
            .find(|o| o.id == id)
            .with_context(|| format!("no replace {id} (`devsky replace list` shows them)")),
        None => all
            .into_iter()
            .rev()
            .find(|o| o.state == State::Applied)
            .context("no replace to undo"),
    }
}

/// Apply `plan`. `db` is the connection of the plan's database profile.
pub fn apply(root: &Path, plan: &Plan, db: Option<&mut dyn Db>) -> Result<Operation> {
    let pattern = plan.request.pattern()?;
    let first = list(root)?.last().map_or(1, |o| o.id + 1);
    let (id, _) = create_numbered(&dir(root)?, first)?;
    let mut op = Operation {
        id,
        time: crate::store::now(),
        state: State::Applied,
        request: plan.request.clone(),
        files: Vec::new(),
        profile: plan.db.as_ref().map(|d| d.profile.clone()),
        rows: Vec::new(),
        skipped: plan.files.problems.clone(),
        binary_skipped: plan.files.binary_skipped,
        undo_skipped: Vec::new(),
    };
    let result = (|| {
        if let Some(scan) = &plan.db {
            op.skipped.extend(scan.problems.iter().cloned());
            let Some(db) = db else {
                bail!(
                    "the plan changes rows of {}: connect it to apply",
                    scan.profile
                );
            };
            let ticked: Vec<RowPlan> = scan.rows.iter().filter(|r| r.selected).cloned().collect();
            op.rows = change(db, &ticked, false, &mut op.skipped)?;
        }
        let bin = Bin::open(root)?;
        let reason = format!("replace {id}");
        for f in plan
            .files
            .files
            .iter()
            .filter(|f| f.selected && f.skip.len() < f.hits.len())
        {
            match apply_file(&bin, f, &pattern, &reason) {
                Ok(done) => op.files.push(done),
                Err(p) => op.skipped.push(p),
            }
        }
        Ok(())
    })();
    if result.is_err() && op.rows.is_empty() && op.files.is_empty() {
        let _ = fs::remove_file(dir(root)?.join(format!("{id}.json")));
    } else {
        save(root, &op)?;
    }
    result.map(|()| op)
}

fn apply_file(
    bin: &Bin,
    f: &super::files::FilePlan,
    pattern: &super::pattern::Pattern,
    reason: &str,
) -> Result<FileDone, Problem> {
    let problem = |kind, reason: String| Problem {
        place: f.path.clone(),
        kind,
        reason,
    };
    let fail = |e: anyhow::Error| problem(ProblemKind::Unreadable, format!("{e:#}"));
    let path = bin.checked(&f.path).map_err(fail)?;
    let meta = fs::symlink_metadata(&path).map_err(|e| fail(e.into()))?;
    let bytes = fs::read(&path).map_err(|e| fail(e.into()))?;
    if !meta.is_file() || blake3::hash(&bytes).to_hex().as_str() != f.before {
        let why = "the file changed since the preview; not overwritten".to_string();
        return Err(problem(ProblemKind::Changed, why));
    }
    let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions()) & 0o7777;
    if mode & 0o200 == 0 {
        let why = "the file is read-only; left as it is".to_string();
        return Err(problem(ProblemKind::ReadOnly, why));
    }
    let enc = encoding_for(&f.encoding).map_err(fail)?;
    let new =
        rewrite(&bytes, enc, pattern, &f.skip).map_err(|why| problem(ProblemKind::Refused, why))?;
    let entry = bin.put(&f.path, reason).map_err(fail)?;
    if entry.object != f.before {
        let why = "the file changed while it was read; not overwritten".to_string();
        return Err(problem(ProblemKind::Changed, why));
    }
    write_atomic(&path, &new, mode).map_err(fail)?;
    Ok(FileDone {
        path: f.path.clone(),
        bin: entry.id,
        before: entry.object,
        after: blake3::hash(&new).to_hex().to_string(),
        mode,
        count: f.count - f.skip.len(),
    })
}

/// Undo operation `id` (None: the newest applied one). `db` is the connection of its
/// database profile when it changed rows.
pub fn undo(root: &Path, id: Option<u64>, db: Option<&mut dyn Db>) -> Result<Operation> {
    let mut op = get(root, id)?;
    if op.state == State::Undone {
        bail!("replace {} was already undone", op.id);
    }
    let mut skipped = Vec::new();
    if !op.rows.is_empty() {
        let Some(db) = db else {
            bail!(
                "replace {} changed rows of {}: connect it to undo",
                op.id,
                op.profile.as_deref().unwrap_or("a database")
            );
        };
        change(db, &op.rows, true, &mut skipped)?;
    }
    let bin = Bin::open(root)?;
    let reason = format!("replace undo {}", op.id);
    for f in &op.files {
        let path = root.join(&f.path);
        let now = hash_file(&path).ok();
        if now.as_deref() != Some(f.after.as_str()) {
            skipped.push(Problem {
                place: f.path.clone(),
                kind: ProblemKind::Changed,
                reason: "the file changed since the replace; not overwritten".into(),
            });
            continue;
        }
        if let Err(e) = bin.restore_object(&f.path, &f.before, f.mode, &reason) {
            skipped.push(Problem {
                place: f.path.clone(),
                kind: ProblemKind::Unreadable,
                reason: format!("{e:#}"),
            });
        }
    }
    op.state = State::Undone;
    op.undo_skipped = skipped;
    save(root, &op)?;
    Ok(op)
}

/// Object ids the records need for undo (kept by `devsky gc`).
pub fn objects(root: &Path) -> Result<Vec<String>> {
    Ok(list(root)?
        .into_iter()
        .filter(|o| o.state == State::Applied)
        .flat_map(|o| o.files.into_iter().map(|f| f.before))
        .collect())
}
