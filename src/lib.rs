//! devsky: a keyboard-driven terminal workbench for web developers.
//!
//! The crate is layered one way: `shell -> screens -> app -> engine -> store`, `cli -> engine`,
//! `server -> engine`. The engine never depends on the TUI or the CLI.

pub mod app;
pub mod cli;
pub mod engine;
pub mod screens;
pub mod server;
pub mod shell;
pub mod store;
