//! Tests of mapping real trees: hashes equal b3sum's, the stat cache, edits that keep
//! size and mtime, odd names, symlinks, files that change or cannot be read.

use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::process::Command;

use super::format::MapReader;
use super::scan::{ScanOptions, scan};
use super::{Entry, EntryKind};
use crate::engine::jobs::Progress;

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, data).unwrap();
}

fn map(root: &Path, cache: &Path) -> (Vec<Entry>, super::scan::ScanReport) {
    let r = scan(
        root,
        Some(cache),
        cache,
        &ScanOptions::default(),
        &Progress::silent(),
    )
    .unwrap();
    (MapReader::open(cache).unwrap().read_all().unwrap(), r)
}

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    write(r, "index.php", b"<?php echo 1;");
    write(r, "a/b/c.txt", &vec![b'x'; 300_000]);
    write(r, "a.txt", b"");
    write(r, ".htaccess", b"Deny from all");
    write(r, ".gitignore", b"*.log\n");
    write(r, "debug.log", b"ignored");
    write(r, ".git/HEAD", b"never mapped");
    write(r, ".devsky/dev.db", b"never mapped");
    dir
}

#[test]
fn maps_in_order_with_the_ignore_rules() {
    let dir = tree();
    let cache = dir.path().join(".devsky/cache/worktree.map");
    let (entries, rep) = map(dir.path(), &cache);
    let paths: Vec<String> = entries.iter().map(|e| e.path_lossy()).collect();
    assert_eq!(
        paths,
        [".gitignore", ".htaccess", "a/b/c.txt", "a.txt", "index.php"]
    );
    assert_eq!(
        (rep.files, rep.hashed, rep.cached, rep.partial),
        (5, 5, 0, false)
    );
    assert_eq!(
        entries[2].hash,
        *blake3::hash(&vec![b'x'; 300_000]).as_bytes()
    );
    assert_eq!(entries[2].size, 300_000);
}

#[test]
fn hashes_equal_b3sum() {
    let have = Command::new("b3sum").arg("--version").output();
    assert!(
        have.is_ok_and(|o| o.status.success()),
        "b3sum is needed for this test: apt-get install b3sum (scripts/test does)"
    );
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    // 300 files of many sizes (empty, around the 64 KiB hashing chunk, a few hundred KB)
    // in nested folders, some with spaces in their names.
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    for i in 0..300u64 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let size = match i % 5 {
            0 => 0,
            1 => (seed % 200) as usize,
            2 => 65_536 + (seed % 3) as usize - 1,
            3 => (seed % 400_000) as usize,
            _ => (seed % 5_000) as usize,
        };
        let data: Vec<u8> = (0..size).map(|k| (k as u64 ^ seed) as u8).collect();
        write(r, &format!("d{}/s {}/f{i}.bin", i % 7, i % 3), &data);
    }
    let cache = r.join(".devsky/cache/worktree.map");
    let (entries, _) = map(r, &cache);
    let files: Vec<String> = entries.iter().map(|e| e.path_lossy()).collect();
    let out = Command::new("b3sum")
        .arg("--")
        .args(&files)
        .current_dir(r)
        .output()
        .unwrap();
    assert!(out.status.success());
    let b3: Vec<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (h, p) = l.split_once("  ").unwrap();
            (p.to_string(), h.to_string())
        })
        .collect();
    let ours: Vec<(String, String)> = entries
        .iter()
        .map(|e| (e.path_lossy(), e.hash_hex()))
        .collect();
    assert_eq!(ours.len(), b3.len());
    assert_eq!(ours, b3);
}

#[test]
fn the_stat_cache_skips_unchanged_files_and_catches_edits() {
    let dir = tree();
    let r = dir.path();
    let cache = r.join(".devsky/cache/worktree.map");
    map(r, &cache);
    // Files written just before a map are "racily clean": wait so the cache is trusted.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    map(r, &cache);
    let (_, rep) = map(r, &cache);
    assert_eq!((rep.hashed, rep.cached), (0, 5));

    // An edit that keeps size and mtime is caught through ctime/inode.
    let p = r.join("index.php");
    let before = std::fs::metadata(&p).unwrap();
    std::fs::write(&p, b"<?php echo 2;").unwrap();
    let mtime = filetime_of(&before);
    set_mtime(&p, mtime);
    let after = std::fs::metadata(&p).unwrap();
    assert_eq!((after.len(), filetime_of(&after)), (before.len(), mtime));
    let (entries, rep) = map(r, &cache);
    assert_eq!(rep.hashed, 1);
    let e = entries.iter().find(|e| e.path == b"index.php").unwrap();
    assert_eq!(e.hash, *blake3::hash(b"<?php echo 2;").as_bytes());
}

#[test]
fn an_edit_right_after_a_map_is_not_missed() {
    let dir = tree();
    let r = dir.path();
    let cache = r.join(".devsky/cache/worktree.map");
    map(r, &cache);
    // same second, same size: only the racy rule (and ctime) can catch it
    std::fs::write(r.join("a.txt"), b"").unwrap();
    std::fs::write(r.join("index.php"), b"<?php echo 9;").unwrap();
    let (entries, _) = map(r, &cache);
    let e = entries.iter().find(|e| e.path == b"index.php").unwrap();
    assert_eq!(e.hash, *blake3::hash(b"<?php echo 9;").as_bytes());
}

#[test]
fn odd_names_and_symlinks_are_kept_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    let raw = std::ffi::OsStr::from_bytes(b"caf\xe9.txt");
    std::fs::write(r.join(raw), b"latin-1 name").unwrap();
    write(r, "new\nline.txt", b"newline in the name");
    std::os::unix::fs::symlink("index.php", r.join("link")).unwrap();
    std::os::unix::fs::symlink("loop", r.join("loop")).unwrap();
    std::os::unix::fs::symlink("/", r.join("root-link")).unwrap();
    std::fs::create_dir(r.join("d")).unwrap();
    std::os::unix::fs::symlink("..", r.join("d/up")).unwrap();
    let cache = r.join(".devsky/cache/worktree.map");
    let (entries, rep) = map(r, &cache);
    assert!(!rep.partial, "{:?}", rep.problems);
    let paths: Vec<&[u8]> = entries.iter().map(|e| e.path.as_slice()).collect();
    assert_eq!(
        paths,
        [
            b"caf\xe9.txt".as_slice(),
            b"d/up",
            b"link",
            b"loop",
            b"new\nline.txt",
            b"root-link"
        ]
    );
    let link = &entries[2];
    assert_eq!((link.kind, link.size), (EntryKind::Symlink, 9));
    assert_eq!(link.hash, *blake3::hash(b"index.php").as_bytes());
}

#[test]
fn a_file_that_keeps_changing_is_unstable_never_wrongly_hashed() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path().to_path_buf();
    write(&r, "growing.log.txt", b"start\n");
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = stop.clone();
    let path = r.join("growing.log.txt");
    let writer = std::thread::spawn(move || {
        let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            f.write_all(&[b'z'; 4096]).unwrap();
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(50));
    let cache = r.join(".devsky/cache/worktree.map");
    let mut found_unstable = false;
    for _ in 0..20 {
        let (entries, rep) = map(&r, &cache);
        let e = &entries[0];
        if e.flags & super::FLAG_UNSTABLE != 0 {
            assert!(rep.partial && !e.hash_valid());
            found_unstable = true;
            break;
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    writer.join().unwrap();
    assert!(
        found_unstable,
        "a file appended to without pause must be reported as changing"
    );
}

fn filetime_of(m: &std::fs::Metadata) -> (i64, i64) {
    use std::os::unix::fs::MetadataExt;
    (m.mtime(), m.mtime_nsec())
}

fn set_mtime(p: &Path, (s, ns): (i64, i64)) {
    let t = std::time::UNIX_EPOCH + std::time::Duration::new(s as u64, ns as u32);
    std::fs::File::options()
        .write(true)
        .open(p)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

#[test]
fn racily_clean_depends_on_the_file_systems_time_resolution() {
    use super::scan::racily_clean;
    let started: i64 = 1_700_000_010_000_000_000;
    let entry = |mtime_ns: i64, ctime_ns: i64| Entry {
        path: b"a".to_vec(),
        kind: EntryKind::File,
        mode: 0o644,
        size: 1,
        mtime_ns,
        ctime_ns,
        ino: 1,
        hash: [0; 32],
        flags: 0,
    };
    let ms = 1_000_000;
    // sub-second times: within 100 ms of the map's start is racy, earlier is not
    assert!(racily_clean(
        &entry(started - 50 * ms, started - 50 * ms),
        started
    ));
    assert!(racily_clean(
        &entry(started - 5000 * ms + 7, started - 20 * ms),
        started
    ));
    assert!(!racily_clean(
        &entry(started - 150 * ms, started - 150 * ms),
        started
    ));
    // whole seconds: the change may have happened up to a second after its stamp
    let whole = started - 1000 * ms;
    assert!(racily_clean(&entry(whole, whole), started));
    let older = started - 3000 * ms;
    assert!(!racily_clean(&entry(older, older), started));
    // a time in the future is always racy
    assert!(racily_clean(&entry(started + ms, started + ms), started));
}
