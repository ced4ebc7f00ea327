//! The internal event queue: everything the event loop reacts to arrives as an [`AppEvent`]
//! on one channel (terminal input, job reports, results of background work).

use crossterm::event::Event;

use crate::engine::jobs::JobEvent;
use crate::screens::codebase::worker::WorkerReply;

/// One thing that happened.
#[derive(Debug)]
pub enum AppEvent {
    /// A key, a resize, a paste from the terminal.
    Term(Event),
    /// A background job reported.
    Job(JobEvent),
    /// The Codebase screen's search or preview worker answered.
    Codebase(Box<WorkerReply>),
    /// A set of changes to show in Compare (sent by the shell after switching there).
    ShowChanges(std::sync::Arc<crate::engine::diff::changes::ChangeSet>),
    Compare(Box<crate::screens::compare::worker::CompareReply>),
    /// A snapshot job's result (a new snapshot's id, a diff).
    Snapshots(Box<crate::screens::snapshots::SnapshotsReply>),
    /// The Query screen's worker answered (connection, rows, ticks while a query runs).
    Query(Box<crate::screens::query::worker::QueryReply>),
    /// The Deploy screen's jobs answered (plan, package, log lines, status, history).
    Deploy(Box<crate::screens::deploy::DeployReply>),
    /// The terminal input reader stopped (the terminal went away).
    InputClosed,
}

/// Where events are sent.
pub type EventTx = std::sync::mpsc::Sender<AppEvent>;
