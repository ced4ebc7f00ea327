//! The content-addressed object store under `<project>/.devsky/objects/`, shared by
//! snapshots, backups and packages so an unchanged file is stored once.
//!
//! - **Ids.** An object's id is the blake3 hash, as 64 lowercase hex characters, of its
//!   *uncompressed* content. Anything else offered as an id is refused before the
//!   filesystem is touched, so an id can never name a path outside the store.
//! - **Layout.** An object lives at `objects/<first 2 hex>/<remaining 62 hex>` as one zstd
//!   frame (level 3). Content is streamed in fixed-size chunks, hashed and compressed as it
//!   is read, so memory use is constant whatever the size.
//! - **Atomic writes.** A new object is written to a temp file in `objects/tmp/`, then
//!   renamed to its real name: a crash can leave a stray temp file (removed by
//!   [`ObjectStore::gc`] after an hour) but never a half object under a real name. Storing
//!   content that is already present writes nothing (`Stored::new == false`).
//! - **Durability, together.** Objects are stored in a [`Batch`] ([`ObjectStore::batch`]):
//!   no fsync per object; when the caller's closure returns Ok, every object the batch
//!   stored *or found present* is made durable at once — one `syncfs(2)` of the store's
//!   filesystem for a big batch (which also covers objects another process renamed in but
//!   has not synced yet), an fsync of each object and of each folder that got an entry for
//!   a small one (or when syncfs fails). Only then does `batch` return, so a caller records
//!   a row naming the objects after it: nothing can point at an object that is not durable.
//!   `put_file` / `put_bytes` on the store are a batch of one.
//! - **Integrity.** Every read (`get`, `reader`, `restore_to`) re-hashes the content and
//!   fails, naming the object, if it does not match its id.
//! - **Garbage collection** removes every object not in the caller's `keep` set, so it must
//!   not run while another process adds objects that are not referenced yet.

use std::collections::{BTreeSet, HashSet};
use std::fs::{self, File};
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, anyhow, bail};
use tempfile::NamedTempFile;
use zstd::stream::read::Decoder;

use crate::engine::util::durable::{count_sync, sync_dir, sync_filesystem};

const LEVEL: i32 = 3; // zstd level of new objects
const CHUNK: usize = 256 * 1024; // read size when streaming content in
const STALE_TEMP: Duration = Duration::from_secs(3600); // older temp files are crash debris
const SMALL_BATCH: usize = 16; // up to this many objects: fsync each, not the filesystem

/// The object store of one project.
#[derive(Debug, Clone)]
pub struct ObjectStore {
    root: PathBuf,
}

/// What storing some content produced: its id, its uncompressed size, and whether the
/// object was new (false: it was already present and nothing was written).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub id: String,
    pub size: u64,
    pub new: bool,
}

/// What [`ObjectStore::gc`] did: objects (and stale temp files) removed, bytes on disk
/// freed (compressed sizes), objects kept.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct GcReport {
    pub removed: usize,
    pub freed_bytes: u64,
    pub kept: usize,
}

/// Is `s` a well-formed object id (64 lowercase hex)?
pub fn is_id(s: &str) -> bool {
    s.len() == 64 && s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn check_id(id: &str) -> Result<()> {
    if !is_id(id) {
        let shown: String = id.chars().take(70).collect();
        bail!(
            "{shown:?} is not an object id (expected 64 lowercase hex characters); the \
             reference holding it is damaged or was not written by devsky"
        );
    }
    Ok(())
}

impl ObjectStore {
    /// `.devsky/objects` of the project at `project_root`; created if missing.
    pub fn open(project_root: &Path) -> Result<ObjectStore> {
        let root = project_root.join(".devsky").join("objects");
        fs::create_dir_all(root.join("tmp"))
            .with_context(|| format!("cannot create the object store at {}", root.display()))?;
        Ok(ObjectStore { root })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Path of an id; callers check the id first.
    fn path_of(&self, id: &str) -> PathBuf {
        self.root.join(&id[..2]).join(&id[2..])
    }

    fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    pub fn has(&self, id: &str) -> bool {
        is_id(id) && self.path_of(id).is_file()
    }

    /// Store objects together: `f` stores them through the [`Batch`]; when it returns Ok,
    /// all of them are made durable at once, then its value is returned. Record anything
    /// that names the objects only after this returns. On an error nothing is synced (the
    /// objects written are unreferenced; `gc` removes them).
    pub fn batch<T>(&self, f: impl FnOnce(&mut Batch) -> Result<T>) -> Result<T> {
        let mut batch = Batch {
            store: self,
            touched: Vec::new(),
            dirs: BTreeSet::new(),
        };
        let value = f(&mut batch)?;
        batch.make_durable()?;
        Ok(value)
    }

    /// [`Batch::put_file`] as a batch of one: durable when it returns.
    pub fn put_file(
        &self,
        path: &Path,
        expected: Option<&str>,
        trust_existing: bool,
    ) -> Result<Stored> {
        self.batch(|b| b.put_file(path, expected, trust_existing))
    }

    /// [`Batch::put_bytes`] as a batch of one: durable when it returns.
    pub fn put_bytes(&self, data: &[u8]) -> Result<Stored> {
        self.batch(|b| b.put_bytes(data))
    }

    /// Hash and compress `src` into a fresh temp file in `objects/tmp/` (not synced: the
    /// batch makes it durable).
    fn compress_to_temp(&self, mut src: impl Read) -> Result<(String, u64, NamedTempFile)> {
        let (tmp_file, tmp_path) = temp_in(&self.tmp_dir(), "obj-")?.into_parts();
        let mut enc = zstd::stream::write::Encoder::new(tmp_file, LEVEL)?;
        let mut hasher = blake3::Hasher::new();
        let mut buf = vec![0u8; CHUNK];
        let mut size = 0u64;
        loop {
            let n = match src.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e.into()),
            };
            hasher.update(&buf[..n]);
            enc.write_all(&buf[..n])?;
            size += n as u64;
        }
        let file = enc.finish()?;
        let id = hasher.finalize().to_hex().to_string();
        Ok((id, size, NamedTempFile::from_parts(file, tmp_path)))
    }

    /// Whole content (checks the hash; a damaged object is an error naming it).
    pub fn get(&self, id: &str) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.reader(id)?
            .read_to_end(&mut out)
            .with_context(|| format!("cannot read object {id}"))?;
        Ok(out)
    }

    /// A streaming reader of the decompressed content. The content is hashed as it is
    /// read; at the end a mismatch with `id` (a damaged object) is an `InvalidData` error.
    pub fn reader(&self, id: &str) -> Result<Box<dyn Read + Send>> {
        check_id(id)?;
        let path = self.path_of(id);
        if !path.is_file() {
            let root = self.root.display();
            bail!("object {id} is missing from {root}; it cannot be read from this store");
        }
        let file = File::open(&path).with_context(|| format!("cannot open object {id}"))?;
        let dec = Decoder::new(file)?;
        let verifying = Verifying(dec, blake3::Hasher::new(), id.to_string());
        Ok(Box::new(verifying))
    }

    /// Copy an object's content to `dest` (streaming; creates parent dirs; writes a temp
    /// file beside dest then renames). A damaged object leaves `dest` untouched.
    pub fn restore_to(&self, id: &str, dest: &Path) -> Result<u64> {
        self.restore_with_mode(id, dest, None)
    }

    /// [`Self::restore_to`], giving the file `mode` (permission bits) before it is renamed
    /// into place, so the file never shows at `dest` with another mode.
    pub fn restore_with_mode(&self, id: &str, dest: &Path, mode: Option<u32>) -> Result<u64> {
        let mut src = self.reader(id)?;
        let dir = match dest.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let mut tmp = temp_in(dir, ".devsky-restore-")?;
        let n = io::copy(&mut src, tmp.as_file_mut())
            .with_context(|| format!("cannot restore object {id} to {}", dest.display()))?;
        if let Some(mode) = mode {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(fs::Permissions::from_mode(mode & 0o7777))?;
        }
        tmp.as_file().sync_all()?;
        tmp.persist(dest)
            .map_err(|e| anyhow!(e.error))
            .with_context(|| format!("cannot write {}", dest.display()))?;
        Ok(n)
    }

    /// Every object id present (sorted).
    pub fn ids(&self) -> Result<Vec<String>> {
        let mut ids = Vec::new();
        let rd = fs::read_dir(&self.root);
        for dir in rd.with_context(|| format!("cannot list {}", self.root.display()))? {
            let dir = dir?;
            let prefix = dir.file_name().to_string_lossy().into_owned();
            if prefix.len() != 2 || !dir.file_type()?.is_dir() {
                continue;
            }
            for f in fs::read_dir(dir.path())? {
                let id = format!("{prefix}{}", f?.file_name().to_string_lossy());
                if is_id(&id) && self.path_of(&id).is_file() {
                    ids.push(id);
                }
            }
        }
        ids.sort();
        Ok(ids)
    }

    /// Remove every object whose id is not in `keep`, and stale temp files older than an
    /// hour. Returns what was removed.
    pub fn gc(&self, keep: &HashSet<String>) -> Result<GcReport> {
        let mut report = GcReport::default();
        for id in self.ids()? {
            if keep.contains(&id) {
                report.kept += 1;
                continue;
            }
            let path = self.path_of(&id);
            let len = fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
            fs::remove_file(&path)
                .with_context(|| format!("cannot remove object {id} at {}", path.display()))?;
            report.removed += 1;
            report.freed_bytes += len;
            let _ = fs::remove_dir(path.parent().expect("object path has a parent")); // if empty
        }
        let now = SystemTime::now();
        for f in fs::read_dir(self.tmp_dir()).into_iter().flatten().flatten() {
            let Ok(meta) = f.metadata() else { continue };
            let age = now.duration_since(meta.modified().unwrap_or(now));
            let stale = age.unwrap_or_default() > STALE_TEMP;
            if meta.is_file() && stale && fs::remove_file(f.path()).is_ok() {
                report.removed += 1;
                report.freed_bytes += meta.len();
            }
        }
        Ok(report)
    }
}

/// Objects being stored together (see [`ObjectStore::batch`]): written without fsync,
/// made durable at once when the batch ends.
pub struct Batch<'a> {
    store: &'a ObjectStore,
    /// Every object this batch stored or found present: all must be durable at the end.
    touched: Vec<PathBuf>,
    /// Folders that got a new entry (an object, or an object's new folder).
    dirs: BTreeSet<PathBuf>,
}

impl Batch<'_> {
    /// Store a file's content, streaming (constant memory for any size: read in chunks,
    /// hash and compress as it goes). With `expected = Some(id)`, the content read must hash
    /// to `id`; otherwise nothing is stored and the error says the file changed while it was
    /// read. If `expected` is given and the object already exists, return quickly (size from
    /// the file's metadata) without reading the file only when `trust_existing` is true.
    pub fn put_file(
        &mut self,
        path: &Path,
        expected: Option<&str>,
        trust_existing: bool,
    ) -> Result<Stored> {
        let cannot_read = || format!("cannot read {}", path.display());
        if let Some(exp) = expected {
            check_id(exp)?;
            if trust_existing && self.store.has(exp) {
                let size = fs::metadata(path).with_context(cannot_read)?.len();
                self.touched.push(self.store.path_of(exp));
                return Ok(stored(exp.to_string(), size, false));
            }
        }
        let file = File::open(path).with_context(cannot_read)?;
        let (id, size, tmp) = self
            .store
            .compress_to_temp(file)
            .with_context(|| format!("cannot store {}", path.display()))?;
        if let Some(exp) = expected
            && exp != id
        {
            bail!(
                "{} changed while it was read (expected content {exp}, read {id}); nothing was \
                 stored: read the file again",
                path.display()
            );
        }
        let new = self.commit(&id, tmp)?;
        Ok(stored(id, size, new))
    }

    pub fn put_bytes(&mut self, data: &[u8]) -> Result<Stored> {
        let id = blake3::hash(data).to_hex().to_string();
        let size = data.len() as u64;
        if self.store.has(&id) {
            self.touched.push(self.store.path_of(&id));
            return Ok(stored(id, size, false));
        }
        let (_, _, tmp) = self.store.compress_to_temp(data)?;
        let new = self.commit(&id, tmp)?;
        Ok(stored(id, size, new))
    }

    /// Rename a finished temp file to the object's real name. False if it already existed.
    fn commit(&mut self, id: &str, tmp: NamedTempFile) -> Result<bool> {
        let dest = self.store.path_of(id);
        self.touched.push(dest.clone());
        if dest.is_file() {
            return Ok(false); // `tmp` is deleted on drop
        }
        let dir = dest.parent().expect("object path has a parent");
        if !dir.is_dir() {
            fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
            self.dirs.insert(self.store.root.clone());
        }
        tmp.persist(&dest)
            .map_err(|e| anyhow!(e.error))
            .with_context(|| format!("cannot write object {id} to {}", dest.display()))?;
        self.dirs.insert(dir.to_path_buf());
        Ok(true)
    }

    /// Make every touched object, and the folders naming them, durable: one syncfs for a
    /// big batch, else (or if syncfs fails) an fsync per object and per changed folder.
    fn make_durable(self) -> Result<()> {
        if self.touched.is_empty() {
            return Ok(());
        }
        if self.touched.len() > SMALL_BATCH && sync_filesystem(&self.store.root).is_ok() {
            return Ok(());
        }
        for path in &self.touched {
            let file = File::open(path).with_context(|| format!("cannot open {}", path.display()));
            count_sync();
            file?
                .sync_all()
                .with_context(|| format!("cannot make {} durable", path.display()))?;
        }
        for dir in self.dirs.iter().rev() {
            sync_dir(dir); // deepest first: an object's folder, then the store's root
        }
        Ok(())
    }
}

fn stored(id: String, size: u64, new: bool) -> Stored {
    Stored { id, size, new }
}

fn temp_in(dir: &Path, prefix: &str) -> Result<NamedTempFile> {
    let tmp = tempfile::Builder::new().prefix(prefix).tempfile_in(dir);
    tmp.with_context(|| format!("cannot create a temp file in {}", dir.display()))
}

/// Decompresses (.0), hashes (.1) and checks the content against its id (.2) at the end.
struct Verifying(Decoder<'static, BufReader<File>>, blake3::Hasher, String);

impl Read for Verifying {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let id = &self.2;
        let damaged = |what: String| {
            let msg = format!("object {id} is damaged ({what}); restore it from a backup");
            io::Error::new(io::ErrorKind::InvalidData, msg)
        };
        let n = self.0.read(buf).map_err(|e| damaged(e.to_string()))?;
        if n > 0 {
            self.1.update(&buf[..n]);
        } else if !buf.is_empty() && self.1.finalize().to_hex().as_str() != id {
            return Err(damaged("its content does not match its id".into()));
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, ObjectStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = ObjectStore::open(dir.path()).unwrap();
        (dir, s)
    }

    fn sample(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * i / 7 + i % 251) as u8).collect()
    }

    fn temps(s: &ObjectStore) -> usize {
        fs::read_dir(s.tmp_dir()).unwrap().count()
    }

    fn hex(data: &[u8]) -> String {
        blake3::hash(data).to_hex().to_string()
    }

    fn fails_with<T: std::fmt::Debug>(r: Result<T>, want: &str) {
        let msg = format!("{:#}", r.unwrap_err());
        assert!(msg.contains(want), "{msg}");
    }

    #[test]
    fn round_trip_bytes_and_file() {
        let (dir, s) = store();
        let st = s.put_bytes(b"hello objects").unwrap();
        assert_eq!(st, stored(hex(b"hello objects"), 13, true));
        assert!(s.has(&st.id) && s.root().join(&st.id[..2]).join(&st.id[2..]).is_file());
        assert_eq!(s.get(&st.id).unwrap(), b"hello objects");
        assert_eq!(s.get(&s.put_bytes(b"").unwrap().id).unwrap(), b"");

        let data = sample(5 * 1024 * 1024);
        let path = dir.path().join("big.bin");
        fs::write(&path, &data).unwrap();
        let st = s.put_file(&path, None, false).unwrap();
        assert_eq!(st, stored(hex(&data), data.len() as u64, true));
        assert!(s.get(&st.id).unwrap() == data);
        assert_eq!(temps(&s), 0);
    }

    #[test]
    fn batch_is_synced_once_and_only_on_success() {
        let (_dir, s) = store();
        let blobs: Vec<Vec<u8>> = (0..200u32).map(|i| i.to_le_bytes().repeat(9)).collect();
        let before = crate::engine::util::durable::syncs();
        let ids = s
            .batch(|b| {
                blobs
                    .iter()
                    .map(|d| Ok(b.put_bytes(d)?.id))
                    .collect::<Result<Vec<_>>>()
            })
            .unwrap();
        // One syncfs for 200 objects (other tests may sync meanwhile; per object is >= 200).
        let syncs = crate::engine::util::durable::syncs() - before;
        assert!(syncs < 50, "{syncs} syncs for one batch");
        for (id, d) in ids.iter().zip(&blobs) {
            assert_eq!(&s.get(id).unwrap(), d);
        }
        assert_eq!(temps(&s), 0);
        // A failing batch returns its error; what it wrote stays unreferenced for gc.
        let r: Result<()> = s.batch(|b| {
            b.put_bytes(b"left behind")?;
            bail!("stopped")
        });
        fails_with(r, "stopped");
        assert!(s.has(&hex(b"left behind")));
    }

    #[test]
    fn dedup() {
        let (dir, s) = store();
        let a = s.put_bytes(b"same").unwrap();
        let again = stored(a.id.clone(), 4, false);
        assert_eq!(s.put_bytes(b"same").unwrap(), again);
        let path = dir.path().join("f");
        fs::write(&path, b"same").unwrap();
        assert_eq!(s.put_file(&path, None, false).unwrap(), again);
        assert_eq!(s.put_file(&path, Some(&a.id), true).unwrap(), again);
        assert_eq!((s.ids().unwrap(), temps(&s)), (vec![a.id], 0));
    }

    #[test]
    fn expected_mismatch_stores_nothing() {
        let (dir, s) = store();
        let path = dir.path().join("f");
        fs::write(&path, b"new content").unwrap();
        let old = hex(b"old content");
        let r = s.put_file(&path, Some(&old), false);
        fails_with(r, "changed while it was read");
        assert_eq!((s.ids().unwrap().len(), temps(&s)), (0, 0));
        let new = hex(b"new content");
        assert!(s.put_file(&path, Some(&new), false).unwrap().new);
    }

    #[test]
    fn damaged_object_is_an_error() {
        let (dir, s) = store();
        let st = s.put_bytes(&sample(100_000)).unwrap();
        let path = s.path_of(&st.id);
        let mut raw = fs::read(&path).unwrap();
        let mid = raw.len() / 2;
        raw[mid] ^= 0x40;
        fs::write(&path, &raw).unwrap();
        fails_with(s.get(&st.id), &st.id);
        let out = dir.path().join("restored");
        assert!(s.restore_to(&st.id, &out).is_err() && !out.exists());
        // A valid frame holding other content is caught by the hash check.
        let other = zstd::encode_all(&b"not the original"[..], 3).unwrap();
        fs::write(&path, other).unwrap();
        fails_with(s.get(&st.id), "does not match");
    }

    #[test]
    fn bad_ids_refused() {
        let (dir, s) = store();
        let good = hex(b"x");
        let (upper, long) = (good.to_uppercase(), format!("{good}0"));
        let dots = format!("{}/..", &good[..61]);
        let (out, nope) = (dir.path().join("out"), dir.path().join("nope"));
        for id in ["", "../../etc/passwd", &good[..63], &upper, &dots, &long] {
            assert!(!is_id(id) && !s.has(id), "{id}");
            fails_with(s.get(id), "not an object id");
            fails_with(s.restore_to(id, &out), "not an object id");
            fails_with(s.put_file(&nope, Some(id), true), "not an object id");
        }
        fails_with(s.get(&good), "missing");
    }

    #[test]
    fn gc_removes_only_unreferenced() {
        let (_dir, s) = store();
        let [a, b, c] = [b"a", b"b", b"c"].map(|d| s.put_bytes(d).unwrap().id);
        let fresh = s.tmp_dir().join("obj-inflight");
        fs::write(&fresh, b"partial").unwrap();
        let r = s.gc(&[a.clone(), c.clone()].into()).unwrap();
        assert_eq!((r.removed, r.kept), (1, 2));
        assert!(r.freed_bytes > 0 && fresh.exists()); // recent temp files stay
        assert!(s.has(&a) && !s.has(&b) && s.has(&c));
        assert_eq!(s.ids().unwrap().len(), 2);
    }

    #[test]
    fn restore_to_writes_identical_bytes() {
        let (dir, s) = store();
        let data = sample(300_000);
        let st = s.put_bytes(&data).unwrap();
        let dest = dir.path().join("out/deep/file.bin");
        assert_eq!(s.restore_to(&st.id, &dest).unwrap(), data.len() as u64);
        assert!(fs::read(&dest).unwrap() == data);
        fs::write(&dest, b"overwritten").unwrap();
        s.restore_to(&st.id, &dest).unwrap();
        assert!(fs::read(&dest).unwrap() == data);
        assert_eq!(fs::read_dir(dest.parent().unwrap()).unwrap().count(), 1);
    }

    #[test]
    fn sparse_100mb_file_streams() {
        let (dir, s) = store();
        let path = dir.path().join("sparse");
        let len = 100 * 1024 * 1024u64;
        File::create(&path).unwrap().set_len(len).unwrap();
        let st = s.put_file(&path, None, false).unwrap();
        let mut h = blake3::Hasher::new();
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..100 {
            h.update(&zeros);
        }
        assert_eq!(st, stored(h.finalize().to_hex().to_string(), len, true));
        let n = io::copy(&mut s.reader(&st.id).unwrap(), &mut io::sink()).unwrap();
        assert_eq!(n, len);
    }
}
