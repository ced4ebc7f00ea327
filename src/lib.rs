//! devsky: a keyboard-driven terminal workbench for web developers.
//!
//! The crate is layered one way: `shell -> screens -> app -> engine -> store`, `cli -> engine`,
//! `server -> engine`,
//! `registry -> engine` (the team registry's server). The engine never depends on the TUI or the CLI.

pub mod app;
pub mod cli;
pub mod engine;
pub mod registry;
pub mod screens;
pub mod server;
pub mod shell;
pub mod store;
