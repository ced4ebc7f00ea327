//! Packing: the update package of a plan, built from the project. Runs of uploads are
//! packed on a few threads, each into a zip of its own beside the package; the runs are then
//! joined in order behind the manifest, their compressed bytes copied as they are.
//!
//! Every file is hashed as it is read, and the build fails if one no longer has the hash
//! of the plan (it changed since it was mapped).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use anyhow::{Context, anyhow, bail};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::manifest::{
    Delete, FORMAT, Folder, Kind, MANIFEST_NAME, Manifest, Upload, check_link_target, check_path,
    parse_mode,
};
use super::package::{CHUNK, hash_file};
use super::plan::Plan;
use super::runs::in_parallel;
use super::{now_ms, rfc3339};
use crate::engine::jobs::Progress;

/// A package written by [`build`].
#[derive(Debug, Clone, serde::Serialize)]
pub struct Built {
    pub path: PathBuf,
    /// blake3 of the zip file.
    pub blake3: String,
    /// Bytes of the zip file.
    pub size: u64,
    pub uploads: usize,
    pub deletes: usize,
    pub upload_bytes: u64,
}

/// The manifest of a plan.
pub fn manifest_of(plan: &Plan) -> anyhow::Result<Manifest> {
    let name = |p: &[u8]| -> anyhow::Result<String> {
        let s = std::str::from_utf8(p)
            .map_err(|_| {
                anyhow!(
                    "{:?} is not a UTF-8 name; packages carry UTF-8 names only: rename it or \
                     leave it out",
                    String::from_utf8_lossy(p)
                )
            })?
            .to_string();
        check_path(&s)?;
        Ok(s)
    };
    let hex = |h: &[u8; 32]| blake3::Hash::from_bytes(*h).to_hex().to_string();
    let mut m = Manifest {
        format: FORMAT.into(),
        // Version 2 (folders listed) only for an agent whose map lists folders: an older
        // agent reads version 1, where folders follow the files.
        version: if plan.sql.is_some() {
            super::manifest::VERSION_SQL
        } else if plan.folders_listed {
            2
        } else {
            1
        },
        created: rfc3339(now_ms()),
        uploads: Vec::new(),
        deletes: Vec::new(),
        pre_images: BTreeMap::new(),
        expected: BTreeMap::new(),
        folders: Vec::new(),
        remove_folders: Vec::new(),
        sql: plan.sql.clone(),
        folders_follow: plan.sql.is_some() && !plan.folders_listed,
    };
    for u in &plan.uploads {
        let path = name(&u.path)?;
        if path == MANIFEST_NAME {
            bail!(
                "a file named {MANIFEST_NAME} at the project root cannot be deployed (the name is reserved for the package's manifest)"
            );
        }
        m.pre_images
            .insert(path.clone(), u.remote.as_ref().map(hex));
        m.expected.insert(path.clone(), Some(hex(&u.hash)));
        m.uploads.push(Upload {
            path,
            size: u.size,
            blake3: hex(&u.hash),
            mode: format!("{:o}", u.mode),
            kind: u.kind.into(),
        });
    }
    for d in &plan.deletes {
        let path = name(&d.path)?;
        m.pre_images.insert(path.clone(), Some(hex(&d.hash)));
        m.expected.insert(path.clone(), None);
        m.deletes.push(Delete {
            path,
            blake3: hex(&d.hash),
        });
    }
    for f in &plan.folders {
        let path = name(&f.path)?;
        match f.mode {
            Some(mode) => m.folders.push(Folder {
                path,
                mode: format!("{mode:o}"),
            }),
            None => m.remove_folders.push(path),
        }
    }
    m.check()?;
    Ok(m)
}

/// Build the package of `plan` from the project at `root` into `out_dir`.
/// How the files of a package are compressed (already-compressed formats are stored).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Packing {
    /// Deflate: what every devsky agent reads.
    Deflate,
    /// Zstandard: several times faster and a little smaller, for an agent whose
    /// `/api/v1/health` lists `zstd` among the `packages` it reads.
    Zstd,
}

pub fn build(
    root: &Path,
    plan: &Plan,
    out_dir: &Path,
    progress: &Progress,
) -> anyhow::Result<Built> {
    build_with(root, plan, out_dir, Packing::Deflate, progress)
}

/// [`build`], compressed as `packing` says.
pub fn build_with(
    root: &Path,
    plan: &Plan,
    out_dir: &Path,
    packing: Packing,
    progress: &Progress,
) -> anyhow::Result<Built> {
    let manifest = manifest_of(plan)?;
    std::fs::create_dir_all(out_dir)
        .with_context(|| format!("cannot create {}", out_dir.display()))?;
    let tmp = tempfile::Builder::new()
        .prefix(".devsky-update-")
        .suffix(".zip.tmp")
        .tempfile_in(out_dir)
        .with_context(|| format!("cannot write in {}", out_dir.display()))?;
    let total = manifest.upload_bytes();
    let done = AtomicU64::new(0);
    let runs = in_parallel(&manifest.uploads, |run| {
        pack_run(root, run, out_dir, packing, &done, total, progress)
    })?;
    let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, tmp.reopen()?));
    let json = serde_json::to_vec_pretty(&manifest)?;
    zip.start_file(MANIFEST_NAME, SimpleFileOptions::default())?;
    zip.write_all(&json)?;
    for run in runs {
        let part = ZipArchive::new(BufReader::with_capacity(CHUNK, run.reopen()?))
            .context("cannot read back a packed run")?;
        zip.merge_archive(part)?;
    }
    let out = zip.finish()?;
    let file = out.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    let (blake3, size) = hash_file(tmp.path())?;
    let stamp: String = rfc3339(now_ms())
        .chars()
        .take(19)
        .filter(char::is_ascii_digit)
        .collect();
    let name = format!(
        "devsky-update-{}-{}-{}.zip",
        &stamp[..8],
        &stamp[8..],
        &blake3[..12]
    );
    let dest = out_dir.join(name);
    tmp.persist(&dest)
        .map_err(|e| anyhow!(e.error))
        .with_context(|| format!("cannot write {}", dest.display()))?;
    if let Ok(d) = File::open(out_dir) {
        let _ = d.sync_all();
    }
    progress.set(total, Some(total), "packed");
    Ok(Built {
        path: dest,
        blake3,
        size,
        uploads: manifest.uploads.len(),
        deletes: manifest.deletes.len(),
        upload_bytes: total,
    })
}

/// Pack the uploads `run` into a zip of their own (a temp file in `dir`, gone when dropped),
/// adding their bytes to `done`.
fn pack_run(
    root: &Path,
    run: &[Upload],
    dir: &Path,
    packing: Packing,
    done: &AtomicU64,
    total: u64,
    progress: &Progress,
) -> anyhow::Result<tempfile::NamedTempFile> {
    let part = tempfile::Builder::new()
        .prefix(".devsky-run-")
        .suffix(".zip.tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 20, part.reopen()?));
    let mut buf = vec![0u8; CHUNK];
    for u in run {
        progress.check()?;
        let abs = root.join(&u.path);
        let changed = || {
            anyhow!(
                "{} changed since it was mapped; map again and make a new package",
                u.path
            )
        };
        match u.kind {
            Kind::Symlink => {
                let target = std::fs::read_link(&abs)
                    .with_context(|| format!("cannot read symlink {}", abs.display()))?;
                let t = target.as_os_str().as_bytes();
                if blake3::hash(t).to_hex().as_str() != u.blake3 {
                    return Err(changed());
                }
                check_link_target(&u.path, t)?;
                let t = std::str::from_utf8(t)
                    .map_err(|_| anyhow!("symlink {} has a non-UTF-8 target", u.path))?;
                zip.add_symlink(&u.path, t, SimpleFileOptions::default())?;
            }
            Kind::File => {
                let mut f =
                    File::open(&abs).with_context(|| format!("cannot read {}", abs.display()))?;
                let method = method_for(&u.path, u.size, packing);
                let opts = SimpleFileOptions::default()
                    .compression_method(method)
                    // The fastest levels: most of the gain at a fraction of the time.
                    .compression_level((method != CompressionMethod::Stored).then_some(1))
                    .unix_permissions(parse_mode(&u.mode)?)
                    .large_file(u.size >= 0xF000_0000);
                zip.start_file(&u.path, opts)?;
                let mut h = blake3::Hasher::new();
                let mut n = 0u64;
                loop {
                    let k = match f.read(&mut buf) {
                        Ok(0) => break,
                        Ok(k) => k,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(e).context(format!("cannot read {}", abs.display())),
                    };
                    h.update(&buf[..k]);
                    zip.write_all(&buf[..k])?;
                    n += k as u64;
                }
                if n != u.size || h.finalize().to_hex().as_str() != u.blake3 {
                    return Err(changed());
                }
                let sofar = done.fetch_add(n, Ordering::Relaxed) + n;
                progress.set(sofar, Some(total), "packing");
            }
        }
    }
    zip.finish()?.into_inner().map_err(|e| e.into_error())?;
    Ok(part)
}

/// Already-compressed formats are stored, the rest compressed as `packing` says.
fn method_for(path: &str, size: u64, packing: Packing) -> CompressionMethod {
    const PACKED: &[&str] = &[
        "jpg", "jpeg", "png", "gif", "webp", "avif", "woff", "woff2", "zip", "gz", "tgz", "bz2",
        "xz", "zst", "7z", "rar", "mp3", "mp4", "webm", "ogg", "pdf", "br",
    ];
    let ext = path.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    if size < 64 || ext.is_some_and(|e| PACKED.contains(&e.as_str())) {
        CompressionMethod::Stored
    } else if packing == Packing::Zstd {
        CompressionMethod::Zstd
    } else {
        CompressionMethod::Deflated
    }
}

/// Packages a push leaves in the project's deploy folder, at most (the server keeps its own
/// archive of each).
pub const KEEP_PACKAGES: usize = 10;

/// Remove all but the newest `keep` packages (`devsky-update-<date>-<time>-<hash>.zip`,
/// newest by name) from `dir`; how many went. Nothing else there is touched.
pub fn keep_newest_packages(dir: &Path, keep: usize) -> usize {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut names: Vec<String> = rd
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.starts_with("devsky-update-") && n.ends_with(".zip"))
        .collect();
    names.sort_unstable();
    let extra = names.len().saturating_sub(keep);
    names
        .iter()
        .take(extra)
        .filter(|n| std::fs::remove_file(dir.join(n)).is_ok())
        .count()
}
