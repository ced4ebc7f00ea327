//! Writing an archive: entries serialized, their blake3 put in the header, the whole
//! stream bzip2-compressed. The output is a function of the archive alone (no clocks, a
//! fixed key order, a fixed compression level), so re-exports are byte-identical.

use std::io::Write;

use super::{
    Archive, ArchiveError, Entry, check_name, check_path, check_word, header::FORMAT, limits,
};

/// bzip2 block size (1-9; 9: 900 KB blocks).
const LEVEL: u32 = 9;

/// The archive as devsky writes it: bzip2 of [`write_plain`].
pub fn write(a: &Archive) -> Result<Vec<u8>, ArchiveError> {
    let plain = write_plain(a)?;
    let mut enc = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::new(LEVEL));
    enc.write_all(&plain)?;
    Ok(enc.finish()?)
}

/// The uncompressed archive: the header (with `format`, `records` and `checksum` filled
/// in) and the entries. Refuses what a reader would refuse.
pub fn write_plain(a: &Archive) -> Result<Vec<u8>, ArchiveError> {
    if a.header.name.is_empty() {
        // A Coresky archive reads without one; devsky's format needs it.
        return Err(ArchiveError::Invalid("the header has no name".into()));
    }
    let mut body = Vec::new();
    let mut records = 0u64;
    for e in &a.entries {
        match e {
            Entry::Record(r) => {
                check_name(&r.name)?;
                check_word("record version", &r.version)?;
                check_word("record kind", &r.kind)?;
                check_word("record status", &r.status)?;
                if r.id <= 0 {
                    return Err(ArchiveError::Invalid(format!(
                        "record id {} of {:?}: ids start at 1",
                        r.id, r.name
                    )));
                }
                if r.authors.chars().any(char::is_control) {
                    return Err(ArchiveError::Invalid(format!(
                        "record {}: authors {:?} must be on one line",
                        r.id, r.authors
                    )));
                }
                let attrs = format!(
                    "kind {}\nstatus {}\nauthors {}\n",
                    r.kind, r.status, r.authors
                );
                block(&mut body, "ATTRS:", attrs.as_bytes());
                block(
                    &mut body,
                    &format!("RECORD: {} {} {}", r.id, r.name, r.version),
                    &r.body,
                );
                records += 1;
            }
            Entry::Sql(sql) => block(&mut body, "SQL:", sql),
            Entry::File { path, data } => {
                check_path(path)?;
                block(&mut body, &format!("FILE: {path}"), data);
            }
            Entry::Dirs(dirs) => {
                for d in dirs {
                    check_path(d)?;
                    if d.contains(' ') {
                        return Err(ArchiveError::Invalid(format!(
                            "folder {d:?}: DIRS lists folders without spaces"
                        )));
                    }
                }
                block(&mut body, "DIRS:", dirs.join(" ").as_bytes());
            }
        }
        if body.len() as u64 > limits::TOTAL_BYTES {
            return Err(ArchiveError::TooBig(limits::TOTAL_BYTES));
        }
    }
    if a.entries.len() > limits::ENTRIES {
        return Err(ArchiveError::Invalid(format!(
            "{} entries; at most {} are allowed",
            a.entries.len(),
            limits::ENTRIES
        )));
    }
    body.extend_from_slice(b"END:\n");
    let mut header = a.header.clone();
    header.format = FORMAT.to_string();
    header.records = records;
    header.checksum = blake3::hash(&body).to_hex().to_string();
    let mut out = header.to_text()?.into_bytes();
    out.extend_from_slice(&body);
    Ok(out)
}

/// `line len\n`, the bytes, `\n`.
fn block(out: &mut Vec<u8>, line: &str, data: &[u8]) {
    out.extend_from_slice(line.as_bytes());
    out.push(b' ');
    out.extend_from_slice(data.len().to_string().as_bytes());
    out.push(b'\n');
    out.extend_from_slice(data);
    out.push(b'\n');
}
