//! Reading a zip's central directory by hand, before the zip reader does: the entry
//! count is checked first (an absurd count is refused before anything allocates for it),
//! every raw name is returned, so a duplicate can be named in the refusal, and every
//! entry's local header must carry the central directory's name (else two readers of the
//! same archive would see different files).

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;

use anyhow::{anyhow, bail};

/// The raw names of the central directory, read directly (so duplicates can be named and
/// an absurd entry count refused before the zip reader allocates for it), each checked
/// against its entry's local header.
pub(crate) fn central_names(
    f: &mut File,
    len: u64,
    max_entries: u64,
) -> anyhow::Result<Vec<Vec<u8>>> {
    const EOCD: &[u8] = b"PK\x05\x06";
    let not_zip = || anyhow!("not a zip archive, or truncated (no end of central directory)");
    if len < 22 {
        return Err(not_zip());
    }
    let tail_len = len.min(22 + 65_535);
    f.seek(SeekFrom::Start(len - tail_len))?;
    let mut tail = vec![0u8; tail_len as usize];
    f.read_exact(&mut tail)?;
    let at = (0..=tail.len() - 22)
        .rev()
        .find(|&i| &tail[i..i + 4] == EOCD)
        .ok_or_else(not_zip)?;
    let u16_at = |b: &[u8], i: usize| u16::from_le_bytes([b[i], b[i + 1]]) as u64;
    let u32_at =
        |b: &[u8], i: usize| u32::from_le_bytes(b[i..i + 4].try_into().unwrap_or([0; 4])) as u64;
    let u64_at = |b: &[u8], i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
    let mut count = u16_at(&tail, at + 10);
    let mut cd_size = u32_at(&tail, at + 12);
    let mut cd_off = u32_at(&tail, at + 16);
    if count == 0xFFFF || cd_size == 0xFFFF_FFFF || cd_off == 0xFFFF_FFFF {
        // zip64: the locator sits right before the EOCD record.
        let loc = len - tail_len + at as u64;
        if loc < 20 {
            return Err(not_zip());
        }
        let mut l = [0u8; 20];
        f.seek(SeekFrom::Start(loc - 20))?;
        f.read_exact(&mut l)?;
        if &l[..4] != b"PK\x06\x07" {
            bail!("damaged zip64 archive (no locator)");
        }
        let rec = u64_at(&l, 8);
        let mut r = [0u8; 56];
        f.seek(SeekFrom::Start(rec))
            .and_then(|_| f.read_exact(&mut r))
            .map_err(|_| anyhow!("damaged zip64 archive (truncated record)"))?;
        if &r[..4] != b"PK\x06\x06" {
            bail!("damaged zip64 archive (bad record)");
        }
        count = u64_at(&r, 32);
        cd_size = u64_at(&r, 40);
        cd_off = u64_at(&r, 48);
    }
    if count > max_entries {
        bail!("{count} entries (the limit is {max_entries})");
    }
    if cd_off.saturating_add(cd_size) > len {
        bail!("the archive is truncated (its central directory lies past its end)");
    }
    f.seek(SeekFrom::Start(cd_off))?;
    let mut cd = vec![0u8; cd_size as usize];
    f.read_exact(&mut cd)
        .map_err(|_| anyhow!("the archive is truncated"))?;
    let mut names = Vec::with_capacity(count as usize);
    let mut p = 0usize;
    while names.len() < count as usize {
        if p + 46 > cd.len() || &cd[p..p + 4] != b"PK\x01\x02" {
            bail!(
                "the archive is damaged (central directory entry {} unreadable)",
                names.len()
            );
        }
        let n = u16_at(&cd, p + 28) as usize;
        let x = u16_at(&cd, p + 30) as usize;
        let c = u16_at(&cd, p + 32) as usize;
        if p + 46 + n > cd.len() {
            bail!("the archive is damaged (a name runs past the central directory)");
        }
        if p + 46 + n + x > cd.len() {
            bail!("the archive is damaged (an extra field runs past the central directory)");
        }
        let name = &cd[p + 46..p + 46 + n];
        let mut local = u32_at(&cd, p + 42);
        if local == 0xFFFF_FFFF {
            local =
                zip64_offset(&cd[p + 46 + n..p + 46 + n + x], &cd[p..p + 46]).ok_or_else(|| {
                    anyhow!("damaged zip64 entry {:?}", String::from_utf8_lossy(name))
                })?;
        }
        check_local_name(f, local, name)?;
        names.push(name.to_vec());
        p += 46 + n + x + c;
    }
    Ok(names)
}

/// The local header's offset from a central entry's zip64 extra field (its fields are
/// there only for the 32-bit values that are all ones, in this order).
fn zip64_offset(extra: &[u8], head: &[u8]) -> Option<u64> {
    let mut i = 0;
    while i + 4 <= extra.len() {
        let id = u16::from_le_bytes([extra[i], extra[i + 1]]);
        let len = u16::from_le_bytes([extra[i + 2], extra[i + 3]]) as usize;
        let data = extra.get(i + 4..i + 4 + len)?;
        if id == 1 {
            let full = |at: usize| head[at..at + 4] == [0xFF; 4];
            let skip = 8 * (full(24) as usize + full(20) as usize);
            return Some(u64::from_le_bytes(
                data.get(skip..skip + 8)?.try_into().ok()?,
            ));
        }
        i += 4 + len;
    }
    None
}

/// Refuse an entry whose local header is missing or names another file than the central
/// directory does.
fn check_local_name(f: &File, offset: u64, name: &[u8]) -> anyhow::Result<()> {
    let shown = String::from_utf8_lossy(name);
    let mut head = vec![0u8; 30 + name.len()];
    f.read_exact_at(&mut head, offset)
        .map_err(|_| anyhow!("the archive is damaged (entry {shown:?} has no local header)"))?;
    if &head[..4] != b"PK\x03\x04" {
        bail!("the archive is damaged (entry {shown:?} has no local header)");
    }
    let n = u16::from_le_bytes([head[26], head[27]]) as usize;
    if n != name.len() || &head[30..] != name {
        let mut local = vec![0u8; n];
        let _ = f.read_exact_at(&mut local, offset + 30);
        bail!(
            "entry {shown:?} is named {:?} in its local header: the archive names one file two ways",
            String::from_utf8_lossy(&local)
        );
    }
    Ok(())
}
