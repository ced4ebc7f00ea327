//! Package archives (`*.sky`): devsky's streamable format, and plain Coresky archives.
//!
//! An archive is a text [`Header`] (`key value` lines, an empty line), then entries, each
//! a line naming it and its byte length followed by exactly that many bytes and `\n`:
//!
//! ```text
//! ATTRS: <len>        key value lines (kind, status, authors) of the RECORD that follows
//! RECORD: <id> <name> <version> <len>
//! SQL: <len>
//! FILE: <path> <len>
//! DIRS: <len>         space-separated folders
//! END:
//! ```
//!
//! and the whole stream compressed with bzip2 (a reader also takes it uncompressed).
//! devsky's archives carry `format devsky-package 1` and a blake3 `checksum` of every byte
//! after the header; the reader verifies it. Coresky's archives (no `format`) have
//! `DIRS`/`FILE`/`SQL`/`END` only and no checksum.
//!
//! The reader takes hostile input: every line and length is bounded ([`limits`]), memory
//! grows only with bytes actually read (never with what a length claims), paths are
//! checked, and a short stream is a clear [`ArchiveError::Truncated`], never a panic.
//! Nothing here knows the store or the registry: [`read_header`] is what a server calls.

pub mod header;
mod read;
mod write;

pub use header::{FORMAT, Header};
pub use read::{read, read_from, read_header};
pub use write::{write, write_plain};

/// Bounds on what a reader accepts.
pub mod limits {
    /// The whole header, in bytes.
    pub const HEADER_BYTES: usize = 256 << 10;
    /// One header value.
    pub const HEADER_LINE: usize = 64 << 10;
    /// One entry line (`RECORD: ...`, `FILE: ...`).
    pub const ENTRY_LINE: usize = 8 << 10;
    /// One entry's content.
    pub const ENTRY_BYTES: u64 = 256 << 20;
    /// The whole archive, uncompressed.
    pub const TOTAL_BYTES: u64 = 1 << 30;
    /// Entries in one archive.
    pub const ENTRIES: usize = 1_000_000;
    /// A path or a record name.
    pub const NAME_BYTES: usize = 4096;
}

/// Why an archive was refused.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("the archive is truncated: {0}")]
    Truncated(String),
    #[error("bad archive: {0}")]
    Invalid(String),
    #[error(
        "the archive's checksum does not match (the header says {expected}, its content hashes to {found}): \
         it is damaged or was changed"
    )]
    Checksum { expected: String, found: String },
    #[error("the archive is larger than {0} bytes uncompressed; devsky refuses it")]
    TooBig(u64),
    #[error("reading the archive: {0}")]
    Io(#[from] std::io::Error),
}

/// A codebase record in an archive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub id: i64,
    pub name: String,
    pub version: String,
    pub kind: String,
    pub status: String,
    pub authors: String,
    pub body: Vec<u8>,
}

/// One entry after the header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    Record(Record),
    Sql(Vec<u8>),
    File { path: String, data: Vec<u8> },
    Dirs(Vec<String>),
}

/// A whole archive.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Archive {
    pub header: Header,
    pub entries: Vec<Entry>,
}

impl Archive {
    /// The codebase records, in order.
    pub fn records(&self) -> impl Iterator<Item = &Record> {
        self.entries.iter().filter_map(|e| match e {
            Entry::Record(r) => Some(r),
            _ => None,
        })
    }
}

/// Checks a relative path from an archive (`FILE:`, `DIRS:`, `f:` record names): no
/// absolute path, no `..`, `.` or empty part, no NUL or other control character, no `\`.
pub fn check_path(p: &str) -> Result<(), ArchiveError> {
    let bad = |why: &str| Err(ArchiveError::Invalid(format!("path {p:?}: {why}")));
    if p.is_empty() {
        return bad("empty");
    }
    if p.len() > limits::NAME_BYTES {
        return bad("too long");
    }
    if p.starts_with('/') {
        return bad("absolute paths are not allowed");
    }
    if p.chars().any(char::is_control) {
        return bad("control characters (NUL, newline) are not allowed");
    }
    if p.contains('\\') {
        return bad("backslashes are not allowed");
    }
    for part in p.split('/') {
        match part {
            "" => return bad("empty part (`//` or a trailing `/`)"),
            "." | ".." => return bad("`.` and `..` are not allowed"),
            _ => {}
        }
    }
    Ok(())
}

/// Checks a record's name (any text on one line; a `f:` name's path as [`check_path`]).
pub fn check_name(n: &str) -> Result<(), ArchiveError> {
    if n.is_empty() || n.len() > limits::NAME_BYTES || n.chars().any(char::is_control) {
        return Err(ArchiveError::Invalid(format!(
            "record name {n:?}: 1-{} bytes on one line, no control characters",
            limits::NAME_BYTES
        )));
    }
    if let Some(p) = n.strip_prefix("f:") {
        check_path(p)?;
    }
    Ok(())
}

/// Checks a one-word field (a record's version, kind, status).
pub fn check_word(what: &str, w: &str) -> Result<(), ArchiveError> {
    if w.is_empty() || w.len() > 64 || w.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ArchiveError::Invalid(format!(
            "{what} {w:?}: one word of 1-64 bytes"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
