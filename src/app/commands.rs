//! The command registry: every action of the TUI, once. The keymap, the hint bar, the
//! help popup, the command palette and `devsky keys` are all generated from this table,
//! so a rebinding shows up everywhere at once.

use super::screen::ScreenId;

/// Declares [`Cmd`]: one variant per action, with its stable text id.
macro_rules! commands {
    ($($variant:ident = $id:literal,)*) => {
        /// An action of the TUI. Screens match on these, so a binding or a handler of an
        /// action that does not exist does not compile; keymap.toml names them by [`Cmd::id`].
        ///
        /// ```compile_fail
        /// // There is no such action: this does not compile.
        /// let _ = devsky::app::commands::Cmd::AppTeleport;
        /// ```
        ///
        /// ```
        /// use devsky::app::commands::Cmd;
        /// assert_eq!(Cmd::from_id("app.quit"), Some(Cmd::AppQuit));
        /// assert_eq!(Cmd::from_id("app.teleport"), None);
        /// ```
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Cmd {
            $($variant,)*
        }

        impl Cmd {
            /// Every action, in declaration order.
            pub const ALL: &'static [Cmd] = &[$(Cmd::$variant,)*];

            /// The stable text id (`"codebase.search"`), as keymap.toml and `devsky keys` use it.
            pub fn id(self) -> &'static str {
                match self {
                    $(Cmd::$variant => $id,)*
                }
            }
        }
    };
}

commands! {
    ScreenCodebase = "screen.codebase",
    ScreenSnapshots = "screen.snapshots",
    ScreenScripts = "screen.scripts",
    ScreenCompare = "screen.compare",
    ScreenQuery = "screen.query",
    ScreenReplace = "screen.replace",
    ScreenPackages = "screen.packages",
    ScreenDeploy = "screen.deploy",
    ScreenJobs = "screen.jobs",
    AppNextScreen = "app.next_screen",
    AppPrevScreen = "app.prev_screen",
    AppHelp = "app.help",
    AppPalette = "app.palette",
    AppBack = "app.back",
    AppQuit = "app.quit",
    AppToggleSidebar = "app.toggle_sidebar",
    AppRedraw = "app.redraw",
    JobsCancelLatest = "jobs.cancel_latest",
    NavDown = "nav.down",
    NavUp = "nav.up",
    NavPageDown = "nav.page_down",
    NavPageUp = "nav.page_up",
    NavTop = "nav.top",
    NavBottom = "nav.bottom",
    NavFocus = "nav.focus",
    CodebaseSearch = "codebase.search",
    CodebaseJump = "codebase.jump",
    CodebaseDetails = "codebase.details",
    CodebaseCopyName = "codebase.copy_name",
    CodebaseCopyBody = "codebase.copy_body",
    CodebaseImport = "codebase.import",
    CodebaseClear = "codebase.clear",
    CodebaseClaim = "codebase.claim",
    CodebaseMark = "codebase.mark",
    SnapshotsCreate = "snapshots.create",
    SnapshotsDelete = "snapshots.delete",
    SnapshotsDiff = "snapshots.diff",
    SnapshotsMark = "snapshots.mark",
    SnapshotsReload = "snapshots.reload",
    SnapshotsTables = "snapshots.tables",
    SnapshotsVerify = "snapshots.verify",
    ScriptsCreate = "scripts.create",
    ScriptsPreview = "scripts.preview",
    ScriptsBuild = "scripts.build",
    ScriptsRollback = "scripts.rollback",
    ScriptsWind = "scripts.wind",
    ScriptsArchive = "scripts.archive",
    ScriptsReload = "scripts.reload",
    ScriptsBin = "scripts.bin",
    ScriptsRestore = "scripts.restore",
    PackagesSync = "packages.sync",
    PackagesInstall = "packages.install",
    PackagesSubmit = "packages.submit",
    PackagesReload = "packages.reload",
    PackagesRelease = "packages.release",
    ReplaceEdit = "replace.edit",
    ReplaceToggle = "replace.toggle",
    ReplaceScope = "replace.scope",
    ReplaceRegex = "replace.regex",
    ReplaceCase = "replace.case",
    ReplaceWord = "replace.word",
    ReplaceApply = "replace.apply",
    ReplaceUndo = "replace.undo",
    ReplaceStop = "replace.stop",
    ReplaceTab = "replace.tab",
    ReplaceTaskRun = "replace.task_run",
    ReplaceTaskExport = "replace.task_export",
    CompareOpen = "compare.open",
    CompareToggleView = "compare.toggle_view",
    CompareNextHunk = "compare.next_hunk",
    ComparePrevHunk = "compare.prev_hunk",
    CompareExpand = "compare.expand",
    CompareToggleList = "compare.toggle_list",
    CompareCopyPatch = "compare.copy_patch",
    CompareLeft = "compare.left",
    CompareRight = "compare.right",
    CompareWrap = "compare.wrap",
    CompareHalfLeft = "compare.half_left",
    CompareHalfRight = "compare.half_right",
    QueryRun = "query.run",
    QueryRunAll = "query.run_all",
    QueryConnect = "query.connect",
    QuerySchema = "query.schema",
    QueryHistory = "query.history",
    QueryMore = "query.more",
    QueryCopyCell = "query.copy_cell",
    QueryCopyRow = "query.copy_row",
    QueryExport = "query.export",
    QueryEdit = "query.edit",
    QueryCancel = "query.cancel",
    QueryLeft = "query.left",
    QueryRight = "query.right",
    DeployPlan = "deploy.plan",
    DeployToggle = "deploy.toggle",
    DeployFilter = "deploy.filter",
    DeployBuild = "deploy.build",
    DeployDeploy = "deploy.deploy",
    DeployNextTab = "deploy.next_tab",
    DeployRollback = "deploy.rollback",
    DeployUndo = "deploy.undo",
    DeployLogUp = "deploy.log_up",
    DeployLogDown = "deploy.log_down",
    DeployRefresh = "deploy.refresh",
    DeployShowLog = "deploy.show_log",
    JobsCancel = "jobs.cancel",
    JobsClear = "jobs.clear",
}

impl Cmd {
    /// The action with this text id (keymap.toml), if there is one.
    pub fn from_id(id: &str) -> Option<Cmd> {
        Cmd::ALL.iter().copied().find(|c| c.id() == id)
    }

    /// One of the `nav.*` actions that every list understands.
    pub fn is_nav(self) -> bool {
        self.id().starts_with("nav.")
    }
}

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
    /// The action; its text id is used in keymap.toml (`"codebase.search" = ["/"]`).
    pub cmd: Cmd,
    /// What it does, as the palette and help show it.
    pub title: &'static str,
    pub scope: Scope,
    /// Default keys (see [`super::keymap::KeySeq::parse`] for the syntax: a key, or a
    /// chord like `"z h"`).
    pub keys: &'static [&'static str],
    /// Short label for the hint bar; empty when the command is not hinted.
    pub hint: &'static str,
}

const fn cmd(
    cmd: Cmd,
    title: &'static str,
    scope: Scope,
    keys: &'static [&'static str],
    hint: &'static str,
) -> CommandDef {
    CommandDef {
        cmd,
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
const SC: Scope = Scope::Screen(ScreenId::Scripts);
const RP: Scope = Scope::Screen(ScreenId::Replace);
const QY: Scope = Scope::Screen(ScreenId::Query);
const DP: Scope = Scope::Screen(ScreenId::Deploy);
const PK: Scope = Scope::Screen(ScreenId::Packages);

/// Every command, in the order help and the palette list them.
pub const COMMANDS: &[CommandDef] = &[
    // Tools of the palette
    cmd(Cmd::ScreenCodebase, "Go to Codebase", G, &["1"], ""),
    cmd(Cmd::ScreenSnapshots, "Go to Snapshots", G, &["2"], ""),
    cmd(Cmd::ScreenScripts, "Go to Scripts", G, &["3"], ""),
    cmd(Cmd::ScreenCompare, "Go to Compare", G, &["4"], ""),
    cmd(Cmd::ScreenQuery, "Go to Query", G, &["5"], ""),
    cmd(Cmd::ScreenReplace, "Go to Replace", G, &["6"], ""),
    cmd(Cmd::ScreenPackages, "Go to Packages", G, &["7"], ""),
    cmd(Cmd::ScreenDeploy, "Go to Deploy", G, &["8"], ""),
    cmd(Cmd::ScreenJobs, "Go to Jobs", G, &["9"], ""),
    cmd(Cmd::AppNextScreen, "Next tool", G, &["]"], ""),
    cmd(Cmd::AppPrevScreen, "Previous tool", G, &["["], ""),
    // The shell
    cmd(
        Cmd::AppHelp,
        "Help: keys of this screen",
        G,
        &["?", "f1"],
        "help",
    ),
    cmd(
        Cmd::AppPalette,
        "Command palette",
        G,
        &[":", "ctrl-p"],
        "commands",
    ),
    cmd(Cmd::AppBack, "Back", G, &["esc"], ""),
    cmd(Cmd::AppQuit, "Quit", G, &["q", "ctrl-c"], "quit"),
    cmd(
        Cmd::AppToggleSidebar,
        "Show or hide the sidebar",
        G,
        &["ctrl-b"],
        "",
    ),
    cmd(Cmd::AppRedraw, "Redraw the screen", G, &["ctrl-l"], ""),
    cmd(
        Cmd::JobsCancelLatest,
        "Cancel the newest running job (asks first)",
        G,
        &["ctrl-x"],
        "",
    ),
    // Moving in lists (every screen with a list)
    cmd(Cmd::NavDown, "Down", G, &["j", "down"], ""),
    cmd(Cmd::NavUp, "Up", G, &["k", "up"], ""),
    cmd(
        Cmd::NavPageDown,
        "Page down",
        G,
        &["ctrl-d", "pagedown"],
        "",
    ),
    cmd(Cmd::NavPageUp, "Page up", G, &["ctrl-u", "pageup"], ""),
    cmd(Cmd::NavTop, "First", G, &["g", "home"], ""),
    cmd(Cmd::NavBottom, "Last", G, &["G", "end"], ""),
    cmd(Cmd::NavFocus, "Next pane", G, &["tab"], ""),
    // Codebase
    cmd(
        Cmd::CodebaseSearch,
        "Search the codebase",
        CB,
        &["/"],
        "search",
    ),
    cmd(Cmd::CodebaseJump, "Jump to record id", CB, &["#"], "jump"),
    cmd(
        Cmd::CodebaseDetails,
        "Record details",
        CB,
        &["enter"],
        "details",
    ),
    cmd(
        Cmd::CodebaseCopyName,
        "Copy the record's name",
        CB,
        &["y"],
        "copy",
    ),
    cmd(
        Cmd::CodebaseCopyBody,
        "Copy the record's body",
        CB,
        &["Y"],
        "",
    ),
    cmd(
        Cmd::CodebaseImport,
        "Import the project's files",
        CB,
        &["i"],
        "import",
    ),
    cmd(Cmd::CodebaseClear, "Clear the search", CB, &["ctrl-r"], ""),
    cmd(
        Cmd::CodebaseClaim,
        "Take the marked records (or the selected one) into work on the registry, or release them",
        CB,
        &["c"],
        "claim",
    ),
    cmd(
        Cmd::CodebaseMark,
        "Mark the record for a claim",
        CB,
        &["space"],
        "",
    ),
    // Packages
    cmd(
        Cmd::PackagesSync,
        "Sync the registry's index",
        PK,
        &["u"],
        "sync",
    ),
    cmd(
        Cmd::PackagesInstall,
        "Install the package's newest version (shows the resolution first)",
        PK,
        &["i"],
        "install",
    ),
    cmd(
        Cmd::PackagesSubmit,
        "Submit the package (shows the Tune report first)",
        PK,
        &["s"],
        "submit",
    ),
    cmd(Cmd::PackagesReload, "Reload the lists", PK, &["r"], ""),
    cmd(
        Cmd::PackagesRelease,
        "Install a release snapshot: its exact versions (pick from the registry's releases)",
        PK,
        &["R"],
        "release",
    ),
    // Snapshots
    cmd(
        Cmd::SnapshotsCreate,
        "Take a snapshot (whole project or a domain)",
        SN,
        &["c"],
        "snapshot",
    ),
    cmd(
        Cmd::SnapshotsDelete,
        "Delete the selected snapshot",
        SN,
        &["d", "delete"],
        "delete",
    ),
    cmd(
        Cmd::SnapshotsDiff,
        "Diff against the working tree (or the marked snapshot against this one)",
        SN,
        &["enter"],
        "diff",
    ),
    cmd(
        Cmd::SnapshotsMark,
        "Mark the snapshot as the old side of a diff",
        SN,
        &["m"],
        "mark",
    ),
    cmd(Cmd::SnapshotsReload, "Reload the list", SN, &["r"], ""),
    cmd(
        Cmd::SnapshotsTables,
        "Table modes of the snapshot's database: full rows or checksums only",
        SN,
        &["t"],
        "tables",
    ),
    cmd(
        Cmd::SnapshotsVerify,
        "Verify the database script on a scratch copy (to the database now, or the marked snapshot to this one)",
        SN,
        &["v"],
        "verify",
    ),
    // Compare
    // Scripts
    cmd(
        Cmd::ScriptsCreate,
        "Create a script from a snapshot to the working tree (or to another snapshot)",
        SC,
        &["c"],
        "create",
    ),
    cmd(
        Cmd::ScriptsPreview,
        "Show the script's files and SQL in Compare",
        SC,
        &["enter"],
        "show",
    ),
    cmd(
        Cmd::ScriptsBuild,
        "Build (apply) the script to a target folder and database",
        SC,
        &["b"],
        "build",
    ),
    cmd(
        Cmd::ScriptsRollback,
        "Roll back the selected build (asks first)",
        SC,
        &["u"],
        "rollback",
    ),
    cmd(
        Cmd::ScriptsWind,
        "Export the script as a wind: one standalone sh script",
        SC,
        &["w"],
        "wind",
    ),
    cmd(
        Cmd::ScriptsArchive,
        "Export the script as a package archive (.sky)",
        SC,
        &["e"],
        "archive",
    ),
    cmd(
        Cmd::ScriptsReload,
        "Reload scripts and builds",
        SC,
        &["r"],
        "",
    ),
    cmd(
        Cmd::ScriptsBin,
        "The lower pane: My Builds or the Recycle bin",
        SC,
        &["v"],
        "",
    ),
    cmd(
        Cmd::ScriptsRestore,
        "Restore the selected file of the Recycle bin (asks first)",
        SC,
        &["R"],
        "",
    ),
    // Replace
    cmd(
        Cmd::ReplaceEdit,
        "Edit the pattern and the replacement (enter searches)",
        RP,
        &["/"],
        "find",
    ),
    cmd(
        Cmd::ReplaceToggle,
        "Tick or untick the match",
        RP,
        &["space"],
        "tick",
    ),
    cmd(
        Cmd::ReplaceScope,
        "Where to search: files, files and a database, a database",
        RP,
        &["s"],
        "scope",
    ),
    cmd(Cmd::ReplaceRegex, "Regex on or off", RP, &["x"], ""),
    cmd(Cmd::ReplaceCase, "Ignore case on or off", RP, &["i"], ""),
    cmd(Cmd::ReplaceWord, "Whole words on or off", RP, &["w"], ""),
    cmd(
        Cmd::ReplaceApply,
        "Apply the ticked replacements (asks first)",
        RP,
        &["A"],
        "apply",
    ),
    cmd(
        Cmd::ReplaceUndo,
        "Undo the last replace (asks first)",
        RP,
        &["u"],
        "undo",
    ),
    cmd(
        Cmd::ReplaceStop,
        "Stop the running search (Tasks: cancel the running task)",
        RP,
        &["ctrl-c"],
        "",
    ),
    cmd(
        Cmd::ReplaceTab,
        "Replace or Tasks: mass tasks over the files (checksums, sizes, lines, ...)",
        RP,
        &["t"],
        "tasks",
    ),
    cmd(
        Cmd::ReplaceTaskRun,
        "Tasks: run the selected task as a job",
        RP,
        &["enter"],
        "",
    ),
    cmd(
        Cmd::ReplaceTaskExport,
        "Tasks: export the result table as CSV or JSON",
        RP,
        &["e"],
        "",
    ),
    cmd(Cmd::CompareOpen, "Compare two files", CMP, &["o"], "open"),
    cmd(
        Cmd::CompareToggleView,
        "Unified or side-by-side diff",
        CMP,
        &["s"],
        "side by side",
    ),
    cmd(
        Cmd::CompareNextHunk,
        "Next change in the file",
        CMP,
        &["n"],
        "next change",
    ),
    cmd(
        Cmd::ComparePrevHunk,
        "Previous change in the file",
        CMP,
        &["N"],
        "",
    ),
    cmd(
        Cmd::CompareExpand,
        "Expand or collapse unchanged lines",
        CMP,
        &["e"],
        "expand",
    ),
    cmd(
        Cmd::CompareToggleList,
        "Hide or show the file list",
        CMP,
        &["f"],
        "",
    ),
    cmd(
        Cmd::CompareCopyPatch,
        "Copy the file's diff as a patch",
        CMP,
        &["y"],
        "",
    ),
    cmd(
        Cmd::CompareLeft,
        "Scroll the diff left (at the start, a long line starts at its first change)",
        CMP,
        &["h", "left"],
        "",
    ),
    cmd(
        Cmd::CompareRight,
        "Scroll the diff right",
        CMP,
        &["l", "right"],
        "",
    ),
    cmd(
        Cmd::CompareHalfLeft,
        "Scroll the diff half a screen left",
        CMP,
        &["z h"],
        "half left",
    ),
    cmd(
        Cmd::CompareHalfRight,
        "Scroll the diff half a screen right",
        CMP,
        &["z l"],
        "half right",
    ),
    cmd(
        Cmd::CompareWrap,
        "Wrap long lines instead of cutting them",
        CMP,
        &["w"],
        "",
    ),
    // Query
    cmd(
        Cmd::QueryRun,
        "Run the statement under the cursor",
        QY,
        &["ctrl-r", "f5"],
        "run",
    ),
    cmd(
        Cmd::QueryRunAll,
        "Run everything (or the selection)",
        QY,
        &["ctrl-e"],
        "run all",
    ),
    cmd(
        Cmd::QueryConnect,
        "Choose a database connection",
        QY,
        &["c"],
        "connect",
    ),
    cmd(
        Cmd::QuerySchema,
        "Browse tables, columns and indexes",
        QY,
        &["s"],
        "schema",
    ),
    cmd(
        Cmd::QueryHistory,
        "Queries run on this connection",
        QY,
        &["ctrl-h"],
        "",
    ),
    cmd(
        Cmd::QueryMore,
        "Fetch more rows of the result",
        QY,
        &["m"],
        "",
    ),
    cmd(Cmd::QueryCopyCell, "Copy the selected cell", QY, &["y"], ""),
    cmd(Cmd::QueryCopyRow, "Copy the selected row", QY, &["Y"], ""),
    cmd(
        Cmd::QueryExport,
        "Export the result as CSV or JSON",
        QY,
        &["x"],
        "",
    ),
    cmd(Cmd::QueryEdit, "Edit the SQL", QY, &["i"], ""),
    cmd(
        Cmd::QueryCancel,
        "Cancel the running query",
        QY,
        &["ctrl-c"],
        "",
    ),
    cmd(Cmd::QueryLeft, "Column to the left", QY, &["h", "left"], ""),
    cmd(
        Cmd::QueryRight,
        "Column to the right",
        QY,
        &["l", "right"],
        "",
    ),
    // Deploy
    cmd(
        Cmd::DeployPlan,
        "Ask the server for its map: what to upload and delete",
        DP,
        &["p"],
        "plan",
    ),
    cmd(
        Cmd::DeployToggle,
        "Tick or untick the file (or everything under the folder)",
        DP,
        &["space"],
        "tick",
    ),
    cmd(Cmd::DeployFilter, "Filter the file lists", DP, &["/"], ""),
    cmd(
        Cmd::DeployBuild,
        "Build the package of what is ticked",
        DP,
        &["b"],
        "package",
    ),
    cmd(
        Cmd::DeployDeploy,
        "Deploy what is ticked (asks first)",
        DP,
        &["D"],
        "deploy",
    ),
    cmd(
        Cmd::DeployNextTab,
        "Next tab: Files, Database, History",
        DP,
        &["t"],
        "tab",
    ),
    cmd(
        Cmd::DeployRollback,
        "Roll back to the selected deployment (History)",
        DP,
        &["r"],
        "",
    ),
    cmd(
        Cmd::DeployUndo,
        "Undo the current deployment: back to the one before it (History)",
        DP,
        &["u"],
        "",
    ),
    cmd(
        Cmd::DeployLogUp,
        "Scroll the log up (Tab to the log pane first)",
        DP,
        &["pageup", "ctrl-u"],
        "",
    ),
    cmd(
        Cmd::DeployLogDown,
        "Scroll the log down; at the end it follows again",
        DP,
        &["pagedown", "ctrl-d"],
        "",
    ),
    cmd(
        Cmd::DeployShowLog,
        "Show the log of the selected deployment (History)",
        DP,
        &["enter"],
        "",
    ),
    cmd(
        Cmd::DeployRefresh,
        "Reload the servers, status and history",
        DP,
        &["R"],
        "",
    ),
    // Jobs
    cmd(
        Cmd::JobsCancel,
        "Cancel the selected job (asks first)",
        JB,
        &["x", "delete"],
        "cancel",
    ),
    cmd(
        Cmd::JobsClear,
        "Remove finished jobs from the list",
        JB,
        &["c"],
        "clear",
    ),
];

impl CommandDef {
    /// The action's text id.
    pub fn id(&self) -> &'static str {
        self.cmd.id()
    }
}

/// The registry entry of an action.
pub fn def(cmd: Cmd) -> &'static CommandDef {
    COMMANDS
        .iter()
        .find(|c| c.cmd == cmd)
        .expect("every Cmd has a registry entry (tested)")
}

/// The registry entry of a text id (keymap.toml), if the action exists.
pub fn find(id: &str) -> Option<&'static CommandDef> {
    Cmd::from_id(id).map(def)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_dotted() {
        let mut seen = HashSet::new();
        for c in Cmd::ALL {
            assert!(seen.insert(c.id()), "duplicate command id {}", c.id());
            assert!(c.id().contains('.'), "{}", c.id());
            assert_eq!(Cmd::from_id(c.id()), Some(*c));
        }
        assert_eq!(Cmd::from_id("app.fly"), None);
    }

    #[test]
    fn every_action_has_exactly_one_registry_entry() {
        for c in Cmd::ALL {
            let n = COMMANDS.iter().filter(|d| d.cmd == *c).count();
            assert_eq!(n, 1, "{c:?} has {n} entries in COMMANDS");
        }
        assert_eq!(COMMANDS.len(), Cmd::ALL.len());
    }

    #[test]
    fn every_screen_has_a_switch_command() {
        for s in ScreenId::ALL {
            assert_eq!(def(s.command()).scope, Scope::Global, "{s:?}");
            assert_eq!(ScreenId::from_command(s.command()), Some(s));
        }
    }
}
