//! A set of changes between two states of files (two snapshots, a snapshot and the working
//! tree, two files): what Compare shows and what change scripts are built from. Each change
//! says where its old and new content can be read, so contents load only when looked at.

use std::path::PathBuf;
use std::sync::Arc;

use serde::Serialize;

/// What happened to a path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Modified,
    /// Same content, other permissions.
    ModeChanged,
    /// A file became a symlink or the other way round.
    TypeChanged,
}

impl ChangeKind {
    /// One letter, as file lists show it: A D M m T.
    pub fn letter(self) -> char {
        match self {
            ChangeKind::Added => 'A',
            ChangeKind::Removed => 'D',
            ChangeKind::Modified => 'M',
            ChangeKind::ModeChanged => 'm',
            ChangeKind::TypeChanged => 'T',
        }
    }
}

/// Where one side's content can be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Content {
    /// The path does not exist on this side.
    Missing,
    /// A file on disk (the working tree, or any file).
    File(PathBuf),
    /// An object of the project's object store (blake3 hex id).
    Object(String),
    /// Bytes in memory (a symlink's target, a generated text).
    Bytes(Arc<Vec<u8>>),
}

/// One changed path.
#[derive(Debug, Clone)]
pub struct Change {
    /// Relative, `/`-separated; not UTF-8 bytes shown with U+FFFD.
    pub path: String,
    /// The exact bytes of the path (names need not be UTF-8).
    pub raw_path: Vec<u8>,
    pub kind: ChangeKind,
    pub old: Content,
    pub new: Content,
    pub old_size: Option<u64>,
    pub new_size: Option<u64>,
    pub old_mode: Option<u32>,
    pub new_mode: Option<u32>,
}

/// Changes between two states, sorted by path.
#[derive(Debug, Clone, Default)]
pub struct ChangeSet {
    /// What is compared, e.g. "snapshot 3 → working tree".
    pub title: String,
    pub old_label: String,
    pub new_label: String,
    pub changes: Vec<Change>,
    /// Project root, for reading objects (`.devsky/objects`).
    pub root: PathBuf,
    /// Some paths could not be read; the set may be incomplete.
    pub partial: bool,
}
