//! The walk under a map: depth first, siblings in byte order (map order), one `readdir`
//! per folder and one `fstatat` per file relative to its folder — no full-path lookups,
//! no extra probes for ignore files (they are seen in the listing).
//!
//! Folders are listed ahead of the caller by a few threads: a folder's listing (readdir,
//! its ignore files, the ignore matching and a stat of every file kept) is one job, and
//! workers always take the queued folder that comes first in map order, which is the one
//! the caller needs next. The caller only hands over the entries in order and queues the
//! subfolders it will enter. At most [`READY`] listings wait to be taken, so memory stays
//! bounded however big the tree is.
//!
//! Rules, as for the rest of devsky: `.gitignore` and `.devskyignore` in any folder (a
//! `.devskyignore` wins over a `.gitignore` of the same folder; deeper files win over
//! shallower ones; `!pattern` re-includes), `.git/info/exclude` at the root, hidden files
//! included, `.git/` and `.devsky/` always left out, symlinks never followed. A deploy's
//! walk ([`Ignores::DevskyOnly`]) follows `.devskyignore` files only: what git ignores
//! (`vendor/`, built assets) is deployed. [`WalkOptions::left_out`] counts what the ignore
//! files leave out, by rule.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::{FileType, Metadata};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::{Problem, cmp_paths};
use crate::engine::project::walk::IGNORE_FILE;
use crate::store::STATE_DIR;

/// A filter on relative paths (a domain).
pub type Keep = dyn Fn(&[u8]) -> bool + Send + Sync;

/// Which ignore files a walk follows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Ignores {
    /// `.gitignore`, `.devskyignore` and `.git/info/exclude` (maps, snapshots, codebase).
    #[default]
    All,
    /// `.devskyignore` only (deploys).
    DevskyOnly,
}

/// Paths left out, counted by rule (`.devskyignore: *.log`); shared by the listing threads.
#[derive(Debug, Default)]
pub struct LeftOut(Mutex<BTreeMap<String, u64>>);

impl LeftOut {
    pub fn add(&self, rule: &str) {
        let mut m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        match m.get_mut(rule) {
            Some(n) => *n += 1,
            None => {
                m.insert(rule.to_string(), 1);
            }
        }
    }

    /// (rule, count), by rule.
    pub fn counts(&self) -> Vec<(String, u64)> {
        let m = self.0.lock().unwrap_or_else(|e| e.into_inner());
        m.iter().map(|(r, n)| (r.clone(), *n)).collect()
    }
}

/// How to walk.
#[derive(Clone, Copy, Default)]
pub struct WalkOptions<'a> {
    /// Only paths for which this is true (files, and folders when `dirs`).
    pub keep: Option<&'a Keep>,
    /// Hand over folders too, each before its contents (a folder left out by `keep` is
    /// still entered).
    pub dirs: bool,
    pub ignores: Ignores,
    /// Counts the paths ignore files leave out (a folder counts once).
    pub left_out: Option<&'a LeftOut>,
}

/// One file, symlink or (with [`WalkOptions::dirs`]) folder found by the walk.
pub struct Found {
    /// Relative, `/`-separated bytes.
    pub rel: Vec<u8>,
    pub file_type: FileType,
    pub meta: Metadata,
}

/// What the walk tells its caller.
pub enum Step {
    Found(Found),
    Problem(Problem),
}

/// Listings made ahead of the caller and not yet taken, at most.
const READY: usize = 512;
/// Listing threads, at most.
const MAX_WORKERS: usize = 8;

/// Walk `root`, calling `f` for every file and symlink in map order. `keep` filters by
/// relative path (a domain); `f` returning an error stops the walk.
pub fn walk(
    root: &Path,
    keep: Option<&Keep>,
    f: &mut dyn FnMut(Step) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    walk_with(
        root,
        &WalkOptions {
            keep,
            ..WalkOptions::default()
        },
        f,
    )
}

/// [`walk`] with all the options.
pub fn walk_with(
    root: &Path,
    opts: &WalkOptions,
    f: &mut dyn FnMut(Step) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let exclude = root.join(".git/info/exclude");
    let rules = if opts.ignores == Ignores::All && exclude.is_file() {
        let mut b = GitignoreBuilder::new(root);
        b.add(&exclude);
        b.build()
            .ok()
            .map(|gi| Arc::new(Rules { gi, parent: None }))
    } else {
        None
    };
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, MAX_WORKERS));
    let pool = Pool::default();
    let lister = Lister { root, opts: *opts };
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| pool.work(&lister));
        }
        pool.submit(vec![(Vec::new(), rules)]);
        let r = consume(&pool, &lister, Vec::new(), f);
        pool.stop();
        r
    })
}

/// The caller's side: take the listing of `rel`, queue its subfolders, hand its entries
/// over in order and enter the subfolders where they come.
fn consume(
    pool: &Pool,
    lister: &Lister,
    rel: Vec<u8>,
    f: &mut dyn FnMut(Step) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    let listing = pool.take(rel, lister)?;
    let subdirs: Vec<(Vec<u8>, Chain)> = listing
        .items
        .iter()
        .filter_map(|i| match i {
            Item::Dir(r) => Some((r.clone(), listing.rules.clone())),
            _ => None,
        })
        .collect();
    if !subdirs.is_empty() {
        pool.submit(subdirs);
    }
    for item in listing.items {
        match item {
            Item::Found(found) => f(Step::Found(found))?,
            Item::Problem(p) => f(Step::Problem(p))?,
            Item::Dir(r) => consume(pool, lister, r, f)?,
        }
    }
    Ok(())
}

/// The ignore files in force in a folder: its own, then its parents' (innermost first).
struct Rules {
    gi: Gitignore,
    parent: Chain,
}

type Chain = Option<Arc<Rules>>;

/// The rule that ignores `abs`, if one does.
fn ignored_by<'r>(
    rules: &'r Chain,
    abs: &Path,
    is_dir: bool,
) -> Option<&'r ignore::gitignore::Glob> {
    let mut r = rules.as_deref();
    while let Some(rule) = r {
        match rule.gi.matched(abs, is_dir) {
            Match::Ignore(g) => return Some(g),
            Match::Whitelist(_) => return None,
            Match::None => {}
        }
        r = rule.parent.as_deref();
    }
    None
}

/// What a folder holds, ready to hand over: in order, and already filtered.
struct Listing {
    items: Vec<Item>,
    /// The rules for its subfolders (its own ignore files included).
    rules: Chain,
}

enum Item {
    Found(Found),
    Problem(Problem),
    /// A subfolder to enter: its relative path, ending with `/`.
    Dir(Vec<u8>),
}

/// Lists one folder (see [`Listing`]).
struct Lister<'a> {
    root: &'a Path,
    opts: WalkOptions<'a>,
}

impl Lister<'_> {
    fn list(&self, rel: &[u8], rules: Chain) -> Listing {
        let dir = abs_path(self.root, rel.strip_suffix(b"/").unwrap_or(rel));
        let mut items = Vec::new();
        let problem = |path: &[u8], reason: String| Problem {
            path: String::from_utf8_lossy(path).into_owned(),
            reason,
        };
        let listing = match std::fs::read_dir(&dir) {
            Ok(l) => l,
            Err(e) => {
                items.push(Item::Problem(problem(rel, e.to_string())));
                return Listing { items, rules };
            }
        };
        let mut entries: Vec<(OsString, std::fs::DirEntry)> = Vec::new();
        for e in listing {
            match e {
                Ok(e) => entries.push((e.file_name(), e)),
                Err(e) => items.push(Item::Problem(problem(rel, e.to_string()))),
            }
        }
        entries.sort_unstable_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
        let has = |n: &str| {
            entries
                .binary_search_by(|(name, _)| name.as_bytes().cmp(n.as_bytes()))
                .is_ok()
        };
        let files: &[&str] = match self.opts.ignores {
            Ignores::All => &[".gitignore", IGNORE_FILE],
            Ignores::DevskyOnly => &[IGNORE_FILE],
        };
        let rules = if files.iter().any(|n| has(n)) {
            let mut b = GitignoreBuilder::new(&dir);
            for &n in files {
                if has(n)
                    && let Some(err) = b.add(dir.join(n))
                {
                    let mut path = rel.to_vec();
                    path.extend_from_slice(n.as_bytes());
                    items.push(Item::Problem(problem(&path, err.to_string())));
                }
            }
            match b.build() {
                Ok(gi) => Some(Arc::new(Rules { gi, parent: rules })),
                Err(_) => rules,
            }
        } else {
            rules
        };
        for (name, entry) in entries {
            let mut path = Vec::with_capacity(rel.len() + name.len() + 1);
            path.extend_from_slice(rel);
            path.extend_from_slice(name.as_bytes());
            let ft = match entry.file_type() {
                Ok(t) => t,
                Err(e) => {
                    items.push(Item::Problem(problem(&path, e.to_string())));
                    continue;
                }
            };
            let is_dir = ft.is_dir();
            if is_dir && (name == ".git" || name == STATE_DIR) {
                continue;
            }
            if rules.is_some()
                && let Some(g) = ignored_by(&rules, &dir.join(&name), is_dir)
            {
                if let Some(l) = self.opts.left_out {
                    l.add(&self.rule_name(g));
                }
                continue;
            }
            if is_dir {
                if self.opts.dirs && self.opts.keep.is_none_or(|k| k(&path)) {
                    match entry.metadata() {
                        Ok(meta) => items.push(Item::Found(Found {
                            rel: path.clone(),
                            file_type: ft,
                            meta,
                        })),
                        Err(e) => items.push(Item::Problem(problem(
                            &path,
                            format!("vanished while mapping ({e})"),
                        ))),
                    }
                }
                path.push(b'/');
                items.push(Item::Dir(path));
                continue;
            }
            if !(ft.is_file() || ft.is_symlink()) {
                continue; // sockets, fifos, devices are not content
            }
            if self.opts.keep.is_some_and(|k| !k(&path)) {
                continue;
            }
            match entry.metadata() {
                Ok(meta) => items.push(Item::Found(Found {
                    rel: path,
                    file_type: ft,
                    meta,
                })),
                Err(e) => items.push(Item::Problem(problem(
                    &path,
                    format!("vanished while mapping ({e})"),
                ))),
            }
        }
        Listing { items, rules }
    }
}

impl Lister<'_> {
    /// `.devskyignore: *.log` (the ignore file relative to the root, and the pattern).
    fn rule_name(&self, g: &ignore::gitignore::Glob) -> String {
        let file = g
            .from()
            .map(|f| f.strip_prefix(self.root).unwrap_or(f).display().to_string())
            .unwrap_or_else(|| "ignore rules".into());
        format!("{file}: {}", g.original())
    }
}

/// A folder's relative path, ordered as maps are (so the first key is the next needed).
#[derive(PartialEq, Eq)]
struct Key(Vec<u8>);

impl Ord for Key {
    fn cmp(&self, other: &Key) -> Ordering {
        cmp_paths(&self.0, &other.0)
    }
}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Folders to list, listings ready, shared by the caller and the workers.
#[derive(Default)]
struct Pool {
    state: Mutex<PoolState>,
    /// Something to list was queued, or room was made for a listing.
    work: Condvar,
    /// A listing is ready.
    ready: Condvar,
}

#[derive(Default)]
struct PoolState {
    queue: BTreeMap<Key, Chain>,
    done: HashMap<Vec<u8>, Listing>,
    stopped: bool,
    /// A worker panicked.
    broken: bool,
}

impl Pool {
    fn lock(&self) -> MutexGuard<'_, PoolState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn submit(&self, dirs: Vec<(Vec<u8>, Chain)>) {
        let mut st = self.lock();
        for (rel, rules) in dirs {
            st.queue.insert(Key(rel), rules);
        }
        drop(st);
        self.work.notify_all();
    }

    /// The listing of `rel`: ready, or made here if no worker has started it, or waited for.
    fn take(&self, rel: Vec<u8>, lister: &Lister) -> anyhow::Result<Listing> {
        let mut st = self.lock();
        let key = Key(rel);
        loop {
            if let Some(l) = st.done.remove(&key.0) {
                drop(st);
                self.work.notify_one();
                return Ok(l);
            }
            if let Some(rules) = st.queue.remove(&key) {
                drop(st);
                return Ok(lister.list(&key.0, rules));
            }
            if st.broken {
                anyhow::bail!("the walk failed (a listing thread panicked)");
            }
            st = self.ready.wait(st).unwrap_or_else(|e| e.into_inner());
        }
    }

    fn stop(&self) {
        self.lock().stopped = true;
        self.work.notify_all();
    }

    /// A worker: list the first queued folder while there is room for its listing.
    fn work(&self, lister: &Lister) {
        struct Guard<'a>(&'a Pool);
        impl Drop for Guard<'_> {
            fn drop(&mut self) {
                if std::thread::panicking() {
                    self.0.lock().broken = true;
                    self.0.ready.notify_all();
                }
            }
        }
        let _guard = Guard(self);
        loop {
            let (key, rules) = {
                let mut st = self.lock();
                loop {
                    if st.stopped {
                        return;
                    }
                    if st.done.len() < READY
                        && let Some(next) = st.queue.pop_first()
                    {
                        break next;
                    }
                    st = self.work.wait(st).unwrap_or_else(|e| e.into_inner());
                }
            };
            let listing = lister.list(&key.0, rules);
            self.lock().done.insert(key.0, listing);
            self.ready.notify_all();
        }
    }
}

/// The absolute path of a relative map path.
pub fn abs_path(root: &Path, rel: &[u8]) -> PathBuf {
    root.join(OsString::from_vec(rel.to_vec()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(root: &Path) -> Vec<String> {
        let mut out = Vec::new();
        walk(root, None, &mut |s| {
            if let Step::Found(f) = s {
                out.push(String::from_utf8(f.rel).unwrap());
            }
            Ok(())
        })
        .unwrap();
        out
    }

    /// Writes `c` to `p` under `r`, making its folders.
    fn write(r: &Path, p: &str, c: &str) {
        let f = r.join(p);
        std::fs::create_dir_all(f.parent().unwrap()).unwrap();
        std::fs::write(f, c).unwrap();
    }

    #[test]
    fn ignore_rules_nest_and_reinclude() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let w = |p: &str, c: &str| write(r, p, c);
        w(".gitignore", "*.log\nbuild/\n");
        w("a.log", "");
        w("keep.txt", "");
        w("build/out.js", "");
        w("sub/.gitignore", "!important.log\n");
        w("sub/important.log", "");
        w("sub/other.log", "");
        w("sub/.devskyignore", "secret.txt\n");
        w("sub/secret.txt", "");
        w(".git/info/exclude", "local.txt\n");
        w("local.txt", "");
        w(".devsky/x", "");
        assert_eq!(
            names(r),
            [
                ".gitignore",
                "keep.txt",
                "sub/.devskyignore",
                "sub/.gitignore",
                "sub/important.log"
            ]
        );
    }

    /// A deploy's walk: folders (empty ones too) before their contents, `.gitignore` not
    /// followed, what `.devskyignore` leaves out counted by rule.
    #[test]
    fn a_deploy_walk_lists_folders_and_follows_devskyignore_only() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let w = |p: &str, c: &str| write(r, p, c);
        w(".gitignore", "vendor/\n");
        w(".devskyignore", "*.env\n");
        w("vendor/a.php", "");
        w("a.env", "");
        w("b.env", "");
        std::fs::create_dir_all(r.join("empty/inner")).unwrap();
        let left_out = LeftOut::default();
        let opts = WalkOptions {
            dirs: true,
            ignores: Ignores::DevskyOnly,
            left_out: Some(&left_out),
            ..WalkOptions::default()
        };
        let mut got = Vec::new();
        walk_with(r, &opts, &mut |s| {
            if let Step::Found(f) = s {
                got.push((String::from_utf8(f.rel).unwrap(), f.file_type.is_dir()));
            }
            Ok(())
        })
        .unwrap();
        let want = [
            (".devskyignore", false),
            (".gitignore", false),
            ("empty", true),
            ("empty/inner", true),
            ("vendor", true),
            ("vendor/a.php", false),
        ];
        let want: Vec<(String, bool)> = want.iter().map(|(p, d)| (p.to_string(), *d)).collect();
        assert_eq!(got, want);
        assert_eq!(left_out.counts(), [(".devskyignore: *.env".to_string(), 2)]);
    }

    /// Many folders, deep and wide: listed by several threads, handed over in map order.
    #[test]
    fn a_big_tree_comes_in_map_order_with_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let r = dir.path();
        let mut want: Vec<Vec<u8>> = Vec::new();
        for a in 0..12 {
            for b in 0..(a % 5) {
                let d = format!("d{a}/e{b}.x/f");
                std::fs::create_dir_all(r.join(&d)).unwrap();
                for n in 0..(3 + a % 4) {
                    for p in [format!("d{a}/e{b}.x/f/{n}"), format!("d{a}/e{b}-{n}.txt")] {
                        std::fs::write(r.join(&p), "x").unwrap();
                        want.push(p.into_bytes());
                    }
                }
            }
            std::fs::create_dir_all(r.join(format!("d{a}/empty"))).unwrap();
            let p = format!("d{a}.txt");
            std::fs::write(r.join(&p), "x").unwrap();
            want.push(p.into_bytes());
        }
        want.sort_by(|a, b| cmp_paths(a, b));
        want.dedup();
        let got: Vec<Vec<u8>> = names(r).into_iter().map(String::into_bytes).collect();
        assert_eq!(got, want);
    }

    /// The caller stopping the walk ends it (the listing threads stop too).
    #[test]
    fn an_error_from_the_caller_stops_the_walk() {
        let dir = tempfile::tempdir().unwrap();
        for a in 0..50 {
            std::fs::create_dir_all(dir.path().join(format!("d{a}"))).unwrap();
            std::fs::write(dir.path().join(format!("d{a}/f")), "x").unwrap();
        }
        let mut seen = 0;
        let r = walk(dir.path(), None, &mut |_| {
            seen += 1;
            if seen == 3 {
                anyhow::bail!("enough");
            }
            Ok(())
        });
        assert_eq!(r.unwrap_err().to_string(), "enough");
        assert_eq!(seen, 3);
    }
}
