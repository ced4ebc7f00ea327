//! Shared pieces of the shell's frame: the sidebar, the hint bar, the status line, the
//! pane frame that marks which pane has the keys, and text fitting helpers.

use super::commands::Cmd;
use std::time::{Duration, Instant};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::commands::{COMMANDS, CommandDef, Scope};
use super::context::Level;
use super::jobtable::JobTable;
use super::keymap::Keymap;
use super::screen::{Hint, ScreenId};
use super::theme::Theme;

/// Width of the sidebar.
pub const SIDEBAR_WIDTH: u16 = 14;

/// Cut `s` to `width` columns, keeping its end (paths read best from the right).
pub fn fit_left(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    if width == 0 {
        return String::new();
    }
    let mut out: Vec<char> = Vec::new();
    let mut used = 1; // the ellipsis
    for c in s.chars().rev() {
        let w = c.width().unwrap_or(0);
        if used + w > width {
            break;
        }
        used += w;
        out.push(c);
    }
    out.push('…');
    out.into_iter().rev().collect()
}

/// Cut `s` to `width` columns, keeping its start.
pub fn fit_right(s: &str, width: usize) -> String {
    if s.width() <= width {
        return s.to_string();
    }
    let mut out = String::new();
    let mut used = 1;
    for c in s.chars() {
        let w = c.width().unwrap_or(0);
        if used + w > width {
            break;
        }
        used += w;
        out.push(c);
    }
    if width > 0 {
        out.push('…');
    }
    out
}

/// Wrap `s` to rows of at most `width` columns: at its line breaks, then between words
/// where it can, inside a word longer than a row where it must. Never loses a character
/// (but the spaces a break falls on).
pub fn wrap_text(s: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut rows = Vec::new();
    for line in s.split('\n') {
        let mut row = String::new();
        let mut used = 0;
        for word in line.split_inclusive(' ') {
            let w = word.trim_end_matches(' ').width();
            if used > 0 && used + w > width {
                rows.push(std::mem::take(&mut row).trim_end().to_string());
                used = 0;
            }
            for c in word.chars() {
                let cw = c.width().unwrap_or(0);
                if used + cw > width && !(c == ' ' && used == width) {
                    rows.push(std::mem::take(&mut row));
                    used = 0;
                }
                if c == ' ' && used == 0 && !row.is_empty() {
                    continue;
                }
                row.push(c);
                used += cw;
            }
        }
        rows.push(row.trim_end().to_string());
    }
    rows
}

/// The list of tools on the left.
pub fn sidebar(frame: &mut Frame, area: Rect, current: ScreenId, jobs: &JobTable, theme: &Theme) {
    let running = jobs.running().count();
    let lines: Vec<Line> = ScreenId::ALL
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut label = format!("{} {}", i + 1, s.title());
            if *s == ScreenId::Jobs && running > 0 {
                label.push_str(&format!(" ({running})"));
            }
            let label = format!(
                " {:<w$}",
                fit_right(&label, area.width as usize - 2),
                w = area.width as usize - 2
            );
            let style = if *s == current {
                theme.sidebar_active
            } else {
                theme.sidebar
            };
            Line::from(Span::styled(label, style))
        })
        .collect();
    let block = Block::default()
        .borders(Borders::RIGHT)
        .border_style(theme.border)
        .style(theme.sidebar);
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

/// Marks the title of the pane that has the keys.
pub const FOCUS_MARK: &str = "▶";

/// A pane's frame: the focus border colour and, when it has the keys, [`FOCUS_MARK`]
/// before its title (so focus shows without colours too).
pub fn pane<'a>(title: impl Into<Line<'a>>, focused: bool, theme: &Theme) -> Block<'a> {
    let mut title: Line<'a> = title.into();
    if focused {
        let lead = title
            .spans
            .first()
            .is_some_and(|s| s.content.starts_with(' '));
        if lead && let Some(first) = title.spans.first_mut() {
            first.content = first.content[1..].to_string().into();
        }
        title
            .spans
            .insert(0, Span::styled(format!("{FOCUS_MARK} "), theme.title));
    }
    Block::default()
        .borders(Borders::ALL)
        .border_style(if focused {
            theme.border_focus
        } else {
            theme.border
        })
        .title(title)
}

/// The inside of a pane drawn by [`pane`] in `area` (inside its border).
pub fn pane_inner(area: Rect) -> Rect {
    Block::default().borders(Borders::ALL).inner(area)
}

/// A pane's title text in the title style.
pub fn pane_title(text: String, theme: &Theme) -> Line<'static> {
    Line::from(Span::styled(text, theme.title))
}

/// Put the terminal's cursor on row `row` of a focused pane's `inner` area (at its left
/// edge), so the selected line shows where the keys go; rows out of the area are skipped.
pub fn focus_cursor(frame: &mut Frame, inner: Rect, row: usize) {
    if inner.width > 0 && row < inner.height as usize {
        frame.set_cursor_position((inner.x, inner.y + row as u16));
    }
}

/// The hint bar: the keys of the pane that has them (`pane`; else the hinted commands of
/// this screen), then the global ones, with live keys. While a chord is `pending` (`z`),
/// it shows `z…` and only the choices in `pane`.
pub fn hint_bar(
    frame: &mut Frame,
    area: Rect,
    screen: ScreenId,
    pane: Option<Vec<Hint>>,
    pending: Option<&str>,
    keymap: &Keymap,
    theme: &Theme,
) {
    // A chord's commands are hinted while it is pending, not in the screen's own list.
    let single = |c: &CommandDef| !keymap.keys_of(c.cmd).first().is_some_and(|k| k.is_chord());
    let own: Vec<Hint> = pane.unwrap_or_else(|| {
        COMMANDS
            .iter()
            .filter(|c| c.scope == Scope::Screen(screen) && !c.hint.is_empty() && single(c))
            .map(|c| Hint::Cmd(c.cmd, c.hint))
            .collect()
    });
    let global: Vec<Hint> = COMMANDS
        .iter()
        .filter(|c| c.scope == Scope::Global && !c.hint.is_empty() && pending.is_none())
        .map(|c| Hint::Cmd(c.cmd, c.hint))
        .collect();
    let resolve = |hint: Hint| -> Option<(String, &'static str)> {
        match hint {
            Hint::Cmd(cmd, label) => keymap.first(cmd).map(|k| (k, label)),
            Hint::Key(k, label) => Some((k.to_string(), label)),
        }
    };
    let width = |(key, label): &(String, &str)| key.width() + 1 + label.width() + 2;
    let global: Vec<(String, &str)> = global.into_iter().filter_map(resolve).collect();
    // The global keys (quit, help, ...) always keep their place at the end: the pane's own
    // keys fill what is left, so a screen with many keys never pushes "q quit" off the bar.
    let global_width: usize = global.iter().map(width).sum();
    let lead = pending.map_or(0, |p| p.width() + 3);
    let room = (area.width as usize).saturating_sub(1 + lead);
    let mut shown: Vec<(String, &str)> = Vec::new();
    let mut used = 0;
    for item in own.into_iter().filter_map(resolve) {
        let w = width(&item);
        if used + w + global_width > room {
            break;
        }
        used += w;
        shown.push(item);
    }
    for item in global {
        let w = width(&item);
        if used + w > room {
            break;
        }
        used += w;
        shown.push(item);
    }
    let mut spans = vec![Span::styled(" ", theme.hint_text)];
    if let Some(p) = pending {
        spans.push(Span::styled(format!("{p}…  "), theme.accent));
    }
    for (key, label) in shown {
        spans.push(Span::styled(key, theme.hint_key));
        spans.push(Span::styled(format!(" {label}  "), theme.hint_text));
    }
    frame.render_widget(
        Paragraph::new(Line::from(spans)).style(theme.hint_text),
        area,
    );
}

/// A status message and when it was set.
#[derive(Debug, Clone)]
pub struct StatusMessage {
    pub level: Level,
    pub text: String,
    pub at: Instant,
    /// Where the whole message can be read when the line shows only its start (e.g. "see
    /// Jobs"): said after the first line when the text is cut or has more lines.
    pub more: Option<String>,
}

/// Messages fade to dim after this long.
const MESSAGE_FRESH: Duration = Duration::from_secs(8);

/// The status line: project, last message, running jobs with progress and the cancel key.
pub fn status_line(
    frame: &mut Frame,
    area: Rect,
    project: &str,
    message: Option<&StatusMessage>,
    jobs: &JobTable,
    keymap: &Keymap,
    theme: &Theme,
) {
    let mut right = String::new();
    let running: Vec<_> = jobs.running().collect();
    if let Some(j) = running.last() {
        let pct = j.percent().map(|p| format!(" {p}%")).unwrap_or_default();
        let more = if running.len() > 1 {
            format!(" +{}", running.len() - 1)
        } else {
            String::new()
        };
        let cancel = keymap
            .first(Cmd::JobsCancelLatest)
            .map(|k| format!("  {k} cancel"))
            .unwrap_or_default();
        right = format!("⟳ {}{pct}{more}{cancel} ", j.name);
    }
    let left = format!(" {project} ");
    let room = (area.width as usize).saturating_sub(left.width() + right.width() + 1);
    let mut spans = vec![Span::styled(left, theme.title)];
    if let Some(m) = message {
        let style = if m.at.elapsed() > MESSAGE_FRESH {
            theme.dim
        } else {
            match m.level {
                Level::Info => theme.status,
                Level::Success => theme.success,
                Level::Warn => theme.warn,
                Level::Error => theme.error,
            }
        };
        let text = status_text(m, room);
        let pad = room.saturating_sub(text.width());
        spans.push(Span::styled(format!(" {text}{:pad$}", ""), style));
    } else {
        spans.push(Span::styled(
            format!("{:w$}", "", w = room + 1),
            theme.status,
        ));
    }
    spans.push(Span::styled(right, theme.accent));
    frame.render_widget(Paragraph::new(Line::from(spans)).style(theme.status), area);
}

/// A status message in `room` columns: its first line, cut with `…` when it does not
/// fit; when anything is left out and the message says where the rest is, that too.
fn status_text(m: &StatusMessage, room: usize) -> String {
    let text = m.text.trim_end();
    let (first, more_lines) = match text.split_once('\n') {
        Some((f, _)) => (f.trim_end(), true),
        None => (text, false),
    };
    match &m.more {
        Some(place) if more_lines || first.width() > room => {
            let tail = format!(" … ({place})");
            let keep = room.saturating_sub(tail.width());
            let mut head = fit_right(first, keep);
            if head.ends_with('…') {
                head.pop();
            }
            format!("{}{tail}", head.trim_end())
        }
        _ => fit_right(first, room),
    }
}

/// The frame of a popup: a focused border, its title, the popup style.
pub fn popup_block<'a>(title: &'a str, t: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(t.border_focus)
        .title(Span::styled(title, t.title))
        .style(t.popup)
}

/// A picker's rows, `height` of them scrolled to show the chosen one, which is marked
/// (highlighted while the picker has the keys).
pub fn picker(
    lines: &mut Vec<Line<'static>>,
    labels: &[String],
    choice: usize,
    height: usize,
    active: bool,
    width: usize,
    t: &Theme,
) {
    let first = (choice + 1).saturating_sub(height);
    for (row, label) in labels.iter().enumerate().skip(first).take(height) {
        let here = row == choice;
        let text = format!(
            "{}{}",
            if here { " ▸ " } else { "   " },
            fit_right(label, width.saturating_sub(3))
        );
        let style = match (here, active) {
            (true, true) => t.selected,
            (true, false) => t.accent,
            _ => t.popup,
        };
        lines.push(Line::from(Span::styled(text, style)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrapping_keeps_every_word_and_the_line_breaks() {
        assert_eq!(wrap_text("one two three", 7), ["one two", "three"]);
        assert_eq!(wrap_text("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap_text("a\n\nb", 10), ["a", "", "b"]);
        let long = "failed: cannot connect to https://203.0.113.5:7777/api/v1/map: timed out";
        let rows = wrap_text(long, 20);
        assert!(rows.iter().all(|r| r.width() <= 20), "{rows:?}");
        assert_eq!(rows.concat().replace(' ', ""), long.replace(' ', ""));
    }

    #[test]
    fn a_long_status_shows_its_first_line_and_where_the_rest_is() {
        let m = |text: &str, more: Option<&str>| StatusMessage {
            level: Level::Error,
            text: text.into(),
            at: Instant::now(),
            more: more.map(String::from),
        };
        let two = m(
            "deploy failed: conflicts\napp/a.php changed",
            Some("see Jobs"),
        );
        assert_eq!(
            status_text(&two, 60),
            "deploy failed: conflicts … (see Jobs)"
        );
        let long = m(&"x".repeat(100), Some("see Jobs"));
        let s = status_text(&long, 40);
        assert!(s.ends_with("x … (see Jobs)") && s.width() <= 40, "{s}");
        assert_eq!(status_text(&m("short", Some("see Jobs")), 40), "short");
        assert_eq!(status_text(&m("abcdef", None), 4), "abc…");
    }

    #[test]
    fn fitting_keeps_the_informative_end() {
        assert_eq!(
            fit_left("f:app/Controllers/UserController.php", 20),
            "…/UserController.php"
        );
        assert_eq!(fit_left("short", 20), "short");
        assert_eq!(fit_right("hello world", 6), "hello…");
        assert_eq!(fit_left("日本語のファイル", 7).width(), 7);
    }
}
