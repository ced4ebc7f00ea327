//! Searching and replacing in a domain's files: the project's walk (its ignore rules)
//! narrowed by the domain's globs, each file read in its own encoding (a BOM, valid UTF-8,
//! the domain's setting, or a guess by `chardetng`) and written back in it, line endings as
//! they were. Binary files (a NUL in the first 8 KiB) are skipped and counted; files that
//! would not come back byte for byte from their decoded text, or whose replacement cannot be
//! written in their encoding, are refused and reported.

use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use anyhow::Result;
use encoding_rs::{Encoding, UTF_8};
use serde::{Deserialize, Serialize};

use super::pattern::Pattern;
use super::{Problem, ProblemKind};
use crate::engine::map::scan::PathFilter;

/// Files larger than this are skipped (reported), not read into memory.
pub const MAX_FILE: u64 = 64 << 20;
/// Bytes of a line shown either side of a match.
const CONTEXT: usize = 120;
/// How much of a file is looked at for NUL bytes.
pub const BINARY_PROBE: usize = 8192;

/// One match in a file: where, and its line before and after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileHit {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub column: usize,
    pub before: String,
    pub after: String,
}

/// What replacing in one file gives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FilePlan {
    /// Relative to the project, `/`-separated.
    pub path: String,
    pub encoding: String,
    /// Blake3 of the content the plan was made from.
    pub before: String,
    pub mode: u32,
    pub count: usize,
    pub hits: Vec<FileHit>,
    /// Hits (indexes into `hits`) unticked: left as they are by the apply.
    #[serde(default)]
    pub skip: Vec<usize>,
    /// False: the whole file is unticked.
    #[serde(default = "yes")]
    pub selected: bool,
}

fn yes() -> bool {
    true
}

/// The files of a search or a replace.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct FileScan {
    pub files: Vec<FilePlan>,
    pub searched: usize,
    pub binary_skipped: usize,
    pub problems: Vec<Problem>,
}

/// The encoding named by a label (`windows-1251`, `latin1`, ...).
pub fn encoding_for(label: &str) -> Result<&'static Encoding> {
    Encoding::for_label(label.trim().as_bytes()).ok_or_else(|| {
        anyhow::anyhow!(
            "unknown encoding {label:?} (use a WHATWG label: utf-8, windows-1251, latin1, ...)"
        )
    })
}

/// Search every file under `root` that `filter` lets through.
pub fn scan(
    root: &Path,
    filter: Option<&PathFilter>,
    pattern: &Pattern,
    encoding: Option<&'static Encoding>,
) -> Result<FileScan> {
    scan_with(root, filter, pattern, encoding, &mut |_| true)
}

/// [`scan`], handing each file with matches to `found` as soon as it is planned (the
/// Replace screen streams them); `found` returning false stops the scan with an error
/// ("cancelled"). Files are read and matched on a small pool of threads fed by the walk
/// (see [`super::parallel`]); `found` still sees them, and the scan lists them, in the
/// walk's order, as a single-threaded scan would.
pub fn scan_with(
    root: &Path,
    filter: Option<&PathFilter>,
    pattern: &Pattern,
    encoding: Option<&'static Encoding>,
    found: &mut dyn FnMut(&FilePlan) -> bool,
) -> Result<FileScan> {
    let mut out = FileScan::default();
    let plan = |rel: &str| plan_file(root, rel, pattern, encoding);
    let finished = super::parallel::in_order(root, filter, &plan, &mut |outcome| {
        out.searched += 1;
        match outcome {
            Ok(Outcome::Plan(p)) => {
                if !found(&p) {
                    return false;
                }
                out.files.push(p)
            }
            Ok(Outcome::NoMatch) => {}
            Ok(Outcome::Binary) => out.binary_skipped += 1,
            Err(p) => out.problems.push(p),
        }
        true
    });
    let Some(walked) = finished else {
        anyhow::bail!("cancelled");
    };
    out.problems.extend(walked);
    Ok(out)
}

/// The one walk over a domain's files (replace and the mass tasks use it): every regular
/// file under `root` that the project's ignore rules and `filter` let through, sorted, as
/// a `/`-separated path relative to `root`. `each` returning false stops the walk. Gives
/// what could not be read on the way.
pub fn walk(
    root: &Path,
    filter: Option<&PathFilter>,
    each: &mut dyn FnMut(String) -> bool,
) -> Vec<Problem> {
    let mut problems = Vec::new();
    for entry in crate::engine::project::walk::builder(root, true).build() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                problems.push(problem("", ProblemKind::Unreadable, e.to_string()));
                continue;
            }
        };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let Ok(rel) = entry.path().strip_prefix(root) else {
            continue;
        };
        if filter.is_some_and(|f| !f(rel.as_os_str().as_bytes())) {
            continue;
        }
        if !each(rel.to_string_lossy().into_owned()) {
            break;
        }
    }
    problems
}

/// What one file gave.
pub enum Outcome {
    Plan(FilePlan),
    NoMatch,
    Binary,
}

pub(crate) fn problem(place: &str, kind: ProblemKind, reason: String) -> Problem {
    Problem {
        place: place.to_string(),
        kind,
        reason,
    }
}

/// Read `rel` and plan its replacement. Also gives the new bytes through [`rewrite`].
pub fn plan_file(
    root: &Path,
    rel: &str,
    pattern: &Pattern,
    encoding: Option<&'static Encoding>,
) -> Result<Outcome, Problem> {
    let path = root.join(rel);
    let unreadable = |e: std::io::Error| problem(rel, ProblemKind::Unreadable, e.to_string());
    // One open (not following a symlink put there since the walk), one fstat, the reads.
    let mut file = fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&path)
        .map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.len() > MAX_FILE {
        let why = format!("larger than {} MiB; not searched", MAX_FILE >> 20);
        return Err(problem(rel, ProblemKind::TooLarge, why));
    }
    let mut bytes = Vec::with_capacity(meta.len() as usize + 1);
    file.read_to_end(&mut bytes).map_err(unreadable)?;
    drop(file);
    if bytes[..bytes.len().min(BINARY_PROBE)].contains(&0) {
        return Ok(Outcome::Binary);
    }
    // Most files do not match: UTF-8 ones are looked at without copying their text.
    if let Ok(s) = std::str::from_utf8(&bytes)
        && !pattern.is_match(s)
    {
        return Ok(Outcome::NoMatch);
    }
    let (text, enc) =
        decode(&bytes, encoding).map_err(|why| problem(rel, ProblemKind::Encoding, why))?;
    if !pattern.is_match(&text) {
        return Ok(Outcome::NoMatch);
    }
    let mut hits = Vec::new();
    // Lines are counted as the matches go, so many matches cost one pass over the text.
    let (mut line, mut line_start, mut counted) = (1, 0, 0);
    for caps in pattern.regex().captures_iter(&text) {
        let m = caps.get(0).expect("group 0");
        for (i, _) in text[counted..m.start()].match_indices('\n') {
            line += 1;
            line_start = counted + i + 1;
        }
        counted = m.start();
        let line_end = text[m.end()..]
            .find('\n')
            .map_or(text.len(), |i| m.end() + i);
        // At most CONTEXT bytes either side (minified files have megabyte lines).
        let from = floor(&text, m.start().saturating_sub(CONTEXT).max(line_start));
        let to = floor(&text, (m.end() + CONTEXT).min(line_end));
        let mut after = text[from..m.start()].to_string();
        pattern.expand(&caps, &mut after);
        after.push_str(text[m.end()..to].trim_end_matches('\r'));
        hits.push(FileHit {
            line,
            column: text[line_start..m.start()].chars().count() + 1,
            before: text[from..to].trim_end_matches('\r').to_string(),
            after,
        });
    }
    let plan = FilePlan {
        path: rel.to_string(),
        encoding: enc.name().to_string(),
        before: blake3::hash(&bytes).to_hex().to_string(),
        mode: meta.mode() & 0o7777,
        count: hits.len(),
        hits,
        skip: Vec::new(),
        selected: true,
    };
    // A replacement that cannot be written in the file's encoding is refused now.
    rewrite(&bytes, enc, pattern, &[]).map_err(|why| problem(rel, ProblemKind::Refused, why))?;
    Ok(Outcome::Plan(plan))
}

/// `at`, moved back to a character boundary of `text`.
fn floor(text: &str, mut at: usize) -> usize {
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

/// The text of `bytes` and the encoding it was read in. Refused when the text would not
/// encode back to exactly these bytes.
pub fn decode(
    bytes: &[u8],
    setting: Option<&'static Encoding>,
) -> Result<(String, &'static Encoding), String> {
    if let Some((enc, _)) = Encoding::for_bom(bytes)
        && enc != UTF_8
    {
        return Err(format!("{} files are not searched", enc.name()));
    }
    if let Ok(s) = std::str::from_utf8(bytes) {
        return Ok((s.to_string(), UTF_8));
    }
    let enc = setting.filter(|e| *e != UTF_8).unwrap_or_else(|| {
        let mut det = chardetng::EncodingDetector::new(chardetng::Iso2022JpDetection::Deny);
        det.feed(bytes, true);
        det.guess(None, chardetng::Utf8Detection::Deny)
    });
    let (text, had_errors) = enc.decode_without_bom_handling(bytes);
    let (back, _, unmappable) = enc.encode(&text);
    if had_errors || unmappable || back.as_ref() != bytes {
        return Err(format!(
            "not valid UTF-8 and not exactly readable as {}; set the domain's encoding",
            enc.name()
        ));
    }
    Ok((text.into_owned(), enc))
}

/// The new content of a file: every match but those in `skip` (indexes of the plan's
/// hits) replaced, written in `enc`.
pub fn rewrite(
    bytes: &[u8],
    enc: &'static Encoding,
    pattern: &Pattern,
    skip: &[usize],
) -> Result<Vec<u8>, String> {
    let text = if enc == UTF_8 {
        std::str::from_utf8(bytes)
            .map_err(|e| e.to_string())?
            .to_string()
    } else {
        enc.decode_without_bom_handling(bytes).0.into_owned()
    };
    let (new, _) = pattern.replace_except(&text, skip);
    if enc == UTF_8 {
        return Ok(new.into_bytes());
    }
    let (out, _, unmappable) = enc.encode(&new);
    if unmappable {
        return Err(format!(
            "the replacement holds characters that {} cannot write",
            enc.name()
        ));
    }
    Ok(out.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::replace::pattern::Options;

    #[test]
    fn hits_count_lines_and_cut_long_lines() {
        let dir = tempfile::tempdir().unwrap();
        let long = format!("{}old{}", "é".repeat(500), "x".repeat(500));
        std::fs::write(dir.path().join("f"), format!("a\r\nb old\r\n{long}\nold")).unwrap();
        let p = Pattern::new("old", "new", Options::default()).unwrap();
        let Ok(Outcome::Plan(plan)) = plan_file(dir.path(), "f", &p, None) else {
            panic!("a plan")
        };
        let at: Vec<(usize, usize)> = plan.hits.iter().map(|h| (h.line, h.column)).collect();
        assert_eq!(at, [(2, 3), (3, 501), (4, 1)]);
        assert_eq!(
            (plan.hits[0].before.as_str(), plan.hits[0].after.as_str()),
            ("b old", "b new")
        );
        assert!(
            plan.hits[1].before.len() <= 2 * CONTEXT + 3,
            "{}",
            plan.hits[1].before
        );
        assert!(plan.hits[1].after.starts_with('é') && plan.hits[1].after.contains("newxxx"));
    }

    #[test]
    fn windows_1251_is_rewritten_in_windows_1251_with_crlf_kept() {
        let enc = encoding_rs::WINDOWS_1251;
        let text = "Привет, старый мир!\r\nстарый\r\n";
        let (bytes, _, _) = enc.encode(text);
        let (back, found) = decode(&bytes, Some(enc)).unwrap();
        assert_eq!((back.as_str(), found), (text, enc));
        let p = Pattern::new("старый", "новый", Options::default()).unwrap();
        let out = rewrite(&bytes, enc, &p, &[]).unwrap();
        assert_eq!(
            out,
            enc.encode("Привет, новый мир!\r\nновый\r\n").0.as_ref()
        );
        let p = Pattern::new("старый", "new €", Options::default()).unwrap();
        assert_eq!(
            rewrite(&bytes, enc, &p, &[]).unwrap(),
            enc.encode("Привет, new € мир!\r\nnew €\r\n").0.as_ref()
        );
        let p = Pattern::new("старый", "日本", Options::default()).unwrap();
        assert!(
            rewrite(&bytes, enc, &p, &[])
                .unwrap_err()
                .contains("windows-1251")
        );
    }
}
