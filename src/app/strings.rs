//! User-facing strings of the TUI that are longer than a word, in one place.

use super::screen::ScreenId;

pub const PLANNED_INTRO: &str = "This tool is not built yet. It will:";

pub const TOO_SMALL: &str = "devsky needs a terminal of at least 80×20.";

pub const SEARCH_PLACEHOLDER: &str = "type to search names and bodies; Enter keeps, Esc clears";

pub const JUMP_PROMPT: &str = "Jump to id: ";

/// What each planned tool will do.
pub fn planned(id: ScreenId) -> (&'static str, &'static [&'static str]) {
    match id {
        ScreenId::Compare => (
            "Compare files, snapshots and databases.",
            &[
                "file vs file, snapshot vs working tree, snapshot vs snapshot",
                "unified and side-by-side views, changed words highlighted, hunk navigation",
                "schema and row differences of databases",
            ],
        ),
        ScreenId::Packages => (
            "Packages: update from and submit to the team registry.",
            &[
                "build *.sky packages (app, depends, included, priorun) from codebase records",
                "resolve versions, sync incrementally, pin release snapshots",
                "claim records (\"taken into work\") for up to 3 days",
            ],
        ),
        ScreenId::Codebase
        | ScreenId::Scripts
        | ScreenId::Replace
        | ScreenId::Jobs
        | ScreenId::Snapshots
        | ScreenId::Query
        | ScreenId::Deploy => ("", &[]),
    }
}
