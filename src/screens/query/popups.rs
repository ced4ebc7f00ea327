//! The Query screen's popups: connection picker, password prompt, confirmation of
//! dangerous statements, history, schema browser, export format. Their state, keys and
//! drawing.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use unicode_width::UnicodeWidthStr;

use super::editor::{self, Risk};
use super::worker::Request;
use super::{Conn, Focus, QueryScreen};
use crate::app::commands::Cmd;
use crate::app::context::{Ctx, DrawCtx, Level};
use crate::app::input::{Change, LineInput};
use crate::app::listnav::ListNav;
use crate::app::popups::centered;
use crate::app::theme::Theme;
use crate::app::widgets::{fit_right, popup_block};
use crate::engine::db::{Kind, profile};
use crate::engine::util::units::format_time;

/// A connection profile as the picker lists it.
#[derive(Debug, Clone)]
pub(super) struct ProfileRow {
    name: String,
    kind: &'static str,
    url: String,
}

/// One entry of the history popup.
#[derive(Debug, Clone)]
pub(super) struct HistoryRow {
    sql: String,
    ran_at: i64,
    error: bool,
}

/// A line of the schema browser.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum SchemaRow {
    Table(usize),
    Column(usize, usize),
    Index(usize, usize),
}

/// A popup drawn over the screen; it has the keyboard while open.
pub(super) enum Popup {
    Profiles {
        list: Vec<ProfileRow>,
        selected: usize,
    },
    Password {
        generation: u64,
        prompt: String,
        input: LineInput,
    },
    Confirm {
        sql: String,
        base: usize,
        risks: Vec<Risk>,
    },
    History {
        search: LineInput,
        all: Vec<HistoryRow>,
        selected: usize,
    },
    Schema {
        filter: LineInput,
        selected: usize,
    },
    Export,
}

impl QueryScreen {
    /// Read the connection profiles (a quick read of the local store).
    pub(super) fn load_profiles(&mut self) {
        let result = self.store().and_then(profile::list).map(|list| {
            list.into_iter()
                .map(|p| ProfileRow {
                    name: p.name,
                    kind: match p.kind {
                        Kind::Mysql => "mysql",
                        Kind::Sqlite => "sqlite",
                    },
                    url: p.url.to_string(),
                })
                .collect()
        });
        match result {
            Ok(list) => {
                self.profiles = list;
                self.profiles_error = None;
            }
            Err(e) => self.profiles_error = Some(format!("{e:#}")),
        }
    }

    pub(super) fn open_profiles(&mut self) {
        self.load_profiles();
        let current = match &self.conn {
            Conn::Connected { profile, .. } | Conn::Connecting { profile, .. } => Some(profile),
            Conn::None => None,
        };
        let selected = current
            .and_then(|c| self.profiles.iter().position(|p| &p.name == c))
            .unwrap_or(0);
        self.popup = Some(Popup::Profiles {
            list: self.profiles.clone(),
            selected,
        });
    }

    pub(super) fn open_history(&mut self, ctx: &mut Ctx) {
        let profile = self.profile.clone();
        let result = self.store().and_then(|s| {
            let mut stmt = s.conn().prepare(
                "SELECT sql, ran_at, error IS NOT NULL FROM _dev_query_history \
                 WHERE ?1 IS NULL OR profile = ?1 ORDER BY id DESC LIMIT 2000",
            )?;
            let rows = stmt.query_map([&profile], |r| {
                Ok(HistoryRow {
                    sql: r.get(0)?,
                    ran_at: r.get(1)?,
                    error: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<Result<Vec<_>, _>>()?)
        });
        match result {
            Ok(rows) => {
                let mut seen = std::collections::HashSet::new();
                let all = rows
                    .into_iter()
                    .filter(|r| seen.insert(r.sql.clone()))
                    .collect();
                self.popup = Some(Popup::History {
                    search: LineInput::default(),
                    all,
                    selected: 0,
                });
            }
            Err(e) => ctx.status(Level::Error, format!("cannot read the history: {e:#}")),
        }
    }

    pub(super) fn open_schema(&mut self, ctx: &mut Ctx) {
        if !matches!(self.conn, Conn::Connected { .. }) {
            ctx.status(Level::Info, "connect first to browse the schema");
            return;
        }
        if self.tables.is_none() && !self.running() {
            self.tables_gen = self.next_gen();
            self.worker.send(Request::Tables {
                generation: self.tables_gen,
            });
        }
        self.popup = Some(Popup::Schema {
            filter: LineInput::default(),
            selected: 0,
        });
    }

    /// The lines of the schema browser for a filter.
    pub(super) fn schema_rows(&self, filter: &str) -> Vec<SchemaRow> {
        let Some(Ok(tables)) = &self.tables else {
            return Vec::new();
        };
        let f = filter.to_lowercase();
        let mut out = Vec::new();
        for (ti, t) in tables.iter().enumerate() {
            let table_hit = t.name.to_lowercase().contains(&f);
            let cols: Vec<usize> = (0..t.columns.len())
                .filter(|&c| table_hit || t.columns[c].name.to_lowercase().contains(&f))
                .collect();
            if !table_hit && cols.is_empty() {
                continue;
            }
            out.push(SchemaRow::Table(ti));
            out.extend(cols.into_iter().map(|c| SchemaRow::Column(ti, c)));
            if table_hit {
                out.extend((0..t.indexes.len()).map(|i| SchemaRow::Index(ti, i)));
            }
        }
        out
    }

    /// Insert a name into the editor, quoted when it needs to be.
    pub(super) fn insert_name(&mut self, name: &str) {
        let plain = name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !name.starts_with(|c: char| c.is_ascii_digit());
        let quoted = match &self.conn {
            _ if plain => name.to_string(),
            Conn::Connected {
                kind: Kind::Mysql, ..
            } => format!("`{}`", name.replace('`', "``")),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        };
        self.editor.insert(&quoted);
        self.focus = Focus::Editor;
    }

    /// A key while a popup is open.
    /// A key while a popup is open; false when the connection picker leaves it to the
    /// shell (number keys still switch tools).
    pub(super) fn popup_key(&mut self, key: KeyEvent, ctx: &mut Ctx) -> bool {
        let rows = match &self.popup {
            Some(Popup::Schema { filter, .. }) => self.schema_rows(filter.text()),
            _ => Vec::new(),
        };
        let Some(popup) = self.popup.as_mut() else {
            return false;
        };
        let code = key.code;
        let list_move = |sel: &mut usize, len: usize| {
            let cmd = match code {
                KeyCode::Down => Cmd::NavDown,
                KeyCode::Up => Cmd::NavUp,
                KeyCode::PageDown => Cmd::NavPageDown,
                KeyCode::PageUp => Cmd::NavPageUp,
                _ => return,
            };
            let mut nav = ListNav {
                selected: *sel,
                offset: 0,
            };
            nav.apply(cmd, len, 10);
            *sel = nav.selected;
        };
        match popup {
            Popup::Profiles { list, selected } => match code {
                KeyCode::Esc => self.popup = None,
                KeyCode::Enter => {
                    let name = list.get(*selected).map(|p| p.name.clone());
                    self.popup = None;
                    if let Some(name) = name {
                        self.connect(name, ctx);
                    }
                }
                KeyCode::Char('j') => {
                    *selected = (*selected + 1).min(list.len().saturating_sub(1));
                }
                KeyCode::Char('k') => *selected = selected.saturating_sub(1),
                KeyCode::Up | KeyCode::Down | KeyCode::PageUp | KeyCode::PageDown => {
                    list_move(selected, list.len())
                }
                _ => return false,
            },
            Popup::Password {
                generation, input, ..
            } => match code {
                KeyCode::Esc => {
                    let g = *generation;
                    self.popup = None;
                    self.worker.send(Request::Password(None));
                    if matches!(self.conn, Conn::Connecting { generation, .. } if generation == g) {
                        self.conn = Conn::None;
                        ctx.status(Level::Info, "not connected");
                    }
                }
                KeyCode::Enter => {
                    let pw = input.text().to_string();
                    self.popup = None;
                    self.worker.send(Request::Password(Some(pw)));
                }
                _ => {
                    input.handle(&key);
                }
            },
            Popup::Confirm { .. } => match code {
                KeyCode::Char('y' | 'Y') => {
                    if let Some(Popup::Confirm { sql, base, .. }) = self.popup.take() {
                        self.start(sql, base);
                    }
                }
                KeyCode::Char('n' | 'N') | KeyCode::Esc => {
                    self.popup = None;
                    ctx.status(Level::Info, "not run");
                }
                _ => {}
            },
            Popup::History {
                search,
                all,
                selected,
            } => {
                let hits = history_hits(all, search.text());
                match code {
                    KeyCode::Esc => self.popup = None,
                    KeyCode::Enter => {
                        let sql = hits.get(*selected).map(|h| all[*h].sql.clone());
                        self.popup = None;
                        if let Some(sql) = sql {
                            self.editor.set_text(&sql);
                            self.focus = Focus::Editor;
                        }
                    }
                    _ if search.handle(&key) == Change::Edited => *selected = 0,
                    _ => list_move(selected, hits.len()),
                }
            }
            Popup::Schema { selected, .. } => {
                let sel = *selected;
                match code {
                    KeyCode::Esc => self.popup = None,
                    KeyCode::Enter => {
                        let name = rows.get(sel).and_then(|r| self.schema_name(r));
                        self.popup = None;
                        if let Some(name) = name {
                            self.insert_name(&name);
                        }
                    }
                    _ => {
                        let Some(Popup::Schema { filter, selected }) = self.popup.as_mut() else {
                            return true;
                        };
                        if filter.handle(&key) == Change::Edited {
                            *selected = 0;
                        } else {
                            list_move(selected, rows.len());
                        }
                    }
                }
            }
            Popup::Export => {
                self.popup = None;
                match code {
                    KeyCode::Char('c') => self.export(false, ctx),
                    KeyCode::Char('j') => self.export(true, ctx),
                    _ => {}
                }
            }
        }
        true
    }

    /// The name a schema line stands for.
    pub(super) fn schema_name(&self, row: &SchemaRow) -> Option<String> {
        let Some(Ok(tables)) = &self.tables else {
            return None;
        };
        Some(match *row {
            SchemaRow::Table(t) => tables[t].name.clone(),
            SchemaRow::Column(t, c) => tables[t].columns[c].name.clone(),
            SchemaRow::Index(t, i) => tables[t].indexes[i].name.clone(),
        })
    }
}

/// Indexes of the history entries matching every word of `search`.
fn history_hits(all: &[HistoryRow], search: &str) -> Vec<usize> {
    let words: Vec<String> = search.split_whitespace().map(str::to_lowercase).collect();
    all.iter()
        .enumerate()
        .filter(|(_, h)| {
            let sql = h.sql.to_lowercase();
            words.iter().all(|w| sql.contains(w))
        })
        .map(|(i, _)| i)
        .collect()
}

fn keys_line<'a>(pairs: &[(&'a str, &'a str)], t: &Theme) -> Line<'a> {
    let mut spans = Vec::new();
    for (k, what) in pairs {
        spans.push(Span::styled(*k, t.hint_key));
        spans.push(Span::styled(format!(" {what}  "), t.popup));
    }
    Line::from(spans)
}

/// Lines `first..` of a list that keep `selected` visible in `room` lines.
fn window(selected: usize, len: usize, room: usize) -> std::ops::Range<usize> {
    let first = (selected + 1).saturating_sub(room.max(1));
    first..len.min(first + room)
}

/// Draw the open popup, if any, over `area`.
pub(super) fn draw(s: &QueryScreen, frame: &mut Frame, area: Rect, ctx: &DrawCtx) {
    let t = ctx.theme;
    let Some(popup) = &s.popup else { return };
    let w = area.width.saturating_sub(4).min(90);
    let (title, h) = match popup {
        Popup::Profiles { .. } => (" Connect to ", area.height.saturating_sub(2).min(16)),
        Popup::Password { .. } => (" Password ", 6),
        Popup::Confirm { risks, .. } => (" Run this? ", (risks.len() as u16 + 6).min(area.height)),
        Popup::History { .. } => (" History ", area.height.saturating_sub(2)),
        Popup::Schema { .. } => (" Schema ", area.height.saturating_sub(2)),
        Popup::Export => (" Export ", 7),
    };
    let rect = centered(area, w, h);
    frame.render_widget(Clear, rect);
    let b = popup_block(title, t);
    let inner = b.inner(rect);
    frame.render_widget(b, rect);
    let width = inner.width as usize;
    let room = (inner.height as usize).saturating_sub(2);
    let row_style = |here: bool| if here { t.selected } else { t.popup };
    let mut lines: Vec<Line> = Vec::new();
    let mut cursor = None;
    match popup {
        Popup::Profiles { list, selected } => {
            if list.is_empty() {
                lines.push(Line::from(Span::styled(
                    "No connections yet. Add one from a shell:",
                    t.popup,
                )));
                lines.push(Line::from(Span::styled(
                    "  devsky db add NAME --url mysql://user@host/db",
                    t.accent,
                )));
                lines.push(Line::from(Span::styled(
                    "  devsky db add NAME --url sqlite:///path/to/app.db",
                    t.accent,
                )));
            }
            for i in window(*selected, list.len(), room) {
                let p = &list[i];
                let text = format!(" {:<16} {:<7} {}", p.name, p.kind, p.url);
                lines.push(Line::from(Span::styled(
                    fit_right(&text, width),
                    row_style(i == *selected),
                )));
            }
            lines.push(Line::default());
            lines.push(keys_line(&[("enter", "connect"), ("esc", "close")], t));
        }
        Popup::Password { prompt, input, .. } => {
            lines.push(Line::from(Span::styled(prompt.clone(), t.popup)));
            let masked = "•".repeat(input.text().chars().count());
            cursor = Some((inner.x + 2 + masked.width() as u16, inner.y + 1));
            lines.push(Line::from(vec![
                Span::styled("> ", t.accent),
                Span::styled(masked, t.base),
            ]));
            lines.push(Line::default());
            lines.push(keys_line(&[("enter", "connect"), ("esc", "cancel")], t));
        }
        Popup::Confirm { risks, .. } => {
            for r in risks {
                let text = match r {
                    Risk::Destructive(sql) => format!("⚠ {sql} — this cannot be undone"),
                    Risk::NoWhere(sql) => format!("⚠ {sql} — no WHERE: it changes every row"),
                };
                lines.push(Line::from(Span::styled(fit_right(&text, width), t.warn)));
            }
            lines.push(Line::default());
            lines.push(keys_line(&[("y", "run it"), ("n", "don't")], t));
        }
        Popup::History {
            search,
            all,
            selected,
        } => {
            cursor = Some((inner.x + 2 + search.cursor_column(), inner.y));
            lines.push(search_line(search, "type to search what ran", t));
            let hits = history_hits(all, search.text());
            if hits.is_empty() {
                lines.push(Line::from(Span::styled("  nothing ran yet", t.dim)));
            }
            for i in window(*selected, hits.len(), room) {
                let h = &all[hits[i]];
                let when = format_time(h.ran_at);
                let mark = if h.error { "✗" } else { " " };
                let text = format!("{mark} {} {}", &when[5..16], editor::summary(&h.sql, width));
                lines.push(Line::from(Span::styled(
                    fit_right(&text, width),
                    row_style(i == *selected),
                )));
            }
        }
        Popup::Schema { filter, selected } => {
            cursor = Some((inner.x + 2 + filter.cursor_column(), inner.y));
            lines.push(search_line(filter, "type to filter tables and columns", t));
            match &s.tables {
                None => lines.push(Line::from(Span::styled("  loading…", t.dim))),
                Some(Err(e)) => lines.push(Line::from(Span::styled(e.clone(), t.error))),
                Some(Ok(tables)) => {
                    let rows = s.schema_rows(filter.text());
                    if rows.is_empty() {
                        lines.push(Line::from(Span::styled("  no tables", t.dim)));
                    }
                    for i in window(*selected, rows.len(), room) {
                        let text = match rows[i] {
                            SchemaRow::Table(ti) => {
                                let tb = &tables[ti];
                                format!("▸ {}  ({} columns)", tb.name, tb.columns.len())
                            }
                            SchemaRow::Column(ti, c) => {
                                let col = &tables[ti].columns[c];
                                let pk = if tables[ti].primary_key.contains(&col.name) {
                                    " PK"
                                } else {
                                    ""
                                };
                                let null = if col.nullable { "" } else { " not null" };
                                format!("    {}  {}{null}{pk}", col.name, col.data_type)
                            }
                            SchemaRow::Index(ti, x) => {
                                let ix = &tables[ti].indexes[x];
                                let u = if ix.unique { "unique " } else { "" };
                                format!("    ⚷ {} {u}({})", ix.name, ix.columns.join(", "))
                            }
                        };
                        let style = match (i == *selected, &rows[i]) {
                            (true, _) => t.selected,
                            (false, SchemaRow::Table(_)) => t.accent,
                            (false, SchemaRow::Index(..)) => t.dim,
                            _ => t.popup,
                        };
                        lines.push(Line::from(Span::styled(fit_right(&text, width), style)));
                    }
                }
            }
        }
        Popup::Export => {
            let dir = std::path::Path::new(crate::store::STATE_DIR).join("exports");
            lines.push(Line::from(Span::styled(
                format!(
                    "Export the {} rows of the result to {}/",
                    crate::engine::util::units::thousands(s.grid.rows.len()),
                    dir.display()
                ),
                t.popup,
            )));
            lines.push(Line::default());
            lines.push(keys_line(
                &[("c", "CSV"), ("j", "JSON"), ("esc", "cancel")],
                t,
            ));
        }
    }
    frame.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), inner);
    if let Some((x, y)) = cursor {
        frame.set_cursor_position((x.min(inner.right().saturating_sub(1)), y));
    }
}

fn search_line<'a>(input: &LineInput, placeholder: &'a str, t: &Theme) -> Line<'a> {
    let mut spans = vec![
        Span::styled("/ ", t.accent),
        Span::styled(input.text().to_string(), t.base),
    ];
    if input.text().is_empty() {
        spans.push(Span::styled(placeholder, t.dim));
    }
    Line::from(spans)
}
