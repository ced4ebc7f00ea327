//! Tests of the compact map encoding: round trips in any chunking, refusals of damaged
//! and hostile streams, and downloads that tell the plain map file from the compact one.

use super::*;
use crate::engine::map::{FLAG_UNREADABLE, FLAG_UNSTABLE};

fn entry(path: &[u8], n: u64) -> Entry {
    Entry {
        path: path.to_vec(),
        kind: EntryKind::File,
        mode: 0o644,
        size: n * 1000 + 7,
        mtime_ns: 1_700_000_000_123_456_789 + (n as i64 % 5) * 999_999_937
            - (n as i64 % 3) * 3_000_000_001,
        ctime_ns: 1_700_000_000_000_000_000 + n as i64,
        ino: 1000 + n,
        hash: *blake3::hash(path).as_bytes(),
        flags: 0,
    }
}

/// A map of a web-project-like tree with odd names, a symlink and flagged entries.
fn realistic() -> Vec<Entry> {
    let mut paths: Vec<Vec<u8>> = Vec::new();
    for d in [
        "app",
        "public/assets/css",
        "public/assets/js",
        "vendor/acme/lib",
    ] {
        for i in 0..40 {
            paths.push(format!("{d}/file-{i:03}.php").into_bytes());
        }
    }
    paths.push(b"index.php".to_vec());
    paths.push(b"a.txt".to_vec());
    paths.push(b"a/x".to_vec());
    paths.push(b"odd/\xff\xfe-not-utf8".to_vec());
    paths.push(b"odd/new\nline".to_vec());
    paths.push("odd/\u{e9}t\u{e9}.txt".as_bytes().to_vec());
    paths.push(b"public/current".to_vec());
    paths.sort_by(|a, b| cmp_paths(a, b));
    let mut v: Vec<Entry> = paths
        .iter()
        .enumerate()
        .map(|(i, p)| entry(p, i as u64))
        .collect();
    for e in &mut v {
        match e.path.as_slice() {
            b"public/current" => {
                e.kind = EntryKind::Symlink;
                e.mode = 0o777;
                e.size = 8;
            }
            b"index.php" => {
                e.flags = FLAG_UNSTABLE;
                e.mtime_ns = -5;
            }
            b"a.txt" => {
                e.flags = FLAG_UNREADABLE;
                e.hash = [0; 32];
                e.mode = 0o4755;
                e.size = u64::MAX;
                e.mtime_ns = i64::MIN;
            }
            b"a/x" => e.mtime_ns = i64::MAX,
            _ => {}
        }
    }
    v
}

fn write_map(dir: &Path, entries: &[Entry], partial: bool) -> PathBuf {
    let p = dir.join("in.map");
    let mut w = MapWriter::create(&p, 1_234_567).unwrap();
    for e in entries {
        w.push(e).unwrap();
    }
    w.finish(partial).unwrap();
    p
}

fn encoded(dir: &Path, entries: &[Entry], partial: bool, chunk: usize) -> Vec<u8> {
    let p = write_map(dir, entries, partial);
    let mut out = Vec::new();
    let mut chunks = 0;
    let n = encode(MapReader::open(&p).unwrap(), chunk, |c| {
        chunks += 1;
        out.extend_from_slice(&c);
        Ok(())
    })
    .unwrap();
    assert_eq!(n, entries.len() as u64);
    assert!(chunks >= 1);
    out
}

/// Decode `bytes` fed in chunks of `chunk` bytes: the entries, started_ns and partial.
fn decode(dir: &Path, bytes: &[u8], chunk: usize) -> anyhow::Result<(Vec<Entry>, i64, bool)> {
    let out = dir.join(format!("out-{chunk}.map"));
    let mut d = Decoder::new(&out, "test");
    for c in bytes.chunks(chunk.max(1)) {
        d.feed(c)?;
    }
    let n = d.finish()?;
    let mut r = MapReader::open(&out)?;
    let entries: Vec<Entry> = r.by_ref().collect::<anyhow::Result<_>>()?;
    assert_eq!(n, entries.len() as u64);
    Ok((entries, r.started_ns, r.partial))
}

/// What survives the wire: all but ctime and inode.
fn sent(entries: &[Entry]) -> Vec<Entry> {
    entries
        .iter()
        .map(|e| Entry {
            ctime_ns: 0,
            ino: 0,
            ..e.clone()
        })
        .collect()
}

#[test]
fn round_trip_in_any_chunks() {
    let dir = tempfile::tempdir().unwrap();
    let entries = realistic();
    let bytes = encoded(dir.path(), &entries, false, 1000);
    assert_eq!(bytes, encoded(dir.path(), &entries, false, 1 << 20));
    let want = (sent(&entries), 1_234_567, false);
    for chunk in [1, 2, 7, 64, bytes.len()] {
        assert_eq!(decode(dir.path(), &bytes, chunk).unwrap(), want, "{chunk}");
    }
    // much smaller than the map file (short paths here: well under half on real trees)
    let plain = std::fs::metadata(dir.path().join("in.map")).unwrap().len();
    assert!(
        bytes.len() as u64 * 10 < plain * 6,
        "{} vs {plain}",
        bytes.len()
    );
    // no temp files left beside the maps
    for e in std::fs::read_dir(dir.path()).unwrap() {
        let name = e.unwrap().file_name();
        assert!(name.to_string_lossy().ends_with(".map"), "{name:?}");
    }
}

#[test]
fn empty_and_partial_maps() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = encoded(dir.path(), &[], false, 10);
    assert_eq!(bytes.len(), HEADER_LEN + 3);
    for chunk in [1, 100] {
        assert_eq!(
            decode(dir.path(), &bytes, chunk).unwrap(),
            (vec![], 1_234_567, false)
        );
    }
    let entries = realistic();
    let bytes = encoded(dir.path(), &entries[..3], true, 10);
    for chunk in [1, 100] {
        assert_eq!(
            decode(dir.path(), &bytes, chunk).unwrap(),
            (sent(&entries[..3]), 1_234_567, true)
        );
    }
}

/// The error for `bytes`, the same whether fed in one chunk or byte by byte.
fn refused(dir: &Path, bytes: &[u8]) -> String {
    let one = decode(dir, bytes, bytes.len()).unwrap_err();
    let each = decode(dir, bytes, 1).unwrap_err();
    let (one, each) = (format!("{one:#}"), format!("{each:#}"));
    assert_eq!(one, each);
    // nothing was written
    assert!(!dir.join(format!("out-{}.map", bytes.len())).exists());
    assert!(!dir.join("out-1.map").exists());
    one
}

/// A hand-made stream: the header, then `body`.
fn stream(body: &[u8]) -> Vec<u8> {
    let mut v = MAGIC.to_vec();
    v.push(VERSION);
    v.extend_from_slice(&7i64.to_le_bytes());
    v.extend_from_slice(body);
    v
}

/// An entry as bytes (kind file, mode 0o644, size 1, mtime delta 0).
fn raw_entry(prefix: u64, suffix: &[u8]) -> Vec<u8> {
    let mut v = vec![TAG_ENTRY];
    put_varint(&mut v, prefix);
    put_varint(&mut v, suffix.len() as u64);
    v.extend_from_slice(suffix);
    v.extend_from_slice(&[0, 0]);
    put_varint(&mut v, 0o644);
    put_varint(&mut v, 1);
    put_varint(&mut v, 0);
    v.extend_from_slice(&[9; 32]);
    v
}

fn end(count: u64) -> Vec<u8> {
    let mut v = vec![TAG_END];
    put_varint(&mut v, count);
    v.push(0);
    v
}

#[test]
fn hand_made_stream_decodes() {
    let dir = tempfile::tempdir().unwrap();
    let body = [raw_entry(0, b"a/b"), raw_entry(2, b"c"), end(2)].concat();
    let (entries, started, partial) = decode(dir.path(), &stream(&body), 1).unwrap();
    assert_eq!((started, partial), (7, false));
    let paths: Vec<&[u8]> = entries.iter().map(|e| e.path.as_slice()).collect();
    assert_eq!(paths, [b"a/b".as_slice(), b"a/c"]);
}

#[test]
fn damaged_and_hostile_streams_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let good = stream(&[raw_entry(0, b"a/b"), raw_entry(2, b"c"), end(2)].concat());
    let check = |bytes: &[u8], want: &str| {
        let err = refused(d, bytes);
        assert!(err.contains(want), "wanted {want:?} in {err:?}");
    };
    // header
    check(b"DSKYMAP\x01 a plain map file", "wrong header");
    check(b"hello, world: no map at all", "wrong header");
    check(b"DSKY", "only 4 bytes");
    check(b"", "only 0 bytes");
    let mut v3 = good.clone();
    v3[8] = 3;
    check(&v3, "version 3");
    // a folder entry in a version 1 stream (a map without folders)
    let mut dir_in_v1 = raw_entry(0, b"a");
    let kind_at = dir_in_v1.len() - 32 - 3 - 2 - 1;
    assert_eq!(dir_in_v1[kind_at], 0);
    dir_in_v1[kind_at] = 2;
    let mut v1 = stream(&[dir_in_v1, end(1)].concat());
    v1[8] = 1;
    check(&v1, "entry 1: entry kind 2");
    // truncated anywhere: no end marker
    for cut in [HEADER_LEN - 1, HEADER_LEN, HEADER_LEN + 5, good.len() - 1] {
        check(&good[..cut], "truncated");
    }
    // the count
    check(
        &stream(&[raw_entry(0, b"a"), end(2)].concat()),
        "1 entries, the end marker says 2",
    );
    check(&stream(&end(1)), "0 entries, the end marker says 1");
    // a prefix longer than the previous path
    check(
        &stream(&[raw_entry(0, b"ab"), raw_entry(3, b"c"), end(2)].concat()),
        "shares 3 bytes with a previous path of 2",
    );
    check(&stream(&raw_entry(1, b"a")), "shares 1 bytes");
    // absurd lengths, before any of the bytes arrive
    let mut huge = vec![TAG_ENTRY, 0];
    put_varint(&mut huge, u64::MAX);
    check(&stream(&huge), "a path of 18446744073709551615 bytes");
    let mut over = vec![TAG_ENTRY, 0];
    put_varint(&mut over, MAX_PATH as u64 + 1);
    check(&stream(&over), "a path of 65537 bytes");
    check(&stream(&[TAG_ENTRY, 0, 0]), "empty path");
    check(&stream(&[TAG_ENTRY, 0xff, 0xff, 0xff]), "truncated");
    check(
        &stream(&[
            TAG_ENTRY, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x02,
        ]),
        "over 64 bits",
    );
    // out of order, repeated
    check(
        &stream(&[raw_entry(0, b"b"), raw_entry(0, b"a"), end(2)].concat()),
        "a is out of map order (after b)",
    );
    check(
        &stream(&[raw_entry(0, b"a.txt"), raw_entry(1, b"/x"), end(2)].concat()),
        "a/x is out of map order (after a.txt)",
    );
    check(
        &stream(&[raw_entry(0, b"a"), raw_entry(1, b""), end(2)].concat()),
        "out of map order",
    );
    // bytes after the end, in the same chunk or later
    check(&[good.clone(), vec![0]].concat(), "bytes after the end");
    check(
        &[good.clone(), good.clone()].concat(),
        "bytes after the end",
    );
    // other damage
    let mut kind = raw_entry(0, b"a");
    kind[4] = 7;
    check(&stream(&[kind, end(1)].concat()), "entry kind 7");
    let mut mode = raw_entry(0, b"a")[..6].to_vec();
    put_varint(&mut mode, 1 << 32);
    check(&stream(&mode), "mode 4294967296 over 32 bits");
    check(&stream(&[5]), "tag 5");
    check(&stream(&[TAG_END, 0, 2]), "partial flag 2");
    // no panic on any cut or any flipped byte of a real stream
    let real = encoded(d, &realistic()[..20], false, 1 << 20);
    for i in 0..real.len() {
        let _ = decode(d, &real[..i], 3);
        let mut flipped = real.clone();
        flipped[i] ^= 0x55;
        let _ = decode(d, &flipped, 1 << 20);
    }
}

#[test]
fn download_tells_plain_from_compact() {
    let dir = tempfile::tempdir().unwrap();
    let entries = realistic();
    let compact = encoded(dir.path(), &entries, true, 4096);
    let plain = std::fs::read(dir.path().join("in.map")).unwrap();
    for (bytes, want) in [(&compact, sent(&entries)), (&plain, entries.clone())] {
        for chunk in [1, 5, 8, 9, 1 << 20] {
            let out = dir.path().join("got.map");
            let mut dl = MapDownload::new(&out);
            for c in bytes.chunks(chunk) {
                dl.feed(c).unwrap();
            }
            dl.finish().unwrap();
            let mut r = MapReader::open(&out).unwrap();
            let got: Vec<Entry> = r.by_ref().map(|e| e.unwrap()).collect();
            assert_eq!(got, want);
            assert!(r.partial);
            assert!(!dir.path().join("got.part").exists());
            std::fs::remove_file(&out).unwrap();
        }
    }
    // neither: refused; an unfinished download leaves nothing
    let out = dir.path().join("got.map");
    let mut dl = MapDownload::new(&out);
    assert!(dl.feed(b"{\"error\": \"x\"}").is_err());
    let mut dl = MapDownload::new(&out);
    dl.feed(&plain[..100]).unwrap();
    drop(dl);
    let mut dl = MapDownload::new(&out);
    dl.feed(&compact[..100]).unwrap();
    assert!(
        format!("{:#}", dl.finish().unwrap_err()).contains("truncated"),
        "compact cut short"
    );
    assert!(!out.exists() && !dir.path().join("got.part").exists());
}
