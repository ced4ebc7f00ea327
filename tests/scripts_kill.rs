//! SIGKILL of `devsky build apply` at seeded random moments (issue 14, point 2): a build
//! with files and SQL (MariaDB, run step by step and journaled; SQLite, one transaction)
//! is killed at moments drawn over the length of an uncrashed run (timed first); the next
//! devsky command (`devsky build list`) recovers it. After every case the target folder
//! is exactly the old or exactly the new tree (tests/support/tree.rs walker) and its
//! database exactly the old or the new state (MariaDB's SHOW CREATE TABLE + CHECKSUM
//! TABLE; the sqlite3 client's dump) — the same one for both — and no build is left
//! `applying`. Over a run both outcomes must occur, and kills must land in the SQL.
//!
//! A crash during recovery (point 4): after each killed build, the recovering command is
//! itself SIGKILLed at seeded random moments (one to three times, over the length of a
//! recovery, timed as the loop goes), then the next command recovers: the same oracles
//! hold, and some kills must land in a running recovery.
//!
//! The seed is printed; `DEVSKY_TEST_SEED=N` replays its moments, `DEVSKY_TEST_KILLS=N`
//! sets the number of kills (default 50). Nothing is faked: no test hooks.

mod support;
use support::mariadb::MariaDb;
use support::scripts::{
    Lab, OLD_SQL, change_files, change_sql, dump, mariadb_state, old_rows, sqlite3,
};
use support::tree::{Tree, differences, walk};

use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

/// SplitMix64: small, seeded, replayable.
struct Rng(u64);

impl Rng {
    fn from_env(test: &str) -> Rng {
        let seed = match std::env::var("DEVSKY_TEST_SEED") {
            Ok(v) => v.parse().expect("DEVSKY_TEST_SEED: a number"),
            Err(_) => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64,
        };
        eprintln!("{test}: DEVSKY_TEST_SEED={seed} replays these moments");
        Rng(seed)
    }

    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn kills() -> usize {
    std::env::var("DEVSKY_TEST_KILLS")
        .ok()
        .map(|v| v.parse().expect("DEVSKY_TEST_KILLS: a number"))
        .unwrap_or(50)
}

/// More SQL for the kill lab: tables that each get a column and changed rows, so the SQL
/// half of a build lasts long enough for kills to land in it.
fn extra_old(n: usize) -> String {
    (0..n)
        .map(|k| {
            format!(
                "CREATE TABLE extra{k}(id INTEGER PRIMARY KEY, v INTEGER NOT NULL);\
                 INSERT INTO extra{k} VALUES (1, {k}), (2, {k}), (3, {k});"
            )
        })
        .collect()
}

fn extra_change(n: usize) -> String {
    (0..n)
        .map(|k| {
            format!(
                "ALTER TABLE extra{k} ADD COLUMN w INTEGER NOT NULL DEFAULT 7;\
                 UPDATE extra{k} SET v = v + 100 WHERE id = 2;\
                 INSERT INTO extra{k}(id, v) VALUES (4, 4);"
            )
        })
        .collect()
}

/// The database side of the lab: how to reset the target to the old state and read it.
trait Side {
    fn reset_target(&self);
    fn state(&self) -> String;
}

struct Maria<'a>(&'a MariaDb, String);

impl Side for Maria<'_> {
    fn reset_target(&self) {
        self.0.sql(&format!(
            "DROP DATABASE IF EXISTS tgt; CREATE DATABASE tgt; USE tgt; {}",
            self.1
        ));
    }
    fn state(&self) -> String {
        mariadb_state(self.0, "tgt")
    }
}

struct Lite(std::path::PathBuf, std::path::PathBuf);

impl Side for Lite {
    fn reset_target(&self) {
        std::fs::copy(&self.0, &self.1).unwrap();
    }
    fn state(&self) -> String {
        dump(&self.1)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Old,
    New,
}

fn which(tree: &Tree, old: &Tree, new: &Tree, what: &str) -> End {
    if tree == old {
        End::Old
    } else if tree == new {
        End::New
    } else {
        panic!(
            "{what}: neither the old nor the new tree.\nagainst the old:\n{}\nagainst the new:\n{}",
            differences(old, tree),
            differences(new, tree)
        )
    }
}

/// The kill loop over a lab whose script `id` goes from the target's reset state to the
/// project's; `old_db`/`new_db` are the database states.
fn kill_loop(
    test: &str,
    lab: &Lab,
    id: &str,
    side: &dyn Side,
    (old_db, new_db): (&str, &str),
    require_sql: bool,
) {
    let (old, new) = (walk(&lab.old), walk(&lab.proj));
    let build = |target: &std::path::Path| {
        Command::new(env!("CARGO_BIN_EXE_devsky"))
            .args([
                "build",
                "apply",
                id,
                "--target",
                target.to_str().unwrap(),
                "--db",
                "target",
            ])
            .current_dir(&lab.proj)
            .env("DEVSKY_CONFIG_DIR", lab.proj.join(".no-config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    // One uncrashed run, timed.
    side.reset_target();
    let t0 = lab.target("t-timed");
    let start = Instant::now();
    assert!(build(&t0).wait().unwrap().success(), "the uncrashed build");
    let length = start.elapsed();
    assert_eq!(which(&walk(&t0), &old, &new, "uncrashed"), End::New);
    assert_eq!(side.state(), new_db, "the uncrashed build's database");
    eprintln!("{test}: an uncrashed build takes {length:?}");

    let mut rng = Rng::from_env(test);
    let (mut ends, mut in_sql) = (Vec::new(), 0);
    // How long a recovery takes (the longest seen; at first, a build's length).
    let (mut recovery, mut recoveries_killed) = (length, 0);
    for i in 0..kills() {
        side.reset_target();
        let target = lab.target(&format!("t{i}"));
        let at = length.mul_f64(rng.unit() * 1.1);
        let mut child = build(&target);
        std::thread::sleep(at);
        let _ = child.kill();
        child.wait().unwrap();
        // Killed in the SQL: its row says so until recovery has undone it (read by the
        // sqlite3 client, before any devsky command runs).
        let store = lab.proj.join(".devsky/dev.db");
        if sqlite3(
            &store,
            "SELECT COUNT(*) FROM _dev_builds WHERE status = 'applying' \
             AND (sql_next >= 0 OR sql_done > 0)",
        )
        .trim()
            != "0"
        {
            in_sql += 1;
        }
        // The recovering command, killed at random moments too.
        for _ in 0..1 + (rng.unit() * 3.0) as usize {
            let at = recovery.mul_f64(rng.unit() * 1.2);
            let mut child = Command::new(env!("CARGO_BIN_EXE_devsky"))
                .args(["build", "list"])
                .current_dir(&lab.proj)
                .env("DEVSKY_CONFIG_DIR", lab.proj.join(".no-config"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(at);
            if child.try_wait().unwrap().is_none() {
                recoveries_killed += 1;
            }
            let _ = child.kill();
            child.wait().unwrap();
        }
        // The next devsky command recovers.
        let t = Instant::now();
        let list = lab.json(&["build", "list", "--json"]);
        recovery = recovery.max(t.elapsed());
        let canonical = target.canonicalize().unwrap();
        let none = serde_json::json!({ "status": "none (killed before it was recorded)" });
        let last = list
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["target"] == canonical.to_str().unwrap())
            .unwrap_or(&none);
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .all(|b| b["status"] != "applying"),
            "case {i} ({at:?}): a build left applying: {list}"
        );
        let files = which(
            &walk(&target),
            &old,
            &new,
            &format!("case {i} (killed at {at:?})"),
        );
        let db = side.state();
        let db_end = if db == old_db {
            End::Old
        } else if db == new_db {
            End::New
        } else {
            panic!("case {i} (killed at {at:?}): the database is neither old nor new:\n{db}")
        };
        assert_eq!(
            files, db_end,
            "case {i} (killed at {at:?}): files and database disagree; {last}"
        );
        assert_eq!(
            files == End::New,
            last["status"] == "done",
            "case {i}: the record agrees with the target: {last}"
        );
        ends.push(files);
        let _ = std::fs::remove_dir_all(&target);
    }
    let news = ends.iter().filter(|e| **e == End::New).count();
    eprintln!(
        "{test}: {} kills: {} old, {news} new, {in_sql} during the SQL; \
         {recoveries_killed} recovering command(s) killed while running (recovery takes up to {recovery:?})",
        ends.len(),
        ends.len() - news
    );
    assert!(
        recoveries_killed > 0,
        "some kills land in a running recovery"
    );
    assert!(
        news > 0 && news < ends.len(),
        "both outcomes occur: {ends:?}"
    );
    assert!(!require_sql || in_sql > 0, "some kills land in the SQL");
}

#[test]
fn mariadb_build_killed_at_random_moments_recovers_to_old_or_new() {
    let m = MariaDb::start();
    let lab = Lab::new();
    let old_sql = format!("{OLD_SQL} {} {}", old_rows(), extra_old(12));
    m.sql(&format!("CREATE DATABASE src; USE src; {old_sql}"));
    lab.run(&["db", "add", "app", "--url", &m.url("src")]);
    lab.run(&["db", "add", "target", "--url", &m.url("tgt")]);
    let side = Maria(&m, old_sql);
    side.reset_target();
    let old_db = side.state();
    lab.snapshot("app");
    change_files(&lab.proj);
    m.sql(&format!(
        "USE src; {} {}",
        change_sql(true),
        extra_change(12)
    ));
    let id = lab.script(&[]);
    let new_db = mariadb_state(&m, "src");
    kill_loop("mariadb", &lab, &id, &side, (&old_db, &new_db), true);
}

#[test]
fn sqlite_build_killed_at_random_moments_recovers_to_old_or_new() {
    let lab = Lab::new();
    let (app, old_copy, tdb) = (
        lab.path("app.db"),
        lab.path("old.db"),
        lab.path("target.db"),
    );
    sqlite3(&app, &format!("{OLD_SQL}{}{}", old_rows(), extra_old(12)));
    std::fs::copy(&app, &old_copy).unwrap();
    lab.run(&[
        "db",
        "add",
        "app",
        "--url",
        &format!("sqlite://{}", app.display()),
    ]);
    lab.run(&[
        "db",
        "add",
        "target",
        "--url",
        &format!("sqlite://{}", tdb.display()),
    ]);
    let side = Lite(old_copy, tdb);
    side.reset_target();
    let old_db = side.state();
    lab.snapshot("app");
    change_files(&lab.proj);
    sqlite3(&app, &format!("{}{}", change_sql(false), extra_change(12)));
    let id = lab.script(&[]);
    let new_db = dump(&app);
    // (SQLite runs the SQL in one short transaction: the kills rarely land in it; the
    // crash points of the next test reach every moment of it.)
    kill_loop("sqlite", &lab, &id, &side, (&old_db, &new_db), false);
}

/// Every crash point of a SQLite build (`DEVSKY_CRASH_AT=n`: the deploy engine's, and the
/// build's own: recorded, files applied, SQL committed but not yet recorded, before
/// `done`), n = 1, 2, ... until a build completes: after each, the recovering command
/// crashes at its 1st crash point, the next one at its 2nd, ... (the SQL's undo committed
/// but not recorded among them) until one completes: exactly the old or the new state,
/// files and database alike.
#[test]
fn sqlite_build_crashed_at_every_crash_point_recovers_to_old_or_new() {
    support::need_test_hooks();
    let lab = Lab::new();
    let (app, old_copy, tdb) = (
        lab.path("app.db"),
        lab.path("old.db"),
        lab.path("target.db"),
    );
    sqlite3(&app, &format!("{OLD_SQL}{}", old_rows()));
    std::fs::copy(&app, &old_copy).unwrap();
    lab.run(&[
        "db",
        "add",
        "app",
        "--url",
        &format!("sqlite://{}", app.display()),
    ]);
    lab.run(&[
        "db",
        "add",
        "target",
        "--url",
        &format!("sqlite://{}", tdb.display()),
    ]);
    let side = Lite(old_copy, tdb);
    side.reset_target();
    let old_db = side.state();
    lab.snapshot("app");
    change_files(&lab.proj);
    sqlite3(&app, &change_sql(false));
    let id = lab.script(&[]);
    let new_db = dump(&app);
    let (old, new) = (walk(&lab.old), walk(&lab.proj));
    let mut names = std::collections::BTreeSet::new();
    let mut recovery_names = std::collections::BTreeSet::new();
    let mut ends = Vec::new();
    for n in 1.. {
        assert!(n < 500, "the build never completed");
        side.reset_target();
        let target = lab.target(&format!("c{n}"));
        let out = Command::new(env!("CARGO_BIN_EXE_devsky"))
            .args([
                "build",
                "apply",
                &id,
                "--target",
                target.to_str().unwrap(),
                "--db",
                "target",
            ])
            .current_dir(&lab.proj)
            .env("DEVSKY_CONFIG_DIR", lab.proj.join(".no-config"))
            .env("DEVSKY_CRASH_AT", n.to_string())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr).into_owned();
        if let Some(p) = err.find("crash point") {
            names.insert(err[p..].split(['(', ')']).nth(1).unwrap_or("").to_string());
        }
        // The recovery crashes too: at its 1st crash point, then (taken up again) at its
        // 2nd, ... until a recovery runs to its end.
        for m in 1.. {
            assert!(m < 100, "recovery never completed");
            let r = Command::new(env!("CARGO_BIN_EXE_devsky"))
                .args(["build", "list"])
                .current_dir(&lab.proj)
                .env("DEVSKY_CONFIG_DIR", lab.proj.join(".no-config"))
                .env("DEVSKY_CRASH_AT", m.to_string())
                .output()
                .unwrap();
            let rerr = String::from_utf8_lossy(&r.stderr);
            if let Some(p) = rerr.find("crash point") {
                recovery_names.insert(rerr[p..].split(['(', ')']).nth(1).unwrap_or("").to_string());
            }
            if r.status.success() {
                break;
            }
        }
        lab.json(&["build", "list", "--json"]);
        let files = which(
            &walk(&target),
            &old,
            &new,
            &format!("crash point {n}: {err}"),
        );
        let db = side.state();
        let db_end = if db == old_db {
            End::Old
        } else if db == new_db {
            End::New
        } else {
            panic!("crash point {n}: the database is neither old nor new:\n{db}")
        };
        assert_eq!(
            files, db_end,
            "crash point {n}: files and database disagree: {err}"
        );
        let _ = std::fs::remove_dir_all(&target);
        if out.status.success() {
            assert_eq!(files, End::New);
            break;
        }
        ends.push(files);
    }
    eprintln!("crash points reached: {names:?}; in recoveries: {recovery_names:?}");
    assert!(
        recovery_names.contains("recovery: SQL undone"),
        "a recovery crashed right after undoing the SQL: {recovery_names:?}"
    );
    for want in [
        "build: recorded",
        "build: files applied",
        "build: SQL committed",
        "build: before done",
    ] {
        assert!(
            names.contains(want),
            "crash point {want:?} reached: {names:?}"
        );
    }
    assert!(ends.contains(&End::Old));
}
