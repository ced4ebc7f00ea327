//! Snapshot tests on real trees: the diff after `make-corpus.py mutate` is exactly what
//! mutate did; contents come back from the object store; domains; gc.

use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

use super::*;
use crate::engine::diff::changes::ChangeKind;
use crate::store::snapshots::Domain;

fn corpus(dir: &Path, files: usize) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/make-corpus.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(["make", dir.to_str().unwrap(), "--files", &files.to_string()])
        .output()
        .expect("python3 is needed to make test trees");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run mutate with the store moved aside (mutate walks every file under the root).
fn mutate(root: &Path) -> serde_json::Value {
    let aside = root.parent().unwrap().join("devsky-aside");
    std::fs::rename(root.join(".devsky"), &aside).unwrap();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("bench/make-corpus.py");
    let out = Command::new("python3")
        .arg(&script)
        .args(["mutate", root.to_str().unwrap()])
        .output()
        .unwrap();
    std::fs::rename(&aside, root.join(".devsky")).unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn project() -> (tempfile::TempDir, Project, Store) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("site");
    std::fs::create_dir(&root).unwrap();
    let project = Project {
        root: root.canonicalize().unwrap(),
    };
    let store = project.open_store(true).unwrap();
    (dir, project, store)
}

fn set(v: &serde_json::Value) -> BTreeSet<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn snapshot_diff_is_exactly_what_mutate_did() {
    let (_d, p, mut store) = project();
    corpus(&p.root, 1500);
    let snap = create(&p, &mut store, Some("before"), None, &Progress::silent()).unwrap();
    assert_eq!(snap.files, 1500);
    assert!(!snap.partial);
    let did = mutate(&p.root);
    let d = diff_snapshot(&p, &store, snap.id, Target::Worktree, &Progress::silent()).unwrap();
    let of = |k: ChangeKind| -> BTreeSet<String> {
        d.deltas
            .iter()
            .filter(|x| x.kind == k)
            .map(|x| String::from_utf8(x.path().to_vec()).unwrap())
            .collect()
    };
    assert_eq!(of(ChangeKind::Modified), set(&did["changed"]));
    assert_eq!(of(ChangeKind::Added), set(&did["added"]));
    assert_eq!(of(ChangeKind::Removed), set(&did["deleted"]));
    assert_eq!(
        d.deltas.len(),
        set(&did["changed"]).len() + set(&did["added"]).len() + set(&did["deleted"]).len()
    );

    // the old contents come back from the object store
    let objects = ObjectStore::open(&p.root).unwrap();
    let changed = d
        .deltas
        .iter()
        .find(|x| x.kind == ChangeKind::Modified)
        .unwrap();
    let old = objects
        .get(&changed.old.as_ref().unwrap().hash_hex())
        .unwrap();
    let now = std::fs::read(p.root.join(std::str::from_utf8(changed.path()).unwrap())).unwrap();
    assert!(
        now.starts_with(&old) && now.len() > old.len(),
        "mutate appends to changed files"
    );

    // snapshot vs snapshot gives the same set
    let snap2 = create(&p, &mut store, None, None, &Progress::silent()).unwrap();
    assert!(
        snap2.new_objects < 100,
        "unchanged files are stored once: {}",
        snap2.new_objects
    );
    let d2 = diff_snapshot(
        &p,
        &store,
        snap.id,
        Target::Snapshot(snap2.id),
        &Progress::silent(),
    )
    .unwrap();
    let paths = |d: &SnapshotDiff| {
        d.deltas
            .iter()
            .map(|x| (x.kind, x.path().to_vec()))
            .collect::<Vec<_>>()
    };
    assert_eq!(paths(&d), paths(&d2));
    let cs = change_set(&p, &d2, false);
    assert_eq!(cs.changes.len(), d2.deltas.len());
    assert!(
        cs.changes
            .iter()
            .all(|c| c.kind != ChangeKind::Added || c.old == Content::Missing)
    );
}

#[test]
fn domains_limit_what_a_snapshot_holds() {
    let (_d, p, mut store) = project();
    for (rel, body) in [
        ("app/a.php", "a"),
        ("app/cache/x.tmp", "x"),
        ("public/i.php", "i"),
        ("app/b.log", "l"),
    ] {
        let f = p.root.join(rel);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, body).unwrap();
    }
    save_domain(
        &store,
        &Domain {
            name: "app".into(),
            include: vec!["app".into()],
            exclude: vec!["app/cache".into(), "**/*.log".into()],
        },
    )
    .unwrap();
    let snap = create(&p, &mut store, None, Some("app"), &Progress::silent()).unwrap();
    let objects = ObjectStore::open(&p.root).unwrap();
    let got: Vec<String> = read_map(&objects, &get(&store, snap.id).unwrap())
        .unwrap()
        .map(|e| e.unwrap().path_lossy())
        .collect();
    assert_eq!(got, ["app/a.php"]);
    // a change outside the domain is not a change of the domain
    std::fs::write(p.root.join("public/i.php"), "changed").unwrap();
    let d = diff_snapshot(&p, &store, snap.id, Target::Worktree, &Progress::silent()).unwrap();
    assert!(d.deltas.is_empty());
    std::fs::write(p.root.join("app/a.php"), "changed").unwrap();
    let d = diff_snapshot(&p, &store, snap.id, Target::Worktree, &Progress::silent()).unwrap();
    assert_eq!(d.deltas.len(), 1);
    let err = create(&p, &mut store, None, Some("nope"), &Progress::silent())
        .unwrap_err()
        .to_string();
    assert!(err.contains("no domain \"nope\""), "{err}");
    assert!(
        save_domain(
            &store,
            &Domain {
                name: "bad".into(),
                include: vec!["a[".into()],
                exclude: vec![]
            }
        )
        .is_err()
    );
}

#[test]
fn gc_keeps_what_snapshots_reference() {
    let (_d, p, mut store) = project();
    std::fs::write(p.root.join("a.txt"), "one").unwrap();
    let s1 = create(&p, &mut store, None, None, &Progress::silent()).unwrap();
    std::fs::write(p.root.join("a.txt"), "two").unwrap();
    let s2 = create(&p, &mut store, None, None, &Progress::silent()).unwrap();
    let objects = ObjectStore::open(&p.root).unwrap();
    let one = blake3::hash(b"one").to_hex().to_string();
    assert!(objects.has(&one));
    assert_eq!(gc(&p, &store).unwrap().removed, 0);
    crate::store::snapshots::delete_snapshot(store.conn(), s1.id).unwrap();
    let r = gc(&p, &store).unwrap();
    assert_eq!(r.removed, 2, "the old content and the old map");
    assert!(!objects.has(&one));
    assert!(
        diff_snapshot(&p, &store, s2.id, Target::Worktree, &Progress::silent())
            .unwrap()
            .deltas
            .is_empty()
    );
    assert!(
        get(&store, s1.id)
            .unwrap_err()
            .to_string()
            .contains("no snapshot")
    );
}

#[test]
fn a_second_snapshot_stores_only_new_contents_and_restores_every_file() {
    let (_d, p, mut store) = project();
    for i in 0..40 {
        std::fs::write(p.root.join(format!("f{i}.txt")), format!("body {i}")).unwrap();
    }
    create(&p, &mut store, Some("one"), None, &Progress::silent()).unwrap();
    std::fs::write(p.root.join("f3.txt"), "changed").unwrap();
    std::fs::write(p.root.join("f7.txt"), "body 8").unwrap(); // same as f8: stored already
    std::fs::write(p.root.join("new.txt"), "new file").unwrap();
    let two = create(&p, &mut store, Some("two"), None, &Progress::silent()).unwrap();
    assert_eq!(two.new_objects, 2, "only 'changed' and 'new file' are new");
    let objects = ObjectStore::open(&p.root).unwrap();
    let snap = get(&store, two.id).unwrap();
    let mut restored = 0;
    for entry in read_map(&objects, &snap).unwrap() {
        let e = entry.unwrap();
        let rel = std::str::from_utf8(&e.path).unwrap().to_string();
        if rel.starts_with(".devsky") {
            continue;
        }
        let out = p.root.parent().unwrap().join("restored");
        objects.restore_to(&e.hash_hex(), &out).unwrap();
        assert_eq!(
            std::fs::read(&out).unwrap(),
            std::fs::read(p.root.join(&rel)).unwrap(),
            "{rel}"
        );
        std::fs::remove_file(&out).unwrap();
        restored += 1;
    }
    assert_eq!(restored, 41);
}
