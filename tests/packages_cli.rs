//! Package archives through the real binary with two real stores (issue 16, point 1):
//! export -> import into another store -> export is byte-identical; floating ids are
//! rebased and `RUN CODEBASE:` references follow; a fixed id with other content is a
//! conflict that writes nothing; a Coresky archive built here byte by byte by the
//! format's rules imports; damaged archives are refused clearly. Tune, set and resolve:
//! tests/packages_tune.rs.
//!
//! The archives this test writes by hand are its own oracle: the bytes follow FORMATS.md
//! (and docs/PACKAGES.md), compressed with the bzip2 crate, hashed with the blake3 crate.

mod support;

use serde_json::Value;
use support::cli::{devsky, fails, json, ok, write};
use support::packages::*;

#[test]
fn export_import_export_is_byte_identical_with_ids_rebased() {
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src.sky");
    std::fs::write(&src, the_package()).unwrap();

    // Store A: 3 floating records first, so the package lands at 50004..50006.
    let a = project();
    occupy(a.path(), 3);
    let got = import(a.path(), &src);
    assert_eq!(got["outcome"], "imported", "{got}");
    let map: Vec<(i64, i64)> = got["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r[0].as_i64().unwrap(), r[1].as_i64().unwrap()))
        .collect();
    assert_eq!(
        map,
        vec![(7, 7), (50001, 50004), (50002, 50005), (50003, 50006)]
    );
    // References follow the floating ids; fixed ones and binary bodies do not move.
    assert_eq!(
        record(a.path(), 50004)["body"],
        "RUN CODEBASE: 50005\nRUN CODEBASE: 7\n"
    );
    assert_eq!(
        record(a.path(), 50005)["body"],
        "<?php // lib, RUN CODEBASE: 50006\n"
    );
    assert_eq!(record(a.path(), 50004)["version"], "3");
    assert_eq!(record(a.path(), 7)["body"], "<?php // fixed\n");
    assert!(record(a.path(), 50006)["body_base64"].is_string());
    let pkg = got["package"].as_i64().unwrap().to_string();

    // Export from A: renumbered from 50001 again.
    let a_sky = work.path().join("a.sky");
    ok(
        &["package", "export", &pkg, "-o", a_sky.to_str().unwrap()],
        a.path(),
    );
    let shown = json(
        &["package", "show", a_sky.to_str().unwrap(), "--json"],
        a.path(),
    );
    assert_eq!(shown["priorun"], serde_json::json!(["50003", "visual"]));
    assert_eq!(shown["start_id"], 50001);
    assert_eq!(
        shown["entries"][1],
        "RECORD 50001 f:app/main.php 3 (file, new, 36 bytes)"
    );

    // Store B: 10 floating records first, then the archive from A.
    let b = project();
    occupy(b.path(), 10);
    let got = import(b.path(), &a_sky);
    assert_eq!(got["records"][1][1], 50011, "{got}");
    assert_eq!(
        record(b.path(), 50011)["body"],
        "RUN CODEBASE: 50012\nRUN CODEBASE: 7\n"
    );
    let pkg_b = got["package"].as_i64().unwrap().to_string();
    let out = work.path().join("out");
    let listed = json(
        &[
            "package",
            "export",
            &pkg_b,
            "--dir",
            out.to_str().unwrap(),
            "--json",
        ],
        b.path(),
    );
    let b_sky = out.join("shop-1.0.0.sky");
    assert_eq!(listed[0]["file"], b_sky.to_str().unwrap());
    let (from_a, from_b) = (
        std::fs::read(&a_sky).unwrap(),
        std::fs::read(&b_sky).unwrap(),
    );
    assert!(
        from_a == from_b,
        "the re-export differs ({} vs {} bytes)",
        from_a.len(),
        from_b.len()
    );
    // And A's export is the hand-written archive's content exactly (only compression
    // levels may differ): same header and entries.
    let hand = json(
        &["package", "show", src.to_str().unwrap(), "--json"],
        a.path(),
    );
    assert_eq!(hand, shown);
}

#[test]
fn a_change_script_travels_and_comes_back_identical() {
    let work = tempfile::tempdir().unwrap();
    let a = project();
    write(a.path(), "web/index.php", b"<?php echo 'v1';\n");
    write(a.path(), "web/gone.txt", b"bye\n");
    ok(&["snapshot", "create", "--name", "before"], a.path());
    write(a.path(), "web/index.php", b"<?php echo 'v2';\n");
    write(a.path(), "web/new file.css", b"body{}\n");
    std::fs::remove_file(a.path().join("web/gone.txt")).unwrap();
    ok(
        &["script", "create", "--from", "before", "--name", "shop"],
        a.path(),
    );
    let first = work.path().join("first");
    ok(
        &[
            "package",
            "export",
            "shop",
            "--dir",
            first.to_str().unwrap(),
        ],
        a.path(),
    );
    let sky = first.join("shop-1.sky");
    let shown = json(
        &["package", "show", sky.to_str().unwrap(), "--json"],
        a.path(),
    );
    let entries: Vec<&str> = shown["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e.as_str().unwrap())
        .collect();
    assert_eq!(entries.len(), 3, "{entries:?}");
    assert!(
        entries
            .iter()
            .any(|e| e.starts_with("RECORD 50001 f:web/gone.txt 1 (change, deleted")),
        "{entries:?}"
    );
    assert!(
        entries
            .iter()
            .any(|e| e.contains("f:web/new file.css 1 (change, added")),
        "{entries:?}"
    );

    let b = project();
    occupy(b.path(), 2);
    import(b.path(), &sky);
    let again = work.path().join("again.sky");
    ok(
        &["package", "export", "1", "-o", again.to_str().unwrap()],
        b.path(),
    );
    assert!(std::fs::read(&sky).unwrap() == std::fs::read(&again).unwrap());
    // Importing the same name and version twice is a conflict.
    let out = devsky(&["package", "import", again.to_str().unwrap()], b.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already in this store"));
}

#[test]
fn a_fixed_id_with_other_content_is_a_conflict_and_nothing_is_written() {
    let work = tempfile::tempdir().unwrap();
    let b = project();
    // Record 7 here is another file.
    let other = work.path().join("other.sky");
    std::fs::write(
        &other,
        devsky_archive(
            "base",
            &[(7, "f:core/boot.php", b"<?php // other\n")],
            "",
            0,
        ),
    )
    .unwrap();
    import(b.path(), &other);
    occupy(b.path(), 2);
    let before = (count(b.path()), ok(&["package", "list"], b.path()));
    let src = work.path().join("src.sky");
    std::fs::write(&src, the_package()).unwrap();
    let out = devsky(&["package", "import", src.to_str().unwrap()], b.path());
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("conflict: fixed record 7: this store has f:core/boot.php version 3"),
        "{err}"
    );
    assert!(err.contains("nothing was imported"), "{err}");
    assert_eq!(
        (count(b.path()), ok(&["package", "list"], b.path())),
        before
    );
    // JSON says the same.
    let out = devsky(
        &["package", "import", src.to_str().unwrap(), "--json"],
        b.path(),
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["outcome"], "conflicts");
    assert_eq!(v["conflicts"].as_array().unwrap().len(), 1);
    // A reference to a floating record the archive does not hold cannot be rebased.
    let dangling = work.path().join("dangling.sky");
    std::fs::write(
        &dangling,
        devsky_archive(
            "dangling",
            &[(50001, "f:x", b"RUN CODEBASE: 50077")],
            "50078",
            0,
        ),
    )
    .unwrap();
    let out = devsky(&["package", "import", dangling.to_str().unwrap()], b.path());
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("refers to floating record 50077, which the archive does not hold"),
        "{err}"
    );
    assert!(
        err.contains("priorun refers to floating record 50078"),
        "{err}"
    );
    assert_eq!(
        (count(b.path()), ok(&["package", "list"], b.path())),
        before
    );
    // The same record 7 (same content) is shared, not a conflict.
    let c = project();
    import(c.path(), &other);
    let same = work.path().join("same.sky");
    std::fs::write(
        &same,
        devsky_archive(
            "next",
            &[
                (7, "f:core/boot.php", b"<?php // other\n"),
                (50001, "f:x", b"RUN CODEBASE: 7"),
            ],
            "",
            0,
        ),
    )
    .unwrap();
    let got = import(c.path(), &same);
    assert_eq!(got["shared"], 1, "{got}");
}

/// A Coresky archive as Coresky's installer writes it (FORMATS.md): header keys, DIRS,
/// FILEs, SQL, END — plain and as .sky.bz2.
fn coresky() -> Vec<u8> {
    let mut b = b"type app\nmod_required mbstring\ndesc Demo app\nversion 0.2\nwww public\n\
compiled UTC 1700000000 0.611 0.2\nftrd 2.1.2.2\n\n"
        .to_vec();
    let dirs = "main public";
    b.extend_from_slice(format!("DIRS: {}\n{dirs}\n", dirs.len()).as_bytes());
    for (p, d) in [
        ("main/app.php", "<?php\nclass App {}\n"),
        ("public/index.php", "<?php\nrequire '../main/app.php';\n"),
    ] {
        b.extend_from_slice(format!("FILE: {p} {}\n{d}\n", d.len()).as_bytes());
    }
    let sql = "CREATE TABLE `news` (`id` int);\nINSERT INTO `news` VALUES (1);\n";
    b.extend_from_slice(format!("SQL: {}\n{sql}\n", sql.len()).as_bytes());
    b.extend_from_slice(b"END:\n");
    b
}

#[test]
fn a_coresky_archive_imports_plain_and_bzip2() {
    let work = tempfile::tempdir().unwrap();
    let plain = work.path().join("demo.sky");
    std::fs::write(&plain, coresky()).unwrap();
    let bzf = work.path().join("demo2.sky.bz2");
    std::fs::write(&bzf, bz(&coresky())).unwrap();
    let a = project();
    occupy(a.path(), 1);
    let got = import(a.path(), &plain);
    assert_eq!(got["coresky"], true, "{got}");
    assert_eq!(got["name"], "demo");
    assert_eq!(got["version"], "0.2");
    let names: Vec<&str> = got["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r[2].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        vec!["dirs:", "f:main/app.php", "f:public/index.php", "sql:1"]
    );
    assert_eq!(record(a.path(), 50003)["body"], "<?php\nclass App {}\n");
    assert_eq!(record(a.path(), 50005)["kind"], "sql");
    // The compressed one is the same content under another name.
    let got = import(a.path(), &bzf);
    assert_eq!(got["name"], "demo2");
    assert_eq!(got["records"].as_array().unwrap().len(), 4);
    let text = ok(&["package", "show", bzf.to_str().unwrap()], a.path());
    assert!(
        text.contains("format    coresky") && text.contains("FILE public/index.php"),
        "{text}"
    );
}

#[test]
fn damaged_archives_are_refused_clearly_and_write_nothing() {
    let work = tempfile::tempdir().unwrap();
    let a = project();
    let before = count(a.path());
    let good = the_package();
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "truncated.sky",
            good[..good.len() / 2].to_vec(),
            "truncated",
        ),
        ("empty.sky", Vec::new(), "empty"),
        ("text.sky", b"hello\nworld\n".to_vec(), "truncated"),
        (
            "evil.sky",
            b"name x\n\nFILE: ../../etc/passwd 1\nx\nEND:\n".to_vec(),
            "..",
        ),
        (
            "huge.sky",
            b"name x\n\nSQL: 99999999999999\n".to_vec(),
            "at most",
        ),
        (
            "sum.sky",
            {
                let mut p = devsky_archive("x", &[(50001, "f:a", b"abc")], "", 0);
                let mut d = bzip2::read::BzDecoder::new(&p[..]);
                let mut plain = Vec::new();
                std::io::Read::read_to_end(&mut d, &mut plain).unwrap();
                let at = plain.windows(3).position(|w| w == b"abc").unwrap();
                plain[at] = b'X';
                p = bz(&plain);
                p
            },
            "checksum does not match",
        ),
    ];
    for (name, bytes, says) in cases {
        let f = work.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        let err = fails(&["package", "import", f.to_str().unwrap()], a.path());
        assert!(err.contains(says), "{name}: {err}");
        assert!(!err.contains("panicked"), "{name}: {err}");
    }
    assert_eq!(count(a.path()), before);
    assert_eq!(ok(&["package", "list"], a.path()), "");
    let err = fails(&["package", "export", "9", "-o", "x.sky"], a.path());
    assert!(
        err.contains("no package \"9\"") && err.contains("devsky package list"),
        "{err}"
    );
    assert!(!a.path().join("x.sky").exists());
}
