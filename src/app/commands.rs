//! The command registry: every action of the TUI, once. The keymap, the hint bar, the
//! help popup, the command palette and `devsky keys` are all generated from this table,
//! so a rebinding shows up everywhere at once.

use crate::screens::ScreenId;

/// Where a command applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Everywhere (unless the current screen binds the same key).
    Global,
    /// Only on one screen.
    Screen(ScreenId),
}

impl Scope {
    pub fn label(self) -> &'static str {
        match self {
            Scope::Global => "global",
            Scope::Screen(s) => s.title(),
        }
    }
}

/// One action.
#[derive(Debug, Clone, Copy)]
pub struct CommandDef {
    /// Stable id, used in keymap.toml (`"codebase.search" = ["/"]`).
    pub id: &'static str,
    /// What it does, as the palette and help show it.
    pub title: &'static str,
    pub scope: Scope,
    /// Default keys (see [`super::keymap::KeyCombo::parse`] for the syntax).
    pub keys: &'static [&'static str],
    /// Short label for the hint bar; empty when the command is not hinted.
    pub hint: &'static str,
}

const fn cmd(
    id: &'static str,
    title: &'static str,
    scope: Scope,
    keys: &'static [&'static str],
    hint: &'static str,
) -> CommandDef {
    CommandDef {
        id,
        title,
        scope,
        keys,
        hint,
    }
}

use Scope::Global as G;
const CB: Scope = Scope::Screen(ScreenId::Codebase);
const JB: Scope = Scope::Screen(ScreenId::Jobs);
const CMP: Scope = Scope::Screen(ScreenId::Compare);
const SN: Scope = Scope::Screen(ScreenId::Snapshots);
const QY: Scope = Scope::Screen(ScreenId::Query);
const DP: Scope = Scope::Screen(ScreenId::Deploy);

/// Every command, in the order help and the palette list them.
pub const COMMANDS: &[CommandDef] = &[
    // Tools of the palette
    cmd("screen.codebase", "Go to Codebase", G, &["1"], ""),
    cmd("screen.snapshots", "Go to Snapshots", G, &["2"], ""),
    cmd("screen.scripts", "Go to Scripts", G, &["3"], ""),
    cmd("screen.compare", "Go to Compare", G, &["4"], ""),
    cmd("screen.query", "Go to Query", G, &["5"], ""),
    cmd("screen.replace", "Go to Replace", G, &["6"], ""),
    cmd("screen.packages", "Go to Packages", G, &["7"], ""),
    cmd("screen.deploy", "Go to Deploy", G, &["8"], ""),
    cmd("screen.jobs", "Go to Jobs", G, &["9"], ""),
    cmd("app.next_screen", "Next tool", G, &["]"], ""),
    cmd("app.prev_screen", "Previous tool", G, &["["], ""),
    // The shell
    cmd(
        "app.help",
        "Help: keys of this screen",
        G,
        &["?", "f1"],
        "help",
    ),
    cmd(
        "app.palette",
        "Command palette",
        G,
        &[":", "ctrl-p"],
        "commands",
    ),
    cmd("app.back", "Back", G, &["esc"], ""),
    cmd("app.quit", "Quit", G, &["q", "ctrl-c"], "quit"),
    cmd(
        "app.toggle_sidebar",
        "Show or hide the sidebar",
        G,
        &["ctrl-b"],
        "",
    ),
    cmd("app.redraw", "Redraw the screen", G, &["ctrl-l"], ""),
    cmd(
        "jobs.cancel_latest",
        "Cancel the newest running job",
        G,
        &["ctrl-x"],
        "",
    ),
    // Moving in lists (every screen with a list)
    cmd("nav.down", "Down", G, &["j", "down"], ""),
    cmd("nav.up", "Up", G, &["k", "up"], ""),
    cmd("nav.page_down", "Page down", G, &["ctrl-d", "pagedown"], ""),
    cmd("nav.page_up", "Page up", G, &["ctrl-u", "pageup"], ""),
    cmd("nav.top", "First", G, &["g", "home"], ""),
    cmd("nav.bottom", "Last", G, &["G", "end"], ""),
    cmd("nav.focus", "Next pane", G, &["tab"], ""),
    // Codebase
    cmd(
        "codebase.search",
        "Search the codebase",
        CB,
        &["/"],
        "search",
    ),
    cmd("codebase.jump", "Jump to record id", CB, &["#"], "jump"),
    cmd(
        "codebase.details",
        "Record details",
        CB,
        &["enter"],
        "details",
    ),
    cmd(
        "codebase.copy_name",
        "Copy the record's name",
        CB,
        &["y"],
        "copy",
    ),
    cmd(
        "codebase.copy_body",
        "Copy the record's body",
        CB,
        &["Y"],
        "",
    ),
    cmd(
        "codebase.import",
        "Import the project's files",
        CB,
        &["i"],
        "import",
    ),
    cmd("codebase.clear", "Clear the search", CB, &["ctrl-r"], ""),
    // Snapshots
    cmd(
        "snapshots.create",
        "Take a snapshot (whole project or a domain)",
        SN,
        &["c"],
        "snapshot",
    ),
    cmd(
        "snapshots.delete",
        "Delete the selected snapshot",
        SN,
        &["d", "delete"],
        "delete",
    ),
    cmd(
        "snapshots.diff",
        "Diff against the working tree (or the marked snapshot against this one)",
        SN,
        &["enter"],
        "diff",
    ),
    cmd(
        "snapshots.mark",
        "Mark the snapshot as the old side of a diff",
        SN,
        &["m"],
        "mark",
    ),
    cmd("snapshots.reload", "Reload the list", SN, &["r"], ""),
    // Compare
    cmd("compare.open", "Compare two files", CMP, &["o"], "open"),
    cmd(
        "compare.toggle_view",
        "Unified or side-by-side diff",
        CMP,
        &["s"],
        "side by side",
    ),
    cmd(
        "compare.next_hunk",
        "Next change in the file",
        CMP,
        &["n"],
        "next change",
    ),
    cmd(
        "compare.prev_hunk",
        "Previous change in the file",
        CMP,
        &["N"],
        "",
    ),
    cmd(
        "compare.expand",
        "Expand or collapse unchanged lines",
        CMP,
        &["e"],
        "expand",
    ),
    cmd(
        "compare.toggle_list",
        "Hide or show the file list",
        CMP,
        &["f"],
        "",
    ),
    cmd(
        "compare.copy_patch",
        "Copy the file's diff as a patch",
        CMP,
        &["y"],
        "",
    ),
    // Query
    cmd(
        "query.run",
        "Run the statement under the cursor",
        QY,
        &["ctrl-r", "f5"],
        "run",
    ),
    cmd(
        "query.run_all",
        "Run everything (or the selection)",
        QY,
        &["ctrl-e"],
        "run all",
    ),
    cmd(
        "query.connect",
        "Choose a database connection",
        QY,
        &["c"],
        "connect",
    ),
    cmd(
        "query.schema",
        "Browse tables, columns and indexes",
        QY,
        &["s"],
        "schema",
    ),
    cmd(
        "query.history",
        "Queries run on this connection",
        QY,
        &["ctrl-h"],
        "",
    ),
    cmd(
        "query.more",
        "Fetch more rows of the result",
        QY,
        &["m"],
        "",
    ),
    cmd("query.copy_cell", "Copy the selected cell", QY, &["y"], ""),
    cmd("query.copy_row", "Copy the selected row", QY, &["Y"], ""),
    cmd(
        "query.export",
        "Export the result as CSV or JSON",
        QY,
        &["x"],
        "",
    ),
    cmd("query.edit", "Edit the SQL", QY, &["i"], ""),
    cmd(
        "query.cancel",
        "Cancel the running query",
        QY,
        &["ctrl-c"],
        "",
    ),
    cmd("query.left", "Column to the left", QY, &["h", "left"], ""),
    cmd(
        "query.right",
        "Column to the right",
        QY,
        &["l", "right"],
        "",
    ),
    // Deploy
    cmd(
        "deploy.plan",
        "Ask the server for its map: what to upload and delete",
        DP,
        &["p"],
        "plan",
    ),
    cmd(
        "deploy.toggle",
        "Tick or untick the file (or everything under the folder)",
        DP,
        &["space"],
        "tick",
    ),
    cmd("deploy.filter", "Filter the file lists", DP, &["/"], ""),
    cmd(
        "deploy.build",
        "Build the package of what is ticked",
        DP,
        &["b"],
        "package",
    ),
    cmd(
        "deploy.deploy",
        "Deploy what is ticked (asks first)",
        DP,
        &["D"],
        "deploy",
    ),
    cmd(
        "deploy.next_tab",
        "Next tab: Files, Database, History",
        DP,
        &["t"],
        "tab",
    ),
    cmd(
        "deploy.rollback",
        "Roll back to the selected deployment (History)",
        DP,
        &["r"],
        "",
    ),
    cmd(
        "deploy.undo",
        "Undo the current deployment: back to the one before it (History)",
        DP,
        &["u"],
        "",
    ),
    cmd(
        "deploy.log_up",
        "Scroll the log up (Tab to the log pane first)",
        DP,
        &["pageup", "ctrl-u"],
        "",
    ),
    cmd(
        "deploy.log_down",
        "Scroll the log down; at the end it follows again",
        DP,
        &["pagedown", "ctrl-d"],
        "",
    ),
    cmd(
        "deploy.refresh",
        "Reload the servers, status and history",
        DP,
        &["R"],
        "",
    ),
    // Jobs
    cmd(
        "jobs.cancel",
        "Cancel the selected job",
        JB,
        &["esc", "x", "delete"],
        "cancel",
    ),
    cmd(
        "jobs.clear",
        "Remove finished jobs from the list",
        JB,
        &["c"],
        "clear",
    ),
];

/// The command with this id.
pub fn find(id: &str) -> Option<&'static CommandDef> {
    COMMANDS.iter().find(|c| c.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_dotted() {
        let mut seen = HashSet::new();
        for c in COMMANDS {
            assert!(seen.insert(c.id), "duplicate command id {}", c.id);
            assert!(c.id.contains('.'), "{}", c.id);
        }
    }

    #[test]
    fn every_screen_has_a_switch_command() {
        for s in ScreenId::ALL {
            assert!(find(&s.command_id()).is_some(), "{s:?}");
        }
    }
}
