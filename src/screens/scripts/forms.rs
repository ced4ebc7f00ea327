//! The Scripts screen's popups taking keys: the create and build forms, the rollback
//! confirmation, the wind file name, the report.

use crossterm::event::{KeyCode, KeyEvent};

use super::{Field, Popup, ScriptsScreen};
use crate::app::context::{Ctx, Level};

impl ScriptsScreen {
    pub(super) fn form_key(&mut self, key: KeyEvent, ctx: &mut Ctx) {
        let nsnap = self.lists.snapshots.len();
        let nprof = self.lists.profiles.len();
        if matches!(self.popup, Some(Popup::Pick(_))) {
            return self.pick_key(key, ctx);
        }
        let Some(popup) = &mut self.popup else { return };
        let up = matches!(key.code, KeyCode::Up);
        let down = matches!(key.code, KeyCode::Down);
        match popup {
            Popup::Pick(_) => {}
            Popup::Report { .. } => {
                if matches!(key.code, KeyCode::Esc | KeyCode::Enter | KeyCode::Char('q')) {
                    self.popup = None;
                }
            }
            Popup::Restore { id, .. } => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    let id = *id;
                    self.popup = None;
                    self.start_restore(id, ctx);
                }
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.popup = None;
                    ctx.status(Level::Info, "nothing restored");
                }
                _ => {}
            },
            Popup::Rollback { build, chain } => match key.code {
                KeyCode::Char('y') | KeyCode::Char('Y') => {
                    let (b, c) = (*build, *chain);
                    self.popup = None;
                    self.start_rollback(b, c, ctx);
                }
                KeyCode::Char('c') => *chain = !*chain,
                KeyCode::Char('n') | KeyCode::Char('N') | KeyCode::Esc => {
                    self.popup = None;
                    ctx.status(Level::Info, "nothing rolled back");
                }
                _ => {}
            },
            Popup::Wind {
                script,
                path,
                archive,
            } => match key.code {
                KeyCode::Esc => self.popup = None,
                KeyCode::Enter => {
                    let (s, p, a) = (*script, path.text().trim().to_string(), *archive);
                    self.popup = None;
                    if p.is_empty() {
                        ctx.status(Level::Warn, "no file name: nothing exported");
                    } else {
                        self.start_wind(s, p, a, ctx);
                    }
                }
                _ => {
                    path.handle(&key);
                }
            },
            Popup::Create {
                name,
                field,
                from,
                to,
            } => match (key.code, *field) {
                (KeyCode::Esc, _) => self.popup = None,
                (KeyCode::Enter, _) => {
                    let n = name.text().trim().to_string();
                    let from_id = self.lists.snapshots.get(*from).map(|s| s.0);
                    let to_id = to
                        .checked_sub(1)
                        .and_then(|i| self.lists.snapshots.get(i))
                        .map(|s| s.0);
                    self.popup = None;
                    match from_id {
                        Some(f) if Some(f) == to_id => {
                            ctx.status(
                                Level::Warn,
                                "from and to are the same snapshot: nothing to script",
                            );
                        }
                        Some(f) => self.start_pick((!n.is_empty()).then_some(n), f, to_id, ctx),
                        None => {}
                    }
                }
                (KeyCode::Tab, _) => {
                    *field = match field {
                        Field::From => Field::To,
                        Field::To => Field::Name,
                        _ => Field::From,
                    }
                }
                (KeyCode::BackTab, _) => {
                    *field = match field {
                        Field::From => Field::Name,
                        Field::To => Field::From,
                        _ => Field::To,
                    }
                }
                (_, Field::From) if up => *from = from.saturating_sub(1),
                (_, Field::From) if down => *from = (*from + 1).min(nsnap.saturating_sub(1)),
                (_, Field::To) if up => *to = to.saturating_sub(1),
                (_, Field::To) if down => *to = (*to + 1).min(nsnap),
                (_, Field::Name) => {
                    name.handle(&key);
                }
                _ => {}
            },
            Popup::Build {
                script,
                target,
                field,
                db,
                force,
            } => match (key.code, *field) {
                (KeyCode::Esc, _) => self.popup = None,
                (KeyCode::Enter, _) => {
                    let t = target.text().trim().to_string();
                    let d = db
                        .checked_sub(1)
                        .and_then(|i| self.lists.profiles.get(i))
                        .cloned();
                    let (s, f) = (*script, *force);
                    self.popup = None;
                    if t.is_empty() {
                        ctx.status(Level::Warn, "no target folder: nothing built");
                    } else {
                        self.last_target = Some(t.clone());
                        self.start_build(s, t, d, f, ctx);
                    }
                }
                (KeyCode::Tab | KeyCode::BackTab, _) => {
                    *field = if *field == Field::Target {
                        Field::Db
                    } else {
                        Field::Target
                    }
                }
                (KeyCode::Char('f'), Field::Db) => *force = !*force,
                (_, Field::Db) if up => *db = db.saturating_sub(1),
                (_, Field::Db) if down => *db = (*db + 1).min(nprof),
                (_, Field::Target) => {
                    target.handle(&key);
                }
                _ => {}
            },
        }
    }
}
