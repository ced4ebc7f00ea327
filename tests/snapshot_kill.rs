//! SIGKILL of `devsky snapshot create` at seeded random moments (issue 13): objects of a
//! snapshot are written without an fsync each and made durable together before its row is
//! added, so a kill anywhere must leave a consistent store. Each round rewrites every file
//! of a project with new content, starts `devsky snapshot create --name kN` and kills it at
//! a moment drawn over the length of an uncrashed run (timed first). Then, read with the
//! oracle of tests/support/objects.rs (std::fs + zstd + blake3, SQL for the rows):
//! - every object file under a real name decodes and hashes to its name (no half object);
//! - every snapshot row's map object is sound, and a row `kN` implies every content of
//!   round N is stored and sound;
//! - the next `devsky snapshot create` succeeds and is sound too.
//!
//! Over a run some kills must land before the row (no `kN`), else the moments missed the
//! work. SIGKILL keeps the page cache, so this proves the ordering (row after objects) and
//! the atomic renames, not the syncs themselves (a power cut would be needed for those).
//!
//! The seed is printed; `DEVSKY_TEST_SEED=N` replays its moments, `DEVSKY_TEST_KILLS=N`
//! sets the number of kills (default 12). Nothing is faked: no test hooks.

mod support;
use support::cli::{devsky, ok};
use support::objects::{id_of, object_ids, object_problem, snapshot_rows};

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

const FILES: usize = 1500;

/// SplitMix64: small, seeded, replayable.
struct Rng(u64);

impl Rng {
    fn from_env(test: &str) -> Rng {
        let seed = match std::env::var("DEVSKY_TEST_SEED") {
            Ok(v) => v.parse().expect("DEVSKY_TEST_SEED: a number"),
            Err(_) => SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64,
        };
        eprintln!("{test}: DEVSKY_TEST_SEED={seed} replays these moments");
        Rng(seed)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn kills() -> usize {
    std::env::var("DEVSKY_TEST_KILLS")
        .ok()
        .map(|v| v.parse().expect("DEVSKY_TEST_KILLS: a number"))
        .unwrap_or(12)
}

/// Rewrite every file with content of round `round` (1-24 KiB each, compressible a little);
/// returns the ids of the contents written.
fn write_round(root: &Path, round: usize, rng: &mut Rng) -> Vec<String> {
    (0..FILES)
        .map(|i| {
            let len = 1024 + (rng.next() % (23 * 1024)) as usize;
            let mut data = format!("round {round} file {i}\n").into_bytes();
            while data.len() < len {
                data.extend_from_slice(&rng.next().to_le_bytes()[..4]);
                data.extend_from_slice(b"-pad-");
            }
            let path = root.join(format!("src/d{}/f{i}.txt", i % 20));
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, &data).unwrap();
            id_of(&data)
        })
        .collect()
}

/// Every object sound; every row's map sound; a row `kN` holds all of round N's contents.
fn check_store(root: &Path, rounds: &BTreeMap<String, Vec<String>>) -> Vec<String> {
    let mut bad: Vec<String> = object_ids(root)
        .iter()
        .filter_map(|id| object_problem(root, id))
        .collect();
    let rows = snapshot_rows(root);
    for (name, map) in &rows {
        bad.extend(object_problem(root, map).map(|p| format!("snapshot {name}'s map: {p}")));
        for id in rounds.get(name).into_iter().flatten() {
            bad.extend(object_problem(root, id).map(|p| format!("snapshot {name}: {p}")));
        }
    }
    bad
}

#[test]
fn sigkill_during_snapshot_create_leaves_a_consistent_store() {
    let mut rng = Rng::from_env("sigkill_during_snapshot_create");
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    ok(&["init"], root);
    let mut rounds = BTreeMap::new();
    rounds.insert("k0".to_string(), write_round(root, 0, &mut rng));
    let started = Instant::now();
    ok(&["snapshot", "create", "--name", "k0"], root);
    let full = started.elapsed();
    eprintln!("an uncrashed snapshot of {FILES} new files takes {full:?}");
    assert!(check_store(root, &rounds).is_empty());

    let mut before_row = 0;
    for k in 1..=kills() {
        let name = format!("k{k}");
        rounds.insert(name.clone(), write_round(root, k, &mut rng));
        let at = full.mul_f64(rng.unit() * 1.1);
        let mut child = Command::new(env!("CARGO_BIN_EXE_devsky"))
            .args(["snapshot", "create", "--name", &name])
            .current_dir(root)
            .env("DEVSKY_CONFIG_DIR", root.join(".no-config"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(at);
        child.kill().unwrap(); // SIGKILL
        let status = child.wait().unwrap();
        let has_row = snapshot_rows(root).iter().any(|(n, _)| *n == name);
        before_row += usize::from(!has_row);
        eprintln!("kill {k} at {at:?}: exited {status:?}, row {has_row}");
        let bad = check_store(root, &rounds);
        assert!(bad.is_empty(), "after kill {k} at {at:?}: {bad:#?}");
    }
    assert!(
        before_row > 0,
        "no kill landed before a snapshot's row: moments too late"
    );

    // The next snapshot works on the store the kills left, and is sound.
    let n = kills() + 1;
    let name = format!("k{n}");
    rounds.insert(name.clone(), write_round(root, n, &mut rng));
    let out = devsky(&["snapshot", "create", "--name", &name], root);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(snapshot_rows(root).iter().any(|(r, _)| *r == name));
    let bad = check_store(root, &rounds);
    assert!(bad.is_empty(), "after the last snapshot: {bad:#?}");
}
