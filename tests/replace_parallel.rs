//! The parallel file search against an oracle that shares no code with it: a tree of a
//! few thousand files in many folders (hidden ones, binary ones, `.git/`, names that sort
//! differently as names and as paths), searched by `devsky search` and by the engine's
//! streaming scan, must give exactly the hits of a plain recursive `std::fs` walk with
//! siblings in byte order and `str::match_indices` (the `regex` crate for a regex), in
//! the same order, every time; a scan stopped by its callback stops with "cancelled"
//! after exactly the files it was given, which are the oracle's first ones.

mod support;

use std::fs;
use std::path::Path;

use devsky::engine::replace::files::{self, FilePlan};
use devsky::engine::replace::pattern::{Options, Pattern};
use serde_json::Value;
use support::cli::{json, ok};

/// (path, [(line, column)]) of every file with matches, in order.
type Hits = Vec<(String, Vec<(usize, usize)>)>;

const WORDS: [&str; 10] = [
    "item",
    "user",
    "item user",
    "itém",
    "ùser",
    "line",
    "item\nuser",
    "x",
    "item  user",
    "€",
];

/// A small deterministic generator (no dependency, same tree every run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// About 3,000 files in about 200 folders, up to four deep.
fn make_tree(root: &Path) {
    let mut rng = Lcg(7);
    let names = ["a", "a.txt", "a-b", "a0", "B", "b", "é", ".hidden", "z"];
    let mut dirs = vec![String::new()];
    for i in 0..200 {
        let parent = dirs[rng.next(dirs.len() as u64) as usize].clone();
        if parent.matches('/').count() >= 4 {
            continue;
        }
        let name = format!("{}{}", names[rng.next(names.len() as u64) as usize], i % 7);
        dirs.push(format!("{parent}{name}/"));
    }
    for i in 0..3000 {
        let dir = &dirs[rng.next(dirs.len() as u64) as usize];
        let name = format!("{}{}", names[rng.next(names.len() as u64) as usize], i);
        let mut text = String::new();
        for _ in 0..rng.next(60) {
            text.push_str(WORDS[rng.next(WORDS.len() as u64) as usize]);
            text.push(if rng.next(5) == 0 { '\n' } else { ' ' });
        }
        let mut bytes = text.into_bytes();
        if i % 97 == 0 {
            bytes.push(0); // binary: skipped, whatever it holds
        }
        let p = root.join(format!("{dir}{name}"));
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, bytes).unwrap();
    }
    // Never searched: the repository's own folder.
    fs::create_dir_all(root.join("a0/.git")).unwrap();
    fs::write(root.join("a0/.git/config"), "item user").unwrap();
    fs::write(root.join(".git"), "item user").unwrap();
}

/// The oracle's walk: every regular file, depth first, siblings in byte order of their
/// names, `.git` and `.devsky` folders left out, symlinks not followed.
fn oracle_files(root: &Path, rel: &str, out: &mut Vec<String>) {
    let mut entries: Vec<_> = fs::read_dir(root.join(rel))
        .unwrap()
        .map(|e| e.unwrap())
        .collect();
    entries.sort_by(|a, b| {
        a.file_name()
            .as_encoded_bytes()
            .cmp(b.file_name().as_encoded_bytes())
    });
    for e in entries {
        let name = e.file_name().into_string().unwrap();
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        let t = e.file_type().unwrap();
        if t.is_dir() && name != ".git" && name != ".devsky" {
            oracle_files(root, &path, out);
        } else if t.is_file() {
            out.push(path);
        }
    }
}

/// The oracle's hits: match starts found by `starts`, as 1-based line and column (chars).
fn oracle(root: &Path, starts: &dyn Fn(&str) -> Vec<usize>) -> (Hits, usize) {
    let mut paths = Vec::new();
    oracle_files(root, "", &mut paths);
    let mut hits = Vec::new();
    for p in &paths {
        let bytes = fs::read(root.join(p)).unwrap();
        if bytes.contains(&0) {
            continue;
        }
        let text = String::from_utf8(bytes).unwrap();
        let at: Vec<(usize, usize)> = starts(&text)
            .into_iter()
            .map(|s| {
                let before = &text[..s];
                let line_start = before.rfind('\n').map_or(0, |i| i + 1);
                (
                    before.matches('\n').count() + 1,
                    before[line_start..].chars().count() + 1,
                )
            })
            .collect();
        if !at.is_empty() {
            hits.push((p.clone(), at));
        }
    }
    (hits, paths.len())
}

fn from_json(v: &Value) -> Hits {
    v["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let at = f["hits"].as_array().unwrap().iter();
            let at = at.map(|h| {
                (
                    h["line"].as_u64().unwrap() as usize,
                    h["column"].as_u64().unwrap() as usize,
                )
            });
            (f["path"].as_str().unwrap().to_string(), at.collect())
        })
        .collect()
}

fn from_plans(plans: &[FilePlan]) -> Hits {
    plans
        .iter()
        .map(|f| {
            (
                f.path.clone(),
                f.hits.iter().map(|h| (h.line, h.column)).collect(),
            )
        })
        .collect()
}

/// Equal, or a panic naming the first difference (not the whole lists).
fn same<T: PartialEq + std::fmt::Debug>(got: &[T], want: &[T]) {
    if let Some(i) = (0..got.len().min(want.len())).find(|&i| got[i] != want[i]) {
        panic!("differ at {i}: got {:?}, want {:?}", got[i], want[i]);
    }
    assert_eq!(got.len(), want.len(), "as many");
}

#[test]
fn parallel_search_gives_the_oracles_hits_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    ok(&["init"], root);
    make_tree(root);
    let (want, walked) = oracle(root, &|t| {
        t.match_indices("item user").map(|(i, _)| i).collect()
    });
    assert!(
        walked > 2900 && want.len() > 500,
        "{walked} files, {} hit",
        want.len()
    );
    for _ in 0..3 {
        let got = json(&["search", "item user", "--json"], root);
        assert_eq!(got["searched_files"].as_u64().unwrap() as usize, walked);
        same(&from_json(&got), &want);
    }

    // The text output, streamed as found: one line a hit, in the same order.
    let text = ok(&["search", "item user"], root);
    let lines: Vec<(String, usize, usize)> = text
        .lines()
        .map(|l| {
            let mut p = l.splitn(4, ':');
            let path = p.next().unwrap().to_string();
            let line = p.next().unwrap().parse().unwrap();
            (path, line, p.next().unwrap().parse().unwrap())
        })
        .collect();
    let flat: Vec<(String, usize, usize)> = want
        .iter()
        .flat_map(|(p, at)| at.iter().map(move |&(l, c)| (p.clone(), l, c)))
        .collect();
    same(&lines, &flat);

    // The streamed `--dry-run --json` document: the oracle's hits, and exactly the
    // engine's scan as serde writes it.
    let plan = json(
        &["replace", "item user", "item member", "--dry-run", "--json"],
        root,
    );
    same(&from_json(&plan["files"]), &want);
    let pattern = Pattern::new("item user", "item member", Options::default()).unwrap();
    let scan = files::scan(root, None, &pattern, None).unwrap();
    assert_eq!(plan["files"], serde_json::to_value(&scan).unwrap());
    assert_eq!(plan["request"]["replacement"], "item member");
    assert!(plan["db"].is_null());

    let re = regex::Regex::new(r"it[eé]m\s+[uù]ser").unwrap();
    let (want_re, _) = oracle(root, &|t| re.find_iter(t).map(|m| m.start()).collect());
    assert_ne!(want_re, want);
    let got = json(&["search", "--regex", r"it[eé]m\s+[uù]ser", "--json"], root);
    same(&from_json(&got), &want_re);

    // The engine's scan, streamed: the same files in the same order as they come.
    let pattern = Pattern::new("item user", "", Options::default()).unwrap();
    let mut streamed = Vec::new();
    let scan = files::scan_with(root, None, &pattern, None, &mut |p| {
        streamed.push(p.clone());
        true
    })
    .unwrap();
    same(&from_plans(&streamed), &want);
    same(&from_plans(&scan.files), &want);

    // Stopped by the callback after 40 files: cancelled, and only those 40 were given.
    let mut given = Vec::new();
    let err = files::scan_with(root, None, &pattern, None, &mut |p| {
        if given.len() == 40 {
            return false;
        }
        given.push(p.clone());
        true
    })
    .unwrap_err();
    assert!(err.to_string().contains("cancelled"), "{err}");
    same(&from_plans(&given), &want[..40]);
}
