//! The Codebase screen's background workers: one thread runs searches, one builds
//! previews, each with its own store connection. Requests carry a generation number; a
//! worker skips to the newest request waiting, and the screen drops replies whose
//! generation is not the current one, so typing fast never shows stale results.

use std::path::PathBuf;
use std::sync::mpsc::{Receiver, Sender, channel};

use syntect::highlighting::Theme;
use syntect::parsing::SyntaxSet;

use super::preview::{self, Preview};
use crate::app::events::{AppEvent, EventTx};
use crate::store::Store;
use crate::store::codebase::{self, SearchResults, Summary};

/// Hits fetched per search.
pub const SEARCH_LIMIT: usize = 1_000;

/// A worker's answer.
#[derive(Debug)]
pub enum WorkerReply {
    Search {
        generation: u64,
        query: String,
        result: Result<SearchResults, String>,
    },
    Preview {
        generation: u64,
        id: i64,
        summary: Option<Summary>,
        preview: Result<Preview, String>,
    },
}

/// Handles to the two worker threads (they stop when this is dropped).
pub struct Workers {
    search: Sender<(u64, String)>,
    preview: Sender<(u64, i64)>,
}

/// Take the newest request waiting, dropping older ones.
fn latest<T>(rx: &Receiver<T>) -> Option<T> {
    let mut req = rx.recv().ok()?;
    while let Ok(newer) = rx.try_recv() {
        req = newer;
    }
    Some(req)
}

impl Workers {
    pub fn start(db: PathBuf, theme: Option<Theme>, tx: EventTx) -> Workers {
        let (search, search_rx) = channel::<(u64, String)>();
        let (preview, preview_rx) = channel::<(u64, i64)>();
        let db2 = db.clone();
        let tx2 = tx.clone();
        std::thread::Builder::new()
            .name("codebase-search".into())
            .spawn(move || {
                let store = Store::open(&db, false);
                while let Some((generation, query)) = latest(&search_rx) {
                    let result = match &store {
                        Ok(s) => codebase::search(s.conn(), &query, SEARCH_LIMIT)
                            .map_err(|e| e.to_string()),
                        Err(e) => Err(e.to_string()),
                    };
                    let reply = WorkerReply::Search {
                        generation,
                        query,
                        result,
                    };
                    if tx.send(AppEvent::Codebase(Box::new(reply))).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn search worker");
        std::thread::Builder::new()
            .name("codebase-preview".into())
            .spawn(move || {
                let store = Store::open(&db2, false);
                // Loading the syntax definitions takes a moment: do it here, not at startup.
                let syntaxes = theme.as_ref().map(|_| SyntaxSet::load_defaults_newlines());
                while let Some((generation, id)) = latest(&preview_rx) {
                    let (summary, preview) = match &store {
                        Ok(s) => load(s, id, syntaxes.as_ref(), theme.as_ref()),
                        Err(e) => (None, Err(e.to_string())),
                    };
                    let reply = WorkerReply::Preview {
                        generation,
                        id,
                        summary,
                        preview,
                    };
                    if tx2.send(AppEvent::Codebase(Box::new(reply))).is_err() {
                        break;
                    }
                }
            })
            .expect("spawn preview worker");
        Workers { search, preview }
    }

    pub fn search(&self, generation: u64, query: &str) {
        let _ = self.search.send((generation, query.to_string()));
    }

    pub fn preview(&self, generation: u64, id: i64) {
        let _ = self.preview.send((generation, id));
    }
}

fn load(
    store: &Store,
    id: i64,
    syntaxes: Option<&SyntaxSet>,
    theme: Option<&Theme>,
) -> (Option<Summary>, Result<Preview, String>) {
    let rec = match codebase::get(store.conn(), id) {
        Ok(Some(r)) => r,
        Ok(None) => return (None, Err(format!("record {id} is gone"))),
        Err(e) => return (None, Err(e.to_string())),
    };
    let summary = codebase::summary(store.conn(), id).ok().flatten();
    (
        summary,
        Ok(preview::build(&rec.name, &rec.body, syntaxes, theme)),
    )
}
