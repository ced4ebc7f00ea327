//! Real SIGKILLs from outside, at random moments (issue 10, point 13). `devsky agent apply`
//! and `devsky agent rollback`, and `devsky serve` deploying (`POST /api/v1/push`) and
//! rolling back (`POST /api/v1/rollback`), are killed with SIGKILL at moments drawn by a
//! seeded PRNG over the whole length of an uncrashed run (timed first), then recovered: by
//! `devsky agent recover`, or by restarting `devsky serve`, whose first answer must already
//! show no lock, nothing running and the deployment the tree is at. The recovery itself is
//! killed at random moments too, then run again. After every case the root is exactly the
//! old or exactly the new tree by the tests' own walker (tests/support/tree.rs, no devsky
//! code), nothing is left behind (journal, stage, lock, a deployment still `applying`), and
//! the history agrees with the tree. Over a run both outcomes must occur for each kind,
//! and the kills must land in many stages (told by the last log line of the killed
//! process), so the moments really spread.
//!
//! The seed is printed; `DEVSKY_TEST_SEED=N` replays its moments. `DEVSKY_TEST_KILLS=N`
//! sets the kills per kind (default 50). No test hooks are needed: nothing is faked.

mod support;
use support::agent::{Agent, create_key, spawn_agent};
use support::tree::{Tree, differences, walk};

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// SplitMix64: small, seeded, replayable.
struct Rng {
    seed: u64,
    s: u64,
}

impl Rng {
    fn from_env(test: &str) -> Rng {
        let seed = match std::env::var("DEVSKY_TEST_SEED") {
            Ok(v) => v
                .parse()
                .unwrap_or_else(|_| panic!("DEVSKY_TEST_SEED={v}: not a number")),
            Err(_) => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64,
        };
        eprintln!("{test}: DEVSKY_TEST_SEED={seed} replays these moments");
        Rng { seed, s: seed }
    }

    fn next(&mut self) -> u64 {
        self.s = self.s.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.s;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn kills_per_kind() -> usize {
    std::env::var("DEVSKY_TEST_KILLS")
        .ok()
        .map(|v| v.parse().expect("DEVSKY_TEST_KILLS: a number"))
        .unwrap_or(50)
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Apply,
    Rollback,
}

/// Where a case ended: the tree it started from, or the one its run makes.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum End {
    Old,
    New,
}

fn put(root: &Path, rel: &str, content: &[u8], mode: u32) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// Pseudo-random bytes (xorshift), so big files do not compress away.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

/// The old tree (`www0`) and the new one (`src`): unchanged files to map, many small files
/// changed (backups, renames), files deleted from folders that go, files added in new
/// folders, big files (hashing, staging), a file that becomes a folder, a file that becomes
/// a symlink and back, a mode change, and a 0700 folder that stays.
fn make_trees(old: &Path, new: &Path) {
    for i in 0..150 {
        let rel = format!("same/p{}/f{i}.php", i % 10);
        let body = format!("<?php // same {i}\n").repeat(1 + i % 20);
        put(old, &rel, body.as_bytes(), 0o644);
        put(new, &rel, body.as_bytes(), 0o644);
    }
    for i in 0..200 {
        let rel = format!("mod/p{}/f{i}.php", i % 20);
        put(
            old,
            &rel,
            format!("<?php // old {i}\n").repeat(1 + i % 40).as_bytes(),
            0o644,
        );
        put(
            new,
            &rel,
            format!("<?php // new {i}\n").repeat(1 + i % 30).as_bytes(),
            0o644,
        );
    }
    for i in 0..100 {
        put(
            old,
            &format!("gone/p{}/f{i}.txt", i % 10),
            format!("gone {i}").as_bytes(),
            0o644,
        );
        put(
            new,
            &format!("add/p{}/sub/f{i}.txt", i % 10),
            format!("added {i}").as_bytes(),
            0o644,
        );
    }
    for i in 0..6 {
        let rel = format!("big/b{i}.bin");
        put(old, &rel, &noise(i, 256 << 10), 0o644);
        put(new, &rel, &noise(1000 + i, 256 << 10), 0o644);
    }
    for r in [old, new] {
        put(r, "private/keep.txt", b"kept", 0o600);
        chmod(&r.join("private"), 0o700);
    }
    put(old, "private/conf.php", b"<?php // old conf", 0o600);
    put(new, "private/conf.php", b"<?php // new conf", 0o600);
    put(old, "x", b"x was a file", 0o644);
    put(new, "x/y", b"x is a folder", 0o644);
    put(old, "tolink", b"a file", 0o644);
    std::os::unix::fs::symlink("same/p0/f0.php", new.join("tolink")).unwrap();
    std::os::unix::fs::symlink("same/p1/f1.php", old.join("fromlink")).unwrap();
    put(new, "fromlink", b"a file now", 0o644);
    put(old, "run.sh", b"#!/bin/sh\n", 0o644);
    put(new, "run.sh", b"#!/bin/sh\n", 0o755);
}

/// A root and its agent's state, the old and the new tree, and a package from one to the
/// other made by the CLI (the server's map, then `deploy package`).
struct Lab {
    dir: tempfile::TempDir,
    root: PathBuf,
    state: PathBuf,
    pkg: PathBuf,
    old: Tree,
    new: Tree,
    seed: u64,
}

impl Lab {
    fn new(seed: u64) -> Lab {
        let dir = tempfile::tempdir().unwrap();
        let (www0, src) = (dir.path().join("www0"), dir.path().join("src"));
        make_trees(&www0, &src);
        let root = dir.path().join("www");
        support::tree::copy(&www0, &root);
        let (old, new) = (walk(&www0), walk(&src));
        assert_ne!(old, new);
        assert_eq!(walk(&root), old, "the copy of the old tree");
        let state = dir.path().join("state");
        let remote = dir.path().join("remote.map");
        let mut lab = Lab {
            pkg: PathBuf::new(),
            dir,
            root,
            state,
            old,
            new,
            seed,
        };
        let o = lab
            .agent(&["map", "--out", s(&remote)])
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        let out = lab.dir.path().join("deploy");
        let o = lab
            .devsky(&[
                "deploy",
                "package",
                "--project",
                s(&src),
                "--remote-map",
                s(&remote),
                "--out",
                s(&out),
                "--json",
            ])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        lab.pkg = PathBuf::from(v["package"]["path"].as_str().unwrap());
        lab
    }

    /// The built binary, with no fault injection.
    fn devsky(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_devsky"));
        c.args(args)
            .env_remove("DEVSKY_CRASH_AT")
            .env_remove("DEVSKY_TEST_CORRUPT_STAGE")
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        c
    }

    /// `devsky agent CMD --root ROOT --state STATE ARGS...`.
    fn agent(&self, args: &[&str]) -> Command {
        let mut a = vec![
            "agent",
            args[0],
            "--root",
            s(&self.root),
            "--state",
            s(&self.state),
        ];
        a.extend_from_slice(&args[1..]);
        self.devsky(&a)
    }

    /// `agent apply PACKAGE` or `agent rollback`, its log (stderr) into `log`.
    fn spawn_run(&self, kind: Kind, log: &Path) -> Child {
        let mut c = match kind {
            Kind::Apply => self.agent(&["apply", s(&self.pkg)]),
            Kind::Rollback => self.agent(&["rollback"]),
        };
        c.stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap()
    }

    /// Where the root is by the walker, or a failure that shows how it is a mix.
    fn end(&self, ctx: &str) -> End {
        let t = walk(&self.root);
        if t == self.old {
            End::Old
        } else if t == self.new {
            End::New
        } else {
            panic!(
                "{ctx}: the root is neither the old nor the new tree\n-- against the old:\n{}\
                 -- against the new:\n{}",
                first_lines(&differences(&self.old, &t), 30),
                first_lines(&differences(&self.new, &t), 30)
            );
        }
    }

    /// No journal, no lock, no stage folder beside the root.
    fn assert_nothing_left(&self, ctx: &str) {
        let journals: Vec<_> = std::fs::read_dir(self.state.join("journal"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(journals.is_empty(), "{ctx}: journal(s) left: {journals:?}");
        assert!(
            !self.state.join("lock").exists(),
            "{ctx}: the lock is left: {}",
            std::fs::read_to_string(self.state.join("lock")).unwrap_or_default()
        );
        for e in std::fs::read_dir(self.dir.path()).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!n.contains("devsky-stage"), "{ctx}: stage folder {n} left");
        }
    }

    /// The history agrees with the tree: nothing `applying`, and the newest `done`
    /// deployment is a deploy exactly when the tree is the new one.
    fn assert_history(&self, history: &serde_json::Value, end: End, ctx: &str) {
        let h = history.as_array().unwrap();
        assert!(
            h.iter().all(|d| d["status"] != "applying"),
            "{ctx}: a deployment is left applying: {history}"
        );
        let current = h.iter().rev().find(|d| d["status"] == "done");
        let deployed = current.is_some_and(|d| d["kind"] == "deploy");
        assert_eq!(
            deployed,
            end == End::New,
            "{ctx}: the tree is {end:?} but the current deployment is {current:?}"
        );
    }

    fn agent_history(&self) -> serde_json::Value {
        let o = self
            .agent(&["history", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", text(&o.stderr));
        serde_json::from_slice(&o.stdout).unwrap()
    }

    fn ctx(&self, what: String) -> String {
        format!("seed {} ({what})", self.seed)
    }
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn first_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    let mut out: String = lines.iter().take(n).map(|l| format!("{l}\n")).collect();
    if lines.len() > n {
        out += &format!("... and {} more\n", lines.len() - n);
    }
    out
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_default()
}

/// SIGKILL a child and reap it: whether the signal ended it (false: it had exited).
fn kill(c: &mut Child) -> bool {
    let _ = c.kill();
    c.wait().unwrap().signal() == Some(9)
}

/// The stage a killed process had reached: the start of the last log line it wrote
/// ("time level message"), numbers and paths left out.
fn stage_of(log: &str) -> String {
    let Some(line) = log
        .lines()
        .rev()
        .find(|l| is_stage_line(l.as_bytes()) && l.split_whitespace().count() > 2)
    else {
        return "(nothing logged yet)".into();
    };
    let words: Vec<String> = line
        .split_whitespace()
        .skip(2)
        .take_while(|w| !w.contains('/'))
        .take(3)
        .map(|w| {
            if w.chars().any(|c| c.is_ascii_digit()) {
                "N".into()
            } else {
                w.trim_end_matches(':').to_string()
            }
        })
        .collect();
    words.join(" ")
}

/// What a run saw, for the closing assertions.
#[derive(Default)]
struct Tally {
    /// [apply, rollback]: kills; runs that ended before their kill; ends [old, new].
    kills: [usize; 2],
    early: [usize; 2],
    ends: [[usize; 2]; 2],
    stages: [BTreeMap<String, usize>; 2],
    /// Recoveries killed, and those killed while undoing a deployment.
    recovery_kills: usize,
    recovery_kills_undoing: usize,
    /// The segment of the next kill moment of each kind.
    next: [usize; 2],
}

impl Tally {
    /// The next kill moment of `kind` in a run like `p`: a random moment in each of its
    /// segments in turn (the time before its first log line, between two lines, after the
    /// last), so the moments cover the whole run and every stage, however long each is.
    fn moment(&mut self, kind: Kind, p: &Profile, rng: &mut Rng) -> Moment {
        let k = &mut self.next[kind as usize];
        let lines = *k % p.segments();
        *k += 1;
        Moment {
            lines,
            delay: p.length(lines).mul_f64(rng.unit()),
        }
    }

    fn record(&mut self, kind: Kind, stage: String, end: End) {
        let k = kind as usize;
        self.kills[k] += 1;
        self.ends[k][end as usize] += 1;
        *self.stages[k].entry(stage).or_default() += 1;
    }

    fn recovery_killed(&mut self, log: &str) {
        self.recovery_kills += 1;
        if log.contains("putting the previous tree back") {
            self.recovery_kills_undoing += 1;
        }
    }

    /// Prints what happened; fails unless both outcomes occurred for each kind, the kills
    /// hit many stages, and recoveries were killed, some while undoing.
    fn check(&self, test: &str, seed: u64) {
        for (k, name) in ["apply", "rollback"].iter().enumerate() {
            eprintln!(
                "{test}: {name}: {} kills (+{} runs ended first); old tree {} times, new {} times",
                self.kills[k], self.early[k], self.ends[k][0], self.ends[k][1]
            );
            for (stage, n) in &self.stages[k] {
                eprintln!("    {n:4}  killed after \"{stage}\"");
            }
        }
        eprintln!(
            "{test}: {} recoveries killed, {} of them while undoing",
            self.recovery_kills, self.recovery_kills_undoing
        );
        for (k, name) in ["apply", "rollback"].iter().enumerate() {
            assert!(
                self.ends[k][0] > 0 && self.ends[k][1] > 0,
                "seed {seed}: {name}: every kill ended in the same tree ({:?}): the moments \
                 did not spread over the run",
                self.ends[k]
            );
            assert!(
                self.stages[k].len() >= 5,
                "seed {seed}: {name}: kills landed in only {} stages: {:?}",
                self.stages[k].len(),
                self.stages[k]
            );
        }
        assert!(
            self.recovery_kills_undoing > 0,
            "seed {seed}: no recovery was killed while undoing ({} killed)",
            self.recovery_kills
        );
    }
}

/// An uncrashed run as seen from outside: when each of its log lines appeared, and when it
/// ended, from its start. Its segments: before the first line, between two, after the last.
#[derive(Clone, Debug, Default)]
struct Profile {
    lines: Vec<Duration>,
    end: Duration,
}

impl Profile {
    fn segments(&self) -> usize {
        self.lines.len() + 1
    }

    /// How long the segment after `lines` lines lasted.
    fn length(&self, lines: usize) -> Duration {
        let start = lines
            .checked_sub(1)
            .map_or(Duration::ZERO, |i| self.lines[i]);
        let end = self.lines.get(lines).copied().unwrap_or(self.end);
        end.saturating_sub(start)
    }
}

/// A kill moment: `delay` after the run wrote `lines` log lines.
#[derive(Debug)]
struct Moment {
    lines: usize,
    delay: Duration,
}

/// Whether a log line is a deployment's ("TIME LEVEL MESSAGE", the time first), not an
/// agent's line about a request ("devsky serve: GET ..."): only those mark the stages.
fn is_stage_line(line: &[u8]) -> bool {
    line.first().is_some_and(u8::is_ascii_digit)
}

/// Deployment lines in the log `log` after its byte `from`.
fn lines_in(log: &Path, from: usize) -> usize {
    std::fs::read(log)
        .ok()
        .and_then(|b| {
            b.get(from..).map(|t| {
                // complete lines only: the last one may be half written
                let end = t.iter().rposition(|&c| c == b'\n').map_or(0, |i| i + 1);
                t[..end]
                    .split(|&c| c == b'\n')
                    .filter(|l| is_stage_line(l))
                    .count()
            })
        })
        .unwrap_or(0)
}

/// Watches a run (just started) that writes `log` after byte `from`, until `ended()`.
fn watch(log: &Path, from: usize, mut ended: impl FnMut() -> bool) -> Profile {
    let t0 = Instant::now();
    let mut p = Profile::default();
    loop {
        let n = lines_in(log, from);
        while p.lines.len() < n {
            p.lines.push(t0.elapsed());
        }
        if ended() {
            p.end = t0.elapsed();
            return p;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits for the moment `m` of a run writing `log` after byte `from`: false if it
/// `ended()` before it wrote the lines.
fn wait_for(m: &Moment, log: &Path, from: usize, mut ended: impl FnMut() -> bool) -> bool {
    while lines_in(log, from) < m.lines {
        if ended() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(m.delay);
    true
}

// ---- `devsky agent apply|rollback|recover` ----------------------------------------------

impl Lab {
    /// An uncrashed `agent apply|rollback`: it succeeds and leaves the other tree.
    fn agent_run(&self, kind: Kind) -> Profile {
        let log = self.dir.path().join("run.log");
        let mut child = self.spawn_run(kind, &log);
        let mut status = None;
        let took = watch(&log, 0, || {
            status = child.try_wait().unwrap();
            status.is_some()
        });
        assert!(status.unwrap().success(), "{kind:?}: {}", read(&log));
        let want = if kind == Kind::Apply {
            End::New
        } else {
            End::Old
        };
        assert_eq!(self.end(&format!("uncrashed {kind:?}")), want);
        took
    }

    /// `agent recover` until it completes, killed first (each time with an even chance,
    /// at most three times) at a random moment of a recovery like `last`, the last one
    /// that undid a deployment. What happened is returned, for messages.
    fn agent_recover(
        &self,
        rng: &mut Rng,
        last: &mut Option<Profile>,
        tally: &mut Tally,
        ctx: &str,
    ) -> String {
        let mut told = String::new();
        for round in 0.. {
            let log = self.dir.path().join("recover.log");
            let mut c = self.agent(&["recover"]);
            let mut child = c
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap();
            let mut status = None;
            if let Some(p) = last.as_ref().filter(|_| round < 3 && rng.unit() < 0.5) {
                let lines = (rng.unit() * p.segments() as f64) as usize;
                let m = Moment {
                    lines,
                    delay: p.length(lines).mul_f64(rng.unit()),
                };
                let alive = wait_for(&m, &log, 0, || child.try_wait().unwrap().is_some());
                if alive && kill(&mut child) {
                    let text = read(&log);
                    told += &format!("-- recovery {round}, killed at {m:?}:\n{text}");
                    tally.recovery_killed(&text);
                    continue;
                }
            }
            let p = watch(&log, 0, || {
                status = child.try_wait().unwrap();
                status.is_some()
            });
            let text = read(&log);
            told += &format!("-- recovery {round}:\n{text}");
            assert!(status.unwrap().success(), "{ctx}: recovery failed:\n{told}");
            if text.contains("putting the previous tree back") {
                *last = Some(p);
            }
            return told;
        }
        unreachable!()
    }
}

#[test]
fn agent_apply_and_rollback_killed_at_random_moments_then_recovered() {
    let test = "agent";
    let mut rng = Rng::from_env(test);
    let lab = Lab::new(rng.seed);
    let n = kills_per_kind();
    // Uncrashed runs first (the stat cache warm, as later): how long each kind takes.
    lab.agent_run(Kind::Apply);
    lab.agent_run(Kind::Rollback);
    let full = [lab.agent_run(Kind::Apply), lab.agent_run(Kind::Rollback)];
    eprintln!(
        "{test}: an uncrashed apply: {:?}\n  a rollback: {:?}",
        full[0], full[1]
    );
    let mut last_recovery = None;
    let mut tally = Tally::default();
    let mut at = End::Old;
    for case in 0.. {
        assert!(
            case < 8 * n + 50,
            "{}: too many cases",
            lab.ctx(String::new())
        );
        let kind = if at == End::Old {
            Kind::Apply
        } else {
            Kind::Rollback
        };
        let k = kind as usize;
        if tally.kills[k] >= n {
            if tally.kills[1 - k] >= n {
                break;
            }
            lab.agent_run(kind);
            at = if at == End::Old { End::New } else { End::Old };
            continue;
        }
        let m = tally.moment(kind, &full[k], &mut rng);
        let log = lab.dir.path().join("run.log");
        let mut child = lab.spawn_run(kind, &log);
        let killed =
            wait_for(&m, &log, 0, || child.try_wait().unwrap().is_some()) && kill(&mut child);
        let ctx = lab.ctx(format!("case {case}: {kind:?} killed at {m:?}"));
        if !killed {
            // It ended before the kill: it must have succeeded.
            let after = lab.end(&ctx);
            assert!(
                after != at,
                "{ctx}: the run ended by itself without changing the tree:\n{}",
                read(&log)
            );
            tally.early[k] += 1;
            at = after;
            continue;
        }
        let stage = stage_of(&read(&log));
        let ctx = format!("{ctx}, after \"{stage}\"");
        let told = lab.agent_recover(&mut rng, &mut last_recovery, &mut tally, &ctx);
        let ctx = format!("{ctx}\n-- the run:\n{}{told}", read(&log));
        let after = lab.end(&ctx);
        lab.assert_nothing_left(&ctx);
        lab.assert_history(&lab.agent_history(), after, &ctx);
        let end = if after == at { End::Old } else { End::New };
        tally.record(kind, stage, end);
        at = after;
    }
    tally.check(test, rng.seed);
}

// ---- `devsky serve` over HTTP ------------------------------------------------------------

/// The HTTP side: a key, the package's bytes, a client.
struct Http {
    key: String,
    package: Vec<u8>,
    client: reqwest::blocking::Client,
}

impl Http {
    fn get(&self, agent: &Agent, path: &str) -> reqwest::Result<serde_json::Value> {
        self.client
            .get(format!("{}/api/v1{path}", agent.url))
            .bearer_auth(&self.key)
            .send()?
            .error_for_status()?
            .json()
    }

    /// Starts a push or a rollback on a thread of its own (its answer is not awaited: the
    /// agent may be killed while the package is on its way).
    fn start(&self, agent: &Agent, kind: Kind) -> std::thread::JoinHandle<Option<i64>> {
        let rb = match kind {
            Kind::Apply => self
                .client
                .post(format!("{}/api/v1/push?force=false", agent.url))
                .header("content-type", "application/zip")
                .body(self.package.clone()),
            Kind::Rollback => self
                .client
                .post(format!("{}/api/v1/rollback", agent.url))
                .body("{}"),
        }
        .bearer_auth(&self.key);
        std::thread::spawn(move || {
            let r = rb.send().ok()?;
            let v: serde_json::Value = r.json().ok()?;
            v["id"].as_i64()
        })
    }

    /// Whether nothing runs and the lock is free.
    fn idle(&self, agent: &Agent) -> bool {
        self.get(agent, "/status")
            .is_ok_and(|v| v["running"] == serde_json::json!([]) && v["lock"]["locked"] == false)
    }

    /// An uncrashed push or rollback, until the deployment ended: it is `done`.
    fn run(&self, agent: &Agent, kind: Kind) -> Profile {
        let from = agent.log_text().len();
        let request = self.start(agent, kind);
        let p = watch(&agent.log, from, || {
            request.is_finished() && self.idle(agent)
        });
        let id = request.join().unwrap();
        let id = id.unwrap_or_else(|| panic!("{kind:?} not started:\n{}", agent.log_text()));
        let d = self.get(agent, &format!("/deployments/{id}")).unwrap();
        assert_eq!(d["status"], "done", "{d}\n{}", agent.log_text());
        p
    }
}

impl Lab {
    /// Starts `devsky serve` and waits for its first answer, `GET /api/v1/status`; before
    /// that (each time with an even chance, at most three times) it is killed at a random
    /// moment of a start like `last`, the last one that undid a deployment. The agent and
    /// its first answer.
    fn serve(
        &self,
        http: &Http,
        rng: &mut Rng,
        last: &mut Option<Profile>,
        tally: &mut Tally,
        ctx: &str,
    ) -> (Agent, serde_json::Value) {
        for round in 0.. {
            let log = self.dir.path().join(format!("serve-{round}.log"));
            let mut agent = spawn_agent(&self.root, &self.state, log.clone(), &[], &[]);
            let mut tried = false;
            if let Some(p) = last.as_ref().filter(|_| round < 3 && rng.unit() < 0.5) {
                tried = true;
                let lines = (rng.unit() * p.segments() as f64) as usize;
                let m = Moment {
                    lines,
                    delay: p.length(lines).mul_f64(rng.unit()),
                };
                let alive = wait_for(&m, &log, 0, || agent.exited());
                let text = agent.log_text();
                if alive && !text.contains(" on http://") && agent.kill() {
                    tally.recovery_killed(&text);
                    continue;
                }
            }
            let t0 = Instant::now();
            let mut first = None;
            let p = watch(&log, 0, || match http.get(&agent, "/status") {
                Ok(v) => {
                    first = Some(v);
                    true
                }
                Err(e) => {
                    assert!(
                        e.is_connect() && t0.elapsed() < Duration::from_secs(30),
                        "{ctx}: the restarted agent does not answer ({e}):\n{}",
                        agent.log_text()
                    );
                    false
                }
            });
            if !tried && agent.log_text().contains("putting the previous tree back") {
                *last = Some(p);
            }
            return (agent, first.unwrap());
        }
        unreachable!()
    }
}

#[test]
#[ignore = "unfinished: no longer stalls (the wait ends on the answer), but every kill of 50 ends in the old tree: the kill moments do not reach the serve deployment's commit"]
fn serve_push_and_rollback_killed_at_random_moments_then_restarted() {
    let test = "serve";
    let mut rng = Rng::from_env(test);
    let lab = Lab::new(rng.seed);
    let n = kills_per_kind();
    let http = Http {
        key: create_key(&lab.root, &lab.state),
        package: std::fs::read(&lab.pkg).unwrap(),
        client: reqwest::blocking::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap(),
    };
    let mut last_start = None;
    let mut tally = Tally::default();
    let (mut agent, _) = lab.serve(&http, &mut rng, &mut None, &mut tally, "start");
    http.run(&agent, Kind::Apply);
    http.run(&agent, Kind::Rollback);
    let full = [
        http.run(&agent, Kind::Apply),
        http.run(&agent, Kind::Rollback),
    ];
    assert_eq!(lab.end("after the uncrashed runs"), End::Old);
    eprintln!(
        "{test}: an uncrashed push: {:?}\n  a rollback: {:?}",
        full[0], full[1]
    );
    let mut at = End::Old;
    for case in 0.. {
        assert!(
            case < 8 * n + 50,
            "{}: too many cases",
            lab.ctx(String::new())
        );
        let kind = if at == End::Old {
            Kind::Apply
        } else {
            Kind::Rollback
        };
        let k = kind as usize;
        if tally.kills[k] >= n {
            if tally.kills[1 - k] >= n {
                break;
            }
            http.run(&agent, kind);
            at = if at == End::Old { End::New } else { End::Old };
            continue;
        }
        let m = tally.moment(kind, &full[k], &mut rng);
        let logged = agent.log_text().len();
        let request = http.start(&agent, kind);
        // A run can log fewer lines than the profiled one: its answer ends the wait too.
        wait_for(&m, &agent.log, logged, || request.is_finished());
        // Answered, and nothing running nor locked: the deployment ended before the kill.
        let ended_first = request.is_finished() && http.idle(&agent);
        let alive = agent.kill();
        let ctx = lab.ctx(format!("case {case}: {kind:?} killed at {m:?}"));
        assert!(alive, "{ctx}: the agent had exited:\n{}", agent.log_text());
        let log = agent.log_text();
        let stage = stage_of(&log[logged.min(log.len())..]);
        let ctx = format!("{ctx}, after \"{stage}\"");
        let _ = request.join();
        let (restarted, first) = lab.serve(&http, &mut rng, &mut last_start, &mut tally, &ctx);
        agent = restarted;
        // The first answer: no lock, nothing running; the tree is recovered already.
        let after = lab.end(&ctx);
        assert_eq!(first["lock"]["locked"], false, "{ctx}: {first}");
        assert_eq!(first["running"], serde_json::json!([]), "{ctx}: {first}");
        let deployed = first["current"]["kind"] == "deploy";
        assert_eq!(deployed, after == End::New, "{ctx}: {first}");
        lab.assert_nothing_left(&ctx);
        lab.assert_history(&http.get(&agent, "/deployments").unwrap(), after, &ctx);
        let end = if after == at { End::Old } else { End::New };
        if ended_first {
            assert_eq!(
                end,
                End::New,
                "{ctx}: the deployment ended but changed nothing"
            );
            tally.early[k] += 1;
        } else {
            tally.record(kind, stage, end);
        }
        at = after;
    }
    tally.check(test, rng.seed);
}
