//! Building the preview of a record: syntax-highlighted lines for text (syntect), a hex
//! dump for binary bodies. Runs on the preview worker thread, never on the draw thread.
//! Very long lines (minified files) are cut and left plain, so they cost nothing.

use ratatui::text::{Line, Span};
use syntect::easy::HighlightLines;
use syntect::highlighting::Theme;
use syntect::parsing::SyntaxSet;

use crate::app::theme::syntect_style;
use crate::store::codebase::Body;

/// Lines shown at most.
pub const MAX_LINES: usize = 5_000;
/// Lines longer than this (in bytes) are not highlighted.
pub const MAX_HIGHLIGHT_BYTES: usize = 2_000;
/// Lines are cut to this many chars for display.
pub const MAX_LINE_CHARS: usize = 1_000;
/// Bytes of a binary body shown as hex.
pub const HEX_BYTES: usize = 1_024;

/// A preview ready to draw.
#[derive(Debug, Clone, Default)]
pub struct Preview {
    pub lines: Vec<Line<'static>>,
    /// Shown above the text: "binary, 12 KiB", "first 5000 of 9000 lines", ...
    pub note: Option<String>,
    /// Number of lines of the whole body.
    pub total_lines: usize,
}

/// The preview of a body named `name` (its extension picks the syntax).
pub fn build(
    name: &str,
    body: &Body,
    syntaxes: Option<&SyntaxSet>,
    theme: Option<&Theme>,
) -> Preview {
    match body {
        Body::Binary(bytes) => hex_preview(bytes),
        Body::Text(text) => text_preview(name, text, syntaxes, theme),
    }
}

fn hex_preview(bytes: &[u8]) -> Preview {
    let lines = bytes[..bytes.len().min(HEX_BYTES)]
        .chunks(16)
        .enumerate()
        .map(|(i, chunk)| {
            let hex: Vec<String> = chunk.iter().map(|b| format!("{b:02x}")).collect();
            let ascii: String = chunk
                .iter()
                .map(|&b| {
                    if b.is_ascii_graphic() || b == b' ' {
                        b as char
                    } else {
                        '.'
                    }
                })
                .collect();
            Line::from(format!("{:08x}  {:<47}  {ascii}", i * 16, hex.join(" ")))
        })
        .collect();
    Preview {
        lines,
        note: Some(format!(
            "binary, {} bytes{}",
            bytes.len(),
            if bytes.len() > HEX_BYTES {
                " (first 1 KiB shown)"
            } else {
                ""
            }
        )),
        total_lines: 0,
    }
}

/// Replace tabs and control characters so a line draws exactly as wide as it measures.
fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push_str("    "),
            '\r' | '\n' => {}
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

fn cut(s: &str) -> String {
    match s.char_indices().nth(MAX_LINE_CHARS) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn text_preview(
    name: &str,
    text: &str,
    syntaxes: Option<&SyntaxSet>,
    theme: Option<&Theme>,
) -> Preview {
    let total_lines = text.lines().count();
    let mut highlighter = match (syntaxes, theme) {
        (Some(ss), Some(th)) => {
            let path = name.strip_prefix("f:").unwrap_or(name);
            let ext = path
                .rsplit('/')
                .next()
                .and_then(|f| f.rsplit_once('.'))
                .map(|(_, e)| e)
                .unwrap_or("");
            let syntax = ss
                .find_syntax_by_extension(ext)
                .or_else(|| {
                    text.lines()
                        .next()
                        .and_then(|l| ss.find_syntax_by_first_line(l))
                })
                .unwrap_or_else(|| ss.find_syntax_plain_text());
            Some((HighlightLines::new(syntax, th), ss))
        }
        _ => None,
    };
    let mut lines = Vec::with_capacity(total_lines.min(MAX_LINES));
    let mut long_lines = 0;
    for raw in text.split_inclusive('\n').take(MAX_LINES) {
        if raw.len() > MAX_HIGHLIGHT_BYTES {
            long_lines += 1;
            lines.push(Line::from(sanitize(&cut(raw))));
            continue;
        }
        let line = match highlighter.as_mut() {
            Some((h, ss)) => match h.highlight_line(raw, ss) {
                Ok(ranges) => Line::from(
                    ranges
                        .into_iter()
                        .filter_map(|(style, piece)| {
                            let piece = sanitize(piece);
                            (!piece.is_empty()).then(|| Span::styled(piece, syntect_style(style)))
                        })
                        .collect::<Vec<_>>(),
                ),
                Err(_) => Line::from(sanitize(raw)),
            },
            None => Line::from(sanitize(raw)),
        };
        lines.push(line);
    }
    let mut notes = Vec::new();
    if total_lines > MAX_LINES {
        notes.push(format!("first {MAX_LINES} of {total_lines} lines"));
    }
    if long_lines > 0 {
        notes.push(format!(
            "{long_lines} long line(s) cut to {MAX_LINE_CHARS} chars"
        ));
    }
    Preview {
        lines,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
        total_lines,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::theme::Theme as AppTheme;

    fn text_of(l: &Line) -> String {
        l.spans.iter().map(|s| s.content.as_ref()).collect()
    }

    #[test]
    fn php_is_highlighted_with_several_styles() {
        let ss = SyntaxSet::load_defaults_newlines();
        let th = AppTheme::load(Some("dark"), None)
            .unwrap()
            .syntect_theme()
            .unwrap();
        let p = build(
            "f:a.php",
            &Body::Text("<?php\nfunction f($x) { return \"s\"; }\n".into()),
            Some(&ss),
            Some(&th),
        );
        assert_eq!(p.lines.len(), 2);
        assert_eq!(text_of(&p.lines[1]), "function f($x) { return \"s\"; }");
        let styles: std::collections::HashSet<_> =
            p.lines[1].spans.iter().map(|s| s.style).collect();
        assert!(styles.len() >= 3, "{styles:?}");
    }

    #[test]
    fn binary_bodies_are_hex() {
        let p = build(
            "f:x.png",
            &Body::Binary(vec![0x89, b'P', b'N', b'G', 0, 0]),
            None,
            None,
        );
        assert!(p.note.unwrap().starts_with("binary, 6 bytes"));
        assert!(text_of(&p.lines[0]).starts_with("00000000  89 50 4e 47 00 00"));
    }

    #[test]
    fn long_lines_and_tabs_are_safe() {
        let long = "x".repeat(300_000);
        let p = build(
            "f:min.js",
            &Body::Text(format!("a\tb\n{long}\n")),
            None,
            None,
        );
        assert_eq!(text_of(&p.lines[0]), "a    b");
        assert_eq!(text_of(&p.lines[1]).chars().count(), MAX_LINE_CHARS + 1);
        assert!(p.note.unwrap().contains("long line"));
        let many = "l\n".repeat(MAX_LINES + 10);
        let p = build("f:a.txt", &Body::Text(many), None, None);
        assert_eq!(p.lines.len(), MAX_LINES);
        assert_eq!(p.total_lines, MAX_LINES + 10);
    }
}
