//! Line diffs of two texts for Compare (and for patches): hunks of context, removed and
//! added rows with line numbers, the changed words inside paired lines, the unchanged
//! regions between hunks, a side-by-side pairing, and standard unified diff text.
//!
//! Built on `similar`. Every diff runs with a deadline, so pathological inputs give an
//! approximate (still correct, just not minimal) diff instead of hanging.

use std::ops::Range;
use std::time::{Duration, Instant};

use similar::{Algorithm, ChangeTag, DiffOp, TextDiff, TextDiffConfig};

/// Bytes looked at for a NUL when deciding whether content is binary.
pub const BINARY_SNIFF: usize = 8 * 1024;
/// Content larger than this (either side) is summarized, not diffed.
pub const MAX_BYTES: usize = 8 * 1024 * 1024;
/// Content with more lines than this (either side) is summarized, not diffed.
pub const MAX_LINES: usize = 200_000;
/// Unchanged lines shown around each change.
pub const CONTEXT: usize = 3;
/// The line diff gives up on minimality after this long.
pub const DIFF_TIMEOUT: Duration = Duration::from_secs(2);
/// Time spent at most on finding the changed words of a whole file.
pub const WORDS_BUDGET: Duration = Duration::from_millis(500);
/// Lines longer than this (bytes) get no word highlighting.
const MAX_WORDS_LINE: usize = 4_000;

/// What two contents are, for showing them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Both sides are text that can be diffed line by line.
    Text,
    /// A side has a NUL in its first 8 KiB or is not UTF-8.
    Binary,
    /// A side is over [`MAX_BYTES`] or [`MAX_LINES`]: summarized instead of diffed.
    Huge,
}

impl Kind {
    pub fn label(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Binary => "binary",
            Kind::Huge => "too large to diff line by line",
        }
    }
}

/// Whether bytes look binary: a NUL in the first 8 KiB, or not UTF-8.
pub fn is_binary(bytes: &[u8]) -> bool {
    bytes[..bytes.len().min(BINARY_SNIFF)].contains(&0) || std::str::from_utf8(bytes).is_err()
}

/// Number of lines (a last line without a newline counts).
pub fn count_lines(bytes: &[u8]) -> usize {
    let n = bytes.iter().filter(|&&b| b == b'\n').count();
    n + usize::from(bytes.last().is_some_and(|&b| b != b'\n'))
}

/// Decide how to show two contents. A NUL in the first 8 KiB makes a side binary before
/// its size is looked at; invalid UTF-8 is only looked for in contents under the size limit.
pub fn classify(old: &[u8], new: &[u8]) -> Kind {
    let sides = [old, new];
    if sides
        .iter()
        .any(|b| b[..b.len().min(BINARY_SNIFF)].contains(&0))
    {
        return Kind::Binary;
    }
    if sides.iter().any(|b| b.len() > MAX_BYTES) {
        return Kind::Huge;
    }
    if sides.iter().any(|b| std::str::from_utf8(b).is_err()) {
        return Kind::Binary;
    }
    if sides.iter().any(|b| count_lines(b) > MAX_LINES) {
        return Kind::Huge;
    }
    Kind::Text
}

/// What a row of a hunk is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    Context,
    Removed,
    Added,
}

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub kind: RowKind,
    /// 1-based line number in the old text (None for added lines).
    pub old_line: Option<usize>,
    /// 1-based line number in the new text (None for removed lines).
    pub new_line: Option<usize>,
    /// The line without its line ending.
    pub text: String,
    /// Changed parts of a removed/added line paired with one on the other side: byte
    /// ranges into `text`, sorted, not overlapping. Empty when the whole line is new
    /// (or the pairing was too different to be worth highlighting).
    pub words: Vec<Range<usize>>,
    /// The line ended with `\r\n`.
    pub crlf: bool,
    /// The last line of its text, with no newline after it.
    pub no_newline: bool,
}

/// A run of changes with the unchanged lines around them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hunk {
    /// As in a unified diff header: 1-based first line, or the line before an empty range.
    pub old_start: usize,
    pub old_len: usize,
    pub new_start: usize,
    pub new_len: usize,
    pub rows: Vec<Row>,
}

impl Hunk {
    /// `@@ -1,3 +1,4 @@`
    pub fn header(&self) -> String {
        format!(
            "@@ -{},{} +{},{} @@",
            self.old_start, self.old_len, self.new_start, self.new_len
        )
    }
}

/// Unchanged lines between two hunks (or before the first, after the last).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Gap {
    /// 1-based number of the first line in the old and the new text.
    pub old_start: usize,
    pub new_start: usize,
    /// Context rows, one per line.
    pub rows: Vec<Row>,
}

impl Gap {
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// The line diff of two texts.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FileDiff {
    pub hunks: Vec<Hunk>,
    /// `gaps[i]` comes before `hunks[i]`; the last one follows the last hunk. Always
    /// `hunks.len() + 1` entries, some possibly empty.
    pub gaps: Vec<Gap>,
    pub old_lines: usize,
    pub new_lines: usize,
    pub added: usize,
    pub removed: usize,
    /// Lines ending in `\r\n` in the old and the new text.
    pub crlf_lines: (usize, usize),
}

impl FileDiff {
    /// No line differs.
    pub fn is_identical(&self) -> bool {
        self.hunks.is_empty()
    }

    /// Line endings differ between the sides (some CRLF on one side, other counts on the other).
    pub fn line_endings_differ(&self) -> bool {
        let (o, n) = self.crlf_lines;
        (o > 0 || n > 0) && (o * self.new_lines.max(1) != n * self.old_lines.max(1))
    }
}

fn config() -> TextDiffConfig {
    let mut c = TextDiffConfig::default();
    c.algorithm(Algorithm::Myers).timeout(DIFF_TIMEOUT);
    c
}

/// Split a line as `similar` yields it into (text, crlf, no_newline).
fn split_ending(line: &str) -> (&str, bool, bool) {
    match line.strip_suffix('\n') {
        Some(l) => match l.strip_suffix('\r') {
            Some(l) => (l, true, false),
            None => (l, false, false),
        },
        None => (line, false, true),
    }
}

/// A row from a line as `similar` yields it (with its ending); indexes are 0-based.
fn row(kind: RowKind, old: Option<usize>, new: Option<usize>, line: &str) -> Row {
    let (text, crlf, no_newline) = split_ending(line);
    Row {
        kind,
        old_line: old.map(|i| i + 1),
        new_line: new.map(|i| i + 1),
        text: text.to_string(),
        words: Vec::new(),
        crlf,
        no_newline,
    }
}

/// Split a line into diffable tokens for code: runs of letters/digits/`_`, runs of
/// whitespace, and every other character on its own.
fn tokens(s: &str) -> Vec<&str> {
    // 0: word, 1: space, 2: other (never joined)
    let class = |c: char| match c {
        c if c.is_alphanumeric() || c == '_' => 0,
        c if c.is_whitespace() => 1,
        _ => 2,
    };
    let mut out = Vec::new();
    let (mut start, mut prev) = (0, 2);
    for (i, c) in s.char_indices() {
        let cl = class(c);
        if (cl != prev || cl == 2) && i > start {
            out.push(&s[start..i]);
            start = i;
        }
        prev = cl;
    }
    if start < s.len() {
        out.push(&s[start..]);
    }
    out
}

/// Byte ranges of changed words in a line.
type Words = Vec<Range<usize>>;

/// The changed parts of a line replaced by another, as byte ranges into each; None when
/// the lines have too little in common for word marks to help.
fn word_ranges(old: &str, new: &str, deadline: Instant) -> Option<(Words, Words)> {
    if old.is_empty() || new.is_empty() || old.len() > MAX_WORDS_LINE || new.len() > MAX_WORDS_LINE
    {
        return None;
    }
    let (a, b) = (tokens(old), tokens(new));
    let offsets = |t: &[&str]| {
        let mut at = 0;
        let mut v: Vec<usize> = t
            .iter()
            .map(|s| {
                at += s.len();
                at - s.len()
            })
            .collect();
        v.push(at);
        v
    };
    let (oa, ob) = (offsets(&a), offsets(&b));
    let ops = similar::capture_diff_slices_deadline(Algorithm::Myers, &a, &b, Some(deadline));
    let (mut ra, mut rb, mut same) = (Vec::new(), Vec::new(), 0);
    let push = |v: &mut Vec<Range<usize>>, r: Range<usize>| {
        if r.is_empty() {
            return;
        }
        match v.last_mut() {
            Some(last) if last.end == r.start => last.end = r.end,
            _ => v.push(r),
        }
    };
    for op in ops {
        let (o, n) = (op.old_range(), op.new_range());
        if let DiffOp::Equal { .. } = op {
            same += oa[o.end] - oa[o.start];
        } else {
            push(&mut ra, oa[o.start]..oa[o.end]);
            push(&mut rb, ob[n.start]..ob[n.end]);
        }
    }
    // Mostly different lines read better without marks: keep them when the similarity
    // 2·same / (old + new) is at least 0.4.
    (same * 5 >= old.len() + new.len()).then_some((ra, rb))
}

/// Mark the changed words of each removed line paired with an added one.
fn mark_words(rows: &mut [Row], deadline: Instant) {
    for (l, r) in pairs(rows) {
        let (Some(l), Some(r)) = (l, r) else {
            continue;
        };
        if l == r || Instant::now() > deadline {
            continue;
        }
        if let Some((wl, wr)) = word_ranges(&rows[l].text, &rows[r].text, deadline) {
            rows[l].words = wl;
            rows[r].words = wr;
        }
    }
}

/// The line diff of `old` and `new`, with [`CONTEXT`] lines of context.
pub fn diff_lines(old: &str, new: &str) -> FileDiff {
    let diff = config().diff_lines(old, new);
    let words_deadline = Instant::now() + WORDS_BUDGET;
    let groups: Vec<Vec<DiffOp>> = diff
        .grouped_ops(CONTEXT)
        .into_iter()
        .filter(|g| g.iter().any(|op| !matches!(op, DiffOp::Equal { .. })))
        .collect();
    let mut out = FileDiff {
        old_lines: diff.old_len(),
        new_lines: diff.new_len(),
        crlf_lines: (
            diff.iter_old_slices()
                .filter(|l| l.ends_with("\r\n"))
                .count(),
            diff.iter_new_slices()
                .filter(|l| l.ends_with("\r\n"))
                .count(),
        ),
        ..FileDiff::default()
    };
    let (mut old_at, mut new_at) = (0usize, 0usize);
    for group in &groups {
        let (first, last) = (group[0], group[group.len() - 1]);
        let (os, ns) = (first.old_range().start, first.new_range().start);
        let (oe, ne) = (last.old_range().end, last.new_range().end);
        out.gaps.push(gap(&diff, old_at, new_at, os - old_at));
        let mut rows = Vec::new();
        for op in group {
            for ch in diff.iter_changes(op) {
                let kind = match ch.tag() {
                    ChangeTag::Equal => RowKind::Context,
                    ChangeTag::Delete => RowKind::Removed,
                    ChangeTag::Insert => RowKind::Added,
                };
                rows.push(row(kind, ch.old_index(), ch.new_index(), ch.value()));
            }
        }
        mark_words(&mut rows, words_deadline);
        out.removed += rows.iter().filter(|r| r.kind == RowKind::Removed).count();
        out.added += rows.iter().filter(|r| r.kind == RowKind::Added).count();
        let (old_len, new_len) = (oe - os, ne - ns);
        out.hunks.push(Hunk {
            old_start: if old_len == 0 { os } else { os + 1 },
            old_len,
            new_start: if new_len == 0 { ns } else { ns + 1 },
            new_len,
            rows,
        });
        (old_at, new_at) = (oe, ne);
    }
    out.gaps
        .push(gap(&diff, old_at, new_at, diff.old_len() - old_at));
    out
}

fn gap(diff: &TextDiff<'_, '_, str>, old_at: usize, new_at: usize, len: usize) -> Gap {
    Gap {
        old_start: old_at + 1,
        new_start: new_at + 1,
        rows: (0..len)
            .map(|k| {
                let line = diff.old_slice(old_at + k).unwrap_or("");
                row(RowKind::Context, Some(old_at + k), Some(new_at + k), line)
            })
            .collect(),
    }
}

/// One row of a side-by-side view: indexes into `diff.hunks[hunk].rows` for the left
/// (old) and the right (new) pane. A context row is on both sides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SideRow {
    pub hunk: usize,
    pub left: Option<usize>,
    pub right: Option<usize>,
}

/// Align rows in two columns: a context row on both sides, each run of removed lines
/// paired in order with the added lines that replace it.
fn pairs(rows: &[Row]) -> Vec<(Option<usize>, Option<usize>)> {
    let mut out = Vec::with_capacity(rows.len());
    let mut i = 0;
    while i < rows.len() {
        if rows[i].kind == RowKind::Context {
            out.push((Some(i), Some(i)));
            i += 1;
            continue;
        }
        let start = i;
        while i < rows.len() && rows[i].kind != RowKind::Context {
            i += 1;
        }
        let of = |kind| (start..i).filter(move |&k| rows[k].kind == kind);
        let removed: Vec<usize> = of(RowKind::Removed).collect();
        let added: Vec<usize> = of(RowKind::Added).collect();
        for k in 0..removed.len().max(added.len()) {
            out.push((removed.get(k).copied(), added.get(k).copied()));
        }
    }
    out
}

/// The side-by-side rows of every hunk (see [`SideRow`]).
pub fn side_by_side(diff: &FileDiff) -> Vec<SideRow> {
    diff.hunks
        .iter()
        .enumerate()
        .flat_map(|(h, hunk)| {
            pairs(&hunk.rows)
                .into_iter()
                .map(move |(left, right)| SideRow {
                    hunk: h,
                    left,
                    right,
                })
        })
        .collect()
}

/// A standard unified diff (`--- old_label`, `+++ new_label`, `@@ -l,n +l,n @@` hunks,
/// `\ No newline at end of file` where needed) that `patch -p0` accepts. Empty when the
/// texts are equal.
pub fn unified_text(
    old: &str,
    new: &str,
    old_label: &str,
    new_label: &str,
    context: usize,
) -> String {
    let diff = config().diff_lines(old, new);
    if diff
        .ops()
        .iter()
        .all(|op| matches!(op, DiffOp::Equal { .. }))
    {
        return String::new();
    }
    diff.unified_diff()
        .context_radius(context)
        .missing_newline_hint(true)
        .header(old_label, new_label)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(rows: &[Row], kind: RowKind) -> Vec<&str> {
        rows.iter()
            .filter(|r| r.kind == kind)
            .map(|r| r.text.as_str())
            .collect()
    }

    #[test]
    fn classify_text_binary_huge() {
        assert_eq!(classify(b"a\n", b"b\n"), Kind::Text);
        assert_eq!(classify(b"", b""), Kind::Text);
        assert_eq!(classify(b"a\0b", b"b"), Kind::Binary);
        assert_eq!(classify(b"ok", &[0xff, 0xfe, b'a']), Kind::Binary);
        let big = vec![b'x'; MAX_BYTES + 1];
        assert_eq!(classify(b"", &big), Kind::Huge);
        let many = "l\n".repeat(MAX_LINES + 1);
        assert_eq!(classify(many.as_bytes(), b""), Kind::Huge);
        // a NUL past the sniffed prefix of valid UTF-8 is still text
        let mut late = vec![b'a'; BINARY_SNIFF + 10];
        late.push(0);
        assert_eq!(classify(&late, b""), Kind::Text);
        assert_eq!(count_lines(b"a\nb"), 2);
        assert_eq!(count_lines(b"a\nb\n"), 2);
        assert_eq!(count_lines(b""), 0);
    }

    #[test]
    fn identical_texts_have_no_hunks() {
        let d = diff_lines("a\nb\nc\n", "a\nb\nc\n");
        assert!(d.is_identical());
        assert_eq!(d.gaps.len(), 1);
        assert_eq!(d.gaps[0].len(), 3);
        assert_eq!((d.added, d.removed), (0, 0));
        assert!(side_by_side(&d).is_empty());
        assert_eq!(unified_text("x\n", "x\n", "a", "b", 3), "");
        assert!(diff_lines("", "").is_identical());
    }

    #[test]
    fn one_changed_word_is_one_hunk_with_that_word_marked() {
        let old: String = (1..=20).map(|i| format!("line {i} stays\n")).collect();
        let new = old.replace("line 10 stays", "line 10 moves");
        let d = diff_lines(&old, &new);
        assert_eq!(d.hunks.len(), 1);
        let h = &d.hunks[0];
        assert_eq!(h.header(), "@@ -7,7 +7,7 @@");
        assert_eq!(texts(&h.rows, RowKind::Removed), ["line 10 stays"]);
        assert_eq!(texts(&h.rows, RowKind::Added), ["line 10 moves"]);
        let removed = h.rows.iter().find(|r| r.kind == RowKind::Removed).unwrap();
        let added = h.rows.iter().find(|r| r.kind == RowKind::Added).unwrap();
        assert_eq!(removed.old_line, Some(10));
        assert_eq!(added.new_line, Some(10));
        let marked = |r: &Row| -> Vec<String> {
            r.words
                .iter()
                .map(|w| r.text[w.clone()].to_string())
                .collect()
        };
        assert_eq!(marked(removed), ["stays"]);
        assert_eq!(marked(added), ["moves"]);
        // unchanged regions around the hunk
        assert_eq!(d.gaps.len(), 2);
        assert_eq!((d.gaps[0].old_start, d.gaps[0].len()), (1, 6));
        assert_eq!((d.gaps[1].old_start, d.gaps[1].len()), (14, 7));
        assert_eq!(d.gaps[1].rows[0].text, "line 14 stays");
        let side = side_by_side(&d);
        assert_eq!(side.len(), 7);
        let pair = side.iter().find(|s| s.left != s.right).unwrap();
        assert_eq!(h.rows[pair.left.unwrap()].kind, RowKind::Removed);
        assert_eq!(h.rows[pair.right.unwrap()].kind, RowKind::Added);
    }

    #[test]
    fn words_are_code_tokens_and_unlike_lines_get_no_marks() {
        assert_eq!(
            tokens("a.b_c(x,  y)"),
            ["a", ".", "b_c", "(", "x", ",", "  ", "y", ")"]
        );
        let d = diff_lines(
            "  return items.length;\nx\n",
            "  return items.size;\ncompletely other\n",
        );
        let rows = &d.hunks[0].rows;
        let marked: Vec<(RowKind, Vec<&str>)> = rows
            .iter()
            .map(|r| (r.kind, r.words.iter().map(|w| &r.text[w.clone()]).collect()))
            .collect();
        assert_eq!(
            marked,
            [
                (RowKind::Removed, vec!["length"]),
                (RowKind::Removed, vec![]),
                (RowKind::Added, vec!["size"]),
                (RowKind::Added, vec![]),
            ]
        );
    }

    #[test]
    fn added_and_removed_files() {
        let d = diff_lines("", "a\nb\n");
        assert_eq!(d.hunks.len(), 1);
        assert_eq!(d.hunks[0].header(), "@@ -0,0 +1,2 @@");
        assert_eq!(texts(&d.hunks[0].rows, RowKind::Added), ["a", "b"]);
        assert_eq!((d.added, d.removed), (2, 0));
        let d = diff_lines("a\nb\nc\n", "");
        assert_eq!(d.hunks[0].header(), "@@ -1,3 +0,0 @@");
        assert_eq!(texts(&d.hunks[0].rows, RowKind::Removed), ["a", "b", "c"]);
        let side = side_by_side(&d);
        assert!(side.iter().all(|s| s.left.is_some() && s.right.is_none()));
    }

    #[test]
    fn crlf_and_missing_final_newline() {
        let d = diff_lines("a\r\nb\r\n", "a\r\nc");
        let h = &d.hunks[0];
        assert!(h.rows[0].crlf && h.rows[0].text == "a");
        let added = h.rows.iter().find(|r| r.kind == RowKind::Added).unwrap();
        assert_eq!(added.text, "c");
        assert!(added.no_newline && !added.crlf);
        assert!(d.line_endings_differ());
        let d = diff_lines("a\r\nb\r\n", "a\nb\n");
        assert_eq!((d.removed, d.added), (2, 2));
        assert!(d.hunks[0].rows.iter().all(|r| r.words.is_empty()));
        assert!(d.line_endings_differ());
        assert!(!diff_lines("a\r\n", "b\r\n").line_endings_differ());
        let u = unified_text("a\nb", "a\nc", "x", "x", 3);
        assert!(
            u.contains("-b\n\\ No newline at end of file\n+c\n\\ No newline"),
            "{u}"
        );
    }

    /// Apply `unified_text(old, new)` to a file holding `old` with the `patch` command.
    fn patched(old: &str, new: &str) -> String {
        let ok = std::process::Command::new("patch")
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        assert!(
            ok,
            "the `patch` command is needed by this test: apt-get install patch"
        );
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f.txt"), old).unwrap();
        let text = unified_text(old, new, "f.txt", "f.txt", 3);
        std::fs::write(dir.path().join("p.diff"), &text).unwrap();
        let out = std::process::Command::new("patch")
            .args(["-p0", "--batch", "--input", "p.diff"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "patch failed: {}{}\n{text}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::read_to_string(dir.path().join("f.txt")).unwrap()
    }

    #[test]
    fn unified_text_applies_with_patch() {
        let old: String = (1..=40).map(|i| format!("line {i}\n")).collect();
        let new = old
            .replace("line 3\n", "line three\n")
            .replace("line 30\n", "")
            .replace("line 35\n", "line 35\nnew line\n");
        let u = unified_text(&old, &new, "f.txt", "f.txt", 3);
        assert!(
            u.starts_with("--- f.txt\n+++ f.txt\n@@ -1,6 +1,6 @@\n"),
            "{u}"
        );
        assert_eq!(patched(&old, &new), new);
        for (o, n) in [
            ("a\nb", "a\nc"),
            ("a\nb\n", "a\nb"),
            ("a\nb", "a\nb\n"),
            ("a\r\nb\r\n", "a\r\nc\r\n"),
            ("a\r\nb\r\n", "a\nb\n"),
            ("x\n", "x\ny\nz"),
        ] {
            assert_eq!(patched(o, n), n, "{o:?} -> {n:?}");
        }
    }

    #[test]
    fn hundred_thousand_lines_with_scattered_changes_are_fast() {
        let old: String = (0..100_000)
            .map(|i| format!("    let value_{i} = compute({i}, \"text\");\n"))
            .collect();
        let mut lines: Vec<String> = old.lines().map(str::to_string).collect();
        for k in 0..100 {
            let i = k * 997 + 13;
            lines[i] = format!("    let value_{i} = recompute({i}, \"changed\");");
        }
        let new = lines.join("\n") + "\n";
        let start = Instant::now();
        let d = diff_lines(&old, &new);
        let took = start.elapsed();
        assert_eq!(d.hunks.len(), 100);
        assert_eq!((d.added, d.removed), (100, 100));
        assert!(
            d.hunks
                .iter()
                .all(|h| h.rows.iter().any(|r| !r.words.is_empty()))
        );
        assert!(took < Duration::from_secs(5), "took {took:?}");
        let start = Instant::now();
        let u = unified_text(&old, &new, "a", "b", 3);
        assert_eq!(u.matches("\n@@ ").count(), 100);
        assert!(start.elapsed() < Duration::from_secs(5));
    }
}
