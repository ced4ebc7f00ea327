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
use unicode_width::UnicodeWidthStr;

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

/// The lines of the help popup: this screen's commands, then the global ones.
pub fn help_lines(screen: ScreenId, keymap: &Keymap, theme: &Theme) -> Vec<Line<'static>> {
    let mut lines = Vec::new();
    let sections = [
        (Scope::Screen(screen), screen.title()),
        (Scope::Global, "Everywhere"),
    ];
    for (scope, heading) in sections {
        let cmds: Vec<&CommandDef> = COMMANDS.iter().filter(|c| c.scope == scope).collect();
        if cmds.is_empty() {
            continue;
        }
        if !lines.is_empty() {
            lines.push(Line::default());
        }
        lines.push(Line::from(Span::styled(heading.to_string(), theme.accent)));
        for c in cmds {
            let keys = keymap.label(c.cmd);
            lines.push(Line::from(vec![
                Span::styled(format!("  {keys:<18} "), theme.hint_key),
                Span::styled(c.title.to_string(), theme.popup),
            ]));
        }
    }
    lines
}

pub fn help_key(key: &KeyEvent, scroll: &mut usize, total: usize) -> PopupResult {
    match key.code {
        KeyCode::Esc | KeyCode::Char('q') | KeyCode::Char('?') | KeyCode::Enter | KeyCode::F(1) => {
            PopupResult::Close
        }
        KeyCode::Char('j') | KeyCode::Down => {
            *scroll = (*scroll + 1).min(total.saturating_sub(1));
            PopupResult::Stay
        }
        KeyCode::Char('k') | KeyCode::Up => {
            *scroll = scroll.saturating_sub(1);
            PopupResult::Stay
        }
        KeyCode::PageDown | KeyCode::Char(' ') => {
            *scroll = (*scroll + 10).min(total.saturating_sub(1));
            PopupResult::Stay
        }
        KeyCode::PageUp => {
            *scroll = scroll.saturating_sub(10);
            PopupResult::Stay
        }
        _ => PopupResult::Stay,
    }
}

pub fn draw_help(
    frame: &mut Frame,
    area: Rect,
    screen: ScreenId,
    scroll: usize,
    keymap: &Keymap,
    theme: &Theme,
) {
    let lines = help_lines(screen, keymap, theme);
    let popup = centered(area, 64, area.height.saturating_sub(4).max(8));
    let title = format!(" Help · {} ", screen.title());
    let block = frame_block(&title, theme)
        .title_bottom(Span::styled(" j/k scroll · esc close ", theme.dim));
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines)
            .scroll((scroll as u16, 0))
            .block(block),
        popup,
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

    #[test]
    fn help_lists_this_screen_and_global_keys() {
        let theme = Theme::load(Some("mono"), None).unwrap();
        let text: Vec<String> = help_lines(ScreenId::Codebase, &Keymap::defaults(), &theme)
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.to_string()).collect())
            .collect();
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
    }
}
