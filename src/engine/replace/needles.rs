//! The server-side prefilter of a database search: literal texts ("needles") one of which
//! every value that can match holds, so the server returns only those rows (`INSTR`, or
//! `LIKE` when case does not matter) and the rest are never read.
//!
//! The needles are read off the compiled pattern's syntax tree (`regex-syntax`), literal
//! and regex alike: the longest run of characters every match must contain, or for an
//! alternation one run per branch. A pattern with no such run (`\d+`) reads every row.
//! Translating the regex into the server's own (MariaDB's PCRE `REGEXP`) was not done: the
//! two syntaxes differ (`\b`, classes, Unicode), and a filter that reads a value differently
//! would miss matches; a required literal never does.
//!
//! Values are searched after decoding JSON strings and inside serialized data, so a run
//! stops at every character an encoder may write in another form: `/` (`\/`), `"` and `\`
//! (escaped), `<`, `>`, `&`, `'` (`JSON_HEX_*`), control and non-ASCII characters
//! (`\uXXXX`). What is left (ASCII letters, digits, most punctuation, space) is stored as
//! it is by PHP's `serialize` and `json_encode` at any nesting depth. With
//! `--ignore-case` only ASCII letters are folded (`LIKE` is ASCII-case-insensitive in
//! SQLite); a letter that Unicode folds to more (`k`, `s`: the Kelvin sign, the long s)
//! stops the run too.

use regex_syntax::hir::{Class, Hir, HirKind};

/// A text one of which every match holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Needle {
    /// Lowercase where `ignore_case`.
    pub text: String,
    /// Compare ignoring ASCII case.
    pub ignore_case: bool,
}

/// The needles of the regex `source` (None: no text is required, read every row).
pub fn needles(source: &str, ignore_case: bool) -> Option<Vec<Needle>> {
    let hir = regex_syntax::ParserBuilder::new()
        .case_insensitive(ignore_case)
        .build()
        .parse(source)
        .ok()?;
    let mut v = required(&hir)?;
    v.sort_by(|a, b| (&a.text, a.ignore_case).cmp(&(&b.text, b.ignore_case)));
    v.dedup();
    Some(v)
}

/// Stored the same at any JSON nesting depth and by every common encoder.
fn plain(c: char) -> bool {
    (c.is_ascii_graphic() || c == ' ') && !matches!(c, '"' | '\\' | '/' | '<' | '>' | '&' | '\'')
}

/// One character position of a fixed-length piece: a known character (and whether its
/// case is folded), or a character that stops a run.
type Unit = Option<(char, bool)>;

/// The units of `h` when it always matches the same number of characters in a known
/// shape (literals, one-character classes, zero-width assertions); None otherwise.
fn units(h: &Hir) -> Option<Vec<Unit>> {
    match h.kind() {
        HirKind::Empty | HirKind::Look(_) => Some(Vec::new()),
        HirKind::Literal(lit) => {
            let s = std::str::from_utf8(&lit.0).ok()?;
            Some(s.chars().map(|c| plain(c).then_some((c, false))).collect())
        }
        HirKind::Class(Class::Unicode(cls)) => {
            let r = cls.ranges();
            let one = |i: usize| (r[i].start() == r[i].end()).then(|| r[i].start());
            let unit = match r.len() {
                1 => one(0).filter(|&c| plain(c)).map(|c| (c, false)),
                2 => match (one(0), one(1)) {
                    (Some(a), Some(b)) if a.is_ascii_uppercase() && b == a.to_ascii_lowercase() => {
                        Some((b, true))
                    }
                    _ => None,
                },
                _ => None,
            };
            Some(vec![unit])
        }
        HirKind::Class(Class::Bytes(_)) => Some(vec![None]),
        HirKind::Capture(c) => units(&c.sub),
        HirKind::Repetition(r) if Some(r.min) == r.max && r.min <= 64 => {
            let one = units(&r.sub)?;
            Some(one.repeat(r.min as usize))
        }
        HirKind::Concat(parts) => {
            let mut v = Vec::new();
            for p in parts {
                v.extend(units(p)?);
            }
            Some(v)
        }
        _ => None,
    }
}

/// How well a set of needles filters: its shortest text.
fn score(v: &[Needle]) -> usize {
    v.iter().map(|n| n.text.len()).min().unwrap_or(0)
}

/// Keep the better of `best` and `cand`.
fn keep(best: &mut Option<Vec<Needle>>, cand: Vec<Needle>) {
    if cand.is_empty() || score(&cand) == 0 {
        return;
    }
    if best.as_ref().is_none_or(|b| score(&cand) > score(b)) {
        *best = Some(cand);
    }
}

/// Needles one of which every match of `h` holds.
fn required(h: &Hir) -> Option<Vec<Needle>> {
    match h.kind() {
        HirKind::Capture(c) => return required(&c.sub),
        HirKind::Repetition(r) if r.min >= 1 && units(h).is_none() => return required(&r.sub),
        HirKind::Alternation(alts) => {
            let mut all = Vec::new();
            for a in alts {
                all.extend(required(a)?);
            }
            return Some(all);
        }
        _ => {}
    }
    let parts: &[Hir] = match h.kind() {
        HirKind::Concat(v) => v,
        _ => std::slice::from_ref(h),
    };
    let mut best = None;
    let mut run = Needle {
        text: String::new(),
        ignore_case: false,
    };
    let flush = |run: &mut Needle, best: &mut Option<Vec<Needle>>| {
        let n = std::mem::replace(
            run,
            Needle {
                text: String::new(),
                ignore_case: false,
            },
        );
        keep(best, vec![n]);
    };
    for p in parts {
        match units(p) {
            Some(us) => {
                for u in us {
                    match u {
                        Some((c, ci)) => {
                            run.text.push(c);
                            run.ignore_case |= ci;
                        }
                        None => flush(&mut run, &mut best),
                    }
                }
            }
            None => {
                flush(&mut run, &mut best);
                if !std::ptr::eq(p, h)
                    && let Some(inner) = required(p)
                {
                    keep(&mut best, inner);
                }
            }
        }
    }
    flush(&mut run, &mut best);
    // A run that folds case is compared lowercased.
    best.map(|v| {
        v.into_iter()
            .map(|n| Needle {
                text: if n.ignore_case {
                    n.text.to_ascii_lowercase()
                } else {
                    n.text
                },
                ..n
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(src: &str, ci: bool) -> Option<Vec<(String, bool)>> {
        needles(src, ci).map(|v| v.into_iter().map(|n| (n.text, n.ignore_case)).collect())
    }

    fn one(t: &str, ci: bool) -> Option<Vec<(String, bool)>> {
        Some(vec![(t.to_string(), ci)])
    }

    #[test]
    fn longest_required_run() {
        assert_eq!(
            texts(r"https?://old\.example\.(com|org)/\d+", false),
            one("old.example.", false)
        );
        assert_eq!(texts(r"\d+", false), None);
        assert_eq!(texts(r"a*", false), None);
        assert_eq!(texts(r"(?:x|y)+foo_bar", false), one("foo_bar", false));
        assert_eq!(
            texts(r"(alpha|beta)\d", false),
            Some(vec![("alpha".into(), false), ("beta".into(), false)])
        );
        // A branch with nothing required: nothing is required.
        assert_eq!(texts(r"alpha|\d", false), None);
        assert_eq!(texts(r"\bword\b", false), one("word", false));
        assert_eq!(texts(r"(ab){2}c", false), one("ababc", false));
    }

    #[test]
    fn escapable_characters_stop_a_run() {
        assert_eq!(
            texts(r#"say "hello there""#, false),
            one("hello there", false)
        );
        assert_eq!(texts("café-au-lait", false), one("-au-lait", false));
        assert_eq!(texts(r"a<b>c&dd'e", false), one("dd", false));
    }

    /// Is `n` in `stored` as the server compares (`INSTR`; ASCII case ignored by `LIKE`)?
    fn server_finds(stored: &str, n: &Needle) -> bool {
        if n.ignore_case {
            stored.to_ascii_lowercase().contains(&n.text)
        } else {
            stored.contains(&n.text)
        }
    }

    proptest::proptest! {
        /// Never miss a match: when the pattern matches a text, every form the text is
        /// stored in (raw, JSON-escaped by serde and PHP's way, JSON inside JSON, inside
        /// serialized data) holds one of the needles.
        #[test]
        fn a_matching_value_always_passes_the_filter(
            text in "[a-kK-Sst/\\\"<&' .:é0-9]{1,24}",
            from in 0usize..24,
            len in 1usize..10,
            ci: bool,
            regex: bool,
        ) {
            let chars: Vec<char> = text.chars().collect();
            let from = from.min(chars.len() - 1);
            let piece: String = chars[from..(from + len).min(chars.len())].iter().collect();
            let mid = piece.chars().count() / 2;
            let (a, b): (String, String) = (
                piece.chars().take(mid).collect(),
                piece.chars().skip(mid).collect(),
            );
            let opts = crate::engine::replace::pattern::Options {
                regex,
                ignore_case: ci,
                ..Default::default()
            };
            let source = if regex {
                format!("{}.?{}", regex::escape(&a), regex::escape(&b))
            } else {
                piece.clone()
            };
            let p = crate::engine::replace::pattern::Pattern::new(&source, "", opts).unwrap();
            proptest::prop_assume!(p.is_match(&text));
            let Some(needles) = p.needles() else { return Ok(()) };
            let json = serde_json::to_string(&text).unwrap();
            let php_json = crate::engine::replace::serialized::json_string(&text, true, true);
            let forms = [
                text.clone(),
                json.clone(),
                php_json.clone(),
                serde_json::to_string(&php_json).unwrap(),
                serde_json::to_string(&json).unwrap(),
                format!("s:{}:\"{text}\";", text.len()),
            ];
            for f in &forms {
                proptest::prop_assert!(
                    needles.iter().any(|n| server_finds(f, n)),
                    "{source:?} matches {text:?}, but {f:?} holds none of {needles:?}"
                );
            }
        }
    }

    #[test]
    fn ignore_case_folds_only_plain_ascii() {
        assert_eq!(texts(r"Old\.Example", true), one("old.example", true));
        // `k` folds to the Kelvin sign too: it stops the run.
        assert_eq!(texts("Bookkeeper", true), one("eeper", true));
        assert_eq!(texts("(?i)ABC-d(?-i)XYZ", false), one("abc-dxyz", true));
    }
}
