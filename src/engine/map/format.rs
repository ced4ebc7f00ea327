//! The map file: a small header, then entries one after another, then a trailer with the
//! count. Little endian, no compression (a map of 85,000 files is about 8 MB and is read
//! sequentially in one pass).
//!
//! ```text
//! "DSKYMAP\x01"  started_ns:i64        (files and symlinks only)
//! "DSKYMAP\x02"  started_ns:i64        (folders too: entry kind 2)
//! entry*         path_len:u32 path kind:u8 flags:u8 mode:u32 size:u64
//!                mtime_ns:i64 ctime_ns:i64 ino:u64 hash:[u8;32]
//! trailer        path_len = 0xFFFF_FFFF, count:u64, partial:u8
//! ```
//!
//! A writer goes to a temp file renamed into place on [`MapWriter::finish`]; a file without
//! its trailer (a crash while writing) is refused as truncated, never read as a short map.

use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use super::{Entry, EntryKind};

/// The first 8 bytes of a map file of files and symlinks.
pub const MAGIC: &[u8; 8] = b"DSKYMAP\x01";
/// The first 8 bytes of a map file with folders too.
pub const MAGIC_DIRS: &[u8; 8] = b"DSKYMAP\x02";
const END: u32 = u32::MAX;
/// Longest path accepted when reading (a damaged length must not allocate gigabytes).
pub const MAX_PATH: u32 = 1 << 16;

/// Writes a map file; entries must come in map order.
pub struct MapWriter {
    out: BufWriter<File>,
    tmp: PathBuf,
    dest: PathBuf,
    count: u64,
    dirs: bool,
}

impl MapWriter {
    /// A map of files and symlinks.
    pub fn create(dest: &Path, started_ns: i64) -> anyhow::Result<MapWriter> {
        MapWriter::create_as(dest, started_ns, false)
    }

    /// A map with folders too when `dirs` (its header says so).
    pub fn create_as(dest: &Path, started_ns: i64, dirs: bool) -> anyhow::Result<MapWriter> {
        let dir = dest.parent().context("map path has no folder")?;
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let tmp = dir.join(format!(
            ".{}.tmp-{}",
            dest.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default(),
            std::process::id()
        ));
        let file = File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
        let mut out = BufWriter::with_capacity(1 << 20, file);
        out.write_all(if dirs { MAGIC_DIRS } else { MAGIC })?;
        out.write_all(&started_ns.to_le_bytes())?;
        Ok(MapWriter {
            out,
            tmp,
            dest: dest.to_path_buf(),
            count: 0,
            dirs,
        })
    }

    pub fn push(&mut self, e: &Entry) -> std::io::Result<()> {
        if e.kind == EntryKind::Dir && !self.dirs {
            return Err(std::io::Error::other(
                "a folder entry in a map made without folders",
            ));
        }
        let o = &mut self.out;
        o.write_all(&(e.path.len() as u32).to_le_bytes())?;
        o.write_all(&e.path)?;
        o.write_all(&[e.kind as u8, e.flags])?;
        o.write_all(&e.mode.to_le_bytes())?;
        o.write_all(&e.size.to_le_bytes())?;
        o.write_all(&e.mtime_ns.to_le_bytes())?;
        o.write_all(&e.ctime_ns.to_le_bytes())?;
        o.write_all(&e.ino.to_le_bytes())?;
        o.write_all(&e.hash)?;
        self.count += 1;
        Ok(())
    }

    /// Write the trailer and move the file into place.
    pub fn finish(mut self, partial: bool) -> anyhow::Result<u64> {
        self.out.write_all(&END.to_le_bytes())?;
        self.out.write_all(&self.count.to_le_bytes())?;
        self.out.write_all(&[partial as u8])?;
        // No fsync: a map is a cache or is stored as an object (which is synced); a map cut
        // short by a crash has no trailer and is refused, never read as a shorter tree.
        self.out.flush()?;
        std::fs::rename(&self.tmp, &self.dest)
            .with_context(|| format!("cannot write {}", self.dest.display()))?;
        Ok(self.count)
    }
}

impl Drop for MapWriter {
    fn drop(&mut self) {
        // After `finish` the temp file is gone; otherwise (an error) don't leave it behind.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

/// Reads a map file entry by entry.
pub struct MapReader<R: Read = BufReader<File>> {
    input: R,
    pub started_ns: i64,
    /// The map holds folders too (see the module doc of `map`).
    pub dirs: bool,
    count: u64,
    done: bool,
    /// From the trailer, once reached.
    pub partial: bool,
    what: String,
}

impl MapReader {
    pub fn open(path: &Path) -> anyhow::Result<MapReader> {
        let f = File::open(path).with_context(|| format!("cannot read map {}", path.display()))?;
        MapReader::new(
            BufReader::with_capacity(1 << 20, f),
            path.display().to_string(),
        )
    }
}

impl<R: Read> MapReader<R> {
    pub fn new(mut input: R, what: String) -> anyhow::Result<MapReader<R>> {
        let mut magic = [0u8; 8];
        input
            .read_exact(&mut magic)
            .with_context(|| format!("{what}: not a devsky map (too short)"))?;
        let dirs = match &magic {
            m if m == MAGIC => false,
            m if m == MAGIC_DIRS => true,
            m if m[..7] == MAGIC[..7] => bail!(
                "{what}: a devsky map of format {} (made by a newer devsky); update devsky",
                m[7]
            ),
            _ => bail!("{what}: not a devsky map (wrong header)"),
        };
        let started_ns = i64::from_le_bytes(read_arr(&mut input)?);
        Ok(MapReader {
            input,
            started_ns,
            dirs,
            count: 0,
            done: false,
            partial: false,
            what,
        })
    }

    fn next_entry(&mut self) -> anyhow::Result<Option<Entry>> {
        if self.done {
            return Ok(None);
        }
        let truncated =
            |what: &str| format!("{what}: truncated map (no end marker); make it again");
        let len =
            u32::from_le_bytes(read_arr(&mut self.input).with_context(|| truncated(&self.what))?);
        if len == END {
            let count = u64::from_le_bytes(read_arr(&mut self.input)?);
            let [partial] = read_arr::<1>(&mut self.input)?;
            if count != self.count {
                bail!(
                    "{}: damaged map ({} entries, trailer says {count})",
                    self.what,
                    self.count
                );
            }
            self.partial = partial != 0;
            self.done = true;
            return Ok(None);
        }
        if len > MAX_PATH {
            bail!("{}: damaged map (path length {len})", self.what);
        }
        let mut path = vec![0u8; len as usize];
        self.input
            .read_exact(&mut path)
            .with_context(|| truncated(&self.what))?;
        let [kind, flags] =
            read_arr::<2>(&mut self.input).with_context(|| truncated(&self.what))?;
        let kind = match kind {
            0 => EntryKind::File,
            1 => EntryKind::Symlink,
            2 if self.dirs => EntryKind::Dir,
            k => bail!("{}: damaged map (entry kind {k})", self.what),
        };
        let mut rest = [0u8; 4 + 8 * 4 + 32];
        self.input
            .read_exact(&mut rest)
            .with_context(|| truncated(&self.what))?;
        let u64_at = |i: usize| u64::from_le_bytes(rest[i..i + 8].try_into().unwrap_or_default());
        let mut hash = [0u8; 32];
        hash.copy_from_slice(&rest[36..68]);
        self.count += 1;
        Ok(Some(Entry {
            path,
            kind,
            flags,
            mode: u32::from_le_bytes(rest[0..4].try_into().unwrap_or_default()),
            size: u64_at(4),
            mtime_ns: u64_at(12) as i64,
            ctime_ns: u64_at(20) as i64,
            ino: u64_at(28),
            hash,
        }))
    }

    /// All entries (only for small maps and tests; big maps are streamed).
    pub fn read_all(mut self) -> anyhow::Result<Vec<Entry>> {
        let mut v = Vec::new();
        while let Some(e) = self.next_entry()? {
            v.push(e);
        }
        Ok(v)
    }
}

impl<R: Read> Iterator for MapReader<R> {
    type Item = anyhow::Result<Entry>;
    fn next(&mut self) -> Option<Self::Item> {
        match self.next_entry() {
            Ok(Some(e)) => Some(Ok(e)),
            Ok(None) => None,
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

fn read_arr<const N: usize>(r: &mut impl Read) -> std::io::Result<[u8; N]> {
    let mut b = [0u8; N];
    r.read_exact(&mut b)?;
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &[u8], n: u8) -> Entry {
        Entry {
            path: path.to_vec(),
            kind: if n.is_multiple_of(2) {
                EntryKind::File
            } else {
                EntryKind::Symlink
            },
            mode: 0o644,
            size: n as u64 * 1000,
            mtime_ns: -5,
            ctime_ns: 1_700_000_000_000_000_000,
            ino: 42,
            hash: [n; 32],
            flags: n % 3,
        }
    }

    #[test]
    fn round_trip_with_odd_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.map");
        let entries = vec![
            entry(b"a/\xff\xfe", 0),
            entry(b"a/new\nline", 1),
            entry(b"b", 2),
        ];
        let mut w = MapWriter::create(&p, 77).unwrap();
        for e in &entries {
            w.push(e).unwrap();
        }
        assert_eq!(w.finish(true).unwrap(), 3);
        let r = MapReader::open(&p).unwrap();
        assert_eq!(r.started_ns, 77);
        assert_eq!(r.read_all().unwrap(), entries);
        let mut r = MapReader::open(&p).unwrap();
        while r.next().is_some() {}
        assert!(r.partial);
    }

    #[test]
    fn truncated_and_foreign_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.map");
        let mut w = MapWriter::create(&p, 0).unwrap();
        w.push(&entry(b"a", 0)).unwrap();
        w.finish(false).unwrap();
        let full = std::fs::read(&p).unwrap();
        std::fs::write(&p, &full[..full.len() - 13]).unwrap();
        let err = MapReader::open(&p)
            .unwrap()
            .read_all()
            .unwrap_err()
            .to_string();
        assert!(err.contains("truncated"), "{err}");
        std::fs::write(&p, b"hello world, definitely no map").unwrap();
        assert!(
            MapReader::open(&p)
                .err()
                .unwrap()
                .to_string()
                .contains("not a devsky map")
        );
        // an unfinished writer leaves no file
        let q = dir.path().join("y.map");
        drop(MapWriter::create(&q, 0).unwrap());
        assert!(!q.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
