//! Helpers of the deploy tests: a map file devsky recorded, read back for comparison with
//! the tests' own walker (tests/support/tree.rs); writing files, running the built binary
//! and checking its exit. Trees are compared with the walker, never with devsky's maps.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use devsky::engine::map::EntryKind;
use devsky::engine::map::format::MapReader;

/// The files and symlinks a map file lists, in the form of
/// [`super::tree::files_and_links`] (so `assert_eq!` with the walker's view of a tree).
pub fn map_listing(map: &Path) -> BTreeMap<Vec<u8>, (char, u32, u64, String)> {
    MapReader::open(map)
        .unwrap()
        .map(|e| e.unwrap())
        .filter_map(|e| {
            let hash = blake3::Hash::from_bytes(e.hash).to_hex().to_string();
            if e.kind == EntryKind::File {
                Some((e.path, ('f', e.mode, e.size, hash)))
            } else if e.kind == EntryKind::Symlink {
                Some((e.path, ('l', 0, e.size, hash)))
            } else {
                None
            }
        })
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

/// [`devsky`] with `env` added to the environment.
pub fn devsky_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(args)
        .envs(env.iter().copied())
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
