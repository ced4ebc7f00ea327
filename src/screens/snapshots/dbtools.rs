//! The Snapshots screen's database tools. `t`: the table modes of the selected snapshot's
//! database (full rows, checksums only, skipped, or auto), set per table in
//! `_dev_db_tables` for the snapshots taken next, as `devsky db table` does. `v`: verify
//! the database script on a scratch copy as a job — from the selected snapshot to the
//! database now, or from the marked snapshot to the selected one (a copy built from the
//! marked one) — and show the report in a popup. Also the database half of a diff
//! ([`db_diff`]) and which snapshots have a database part ([`db_parts`]).

use std::collections::HashMap;

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};

use super::{Popup, Running, SnapshotsReply, SnapshotsScreen};
use crate::app::context::{Ctx, DrawCtx, Level};
use crate::app::popups::centered;
use crate::engine::db::snapshot::{self as db_snapshot, DbSnapshot, Mode};
use crate::engine::db::{changes as db_changes, profile, verify_between};
use crate::engine::diff::changes::ChangeSet;
use crate::engine::jobs::Progress;
use crate::engine::project::Project;
use crate::engine::snapshot::objects::ObjectStore;
use crate::engine::snapshot::{self, Target};
use crate::store::Store;

/// The table-modes popup: the tables of a profile with their recorded modes.
#[derive(Debug)]
pub struct Tables {
    pub profile: String,
    pub rows: Vec<(String, Mode)>,
    pub choice: usize,
}

fn label(m: Mode) -> &'static str {
    match m {
        Mode::Data => "rows",
        Mode::Checksum => "checksums",
        Mode::Skip => "skipped",
        Mode::Auto => "auto",
    }
}

impl SnapshotsScreen {
    /// The selected snapshot's database part: (profile, object).
    fn selected_db(&self) -> Option<(i64, String, String)> {
        let id = self.selected_snapshot()?.id;
        let (p, o) = self.db_parts.get(&id)?;
        Some((id, p.clone(), o.clone()))
    }

    pub(super) fn open_tables(&mut self, ctx: &mut Ctx) {
        let Some((id, profile, object)) = self.selected_db() else {
            ctx.status(Level::Info, "this snapshot has no database part");
            return;
        };
        let names = match self.db_info.get(&object) {
            Some(Some(Ok(info))) => info.names.clone(),
            Some(Some(Err(e))) => {
                ctx.status(Level::Error, format!("snapshot {id}: {e}"));
                return;
            }
            _ => {
                ctx.status(Level::Info, "still reading the snapshot's database part");
                return;
            }
        };
        let Some(store) = &self.store else { return };
        let modes = match db_snapshot::table_modes(store.conn(), &profile) {
            Ok(m) => m,
            Err(e) => {
                ctx.status(Level::Error, format!("cannot read table modes: {e:#}"));
                return;
            }
        };
        let rows = names
            .into_iter()
            .map(|n| {
                let m = modes.get(&n).copied().unwrap_or(Mode::Auto);
                (n, m)
            })
            .collect();
        self.popup = Some(Popup::Tables(Tables {
            profile,
            rows,
            choice: 0,
        }));
    }

    /// A key while the table-modes popup is open.
    pub(super) fn tables_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        let Some(Popup::Tables(t)) = &mut self.popup else {
            return;
        };
        let last = t.rows.len().saturating_sub(1);
        let mode = match key.code {
            KeyCode::Esc | KeyCode::Char('q') => {
                self.popup = None;
                return;
            }
            KeyCode::Down | KeyCode::Char('j') => {
                t.choice = (t.choice + 1).min(last);
                return;
            }
            KeyCode::Up | KeyCode::Char('k') => {
                t.choice = t.choice.saturating_sub(1);
                return;
            }
            KeyCode::Char('r') => Mode::Data,
            KeyCode::Char('c') => Mode::Checksum,
            KeyCode::Char('s') => Mode::Skip,
            KeyCode::Char('a') => Mode::Auto,
            _ => return,
        };
        let (Some(store), Some(row)) = (&self.store, t.rows.get_mut(t.choice)) else {
            return;
        };
        match db_snapshot::set_table_mode(store.conn(), &t.profile, &row.0, mode) {
            Ok(()) => {
                row.1 = mode;
                ctx.status(
                    Level::Success,
                    format!(
                        "table {} of database {}: {} (from the next snapshot)",
                        row.0,
                        t.profile,
                        label(mode)
                    ),
                );
            }
            Err(e) => ctx.status(Level::Error, format!("cannot set the mode: {e:#}")),
        }
    }

    /// Verify the database script of the selected snapshot (or of the marked one to it).
    pub(super) fn start_verify(&mut self, ctx: &mut Ctx) {
        let Some((sel, profile, _)) = self.selected_db() else {
            ctx.status(Level::Info, "this snapshot has no database part to verify");
            return;
        };
        if self.verify_job.is_some() {
            ctx.status(Level::Warn, "a verification is running already (see Jobs)");
            return;
        }
        let (old, new) = match self.marked {
            Some(m) if m != sel => (m, Some(sel)),
            _ => (sel, None),
        };
        let title = match new {
            Some(b) => format!("snapshot {old} → snapshot {b}"),
            None => format!("snapshot {old} → database {profile} now"),
        };
        let (root, db_path, tx) = (
            ctx.project.root.clone(),
            self.db_path.clone(),
            self.replies(ctx),
        );
        let seq = self.tickets.issue();
        let what = title.clone();
        let job = ctx.jobs.spawn_blocking("verify", move |p| {
            let store = Store::open(&db_path, false)?;
            let objects = ObjectStore::open(&root)?;
            let load = |id: i64| -> anyhow::Result<(String, DbSnapshot)> {
                let (pr, ob) = crate::engine::snapshot::db_part(&store, id)?
                    .ok_or_else(|| anyhow::anyhow!("snapshot {id} has no database part"))?;
                Ok((pr, DbSnapshot::load(&objects, &ob)?))
            };
            let (profile, old_db) = load(old)?;
            p.set(0, None, "building the script");
            let (script, new_db) = match new {
                Some(b) => {
                    let (pb, new_db) = load(b)?;
                    if pb != profile {
                        anyhow::bail!(
                            "snapshot {old} is of database {profile}, snapshot {b} of {pb}"
                        );
                    }
                    (db_snapshot::between(&old_db, &new_db, &[])?, Some(new_db))
                }
                None => {
                    let mut conn = profile::connect(&root, &store, &profile, None)?;
                    (db_snapshot::diff(&old_db, conn.as_mut(), true, &[])?, None)
                }
            };
            p.set(0, None, "verifying on a scratch copy");
            let report = verify_between::verify_script(
                &root,
                &store,
                &profile,
                &old_db,
                new_db.as_ref(),
                &script,
            )?;
            let mut text = report.text();
            for n in &script.notes {
                text.push_str(&format!("  incomplete: {n}\n"));
            }
            let summary = if report.ok() {
                format!("{what}: script verified")
            } else {
                format!("{what}: script NOT verified")
            };
            let _ = tx.send(SnapshotsReply::Verified {
                seq,
                title: what,
                text,
                ok: report.ok(),
            });
            Ok(summary)
        });
        self.verify_job = Some(Running { job, seq });
        ctx.status(Level::Info, format!("verifying {title} (job #{job})"));
    }
}

/// The table-modes popup.
pub fn draw_tables(frame: &mut Frame, area: Rect, t: &Tables, ctx: &DrawCtx) {
    let th = ctx.theme;
    let w = area.width.saturating_sub(4).min(64);
    let h = (t.rows.len() as u16 + 5)
        .min(area.height.saturating_sub(2))
        .max(6);
    let popup = centered(area, w, h);
    frame.render_widget(Clear, popup);
    let room = h.saturating_sub(5) as usize;
    let first = t.choice.saturating_sub(room.saturating_sub(1));
    let mut lines = vec![Line::from(Span::styled(
        "Mode of each table in the next snapshots:",
        th.dim,
    ))];
    for (i, (name, mode)) in t.rows.iter().enumerate().skip(first).take(room) {
        let mark = if i == t.choice { "▸ " } else { "  " };
        let style = if i == t.choice { th.selected } else { th.popup };
        lines.push(Line::from(Span::styled(
            format!("{mark}{name:<30} {}", label(*mode)),
            style,
        )));
    }
    lines.push(Line::from(vec![
        Span::styled("r", th.hint_key),
        Span::styled(" rows  ", th.popup),
        Span::styled("c", th.hint_key),
        Span::styled(" checksums  ", th.popup),
        Span::styled("s", th.hint_key),
        Span::styled(" skip  ", th.popup),
        Span::styled("a", th.hint_key),
        Span::styled(" auto  ", th.popup),
        Span::styled("esc", th.hint_key),
        Span::styled(" close", th.popup),
    ]));
    let title = format!(" Tables of database {} ", t.profile);
    frame.render_widget(
        Paragraph::new(lines).block(crate::app::widgets::popup_block(&title, th)),
        popup,
    );
}

/// The verification report popup.
pub fn draw_report(frame: &mut Frame, area: Rect, title: &str, text: &str, ctx: &DrawCtx) {
    let th = ctx.theme;
    let w = area.width.saturating_sub(4).min(100);
    let h = area.height.saturating_sub(2);
    let popup = centered(area, w, h);
    frame.render_widget(Clear, popup);
    let mut lines: Vec<Line> = text
        .lines()
        .map(|l| {
            let style = if l.contains("FAIL") || l.contains("NOT verified") {
                th.warn
            } else {
                th.popup
            };
            Line::from(Span::styled(l.to_string(), style))
        })
        .collect();
    lines.push(Line::from(vec![
        Span::styled("esc", th.hint_key),
        Span::styled(" close", th.popup),
    ]));
    let title = format!(" Verify {title} ");
    frame.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(crate::app::widgets::popup_block(&title, th)),
        popup,
    );
}

/// The database parts of every snapshot: id → (profile, object).
pub(super) fn db_parts(store: &Store) -> anyhow::Result<HashMap<i64, (String, String)>> {
    let mut stmt = store.conn().prepare(
        "SELECT id, db_profile, db_object FROM _dev_snapshots
         WHERE db_profile IS NOT NULL AND db_object IS NOT NULL",
    )?;
    let rows = stmt.query_map([], |r| Ok((r.get(0)?, (r.get(1)?, r.get(2)?))))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// What diffing the database part of a snapshot gave.
pub(super) enum DbDiff {
    /// The old snapshot has no database part.
    None,
    /// Nothing to add, only something to say (an error, a part missing on the other side).
    Note(Level, String),
    /// The database changes, and what to say about the script (destructive steps, notes).
    Changes {
        profile: String,
        set: ChangeSet,
        note: Option<String>,
    },
}

/// Diff the database part of snapshot `old` with the database now (connecting to its
/// profile) or with snapshot `new`'s part.
pub(super) fn db_diff(
    project: &Project,
    store: &Store,
    old: i64,
    new: Target,
    p: &Progress,
) -> DbDiff {
    use crate::engine::db::snapshot::{between, take};
    let (profile, object) = match snapshot::db_part(store, old) {
        Ok(Some(part)) => part,
        Ok(None) => return DbDiff::None,
        Err(e) => return DbDiff::Note(Level::Error, format!("database part: {e:#}")),
    };
    let loaded = (|| -> anyhow::Result<Option<(DbSnapshot, DbSnapshot)>> {
        let objects = ObjectStore::open(&project.root)?;
        let old_db = DbSnapshot::load(&objects, &object)?;
        let new_db = match new {
            Target::Worktree => {
                p.set(0, None, "connecting to the database");
                let mut conn = profile::connect(&project.root, store, &profile, None)?;
                if conn.kind() != old_db.kind {
                    anyhow::bail!(
                        "the snapshot is of a {:?} database, the profile's is {:?}",
                        old_db.kind,
                        conn.kind()
                    );
                }
                p.set(0, None, "snapshotting the database");
                let modes = &old_db.modes;
                take(conn.as_mut(), &|t| {
                    modes.get(t).copied().unwrap_or(Mode::Auto)
                })?
            }
            Target::Snapshot(b) => match snapshot::db_part(store, b)? {
                Some((pb, ob)) if pb == profile => DbSnapshot::load(&objects, &ob)?,
                _ => return Ok(None),
            },
        };
        Ok(Some((old_db, new_db)))
    })();
    let (old_db, new_db) = match loaded {
        Ok(Some(pair)) => pair,
        Ok(None) => {
            let Target::Snapshot(b) = new else {
                return DbDiff::None;
            };
            return DbDiff::Note(
                Level::Info,
                format!("database {profile} not compared: snapshot {b} has no part of it"),
            );
        }
        Err(e) => {
            return DbDiff::Note(Level::Error, format!("database {profile}: {e:#}"));
        }
    };
    // Destructive steps are allowed so the script is complete; they are named in the status.
    let mut notes = Vec::new();
    let script = match between(&old_db, &new_db, &[]) {
        Ok(s) => Some(s),
        Err(e) => {
            notes.push(format!("no script: {e}"));
            None
        }
    };
    if let Some(s) = &script {
        let refused = s.destructive();
        if !refused.is_empty() {
            notes.push(format!(
                "destructive, refused without --allow-destructive: {}",
                refused.join("; ")
            ));
        }
        notes.extend(s.notes.iter().cloned());
    }
    let set = db_changes::change_set(&profile, &old_db, &new_db, script.as_ref(), &project.root);
    let note = (!notes.is_empty()).then(|| format!("database {profile}: {}", notes.join(" · ")));
    DbDiff::Changes { profile, set, note }
}
