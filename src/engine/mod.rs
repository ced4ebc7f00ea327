//! The shared sync engine: UI-free operations used by the TUI, the CLI and the server.

pub mod demo;
pub mod import;
pub mod jobs;
pub mod project;
pub mod units;
