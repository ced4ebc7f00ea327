//! The tools of the palette, one module each. A screen is a thin view: it turns commands
//! and keys into engine calls, and engine results into widgets.

pub mod codebase;
pub mod compare;
pub mod deploy;
pub mod jobs;
pub mod packages;
pub mod query;
pub mod replace;
pub mod scripts;
pub mod snapshots;

pub use crate::app::screen::{Screen, ScreenId};
