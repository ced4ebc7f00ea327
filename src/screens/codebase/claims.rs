//! Claims in the Codebase screen: records "taken into work" on the project's registry
//! (docs/REGISTRY.md). `space` marks records; `c` takes the marked records (or the
//! selected one) into work, or releases those whose claim is ours; the list marks every
//! claimed record (`⚑ login`, `⚑ mine`) and the
//! preview says who holds it until when. The registry is asked by a worker (its own
//! store connection and client), on show and after each claim or release; drawing only
//! reads what it answered. A project with no registry login shows no claims. The screen's
//! side (the selected record, marking) is the `impl CodebaseScreen` at the end.

use std::collections::HashMap;
use std::path::PathBuf;

use crate::app::commands::Cmd;
use crate::app::context::{Ctx, Level};
use crate::app::screen::ScreenId;
use crate::app::worker::{Payload, ReplyTx, Worker};
use crate::engine::registry::client::{Claim, ClaimOutcome, Verified};
use crate::engine::registry::{self, Client};
use crate::engine::util::units::rfc3339;
use crate::store::{STATE_DIR, Store};

/// What the worker is asked.
#[derive(Debug, Clone)]
pub enum Request {
    /// Read the live claims.
    Refresh,
    /// Claim each record (of its package, whose owners may force a release), or release
    /// it when the claim is ours; then read the live claims.
    Toggle(Vec<(String, Option<String>)>),
}

/// Its answer.
#[derive(Debug)]
pub struct Reply {
    /// The live claims; `None` when the project has no registry login.
    verified: Result<Option<Verified>, String>,
    /// What a toggle did, for the status line.
    note: Option<(Level, String)>,
}

/// The claims known to the screen, by record (`#ID` or name: [`registry::claim_key`]).
pub struct Claims {
    worker: Worker<Request, Reply>,
    by_record: HashMap<String, (Claim, bool)>,
    /// Records marked for the next `c`: id -> (name, package).
    marked: HashMap<i64, (String, String)>,
    pub error: Option<String>,
    /// A toggle was asked and not answered: a refresh would replace it in the queue.
    toggling: bool,
}

/// One claim's line: who holds it until when.
pub fn describe(c: &Claim, ours: bool) -> String {
    let who = if ours {
        "you".to_string()
    } else {
        c.owner.clone()
    };
    format!("taken into work by {who} until {}", rfc3339(c.expires))
}

fn client(root: &std::path::Path, store: &Result<Store, String>) -> Result<Option<Client>, String> {
    let store = store.as_ref().map_err(|e| e.clone())?;
    if registry::logged_in(root, store).is_err() {
        return Ok(None);
    }
    registry::client(root, store)
        .map(Some)
        .map_err(|e| format!("{e:#}"))
}

fn work(root: &std::path::Path, store: &Result<Store, String>, req: Request) -> Reply {
    let client = match client(root, store) {
        Ok(Some(c)) => c,
        Ok(None) => {
            let note = matches!(req, Request::Toggle(_)).then(|| {
                (
                    Level::Warn,
                    "no registry: `devsky registry login URL --token TOKEN` first".to_string(),
                )
            });
            return Reply {
                verified: Ok(None),
                note,
            };
        }
        Err(e) => {
            return Reply {
                verified: Err(e.clone()),
                note: Some((Level::Error, e)),
            };
        }
    };
    let note = match req {
        Request::Refresh => None,
        Request::Toggle(records) => Some(toggle_all(&client, &records)),
    };
    Reply {
        verified: client.verify(&[]).map(Some).map_err(|e| format!("{e:#}")),
        note,
    }
}

/// Toggle each record; one note for all (the only one's words when there is one).
fn toggle_all(client: &Client, records: &[(String, Option<String>)]) -> (Level, String) {
    let notes: Vec<(Level, String)> = records
        .iter()
        .map(|(r, p)| toggle(client, r, p.as_deref()))
        .collect();
    if notes.len() == 1 {
        return notes
            .into_iter()
            .next()
            .unwrap_or((Level::Info, String::new()));
    }
    let worst = notes
        .iter()
        .map(|n| n.0)
        .find(|l| matches!(l, Level::Error))
        .or_else(|| notes.iter().map(|n| n.0).find(|l| matches!(l, Level::Warn)))
        .unwrap_or(Level::Success);
    let count = |what: &str| notes.iter().filter(|n| n.1.contains(what)).count();
    let msg = format!(
        "{} record(s): {} taken into work, {} released, {} someone else's, {} failed",
        notes.len(),
        count("by you"),
        count("released "),
        count(" is taken into work by"),
        notes.iter().filter(|n| n.0 == Level::Error).count()
    );
    (worst, msg)
}

fn toggle(client: &Client, record: &str, package: Option<&str>) -> (Level, String) {
    let ours = match client.verify(&[record.to_string()]) {
        Ok(v) => v.ours.iter().any(|c| c.record == record),
        Err(e) => return (Level::Error, format!("{e:#}")),
    };
    if ours {
        return match client.release(record, false) {
            Ok(_) => (Level::Success, format!("released {record}")),
            Err(e) => (Level::Error, format!("{e:#}")),
        };
    }
    match client.claim(record, package) {
        Ok(ClaimOutcome::Taken(c) | ClaimOutcome::Renewed(c)) => {
            (Level::Success, format!("{record}: {}", describe(&c, true)))
        }
        Ok(ClaimOutcome::Conflict(c)) => {
            (Level::Warn, format!("{record} is {}", describe(&c, false)))
        }
        Err(e) => (Level::Error, format!("{e:#}")),
    }
}

impl Claims {
    pub fn start(root: PathBuf, tx: crate::app::events::EventTx) -> Claims {
        let db = root.join(STATE_DIR).join(crate::store::DB_FILE);
        let worker = Worker::start(
            "codebase-claims",
            ReplyTx::new(ScreenId::Codebase, tx),
            move || (Store::open(&db, false).map_err(|e| e.to_string()), root),
            |(store, root), req| work(root, store, req),
        );
        let mut c = Claims {
            worker,
            by_record: HashMap::new(),
            marked: HashMap::new(),
            error: None,
            toggling: false,
        };
        c.refresh();
        c
    }

    /// Ask the registry again (unless a toggle is on its way: its answer carries them).
    pub fn refresh(&mut self) {
        if !self.toggling {
            self.worker.request(Request::Refresh);
        }
    }

    /// Mark or unmark a record for the next toggle.
    pub fn mark(&mut self, id: i64, name: &str, package: &str) {
        if self.marked.remove(&id).is_none() {
            self.marked
                .insert(id, (registry::claim_key(id, name), package.to_string()));
        }
    }

    pub fn is_marked(&self, id: i64) -> bool {
        self.marked.contains_key(&id)
    }

    /// Claim or release the marked records (the marks are cleared), or else `selected`
    /// (its claim key and package).
    pub fn toggle(&mut self, selected: Option<(String, String)>, ctx: &mut Ctx) {
        let mut records: Vec<(i64, (String, String))> = self.marked.drain().collect();
        records.sort();
        let mut records: Vec<(String, String)> = records.into_iter().map(|(_, r)| r).collect();
        if records.is_empty() {
            records.extend(selected);
        }
        let what = match records.as_slice() {
            [] => return,
            [(one, _)] => one.clone(),
            many => format!("{} records", many.len()),
        };
        ctx.status(Level::Info, format!("asking the registry about {what}…"));
        self.toggling = true;
        let records = records
            .into_iter()
            .map(|(r, p)| (r, (!p.is_empty()).then_some(p)))
            .collect();
        self.worker.request(Request::Toggle(records));
    }

    /// The claim on record `id` named `name` (claims name it as [`registry::claim_key`]
    /// says) and whether it is ours.
    pub fn of(&self, id: i64, name: &str) -> Option<&(Claim, bool)> {
        self.by_record.get(&registry::claim_key(id, name))
    }

    /// Take the worker's answer; `Err` gives back a reply that is not the worker's.
    pub fn accept(&mut self, payload: Payload, ctx: &mut Ctx) -> Result<bool, Payload> {
        let reply = match self.worker.accept(payload)? {
            Some(r) => r,
            None => return Ok(false),
        };
        self.toggling = false;
        if let Some((level, note)) = reply.note {
            ctx.status(level, note);
        }
        match reply.verified {
            Ok(v) => {
                self.error = None;
                self.by_record.clear();
                if let Some(v) = v {
                    let all = v.ours.into_iter().map(|c| (c, true));
                    let all = all.chain(v.theirs.into_iter().map(|c| (c, false)));
                    self.by_record
                        .extend(all.map(|(c, ours)| (c.record.clone(), (c, ours))));
                }
            }
            Err(e) => self.error = Some(e),
        }
        Ok(true)
    }
}

impl super::CodebaseScreen {
    /// The selected record's (id, name, package), once its row or preview is read.
    pub(super) fn selected_record(&self) -> Option<(i64, String, String)> {
        let id = self.selected_id()?;
        let known = match &self.preview {
            Some((p, Some(sum), _)) if *p == id => Some(sum),
            _ => self.rows.get(&id),
        };
        known.map(|r| (id, r.name.clone(), r.package.clone()))
    }

    /// Mark the selected record for a claim (`claims.rs`), and move down.
    pub(super) fn mark(&mut self, ctx: &mut Ctx) {
        match self.selected_record() {
            Some((id, name, package)) => {
                self.claims.mark(id, &name, &package);
                self.nav(Cmd::NavDown);
            }
            None if self.selected_id().is_some() => ctx.status(Level::Info, "still loading"),
            None => {}
        }
    }
}
