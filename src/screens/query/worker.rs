//! The Query screen's worker thread: it owns the database connection, so connecting,
//! running SQL and reading the schema never block the UI. Results stream back as
//! [`QueryReply`]s in batches, each carrying the generation of the request; the screen
//! drops replies of older generations.
//!
//! The last statement's rows stop at the row limit: the worker waits inside the
//! result stream (the query stays open, nothing more is read) until the screen asks for
//! more, runs something else, or cancels. So memory is bounded by the limit, not by the
//! size of the result. A ticker thread sends [`QueryReply::Tick`] while a query runs, so
//! the elapsed time on screen moves.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError, Sender, channel};
use std::time::{Duration, Instant};

use crate::app::events::EventTx;
use crate::app::screen::ScreenId;
use crate::app::worker::ReplyTx;
use crate::engine::db::{Canceller, Column, Db, Kind, QueryEvent, SqlError, TableSchema, Value};
use crate::store::Store;

/// Rows per batch sent to the screen (smaller engine batches are merged).
const BATCH: usize = 500;
/// A batch is sent at least this often while rows arrive.
const FLUSH: Duration = Duration::from_millis(50);
/// How often the elapsed time refreshes while a query runs.
const TICK: Duration = Duration::from_millis(200);
/// History entries kept per connection.
const HISTORY_KEEP: i64 = 1_000;

/// Cancels the connection's running query (shared with the screen).
#[derive(Clone)]
pub struct CancelHandle(pub Arc<dyn Canceller>);

impl std::fmt::Debug for CancelHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CancelHandle")
    }
}

/// What the screen asks the worker.
#[derive(Debug)]
pub enum Request {
    Connect {
        generation: u64,
        profile: String,
    },
    /// The answer to [`QueryReply::NeedPassword`]; None when the prompt was closed.
    Password(Option<String>),
    Run {
        generation: u64,
        sql: String,
        /// Rows of the last statement sent before pausing.
        limit: usize,
        /// Statements in `sql` (the last one pauses at the limit).
        statements: usize,
    },
    /// Send `n` more rows of the paused result.
    More {
        generation: u64,
        n: usize,
    },
    /// Stop the query of this generation (the canceller interrupts the server side).
    Cancel {
        generation: u64,
    },
    Tables {
        generation: u64,
    },
}

/// The worker's answer.
#[derive(Debug)]
pub enum QueryReply {
    NeedPassword {
        generation: u64,
        prompt: String,
    },
    Connected {
        generation: u64,
        profile: String,
        describe: String,
        kind: Kind,
        canceller: CancelHandle,
    },
    ConnectFailed {
        generation: u64,
        error: String,
    },
    Statement {
        generation: u64,
        index: usize,
        offset: usize,
        sql: String,
    },
    Columns {
        generation: u64,
        columns: Vec<Column>,
    },
    Rows {
        generation: u64,
        rows: Vec<Vec<Value>>,
    },
    /// The last statement has more rows than were sent; the stream waits.
    Paused {
        generation: u64,
    },
    Resumed {
        generation: u64,
    },
    /// A statement finished: rows it returned (all of them, also those not sent),
    /// rows it changed, time.
    Done {
        generation: u64,
        index: usize,
        rows: u64,
        affected: u64,
        elapsed: Duration,
    },
    /// The whole run finished (error: the failing statement, or the cancellation).
    Finished {
        generation: u64,
        error: Option<SqlError>,
        elapsed: Duration,
    },
    Tables {
        generation: u64,
        tables: Result<Vec<TableSchema>, String>,
    },
    /// Time passes while a query runs.
    Tick {
        generation: u64,
    },
}

/// The handle to the worker thread (it stops when this is dropped).
pub struct Worker {
    tx: Sender<Request>,
}

impl Worker {
    pub fn start(root: PathBuf, db_path: PathBuf, events: EventTx) -> Worker {
        let events = ReplyTx::new(ScreenId::Query, events);
        let (tx, rx) = channel();
        let (tick_tx, tick_rx) = channel();
        let ticker_events = events.clone();
        std::thread::Builder::new()
            .name("query-ticker".into())
            .spawn(move || ticker(tick_rx, ticker_events))
            .expect("spawn query ticker");
        std::thread::Builder::new()
            .name("query-worker".into())
            .spawn(move || {
                let mut w = State {
                    root,
                    db_path,
                    store: None,
                    db: None,
                    profile: String::new(),
                    rx,
                    events,
                    ticker: tick_tx,
                    pending: None,
                    gone: false,
                };
                w.serve();
            })
            .expect("spawn query worker");
        Worker { tx }
    }

    pub fn send(&self, req: Request) {
        let _ = self.tx.send(req);
    }
}

fn ticker(rx: Receiver<Option<u64>>, events: ReplyTx) {
    let mut active: Option<u64> = None;
    loop {
        let msg = match active {
            Some(_) => rx.recv_timeout(TICK),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match msg {
            Ok(m) => active = m,
            Err(RecvTimeoutError::Timeout) => {
                if let Some(generation) = active
                    && !events.send(QueryReply::Tick { generation })
                {
                    break;
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
}

struct State {
    root: PathBuf,
    db_path: PathBuf,
    store: Option<Store>,
    db: Option<Box<dyn Db>>,
    profile: String,
    rx: Receiver<Request>,
    events: ReplyTx,
    ticker: Sender<Option<u64>>,
    /// A request that arrived while something else was going on.
    pending: Option<Request>,
    /// The screen is gone: stop.
    gone: bool,
}

/// Where a run stands, for the sink.
struct Stream {
    generation: u64,
    limit: usize,
    statements: usize,
    index: usize,
    /// Rows of the current statement: seen, sent, allowed to be sent.
    seen: u64,
    sent: usize,
    quota: usize,
    buf: Vec<Vec<Value>>,
    flushed: Instant,
    /// The user stopped it (cancel, or another request while paused).
    stopped: bool,
}

impl State {
    /// Send a reply; false (and `gone`) when the screen is gone.
    fn reply(&mut self, r: QueryReply) -> bool {
        let ok = self.events.send(r);
        self.gone |= !ok;
        ok
    }

    fn store(&mut self) -> anyhow::Result<&mut Store> {
        if self.store.is_none() {
            self.store = Some(Store::open(&self.db_path, false)?);
        }
        Ok(self.store.as_mut().expect("just opened"))
    }

    fn serve(&mut self) {
        loop {
            let req = match self.pending.take() {
                Some(r) => r,
                None => match self.rx.recv() {
                    Ok(r) => r,
                    Err(_) => return,
                },
            };
            let alive = match req {
                Request::Connect {
                    generation,
                    profile,
                } => self.connect(generation, profile),
                Request::Run {
                    generation,
                    sql,
                    limit,
                    statements,
                } => self.run(generation, &sql, limit, statements),
                Request::Tables { generation } => self.tables(generation),
                Request::Password(_) | Request::More { .. } | Request::Cancel { .. } => true,
            };
            if !alive {
                return;
            }
        }
    }

    fn connect(&mut self, generation: u64, profile: String) -> bool {
        self.db = None;
        let root = self.root.clone();
        let result = match self.store() {
            Err(e) => Err(e),
            Ok(_) => {
                let store = self.store.take().expect("opened above");
                let (events, rx) = (&self.events, &self.rx);
                let pending = std::cell::RefCell::new(None);
                let prompt = || -> Option<String> {
                    let r = QueryReply::NeedPassword {
                        generation,
                        prompt: format!("The server refused the login. Password for {profile}:"),
                    };
                    events.send(r).then_some(())?;
                    loop {
                        match rx.recv() {
                            Ok(Request::Password(p)) => return p,
                            Ok(Request::More { .. } | Request::Cancel { .. }) => {}
                            Ok(other) => {
                                *pending.borrow_mut() = Some(other);
                                return None;
                            }
                            Err(_) => return None,
                        }
                    }
                };
                let r = crate::engine::db::profile::connect(&root, &store, &profile, Some(&prompt));
                self.store = Some(store);
                self.pending = pending.into_inner();
                r
            }
        };
        match result {
            Ok(db) => {
                let describe = db.describe();
                let kind = db.kind();
                let canceller = CancelHandle(Arc::from(db.canceller()));
                self.db = Some(db);
                self.profile = profile.clone();
                self.reply(QueryReply::Connected {
                    generation,
                    profile,
                    describe,
                    kind,
                    canceller,
                }) && self.tables(generation)
            }
            Err(e) => self.reply(QueryReply::ConnectFailed {
                generation,
                error: format!("{e:#}"),
            }),
        }
    }

    fn tables(&mut self, generation: u64) -> bool {
        let Some(db) = self.db.as_mut() else {
            return true;
        };
        let tables = db.tables().map_err(|e| format!("{e:#}"));
        self.reply(QueryReply::Tables { generation, tables })
    }

    fn run(&mut self, generation: u64, sql: &str, limit: usize, statements: usize) -> bool {
        let Some(mut db) = self.db.take() else {
            return self.reply(QueryReply::Finished {
                generation,
                error: Some(SqlError {
                    message: "not connected".into(),
                    offset: None,
                    statement: 0,
                    cancelled: false,
                }),
                elapsed: Duration::ZERO,
            });
        };
        let start = Instant::now();
        let _ = self.ticker.send(Some(generation));
        let mut st = Stream {
            generation,
            limit,
            statements: statements.max(1),
            index: 0,
            seen: 0,
            sent: 0,
            quota: limit,
            buf: Vec::new(),
            flushed: Instant::now(),
            stopped: false,
        };
        let result = db.run(sql, &mut |ev| self.on_event(&mut st, ev));
        self.db = Some(db);
        let _ = self.ticker.send(None);
        let elapsed = start.elapsed();
        let error = match result {
            Err(e) => Some(e),
            Ok(()) if st.stopped => Some(SqlError {
                message: "stopped".into(),
                offset: None,
                statement: st.index,
                cancelled: true,
            }),
            Ok(()) => None,
        };
        if self.gone {
            return false;
        }
        let rows = (st.seen > 0).then_some(st.seen);
        self.write_history(sql, elapsed, rows, error.as_ref());
        self.reply(QueryReply::Finished {
            generation,
            error,
            elapsed,
        })
    }

    /// The sink of a run: forward what happens; false stops the query.
    fn on_event(&mut self, st: &mut Stream, ev: QueryEvent) -> bool {
        let generation = st.generation;
        let go = match ev {
            QueryEvent::Statement { index, offset, sql } => {
                st.index = index;
                st.seen = 0;
                st.sent = 0;
                st.quota = st.limit;
                self.reply(QueryReply::Statement {
                    generation,
                    index,
                    offset,
                    sql,
                })
            }
            QueryEvent::Columns(columns) => self.reply(QueryReply::Columns {
                generation,
                columns,
            }),
            QueryEvent::Rows(rows) => self.on_rows(st, rows),
            QueryEvent::Done {
                affected, elapsed, ..
            } => {
                self.flush(st)
                    && self.reply(QueryReply::Done {
                        generation,
                        index: st.index,
                        rows: st.seen,
                        affected,
                        elapsed,
                    })
            }
        };
        if !go {
            return false;
        }
        // Anything for us meanwhile? (cancel, or a new request that ends this one)
        while let Ok(req) = self.rx.try_recv() {
            match req {
                Request::More { generation: g, n } if g == generation => st.quota += n,
                Request::More { .. } | Request::Password(_) => {}
                Request::Cancel { generation: g } if g != generation => {}
                Request::Cancel { .. } => {
                    st.stopped = true;
                    return false;
                }
                other => {
                    self.pending = Some(other);
                    st.stopped = true;
                    return false;
                }
            }
        }
        true
    }

    fn flush(&mut self, st: &mut Stream) -> bool {
        st.flushed = Instant::now();
        if st.buf.is_empty() {
            return true;
        }
        let rows = std::mem::take(&mut st.buf);
        self.reply(QueryReply::Rows {
            generation: st.generation,
            rows,
        })
    }

    fn on_rows(&mut self, st: &mut Stream, mut rows: Vec<Vec<Value>>) -> bool {
        st.seen += rows.len() as u64;
        let room = st.quota.saturating_sub(st.sent);
        let rest = if rows.len() > room {
            rows.split_off(room)
        } else {
            Vec::new()
        };
        st.sent += rows.len();
        st.buf.extend(rows);
        if (st.buf.len() >= BATCH || st.flushed.elapsed() >= FLUSH || !rest.is_empty())
            && !self.flush(st)
        {
            return false;
        }
        if rest.is_empty() {
            return true;
        }
        if st.index + 1 < st.statements {
            // Not the last statement: what is past the limit is counted, not kept.
            return true;
        }
        self.pause(st, rest)
    }

    /// Wait with `rest` in hand until the screen wants more rows or something else.
    fn pause(&mut self, st: &mut Stream, mut rest: Vec<Vec<Value>>) -> bool {
        let generation = st.generation;
        let _ = self.ticker.send(None);
        if !self.reply(QueryReply::Paused { generation }) {
            return false;
        }
        loop {
            match self.rx.recv() {
                Ok(Request::More { generation: g, n }) if g == generation => {
                    st.quota += n;
                    let take = n.min(rest.len());
                    let tail = rest.split_off(take);
                    st.sent += rest.len();
                    st.buf.extend(rest);
                    rest = tail;
                    if !self.flush(st) {
                        return false;
                    }
                    if rest.is_empty() {
                        let _ = self.ticker.send(Some(generation));
                        return self.reply(QueryReply::Resumed { generation });
                    }
                    if !self.reply(QueryReply::Paused { generation }) {
                        return false;
                    }
                }
                Ok(Request::More { .. } | Request::Password(_)) => {}
                Ok(Request::Cancel { generation: g }) if g != generation => {}
                Ok(Request::Cancel { .. }) => {
                    st.stopped = true;
                    return false;
                }
                Ok(other) => {
                    self.pending = Some(other);
                    st.stopped = true;
                    return false;
                }
                Err(_) => {
                    self.gone = true;
                    return false;
                }
            }
        }
    }

    fn write_history(
        &mut self,
        sql: &str,
        elapsed: Duration,
        rows: Option<u64>,
        error: Option<&SqlError>,
    ) {
        let profile = self.profile.clone();
        let Ok(store) = self.store() else { return };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let _ = store.write(|tx| {
            tx.execute(
                "INSERT INTO _dev_query_history (profile, sql, ran_at, elapsed_ms, rows, error) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                rusqlite::params![
                    profile,
                    sql,
                    now,
                    elapsed.as_millis() as i64,
                    rows.map(|r| r as i64),
                    error.map(|e| e.message.clone()),
                ],
            )?;
            tx.execute(
                "DELETE FROM _dev_query_history WHERE profile = ?1 AND id <= \
                 (SELECT id FROM _dev_query_history WHERE profile = ?1 \
                  ORDER BY id DESC LIMIT 1 OFFSET ?2)",
                rusqlite::params![profile, HISTORY_KEEP],
            )?;
            Ok(())
        });
    }
}
