//! The shared sync engine: UI-free operations used by the TUI, the CLI and the server.

pub mod changes;
pub mod db;
pub mod demo;
pub mod deploy;
pub mod import;
pub mod jobs;
pub mod map;
pub mod objects;
pub mod project;
pub mod remote;
pub mod snapshot;
pub mod testhooks;
pub mod textdiff;
pub mod units;
pub mod walk;
