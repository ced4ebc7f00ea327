//! Fitting a diff row's text into the columns of its cell: a window of it (scrolled
//! sideways, or, when the line does not fit, started at its first changed word), or all of
//! it soft-wrapped. `…` marks every cut. Text is sanitized (tabs, control characters) so
//! it draws exactly as wide as it measures.

use std::ops::Range;

use ratatui::style::Style;
use ratatui::text::Span;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

/// Marks a cut: text goes on beyond this side of the cell.
pub const MORE: &str = "…";
/// Marks a wrapped line's continuation (in the sign column).
pub const CONT: &str = "↪";
/// Columns kept before the first changed word when a line starts there.
const LEAD_IN: usize = 8;

/// Columns a char takes once sanitized.
fn cols(c: char) -> usize {
    match c {
        '\t' => 4,
        c if c.is_control() => 1,
        c => c.width().unwrap_or(0),
    }
}

/// Columns `text` takes once sanitized.
pub fn width(text: &str) -> usize {
    text.chars().map(cols).sum()
}

/// Replace tabs and control characters so text draws exactly as wide as it measures.
pub fn sanitize(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\t' => out.push_str("    "),
            c if c.is_control() => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// The bytes of `text` whose chars lie wholly in columns `from..to`.
fn byte_range(text: &str, from: usize, to: usize) -> Range<usize> {
    let mut col = 0;
    let mut start = None;
    let mut end = text.len();
    for (i, c) in text.char_indices() {
        let w = cols(c);
        if col + w > to {
            end = i;
            break;
        }
        if col >= from && start.is_none() {
            start = Some(i);
        }
        col += w;
    }
    let start = start.unwrap_or(end);
    start..end.max(start)
}

/// What of a line a cell shows: `bytes` of its text, after a `…` when `lead`, before a
/// `…` when `trail`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    pub bytes: Range<usize>,
    pub lead: bool,
    pub trail: bool,
}

/// Where the view of a line starts (a column) when nothing was scrolled: 0 when it fits or
/// its first change (`first_word`, a byte range) shows anyway; else a little before that
/// change, and never so far that the view ends past the line's end.
pub fn auto_start(text: &str, first_word: Option<&Range<usize>>, room: usize) -> usize {
    let total = width(text);
    let Some(word) = first_word else { return 0 };
    let end = text.get(..word.end).map_or(total, width);
    if total <= room || end < room {
        return 0;
    }
    let start = text.get(..word.start).map_or(0, width);
    start
        .saturating_sub(LEAD_IN.min(room / 4))
        .min(total.saturating_sub(room))
}

/// The window of `text` seen in `room` columns from column `start`.
pub fn window(text: &str, start: usize, room: usize) -> Window {
    let total = width(text);
    let lead = start > 0 && room > 0;
    let trail = total > start + room && room > 1;
    let from = start + usize::from(lead);
    let to = (start + room).saturating_sub(usize::from(trail)).max(from);
    Window {
        bytes: byte_range(text, from, to),
        lead,
        trail,
    }
}

/// `text` cut into pieces of at most `room` columns (at most `max` of them; the last one
/// then ends in a `…` if text is left).
pub fn wrap(text: &str, room: usize, max: usize) -> Vec<Window> {
    let room = room.max(1);
    let mut out = Vec::new();
    let (mut start, mut col) = (0, 0);
    for (i, c) in text.char_indices() {
        let w = cols(c);
        if col + w > room && i > start {
            if out.len() + 1 == max.max(1) {
                out.push(window(&text[start..], 0, room).shifted(start));
                return out;
            }
            out.push(Window {
                bytes: start..i,
                lead: false,
                trail: false,
            });
            (start, col) = (i, 0);
        }
        col += w;
    }
    out.push(Window {
        bytes: start..text.len(),
        lead: false,
        trail: false,
    });
    out
}

impl Window {
    fn shifted(mut self, by: usize) -> Window {
        self.bytes = self.bytes.start + by..self.bytes.end + by;
        self
    }
}

/// The spans of `text[bytes]`: `base`, patched with the syntax styles, patched with `word`
/// over the changed words (ranges are of the whole text).
pub fn text_spans(
    text: &str,
    bytes: Range<usize>,
    base: Style,
    syntax: &[(Style, Range<usize>)],
    words: &[Range<usize>],
    word: Style,
) -> Vec<Span<'static>> {
    let (lo, hi) = (bytes.start, bytes.end.min(text.len()));
    let clip = |x: usize| x.clamp(lo, hi);
    let mut bounds = vec![lo, hi];
    for r in syntax.iter().map(|(_, r)| r).chain(words) {
        bounds.push(clip(r.start));
        bounds.push(clip(r.end));
    }
    bounds.sort_unstable();
    bounds.dedup();
    let mut out = Vec::with_capacity(bounds.len());
    for w in bounds.windows(2) {
        let (a, b) = (w[0], w[1]);
        let Some(piece) = text.get(a..b) else {
            continue;
        };
        let mut st = base;
        if let Some((s, _)) = syntax.iter().find(|(_, r)| r.start <= a && a < r.end) {
            st = st.patch(*s);
        }
        if words.iter().any(|r| r.start <= a && a < r.end) {
            st = st.patch(word);
        }
        out.push(Span::styled(sanitize(piece), st));
    }
    out
}

/// Cut spans to `width` display columns; returns them and the columns used.
pub fn fit_spans(spans: Vec<Span<'static>>, width: usize) -> (Vec<Span<'static>>, usize) {
    let mut used = 0;
    let mut out = Vec::with_capacity(spans.len());
    for sp in spans {
        let w = sp.content.width();
        if used + w <= width {
            used += w;
            out.push(sp);
            continue;
        }
        let mut cut = String::new();
        for c in sp.content.chars() {
            let cw = c.width().unwrap_or(0);
            if used + cw > width {
                break;
            }
            used += cw;
            cut.push(c);
        }
        out.push(Span::styled(cut, sp.style));
        break;
    }
    (out, used)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::Modifier;

    fn shown(text: &str, w: &Window) -> String {
        format!(
            "{}{}{}",
            if w.lead { MORE } else { "" },
            sanitize(&text[w.bytes.clone()]),
            if w.trail { MORE } else { "" }
        )
    }

    #[test]
    fn words_and_syntax_split_the_text() {
        let red = Style::default().fg(ratatui::style::Color::Red);
        let syn = vec![(red, 0..3)];
        let text = "let\tx = 1";
        let spans = text_spans(
            text,
            0..text.len(),
            Style::default(),
            &syn,
            std::slice::from_ref(&(8..9)),
            Style::default().add_modifier(Modifier::REVERSED),
        );
        let texts: Vec<&str> = spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(texts, ["let", "    x = ", "1"]);
        assert_eq!(spans[0].style.fg, Some(ratatui::style::Color::Red));
        assert!(spans[2].style.add_modifier.contains(Modifier::REVERSED));
        let (cut, used) = fit_spans(spans, 5);
        assert_eq!(used, 5);
        assert_eq!(cut.len(), 2);
    }

    #[test]
    fn a_window_marks_its_cuts_and_fills_its_room() {
        let text = "abcdefghijklmnopqrstuvwxyz";
        assert_eq!(shown(text, &window(text, 0, 30)), text);
        assert_eq!(shown(text, &window(text, 0, 10)), "abcdefghi…");
        assert_eq!(shown(text, &window(text, 5, 10)), "…ghijklmn…");
        assert_eq!(shown(text, &window(text, 20, 10)), "…vwxyz");
        // A wide char straddling the cut is left out, not split.
        let wide = "ab日本語cd";
        let w = window(wide, 3, 4);
        assert!(width(&shown(wide, &w)) <= 4, "{}", shown(wide, &w));
    }

    #[test]
    fn a_long_line_starts_at_its_first_change() {
        let text = format!("{} CHANGED tail", "x".repeat(60));
        let word = 61..68;
        let start = auto_start(&text, Some(&word), 30);
        let w = window(&text, start, 30);
        let s = shown(&text, &w);
        assert!(s.starts_with(MORE) && s.contains("CHANGED"), "{s}");
        assert_eq!(width(&s), 30, "{s}");
        // It fits, or its change shows anyway: from the start.
        assert_eq!(auto_start("short CHANGED", Some(&(6..13)), 30), 0);
        assert_eq!(auto_start(&text, Some(&(0..1)), 30), 0);
        assert_eq!(auto_start(&text, None, 30), 0);
    }

    #[test]
    fn wrapping_keeps_every_char_once() {
        let text = "abcdefghij日本klm";
        let pieces = wrap(text, 4, 100);
        let joined: String = pieces.iter().map(|w| &text[w.bytes.clone()]).collect();
        assert_eq!(joined, text);
        assert!(pieces.iter().all(|w| width(&text[w.bytes.clone()]) <= 4));
        let cut = wrap(text, 4, 2);
        assert_eq!(cut.len(), 2);
        assert!(cut[1].trail);
        assert_eq!(wrap("", 4, 3).len(), 1);
    }
}
