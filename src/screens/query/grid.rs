//! The results grid: the rows of the current result set (at most the row limit, plus
//! what fetch-more added), column widths measured on the first rows and capped, cells cut
//! with `…`, NULL drawn dim and distinct from the empty string, scrolling both ways.

use std::path::{Path, PathBuf};

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use unicode_width::{UnicodeWidthChar, UnicodeWidthStr};

use crate::app::listnav::ListNav;
use crate::app::theme::Theme;
use crate::app::widgets::fit_right;
use crate::engine::db::{Column, Value};

/// Rows measured for the column widths.
const MEASURE_ROWS: usize = 200;
/// No column is drawn wider than this.
const MAX_WIDTH: usize = 40;
/// Between two columns.
const SEP: &str = " │ ";

/// A cell as one line of text: NULL is None, newlines shown as `↵`.
pub fn cell_text(v: &Value) -> Option<String> {
    v.display().map(|s| {
        if s.chars().any(char::is_control) {
            s.chars()
                .map(|c| match c {
                    '\n' => '↵',
                    c if c.is_control() => ' ',
                    c => c,
                })
                .collect()
        } else {
            s
        }
    })
}

/// Display width of a cell, counting no further than the cap.
fn cell_width(v: &Value) -> usize {
    match v {
        Value::Null => 4,
        Value::Text(s) => s
            .chars()
            .take(MAX_WIDTH + 1)
            .map(|c| c.width().unwrap_or(1))
            .sum(),
        other => other.display().map_or(4, |s| s.width()),
    }
}

#[derive(Debug, Default)]
pub struct Grid {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Value>>,
    widths: Vec<usize>,
    measured: usize,
    /// Selected row (and the first row shown) and column.
    pub nav: ListNav,
    pub col: usize,
    col_offset: usize,
    /// Data rows that fit (set when drawn), for paging.
    pub height: usize,
}

impl Grid {
    /// An empty grid for a new result set.
    pub fn new(columns: Vec<Column>) -> Grid {
        let widths = columns
            .iter()
            .map(|c| c.name.width().clamp(1, MAX_WIDTH))
            .collect();
        Grid {
            columns,
            widths,
            height: 10,
            ..Grid::default()
        }
    }

    pub fn push_rows(&mut self, rows: Vec<Vec<Value>>) {
        for r in &rows {
            if self.measured >= MEASURE_ROWS {
                break;
            }
            for (w, v) in self.widths.iter_mut().zip(r) {
                *w = (*w).max(cell_width(v).min(MAX_WIDTH));
            }
            self.measured += 1;
        }
        self.rows.extend(rows);
    }

    pub fn width_of(&self, col: usize) -> usize {
        self.widths.get(col).copied().unwrap_or(0)
    }

    /// Move the selection by rows (clamped).
    pub fn move_col(&mut self, delta: isize) {
        let max = self.columns.len().saturating_sub(1) as isize;
        self.col = (self.col as isize + delta).clamp(0, max.max(0)) as usize;
    }

    /// The selected cell as text to copy (NULL as `NULL`).
    pub fn selected_cell(&self) -> Option<(String, String)> {
        let v = self.rows.get(self.nav.selected)?.get(self.col)?;
        let name = self.columns.get(self.col).map_or("", |c| c.name.as_str());
        Some((
            name.to_string(),
            v.display().unwrap_or_else(|| "NULL".into()),
        ))
    }

    /// The selected row as tab-separated text.
    pub fn selected_row(&self) -> Option<String> {
        let r = self.rows.get(self.nav.selected)?;
        Some(
            r.iter()
                .map(|v| v.display().unwrap_or_else(|| "NULL".into()))
                .collect::<Vec<_>>()
                .join("\t"),
        )
    }

    /// Draw the header and the visible rows into `area` (no border).
    pub fn draw(&mut self, frame: &mut Frame, area: Rect, t: &Theme, focused: bool) {
        if area.height == 0 || area.width == 0 || self.columns.is_empty() {
            return;
        }
        let h = (area.height as usize).saturating_sub(1);
        self.height = h.max(1);
        self.nav.scroll_into_view(self.rows.len(), h);
        // widths only grow: also from the rows in view (past the measured ones)
        for r in self.nav.offset..(self.nav.offset + h).min(self.rows.len()) {
            for (w, v) in self.widths.iter_mut().zip(&self.rows[r]) {
                *w = (*w).max(cell_width(v).min(MAX_WIDTH));
            }
        }
        let gutter = self.rows.len().max(1).to_string().len() + 1;
        let avail = (area.width as usize).saturating_sub(gutter);
        // keep the selected column on screen
        if self.col < self.col_offset {
            self.col_offset = self.col;
        }
        while self.col_offset < self.col {
            let used = (self.col_offset..=self.col)
                .map(|c| self.width_of(c))
                .sum::<usize>()
                + SEP.width() * (self.col - self.col_offset);
            if used <= avail {
                break;
            }
            self.col_offset += 1;
        }
        let visible: Vec<(usize, usize)> = {
            let mut out = Vec::new();
            let mut x = 0;
            for c in self.col_offset..self.columns.len() {
                if x >= avail {
                    break;
                }
                let sep = if out.is_empty() { 0 } else { SEP.width() };
                let w = self.width_of(c).min(avail.saturating_sub(x + sep));
                if w == 0 {
                    break;
                }
                out.push((c, w));
                x += sep + w;
            }
            out
        };
        let sep_style = t.dim;
        let mut lines = Vec::with_capacity(h + 1);
        let mut header = vec![Span::styled(format!("{:gutter$}", ""), t.dim)];
        for (i, (c, w)) in visible.iter().enumerate() {
            if i > 0 {
                header.push(Span::styled(SEP, sep_style));
            }
            let name = fit_right(&self.columns[*c].name, *w);
            let pad = w.saturating_sub(name.width());
            header.push(Span::styled(
                format!("{name}{:pad$}", ""),
                t.title.add_modifier(Modifier::UNDERLINED),
            ));
        }
        lines.push(Line::from(header));
        let null_style = t.dim.add_modifier(Modifier::ITALIC);
        for r in self.nav.offset..(self.nav.offset + h).min(self.rows.len()) {
            let selected_row = r == self.nav.selected;
            let row_style = if selected_row && focused {
                t.selected
            } else {
                t.base
            };
            let mut spans = vec![Span::styled(
                format!("{:>w$} ", r + 1, w = gutter - 1),
                if selected_row { t.accent } else { t.line_no },
            )];
            for (i, (c, w)) in visible.iter().enumerate() {
                if i > 0 {
                    spans.push(Span::styled(SEP, row_style.patch(sep_style)));
                }
                let v = self.rows[r].get(*c).unwrap_or(&Value::Null);
                let (text, style) = match cell_text(v) {
                    None => ("NULL".to_string(), row_style.patch(null_style)),
                    Some(s) => (fit_right(&s, *w), row_style),
                };
                let style = if selected_row && *c == self.col && focused {
                    style.patch(t.matched)
                } else if selected_row && *c == self.col {
                    style.add_modifier(Modifier::UNDERLINED)
                } else {
                    style
                };
                let pad = w.saturating_sub(text.width());
                let numeric = matches!(v, Value::Int(_) | Value::UInt(_) | Value::Float(_));
                let cell = if numeric {
                    format!("{:pad$}{text}", "")
                } else {
                    format!("{text}{:pad$}", "")
                };
                spans.push(Span::styled(cell, style));
            }
            lines.push(Line::from(spans));
        }
        frame.render_widget(Paragraph::new(lines).style(t.base), area);
    }

    /// The result as CSV (RFC 4180; NULL is an empty field, bytes as `0x…` hex).
    pub fn to_csv(&self) -> String {
        fn field(s: &str) -> String {
            if s.contains([',', '"', '\n', '\r']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        }
        let mut out = String::new();
        let header: Vec<String> = self.columns.iter().map(|c| field(&c.name)).collect();
        out.push_str(&header.join(","));
        out.push_str("\r\n");
        for r in &self.rows {
            let line: Vec<String> = r
                .iter()
                .map(|v| v.display().map(|s| field(&s)).unwrap_or_default())
                .collect();
            out.push_str(&line.join(","));
            out.push_str("\r\n");
        }
        out
    }

    /// The result as a JSON array of objects, keys in column order (NULL is null, bytes
    /// as `0x…` hex).
    pub fn to_json(&self) -> String {
        use serde_json::Value as J;
        let key = |s: &str| serde_json::to_string(s).unwrap_or_default();
        let rows: Vec<String> = self
            .rows
            .iter()
            .map(|r| {
                let fields: Vec<String> = self
                    .columns
                    .iter()
                    .zip(r)
                    .map(|(c, v)| {
                        let j = match v {
                            Value::Null => J::Null,
                            Value::Int(i) => J::from(*i),
                            Value::UInt(u) => J::from(*u),
                            Value::Float(f) => J::from(*f),
                            Value::Text(s) => J::from(s.as_str()),
                            Value::Bytes(_) => J::from(v.display().unwrap_or_default()),
                        };
                        format!("{}: {j}", key(&c.name))
                    })
                    .collect();
                format!("  {{{}}}", fields.join(", "))
            })
            .collect();
        if rows.is_empty() {
            "[]\n".to_string()
        } else {
            format!("[\n{}\n]\n", rows.join(",\n"))
        }
    }

    /// Write the result as CSV or JSON to a new file in `dir` named after `name` and the
    /// time (`app-20250101-120000.csv`, `-2` and so on when it exists); returns its path.
    pub fn export(&self, dir: &Path, name: &str, json: bool) -> std::io::Result<PathBuf> {
        let (ext, body) = match json {
            true => ("json", self.to_json()),
            false => ("csv", self.to_csv()),
        };
        crate::engine::util::export::write_new(dir, name, ext, &body)
    }

    /// Whether columns on the left are scrolled out of view.
    pub fn scrolled_right(&self) -> bool {
        self.col_offset > 0
    }
}

#[cfg(test)]
mod grid_tests {
    use super::*;

    fn col(n: &str) -> Column {
        Column {
            name: n.into(),
            type_name: String::new(),
        }
    }

    #[test]
    fn widths_are_measured_and_capped() {
        let mut g = Grid::new(vec![col("id"), col("body")]);
        g.push_rows(vec![
            vec![Value::Int(12345), Value::Text("x".repeat(500))],
            vec![Value::Null, Value::Text(String::new())],
        ]);
        assert_eq!(g.width_of(0), 5);
        assert_eq!(g.width_of(1), MAX_WIDTH);
        assert_eq!(cell_text(&Value::Null), None);
        assert_eq!(cell_text(&Value::Text("a\nb".into())), Some("a↵b".into()));
        assert_eq!(
            g.to_csv(),
            "id,body\r\n12345,".to_string() + &"x".repeat(500) + "\r\n,\r\n"
        );
        assert!(g.to_json().contains("\"id\": null"));
        g.nav
            .apply(crate::app::commands::Cmd::NavPageDown, g.rows.len(), 5);
        assert_eq!(g.nav.selected, 1);
        assert_eq!(g.selected_row().unwrap(), "NULL\t");
    }
}
