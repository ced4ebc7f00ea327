//! Update packages: a zip with the project's structure for the uploaded files (symlinks as
//! symlinks with their target) plus `devsky-manifest.json` at the root.
//!
//! [`build`] (in `pack`) streams every file from the project into the zip on a few
//! threads, hashing as it reads, and fails if a file no longer has the hash of the plan (it
//! changed since it was mapped).
//!
//! [`Package::open`] is what the server side runs first, and it writes nothing: it refuses
//! an archive that is truncated or corrupt, has too many entries, duplicate names, local
//! headers that name another file than the central directory, names that are absolute,
//! climb with `..`, hold backslashes or NUL, folder, encrypted or oddly compressed entries,
//! symlinks whose target leaves the root on its text, a total uncompressed size over the
//! limit or over the free space of the target (zip bombs), a manifest that is malformed or
//! points outside the root, entries missing from the manifest or manifest entries missing
//! from the zip, and content whose size or blake3 differs from the manifest (every read is
//! capped at the size the manifest declares). Only then does a [`PackageReader`] hand out
//! contents — each checked again as it is written. What a package would do to a given
//! root (symlinks resolved through it, parents, deletes, name lengths) is `guard`'s.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{BufReader, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, anyhow, bail};
use zip::{CompressionMethod, ZipArchive};

use super::manifest::{
    Kind, MANIFEST_NAME, Manifest, Upload, check_link_target, check_path, parse_mode,
};
use super::runs::in_parallel;
use crate::engine::jobs::Progress;

pub use super::pack::{
    Built, KEEP_PACKAGES, Packing, build, build_with, keep_newest_packages, manifest_of,
};

/// The compressions of package entries this agent reads (`GET /api/v1/health` says so).
pub const READS: &[&str] = &["stored", "deflated", "zstd"];

pub(super) const CHUNK: usize = 256 * 1024;
/// Longest symlink target read from a package.
const MAX_TARGET: u64 = 4096;

/// Space kept free on the target's file system: a package must fit in its free space less
/// this.
pub const SPACE_MARGIN: u64 = 64 << 20;

/// What a package may hold (zip-bomb and resource limits). Every entry counts, small ones
/// too, by the size the archive and the manifest declare (reads are capped at it): a
/// file that compresses well is fine as long as the sum fits.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Sum of the uncompressed sizes of all entries (`--max-size`).
    pub max_total: u64,
    /// Bytes free on the file system the package is unpacked on (None: not checked); the
    /// sum must stay [`SPACE_MARGIN`] below it. `apply` sets it from `statvfs` of the root.
    pub free_space: Option<u64>,
    pub max_entries: u64,
    /// Largest manifest.
    pub max_manifest: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_total: 2 << 30,
            free_space: None,
            max_entries: 1_000_000,
            max_manifest: 512 << 20,
        }
    }
}

/// Bytes available to the agent on the file system of `path` (`statvfs`).
#[allow(clippy::unnecessary_cast)] // u64 on 64-bit Linux, narrower elsewhere
pub fn free_space(path: &Path) -> anyhow::Result<u64> {
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is NUL-terminated and `st` a valid buffer, both live for the call.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error())
            .with_context(|| format!("cannot read the free space of {}", path.display()));
    }
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

/// blake3 and size of a file.
pub fn hash_file(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut f = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut h = blake3::Hasher::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((h.finalize().to_hex().to_string(), n))
}

/// A package that passed every check of [`Package::open`].
#[derive(Debug, Clone)]
pub struct Package {
    pub path: PathBuf,
    pub manifest: Manifest,
    /// blake3 of the zip file.
    pub blake3: String,
    pub size: u64,
    /// Upload path -> entry index (by raw name, as validated).
    index: HashMap<String, usize>,
    /// Symlink upload path -> its target, as read and checked.
    links: HashMap<String, Vec<u8>>,
}

impl Package {
    /// Open and validate a package completely (see the module doc). Writes nothing.
    pub fn open(path: &Path, limits: &Limits, progress: &Progress) -> anyhow::Result<Package> {
        validate(path, limits, progress)
            .with_context(|| format!("package {} refused; nothing was changed", path.display()))
    }

    /// The target of the symlink upload at `path`.
    pub fn link_target(&self, path: &str) -> Option<&[u8]> {
        self.links.get(path).map(Vec::as_slice)
    }

    /// A reader for the contents.
    pub fn reader(&self) -> anyhow::Result<PackageReader> {
        Ok(PackageReader {
            archive: open_zip(&self.path)?,
            index: self.index.clone(),
            buf: vec![0u8; CHUNK],
        })
    }
}

/// The archive's reader buffer: small, because every entry starts with a seek that
/// empties it (the inflater reads through its own buffer, big reads bypass this one).
const ZIP_BUFFER: usize = 32 * 1024;

fn open_zip(path: &Path) -> anyhow::Result<ZipArchive<BufReader<File>>> {
    let f = File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    ZipArchive::new(BufReader::with_capacity(ZIP_BUFFER, f))
        .map_err(|e| anyhow!("the archive is damaged or truncated ({e})"))
}

fn validate(path: &Path, limits: &Limits, progress: &Progress) -> anyhow::Result<Package> {
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    if !meta.is_file() {
        bail!("not a regular file");
    }
    {
        let mut f = File::open(path)?;
        let names = super::zipdir::central_names(&mut f, meta.len(), limits.max_entries)?;
        let mut seen = std::collections::HashSet::new();
        for n in &names {
            if !seen.insert(n.as_slice()) {
                bail!(
                    "duplicate entry name {:?} in the archive",
                    String::from_utf8_lossy(n)
                );
            }
        }
    }
    let mut zip = open_zip(path)?;
    if zip.has_duplicate_names() {
        bail!("duplicate entry names in the archive");
    }
    if zip.len() as u64 > limits.max_entries {
        bail!(
            "{} entries (the limit is {})",
            zip.len(),
            limits.max_entries
        );
    }
    // Names, kinds and declared sizes, from the central directory alone.
    struct Seen {
        index: usize,
        symlink: bool,
        size: u64,
    }
    let mut entries: HashMap<String, Seen> = HashMap::new();
    let mut total = 0u64;
    let meta_all = zip.metadata();
    for i in 0..zip.len() {
        let e = meta_all.entry(i)?;
        let raw = e.name_raw();
        let name = std::str::from_utf8(raw).map_err(|_| {
            anyhow!(
                "entry {:?} has a non-UTF-8 name",
                String::from_utf8_lossy(raw)
            )
        })?;
        if e.is_dir() {
            bail!(
                "entry {name:?} is a folder entry; devsky packages hold files and symlinks only \
                 (folders are made for the files in them)"
            );
        }
        check_path(name).with_context(|| format!("entry {name:?}"))?;
        if e.encrypted() {
            bail!("entry {name:?} is encrypted");
        }
        if !matches!(
            e.compression(),
            CompressionMethod::Stored | CompressionMethod::Deflated | CompressionMethod::Zstd
        ) {
            bail!(
                "entry {name:?} uses compression {:?}; only stored, deflated and zstd are read",
                e.compression()
            );
        }
        let size = e.size();
        total = total.saturating_add(size);
        check_total(total, limits)?;
        if e.is_symlink() && size > MAX_TARGET {
            bail!("symlink entry {name:?} has a target of {size} bytes");
        }
        entries.insert(
            name.to_string(),
            Seen {
                index: i,
                symlink: e.is_symlink(),
                size,
            },
        );
    }
    let m = entries
        .get(MANIFEST_NAME)
        .ok_or_else(|| anyhow!("no {MANIFEST_NAME} at the root of the archive"))?;
    if m.size > limits.max_manifest || m.symlink {
        bail!("{MANIFEST_NAME} is too big or not a file");
    }
    let mut buf = vec![0u8; CHUNK];
    let (bytes, _) = read_entry(&mut zip, m.index, m.size, true, &mut buf)?;
    let manifest = Manifest::parse(&bytes)?;
    // Manifest and archive must list the same files, of the same kinds and sizes.
    let mut by_path: HashMap<&str, &Upload> = HashMap::new();
    for u in &manifest.uploads {
        let Some(e) = entries.get(&u.path) else {
            bail!(
                "{:?} is in the manifest but missing from the archive",
                u.path
            );
        };
        if e.symlink != (u.kind == Kind::Symlink) {
            bail!(
                "{:?} is a {:?} in the manifest but not in the archive",
                u.path,
                u.kind
            );
        }
        if e.size != u.size {
            bail!(
                "{:?}: the archive says {} bytes, the manifest {}",
                u.path,
                e.size,
                u.size
            );
        }
        by_path.insert(&u.path, u);
    }
    for name in entries.keys() {
        if name != MANIFEST_NAME && !by_path.contains_key(name.as_str()) {
            bail!("entry {name:?} is in the archive but not in the manifest");
        }
    }
    // Every content, read in archive order: size, hash, symlink target.
    let mut order: Vec<(usize, &Upload)> = by_path
        .iter()
        .map(|(p, u)| (entries[*p].index, *u))
        .collect();
    order.sort_by_key(|(i, _)| *i);
    let total_bytes = manifest.upload_bytes();
    let done = std::sync::atomic::AtomicU64::new(0);
    let links = std::sync::Mutex::new(HashMap::new());
    drop(zip);
    // A few threads, each with its own reader over a run of entries.
    in_parallel(&order, |run| {
        let mut zip = open_zip(path)?;
        let mut buf = vec![0u8; CHUNK];
        for &(i, u) in run {
            progress.check()?;
            let (data, hash) = read_entry(&mut zip, i, u.size, u.kind == Kind::Symlink, &mut buf)?;
            if hash != u.blake3 {
                bail!(
                    "{:?}: content hash {hash} does not match the manifest's {}",
                    u.path,
                    u.blake3
                );
            }
            if u.kind == Kind::Symlink {
                check_link_target(&u.path, &data)?;
                links
                    .lock()
                    .map_err(|_| anyhow!("a checking thread failed"))?
                    .insert(u.path.clone(), data);
            }
            let n = done.fetch_add(u.size, std::sync::atomic::Ordering::Relaxed) + u.size;
            progress.set(n, Some(total_bytes), "checking package");
        }
        Ok(())
    })?;
    let (blake3, size) = hash_file(path)?;
    let index = manifest
        .uploads
        .iter()
        .map(|u| (u.path.clone(), entries[&u.path].index))
        .collect();
    Ok(Package {
        path: path.to_path_buf(),
        manifest,
        blake3,
        size,
        index,
        links: links
            .into_inner()
            .map_err(|_| anyhow!("a checking thread failed"))?,
    })
}

/// Refuse a running total of uncompressed bytes over the limit or the free space.
fn check_total(total: u64, limits: &Limits) -> anyhow::Result<()> {
    if total > limits.max_total {
        bail!(
            "the contents add up to more than {} bytes uncompressed, the limit of this agent \
             (--max-size); a zip bomb or a package too big for this server",
            limits.max_total
        );
    }
    if let Some(free) = limits.free_space
        && total.saturating_add(SPACE_MARGIN) > free
    {
        bail!(
            "the contents add up to more than {total} bytes uncompressed, more than the free \
             space of the target's file system allows ({free} bytes free, {SPACE_MARGIN} kept \
             spare); a zip bomb or a package too big for this server"
        );
    }
    Ok(())
}

/// Read entry `i` of exactly `size` bytes (never more) through `buf`, returning its blake3
/// and, with `keep`, its bytes.
fn read_entry(
    zip: &mut ZipArchive<BufReader<File>>,
    i: usize,
    size: u64,
    keep: bool,
    buf: &mut [u8],
) -> anyhow::Result<(Vec<u8>, String)> {
    let f = zip
        .by_index(i)
        .map_err(|e| anyhow!("the archive is damaged ({e})"))?;
    let name = String::from_utf8_lossy(f.name_raw()).into_owned();
    let mut r = f.take(size + 1);
    let mut h = blake3::Hasher::new();
    let mut out = Vec::new();
    let mut n = 0u64;
    loop {
        let k = match r.read(buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // The zip reader stops an entry that grows past its declared size itself.
            Err(e) => bail!(
                "entry {name:?} is damaged, truncated or inflates beyond its declared {size} \
                 bytes ({e}): refused (a zip bomb?)"
            ),
        };
        n += k as u64;
        if n > size {
            bail!(
                "entry {name:?} inflates beyond its declared {size} bytes: refused as a zip bomb"
            );
        }
        h.update(&buf[..k]);
        if keep {
            out.extend_from_slice(&buf[..k]);
        }
    }
    if n != size {
        bail!("entry {name:?} is truncated ({n} of {size} bytes)");
    }
    Ok((out, h.finalize().to_hex().to_string()))
}

/// Hands out the contents of a validated package.
pub struct PackageReader {
    archive: ZipArchive<BufReader<File>>,
    index: HashMap<String, usize>,
    /// One buffer for every entry.
    buf: Vec<u8>,
}

impl PackageReader {
    /// Write upload `u` as a new file or symlink at `dest` (which must not exist), with
    /// its mode; its size and hash are checked again as it is written. Not synced: the
    /// caller syncs everything it extracted at once (`fsops::sync_filesystem`).
    pub fn extract(&mut self, u: &Upload, dest: &Path) -> anyhow::Result<()> {
        self.extract_near(u, dest, None)
    }

    /// [`PackageReader::extract`], with a file's inode made in the folder `near` (where it
    /// will live) and linked at `dest` once written — see [`unnamed_in`].
    pub fn extract_near(
        &mut self,
        u: &Upload,
        dest: &Path,
        near: Option<&Path>,
    ) -> anyhow::Result<()> {
        let i = *self
            .index
            .get(&u.path)
            .ok_or_else(|| anyhow!("{} is not in the package", u.path))?;
        let f = self
            .archive
            .by_index(i)
            .map_err(|e| anyhow!("{}: {e}", u.path))?;
        let mut r = f.take(u.size + 1);
        let bad = |what: &str| anyhow!("{}: {what} while unpacking (the package changed?)", u.path);
        match u.kind {
            Kind::Symlink => {
                let mut t = Vec::new();
                r.read_to_end(&mut t)?;
                if t.len() as u64 != u.size || blake3::hash(&t).to_hex().as_str() != u.blake3 {
                    return Err(bad("content differs"));
                }
                check_link_target(&u.path, &t)?;
                std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(&t), dest)
                    .with_context(|| format!("cannot create {}", dest.display()))?;
            }
            Kind::File => {
                let unnamed = near.and_then(|d| unnamed_in(d).ok());
                let mut out = match &unnamed {
                    Some(f) => f.try_clone()?,
                    None => create_new(dest)?,
                };
                let mut h = blake3::Hasher::new();
                let buf = &mut self.buf;
                let mut n = 0u64;
                loop {
                    let k = match r.read(buf) {
                        Ok(0) => break,
                        Ok(k) => k,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e).context(bad("read error")),
                    };
                    n += k as u64;
                    h.update(&buf[..k]);
                    out.write_all(&buf[..k])
                        .with_context(|| format!("cannot write {}", dest.display()))?;
                }
                if n != u.size || h.finalize().to_hex().as_str() != u.blake3 {
                    return Err(bad("content differs"));
                }
                out.set_permissions(std::fs::Permissions::from_mode(parse_mode(&u.mode)?))?;
                if let Some(f) = unnamed {
                    link_unnamed(f, dest)?;
                }
            }
        }
        Ok(())
    }
}

fn create_new(dest: &Path) -> anyhow::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dest)
        .with_context(|| format!("cannot create {}", dest.display()))
}

/// A new file without a name in the folder `dir` (`O_TMPFILE`): the file system places its
/// inode near that folder's, as it would a file created there, yet nothing appears in the
/// folder. Files staged for a web root are made in their own folders this way, and linked
/// into the stage: a stage folder of their own would crowd every new inode into one spot
/// of the disk (on ext4 without a journal, new inodes there are found by skipping each
/// one freed in the last minutes, over and over).
pub fn unnamed_in(dir: &Path) -> std::io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .mode(0o600)
        .custom_flags(libc::O_TMPFILE)
        .open(dir)
}

/// Give the unnamed file `f` the name `dest` (a link through `/proc/self/fd`); where that
/// cannot be done (another file system, no `/proc`), `dest` gets a copy of its content.
fn link_unnamed(mut f: File, dest: &Path) -> anyhow::Result<()> {
    use std::os::fd::AsRawFd;
    let proc = std::ffi::CString::new(format!("/proc/self/fd/{}", f.as_raw_fd()))?;
    let to = std::ffi::CString::new(dest.as_os_str().as_bytes())?;
    // SAFETY: both paths are NUL-terminated strings that outlive the call.
    let r = unsafe {
        libc::linkat(
            libc::AT_FDCWD,
            proc.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::AT_SYMLINK_FOLLOW,
        )
    };
    if r == 0 {
        return Ok(());
    }
    let e = std::io::Error::last_os_error();
    if e.kind() == std::io::ErrorKind::AlreadyExists {
        return Err(e).with_context(|| format!("cannot create {}", dest.display()));
    }
    let mut out = create_new(dest)?;
    std::io::Seek::seek(&mut f, std::io::SeekFrom::Start(0))?;
    std::io::copy(&mut f, &mut out).with_context(|| format!("cannot write {}", dest.display()))?;
    out.set_permissions(f.metadata()?.permissions())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `free_space` against `stat -f` (coreutils): available blocks times their size.
    #[test]
    fn free_space_is_what_statvfs_says_is_available() {
        let dir = tempfile::tempdir().unwrap();
        let o = std::process::Command::new("stat")
            .args(["-f", "-c", "%a %S"])
            .arg(dir.path())
            .output()
            .expect("stat (coreutils) is needed: apt-get install coreutils");
        let out = String::from_utf8(o.stdout).unwrap();
        let v: Vec<u64> = out.split_whitespace().map(|x| x.parse().unwrap()).collect();
        let want = v[0] * v[1];
        let got = free_space(dir.path()).unwrap();
        // Other processes write meanwhile: equal within 64 MiB.
        assert!(got.abs_diff(want) < 64 << 20, "{got} vs {want}");
        assert!(free_space(&dir.path().join("missing")).is_err());
    }
}
