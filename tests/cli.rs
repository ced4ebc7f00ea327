//! The command line, run as a real process: init, codebase import/list/show/search with
//! --json, help on every subcommand, clear errors on bad input, two processes on one store.

mod support;

use support::cli::*;

use std::path::Path;
use std::process::{Command, Output};

fn sample() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, ".gitignore", b"vendor/\n");
    write(r, "index.php", b"<?php\nrequire 'app/Invoice.php';\n");
    write(
        r,
        "app/Invoice.php",
        b"<?php\nclass Invoice { function total() {} }\n",
    );
    write(r, "vendor/x.php", b"<?php // not imported");
    write(r, "img/dot.gif", b"GIF89a\x01\x00\x01\x00\x00\xff\x00");
    dir
}

#[test]
fn version_and_help_on_every_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    assert!(ok(&["--version"], dir.path()).starts_with("devsky "));
    let subcommands: &[&[&str]] = &[
        &[],
        &["init"],
        &["codebase"],
        &["codebase", "import"],
        &["codebase", "list"],
        &["codebase", "show"],
        &["codebase", "search"],
        &["demo"],
        &["keys"],
        &["settings"],
        &["settings", "set"],
    ];
    for sub in subcommands {
        let mut args = sub.to_vec();
        args.push("--help");
        let out = ok(&args, dir.path());
        assert!(out.contains("Usage: devsky"), "{sub:?}: {out}");
    }
}

#[test]
fn init_import_list_show_search_with_json() {
    let dir = sample();
    let r = dir.path();
    let init = json(&["init", "--json"], r);
    assert_eq!(init["created"], true);
    assert_eq!(json(&["init", "--json"], r)["created"], false);

    let rep = json(&["codebase", "import", "--json"], r);
    assert_eq!(rep["added"], 4, "{rep}");
    assert_eq!(rep["complete"], true);

    let list = json(&["codebase", "list", "--json"], r);
    let paths: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [".gitignore", "app/Invoice.php", "img/dot.gif", "index.php"]
    );
    for rec in list.as_array().unwrap() {
        assert!(rec["id"].as_i64().unwrap() > 50_000);
        assert_eq!(rec["area"], "floating");
    }
    let paged = json(
        &[
            "codebase", "list", "--json", "--after", "50002", "--limit", "1",
        ],
        r,
    );
    assert_eq!(paged[0]["id"], 50_003);

    let show = json(&["codebase", "show", "50002", "--json"], r);
    assert_eq!(show["name"], "f:app/Invoice.php");
    assert_eq!(show["path"], "app/Invoice.php");
    assert!(show["body"].as_str().unwrap().contains("class Invoice"));
    let gif = json(&["codebase", "show", "50003", "--json"], r);
    assert_eq!(gif["binary"], true);
    assert!(gif["body"].is_null() && gif["body_base64"].as_str().unwrap().starts_with("R0lGODlh"));
    let text = ok(&["codebase", "show", "50002"], r);
    assert!(
        text.contains("floating area") && text.contains("class Invoice"),
        "{text}"
    );

    let found = json(&["codebase", "search", "invoice", "--json"], r);
    assert_eq!(found["total"], 2);
    assert_eq!(found["hits"][0]["path"], "app/Invoice.php");
    assert!(found["hits"][0]["id"].is_i64());
    // JSON carries plain snippets and match offsets, never the terminal's markers
    let raw =
        String::from_utf8(devsky(&["codebase", "search", "invoice", "--json"], r).stdout).unwrap();
    assert!(
        !raw.contains("\\u0002") && !raw.contains('\u{2}') && !raw.contains("\\u001b"),
        "{raw}"
    );
    for h in found["hits"].as_array().unwrap() {
        let snippet = h["snippet"].as_str().unwrap();
        for m in h["matches"].as_array().unwrap() {
            let (a, b) = (
                m[0].as_u64().unwrap() as usize,
                m[1].as_u64().unwrap() as usize,
            );
            assert!(snippet[a..b].to_lowercase().starts_with("invoice"), "{h}");
        }
    }
    assert!(
        !found["hits"][0]["matches"].as_array().unwrap().is_empty(),
        "{found}"
    );
    let text = ok(&["codebase", "search", "invoice"], r);
    assert!(
        text.contains("[Invoice]") && text.contains("2 shown of 2 matching"),
        "{text}"
    );

    // the project can be named from elsewhere with -C, and from a subfolder
    let other = tempfile::tempdir().unwrap();
    let n = json(
        &["codebase", "list", "--json", "-C", r.to_str().unwrap()],
        other.path(),
    );
    assert_eq!(n.as_array().unwrap().len(), 4);
    let n = json(&["codebase", "list", "--json"], &r.join("app"));
    assert_eq!(n.as_array().unwrap().len(), 4);
}

#[test]
fn missing_records_paths_and_stores_are_clear_errors() {
    let dir = sample();
    let r = dir.path();
    let err = fails(&["codebase", "list"], r);
    assert!(err.contains("devsky init"), "{err}");
    assert!(
        !r.join(".devsky").exists(),
        "a read command must not create a store"
    );
    ok(&["init"], r);
    let err = fails(&["codebase", "show", "123"], r);
    assert!(err.contains("no codebase record with id 123"), "{err}");
    let err = fails(&["codebase", "import", "/etc"], r);
    assert!(err.contains("outside the project"), "{err}");
    let err = fails(&["codebase", "import", "nope.php"], r);
    assert!(err.contains("nope.php"), "{err}");
    let err = fails(&["/no/such/project"], r);
    assert!(err.contains("does not exist"), "{err}");
    let err = fails(&[], r);
    assert!(err.contains("needs a terminal"), "{err}");
}

#[test]
fn corrupt_newer_and_blocked_stores_are_refused_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    std::fs::create_dir(r.join(".devsky")).unwrap();
    let junk = b"garbage, not SQLite".repeat(500);
    std::fs::write(r.join(".devsky/dev.db"), &junk).unwrap();
    for args in [
        &["codebase", "list"][..],
        &["codebase", "import"][..],
        &[][..],
    ] {
        let err = fails(args, r);
        assert!(
            err.contains("damaged") && err.contains("untouched"),
            "{args:?}: {err}"
        );
        assert_eq!(std::fs::read(r.join(".devsky/dev.db")).unwrap(), junk);
    }

    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(&["init"], r);
    let conn = rusqlite::Connection::open(r.join(".devsky/dev.db")).unwrap();
    conn.execute("INSERT INTO _dev_migrations VALUES (999, 'future', 0)", [])
        .unwrap();
    drop(conn);
    let err = fails(&["codebase", "list"], r);
    assert!(
        err.contains("newer devsky") && err.contains("nothing was changed"),
        "{err}"
    );

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(".devsky"), "in the way").unwrap();
    let err = fails(&["init"], dir.path());
    assert!(err.contains("in the way"), "{err}");
}

#[test]
fn bad_keymap_and_unknown_theme_stop_the_tui_before_the_terminal_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let cfg = r.join(".no-config");
    write(&cfg, "keymap.toml", b"[keys]\n\"app.teleport\" = [\"t\"]\n");
    let out = devsky(&[], r);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        err.contains("keymap.toml") && err.contains("unknown action \"app.teleport\""),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing may reach the terminal");
    write(
        &cfg,
        "keymap.toml",
        b"[keys]\n\"app.quit\" = [\"hyper-q\"]\n",
    );
    let err = fails(&[], r);
    assert!(err.contains("unknown key \"hyper-q\""), "{err}");
    let err = fails(&["keys"], r);
    assert!(err.contains("hyper-q"), "{err}");
    std::fs::remove_file(cfg.join("keymap.toml")).unwrap();
    let err = fails(&["--theme", "neon"], r);
    assert!(
        err.contains("unknown theme") && err.contains("mono"),
        "{err}"
    );
    ok(&["settings", "set", "ui.mouse", "maybe"], r);
    let out = devsky(&[], r);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && err.contains("ui.mouse is \"maybe\": use true or false"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "nothing may reach the terminal");
}

#[test]
fn keys_lists_every_action_with_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let keys = json(&["keys", "--json"], r);
    let quit = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "app.quit")
        .unwrap();
    assert_eq!(quit["keys"], serde_json::json!(["q", "ctrl-c"]));
    write(
        &r.join(".no-config"),
        "keymap.toml",
        b"[keys]\n\"app.quit\" = \"ctrl-q\"\n",
    );
    let keys = json(&["keys", "--json"], r);
    let quit = keys
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] == "app.quit")
        .unwrap();
    assert_eq!(quit["keys"], serde_json::json!(["ctrl-q"]));
}

#[test]
fn keys_lists_key_sequences_and_refuses_a_key_that_hides_one() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let keys = json(&["keys", "--json"], r);
    let find = |keys: &serde_json::Value, id: &str| {
        keys.as_array()
            .unwrap()
            .iter()
            .find(|a| a["id"] == id)
            .unwrap()["keys"]
            .clone()
    };
    assert_eq!(find(&keys, "compare.half_left"), serde_json::json!(["zh"]));
    assert_eq!(find(&keys, "compare.half_right"), serde_json::json!(["zl"]));
    // rebound as a sequence with spaces, shown run together
    write(
        &r.join(".no-config"),
        "keymap.toml",
        b"[keys]\n\"compare.half_left\" = \"Z h\"\n",
    );
    let keys = json(&["keys", "--json"], r);
    assert_eq!(find(&keys, "compare.half_left"), serde_json::json!(["Zh"]));
    // z alone would hide zh and zl: refused, the first clash named
    write(
        &r.join(".no-config"),
        "keymap.toml",
        b"[keys]\n\"compare.wrap\" = \"z\"\n",
    );
    let err = fails(&["keys"], r);
    assert!(
        err.contains("z starts the key sequence zh (compare.half_left)")
            && err.contains("compare.wrap"),
        "{err}"
    );
}

#[test]
fn settings_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(&["settings", "set", "theme", "dark"], r);
    assert_eq!(ok(&["settings", "get", "theme"], r).trim(), "dark");
    assert_eq!(json(&["settings", "list", "--json"], r)["theme"], "dark");
    ok(&["settings", "unset", "theme"], r);
    assert!(!devsky(&["settings", "get", "theme"], r).status.success());
}

#[test]
fn two_processes_write_one_store_side_by_side() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    for side in ["a", "b"] {
        for i in 0..700 {
            write(
                r,
                &format!("{side}/f{i:04}.php"),
                format!("<?php // {side} {i}").as_bytes(),
            );
        }
    }
    ok(&["init"], r);
    let spawn = |side: &str, round: usize| {
        Command::new(env!("CARGO_BIN_EXE_devsky"))
            .args(["codebase", "import", side])
            .current_dir(r)
            .env("USER", format!("{side}{round}"))
            .output()
            .unwrap()
    };
    for round in 0..3 {
        if round > 0 {
            // change some files so later rounds write too
            for side in ["a", "b"] {
                for i in (0..700).step_by(7) {
                    write(
                        r,
                        &format!("{side}/f{i:04}.php"),
                        format!("<?php // {side} {i} r{round}").as_bytes(),
                    );
                }
            }
        }
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(|| spawn("a", round));
            let b = s.spawn(|| spawn("b", round));
            (a.join().unwrap(), b.join().unwrap())
        });
        for out in [a, b] {
            assert!(
                out.status.success(),
                "concurrent import failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    let list = json(&["codebase", "list", "--json", "--limit", "5000"], r);
    let list = list.as_array().unwrap();
    assert_eq!(list.len(), 1400);
    let ids: std::collections::HashSet<i64> =
        list.iter().map(|x| x["id"].as_i64().unwrap()).collect();
    assert_eq!(ids.len(), 1400);
    let changed = list.iter().filter(|x| x["version"] == "3").count();
    assert_eq!(
        changed,
        2 * 100,
        "every file changed in rounds 1 and 2 is at version 3"
    );
}

/// Run devsky as an unprivileged user (root ignores file permissions).
fn as_nobody(args: &[&str], cwd: &Path) -> Output {
    let mut cmd = support::nobody::devsky_as_nobody();
    cmd.args(args)
        .current_dir(cwd)
        .env("HOME", cwd)
        .output()
        .expect("run devsky (setpriv from util-linux when root)")
}

#[test]
fn an_unwritable_project_is_a_clear_error_and_nothing_is_written() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ro");
    write(&root, "index.php", b"<?php");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o555)).unwrap();
    for args in [&["init", "."][..], &["codebase", "import"][..], &[][..]] {
        let out = as_nobody(args, &root);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert!(
            err.contains("cannot create") && err.contains("writable"),
            "{args:?}: {err}"
        );
    }
    assert!(!root.join(".devsky").exists());
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_closed_pipe_ends_quietly() {
    // Enough output to fill a pipe: `devsky map` of 4,000 files is ~300 KB.
    let dir = tempfile::tempdir().unwrap();
    for i in 0..4000 {
        write(dir.path(), &format!("d{}/file-{i}.txt", i % 10), b"x");
    }
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_devsky"))
        .arg("map")
        .current_dir(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = [0u8; 100];
    std::io::Read::read_exact(child.stdout.as_mut().unwrap(), &mut first).unwrap();
    drop(child.stdout.take()); // `| head -c 100`
    let out = child.wait_with_output().unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.code() == Some(0) || out.status.signal() == Some(libc::SIGPIPE),
        "status {:?}",
        out.status
    );
    assert!(
        out.stderr.is_empty(),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn dash_c_works_before_any_subcommand() {
    let dir = sample();
    let r = dir.path();
    ok(&["init"], r);
    ok(&["codebase", "import"], r);
    let elsewhere = tempfile::tempdir().unwrap();
    let here = r.to_str().unwrap();
    let n = json(
        &["-C", here, "codebase", "list", "--json"],
        elsewhere.path(),
    );
    assert!(!n.as_array().unwrap().is_empty(), "{n}");
    let err = fails(
        &["-C", "/no/such/folder", "codebase", "list"],
        elsewhere.path(),
    );
    assert!(err.contains("cannot change to /no/such/folder"), "{err}");
}

#[test]
fn an_unknown_command_is_not_taken_for_a_path() {
    let dir = tempfile::tempdir().unwrap();
    let out = devsky(&["snapshto", "list"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("unknown command \"snapshto\"") && err.contains("did you mean snapshot"),
        "{err}"
    );
    let out = devsky(&["snapshto"], dir.path());
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean snapshot"));
}

#[test]
fn a_failure_with_json_is_a_json_object_on_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let out = devsky(&["codebase", "list", "--json"], dir.path());
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {:?}",
            String::from_utf8_lossy(&out.stdout)
        )
    });
    assert_eq!(v["code"], 1);
    let msg = v["error"].as_str().unwrap();
    assert!(
        !msg.is_empty() && String::from_utf8_lossy(&out.stderr).contains(msg),
        "{v}"
    );
}

#[test]
fn shell_completions_complete_and_the_man_page_renders() {
    let dir = tempfile::tempdir().unwrap();
    let script = ok(&["completions", "bash"], dir.path());
    let file = dir.path().join("devsky.bash");
    std::fs::write(&file, script).unwrap();
    // bash itself runs the completion function, as a user's Tab would.
    let complete = |words: &str, cword: usize| {
        // A completion function gets the command, the current word and the one before.
        let w: Vec<&str> = words.split(' ').collect();
        let sh = format!(
            "source {}; COMP_WORDS=({words}); COMP_CWORD={cword}; _devsky devsky {} {}; \
             echo \"${{COMPREPLY[@]}}\"",
            file.display(),
            w[cword],
            w[cword - 1]
        );
        let o = Command::new("bash")
            .args(["-c", &sh])
            .output()
            .expect("bash is needed");
        String::from_utf8(o.stdout).unwrap()
    };
    assert_eq!(complete("devsky snap", 1).trim(), "snapshot");
    assert_eq!(complete("devsky snapshot d", 2).trim(), "delete diff");
    for shell in ["zsh", "fish"] {
        let s = ok(&["completions", shell], dir.path());
        assert!(
            s.contains("snapshot") && s.contains("deploy"),
            "{shell}: {s}"
        );
    }
    let bad = fails(&["completions", "tcsh"], dir.path());
    assert!(bad.contains("bash") && bad.contains("zsh"), "{bad}");

    // The man page, rendered by groff as man(1) would.
    std::fs::write(dir.path().join("devsky.1"), ok(&["man"], dir.path())).unwrap();
    let o = Command::new("groff")
        .args(["-man", "-Tutf8", "-P-cbou"])
        .arg(dir.path().join("devsky.1"))
        .output()
        .expect("groff is needed for this test: apt-get install groff-base (scripts/test does)");
    let page = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && page.contains("NAME") && page.contains("snapshot"),
        "{page}"
    );
}

#[test]
fn long_operations_show_progress_on_a_terminal_and_stay_quiet_otherwise() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..20_000 {
        write(
            dir.path(),
            &format!("d{}/f{i}.txt", i % 40),
            &vec![b'x'; i % 2000],
        );
    }
    // stderr on a terminal: script(1) gives the command a pty and records what it drew.
    let ts = dir.path().join("typescript");
    let cmd = format!("{} map > /dev/null", env!("CARGO_BIN_EXE_devsky"));
    let o = Command::new("script")
        .args(["-qec", &cmd])
        .arg(&ts)
        .current_dir(dir.path())
        .output()
        .expect("script(1) is needed: apt-get install bsdutils");
    assert!(o.status.success());
    let drawn = String::from_utf8_lossy(&std::fs::read(&ts).unwrap()).into_owned();
    assert!(
        drawn.contains("mapping") && drawn.contains("/s"),
        "no progress drawn: {drawn}"
    );
    assert!(
        drawn.contains("20,000/20,000") || drawn.contains("ETA"),
        "no counts: {drawn}"
    );
    // stderr to a pipe: no bar, no control characters.
    let out = devsky(&["map"], dir.path());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        !err.contains('\r') && !err.contains('\x1b') && !err.contains("/s"),
        "{err}"
    );
}
