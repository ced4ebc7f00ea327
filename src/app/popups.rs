//! The shell's popups: help (the live keys of this screen), the command palette (fuzzy
//! search over every action), and the quit confirmation.

use super::commands::Cmd;
use crossterm::event::{KeyCode, KeyEvent};
use nucleo_matcher::pattern::{CaseMatching, Normalization, Pattern};
use nucleo_matcher::{Config, Matcher};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use super::commands::{COMMANDS, CommandDef, Scope};
use super::input::{Change, LineInput};
use super::keymap::Keymap;
use super::screen::ScreenId;
use super::theme::Theme;
use super::widgets::fit_right;

/// What a popup wants after a key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PopupResult {
    /// Keep it open.
    Stay,
    /// Close it.
    Close,
    /// Close it and run this command.
    Run(Cmd),
    /// Close it and quit.
    Quit,
}

/// An open popup.
pub enum Popup {
    Help { scroll: usize },
    Palette(Palette),
    ConfirmQuit { running: usize },
}

/// A rectangle of `w`x`h` centered in `area` (clamped to it).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

fn frame_block<'a>(title: &'a str, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(theme.border_focus)
        .title(Span::styled(title, theme.title))
        .style(theme.popup)
}

/// The help popup laid out for an area: where it goes, its lines (descriptions wrapped
/// under their column), and how far it can scroll (its last line at the bottom).
pub struct HelpPage {
    pub rect: Rect,
    pub lines: Vec<Line<'static>>,
    pub max_scroll: usize,
}

/// Width of the keys column at most; longer key lists wrap under it.
const HELP_KEYS_MAX: usize = 24;

/// The help popup: this screen's commands, then the global ones, as wide as they need up
/// to `area`'s width, as tall as they need up to its height.
pub fn help_page(screen: ScreenId, keymap: &Keymap, theme: &Theme, area: Rect) -> HelpPage {
    let sections = [
        (Scope::Screen(screen), screen.title()),
        (Scope::Global, "Everywhere"),
    ];
    let mut rows: Vec<(&str, Vec<(String, &str)>)> = Vec::new();
    for (scope, heading) in sections {
        let cmds: Vec<(String, &str)> = COMMANDS
            .iter()
            .filter(|c| c.scope == scope)
            .map(|c| (keymap.label(c.cmd), c.title))
            .collect();
        if !cmds.is_empty() {
            rows.push((heading, cmds));
        }
    }
    let all = || rows.iter().flat_map(|(_, c)| c.iter());
    let keys_w = all()
        .map(|(k, _)| k.width())
        .max()
        .unwrap_or(0)
        .min(HELP_KEYS_MAX);
    let title_w = all().map(|(_, t)| t.width()).max().unwrap_or(0);
    // "  keys  title", inside the borders.
    let need = 2 + keys_w + 2 + title_w;
    let inner_w = need.min(area.width.saturating_sub(2) as usize);
    let title_col = (inner_w / 2).min(2 + keys_w + 2);
    let mut lines = Vec::new();
    for (heading, cmds) in &rows {
        if !lines.is_empty() {
            lines.push(Line::default());
        }
        lines.push(Line::from(Span::styled(heading.to_string(), theme.accent)));
        for (keys, title) in cmds {
            let keys = wrap_words(keys, title_col.saturating_sub(4).max(1));
            let titles = wrap_words(title, inner_w.saturating_sub(title_col).max(1));
            for i in 0..keys.len().max(titles.len()) {
                let k = keys.get(i).map_or("", String::as_str);
                let t = titles.get(i).map_or("", String::as_str);
                let pad = title_col.saturating_sub(2 + k.width());
                lines.push(Line::from(vec![
                    Span::styled(format!("  {k}{:pad$}", ""), theme.hint_key),
                    Span::styled(t.to_string(), theme.popup),
                ]));
            }
        }
    }
    let inner_h = (lines.len() as u16).min(area.height.saturating_sub(2));
    HelpPage {
        rect: centered(area, inner_w as u16 + 2, inner_h + 2),
        max_scroll: lines.len().saturating_sub(inner_h as usize),
        lines,
    }
}

/// `s` cut into lines of at most `width` columns, at spaces where it can be (a word longer
/// than a line is cut).
pub fn wrap_words(s: &str, width: usize) -> Vec<String> {
    let width = width.max(1);
    let mut out = Vec::new();
    let mut line = String::new();
    for word in s.split(' ').filter(|w| !w.is_empty()) {
        let sep = usize::from(!line.is_empty());
        if line.width() + sep + word.width() <= width {
            if sep == 1 {
                line.push(' ');
            }
            line.push_str(word);
            continue;
        }
        if !line.is_empty() {
            out.push(std::mem::take(&mut line));
        }
        for c in word.chars() {
            if line.width() + c.width().unwrap_or(0) > width {
                out.push(std::mem::take(&mut line));
            }
            line.push(c);
        }
    }
    if !line.is_empty() || out.is_empty() {
        out.push(line);
    }
    out
}

pub fn help_key(key: &KeyEvent, scroll: &mut usize, max_scroll: usize) -> PopupResult {
    let page = 10;
    match key.code {
        KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::Enter | KeyCode::F(1) => {
            return PopupResult::Close;
        }
        KeyCode::Char('j') | KeyCode::Down => *scroll += 1,
        KeyCode::Char('k') | KeyCode::Up => *scroll = scroll.saturating_sub(1),
        KeyCode::PageDown | KeyCode::Char(' ') => *scroll += page,
        KeyCode::PageUp => *scroll = scroll.saturating_sub(page),
        KeyCode::Char('g') | KeyCode::Home => *scroll = 0,
        KeyCode::Char('G') | KeyCode::End => *scroll = max_scroll,
        _ => {}
    }
    *scroll = (*scroll).min(max_scroll);
    PopupResult::Stay
}

pub fn draw_help(
    frame: &mut Frame,
    area: Rect,
    screen: ScreenId,
    scroll: usize,
    keymap: &Keymap,
    theme: &Theme,
) {
    let page = help_page(screen, keymap, theme, area);
    let title = format!(" Help · {} ", screen.title());
    let mut block = frame_block(&title, theme);
    if page.max_scroll > 0 {
        block = block.title_bottom(Span::styled(" j/k scroll · esc close ", theme.dim));
    } else {
        block = block.title_bottom(Span::styled(" esc close ", theme.dim));
    }
    frame.render_widget(Clear, page.rect);
    frame.render_widget(
        Paragraph::new(page.lines)
            .scroll((scroll.min(page.max_scroll) as u16, 0))
            .block(block),
        page.rect,
    );
}

/// The command palette: a query and the commands that match it, best first.
pub struct Palette {
    pub input: LineInput,
    pub matches: Vec<&'static CommandDef>,
    pub selected: usize,
    current: ScreenId,
}

impl Palette {
    pub fn new(current: ScreenId) -> Palette {
        let mut p = Palette {
            input: LineInput::default(),
            matches: Vec::new(),
            selected: 0,
            current,
        };
        p.refilter();
        p
    }

    /// Commands usable from the current screen: its own, the global ones, and every other
    /// screen's (running one of those switches there first).
    fn refilter(&mut self) {
        let mut all: Vec<&'static CommandDef> = COMMANDS
            .iter()
            .filter(|c| c.scope == Scope::Screen(self.current))
            .collect();
        all.extend(
            COMMANDS
                .iter()
                .filter(|c| c.scope != Scope::Screen(self.current)),
        );
        let q = self.input.text().trim();
        self.matches = if q.is_empty() {
            all
        } else {
            let mut matcher = Matcher::new(Config::DEFAULT);
            let pattern = Pattern::parse(q, CaseMatching::Ignore, Normalization::Smart);
            let mut buf = Vec::new();
            let mut scored: Vec<(u32, &'static CommandDef)> = all
                .into_iter()
                .filter_map(|c| {
                    let hay = format!("{} {} {}", c.title, c.scope.label(), c.id());
                    pattern
                        .score(nucleo_matcher::Utf32Str::new(&hay, &mut buf), &mut matcher)
                        .map(|s| (s, c))
                })
                .collect();
            scored.sort_by_key(|(score, _)| std::cmp::Reverse(*score));
            scored.into_iter().map(|(_, c)| c).collect()
        };
        self.selected = 0;
    }

    pub fn key(&mut self, key: &KeyEvent) -> PopupResult {
        match key.code {
            KeyCode::Esc => PopupResult::Close,
            KeyCode::Enter => self
                .matches
                .get(self.selected)
                .map_or(PopupResult::Stay, |c| PopupResult::Run(c.cmd)),
            KeyCode::Down | KeyCode::Tab => {
                self.selected = (self.selected + 1).min(self.matches.len().saturating_sub(1));
                PopupResult::Stay
            }
            KeyCode::Char('n') | KeyCode::Char('j')
                if key
                    .modifiers
                    .contains(crossterm::event::KeyModifiers::CONTROL) =>
            {
                self.selected = (self.selected + 1).min(self.matches.len().saturating_sub(1));
                PopupResult::Stay
            }
            KeyCode::Char('p') | KeyCode::Char('k')
                if key
                    .modifiers
                    .contains(crossterm::event::KeyModifiers::CONTROL) =>
            {
                self.selected = self.selected.saturating_sub(1);
                PopupResult::Stay
            }
            KeyCode::Up | KeyCode::BackTab => {
                self.selected = self.selected.saturating_sub(1);
                PopupResult::Stay
            }
            _ => {
                if self.input.handle(key) == Change::Edited {
                    self.refilter();
                }
                PopupResult::Stay
            }
        }
    }

    pub fn draw(&self, frame: &mut Frame, area: Rect, keymap: &Keymap, theme: &Theme) {
        let popup = centered(area, 70, 18.min(area.height.saturating_sub(2)));
        frame.render_widget(Clear, popup);
        let block = frame_block(" Commands ", theme);
        let inner = block.inner(popup);
        frame.render_widget(block, popup);
        let width = inner.width as usize;
        let mut lines = vec![Line::from(vec![
            Span::styled("> ", theme.accent),
            Span::styled(self.input.text().to_string(), theme.popup),
        ])];
        let rows = inner.height.saturating_sub(1) as usize;
        let first = self.selected.saturating_sub(rows.saturating_sub(1));
        for (i, c) in self.matches.iter().enumerate().skip(first).take(rows) {
            let keys = keymap.label(c.cmd);
            let scope = match c.scope {
                Scope::Global => String::new(),
                Scope::Screen(s) => format!("{} · ", s.title()),
            };
            let left = fit_right(
                &format!("{scope}{}", c.title),
                width.saturating_sub(keys.width() + 2),
            );
            let pad = width.saturating_sub(left.width() + keys.width());
            let style = if i == self.selected {
                theme.selected
            } else {
                theme.popup
            };
            lines.push(Line::from(vec![
                Span::styled(format!("{left}{:pad$}", ""), style),
                Span::styled(
                    keys,
                    if i == self.selected {
                        theme.selected
                    } else {
                        theme.hint_key
                    },
                ),
            ]));
        }
        if self.matches.is_empty() {
            lines.push(Line::from(Span::styled("no command matches", theme.dim)));
        }
        frame.render_widget(Paragraph::new(lines), inner);
        frame.set_cursor_position((inner.x + 2 + self.input.cursor_column(), inner.y));
    }
}

pub fn confirm_quit_key(key: &KeyEvent) -> PopupResult {
    match key.code {
        KeyCode::Char('y') | KeyCode::Char('Y') => PopupResult::Quit,
        KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => PopupResult::Close,
        _ => PopupResult::Stay,
    }
}

pub fn draw_confirm_quit(frame: &mut Frame, area: Rect, running: usize, theme: &Theme) {
    let popup = centered(area, 54, 6);
    frame.render_widget(Clear, popup);
    let lines = vec![
        Line::from(Span::styled(
            format!("{running} job(s) still running. Quitting cancels them."),
            theme.warn,
        )),
        Line::default(),
        Line::from(vec![
            Span::styled("y", theme.hint_key),
            Span::styled(" quit and cancel   ", theme.popup),
            Span::styled("n", theme.hint_key),
            Span::styled(" keep working", theme.popup),
        ]),
    ];
    frame.render_widget(
        Paragraph::new(lines).block(frame_block(" Quit? ", theme)),
        popup,
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn type_str(p: &mut Palette, s: &str) {
        for c in s.chars() {
            p.key(&KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
        }
    }

    #[test]
    fn palette_finds_commands_fuzzily_and_runs_them() {
        let mut p = Palette::new(ScreenId::Codebase);
        assert_eq!(p.matches.len(), COMMANDS.len());
        assert_eq!(p.matches[0].scope, Scope::Screen(ScreenId::Codebase));
        type_str(&mut p, "snapsh");
        assert_eq!(p.matches[0].cmd, Cmd::ScreenSnapshots);
        assert_eq!(
            p.key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
            PopupResult::Run(Cmd::ScreenSnapshots)
        );
        let mut p = Palette::new(ScreenId::Jobs);
        type_str(&mut p, "zzzzqqq");
        assert!(p.matches.is_empty());
        assert_eq!(
            p.key(&KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE)),
            PopupResult::Stay
        );
    }

    fn text(page: &HelpPage) -> Vec<String> {
        page.lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.to_string()).collect())
            .collect()
    }

    #[test]
    fn help_lists_this_screen_and_global_keys() {
        let theme = Theme::load(Some("mono"), None).unwrap();
        let area = Rect::new(0, 0, 200, 100);
        let page = help_page(ScreenId::Codebase, &Keymap::defaults(), &theme, area);
        let text = text(&page);
        assert_eq!(text[0], "Codebase");
        assert!(
            text.iter()
                .any(|l| l.contains('/') && l.contains("Search the codebase"))
        );
        assert!(text.iter().any(|l| l == "Everywhere"));
        assert!(
            text.iter()
                .any(|l| l.contains("q ctrl-c") && l.contains("Quit"))
        );
        assert_eq!(page.max_scroll, 0, "it all fits in 200x100");
        assert!(page.rect.width < 200, "only as wide as it needs");
    }

    #[test]
    fn words_wrap_at_spaces_and_long_words_are_cut() {
        assert_eq!(wrap_words("one two three", 7), ["one two", "three"]);
        assert_eq!(wrap_words("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap_words("", 4), [""]);
        for l in wrap_words("a very long description of what a key does", 9) {
            assert!(l.width() <= 9, "{l}");
        }
    }
}
