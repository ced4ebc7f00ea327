//! The TUI framework ("screen kit"): what every screen builds on — the [`screen::Screen`]
//! trait, contexts, the event queue, keys and the command registry, theme, widgets, text
//! input, clipboard, the job table, workers with generation tickets, list navigation.
//! It never imports `crate::screens` or `crate::shell`; the shell (`crate::shell`) hosts
//! the screens and sits above both (a test in tests/layout.rs keeps it so).

pub mod chord;
pub mod clipboard;
pub mod commands;
pub mod context;
pub mod events;
pub mod input;
pub mod jobtable;
pub mod keymap;
pub mod listnav;
pub mod mouse;
pub mod popups;
pub mod screen;
pub mod strings;
pub mod terminal;
pub mod theme;
pub mod widgets;
pub mod worker;
