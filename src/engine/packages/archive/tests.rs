//! Archive tests: exact round trips (examples and proptest), hostile input (no panic on
//! any bytes, truncation at every offset, claimed lengths far beyond the input, bad
//! paths), and plain Coresky archives written here byte by byte from the format's rules.

use proptest::prelude::*;

use super::*;

fn rec(id: i64, name: &str, body: &[u8]) -> Entry {
    Entry::Record(Record {
        id,
        name: name.into(),
        version: "1".into(),
        kind: "file".into(),
        status: "new".into(),
        authors: "ann+bob".into(),
        body: body.to_vec(),
    })
}

fn sample() -> Archive {
    Archive {
        header: Header {
            name: "shop".into(),
            version: "1.2.0".into(),
            sky_id: 0,
            app: "shop".into(),
            depends: vec!["dev@^1".into(), "shop@1.1.0".into()],
            included: vec!["shop@1.1.0".into(), "work".into()],
            priorun: vec!["50001".into(), "visual".into()],
            authors: "ann".into(),
            start_id: 50001,
            ..Header::default()
        },
        entries: vec![
            rec(7, "f:index.php", b"<?php echo 1;\n"),
            rec(50001, "f:a b/c.php", b"RUN CODEBASE: 50002\n"),
            rec(50002, "sql:forward", b""),
            rec(50003, "f:logo.png", &[0x89, b'P', 0, 255, b'\n']),
        ],
    }
}

/// The header fields the writer sets itself.
fn without_seal(mut h: Header) -> Header {
    h.format.clear();
    h.records = 0;
    h.checksum.clear();
    h
}

#[test]
fn round_trip_is_exact_and_deterministic() {
    let a = sample();
    let bytes = write(&a).unwrap();
    assert!(bytes.starts_with(b"BZh9"));
    assert_eq!(
        write(&a).unwrap(),
        bytes,
        "the same archive, the same bytes"
    );
    let back = read(&bytes).unwrap();
    assert_eq!(back.entries, a.entries);
    assert!(back.header.is_devsky());
    assert_eq!(back.header.records, 4);
    assert_eq!(without_seal(back.header.clone()), a.header);
    // Plain (uncompressed) reads the same.
    assert_eq!(read(&write_plain(&a).unwrap()).unwrap(), back);
    // And the header alone.
    assert_eq!(read_header(&bytes).unwrap(), back.header);
}

#[test]
fn plain_layout_is_the_documented_one() {
    let a = Archive {
        header: Header {
            name: "x".into(),
            version: "1".into(),
            ..Header::default()
        },
        entries: vec![rec(50001, "f:a.txt", b"hi")],
    };
    let text = String::from_utf8(write_plain(&a).unwrap()).unwrap();
    let body = "ATTRS: 37\nkind file\nstatus new\nauthors ann+bob\n\nRECORD: 50001 f:a.txt 1 2\nhi\nEND:\n";
    let sum = blake3::hash(body.as_bytes()).to_hex().to_string();
    let expected = format!(
        "format devsky-package 1\nname x\nversion 1\nsky_id 0\napp\ndepends\nincluded\npriorun\n\
         authors\nstart_id 0\nrecords 1\nchecksum {sum}\n\n{body}"
    );
    assert_eq!(text, expected);
}

#[test]
fn a_changed_byte_fails_the_checksum() {
    let mut plain = write_plain(&sample()).unwrap();
    let at = plain.windows(4).position(|w| w == b"echo").unwrap();
    plain[at] = b'E';
    let err = read(&plain).unwrap_err();
    assert!(matches!(err, ArchiveError::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("damaged or was changed"), "{err}");
}

#[test]
fn every_truncation_is_a_clear_error() {
    let plain = write_plain(&sample()).unwrap();
    for cut in 0..plain.len() - 1 {
        // Cutting only the last newline of END: leaves `END:` without it: still an error.
        let err = read(&plain[..cut]).unwrap_err();
        assert!(
            matches!(err, ArchiveError::Truncated(_) | ArchiveError::Invalid(_)),
            "cut at {cut}: {err:?}"
        );
    }
    let bz = write(&sample()).unwrap();
    for cut in [0, 3, 10, bz.len() / 2, bz.len() - 1] {
        let err = read(&bz[..cut]).unwrap_err();
        assert!(
            matches!(err, ArchiveError::Truncated(_) | ArchiveError::Invalid(_)),
            "bz cut at {cut}: {err:?}"
        );
    }
}

#[test]
fn a_huge_claimed_length_allocates_nothing_and_fails() {
    let head = "name x\n\nFILE: a.txt 99999999999\nabc";
    let err = read(head.as_bytes()).unwrap_err();
    assert!(err.to_string().contains("at most"), "{err}");
    // Under the per-entry limit but far beyond the input: truncated, after 3 bytes.
    let head = format!("name x\n\nFILE: a.txt {}\nabc", limits::ENTRY_BYTES);
    let err = read(head.as_bytes()).unwrap_err();
    assert!(
        matches!(&err, ArchiveError::Truncated(m) if m.contains("ends after 3")),
        "{err:?}"
    );
    let err = read(b"name x\n\nFILE: a.txt 184467440737095516160\n").unwrap_err();
    assert!(err.to_string().contains("byte length"), "{err}");
}

#[test]
fn hostile_paths_and_names_are_refused() {
    for p in [
        "/etc/passwd",
        "../x",
        "a/../../x",
        "a//b",
        "./a",
        "a/",
        "a\\b",
        "",
        "a\u{0}b",
    ] {
        let text = format!("name x\n\nFILE: {p} 1\nz\nEND:\n");
        assert!(read(text.as_bytes()).is_err(), "{p:?} accepted");
        assert!(check_path(p).is_err(), "{p:?}");
    }
    let text = "name x\n\nDIRS: 8\nok ../up\nEND:\n";
    assert!(
        read(text.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("..")
    );
    // A record named as a file is a path too.
    let mut a = sample();
    a.entries = vec![rec(50001, "f:../../etc/x", b"")];
    assert!(write(&a).is_err());
    let text = "format devsky-package 1\nname x\nchecksum 0000000000000000000000000000000000000000000000000000000000000000\n\nRECORD: 50001 f:/etc/x 1 0\n\nEND:\n";
    assert!(
        read(text.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("absolute")
    );
}

#[test]
fn duplicate_ids_unknown_entries_and_trailing_data_are_refused() {
    let dup = "name x\n\nRECORD: 5 a 1 0\n\nRECORD: 5 b 1 0\n\nEND:\n";
    assert!(
        read(dup.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
    let unknown = "name x\n\nEVIL: 3\nabc\nEND:\n";
    assert!(
        read(unknown.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("unknown entry")
    );
    let trailing = "name x\n\nEND:\nmore";
    assert!(
        read(trailing.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("after END")
    );
    let no_newline = "name x\n\nSQL: 2\nabcEND:\n";
    assert!(
        read(no_newline.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("newline")
    );
    let dup_key = "name x\nname y\n\nEND:\n";
    assert!(
        read(dup_key.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("twice")
    );
    let other = "format zip 2\n\nEND:\n";
    assert!(
        read(other.as_bytes())
            .unwrap_err()
            .to_string()
            .contains("unknown archive format")
    );
}

/// A Coresky archive as its installer writes it (FORMATS.md), bytes written here.
fn coresky_bytes() -> Vec<u8> {
    let mut b = Vec::new();
    b.extend_from_slice(
        b"type app\nmod_required mbstring pdo\ndesc A shop\nversion 0.3\nwww public\n",
    );
    b.extend_from_slice(b"compiled Europe/Kyiv 1700000000 0.611 0.3\nftrd 2.1.3.2\n\n");
    let dirs = b"public public/img";
    b.extend_from_slice(format!("DIRS: {}\n", dirs.len()).as_bytes());
    b.extend_from_slice(dirs);
    b.push(b'\n');
    for (path, data) in [
        ("public/index.php", &b"<?php\nrequire 'main/app.php';\n"[..]),
        (
            "public/img/dot.gif",
            &b"GIF89a\x01\x00\x01\x00\x00\xff\x00\n"[..],
        ),
    ] {
        b.extend_from_slice(format!("FILE: {path} {}\n", data.len()).as_bytes());
        b.extend_from_slice(data);
        b.push(b'\n');
    }
    let sql = b"CREATE TABLE t (id int);\nINSERT INTO t VALUES (1);\n";
    b.extend_from_slice(format!("SQL: {}\n", sql.len()).as_bytes());
    b.extend_from_slice(sql);
    b.extend_from_slice(b"\nEND:\n");
    b
}

#[test]
fn coresky_archives_read_plain_and_bzip2() {
    let plain = coresky_bytes();
    let a = read(&plain).unwrap();
    assert!(!a.header.is_devsky());
    assert_eq!(a.header.version, "0.3");
    assert_eq!(a.header.extra[0], ("type".into(), "app".into()));
    assert_eq!(a.header.extra[1].1, "mbstring pdo");
    assert_eq!(a.entries.len(), 4);
    assert_eq!(
        a.entries[0],
        Entry::Dirs(vec!["public".into(), "public/img".into()])
    );
    assert!(
        matches!(&a.entries[2], Entry::File { path, data } if path == "public/img/dot.gif" && data.len() == 14)
    );
    // The same bytes bzip2-compressed at another level read the same.
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::new(4));
    std::io::Write::write_all(&mut enc, &plain).unwrap();
    let bz = enc.finish().unwrap();
    assert_eq!(read(&bz).unwrap(), a);
}

/// Found by the fuzz target (fuzz/): an empty Coresky archive reads (it has no name);
/// writing it as devsky's format, which needs a name, is refused rather than giving
/// bytes no reader accepts.
#[test]
fn an_archive_without_a_name_is_not_written() {
    let a = read(b"\nEND:\n").unwrap();
    assert!(a.header.name.is_empty() && a.entries.is_empty());
    let err = write_plain(&a).unwrap_err().to_string();
    assert!(err.contains("no name"), "{err}");
    assert!(write(&a).is_err());
}

fn word() -> impl Strategy<Value = String> {
    "[a-z0-9_.@^<>=,+-]{1,12}"
}

fn path() -> impl Strategy<Value = String> {
    proptest::collection::vec("[a-zA-Z0-9_ .-]{1,8}", 1..4).prop_map(|parts| {
        parts
            .into_iter()
            .map(|p| if p == "." || p == ".." { "x".into() } else { p })
            .collect::<Vec<_>>()
            .join("/")
    })
}

fn entry() -> impl Strategy<Value = Entry> {
    let body = proptest::collection::vec(any::<u8>(), 0..200);
    prop_oneof![
        (
            1i64..100_000,
            path(),
            word(),
            word(),
            word(),
            "[a-z+ ]{0,10}",
            body.clone()
        )
            .prop_map(
                |(id, name, version, kind, status, authors, body)| Entry::Record(Record {
                    id,
                    name: format!("f:{name}"),
                    version,
                    kind,
                    status,
                    authors,
                    body,
                })
            ),
        body.clone().prop_map(Entry::Sql),
        (path(), body).prop_map(|(path, data)| Entry::File { path, data }),
        proptest::collection::vec("[a-z0-9_]{1,8}", 0..4).prop_map(Entry::Dirs),
    ]
}

fn archive() -> impl Strategy<Value = Archive> {
    (
        "[a-zA-Z0-9 ._-]{1,20}",
        word(),
        0i64..1_000_000,
        proptest::collection::vec(word(), 0..4),
        proptest::collection::vec(entry(), 0..8),
    )
        .prop_map(|(name, version, sky_id, depends, mut entries)| {
            // Record ids are unique in an archive.
            let mut seen = std::collections::BTreeSet::new();
            entries.retain(|e| !matches!(e, Entry::Record(r) if !seen.insert(r.id)));
            Archive {
                header: Header {
                    name,
                    version,
                    sky_id,
                    depends: depends.clone(),
                    priorun: depends,
                    authors: "a+b".into(),
                    ..Header::default()
                },
                entries,
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn write_then_read_is_exact(a in archive()) {
        let bytes = write(&a).unwrap();
        let back = read(&bytes).unwrap();
        prop_assert_eq!(&back.entries, &a.entries);
        prop_assert_eq!(without_seal(back.header), a.header);
    }

    #[test]
    fn no_panic_on_any_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..2000)) {
        let _ = read(&bytes);
        let _ = read_header(&bytes);
    }

    #[test]
    fn no_panic_on_a_damaged_archive(
        a in archive(),
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..6),
        cut in any::<prop::sample::Index>(),
    ) {
        let mut plain = write_plain(&a).unwrap();
        for (at, b) in edits {
            let i = at.index(plain.len());
            plain[i] = b;
        }
        let n = cut.index(plain.len() + 1);
        let _ = read(&plain[..n]);
        let _ = read(&plain);
    }
}
