//! User-facing strings of the TUI that are longer than a word, in one place.

use super::screen::ScreenId;

pub const PLANNED_INTRO: &str = "This tool is not built yet. It will:";

pub const TOO_SMALL: &str = "devsky needs a terminal of at least 80×20.";

pub const SEARCH_PLACEHOLDER: &str = "type to search names and bodies; Enter keeps, Esc clears";

pub const JUMP_PROMPT: &str = "Jump to id: ";

/// What each planned tool will do.
pub fn planned(id: ScreenId) -> (&'static str, &'static [&'static str]) {
    match id {
        ScreenId::Scripts => (
            "Create, build and roll back change scripts.",
            &[
                "turn the difference since a snapshot into a change script (files + SQL)",
                "pair every step with its reverse, from saved pre-images",
                "build (apply) a script with a journal, and roll it back from My Builds",
            ],
        ),
        ScreenId::Compare => (
            "Compare files, snapshots and databases.",
            &[
                "file vs file, snapshot vs working tree, snapshot vs snapshot",
                "unified and side-by-side views, changed words highlighted, hunk navigation",
                "schema and row differences of databases",
            ],
        ),
        ScreenId::Replace => (
            "Search and replace over a domain: files and database.",
            &[
                "preview every change before it is written, with undo through My Builds",
                "keep PHP-serialized strings valid inside database values",
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
        | ScreenId::Jobs
        | ScreenId::Snapshots
        | ScreenId::Query
        | ScreenId::Deploy => ("", &[]),
    }
}
