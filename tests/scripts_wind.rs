//! Winds (issue 14, point 5): `devsky wind export` writes one sh script that is run with
//! dash, in a copy of the old state, with a PATH holding only coreutils and the database
//! client (no devsky): it applies the change (files and SQL), rolls it back, and refuses
//! a conflicting copy naming the conflict and changing nothing. Oracles: the tests' own
//! tree walker, the sqlite3 client's `.dump`, MariaDB's `SHOW CREATE TABLE` + `CHECKSUM
//! TABLE`.

mod support;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use support::mariadb::MariaDb;
use support::scripts::{
    Lab, OLD_SQL, change_files, change_sql, dump, mariadb_state, old_rows, sqlite3,
};
use support::tree::{assert_same, walk};

/// A folder of symlinks to exactly the tools a wind may use: dash as `sh`, coreutils, and
/// the database clients. devsky is not there.
fn bare_path(dir: &Path) -> PathBuf {
    let bin = dir.join("bare-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let tools = [
        "sha256sum",
        "base64",
        "mv",
        "rm",
        "mkdir",
        "chmod",
        "rmdir",
        "ln",
        "readlink",
        "dirname",
        "cut",
        "sqlite3",
        "mariadb",
        "mysql",
    ];
    for t in tools {
        let found = ["/usr/bin", "/bin"]
            .iter()
            .map(|d| Path::new(d).join(t))
            .find(|p| p.exists());
        if let Some(p) = found {
            std::os::unix::fs::symlink(p, bin.join(t)).unwrap();
        }
    }
    let dash = ["/usr/bin/dash", "/bin/dash"]
        .iter()
        .find(|p| Path::new(p).exists())
        .expect("dash is needed: apt-get install dash");
    std::os::unix::fs::symlink(dash, bin.join("sh")).unwrap();
    bin
}

/// `sh WIND ARGS` in `dir` with only the bare PATH.
fn run_wind(wind: &Path, dir: &Path, bin: &Path, args: &[&str]) -> Output {
    let out = Command::new(bin.join("sh"))
        .arg(wind)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", bin)
        .output()
        .unwrap();
    // devsky is not reachable from this PATH
    let probe = Command::new(bin.join("sh"))
        .args(["-c", "command -v devsky || echo absent"])
        .env_clear()
        .env("PATH", bin)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "absent");
    out
}

fn ok(out: &Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what}: exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn sqlite_wind_applies_rolls_back_and_refuses_a_conflicting_copy() {
    let lab = Lab::new();
    let app = lab.path("app.db");
    sqlite3(&app, &format!("{OLD_SQL}{}", old_rows()));
    let old_dump = dump(&app);
    let tdb = lab.path("target.db");
    std::fs::copy(&app, &tdb).unwrap();
    let url = format!("sqlite://{}", app.display());
    lab.run(&["db", "add", "app", "--url", &url]);
    lab.snapshot("app");
    change_files(&lab.proj);
    sqlite3(&app, &change_sql(false));
    let id = lab.script(&[]);
    let wind = lab.path("change.sh");
    let w = lab.json(&[
        "wind",
        "export",
        &id,
        "-o",
        wind.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(w["sql"], true, "{w}");
    assert!(w["files"].as_u64().unwrap() > 5, "{w}");
    let bin = bare_path(lab.dir.path());

    let target = lab.target("www");
    let db = tdb.to_str().unwrap();
    let checked = ok(&run_wind(&wind, &target, &bin, &["check"]), "check");
    assert!(checked.contains("every pre-image matches"), "{checked}");
    let checked = ok(
        &run_wind(
            &wind,
            &target,
            &bin,
            &["check", "--sqlite", tdb.to_str().unwrap()],
        ),
        "check",
    );
    assert!(checked.contains("every pre-image matches"), "{checked}");
    assert_same(&walk(&target), &walk(&lab.old), "check changes nothing");
    // SQL without a database option: refused before anything
    let out = run_wind(&wind, &target, &bin, &["apply"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--sqlite FILE"));
    assert_same(&walk(&target), &walk(&lab.old), "refused for no database");

    ok(
        &run_wind(&wind, &target, &bin, &["apply", "--sqlite", db]),
        "apply",
    );
    assert_same(
        &walk(&target),
        &walk(&lab.proj),
        "the target after the wind",
    );
    assert_eq!(dump(&tdb), dump(&app), "the target database after the wind");

    // applied twice: every touched path is a conflict now
    let again = run_wind(&wind, &target, &bin, &["apply", "--sqlite", db]);
    assert_eq!(again.status.code(), Some(2));

    ok(
        &run_wind(&wind, &target, &bin, &["rollback", "--sqlite", db]),
        "rollback",
    );
    assert_same(
        &walk(&target),
        &walk(&lab.old),
        "the target after the rollback",
    );
    assert_eq!(
        dump(&tdb),
        old_dump,
        "the target database after the rollback"
    );

    // a conflicting copy: one touched file edited, one parent turned into a file
    let other = lab.target("other");
    std::fs::write(other.join("app/m2/f12.php"), b"<?php // edited there\n").unwrap();
    std::fs::remove_dir_all(other.join("lib/gone")).unwrap();
    std::fs::write(other.join("lib/gone"), b"a file where a folder was\n").unwrap();
    let odb = lab.path("other.db");
    std::fs::copy(&tdb, &odb).unwrap();
    sqlite3(
        &odb,
        "UPDATE items SET name = 'edited there' WHERE id = 2; INSERT INTO items(id, name) VALUES (100, 'taken');",
    );
    let (tree, before) = (walk(&other), dump(&odb));
    let out = run_wind(
        &wind,
        &other,
        &bin,
        &["apply", "--sqlite", odb.to_str().unwrap()],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("file app/m2/f12.php: expected file "), "{err}");
    assert!(err.contains("file lib/gone/a.txt: expected file "), "{err}");
    assert!(err.contains("lib/gone is not a folder"), "{err}");
    assert!(
        err.contains("table items row 2: expected (2, 'item 2'"),
        "{err}"
    );
    assert!(err.contains("nothing was changed"), "{err}");
    assert_same(&walk(&other), &tree, "the refused copy");
    assert_eq!(dump(&odb), before, "the refused copy's database");
}

#[test]
fn mariadb_wind_applies_and_rolls_back_with_the_client() {
    let m = MariaDb::start();
    let lab = Lab::new();
    for db in ["src", "tgt"] {
        m.sql(&format!(
            "CREATE DATABASE {db}; USE {db}; {OLD_SQL} {}",
            old_rows()
        ));
    }
    let old = mariadb_state(&m, "tgt");
    lab.run(&["db", "add", "app", "--url", &m.url("src")]);
    lab.snapshot("app");
    change_files(&lab.proj);
    m.sql(&format!("USE src; {}", change_sql(true)));
    let id = lab.script(&[]);
    let wind = lab.path("change.sh");
    lab.run(&["wind", "export", &id, "-o", wind.to_str().unwrap()]);
    let bin = bare_path(lab.dir.path());
    let target = lab.target("www");
    let socket = m.url("tgt");
    let socket = socket.split("socket=").nth(1).unwrap();
    let opts = format!("--no-defaults --socket={socket} -uroot tgt");
    // the SQLite option for a MariaDB wind: refused
    let out = run_wind(&wind, &target, &bin, &["apply", "--sqlite", "x.db"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("use --mysql"));
    // a conflicting row in the target database: refused, named, nothing changed
    m.sql("UPDATE tgt.users SET email = 'edited@there' WHERE id = 3");
    let out = run_wind(&wind, &target, &bin, &["apply", "--mysql", &opts]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("table users row 3: expected (3, 'u3@example.org'"),
        "{err}"
    );
    assert_same(&walk(&target), &walk(&lab.old), "the refused target");
    m.sql("UPDATE tgt.users SET email = 'u3@example.org' WHERE id = 3");
    assert_eq!(mariadb_state(&m, "tgt"), old);
    ok(
        &run_wind(&wind, &target, &bin, &["apply", "--mysql", &opts]),
        "apply",
    );
    assert_same(
        &walk(&target),
        &walk(&lab.proj),
        "the target after the wind",
    );
    assert_eq!(
        mariadb_state(&m, "tgt"),
        mariadb_state(&m, "src"),
        "tgt after the wind"
    );
    ok(
        &run_wind(&wind, &target, &bin, &["rollback", "--mysql", &opts]),
        "rollback",
    );
    assert_same(
        &walk(&target),
        &walk(&lab.old),
        "the target after the rollback",
    );
    assert_eq!(mariadb_state(&m, "tgt"), old, "tgt after the rollback");
}

#[test]
fn odd_names_survive_the_shell() {
    let lab = Lab::new();
    lab.run(&["snapshot", "create", "--name", "before"]);
    let names = [
        "it's a file.txt",
        "-n",
        "dir/$HOME `x`.php",
        "ünï/cödé *.txt",
    ];
    for n in names {
        support::cli::write(&lab.proj, n, format!("content of {n}\n").as_bytes());
    }
    std::os::unix::fs::symlink("it's a file.txt", lab.proj.join("link 'q'")).unwrap();
    let id = lab.script(&[]);
    let wind = lab.path("odd.sh");
    lab.run(&["wind", "export", &id, "-o", wind.to_str().unwrap()]);
    let bin = bare_path(lab.dir.path());
    let target = lab.target("www");
    ok(&run_wind(&wind, &target, &bin, &["apply"]), "apply");
    assert_same(&walk(&target), &walk(&lab.proj), "after the wind");
    ok(&run_wind(&wind, &target, &bin, &["rollback"]), "rollback");
    assert_same(&walk(&target), &walk(&lab.old), "after the rollback");
}
