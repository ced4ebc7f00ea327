//! The Compare screen's background worker: loads both sides of one change (file, object,
//! bytes), classifies them, diffs them and highlights both sides with syntect, all off
//! the draw thread. Requests carry a generation; the worker skips to the newest request
//! waiting, and the screen drops replies that are not for its current generation.

use std::io::Read;
use std::ops::Range;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::style::Style;
use syntect::easy::HighlightLines;
use syntect::highlighting::Theme;
use syntect::parsing::SyntaxSet;

use crate::app::events::EventTx;
use crate::app::screen::ScreenId;
use crate::app::theme::syntect_style;
use crate::app::worker::{ReplyTx, Worker};
use crate::engine::diff::changes::{ChangeSet, Content};
use crate::engine::diff::text::{self as textdiff, FileDiff, Kind, SideRow};
use crate::engine::snapshot::objects::ObjectStore;

/// Lines longer than this (bytes) are not highlighted.
pub const MAX_HIGHLIGHT_BYTES: usize = 2_000;
/// Highlighting of one file stops after this long (the rest stays plain).
pub const HIGHLIGHT_BUDGET: Duration = Duration::from_millis(1_500);

/// Syntax styles of one line: byte ranges of the line's text (ending excluded).
pub type LineStyles = Vec<(Style, Range<usize>)>;

/// One side of a change, as loaded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SideInfo {
    pub exists: bool,
    pub size: u64,
    /// blake3 hex of the content (filled in for summaries).
    pub hash: Option<String>,
}

/// A text diff ready to draw.
#[derive(Debug, Clone, Default)]
pub struct TextView {
    pub diff: FileDiff,
    pub side: Vec<SideRow>,
    /// Syntax styles of the new text's lines (index = new line number - 1); lines past
    /// the end, or with no entry, are drawn plain.
    pub highlight: Vec<LineStyles>,
    /// The same for the old text (drawn on removed lines).
    pub old_highlight: Vec<LineStyles>,
    /// The change as a unified diff (`patch -p0` in the project root applies it).
    pub patch: String,
}

/// What the worker made of one change.
#[derive(Debug, Clone)]
pub enum Body {
    Text(Box<TextView>),
    /// Binary or too large: sizes and hashes only.
    Summary(Kind),
}

#[derive(Debug, Clone)]
pub struct Prepared {
    pub old: SideInfo,
    pub new: SideInfo,
    pub body: Body,
}

/// The worker's answer for change `index` of the set asked about.
#[derive(Debug)]
pub struct CompareReply {
    pub index: usize,
    pub result: Result<Arc<Prepared>, String>,
}

/// The diff worker: a "latest request wins" [`crate::app::worker::Worker`] that prepares
/// change `index` of a set (its thread stops when this is dropped).
pub type DiffWorker = Worker<(Arc<ChangeSet>, usize), CompareReply>;

/// Start the Compare screen's diff worker.
pub fn start(theme: Option<Theme>, tx: EventTx) -> DiffWorker {
    Worker::start(
        "compare-diff",
        ReplyTx::new(ScreenId::Compare, tx),
        || None::<SyntaxSet>,
        move |syntaxes, (set, index): (Arc<ChangeSet>, usize)| {
            // Loaded on the first request: Compare may never be used.
            if theme.is_some() && syntaxes.is_none() {
                *syntaxes = Some(SyntaxSet::load_defaults_newlines());
            }
            let hl = syntaxes.as_ref().zip(theme.as_ref());
            let result = prepare(&set, index, hl).map(Arc::new);
            CompareReply { index, result }
        },
    )
}

/// A side's content: bytes, or only its size and hash when it is too large to load.
enum Loaded {
    Bytes(Vec<u8>),
    TooLarge { size: u64, hash: String },
}

fn hash_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

fn load(content: &Content, size_hint: Option<u64>, root: &Path) -> Result<Loaded, String> {
    let limit = textdiff::MAX_BYTES as u64;
    match content {
        Content::Missing => Ok(Loaded::Bytes(Vec::new())),
        Content::Bytes(b) => Ok(Loaded::Bytes(b.as_ref().clone())),
        Content::File(p) => {
            let path = root.join(p);
            let err = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
            let mut file = std::fs::File::open(&path).map_err(err)?;
            let size = file.metadata().map_err(err)?.len();
            if size > limit {
                let mut hasher = blake3::Hasher::new();
                hasher.update_reader(&mut file).map_err(err)?;
                return Ok(Loaded::TooLarge {
                    size,
                    hash: hasher.finalize().to_hex().to_string(),
                });
            }
            let mut bytes = Vec::with_capacity(size as usize);
            file.read_to_end(&mut bytes).map_err(err)?;
            Ok(Loaded::Bytes(bytes))
        }
        Content::Object(id) => {
            // An object's id is the blake3 of its content: no need to read a large one.
            if let Some(size) = size_hint.filter(|&s| s > limit) {
                return Ok(Loaded::TooLarge {
                    size,
                    hash: id.clone(),
                });
            }
            let store = ObjectStore::open(root).map_err(|e| format!("{e:#}"))?;
            store
                .get(id)
                .map(Loaded::Bytes)
                .map_err(|e| format!("{e:#}"))
        }
    }
}

fn info(content: &Content, loaded: &Loaded) -> SideInfo {
    let exists = *content != Content::Missing;
    match loaded {
        Loaded::Bytes(b) => SideInfo {
            exists,
            size: b.len() as u64,
            hash: None,
        },
        Loaded::TooLarge { size, hash } => SideInfo {
            exists,
            size: *size,
            hash: Some(hash.clone()),
        },
    }
}

/// Load, classify, diff and highlight change `index` of `set`.
pub fn prepare(
    set: &ChangeSet,
    index: usize,
    highlight: Option<(&SyntaxSet, &Theme)>,
) -> Result<Prepared, String> {
    let change = set
        .changes
        .get(index)
        .ok_or_else(|| format!("no change #{index} in this set"))?;
    let old = load(&change.old, change.old_size, &set.root)?;
    let new = load(&change.new, change.new_size, &set.root)?;
    let (mut old_info, mut new_info) = (info(&change.old, &old), info(&change.new, &new));
    let (old, new) = match (old, new) {
        (Loaded::Bytes(o), Loaded::Bytes(n)) => (o, n),
        (o, n) => {
            for (side, loaded) in [(&mut old_info, o), (&mut new_info, n)] {
                if let Loaded::Bytes(b) = loaded {
                    side.hash = Some(hash_hex(&b));
                }
            }
            return Ok(Prepared {
                old: old_info,
                new: new_info,
                body: Body::Summary(Kind::Huge),
            });
        }
    };
    let kind = textdiff::classify(&old, &new);
    if kind != Kind::Text {
        old_info.hash = Some(hash_hex(&old));
        new_info.hash = Some(hash_hex(&new));
        return Ok(Prepared {
            old: old_info,
            new: new_info,
            body: Body::Summary(kind),
        });
    }
    // classify checked both sides are UTF-8
    let old_text = std::str::from_utf8(&old).unwrap_or_default();
    let new_text = std::str::from_utf8(&new).unwrap_or_default();
    let diff = textdiff::diff_lines(old_text, new_text);
    let side = textdiff::side_by_side(&diff);
    let label = |c: &Content| {
        if *c == Content::Missing {
            "/dev/null".to_string()
        } else {
            change.path.clone()
        }
    };
    let patch = textdiff::unified_text(
        old_text,
        new_text,
        &label(&change.old),
        &label(&change.new),
        textdiff::CONTEXT,
    );
    let styles = |text: &str| match highlight {
        Some((ss, th)) if !text.is_empty() => highlight_lines(&change.path, text, ss, th),
        _ => Vec::new(),
    };
    let (highlight, old_highlight) = (styles(new_text), styles(old_text));
    Ok(Prepared {
        old: old_info,
        new: new_info,
        body: Body::Text(Box::new(TextView {
            diff,
            side,
            highlight,
            old_highlight,
            patch,
        })),
    })
}

/// Syntax styles of every line of `text` (a file named `path`), within the time budget.
pub fn highlight_lines(path: &str, text: &str, ss: &SyntaxSet, theme: &Theme) -> Vec<LineStyles> {
    let start = Instant::now();
    let ext = path
        .rsplit('/')
        .next()
        .and_then(|f| f.rsplit_once('.'))
        .map_or("", |(_, e)| e);
    let syntax = ss
        .find_syntax_by_extension(ext)
        .or_else(|| {
            text.lines()
                .next()
                .and_then(|l| ss.find_syntax_by_first_line(l))
        })
        .unwrap_or_else(|| ss.find_syntax_plain_text());
    if syntax.name == ss.find_syntax_plain_text().name {
        return Vec::new();
    }
    let mut h = HighlightLines::new(syntax, theme);
    let mut out = Vec::new();
    for raw in text.split_inclusive('\n') {
        if start.elapsed() > HIGHLIGHT_BUDGET {
            break;
        }
        let len = raw.trim_end_matches(['\n', '\r']).len();
        if raw.len() > MAX_HIGHLIGHT_BYTES {
            // Too long to be worth it; a fresh parse state keeps the rest sane.
            h = HighlightLines::new(syntax, theme);
            out.push(Vec::new());
            continue;
        }
        let Ok(ranges) = h.highlight_line(raw, ss) else {
            out.push(Vec::new());
            continue;
        };
        let mut at = 0;
        let mut styles = Vec::with_capacity(ranges.len());
        for (style, piece) in ranges {
            let end = (at + piece.len()).min(len);
            if at < end {
                styles.push((syntect_style(style), at..end));
            }
            at += piece.len();
        }
        out.push(styles);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::theme::Theme as AppTheme;
    use crate::engine::diff::changes::{Change, ChangeKind};

    fn change(old: Content, new: Content) -> Change {
        Change {
            path: "site/app.js".into(),
            raw_path: b"site/app.js".to_vec(),
            kind: ChangeKind::Modified,
            old,
            new,
            old_size: None,
            new_size: None,
            old_mode: None,
            new_mode: None,
        }
    }

    fn bytes(s: &[u8]) -> Content {
        Content::Bytes(Arc::new(s.to_vec()))
    }

    #[test]
    fn text_is_diffed_and_the_new_side_highlighted() {
        let ss = SyntaxSet::load_defaults_newlines();
        let th = AppTheme::load(Some("dark"), None)
            .unwrap()
            .syntect_theme()
            .unwrap();
        let (old, new) = (
            b"function f(x) {\n  return 1;\n}\n",
            b"function f(x) {\n  return \"two\";\n}\n",
        );
        let set = ChangeSet {
            changes: vec![change(bytes(old), bytes(new))],
            ..ChangeSet::default()
        };
        let p = prepare(&set, 0, Some((&ss, &th))).unwrap();
        let Body::Text(t) = p.body else {
            panic!("not text")
        };
        assert_eq!(t.diff.hunks.len(), 1);
        assert_eq!(t.highlight.len(), 3);
        let styles: std::collections::HashSet<_> = t.highlight[0].iter().map(|s| s.0).collect();
        assert!(styles.len() >= 2, "{styles:?}");
        assert!(t.patch.starts_with("--- site/app.js\n+++ site/app.js\n"));
        assert_eq!(
            (p.old.size, p.new.size),
            (old.len() as u64, new.len() as u64)
        );
    }

    #[test]
    fn binary_and_missing_sides_are_summarized_with_hashes() {
        let set = ChangeSet {
            changes: vec![change(Content::Missing, bytes(b"\x89PNG\0\0"))],
            ..ChangeSet::default()
        };
        let p = prepare(&set, 0, None).unwrap();
        assert!(matches!(p.body, Body::Summary(Kind::Binary)));
        assert!(!p.old.exists && p.new.exists);
        assert_eq!(
            p.new.hash.as_deref(),
            Some(hash_hex(b"\x89PNG\0\0").as_str())
        );
        assert_eq!(p.old.hash.as_deref(), Some(hash_hex(b"").as_str()));
    }

    #[test]
    fn large_files_are_hashed_not_loaded_and_errors_are_messages() {
        let dir = tempfile::tempdir().unwrap();
        let big = vec![b'a'; textdiff::MAX_BYTES + 1];
        std::fs::write(dir.path().join("big.txt"), &big).unwrap();
        let set = ChangeSet {
            changes: vec![
                change(
                    Content::File("big.txt".into()),
                    Content::File(dir.path().join("big.txt")),
                ),
                change(Content::File("nope.txt".into()), Content::Missing),
            ],
            root: dir.path().to_path_buf(),
            ..ChangeSet::default()
        };
        let p = prepare(&set, 0, None).unwrap();
        assert!(matches!(p.body, Body::Summary(Kind::Huge)));
        assert_eq!(p.old.hash, Some(hash_hex(&big)));
        assert_eq!(p.new.size, big.len() as u64);
        let e = prepare(&set, 1, None).unwrap_err();
        assert!(e.contains("cannot read") && e.contains("nope.txt"), "{e}");
    }
}
