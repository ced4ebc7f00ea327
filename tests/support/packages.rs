//! Package archives for tests, written by the format's rules (FORMATS.md,
//! docs/PACKAGES.md) — bytes put together here, compressed with the bzip2 crate and
//! hashed with the blake3 crate, never by devsky's writer — and the CLI steps around them.

use std::io::Write;
use std::path::Path;

use serde_json::Value;

use super::cli::{json, ok, write};

pub fn project() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    ok(&["init"], d.path());
    d
}

/// `n` files imported as codebase records: they take floating ids, so that a package
/// imported afterwards is rebased.
pub fn occupy(root: &Path, n: usize) {
    for i in 0..n {
        write(
            root,
            &format!("pad/p{i}.txt"),
            format!("pad {i}\n").as_bytes(),
        );
    }
    ok(&["codebase", "import", "pad"], root);
}

pub fn bz(plain: &[u8]) -> Vec<u8> {
    let mut e = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::new(6));
    e.write_all(plain).unwrap();
    e.finish().unwrap()
}

/// A devsky archive by the format's rules: header, ATTRS + RECORD entries, END, checksum.
pub fn devsky_archive(
    name: &str,
    records: &[(i64, &str, &[u8])],
    priorun: &str,
    start: i64,
) -> Vec<u8> {
    archive_with(name, "1.0.0", "dev@^1", records, priorun, start)
}

/// The same, with a version and `depends` of the caller's.
pub fn archive_with(
    name: &str,
    version: &str,
    depends: &str,
    records: &[(i64, &str, &[u8])],
    priorun: &str,
    start: i64,
) -> Vec<u8> {
    let mut body = Vec::new();
    for (id, rname, data) in records {
        let attrs = "kind file\nstatus new\nauthors ann+bob\n";
        body.extend_from_slice(format!("ATTRS: {}\n{attrs}\n", attrs.len()).as_bytes());
        body.extend_from_slice(format!("RECORD: {id} {rname} 3 {}\n", data.len()).as_bytes());
        body.extend_from_slice(data);
        body.push(b'\n');
    }
    body.extend_from_slice(b"END:\n");
    let sum = blake3::hash(&body).to_hex().to_string();
    let mut out = format!(
        "format devsky-package 1\nname {name}\nversion {version}\nsky_id 0\napp shop\n\
         depends {depends}\nincluded scratch work\npriorun {priorun}\nauthors ann\n\
         start_id {start}\nrecords {}\nchecksum {sum}\n\n",
        records.len()
    )
    .into_bytes();
    out.extend_from_slice(&body);
    bz(&out)
}

pub fn the_package() -> Vec<u8> {
    devsky_archive(
        "shop",
        &[
            (7, "f:core/boot.php", b"<?php // fixed\n"),
            (
                50001,
                "f:app/main.php",
                b"RUN CODEBASE: 50002\nRUN CODEBASE: 7\n",
            ),
            (
                50002,
                "f:app/lib.php",
                b"<?php // lib, RUN CODEBASE: 50003\n",
            ),
            (50003, "f:app/logo.bin", b"\x00\x01\xffRUN CODEBASE: 50001"),
        ],
        "50003 visual",
        50001,
    )
}

pub fn record(root: &Path, id: i64) -> Value {
    json(&["codebase", "show", &id.to_string(), "--json"], root)
}

pub fn count(root: &Path) -> usize {
    json(&["codebase", "list", "--limit", "100000", "--json"], root)
        .as_array()
        .unwrap()
        .len()
}

pub fn import(root: &Path, file: &Path) -> Value {
    json(
        &["package", "import", file.to_str().unwrap(), "--json"],
        root,
    )
}
