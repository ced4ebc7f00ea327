//! Helpers of the deploy tests: a tree's map as comparable tuples, writing files, running
//! the built binary and checking its exit.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use devsky::engine::jobs::Progress;
use devsky::engine::map::EntryKind;
use devsky::engine::map::format::MapReader;
use devsky::engine::map::scan::{ScanOptions, scan};

pub type Tree = Vec<(Vec<u8>, EntryKind, u32, [u8; 32])>;

pub fn tree_of(root: &Path) -> Tree {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("m");
    scan(
        root,
        None,
        &out,
        &ScanOptions::default(),
        &Progress::silent(),
    )
    .unwrap();
    MapReader::open(&out)
        .unwrap()
        .map(|e| e.unwrap())
        .map(|e| (e.path, e.kind, e.mode, e.hash))
        .collect()
}

pub fn put(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
}

pub fn devsky(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

pub fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub fn ok(o: &Output) -> String {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
    text(&o.stdout)
}
