//! The compact wire encoding of a map: what the agent sends for
//! `GET /api/v1/map?format=compact` (docs/API.md). Under half the map file
//! ([`super::format`]): 60 bytes an entry instead of 133 on a real tree (85,000 files:
//! 5.1 MB instead of 11.3 MB), 32 of them the hash. It keeps what a deploy needs of the
//! remote entries and drops what means nothing on another machine (ctime and inode: they
//! decode as 0). The client decodes it back into a normal map file, so planning and
//! everything after it read maps as always.
//!
//! ```text
//! header   "DSKYWIRE" version:u8 started_ns:i64 LE
//!          (version 1: files and symlinks; 2: folders too, entry kind 2)
//! entry*   tag:u8 (= 1)
//!          prefix:varint        bytes shared with the previous path (0 for the first)
//!          suffix_len:varint    suffix:[u8; suffix_len]
//!                               (path = previous path[..prefix] + suffix)
//!          kind:u8 (0 file, 1 symlink, 2 folder) flags:u8 mode:varint size:varint
//!          mtime:zigzag-varint  mtime_ns minus the previous entry's (0 before the first)
//!          hash:[u8; 32]
//! trailer  tag:u8 (= 0) count:varint partial:u8 (0 or 1)
//! ```
//!
//! A varint is unsigned LEB128 (7 bits a byte, low first, at most 10 bytes for a u64); a
//! zigzag varint maps a signed n to `(n << 1) ^ (n >> 63)` first. Entries are in map order
//! ([`super::cmp_paths`], strictly increasing) and paths are at most
//! [`super::format::MAX_PATH`] bytes, non-empty.
//!
//! [`encode`] reads a map file and hands out the encoding in chunks ([`Encoder`]: one entry
//! at a time, as a scan makes them). [`Decoder`] takes the
//! encoding in chunks of any size as they arrive and writes a map file with
//! [`MapWriter`]; it refuses a damaged or hostile stream with an error (wrong header or
//! version, no trailer, a wrong count, a prefix longer than the previous path, overlong
//! paths, entries out of order, bytes after the trailer), never a panic and never a short
//! map. [`MapDownload`] is the client's side of the route: it tells the compact encoding
//! from a plain map file (an older agent ignores the query) by the first 8 bytes.

use std::fs::File;
use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::format::{MAX_PATH, MapReader, MapWriter};
use super::{Entry, EntryKind, cmp_paths};

/// The first 8 bytes of the encoding.
pub const MAGIC: &[u8; 8] = b"DSKYWIRE";
/// The version byte after the magic: 1, or 2 for a map with folders (newest read).
pub const VERSION: u8 = 2;
/// The content type the agent sends it with.
pub const CONTENT_TYPE: &str = "application/x-devsky-map-compact";
/// The query that asks `GET /api/v1/map` for it.
pub const QUERY: &str = "format=compact";

const TAG_END: u8 = 0;
const TAG_ENTRY: u8 = 1;
const HEADER_LEN: usize = 8 + 1 + 8;

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn zigzag(n: i64) -> u64 {
    ((n << 1) ^ (n >> 63)) as u64
}

fn unzigzag(u: u64) -> i64 {
    (u >> 1) as i64 ^ -((u & 1) as i64)
}

/// Encode the map `reader` reads, handing the bytes to `emit` in chunks of about
/// `chunk_size` (the last one shorter). Returns the number of entries.
pub fn encode<R: Read>(
    mut reader: MapReader<R>,
    chunk_size: usize,
    mut emit: impl FnMut(Vec<u8>) -> anyhow::Result<()>,
) -> anyhow::Result<u64> {
    let mut enc = Encoder::with_dirs(reader.started_ns, chunk_size, reader.dirs);
    for e in reader.by_ref() {
        if let Some(chunk) = enc.push(&e?)? {
            emit(chunk)?;
        }
    }
    let count = enc.count;
    emit(enc.finish(reader.partial))?;
    Ok(count)
}

/// The encoding made one entry at a time, as a map is made (a scan's entries can go out
/// while it runs): full chunks of about `chunk_size` come back from [`Encoder::push`], the
/// rest with the trailer from [`Encoder::finish`].
pub struct Encoder {
    buf: Vec<u8>,
    chunk_size: usize,
    prev: Vec<u8>,
    prev_mtime: i64,
    count: u64,
    dirs: bool,
}

impl Encoder {
    /// The encoding of a map of files and symlinks (version 1).
    pub fn new(started_ns: i64, chunk_size: usize) -> Encoder {
        Encoder::with_dirs(started_ns, chunk_size, false)
    }

    /// The encoding of a map with folders too when `dirs` (version 2).
    pub fn with_dirs(started_ns: i64, chunk_size: usize, dirs: bool) -> Encoder {
        let chunk_size = chunk_size.max(1);
        let mut buf = Vec::with_capacity(chunk_size + 256);
        buf.extend_from_slice(MAGIC);
        buf.push(if dirs { 2 } else { 1 });
        buf.extend_from_slice(&started_ns.to_le_bytes());
        Encoder {
            buf,
            chunk_size,
            prev: Vec::new(),
            prev_mtime: 0,
            count: 0,
            dirs,
        }
    }

    /// Add the next entry (in map order); a chunk once one is full.
    pub fn push(&mut self, e: &Entry) -> anyhow::Result<Option<Vec<u8>>> {
        if e.path.is_empty() || e.path.len() > MAX_PATH as usize {
            bail!("cannot send the map: a path of {} bytes", e.path.len());
        }
        if e.kind == EntryKind::Dir && !self.dirs {
            bail!("cannot send the map: a folder in a map without folders");
        }
        if self.count > 0 && cmp_paths(&self.prev, &e.path).is_ge() {
            bail!(
                "cannot send the map: {} is out of map order",
                e.path_lossy()
            );
        }
        let buf = &mut self.buf;
        let prefix = self
            .prev
            .iter()
            .zip(&e.path)
            .take_while(|(a, b)| a == b)
            .count();
        buf.push(TAG_ENTRY);
        put_varint(buf, prefix as u64);
        put_varint(buf, (e.path.len() - prefix) as u64);
        buf.extend_from_slice(&e.path[prefix..]);
        buf.push(e.kind as u8);
        buf.push(e.flags);
        put_varint(buf, e.mode as u64);
        put_varint(buf, e.size);
        put_varint(buf, zigzag(e.mtime_ns.wrapping_sub(self.prev_mtime)));
        buf.extend_from_slice(&e.hash);
        self.prev_mtime = e.mtime_ns;
        self.prev.clear();
        self.prev.extend_from_slice(&e.path);
        self.count += 1;
        Ok((self.buf.len() >= self.chunk_size)
            .then(|| std::mem::replace(&mut self.buf, Vec::with_capacity(self.chunk_size + 256))))
    }

    /// What is left, with the trailer.
    pub fn finish(mut self, partial: bool) -> Vec<u8> {
        self.buf.push(TAG_END);
        put_varint(&mut self.buf, self.count);
        self.buf.push(partial as u8);
        self.buf
    }
}

/// Why parsing stopped: more bytes are needed (this many from the start of the item), or
/// the stream is bad.
enum Stop {
    More(usize),
    Bad(anyhow::Error),
}

impl From<anyhow::Error> for Stop {
    fn from(e: anyhow::Error) -> Stop {
        Stop::Bad(e)
    }
}

/// A cursor over the bytes of one item (the header, an entry or the trailer).
struct Cur<'a> {
    b: &'a [u8],
    i: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        let end = self.i.checked_add(n).ok_or(Stop::More(usize::MAX))?;
        if end > self.b.len() {
            return Err(Stop::More(end));
        }
        let s = &self.b[self.i..end];
        self.i = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, Stop> {
        Ok(self.take(1)?[0])
    }

    fn varint(&mut self, what: &str) -> Result<u64, Stop> {
        let mut v = 0u64;
        for k in 0..10 {
            let b = self.u8()?;
            if k == 9 && b > 1 {
                break;
            }
            v |= ((b & 0x7f) as u64) << (7 * k);
            if b < 0x80 {
                return Ok(v);
            }
        }
        Err(Stop::Bad(anyhow::anyhow!("a varint ({what}) over 64 bits")))
    }
}

enum Phase {
    Header,
    Entries,
    Done,
    Failed,
}

/// Decodes the compact encoding, pushed in chunks ([`Decoder::feed`]), into a map file
/// (written with [`MapWriter`]: it appears at `dest` only on a successful
/// [`Decoder::finish`]).
pub struct Decoder {
    dest: PathBuf,
    what: String,
    /// Bytes received but not decoded yet (never more than one entry's worth and a chunk).
    buf: Vec<u8>,
    /// How many bytes `buf` needs before the next item can be decoded.
    need: usize,
    phase: Phase,
    writer: Option<MapWriter>,
    prev: Vec<u8>,
    prev_mtime: i64,
    count: u64,
    partial: bool,
    /// The stream's version lists folders.
    dirs: bool,
}

impl Decoder {
    /// A decoder writing the map file `dest`; `what` names the stream in errors.
    pub fn new(dest: &Path, what: impl Into<String>) -> Decoder {
        Decoder {
            dest: dest.to_path_buf(),
            what: what.into(),
            buf: Vec::new(),
            need: 1,
            phase: Phase::Header,
            writer: None,
            prev: Vec::new(),
            prev_mtime: 0,
            count: 0,
            partial: false,
            dirs: false,
        }
    }

    /// The next bytes of the stream.
    pub fn feed(&mut self, chunk: &[u8]) -> anyhow::Result<()> {
        if matches!(self.phase, Phase::Failed) {
            bail!("{}: the map stream was refused before", self.what);
        }
        self.buf.extend_from_slice(chunk);
        let mut pos = 0;
        let r = loop {
            if self.buf.len() - pos < self.need {
                break Ok(());
            }
            if matches!(self.phase, Phase::Done) {
                break Err(anyhow::anyhow!("damaged compact map (bytes after the end)"));
            }
            let mut cur = Cur {
                b: &self.buf[pos..],
                i: 0,
            };
            let step = match self.phase {
                Phase::Header => Self::header(&mut cur),
                _ => Self::item(
                    &mut cur,
                    &self.prev,
                    self.prev_mtime,
                    self.count,
                    &mut self.partial,
                    self.dirs,
                ),
            };
            let used = cur.i;
            match step {
                Err(Stop::More(n)) => {
                    self.need = n;
                    break Ok(());
                }
                Err(Stop::Bad(e)) => break Err(e),
                Ok(Item::Header(started_ns, dirs)) => {
                    self.dirs = dirs;
                    match MapWriter::create_as(&self.dest, started_ns, dirs) {
                        Ok(w) => self.writer = Some(w),
                        Err(e) => break Err(e),
                    }
                    self.phase = Phase::Entries;
                }
                Ok(Item::Entry(e)) => {
                    let pushed = match self.writer.as_mut() {
                        Some(w) => w.push(&e),
                        None => Err(std::io::Error::other("no map writer")),
                    };
                    if let Err(err) = pushed {
                        break Err(anyhow::anyhow!(
                            "cannot write {}: {err}",
                            self.dest.display()
                        ));
                    }
                    self.prev_mtime = e.mtime_ns;
                    self.prev = e.path;
                    self.count += 1;
                }
                Ok(Item::End) => self.phase = Phase::Done,
            }
            pos += used;
            self.need = 1;
        };
        match r {
            Ok(()) => {
                self.buf.drain(..pos);
                Ok(())
            }
            Err(e) => {
                self.phase = Phase::Failed;
                self.writer = None;
                Err(anyhow::anyhow!("{}: {e:#}", self.what))
            }
        }
    }

    /// The stream ended: check it was complete and move the map file into place. Returns
    /// the number of entries.
    pub fn finish(mut self) -> anyhow::Result<u64> {
        match self.phase {
            Phase::Done => {}
            Phase::Failed => bail!("{}: the map stream was refused before", self.what),
            Phase::Header if self.buf.len() < MAGIC.len() => {
                bail!(
                    "{}: not a compact devsky map (only {} bytes)",
                    self.what,
                    self.buf.len()
                )
            }
            _ => bail!(
                "{}: truncated compact map (no end marker after {} entries); fetch it again",
                self.what,
                self.count
            ),
        }
        let w = self.writer.take().context("no map writer")?;
        w.finish(self.partial)
    }

    fn header(cur: &mut Cur) -> Result<Item, Stop> {
        if cur.take(MAGIC.len())? != MAGIC {
            return Err(Stop::Bad(anyhow::anyhow!(
                "not a compact devsky map (wrong header)"
            )));
        }
        let v = cur.u8()?;
        if !(1..=VERSION).contains(&v) {
            return Err(Stop::Bad(anyhow::anyhow!(
                "compact map version {v}; this devsky reads version {VERSION}"
            )));
        }
        let started = cur.take(8)?;
        debug_assert_eq!(cur.i, HEADER_LEN);
        let mut b = [0u8; 8];
        b.copy_from_slice(started);
        Ok(Item::Header(i64::from_le_bytes(b), v >= 2))
    }

    /// An entry or the trailer, checked against what came before.
    fn item(
        cur: &mut Cur,
        prev: &[u8],
        prev_mtime: i64,
        count: u64,
        partial: &mut bool,
        dirs: bool,
    ) -> Result<Item, Stop> {
        let bad = |msg: String| Stop::Bad(anyhow::anyhow!("damaged compact map ({msg})"));
        let n = count + 1;
        match cur.u8()? {
            TAG_END => {
                let said = cur.varint("count")?;
                let p = cur.u8()?;
                if said != count {
                    return Err(bad(format!("{count} entries, the end marker says {said}")));
                }
                if p > 1 {
                    return Err(bad(format!("partial flag {p}")));
                }
                *partial = p == 1;
                Ok(Item::End)
            }
            TAG_ENTRY => {
                let prefix = cur.varint("prefix")?;
                if prefix > prev.len() as u64 {
                    return Err(bad(format!(
                        "entry {n}: shares {prefix} bytes with a previous path of {}",
                        prev.len()
                    )));
                }
                let prefix = prefix as usize;
                let suffix_len = cur.varint("path length")?;
                let len = suffix_len.saturating_add(prefix as u64);
                if len > MAX_PATH as u64 {
                    return Err(bad(format!("entry {n}: a path of {len} bytes")));
                }
                if len == 0 {
                    return Err(bad(format!("entry {n}: an empty path")));
                }
                let suffix = cur.take(suffix_len as usize)?;
                let kind = match cur.u8()? {
                    0 => EntryKind::File,
                    1 => EntryKind::Symlink,
                    2 if dirs => EntryKind::Dir,
                    k => return Err(bad(format!("entry {n}: entry kind {k}"))),
                };
                let flags = cur.u8()?;
                let mode = cur.varint("mode")?;
                let mode = u32::try_from(mode)
                    .map_err(|_| bad(format!("entry {n}: mode {mode} over 32 bits")))?;
                let size = cur.varint("size")?;
                let mtime_ns = prev_mtime.wrapping_add(unzigzag(cur.varint("mtime")?));
                let mut hash = [0u8; 32];
                hash.copy_from_slice(cur.take(32)?);
                let mut path = Vec::with_capacity(prefix + suffix.len());
                path.extend_from_slice(&prev[..prefix]);
                path.extend_from_slice(suffix);
                if count > 0 && cmp_paths(prev, &path).is_ge() {
                    return Err(bad(format!(
                        "entry {n}: {} is out of map order (after {})",
                        String::from_utf8_lossy(&path),
                        String::from_utf8_lossy(prev)
                    )));
                }
                Ok(Item::Entry(Entry {
                    path,
                    kind,
                    mode,
                    size,
                    mtime_ns,
                    ctime_ns: 0,
                    ino: 0,
                    hash,
                    flags,
                }))
            }
            t => Err(bad(format!("entry {n}: tag {t}"))),
        }
    }
}

enum Item {
    Header(i64, bool),
    Entry(Entry),
    End,
}

enum Sink {
    /// The first bytes, until there are enough to tell the format.
    Sniffing(Vec<u8>),
    /// A plain map file (an agent that does not know the compact encoding), copied.
    Raw(BufWriter<File>),
    Compact(Decoder),
}

/// The client's side of `GET /api/v1/map?format=compact`: writes the answer, compact or a
/// plain map file (told apart by the first 8 bytes), as the map file `out`. A plain map is
/// copied to `out` with the extension `part` and renamed on [`MapDownload::finish`]; a
/// compact one is decoded (into a temp file renamed into place, see [`MapWriter`]).
pub struct MapDownload {
    out: PathBuf,
    part: PathBuf,
    sink: Sink,
}

impl MapDownload {
    pub fn new(out: &Path) -> MapDownload {
        MapDownload {
            out: out.to_path_buf(),
            part: out.with_extension("part"),
            sink: Sink::Sniffing(Vec::with_capacity(MAGIC.len())),
        }
    }

    /// The next bytes of the answer.
    pub fn feed(&mut self, chunk: &[u8]) -> anyhow::Result<()> {
        let head = match &mut self.sink {
            Sink::Raw(f) => {
                return f
                    .write_all(chunk)
                    .with_context(|| format!("cannot write {}", self.part.display()));
            }
            Sink::Compact(d) => return d.feed(chunk),
            Sink::Sniffing(head) => head,
        };
        let n = (MAGIC.len() - head.len()).min(chunk.len());
        head.extend_from_slice(&chunk[..n]);
        if head.len() < MAGIC.len() {
            return Ok(());
        }
        let head = std::mem::take(head);
        if head == MAGIC {
            self.sink = Sink::Compact(Decoder::new(&self.out, "the agent's map"));
        } else if head == super::format::MAGIC {
            let f = File::create(&self.part)
                .with_context(|| format!("cannot write {}", self.part.display()))?;
            self.sink = Sink::Raw(BufWriter::with_capacity(1 << 20, f));
        } else {
            bail!("the agent's answer is not a devsky map (wrong header)");
        }
        self.feed(&head)?;
        self.feed(&chunk[n..])
    }

    /// The answer ended: put the map in place.
    pub fn finish(mut self) -> anyhow::Result<()> {
        match std::mem::replace(&mut self.sink, Sink::Sniffing(Vec::new())) {
            Sink::Sniffing(head) => {
                bail!(
                    "the agent's answer is not a devsky map (only {} bytes)",
                    head.len()
                )
            }
            Sink::Compact(d) => d.finish().map(drop),
            Sink::Raw(f) => {
                let done = f
                    .into_inner()
                    .map_err(|e| e.into_error())
                    .with_context(|| format!("cannot write {}", self.part.display()))
                    .and_then(|_| {
                        std::fs::rename(&self.part, &self.out)
                            .with_context(|| format!("cannot write {}", self.out.display()))
                    });
                if done.is_err() {
                    let _ = std::fs::remove_file(&self.part);
                }
                done
            }
        }
    }
}

impl Drop for MapDownload {
    fn drop(&mut self) {
        // Unfinished (an error): no half-written `part` file is left behind.
        if matches!(self.sink, Sink::Raw(_)) {
            self.sink = Sink::Sniffing(Vec::new());
            let _ = std::fs::remove_file(&self.part);
        }
    }
}

#[cfg(test)]
#[path = "wire_tests.rs"]
mod tests;
