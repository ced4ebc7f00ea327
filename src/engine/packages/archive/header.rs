//! The archive's text header: `key value` lines ended by an empty line (Coresky's shape).
//!
//! devsky's own keys come first in a fixed order (so an archive is a function of its
//! content: byte-identical re-exports); any other key (Coresky's `type`, `desc`,
//! `compiled`, ...) is kept in `extra`, in the order read. Lists (`depends`, `included`,
//! `priorun`) are space-separated words.

use super::{ArchiveError, limits};

/// The value of the `format` key in devsky's own archives.
pub const FORMAT: &str = "devsky-package 1";

/// The header of an archive: DEV.SKY's package fields plus what else the archive said.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Header {
    /// `devsky-package 1` for devsky's archives; empty for a plain Coresky archive.
    pub format: String,
    pub name: String,
    pub version: String,
    /// Assigned by the registry on upload; 0 until then.
    pub sky_id: i64,
    pub app: String,
    /// Packages that must run before this one: `name@requirement` words.
    pub depends: Vec<String>,
    /// Updates merged into this package: an `app@version` or `scratch` first, `work`, `copy`.
    pub included: Vec<String>,
    /// Records (ids) and macros run to generate the package.
    pub priorun: Vec<String>,
    /// `+`-joined, in order of first contribution.
    pub authors: String,
    /// Not 0: the package is one unit starting at this record (all records run or none).
    pub start_id: i64,
    /// How many `RECORD:` entries follow (devsky archives).
    pub records: u64,
    /// blake3 (hex) of every byte after the header's empty line, through `END:\n`.
    pub checksum: String,
    /// Other keys, in the order read.
    pub extra: Vec<(String, String)>,
}

impl Header {
    /// Whether this is one of devsky's archives (else a plain Coresky archive).
    pub fn is_devsky(&self) -> bool {
        self.format == FORMAT
    }

    /// The header's lines, ended by the empty line.
    pub fn to_text(&self) -> Result<String, ArchiveError> {
        let mut out = String::new();
        let mut line = |k: &str, v: &str| -> Result<(), ArchiveError> {
            check_key(k)?;
            check_value(k, v)?;
            if v.is_empty() {
                out.push_str(k);
            } else {
                out.push_str(k);
                out.push(' ');
                out.push_str(v);
            }
            out.push('\n');
            Ok(())
        };
        line("format", &self.format)?;
        line("name", &self.name)?;
        line("version", &self.version)?;
        line("sky_id", &self.sky_id.to_string())?;
        line("app", &self.app)?;
        line("depends", &join_list("depends", &self.depends)?)?;
        line("included", &join_list("included", &self.included)?)?;
        line("priorun", &join_list("priorun", &self.priorun)?)?;
        line("authors", &self.authors)?;
        line("start_id", &self.start_id.to_string())?;
        line("records", &self.records.to_string())?;
        line("checksum", &self.checksum)?;
        for (k, v) in &self.extra {
            if KNOWN.contains(&k.as_str()) {
                return Err(ArchiveError::Invalid(format!(
                    "header key {k:?} given twice"
                )));
            }
            line(k, v)?;
        }
        out.push('\n');
        if out.len() > limits::HEADER_BYTES {
            return Err(ArchiveError::Invalid(format!(
                "the header is {} bytes; at most {} are allowed",
                out.len(),
                limits::HEADER_BYTES
            )));
        }
        Ok(out)
    }

    /// Parse the header's lines (without the empty line that ends it).
    pub fn parse(lines: &[String]) -> Result<Header, ArchiveError> {
        let mut h = Header::default();
        let mut seen = std::collections::BTreeSet::new();
        for (n, raw) in lines.iter().enumerate() {
            let (k, v) = raw.split_once(' ').unwrap_or((raw.as_str(), ""));
            let bad = |why: String| ArchiveError::Invalid(format!("header line {}: {why}", n + 1));
            check_key(k).map_err(|e| bad(e.to_string()))?;
            check_value(k, v).map_err(|e| bad(e.to_string()))?;
            if !seen.insert(k.to_string()) {
                return Err(bad(format!("key {k:?} given twice")));
            }
            let int = |v: &str| -> Result<i64, ArchiveError> {
                v.parse::<i64>()
                    .ok()
                    .filter(|n| *n >= 0)
                    .ok_or_else(|| bad(format!("{k} must be a number >= 0, not {v:?}")))
            };
            match k {
                "format" => h.format = v.to_string(),
                "name" => h.name = v.to_string(),
                "version" => h.version = v.to_string(),
                "sky_id" => h.sky_id = int(v)?,
                "app" => h.app = v.to_string(),
                "depends" => h.depends = split_list(v),
                "included" => h.included = split_list(v),
                "priorun" => h.priorun = split_list(v),
                "authors" => h.authors = v.to_string(),
                "start_id" => h.start_id = int(v)?,
                "records" => h.records = int(v)? as u64,
                "checksum" => h.checksum = v.to_string(),
                _ => h.extra.push((k.to_string(), v.to_string())),
            }
        }
        if h.is_devsky() {
            if h.name.is_empty() {
                return Err(ArchiveError::Invalid("the header has no name".into()));
            }
            if h.checksum.len() != 64 || !h.checksum.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(ArchiveError::Invalid(format!(
                    "the header's checksum {:?} is not a blake3 hex digest",
                    h.checksum
                )));
            }
        } else if !h.format.is_empty() {
            return Err(ArchiveError::Invalid(format!(
                "unknown archive format {:?} (this devsky reads {FORMAT:?} and Coresky archives)",
                h.format
            )));
        }
        Ok(h)
    }
}

const KNOWN: &[&str] = &[
    "format", "name", "version", "sky_id", "app", "depends", "included", "priorun", "authors",
    "start_id", "records", "checksum",
];

fn split_list(v: &str) -> Vec<String> {
    v.split_whitespace().map(str::to_string).collect()
}

fn join_list(key: &str, items: &[String]) -> Result<String, ArchiveError> {
    for w in items {
        if w.is_empty() || w.chars().any(char::is_whitespace) {
            return Err(ArchiveError::Invalid(format!(
                "{key} entry {w:?}: entries are single words (no spaces)"
            )));
        }
    }
    Ok(items.join(" "))
}

fn check_key(k: &str) -> Result<(), ArchiveError> {
    let ok = !k.is_empty()
        && k.len() <= 64
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(ArchiveError::Invalid(format!(
            "header key {k:?}: keys are 1-64 of a-z, 0-9, _ and -"
        )))
    }
}

fn check_value(k: &str, v: &str) -> Result<(), ArchiveError> {
    if v.chars().any(|c| c.is_control() && c != '\t') {
        return Err(ArchiveError::Invalid(format!(
            "header value of {k}: control characters (newlines, NUL) are not allowed"
        )));
    }
    if v.len() > limits::HEADER_LINE {
        return Err(ArchiveError::Invalid(format!(
            "header value of {k} is {} bytes; at most {} are allowed",
            v.len(),
            limits::HEADER_LINE
        )));
    }
    Ok(())
}
