//! The TUI shell: event loop, screens, keymap, command registry, theme, shared widgets.

pub mod clipboard;
pub mod commands;
pub mod context;
pub mod events;
pub mod harness;
pub mod input;
pub mod jobtable;
pub mod keymap;
pub mod popups;
pub mod run;
pub mod shell;
pub mod strings;
pub mod terminal;
pub mod theme;
pub mod widgets;

pub use run::{TuiOptions, run_tui};
