//! The SQL editor: a `ratatui-textarea` holds the text, the cursor, the selection and the
//! undo history; drawing is our own so the text can be highlighted (a small SQL tokenizer)
//! and scrolled with the cursor. Statements are split as the engine splits them
//! (`engine::db::split`), to find the one under the cursor and to spot dangerous ones.

use std::ops::Range;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui_textarea::{CursorMove, TextArea};
use unicode_width::UnicodeWidthChar;

use crate::app::theme::{SyntaxStyle, Theme};
use crate::engine::db::Kind;
use crate::engine::db::split::{Stmt, split};

/// What a piece of SQL text is, for highlighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tok {
    Keyword,
    Word,
    Str,
    Quoted,
    Num,
    Comment,
    Other,
}

#[rustfmt::skip]
const KEYWORDS: &[&str] = &["ADD", "ALL", "ALTER", "AND", "AS", "ASC", "AUTO_INCREMENT",
    "AUTOINCREMENT", "BEGIN", "BETWEEN", "BY", "CASCADE", "CASE", "CHECK", "COLUMN", "COMMIT",
    "CONSTRAINT", "CREATE", "CROSS", "DATABASE", "DEFAULT", "DELETE", "DELIMITER", "DESC",
    "DESCRIBE", "DISTINCT", "DROP", "ELSE", "END", "EXISTS", "EXPLAIN", "FALSE", "FOREIGN",
    "FROM", "FULL", "GROUP", "HAVING", "IF", "IGNORE", "IN", "INDEX", "INNER", "INSERT", "INTO",
    "IS", "JOIN", "KEY", "LEFT", "LIKE", "LIMIT", "NOT", "NULL", "OFFSET", "ON", "OR", "ORDER",
    "OUTER", "PRAGMA", "PRIMARY", "PROCEDURE", "RECURSIVE", "REFERENCES", "RENAME", "REPLACE",
    "RETURNING", "RIGHT", "ROLLBACK", "SELECT", "SET", "SHOW", "TABLE", "THEN", "TO",
    "TRANSACTION", "TRIGGER", "TRUE", "TRUNCATE", "UNION", "UNIQUE", "UNSIGNED", "UPDATE",
    "USE", "USING", "VALUES", "VIEW", "WHEN", "WHERE", "WITH"];

fn is_keyword(word: &str) -> bool {
    KEYWORDS.iter().any(|k| k.eq_ignore_ascii_case(word))
}

/// End of a quoted run starting at `i` (the quote), past the closing quote; doubled
/// quotes and (except for backticks) backslashes escape.
fn skip_quoted(b: &[u8], i: usize) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        if b[j] == b'\\' && q != b'`' {
            j += 2;
        } else if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
            } else {
                return j + 1;
            }
        } else {
            j += 1;
        }
    }
    b.len()
}

/// A comment starting at `i`: its end, or None when there is none.
fn comment_end(b: &[u8], i: usize) -> Option<usize> {
    let line_end = |from: usize| {
        b[from..]
            .iter()
            .position(|&c| c == b'\n')
            .map_or(b.len(), |p| from + p)
    };
    match (b[i], b.get(i + 1)) {
        (b'-', Some(b'-')) => Some(line_end(i)),
        (b'#', _) => Some(line_end(i)),
        (b'/', Some(b'*')) => Some(
            b[i + 2..]
                .windows(2)
                .position(|w| w == b"*/")
                .map_or(b.len(), |p| i + 2 + p + 2),
        ),
        _ => None,
    }
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$' || c >= 0x80
}

/// Split SQL text into highlighted pieces (byte ranges; whitespace is left out).
pub fn tokenize(text: &str) -> Vec<(Range<usize>, Tok)> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let (end, tok) = if c.is_ascii_whitespace() {
            i += 1;
            continue;
        } else if let Some(end) = comment_end(b, i) {
            (end, Tok::Comment)
        } else if c == b'\'' || c == b'"' {
            (skip_quoted(b, i), Tok::Str)
        } else if c == b'`' {
            (skip_quoted(b, i), Tok::Quoted)
        } else if c.is_ascii_digit() || (c == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit))
        {
            let mut j = i + 1;
            while j < b.len()
                && (b[j].is_ascii_alphanumeric()
                    || b[j] == b'.'
                    || ((b[j] == b'-' || b[j] == b'+') && matches!(b[j - 1], b'e' | b'E')))
            {
                j += 1;
            }
            (j, Tok::Num)
        } else if is_word_byte(c) {
            let mut j = i + 1;
            while j < b.len() && is_word_byte(b[j]) {
                j += 1;
            }
            let kind = if is_keyword(&text[i..j]) {
                Tok::Keyword
            } else {
                Tok::Word
            };
            (j, kind)
        } else {
            let len = text[i..].chars().next().map_or(1, char::len_utf8);
            (i + len, Tok::Other)
        };
        out.push((i..end, tok));
        i = end;
    }
    out
}

/// The statement the cursor (a byte offset) is in: the one around it, else the one that
/// ends earlier on the cursor's line, else the next one, else the last. Returns its
/// offset and text (split as the engine splits for `kind`).
pub fn statement_at(text: &str, kind: Kind, cursor: usize) -> Option<(usize, &str)> {
    let stmts = split(text, kind);
    let end = |s: &Stmt| s.offset + s.sql.len();
    let found = stmts
        .iter()
        .find(|s| s.offset <= cursor && cursor <= end(s))
        .or_else(|| {
            let prev = stmts.iter().rev().find(|s| end(s) <= cursor);
            let next = stmts.iter().find(|s| s.offset > cursor);
            match (prev, next) {
                (Some(p), _) if !text[end(p)..cursor].contains('\n') => Some(p),
                (_, Some(n)) => Some(n),
                (p, None) => p,
            }
        });
    found.map(|s| (s.offset, s.sql))
}

/// Why a statement asks for confirmation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Risk {
    /// DROP, ALTER, TRUNCATE: the statement's first words.
    Destructive(String),
    /// DELETE or UPDATE without WHERE: the statement's first words.
    NoWhere(String),
}

/// The statements of `sql` that need a confirmation before they run.
pub fn risks(sql: &str, kind: Kind) -> Vec<Risk> {
    let mut out = Vec::new();
    for st in split(sql, kind) {
        let words: Vec<String> = tokenize(st.sql)
            .into_iter()
            .filter(|(_, t)| matches!(t, Tok::Keyword | Tok::Word))
            .map(|(r, _)| st.sql[r].to_ascii_uppercase())
            .collect();
        let Some(first) = words.first() else { continue };
        let head = summary(st.sql, 60);
        match first.as_str() {
            "DROP" | "ALTER" | "TRUNCATE" => out.push(Risk::Destructive(head)),
            "DELETE" | "UPDATE" if !words.iter().any(|w| w == "WHERE") => {
                out.push(Risk::NoWhere(head))
            }
            _ => {}
        }
    }
    out
}

/// The first `max` characters of a statement on one line.
pub fn summary(sql: &str, max: usize) -> String {
    let one: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    crate::app::widgets::fit_right(&one, max)
}

/// The style of a token kind in a theme.
fn tok_style(tok: Tok, t: &Theme) -> Style {
    if t.syntax == SyntaxStyle::Off {
        return match tok {
            Tok::Keyword => t.base.add_modifier(Modifier::BOLD),
            Tok::Comment => t.dim,
            _ => t.base,
        };
    }
    match tok {
        Tok::Keyword => t.accent,
        Tok::Str => t.success,
        Tok::Num => Style::default().fg(t.warn.fg.unwrap_or_default()),
        Tok::Comment => t.dim.add_modifier(Modifier::ITALIC),
        _ => t.base,
    }
}

/// Highlighted pieces of a text.
type Tokens = Vec<(Range<usize>, Tok)>;

/// The editor: text, cursor, selection and undo in a `TextArea`; scrolling and
/// highlighting here.
pub struct Editor {
    area: TextArea<'static>,
    /// Bumped on every change of the text (keys the token cache).
    version: u64,
    tokens: Option<(u64, Tokens)>,
    top: usize,
    left: usize,
}

impl Default for Editor {
    fn default() -> Self {
        Editor::new()
    }
}

impl Editor {
    pub fn new() -> Editor {
        let mut area = TextArea::default();
        area.set_max_histories(200);
        Editor {
            area,
            version: 0,
            tokens: None,
            top: 0,
            left: 0,
        }
    }

    /// The whole text (lines joined with `\n`).
    pub fn text(&self) -> String {
        self.area.lines().join("\n")
    }

    pub fn is_empty(&self) -> bool {
        self.area.is_empty()
    }

    /// Byte offset of a (row, char column) position.
    fn offset_of(&self, row: usize, col: usize) -> usize {
        let lines = self.area.lines();
        let before: usize = lines[..row.min(lines.len())]
            .iter()
            .map(|l| l.len() + 1)
            .sum();
        let line = lines.get(row).map_or("", String::as_str);
        before + line.char_indices().nth(col).map_or(line.len(), |(i, _)| i)
    }

    /// The cursor as a byte offset into [`Editor::text`].
    pub fn cursor_offset(&self) -> usize {
        let c = self.area.cursor();
        self.offset_of(c.0, c.1)
    }

    /// (row, column) of the cursor, both from 0, column in characters.
    pub fn cursor(&self) -> (usize, usize) {
        let c = self.area.cursor();
        (c.0, c.1)
    }

    /// (line, column) from 1 of a byte offset, for messages.
    pub fn line_col(&self, offset: usize) -> (usize, usize) {
        let (r, c) = self.row_col(offset);
        (r + 1, c + 1)
    }

    fn row_col(&self, offset: usize) -> (usize, usize) {
        let mut left = offset;
        let lines = self.area.lines();
        for (row, line) in lines.iter().enumerate() {
            if left <= line.len() {
                let mut at = left;
                while !line.is_char_boundary(at) {
                    at -= 1;
                }
                return (row, line[..at].chars().count());
            }
            left -= line.len() + 1;
        }
        let last = lines.len() - 1;
        (last, lines[last].chars().count())
    }

    /// Move the cursor to a byte offset of the text.
    pub fn set_cursor_offset(&mut self, offset: usize) {
        let (row, col) = self.row_col(offset);
        self.area.cancel_selection();
        let clamp = |v: usize| v.min(u16::MAX as usize) as u16;
        self.area
            .move_cursor(CursorMove::Jump(clamp(row), clamp(col)));
    }

    /// The selected text and its byte offset, when something is selected.
    pub fn selection(&self) -> Option<(usize, String)> {
        let ((r1, c1), (r2, c2)) = self.area.selection_range()?;
        let (a, b) = (self.offset_of(r1, c1), self.offset_of(r2, c2));
        (a < b).then(|| (a, self.text()[a..b].to_string()))
    }

    /// Insert text at the cursor (replacing the selection).
    pub fn insert(&mut self, s: &str) {
        self.area.insert_str(s.replace('\t', "    "));
        self.version += 1;
    }

    /// Replace the whole text (undoable).
    pub fn set_text(&mut self, s: &str) {
        self.area.select_all();
        self.area.cut();
        self.insert(s);
    }

    /// An editing key; true when the text changed.
    pub fn key(&mut self, key: KeyEvent) -> bool {
        let changed = self.area.input(key);
        if changed {
            self.version += 1;
        }
        changed
    }

    /// Tokenize the text again if it changed since the last time.
    fn ensure_tokens(&mut self) {
        if self.tokens.as_ref().is_none_or(|(v, _)| *v != self.version) {
            self.tokens = Some((self.version, tokenize(&self.text())));
        }
    }

    /// Draw the text into `area` (no border), scrolled so the cursor shows; places the
    /// terminal cursor when focused.
    pub fn draw(&mut self, frame: &mut Frame, area: Rect, t: &Theme, focused: bool) {
        if area.width < 4 || area.height == 0 {
            return;
        }
        let n_lines = self.area.lines().len();
        let gutter = n_lines.to_string().len().max(2) + 1;
        let width = (area.width as usize).saturating_sub(gutter).max(1);
        let height = area.height as usize;
        let (crow, ccol) = self.cursor();
        let cursor_x: usize = self.area.lines()[crow]
            .chars()
            .take(ccol)
            .map(char_width)
            .sum();
        if crow < self.top {
            self.top = crow;
        } else if crow >= self.top + height {
            self.top = crow + 1 - height;
        }
        if cursor_x < width {
            self.left = 0;
        } else if cursor_x < self.left {
            self.left = cursor_x - width / 3;
        } else if cursor_x >= self.left + width {
            self.left = cursor_x + 1 - width;
        }
        let selection = self
            .area
            .selection_range()
            .map(|((r1, c1), (r2, c2))| (self.offset_of(r1, c1), self.offset_of(r2, c2)));
        let (top, left) = (self.top, self.left);
        self.ensure_tokens();
        let tokens: &[(Range<usize>, Tok)] = self.tokens.as_ref().map_or(&[], |(_, t)| t);
        let all = self.area.lines();
        let mut line_start: usize = all[..top].iter().map(|l| l.len() + 1).sum();
        let lines = &all[top..(top + height).min(n_lines)];
        let mut tok_i = tokens.partition_point(|(r, _)| r.end <= line_start);
        let mut out = Vec::with_capacity(lines.len());
        for (i, line) in lines.iter().enumerate() {
            let mut spans = vec![Span::styled(
                format!("{:>w$} ", top + i + 1, w = gutter - 1),
                t.line_no,
            )];
            let mut x = 0;
            let mut run = String::new();
            let mut run_style = t.base;
            for (bi, ch) in line.char_indices() {
                let w = char_width(ch);
                if x + w > left + width {
                    break;
                }
                if x >= left {
                    let at = line_start + bi;
                    while tok_i < tokens.len() && tokens[tok_i].0.end <= at {
                        tok_i += 1;
                    }
                    let mut style = match tokens.get(tok_i) {
                        Some((r, tok)) if r.start <= at => tok_style(*tok, t),
                        _ => t.base,
                    };
                    if selection.is_some_and(|(a, b)| a <= at && at < b) {
                        style = style.patch(t.selected);
                    }
                    if style != run_style && !run.is_empty() {
                        spans.push(Span::styled(std::mem::take(&mut run), run_style));
                    }
                    run_style = style;
                    run.push(if ch == '\t' { ' ' } else { ch });
                }
                x += w;
            }
            if !run.is_empty() {
                spans.push(Span::styled(run, run_style));
            }
            out.push(Line::from(spans));
            line_start += line.len() + 1;
        }
        if self.is_empty() {
            out[0].spans.push(Span::styled(
                "-- type SQL; ctrl-r runs the statement under the cursor, ctrl-e runs all",
                t.dim,
            ));
        }
        frame.render_widget(Paragraph::new(out).style(t.base), area);
        if focused {
            let x = area.x as usize + gutter + cursor_x - left;
            let y = area.y as usize + crow - top;
            frame.set_cursor_position((x as u16, y as u16));
        }
    }
}

fn char_width(c: char) -> usize {
    if c == '\t' { 1 } else { c.width().unwrap_or(0) }
}

#[cfg(test)]
mod editor_tests {
    use super::*;

    #[test]
    fn tokens_cover_strings_comments_numbers_keywords() {
        let sql = "select 'a;b', 1.5e3 -- c;\nfrom `t` /* x */";
        let kinds: Vec<(&str, Tok)> = tokenize(sql)
            .into_iter()
            .map(|(r, t)| (&sql[r], t))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("select", Tok::Keyword),
                ("'a;b'", Tok::Str),
                (",", Tok::Other),
                ("1.5e3", Tok::Num),
                ("-- c;", Tok::Comment),
                ("from", Tok::Keyword),
                ("`t`", Tok::Quoted),
                ("/* x */", Tok::Comment),
            ]
        );
    }

    #[test]
    fn statement_under_the_cursor() {
        let sql = "select 1;\nselect 2;\n\nselect 3";
        let at = |c| statement_at(sql, Kind::Sqlite, c).unwrap().1;
        assert_eq!(at(0), "select 1");
        assert_eq!(at(9), "select 1"); // just after the `;`
        assert_eq!(at(12), "select 2");
        assert_eq!(at(20), "select 3"); // the empty line: the next one
        assert_eq!(at(sql.len()), "select 3");
        assert_eq!(statement_at(sql, Kind::Sqlite, 12).unwrap().0, 10);
        assert_eq!(statement_at("  -- nothing", Kind::Sqlite, 0), None);
    }

    #[test]
    fn dangerous_statements_are_found() {
        let r = risks(
            "select 1; drop table t; delete from t; update t set a=1 where id=2",
            Kind::Sqlite,
        );
        assert_eq!(
            r,
            vec![
                Risk::Destructive("drop table t".into()),
                Risk::NoWhere("delete from t".into())
            ]
        );
    }

    #[test]
    fn arrows_move_and_shift_selects() {
        use crossterm::event::{KeyCode, KeyModifiers};
        let mut e = Editor::new();
        e.insert("abc\ndef");
        e.key(KeyEvent::new(KeyCode::Up, KeyModifiers::NONE));
        assert_eq!(e.cursor(), (0, 3));
        e.key(KeyEvent::new(KeyCode::Home, KeyModifiers::NONE));
        for _ in 0..2 {
            e.key(KeyEvent::new(KeyCode::Right, KeyModifiers::SHIFT));
        }
        assert_eq!(e.selection(), Some((0, "ab".to_string())));
        e.key(KeyEvent::new(KeyCode::Down, KeyModifiers::SHIFT));
        assert_eq!(e.selection(), Some((0, "abc\nde".to_string())));
        e.set_text("select 1");
        assert_eq!(e.text(), "select 1");
        assert_eq!(e.selection(), None);
    }

    #[test]
    fn offsets_rows_and_columns() {
        let mut e = Editor::new();
        e.insert("select 1;\nselect ü, 2");
        assert_eq!(e.cursor(), (1, 11));
        assert_eq!(e.cursor_offset(), e.text().len());
        e.set_cursor_offset(19);
        assert_eq!(e.cursor(), (1, 8));
        assert_eq!(e.line_col(19), (2, 9));
        e.set_cursor_offset(18); // inside `ü`: its start
        assert_eq!(e.cursor(), (1, 7));
    }
}
