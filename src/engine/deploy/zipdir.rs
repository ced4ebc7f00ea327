//! Reading a zip's central directory by hand, before the zip reader does: the entry
//! count is checked first (an absurd count is refused before anything allocates for it)
//! and every raw name is returned, so a duplicate can be named in the refusal.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};

use anyhow::{anyhow, bail};

/// The raw names of the central directory, read directly (so duplicates can be named and
/// an absurd entry count refused before the zip reader allocates for it).
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
        names.push(cd[p + 46..p + 46 + n].to_vec());
        p += 46 + n + x + c;
    }
    Ok(names)
}
