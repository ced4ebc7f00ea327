//! Push, rollback and adopt on an agentless target ([`Job`], [`adopt`]).
//!
//! A push: open and validate the package; list the tree ([`View`]); refuse (exit 2) a path
//! whose pre-image is not what devsky believes is there, or that drifted, unless forced;
//! then on N connections, file by file: back the pre-image up locally, upload to a temp
//! name in the same folder, set the mode, rename over the target, and add a line to the
//! local journal. Deletes follow the uploads. Last, a listing gives the new files' sizes
//! and mtimes and the state file is written (temp name, rename) — only when every
//! operation succeeded. A push that stops half-way leaves the state file as it was and its
//! journal behind: the next plan starts from state + journal, so only what is missing is
//! sent again.
//!
//! A rollback undoes done deployments newest first, uploading the pre-images from the
//! local blobs (checked against their hash) and deleting what they added.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use anyhow::Context;

use super::lock::LOCK_DIR;
use super::record::{Dep, Journal, Record, Touched};
use super::tree::{Believed, View, parse_hash, write_entries};
use super::{Pool, RemoteFs, STATE_FILE, TEMP_PREFIX, hash_remote, parents, temp_name};
use crate::engine::deploy::manifest::{Kind, Upload, parse_mode};
use crate::engine::deploy::package::{Limits, Package};
use crate::engine::deploy::{Conflict, DeployError, crash_point};
use crate::engine::jobs::Progress;
use crate::engine::remote::transport::Counted;

/// One push or rollback.
pub struct Job<'a> {
    /// Where the connections come from and go back to (the extra ones of N).
    pub pool: &'a Pool,
    pub record: Record,
    pub connections: usize,
    /// Bytes uploaded so far (the upload's progress).
    pub sent: Option<Arc<AtomicU64>>,
}

type Conn = Box<dyn RemoteFs>;

/// A connection given back (None: it failed) and the result.
pub type Ended<T> = (Option<Conn>, anyhow::Result<T>);

/// One file to put in place.
struct Put {
    path: String,
    /// Where its content comes from: the package entry, or a local file.
    from: Source,
    mode: u32,
    size: u64,
    hash: String,
    /// What it holds now, to back up first (None: nothing there).
    before: Option<String>,
    before_mode: Option<u32>,
}

enum Source {
    Package(Upload),
    File(std::path::PathBuf),
}

impl Job<'_> {
    fn log(&self, d: &Dep, level: &str, m: impl AsRef<str>) {
        let _ = self.record.add_log(d.id, level, m.as_ref());
    }

    /// Push `package`; the deployment's id. Conflicts and drift are refused before
    /// anything is changed.
    pub fn push(&self, mut main: Conn, package: &Path, force: bool) -> Ended<i64> {
        let r = self.push_with(&mut main, package, force);
        (Some(main), r)
    }

    fn push_with(&self, main: &mut Conn, package: &Path, force: bool) -> anyhow::Result<i64> {
        let pkg = Package::open(package, &Limits::default(), &Progress::silent())?;
        let m = &pkg.manifest;
        for u in &m.uploads {
            if u.kind == Kind::Symlink {
                anyhow::bail!(
                    "{} is a symlink: a {} target takes files only",
                    u.path,
                    self.pool.connector().scheme()
                );
            }
        }
        for p in m
            .uploads
            .iter()
            .map(|u| &u.path)
            .chain(m.deletes.iter().map(|d| &d.path))
        {
            let base = p.rsplit('/').next().unwrap_or(p);
            if p.contains(['\r', '\n']) {
                anyhow::bail!(
                    "{p:?}: a line break in a name cannot be sent over {} (it would be read \
                     as a command); rename it",
                    self.pool.connector().scheme()
                );
            }
            if p == STATE_FILE
                || base.starts_with(TEMP_PREFIX)
                || p == LOCK_DIR
                || p.starts_with(&format!("{LOCK_DIR}/"))
            {
                anyhow::bail!("{p} is devsky's own name on the server; rename it to deploy it");
            }
        }
        let view = View::load(main.as_mut(), &self.record)?;
        view.require_known(&self.pool.connector().label())?;
        // Conflicts: what the package expects against what devsky believes, and drift.
        let mut conflicts = Vec::new();
        let mut puts = Vec::new();
        let mut deletes = Vec::new();
        let ops = m
            .uploads
            .iter()
            .map(|u| (&u.path, Some(u)))
            .chain(m.deletes.iter().map(|d| (&d.path, None)));
        for (path, up) in ops {
            let expected = m.pre_images.get(path).cloned().flatten();
            let believed = view.believed.get(path);
            let believed_hex = believed.map(Believed::hash_hex);
            if let Some(u) = up
                && believed_hex.as_deref() == Some(u.blake3.as_str())
                && believed.is_some_and(|b| b.mode == parse_mode(&u.mode).unwrap_or(0))
                && !view.drifted(path)
            {
                // Already in place (a push that stopped half-way put it there).
                continue;
            }
            let drifted = view.drifted(path);
            if !force && (believed_hex != expected || drifted) {
                let found = match view.listed.get(path) {
                    Some(_) => Some(hash_remote(main.as_mut(), path, None)?),
                    None => None,
                };
                if found != expected || believed_hex != expected {
                    conflicts.push(Conflict {
                        path: path.clone(),
                        expected: expected.clone(),
                        found: if drifted && found == expected {
                            Some("changed by someone else".into())
                        } else {
                            found
                        },
                    });
                    continue;
                }
            }
            // Forced over drift: back up what is really there.
            let before = match (drifted, view.listed.get(path)) {
                (false, _) => believed_hex.clone(),
                (true, Some(_)) => Some(String::new()),
                (true, None) => None,
            };
            let before_mode = believed
                .map(|b| b.mode)
                .or_else(|| view.listed.get(path).and_then(|l| l.mode));
            match up {
                Some(u) => puts.push(Put {
                    path: path.clone(),
                    from: Source::Package(u.clone()),
                    mode: parse_mode(&u.mode)?,
                    size: u.size,
                    hash: u.blake3.clone(),
                    before,
                    before_mode,
                }),
                None => deletes.push((path.clone(), before, before_mode)),
            }
        }
        if !conflicts.is_empty() {
            return Err(DeployError::Conflicts(conflicts).into());
        }
        let summary = format!("{} upload(s), {} delete(s)", puts.len(), deletes.len());
        let mut dep = self.record.start("deploy", Some(&pkg.blake3), &summary)?;
        self.log(
            &dep,
            "info",
            format!(
                "deployment {} started on {}: {summary}",
                dep.id,
                self.pool.connector().label()
            ),
        );
        let r = self.apply(main, &view, &pkg, puts, deletes, &dep);
        match &r {
            Ok(touched) => {
                dep.touched = touched.clone();
                self.log(&dep, "success", "state file written; deployment done");
                self.record.finish(&mut dep, None)?;
                self.record.clear_journal()?;
            }
            Err(e) => {
                self.log(&dep, "error", format!("{e:#}"));
                self.log(
                    &dep,
                    "info",
                    "the state file was not written; push again to resume",
                );
                self.record.finish(&mut dep, Some(e))?;
            }
        }
        r.map(|_| dep.id)
    }

    /// Put everything in place and write the state file; every path touched (this push's
    /// and those of the unfinished push it resumes).
    fn apply(
        &self,
        main: &mut Conn,
        view: &View,
        pkg: &Package,
        puts: Vec<Put>,
        deletes: Vec<(String, Option<String>, Option<u32>)>,
        dep: &Dep,
    ) -> anyhow::Result<Vec<Touched>> {
        if !view.root_exists {
            main.make_root()?;
        }
        let mut journal = self.record.journal_writer()?;
        self.put_all(main, view, Some(pkg), puts, &mut journal, dep)?;
        let mut emptied: Vec<String> = Vec::new();
        for (path, before, before_mode) in deletes {
            let before = self.backup(main.as_mut(), &path, before)?;
            main.remove(&path)
                .with_context(|| format!("cannot delete {path}"))?;
            journal.add(&Touched {
                path: path.clone(),
                before,
                before_mode,
                after: None,
                after_mode: None,
                after_size: 0,
                pending: false,
            })?;
            self.log(dep, "info", format!("deleted {path}"));
            crash_point("agentless: deleted");
            emptied.extend(parents(&path).map(str::to_string));
        }
        // Folders the deletes emptied (a folder still holding something stays).
        emptied.sort_by_key(|p| std::cmp::Reverse(p.len()));
        emptied.dedup();
        for d in emptied {
            let _ = main.rmdir(&d);
        }
        let touched = self.record.journal_done()?;
        self.write_state(main, view, &touched)?;
        // Temp uploads an interrupted push left behind.
        for l in &view.leftovers {
            let _ = main.remove(l);
        }
        Ok(touched)
    }

    /// The new state (the old one with `touched` applied, sizes and mtimes from a fresh
    /// listing), written under a temp name and renamed over `.devsky-state`.
    fn write_state(&self, main: &mut Conn, view: &View, touched: &[Touched]) -> anyhow::Result<()> {
        let now = View::load(main.as_mut(), &self.record)?;
        let mut state = view.state.clone();
        for t in touched {
            match &t.after {
                Some(h) => {
                    let l = now.listed.get(&t.path).with_context(|| {
                        format!("{} is not on the server after it was uploaded", t.path)
                    })?;
                    if l.size != t.after_size {
                        anyhow::bail!(
                            "{} has {} bytes on the server, not the {} uploaded (changed \
                             during the push?)",
                            t.path,
                            l.size,
                            t.after_size
                        );
                    }
                    state.insert(
                        t.path.clone(),
                        Believed {
                            hash: parse_hash(h)?,
                            size: l.size,
                            mode: t.after_mode.unwrap_or(0o644),
                            mtime: Some(l.mtime),
                        },
                    );
                }
                None => {
                    state.remove(&t.path);
                }
            }
        }
        let tmp = tempfile::tempdir()?;
        let local = tmp.path().join("state.map");
        write_entries(&state, &local)?;
        crash_point("agentless: before the state file");
        let temp = temp_name(STATE_FILE);
        let mut f = std::fs::File::open(&local)?;
        main.put(&temp, &mut f)
            .context("cannot upload the state file")?;
        main.rename(&temp, STATE_FILE)
            .context("cannot rename the state file into place")?;
        Ok(())
    }

    /// Download what is at `path` into the local blobs (when `before` says something is
    /// there); the blake3 it had. `Some("")`: drift, hash unknown until downloaded.
    fn backup(
        &self,
        fs: &mut dyn RemoteFs,
        path: &str,
        before: Option<String>,
    ) -> anyhow::Result<Option<String>> {
        let Some(want) = before else { return Ok(None) };
        if !want.is_empty() && self.record.blob(&want).is_file() {
            return Ok(Some(want));
        }
        let tmp = self.record.blob_temp()?;
        let got = hash_remote(fs, path, Some(tmp.path()))?;
        if !want.is_empty() && got != want {
            anyhow::bail!(
                "{path} changed on the server during the push (its pre-image is not what \
                 was planned); nothing more was changed"
            );
        }
        tmp.persist(self.record.blob(&got))?;
        Ok(Some(got))
    }

    /// Put `puts` in place on up to N connections (`main` is one of them).
    fn put_all(
        &self,
        main: &mut Conn,
        view: &View,
        pkg: Option<&Package>,
        puts: Vec<Put>,
        journal: &mut Journal,
        dep: &Dep,
    ) -> anyhow::Result<()> {
        if puts.is_empty() {
            return Ok(());
        }
        let n = self.connections.clamp(1, puts.len());
        let queue = Mutex::new(VecDeque::from(puts));
        let dirs = Mutex::new(view.dirs.clone().into_iter().collect::<HashSet<_>>());
        let journal = Mutex::new(journal);
        let stop = AtomicBool::new(false);
        let errors: Mutex<Vec<anyhow::Error>> = Mutex::default();
        let work = |fs: &mut dyn RemoteFs| -> anyhow::Result<()> {
            let mut reader = pkg.map(Package::reader).transpose()?;
            let tmp = tempfile::tempdir()?;
            loop {
                if stop.load(Ordering::SeqCst) {
                    return Ok(());
                }
                let Some(p) = queue.lock().unwrap_or_else(|e| e.into_inner()).pop_front() else {
                    return Ok(());
                };
                for d in parents(&p.path) {
                    let known = dirs.lock().unwrap_or_else(|e| e.into_inner()).contains(d);
                    if !known {
                        fs.mkdir(d)
                            .with_context(|| format!("cannot make folder {d}"))?;
                        dirs.lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .insert(d.to_string());
                    }
                }
                let before = self.backup(fs, &p.path, p.before.clone())?;
                let local = match &p.from {
                    Source::File(f) => f.clone(),
                    Source::Package(u) => {
                        let dest = tmp.path().join("upload");
                        let _ = std::fs::remove_file(&dest);
                        reader.as_mut().context("no package")?.extract(u, &dest)?;
                        dest
                    }
                };
                let done = Touched {
                    path: p.path.clone(),
                    before,
                    before_mode: p.before_mode,
                    after: Some(p.hash.clone()),
                    after_mode: Some(p.mode),
                    after_size: p.size,
                    pending: false,
                };
                let temp = temp_name(&p.path);
                let mut src = Counted {
                    inner: std::fs::File::open(&local)?,
                    sent: self.sent.clone(),
                };
                fs.put(&temp, &mut src)
                    .with_context(|| format!("cannot upload {}", p.path))?;
                let _ = fs.chmod(&temp, p.mode);
                let pending = Touched {
                    pending: true,
                    ..done.clone()
                };
                journal
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .add(&pending)?;
                fs.rename(&temp, &p.path)
                    .with_context(|| format!("cannot rename {temp} over {}", p.path))?;
                journal
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .add(&done)?;
                self.log(dep, "info", format!("uploaded {}", p.path));
                crash_point("agentless: uploaded");
            }
        };
        // Whether the connection did its part without an error (then it is kept).
        let run = |fs: &mut dyn RemoteFs| match work(fs) {
            Ok(()) => true,
            Err(e) => {
                stop.store(true, Ordering::SeqCst);
                errors.lock().unwrap_or_else(|e| e.into_inner()).push(e);
                false
            }
        };
        std::thread::scope(|s| {
            for _ in 1..n {
                s.spawn(|| match self.pool.take() {
                    Ok(mut c) => {
                        if run(c.as_mut()) {
                            self.pool.keep(c);
                        }
                    }
                    Err(e) => errors.lock().unwrap_or_else(|e| e.into_inner()).push(e),
                });
            }
            let _ = run(main.as_mut());
        });
        let mut errors = errors.into_inner().unwrap_or_else(|e| e.into_inner());
        // A refused extra connection is no failure while another did the work.
        if queue.lock().unwrap_or_else(|e| e.into_inner()).is_empty()
            && !stop.load(Ordering::SeqCst)
        {
            return Ok(());
        }
        match errors.is_empty() {
            true => anyhow::bail!("the upload stopped"),
            false => Err(errors.swap_remove(0)),
        }
    }

    /// Undo done deployments newer than `to` (None: the newest one), newest first; the
    /// rollback's id.
    pub fn rollback(&self, mut main: Conn, to: Option<i64>, force: bool) -> Ended<i64> {
        let r = self.rollback_with(&mut main, to, force);
        (Some(main), r)
    }

    fn rollback_with(&self, main: &mut Conn, to: Option<i64>, force: bool) -> anyhow::Result<i64> {
        let all = self.record.deployments()?;
        let done: Vec<&Dep> = all
            .iter()
            .filter(|d| d.kind == "deploy" && d.status == "done")
            .collect();
        let undo: Vec<&Dep> = match to {
            None => done.last().into_iter().copied().collect(),
            Some(t) => done.iter().rev().filter(|d| d.id > t).copied().collect(),
        };
        if undo.is_empty() {
            anyhow::bail!("nothing to roll back: no deployment in place after that one");
        }
        if !self.record.journal()?.is_empty() {
            anyhow::bail!("a push did not finish: push again to complete it, then roll back");
        }
        let mut rb = self.record.start(
            "rollback",
            None,
            &format!(
                "undo deployment(s) {}",
                undo.iter()
                    .map(|d| d.id.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        )?;
        let r = (|| {
            for d in &undo {
                self.undo(main, d, force, &rb)?;
            }
            Ok(())
        })();
        if let Err(e) = &r {
            self.log(&rb, "error", format!("{e:#}"));
        } else {
            self.log(&rb, "success", "rolled back; state file written");
        }
        rb.parent = undo.last().map(|d| d.id);
        self.record.finish(&mut rb, r.as_ref().err())?;
        r.map(|_| rb.id)
    }

    /// Undo deployment `d`: its pre-images back, what it added gone, the state file last.
    fn undo(&self, main: &mut Conn, d: &Dep, force: bool, rb: &Dep) -> anyhow::Result<()> {
        let view = View::load(main.as_mut(), &self.record)?;
        let mut conflicts = Vec::new();
        for t in &d.touched {
            let now = view.believed.get(&t.path).map(Believed::hash_hex);
            if !force && (now != t.after || view.drifted(&t.path)) {
                conflicts.push(Conflict {
                    path: t.path.clone(),
                    expected: t.after.clone(),
                    found: now.or_else(|| view.drifted(&t.path).then(|| "drift".into())),
                });
            }
        }
        if !conflicts.is_empty() {
            return Err(DeployError::Conflicts(conflicts).into());
        }
        let mut puts = Vec::new();
        for t in &d.touched {
            if let Some(h) = &t.before {
                let blob = self.record.blob(h);
                let (got, size) = crate::engine::deploy::package::hash_file(&blob)
                    .with_context(|| format!("the pre-image of {} is not kept", t.path))?;
                if &got != h {
                    anyhow::bail!("the kept pre-image of {} is damaged", t.path);
                }
                puts.push(Put {
                    path: t.path.clone(),
                    from: Source::File(blob),
                    mode: t.before_mode.unwrap_or(0o644),
                    size,
                    hash: h.clone(),
                    before: None,
                    before_mode: None,
                });
            }
        }
        // The rollback's own journal lines are its "after": reuse the push machinery.
        let mut journal = self.record.journal_writer()?;
        self.put_all(main, &view, None, puts, &mut journal, rb)?;
        for t in d.touched.iter().filter(|t| t.before.is_none()) {
            if view.listed.contains_key(&t.path) {
                main.remove(&t.path)
                    .with_context(|| format!("cannot delete {}", t.path))?;
            }
            journal.add(&Touched {
                path: t.path.clone(),
                before: t.after.clone(),
                before_mode: t.after_mode,
                after: None,
                after_mode: None,
                after_size: 0,
                pending: false,
            })?;
            self.log(rb, "info", format!("deleted {}", t.path));
            for p in parents(&t.path).collect::<Vec<_>>().into_iter().rev() {
                let _ = main.rmdir(p);
            }
        }
        let touched = self.record.journal_done()?;
        self.write_state(main, &view, &touched)?;
        self.record.clear_journal()?;
        let mut undone = d.clone();
        undone.status = "rolled_back".into();
        self.record.update(&undone)?;
        Ok(())
    }
}

/// `devsky deploy adopt`: hash every file of the target once (downloading it) and write
/// the state file, so that it can be planned against. A target that has one is refused
/// unless `force`.
pub fn adopt(fs: &mut dyn RemoteFs, record: &Record, force: bool) -> anyhow::Result<i64> {
    let view = View::load(fs, record)?;
    if view.has_state && !force {
        anyhow::bail!("the target already has a .devsky-state; adopt --force hashes it all again");
    }
    let mut dep = record.start("adopt", None, "hash the files on the server")?;
    let r = (|| {
        let mut state = BTreeMap::new();
        for (path, l) in &view.listed {
            let h = hash_remote(fs, path, None)?;
            state.insert(
                path.clone(),
                Believed {
                    hash: parse_hash(&h)?,
                    size: l.size,
                    mode: l.mode.unwrap_or(0o644),
                    mtime: Some(l.mtime),
                },
            );
        }
        let tmp = tempfile::tempdir()?;
        let local = tmp.path().join("state.map");
        write_entries(&state, &local)?;
        if !view.root_exists {
            fs.make_root()?;
        }
        let temp = temp_name(STATE_FILE);
        fs.put(&temp, &mut std::fs::File::open(&local)?)?;
        fs.rename(&temp, STATE_FILE)?;
        record.clear_journal()?;
        Ok::<_, anyhow::Error>(state.len())
    })();
    match &r {
        Ok(n) => {
            dep.summary = format!("adopted {n} file(s)");
            let _ = record.add_log(dep.id, "success", &dep.summary);
        }
        Err(e) => {
            let _ = record.add_log(dep.id, "error", &format!("{e:#}"));
        }
    }
    record.finish(&mut dep, r.as_ref().err())?;
    r.map(|_| dep.id)
}
