//! Reading an archive from untrusted bytes: bzip2 or plain, devsky's or Coresky's.
//!
//! One pass over a `BufRead`: lines are read up to a bound, an entry's bytes are read as
//! they arrive (a claimed length never sizes an allocation), the running total is capped,
//! and the content after the header is hashed on the way for the checksum check.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Cursor, ErrorKind, Read};

use super::{
    Archive, ArchiveError, Entry, Header, Record, check_name, check_path, check_word, limits,
};

/// Read a whole archive (bzip2 or plain) and verify it.
pub fn read(bytes: &[u8]) -> Result<Archive, ArchiveError> {
    read_from(bytes)
}

/// Read a whole archive from a stream (bzip2 or plain) and verify it.
pub fn read_from(r: impl Read) -> Result<Archive, ArchiveError> {
    with_source(r, |src| {
        let header = read_header_lines(src)?;
        src.hasher = Some(blake3::Hasher::new());
        let entries = read_entries(src, &header)?;
        Ok(Archive { header, entries })
    })
}

/// Only the header (what a registry checks before storing an upload). The checksum is
/// not verified: that needs the whole archive ([`read`]).
pub fn read_header(bytes: &[u8]) -> Result<Header, ArchiveError> {
    with_source(bytes, read_header_lines)
}

/// Run `f` on the input, decompressed when it starts with bzip2's magic `BZh`.
fn with_source<T>(
    mut r: impl Read,
    f: impl FnOnce(&mut Src<'_>) -> Result<T, ArchiveError>,
) -> Result<T, ArchiveError> {
    let mut magic = Vec::with_capacity(3);
    (&mut r).take(3).read_to_end(&mut magic).map_err(io)?;
    let bz = magic == b"BZh";
    let chained = Cursor::new(magic).chain(r);
    if bz {
        let mut buf = BufReader::new(bzip2::read::MultiBzDecoder::new(chained));
        f(&mut Src::new(&mut buf))
    } else {
        let mut buf = BufReader::new(chained);
        f(&mut Src::new(&mut buf))
    }
}

/// The input, counted and (after the header) hashed.
struct Src<'a> {
    r: &'a mut dyn BufRead,
    total: u64,
    hasher: Option<blake3::Hasher>,
}

fn io(e: std::io::Error) -> ArchiveError {
    match e.kind() {
        ErrorKind::UnexpectedEof => {
            ArchiveError::Truncated("the compressed stream ends early".into())
        }
        ErrorKind::InvalidData | ErrorKind::InvalidInput | ErrorKind::Other => {
            ArchiveError::Invalid(format!("the compressed stream is damaged ({e})"))
        }
        _ => ArchiveError::Io(e),
    }
}

impl<'a> Src<'a> {
    fn new(r: &'a mut dyn BufRead) -> Src<'a> {
        Src {
            r,
            total: 0,
            hasher: None,
        }
    }

    fn consume(&mut self, buf_take: usize) {
        self.r.consume(buf_take);
        self.total += buf_take as u64;
    }

    fn over_total(&self) -> Result<(), ArchiveError> {
        if self.total > limits::TOTAL_BYTES {
            return Err(ArchiveError::TooBig(limits::TOTAL_BYTES));
        }
        Ok(())
    }

    /// A line without its `\n`, at most `max` bytes; None at a clean end of input.
    fn line(&mut self, max: usize, what: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        let mut out = Vec::new();
        loop {
            let buf = self.r.fill_buf().map_err(io)?;
            if buf.is_empty() {
                if out.is_empty() {
                    return Ok(None);
                }
                return Err(ArchiveError::Truncated(format!(
                    "it ends in the middle of {what}"
                )));
            }
            let (take, done) = match buf.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (buf.len(), false),
            };
            if out.len() + take > max + 1 {
                return Err(ArchiveError::Invalid(format!(
                    "{what} is longer than {max} bytes"
                )));
            }
            out.extend_from_slice(&buf[..take]);
            if let Some(h) = &mut self.hasher {
                h.update(&buf[..take]);
            }
            self.consume(take);
            self.over_total()?;
            if done {
                out.pop();
                return Ok(Some(out));
            }
        }
    }

    /// Exactly `n` bytes (an entry's content), then its closing `\n`.
    fn content(&mut self, n: u64, what: &str) -> Result<Vec<u8>, ArchiveError> {
        if n > limits::ENTRY_BYTES {
            return Err(ArchiveError::Invalid(format!(
                "{what} claims {n} bytes; at most {} are allowed",
                limits::ENTRY_BYTES
            )));
        }
        if self.total.saturating_add(n) > limits::TOTAL_BYTES {
            return Err(ArchiveError::TooBig(limits::TOTAL_BYTES));
        }
        let mut out = Vec::new();
        let mut left = n + 1;
        while left > 0 {
            let buf = self.r.fill_buf().map_err(io)?;
            if buf.is_empty() {
                return Err(ArchiveError::Truncated(format!(
                    "{what} claims {n} bytes; the archive ends after {}",
                    out.len().min(n as usize)
                )));
            }
            let take = (left as usize).min(buf.len());
            out.extend_from_slice(&buf[..take]);
            if let Some(h) = &mut self.hasher {
                h.update(&buf[..take]);
            }
            self.consume(take);
            left -= take as u64;
        }
        if out.pop() != Some(b'\n') {
            return Err(ArchiveError::Invalid(format!(
                "{what}: its {n} bytes are not followed by a newline (a wrong length?)"
            )));
        }
        Ok(out)
    }
}

fn text(bytes: Vec<u8>, what: &str) -> Result<String, ArchiveError> {
    String::from_utf8(bytes).map_err(|_| ArchiveError::Invalid(format!("{what} is not UTF-8 text")))
}

fn read_header_lines(src: &mut Src<'_>) -> Result<Header, ArchiveError> {
    let mut lines = Vec::new();
    let mut size = 0usize;
    loop {
        let Some(line) = src.line(limits::HEADER_LINE + 80, "the header")? else {
            return Err(if lines.is_empty() {
                ArchiveError::Truncated("it is empty".into())
            } else {
                ArchiveError::Truncated("the header has no end (an empty line)".into())
            });
        };
        if line.is_empty() {
            break;
        }
        size += line.len() + 1;
        if size > limits::HEADER_BYTES {
            return Err(ArchiveError::Invalid(format!(
                "the header is longer than {} bytes (not a package archive?)",
                limits::HEADER_BYTES
            )));
        }
        lines.push(text(line, "the header (not a package archive?)")?);
    }
    Header::parse(&lines)
}

/// `<prefix> <len>`: the prefix and the length.
fn split_len<'s>(rest: &'s str, line: &str) -> Result<(&'s str, u64), ArchiveError> {
    let (head, len) = rest.rsplit_once(' ').unwrap_or(("", rest));
    let ok = !len.is_empty() && len.len() <= 20 && len.bytes().all(|b| b.is_ascii_digit());
    match len.parse::<u64>() {
        Ok(n) if ok => Ok((head, n)),
        _ => Err(ArchiveError::Invalid(format!(
            "{line:?} does not end with a byte length"
        ))),
    }
}

struct Attrs {
    kind: String,
    status: String,
    authors: String,
}

fn parse_attrs(bytes: Vec<u8>) -> Result<Attrs, ArchiveError> {
    let t = text(bytes, "an ATTRS entry")?;
    let mut a = Attrs {
        kind: "file".into(),
        status: "new".into(),
        authors: String::new(),
    };
    for line in t.lines() {
        let (k, v) = line.split_once(' ').unwrap_or((line, ""));
        match k {
            "kind" => a.kind = v.to_string(),
            "status" => a.status = v.to_string(),
            "authors" => a.authors = v.to_string(),
            _ => {
                return Err(ArchiveError::Invalid(format!("ATTRS: unknown key {k:?}")));
            }
        }
    }
    check_word("record kind", &a.kind)?;
    check_word("record status", &a.status)?;
    if a.authors.chars().any(char::is_control) {
        return Err(ArchiveError::Invalid(
            "ATTRS: authors has control characters".into(),
        ));
    }
    Ok(a)
}

fn read_entries(src: &mut Src<'_>, header: &Header) -> Result<Vec<Entry>, ArchiveError> {
    let mut entries = Vec::new();
    let mut ids = BTreeSet::new();
    let mut attrs: Option<Attrs> = None;
    loop {
        let Some(raw) = src.line(limits::ENTRY_LINE, "an entry line")? else {
            return Err(ArchiveError::Truncated("it has no END: line".into()));
        };
        let line = text(raw, "an entry line")?;
        let (op, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
        if attrs.is_some() && op != "RECORD:" {
            return Err(ArchiveError::Invalid(format!(
                "ATTRS is followed by {op:?}, not by a RECORD"
            )));
        }
        match op {
            "END:" if rest.is_empty() => break,
            "ATTRS:" => {
                let (_, n) = split_len(rest, &line)?;
                attrs = Some(parse_attrs(src.content(n, "an ATTRS entry")?)?);
                continue;
            }
            "RECORD:" => {
                let (head, n) = split_len(rest, &line)?;
                let bad = || {
                    ArchiveError::Invalid(format!(
                        "{line:?}: expected RECORD: <id> <name> <version> <length>"
                    ))
                };
                let (head, version) = head.rsplit_once(' ').ok_or_else(bad)?;
                let (id, name) = head.split_once(' ').ok_or_else(bad)?;
                let id = id
                    .parse::<i64>()
                    .ok()
                    .filter(|i| *i > 0 && id.bytes().all(|b| b.is_ascii_digit()))
                    .ok_or_else(|| {
                        ArchiveError::Invalid(format!("{line:?}: the id is not a number >= 1"))
                    })?;
                check_name(name)?;
                check_word("record version", version)?;
                if !ids.insert(id) {
                    return Err(ArchiveError::Invalid(format!(
                        "record id {id} appears twice"
                    )));
                }
                let body = src.content(n, &format!("record {id}"))?;
                let a = attrs.take().unwrap_or(Attrs {
                    kind: "file".into(),
                    status: "new".into(),
                    authors: String::new(),
                });
                entries.push(Entry::Record(Record {
                    id,
                    name: name.to_string(),
                    version: version.to_string(),
                    kind: a.kind,
                    status: a.status,
                    authors: a.authors,
                    body,
                }));
            }
            "SQL:" => {
                let (head, n) = split_len(rest, &line)?;
                if !head.is_empty() {
                    return Err(ArchiveError::Invalid(format!(
                        "{line:?}: expected SQL: <length>"
                    )));
                }
                entries.push(Entry::Sql(src.content(n, "an SQL entry")?));
            }
            "FILE:" => {
                let (path, n) = split_len(rest, &line)?;
                check_path(path)?;
                let data = src.content(n, &format!("file {path}"))?;
                entries.push(Entry::File {
                    path: path.to_string(),
                    data,
                });
            }
            "DIRS:" => {
                let (head, n) = split_len(rest, &line)?;
                if !head.is_empty() {
                    return Err(ArchiveError::Invalid(format!(
                        "{line:?}: expected DIRS: <length>"
                    )));
                }
                let list = text(src.content(n, "the DIRS entry")?, "the DIRS entry")?;
                let dirs: Vec<String> = list
                    .split(' ')
                    .filter(|d| !d.is_empty())
                    .map(str::to_string)
                    .collect();
                for d in &dirs {
                    check_path(d)?;
                }
                entries.push(Entry::Dirs(dirs));
            }
            _ => {
                return Err(ArchiveError::Invalid(format!(
                    "unknown entry {:?} (expected RECORD, ATTRS, SQL, FILE, DIRS or END)",
                    op.chars().take(40).collect::<String>()
                )));
            }
        }
        if entries.len() > limits::ENTRIES {
            return Err(ArchiveError::Invalid(format!(
                "more than {} entries",
                limits::ENTRIES
            )));
        }
    }
    let found = src.hasher.take().map(|h| h.finalize().to_hex().to_string());
    // After END: only blank space (bounded) may follow.
    let mut tail = Vec::new();
    (&mut *src.r)
        .take(64 << 10)
        .read_to_end(&mut tail)
        .map_err(io)?;
    if tail.iter().any(|b| !b.is_ascii_whitespace()) || tail.len() >= 64 << 10 {
        return Err(ArchiveError::Invalid("there is data after END:".into()));
    }
    if header.is_devsky() {
        let found = found.unwrap_or_default();
        if !found.eq_ignore_ascii_case(&header.checksum) {
            return Err(ArchiveError::Checksum {
                expected: header.checksum.clone(),
                found,
            });
        }
        let n = entries
            .iter()
            .filter(|e| matches!(e, Entry::Record(_)))
            .count() as u64;
        if n != header.records {
            return Err(ArchiveError::Invalid(format!(
                "the header says {} records, the archive has {n}",
                header.records
            )));
        }
    }
    Ok(entries)
}
