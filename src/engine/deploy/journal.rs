//! The journal of a deployment: everything needed to put the old tree back after a crash
//! at any point — each touched path with what it held before (backed up) and what it
//! will hold, the folders created and removed, and for a release switch the old and new
//! symlink targets. It is written (temp file, fsync, rename, fsync folder) before the
//! first change to the root and removed only after the final status is recorded.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::Context;
use serde::{Deserialize, Serialize};

use super::fsops::sync_dir;
use super::manifest::Kind;
use crate::engine::map::{Entry, EntryKind};

const VERSION: u32 = 1;

/// What a path holds: kind, permission bits, blake3 and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Meta {
    pub kind: Kind,
    pub mode: u32,
    pub blake3: String,
    pub size: u64,
}

impl Meta {
    pub fn of(e: &Entry) -> Meta {
        Meta {
            kind: e.kind.into(),
            mode: e.mode,
            blake3: e.hash_hex(),
            size: e.size,
        }
    }

    /// The map entry this becomes at `path` (times and inode unknown).
    pub fn entry(&self, path: &str) -> Entry {
        let mut hash = [0u8; 32];
        if let Ok(h) = blake3::Hash::from_hex(&self.blake3) {
            hash = *h.as_bytes();
        }
        Entry {
            path: path.as_bytes().to_vec(),
            kind: EntryKind::from(self.kind),
            mode: self.mode,
            size: self.size,
            mtime_ns: 0,
            ctime_ns: 0,
            ino: 0,
            hash,
            flags: 0,
        }
    }
}

/// One touched path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Op {
    pub path: String,
    /// What the path held when the root was mapped (backed up before any change).
    pub old: Option<Meta>,
    /// What it will hold (None: removed).
    pub new: Option<Meta>,
    /// Name of the staged content in the stage folder.
    pub staged: Option<String>,
}

/// A folder removed because the deploy emptied it, with its mode (to recreate it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DirMode {
    pub path: String,
    pub mode: u32,
}

/// A folder whose mode the deploy changes (put back when undone).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct DirChmod {
    pub path: String,
    pub old: u32,
    pub new: u32,
}

/// `backups/<id>.json`: what a deployment backed up, and the folders it removed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BackupIndex {
    pub files: Vec<(String, Meta)>,
    pub removed_dirs: Vec<DirMode>,
}

/// How a deployment changes the root.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Mode {
    /// Files renamed into place inside the root.
    Files,
    /// A new release folder, switched to by renaming a symlink over the root.
    Release,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Files => "files",
            Mode::Release => "release",
        }
    }
}

/// The journal (see the module doc).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Journal {
    pub version: u32,
    pub id: i64,
    /// `deploy` or `rollback`.
    pub kind: String,
    pub mode: Mode,
    /// The root as the operation used it (files: canonical; release: the symlink).
    pub root: PathBuf,
    /// Staged contents (files mode).
    pub stage: Option<PathBuf>,
    /// Where the old contents are backed up (files mode).
    pub backups: Option<PathBuf>,
    /// The map of the root before.
    pub old_map: PathBuf,
    pub ops: Vec<Op>,
    /// Folders created for uploads, shallowest first.
    pub create_dirs: Vec<String>,
    /// Folders removed once emptied, deepest first.
    pub remove_dirs: Vec<DirMode>,
    /// The modes of the created folders (set once their contents are in place).
    #[serde(default)]
    pub dir_modes: BTreeMap<String, u32>,
    /// Folders that stay, with a new mode.
    #[serde(default)]
    pub chmod_dirs: Vec<DirChmod>,
    /// Release mode: the root symlink's target before and after.
    pub old_target: Option<PathBuf>,
    pub new_target: Option<PathBuf>,
    /// Release mode: the release folder being built (removed when undone, if built here).
    pub new_release: Option<PathBuf>,
    pub remove_new_release: bool,
    /// The SQL run once the files are in place and verified (`super::sqlpart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<super::sqlpart::JournalSql>,
}

impl Journal {
    pub fn new(id: i64, kind: &str, mode: Mode, root: &Path, old_map: &Path) -> Journal {
        Journal {
            version: VERSION,
            id,
            kind: kind.into(),
            mode,
            root: root.to_path_buf(),
            stage: None,
            backups: None,
            old_map: old_map.to_path_buf(),
            ops: Vec::new(),
            create_dirs: Vec::new(),
            remove_dirs: Vec::new(),
            dir_modes: BTreeMap::new(),
            chmod_dirs: Vec::new(),
            old_target: None,
            new_target: None,
            new_release: None,
            remove_new_release: false,
            sql: None,
        }
    }

    /// Write durably to `path` (temp, fsync, rename, fsync the folder).
    pub fn write(&self, path: &Path) -> anyhow::Result<()> {
        let tmp = path.with_extension("json.tmp");
        let mut f =
            File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        f.write_all(&serde_json::to_vec_pretty(self)?)?;
        super::fsops::count_sync();
        f.sync_all()?;
        drop(f);
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
        sync_dir(path.parent().unwrap_or(Path::new(".")));
        Ok(())
    }

    pub fn read(path: &Path) -> anyhow::Result<Journal> {
        let b = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let j: Journal = serde_json::from_slice(&b)
            .with_context(|| format!("{} is not a devsky journal", path.display()))?;
        if j.version > VERSION {
            anyhow::bail!("{} was written by a newer devsky", path.display());
        }
        Ok(j)
    }

    /// Remove the journal durably.
    pub fn clear(path: &Path) -> anyhow::Result<()> {
        match std::fs::remove_file(path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
        sync_dir(path.parent().unwrap_or(Path::new(".")));
        Ok(())
    }
}
