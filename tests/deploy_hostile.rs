//! Hostile packages, refused by `Package::open` with a clear message and nothing written:
//! names that leave the root, symlink texts that do, lies about contents and sizes, zips
//! damaged by hand in the bytes the zip crate would never write (non-UTF-8 names, absurd
//! entry counts, encryption, unknown compressions, a local header naming another file,
//! folder entries), and inflation over the limit or the free space. And the other side
//! of the size rules: a big file that compresses to almost nothing deploys. Every refusal
//! leaves the site and a sentinel beside it exactly as they were (`support::tree`).

mod support;

use std::path::{Path, PathBuf};

use devsky::engine::deploy::LogLine;
use devsky::engine::deploy::apply::{ApplyOptions, apply};
use devsky::engine::deploy::manifest::MANIFEST_NAME;
use devsky::engine::jobs::Progress;
use support::hostile::{E, Site, hex, manifest, patch, zip_of, zip_with};
use support::tree::{Node, walk};
use zip::CompressionMethod;

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn hostile_packages_are_refused_with_nothing_written() {
    let site = Site::new();
    let ok_file = [E::File("a.txt", b"fine")];
    let good = manifest(&ok_file, &[]);
    let z = |n: &str| site.zip(n);

    let mut cases: Vec<(&str, PathBuf, &str, ApplyOptions)> = Vec::new();
    let mut case = |name: &'static str, m: Option<Vec<u8>>, entries: &[E], want: &'static str| {
        zip_of(&z(name), m.as_deref(), entries);
        cases.push((name, z(name), want, ApplyOptions::default()));
    };
    case(
        "dotdot",
        Some(manifest(&[E::File("../evil.txt", b"x")], &[])),
        &[E::File("../evil.txt", b"x")],
        ".. component",
    );
    case(
        "absolute",
        Some(good.clone()),
        &[E::File("a.txt", b"fine"), E::File("/tmp/evil", b"x")],
        "absolute",
    );
    case(
        "backslash",
        Some(good.clone()),
        &[E::File("a.txt", b"fine"), E::File("..\\evil", b"x")],
        "backslash",
    );
    case(
        "link-out",
        Some(manifest(&[E::Link("l", "../../outside.txt")], &[])),
        &[E::Link("l", "../../outside.txt")],
        "climbs out",
    );
    case(
        "link-abs",
        Some(manifest(&[E::Link("l", "/etc/passwd")], &[])),
        &[E::Link("l", "/etc/passwd")],
        "absolute target",
    );
    case(
        "delete-out",
        Some(manifest(&ok_file, &[("../outside.txt", b"precious")])),
        &ok_file,
        ".. component",
    );
    let evil = manifest(&[E::File("a.txt", b"good")], &[]);
    case(
        "hash",
        Some(evil),
        &[E::File("a.txt", b"evil")],
        "does not match the manifest",
    );
    // The same deep in a package checked by several threads: the error still comes back.
    let names: Vec<String> = (0..300).map(|i| format!("many/f{i:03}.txt")).collect();
    let listed: Vec<E> = names.iter().map(|n| E::File(n, b"good")).collect();
    let mut sent: Vec<E> = names.iter().map(|n| E::File(n, b"good")).collect();
    sent[250] = E::File(&names[250], b"evil");
    case(
        "hash-late",
        Some(manifest(&listed, &[])),
        &sent,
        "many/f250.txt\": content hash",
    );
    case(
        "extra",
        Some(good.clone()),
        &[E::File("a.txt", b"fine"), E::File("sneaky.php", b"x")],
        "not in the manifest",
    );
    case(
        "missing",
        Some(manifest(
            &[E::File("a.txt", b"fine"), E::File("b.txt", b"b")],
            &[],
        )),
        &ok_file,
        "missing from the archive",
    );
    case("no-manifest", None, &ok_file, "no devsky-manifest.json");
    case(
        "git",
        Some(manifest(&[E::File(".git/hooks/post-merge", b"x")], &[])),
        &[E::File(".git/hooks/post-merge", b"x")],
        ".git/",
    );
    // duplicate names: write a.txt and b.txt, then rename b.txt to a.txt in the bytes
    zip_of(
        &z("dup"),
        Some(&good),
        &[E::File("a.txt", b"fine"), E::File("b.txt", b"evil")],
    );
    let mut bytes = std::fs::read(z("dup")).unwrap();
    for i in 0..bytes.len() - 5 {
        if &bytes[i..i + 5] == b"b.txt" {
            bytes[i..i + 5].copy_from_slice(b"a.txt");
        }
    }
    std::fs::write(z("dup"), bytes).unwrap();
    cases.push((
        "dup",
        z("dup"),
        "duplicate entry name \"a.txt\"",
        ApplyOptions::default(),
    ));
    // truncated: a valid package cut short
    zip_of(&z("whole"), Some(&good), &ok_file);
    let whole = std::fs::read(z("whole")).unwrap();
    std::fs::write(z("cut"), &whole[..whole.len() / 2]).unwrap();
    cases.push(("cut", z("cut"), "truncated", ApplyOptions::default()));
    std::fs::write(
        z("junk"),
        b"this is not a zip at all, not even close to one",
    )
    .unwrap();
    cases.push(("junk", z("junk"), "not a zip", ApplyOptions::default()));
    // Bombs that lie: 20 MiB of zeros whose archive and manifest declare 1000 bytes, deflated
    // and zstd; reads stop at the declared size.
    let zeros = vec![0u8; 20 << 20];
    for (name, method) in [
        ("bomb", CompressionMethod::Deflated),
        ("zbomb", CompressionMethod::Zstd),
    ] {
        let m = manifest(&[E::File("z.bin", &zeros[..1000])], &[]);
        zip_with(&z(name), Some(&m), &[E::File("z.bin", &zeros)], method);
        patch(&z(name), "z.bin", |b, l, c| {
            b[l + 22..l + 26].copy_from_slice(&1000u32.to_le_bytes());
            b[c + 24..c + 28].copy_from_slice(&1000u32.to_le_bytes());
        });
        cases.push((
            name,
            z(name),
            "inflates beyond its declared 1000 bytes",
            ApplyOptions::default(),
        ));
    }
    // over the total size limit
    let mut small = ApplyOptions::default();
    small.limits.max_total = 100;
    let big = vec![b'x'; 1000];
    zip_of(
        &z("total"),
        Some(&manifest(&[E::File("big.txt", &big)], &[])),
        &[E::File("big.txt", &big)],
    );
    cases.push(("total", z("total"), "more than 100 bytes", small));

    for (name, path, want, opts) in &cases {
        site.refused(name, path, opts, want);
        assert!(!site.dir.path().join("evil.txt").exists() && !Path::new("/tmp/evil").exists());
    }

    // the same through the binary: exit 1, a clear message
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args([
            "agent",
            "apply",
            "--root",
            s(&site.www),
            "--state",
            s(&site.dir.path().join("state")),
            s(&z("dotdot")),
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("refused"));
}

#[test]
fn zips_damaged_by_hand_are_refused() {
    let site = Site::new();
    let files = [
        E::File("a.txt", b"fine"),
        E::File("b.txt", &b"also fine"[..]),
    ];
    let m = manifest(&files, &[]);
    let fresh = |name: &str| {
        let p = site.zip(name);
        zip_of(&p, Some(&m), &files);
        p
    };

    // A name that is not UTF-8 (the zip crate reads it as CP437; devsky does not).
    let p = fresh("utf8");
    patch(&p, "b.txt", |b, l, c| {
        b[l + 30] = 0xFF;
        b[c + 46] = 0xFF;
    });
    site.refused("utf8", &p, &ApplyOptions::default(), "non-UTF-8 name");

    // Encrypted (the general purpose flag's bit 0, in both headers).
    let p = fresh("encrypted");
    patch(&p, "b.txt", |b, l, c| {
        b[l + 6] |= 1;
        b[c + 8] |= 1;
    });
    site.refused("encrypted", &p, &ApplyOptions::default(), "is encrypted");

    // LZMA (14): a compression this agent does not read.
    let p = fresh("lzma");
    patch(&p, "b.txt", |b, l, c| {
        b[l + 8..l + 10].copy_from_slice(&14u16.to_le_bytes());
        b[c + 10..c + 12].copy_from_slice(&14u16.to_le_bytes());
    });
    site.refused(
        "lzma",
        &p,
        &ApplyOptions::default(),
        "only stored, deflated and zstd are read",
    );

    // The local header names another file than the central directory (which another
    // unzip would write).
    let p = fresh("local-name");
    patch(&p, "b.txt", |b, l, _| b[l + 30] = b'c');
    site.refused(
        "local-name",
        &p,
        &ApplyOptions::default(),
        "\"b.txt\" is named \"c.txt\" in its local header",
    );

    // A folder entry (an empty folder in the zip).
    let p = site.zip("folder");
    {
        let mut z = zip::ZipWriter::new(std::fs::File::create(&p).unwrap());
        let o = zip::write::SimpleFileOptions::default();
        z.start_file(MANIFEST_NAME, o).unwrap();
        std::io::Write::write_all(&mut z, &m).unwrap();
        for (n, d) in [("a.txt", &b"fine"[..]), ("b.txt", &b"also fine"[..])] {
            z.start_file(n, o).unwrap();
            std::io::Write::write_all(&mut z, d).unwrap();
        }
        z.add_directory("empty/", o).unwrap();
        z.finish().unwrap();
    }
    site.refused(
        "folder",
        &p,
        &ApplyOptions::default(),
        "\"empty/\" is a folder entry",
    );

    // More entries than the limit, claimed by a zip64 end record before anything is read:
    // refused without allocating for them.
    let p = site.zip("count");
    let mut b = Vec::new();
    let record = b.len() as u64;
    b.extend_from_slice(b"PK\x06\x06");
    b.extend_from_slice(&44u64.to_le_bytes()); // size of the rest of the record
    b.extend_from_slice(&[45, 0, 45, 0]); // made by, needed
    b.extend_from_slice(&[0; 8]); // disk numbers
    b.extend_from_slice(&5_000_000u64.to_le_bytes()); // entries on this disk
    b.extend_from_slice(&5_000_000u64.to_le_bytes()); // entries
    b.extend_from_slice(&0u64.to_le_bytes()); // central directory size
    b.extend_from_slice(&0u64.to_le_bytes()); // its offset
    b.extend_from_slice(b"PK\x06\x07");
    b.extend_from_slice(&0u32.to_le_bytes());
    b.extend_from_slice(&record.to_le_bytes());
    b.extend_from_slice(&1u32.to_le_bytes());
    b.extend_from_slice(b"PK\x05\x06");
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&[0xFF; 4]); // entry counts: see zip64
    b.extend_from_slice(&[0xFF; 8]); // size and offset: see zip64
    b.extend_from_slice(&[0; 2]);
    std::fs::write(&p, &b).unwrap();
    site.refused(
        "count",
        &p,
        &ApplyOptions::default(),
        "5000000 entries (the limit is 1000000)",
    );
}

#[test]
fn inflation_is_limited_in_total_by_the_limit_and_the_free_space() {
    let site = Site::new();
    // 64 entries of 1 MiB of zeros: each deflates to about 1 KiB, under any rule for one
    // entry; together 64 MiB from a package of a few dozen KiB.
    let mib = vec![0u8; 1 << 20];
    let names: Vec<String> = (0..64).map(|i| format!("z/{i:02}.bin")).collect();
    let files: Vec<E> = names.iter().map(|n| E::File(n, &mib)).collect();
    let p = site.zip("many");
    zip_of(&p, Some(&manifest(&files, &[])), &files);
    assert!(std::fs::metadata(&p).unwrap().len() < 1 << 20);
    let mut limited = ApplyOptions::default();
    limited.limits.max_total = 32 << 20;
    site.refused(
        "max-size",
        &p,
        &limited,
        "more than 33554432 bytes uncompressed, the limit of this agent (--max-size)",
    );
    // 64 MiB and the margin kept spare do not fit in 100 MiB free.
    let mut tight = ApplyOptions::default();
    tight.limits.free_space = Some(100 << 20);
    site.refused(
        "free-space",
        &p,
        &tight,
        "more than the free space of the target's file system allows (104857600 bytes free",
    );
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(["agent", "apply", "--root", s(&site.www), "--state"])
        .arg(site.dir.path().join("state"))
        .args(["--max-size", "33554432"])
        .arg(&p)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains("the limit of this agent (--max-size)"),
        "{err}"
    );
    // Within both, the same package deploys.
    apply(
        &site.www,
        &site.state,
        &p,
        &ApplyOptions::default(),
        &Progress::silent(),
        &|_: &LogLine| {},
    )
    .unwrap();
    let t = walk(&site.www);
    for n in &names {
        assert_eq!(
            t.get(n.as_bytes()),
            Some(&Node::File {
                mode: 0o644,
                size: 1 << 20,
                blake3: hex(&mib)
            }),
            "{n}"
        );
    }
}

#[test]
fn a_big_file_that_compresses_to_almost_nothing_deploys() {
    let site = Site::new();
    let zeros = vec![0u8; 200 << 20];
    let files = [E::File("media/blank.img", &zeros)];
    let p = site.zip("zeros");
    zip_with(
        &p,
        Some(&manifest(&files, &[])),
        &files,
        CompressionMethod::Deflated,
    );
    assert!(
        std::fs::metadata(&p).unwrap().len() < 1 << 20,
        "ratio over 200:1"
    );
    let before = walk(&site.www);
    apply(
        &site.www,
        &site.state,
        &p,
        &ApplyOptions::default(),
        &Progress::silent(),
        &|_: &LogLine| {},
    )
    .unwrap();
    let mut after = walk(&site.www);
    assert_eq!(
        after.remove(&b"media/blank.img"[..]),
        Some(Node::File {
            mode: 0o644,
            size: 200 << 20,
            blake3: hex(&zeros),
        })
    );
    assert!(matches!(
        after.remove(&b"media"[..]),
        Some(Node::Dir { .. })
    ));
    support::tree::assert_same(&before, &after, "the rest of the root");
}
