//! The shared sync engine: UI-free operations used by the TUI, the CLI and the server.
//! One folder per capability; nothing here imports `app`, `screens`, `cli` or `server`
//! (tests/layout.rs checks it).

pub mod bin;
pub mod codebase;
pub mod db;
pub mod deploy;
pub mod diff;
pub mod jobs;
pub mod map;
pub mod packages;
pub mod project;
pub mod registry;
pub mod remote;
pub mod replace;
pub mod scripts;
pub mod snapshot;
pub mod tasks;
pub mod util;
pub mod webhooks;
