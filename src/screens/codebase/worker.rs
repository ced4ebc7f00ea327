//! The Codebase screen's background workers, each a "latest request wins"
//! [`Worker`](crate::app::worker::Worker) with its own store connection: one runs
//! searches, one builds previews, one reads the rows the list is about to show (summaries
//! while browsing, snippets of search hits). The screen never reads the store while it
//! draws; rows not read yet show as `…` until their reply arrives.

use std::path::{Path, PathBuf};

use syntect::highlighting::Theme;
use syntect::parsing::SyntaxSet;

use super::preview::{self, Preview};
use crate::app::screen::ScreenId;
use crate::app::worker::{ReplyTx, Worker};
use crate::store::Store;
use crate::store::codebase::{self, SearchResults, Summary};

/// Hits fetched per search.
pub const SEARCH_LIMIT: usize = 1_000;

/// A search's answer: the query it ran and its hits.
pub type SearchReply = (String, Result<SearchResults, String>);

/// A preview's answer: the record, its summary, its highlighted body.
pub type PreviewReply = (i64, Option<Summary>, Result<Preview, String>);

/// Rows the list needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowsRequest {
    /// Summaries of the records with ids in `first..=last`.
    Summaries { first: i64, last: i64 },
    /// Snippets of these hits of `query`.
    Snippets { query: String, ids: Vec<i64> },
}

/// The rows read.
#[derive(Debug)]
pub enum RowsReply {
    Summaries(Result<Vec<Summary>, String>),
    Snippets {
        query: String,
        snippets: Vec<(i64, String)>,
    },
}

/// The screen's three workers (their threads stop when this is dropped).
pub struct Workers {
    pub search: Worker<String, SearchReply>,
    pub preview: Worker<i64, PreviewReply>,
    pub rows: Worker<RowsRequest, RowsReply>,
}

fn open(db: &Path) -> Result<Store, String> {
    Store::open(db, false).map_err(|e| e.to_string())
}

impl Workers {
    pub fn start(db: PathBuf, theme: Option<Theme>, replies: ReplyTx) -> Workers {
        let (db2, db3) = (db.clone(), db.clone());
        let search = Worker::start(
            "codebase-search",
            replies.clone(),
            move || open(&db),
            |store, query: String| {
                let result = match store {
                    Ok(s) => {
                        codebase::search(s.conn(), &query, SEARCH_LIMIT).map_err(|e| e.to_string())
                    }
                    Err(e) => Err(e.clone()),
                };
                (query, result)
            },
        );
        let preview = Worker::start(
            "codebase-preview",
            replies.clone(),
            // Loading the syntax definitions takes a moment: do it here, not at startup.
            move || {
                let syntaxes = theme.as_ref().map(|_| SyntaxSet::load_defaults_newlines());
                (open(&db2), syntaxes, theme)
            },
            |(store, syntaxes, theme), id: i64| match store {
                Ok(s) => load(s, id, syntaxes.as_ref(), theme.as_ref()),
                Err(e) => (id, None, Err(e.clone())),
            },
        );
        let rows = Worker::start(
            "codebase-rows",
            replies,
            move || open(&db3),
            |store, req: RowsRequest| rows(store.as_ref(), req),
        );
        Workers {
            search,
            preview,
            rows,
        }
    }
}

/// Start the workers of a Codebase screen.
pub fn start(db: PathBuf, theme: Option<Theme>, tx: crate::app::events::EventTx) -> Workers {
    Workers::start(db, theme, ReplyTx::new(ScreenId::Codebase, tx))
}

fn rows(store: Result<&Store, &String>, req: RowsRequest) -> RowsReply {
    match req {
        RowsRequest::Summaries { first, last } => RowsReply::Summaries(match store {
            Ok(s) => codebase::summaries_between(s.conn(), first, last).map_err(|e| e.to_string()),
            Err(e) => Err(e.clone()),
        }),
        RowsRequest::Snippets { query, ids } => {
            let terms = codebase::query_terms(&query);
            let snippets = ids
                .into_iter()
                .map(|id| {
                    let text = store
                        .ok()
                        .and_then(|s| codebase::snippet_for(s.conn(), id, &terms).ok())
                        .unwrap_or_default();
                    (id, text)
                })
                .collect();
            RowsReply::Snippets { query, snippets }
        }
    }
}

fn load(
    store: &Store,
    id: i64,
    syntaxes: Option<&SyntaxSet>,
    theme: Option<&Theme>,
) -> PreviewReply {
    let rec = match codebase::get(store.conn(), id) {
        Ok(Some(r)) => r,
        Ok(None) => return (id, None, Err(format!("record {id} is gone"))),
        Err(e) => return (id, None, Err(e.to_string())),
    };
    let summary = codebase::summary(store.conn(), id).ok().flatten();
    (
        id,
        summary,
        Ok(preview::build(&rec.name, &rec.body, syntaxes, theme)),
    )
}
