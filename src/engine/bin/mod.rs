//! The recycle bin: every file devsky deletes or overwrites in a project goes here first,
//! so it can be put back byte for byte with its mode (`devsky bin list|restore|empty`).
//!
//! An entry is one JSON file `.devsky/bin/<id>.json` (path relative to the project, mode,
//! size, time, why); the content lives in the project's object store
//! ([`crate::engine::snapshot::objects`]), so a file that a snapshot also holds is stored
//! once. `devsky gc` keeps the objects of every entry. Ids count up and are never reused
//! while the bin holds entries (a new id is one above the highest, taken with
//! `create_new`, so two processes never share one).
//!
//! Paths from entries are checked before anything is written: relative, no `..`, and no
//! folder on the way that is a symlink, so a damaged or planted entry cannot write outside
//! the project.

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

use crate::engine::snapshot::objects::ObjectStore;
use crate::store::STATE_DIR;

/// One file in the bin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BinEntry {
    pub id: u64,
    /// Relative to the project root, `/`-separated.
    pub path: String,
    /// Object id of the content.
    pub object: String,
    /// Permission bits.
    pub mode: u32,
    pub size: u64,
    /// Unix time it went to the bin.
    pub time: i64,
    /// What put it there (`replace 3`, `bin restore 5`, ...).
    pub reason: String,
}

/// The bin of one project.
pub struct Bin {
    root: PathBuf,
    dir: PathBuf,
    objects: ObjectStore,
}

impl Bin {
    /// The bin of the project at `root` (created if missing).
    pub fn open(root: &Path) -> Result<Bin> {
        let dir = root.join(STATE_DIR).join("bin");
        fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
        Ok(Bin {
            root: root.to_path_buf(),
            dir,
            objects: ObjectStore::open(root)?,
        })
    }

    pub fn objects(&self) -> &ObjectStore {
        &self.objects
    }

    /// Put the regular file at `rel` (relative to the project) into the bin. The file is
    /// not touched: the caller then deletes or overwrites it.
    pub fn put(&self, rel: &str, reason: &str) -> Result<BinEntry> {
        let path = self.checked(rel)?;
        let meta = fs::symlink_metadata(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        if !meta.is_file() {
            bail!("{rel} is not a regular file; only files go to the recycle bin");
        }
        let stored = self.objects.put_file(&path, None, false)?;
        let mut entry = BinEntry {
            id: 0,
            path: rel.to_string(),
            object: stored.id,
            mode: meta.mode() & 0o7777,
            size: stored.size,
            time: crate::store::now(),
            reason: reason.to_string(),
        };
        self.insert(&mut entry)?;
        Ok(entry)
    }

    /// Write `entry` under the next free id.
    fn insert(&self, entry: &mut BinEntry) -> Result<()> {
        let first = self.list()?.last().map_or(1, |e| e.id + 1);
        let (id, mut f) = create_numbered(&self.dir, first)?;
        entry.id = id;
        f.write_all(&serde_json::to_vec_pretty(&entry)?)?;
        f.sync_all()?;
        Ok(())
    }

    /// Every entry, oldest first. An entry file that does not read is an error naming it.
    pub fn list(&self) -> Result<Vec<BinEntry>> {
        let mut out = Vec::new();
        for f in fs::read_dir(&self.dir)
            .with_context(|| format!("cannot list {}", self.dir.display()))?
        {
            let f = f?;
            let name = f.file_name().to_string_lossy().into_owned();
            let Some(id) = name
                .strip_suffix(".json")
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            let text = fs::read(f.path())?;
            let e: BinEntry = serde_json::from_slice(&text)
                .with_context(|| format!("recycle bin entry {} is damaged", f.path().display()))?;
            if e.id != id {
                bail!("recycle bin entry {} names id {}", f.path().display(), e.id);
            }
            out.push(e);
        }
        out.sort_by_key(|e| e.id);
        Ok(out)
    }

    pub fn get(&self, id: u64) -> Result<BinEntry> {
        self.list()?
            .into_iter()
            .find(|e| e.id == id)
            .with_context(|| {
                format!("no entry {id} in the recycle bin (`devsky bin list` shows them)")
            })
    }

    /// Put entry `id` back at its path, byte for byte with its mode, and take it out of
    /// the bin. A different file now at that path goes to the bin first.
    pub fn restore(&self, id: u64) -> Result<BinEntry> {
        let e = self.get(id)?;
        self.restore_object(&e.path, &e.object, e.mode, &format!("bin restore {id}"))?;
        fs::remove_file(self.dir.join(format!("{id}.json")))?;
        Ok(e)
    }

    /// Write object `object` at `rel` with `mode`, atomically; what is there now (a regular
    /// file with other content) goes to the bin first, with `reason`.
    pub fn restore_object(&self, rel: &str, object: &str, mode: u32, reason: &str) -> Result<()> {
        let dest = self.checked(rel)?;
        match fs::symlink_metadata(&dest) {
            Ok(m) if m.is_file() => {
                if hash_file(&dest)? != object {
                    self.put(rel, reason)?;
                }
            }
            Ok(_) => bail!("{rel} is not a regular file now; move it away to restore"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot read {}", dest.display())),
        }
        self.objects.restore_with_mode(object, &dest, Some(mode))?;
        Ok(())
    }

    /// Remove every entry; returns how many. Their content stays in the object store
    /// until `devsky gc`.
    pub fn empty(&self) -> Result<usize> {
        let all = self.list()?;
        for e in &all {
            fs::remove_file(self.dir.join(format!("{}.json", e.id)))?;
        }
        Ok(all.len())
    }

    /// `rel` as a path under the root, refused when it could lead outside it.
    pub fn checked(&self, rel: &str) -> Result<PathBuf> {
        checked_path(&self.root, rel)
    }
}

/// `rel` joined to `root`, refused unless it is relative, has no `..`, and no existing
/// folder on the way is a symlink.
pub fn checked_path(root: &Path, rel: &str) -> Result<PathBuf> {
    let p = Path::new(rel);
    if rel.is_empty() || !p.components().all(|c| matches!(c, Component::Normal(_))) {
        bail!("{rel:?} is not a plain path inside the project; refused");
    }
    let mut at = root.to_path_buf();
    let parts: Vec<_> = p.components().collect();
    for c in &parts[..parts.len() - 1] {
        at.push(c);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => {
                bail!(
                    "{} is a symlink; refusing to write {rel} through it",
                    at.display()
                )
            }
            Ok(m) if !m.is_dir() => bail!("{} is not a folder; cannot write {rel}", at.display()),
            _ => {}
        }
    }
    Ok(root.join(p))
}

/// Create `<dir>/<id>.json` for the first id from `first` up that is free (`create_new`,
/// so two processes never take the same id).
pub fn create_numbered(dir: &Path, first: u64) -> Result<(u64, fs::File)> {
    let mut id = first;
    loop {
        let file = dir.join(format!("{id}.json"));
        match fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&file)
        {
            Ok(f) => return Ok((id, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => id += 1,
            Err(e) => return Err(e).with_context(|| format!("cannot write {}", file.display())),
        }
    }
}

/// Blake3 of a file's content, as an object id.
pub fn hash_file(path: &Path) -> Result<String> {
    let mut h = blake3::Hasher::new();
    let mut f = fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    std::io::copy(&mut f, &mut h)?;
    Ok(h.finalize().to_hex().to_string())
}

/// Write `data` at `dest` atomically (a temp file beside it, `mode` set, synced, renamed).
pub fn write_atomic(dest: &Path, data: &[u8], mode: u32) -> Result<()> {
    let dir = dest.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".devsky-write-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temp file in {}", dir.display()))?;
    tmp.write_all(data)?;
    tmp.as_file()
        .set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
    tmp.as_file().sync_all()?;
    tmp.persist(dest)
        .map_err(|e| anyhow::anyhow!(e.error))
        .with_context(|| format!("cannot write {}", dest.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn put_restore_keeps_bytes_and_mode() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("a")).unwrap();
        let data: Vec<u8> = (0..70_000u32).map(|i| (i % 251) as u8).collect();
        fs::write(root.join("a/x.bin"), &data).unwrap();
        fs::set_permissions(root.join("a/x.bin"), fs::Permissions::from_mode(0o751)).unwrap();
        let bin = Bin::open(root).unwrap();
        let e = bin.put("a/x.bin", "test").unwrap();
        assert_eq!((e.id, e.mode, e.size), (1, 0o751, 70_000));
        fs::write(root.join("a/x.bin"), b"overwritten").unwrap();
        bin.restore(1).unwrap();
        assert_eq!(fs::read(root.join("a/x.bin")).unwrap(), data);
        let mode = fs::metadata(root.join("a/x.bin")).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o751);
        // The overwritten content went to the bin on restore; entry 1 is gone.
        let left = bin.list().unwrap();
        assert_eq!(left.len(), 1);
        assert_eq!(bin.objects().get(&left[0].object).unwrap(), b"overwritten");
        assert_eq!(bin.empty().unwrap(), 1);
        assert!(bin.list().unwrap().is_empty());
    }

    #[test]
    fn hostile_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("link")).unwrap();
        let bin = Bin::open(dir.path()).unwrap();
        for bad in ["../x", "/etc/passwd", "a/../../x", "link/x", ""] {
            assert!(bin.checked(bad).is_err(), "{bad}");
        }
        let entry = BinEntry {
            id: 9,
            path: "link/planted".into(),
            object: bin.objects().put_bytes(b"evil").unwrap().id,
            mode: 0o644,
            size: 4,
            time: 0,
            reason: "planted".into(),
        };
        fs::write(
            dir.path().join(".devsky/bin/9.json"),
            serde_json::to_vec(&entry).unwrap(),
        )
        .unwrap();
        assert!(bin.restore(9).is_err());
        assert!(!outside.path().join("planted").exists());
    }
}
