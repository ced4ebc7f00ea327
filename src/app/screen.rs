//! What a tool of the palette is to the shell: its [`ScreenId`] and the [`Screen`] trait.
//! The screens implement it in `crate::screens`; the shell (`crate::shell`) hosts them. The
//! framework knows screens only through this trait, never by their types.

use crossterm::event::{KeyEvent, MouseEvent};
use ratatui::Frame;
use ratatui::layout::Rect;

use super::commands::Cmd;
use super::context::{Ctx, DrawCtx};
use super::worker::Payload;
use crate::engine::jobs::JobEvent;

/// The tools, in palette order (their number keys are 1..9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ScreenId {
    Codebase,
    Snapshots,
    Scripts,
    Compare,
    Query,
    Replace,
    Packages,
    Deploy,
    Jobs,
}

impl ScreenId {
    pub const ALL: [ScreenId; 9] = [
        ScreenId::Codebase,
        ScreenId::Snapshots,
        ScreenId::Scripts,
        ScreenId::Compare,
        ScreenId::Query,
        ScreenId::Replace,
        ScreenId::Packages,
        ScreenId::Deploy,
        ScreenId::Jobs,
    ];

    pub fn title(self) -> &'static str {
        match self {
            ScreenId::Codebase => "Codebase",
            ScreenId::Snapshots => "Snapshots",
            ScreenId::Scripts => "Scripts",
            ScreenId::Compare => "Compare",
            ScreenId::Query => "Query",
            ScreenId::Replace => "Replace",
            ScreenId::Packages => "Packages",
            ScreenId::Deploy => "Deploy",
            ScreenId::Jobs => "Jobs",
        }
    }

    /// The command that switches to this screen.
    pub fn command(self) -> Cmd {
        match self {
            ScreenId::Codebase => Cmd::ScreenCodebase,
            ScreenId::Snapshots => Cmd::ScreenSnapshots,
            ScreenId::Scripts => Cmd::ScreenScripts,
            ScreenId::Compare => Cmd::ScreenCompare,
            ScreenId::Query => Cmd::ScreenQuery,
            ScreenId::Replace => Cmd::ScreenReplace,
            ScreenId::Packages => Cmd::ScreenPackages,
            ScreenId::Deploy => Cmd::ScreenDeploy,
            ScreenId::Jobs => Cmd::ScreenJobs,
        }
    }

    /// The screen a `screen.*` command switches to.
    pub fn from_command(cmd: Cmd) -> Option<ScreenId> {
        ScreenId::ALL.into_iter().find(|s| s.command() == cmd)
    }

    /// Position in the palette, 0-based.
    pub fn index(self) -> usize {
        ScreenId::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// One entry of the hint bar for the pane that has the keys: a command (drawn with its
/// live key) or a key that is no command (typing in an editor), with a short label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hint {
    Cmd(Cmd, &'static str),
    Key(&'static str, &'static str),
}

/// A tool of the palette.
pub trait Screen {
    fn id(&self) -> ScreenId;
    /// Draw into `area`.
    fn draw(&mut self, frame: &mut Frame, area: Rect, ctx: &DrawCtx);
    /// Run a command of this screen or a `nav.*` command; false when it does not apply,
    /// so the shell can try the key's global meaning.
    fn command(&mut self, cmd: Cmd, ctx: &mut Ctx) -> bool;
    /// While the screen has a text field focused, every key goes here first.
    fn captures_input(&self) -> bool {
        false
    }
    /// A key while [`Screen::captures_input`] is true; false when not consumed.
    fn input_key(&mut self, _key: KeyEvent, _ctx: &mut Ctx) -> bool {
        false
    }
    /// A reply addressed to this screen (by its own workers, see [`super::worker`]); true
    /// when it changed what the screen shows. Other screens never see it.
    fn on_reply(&mut self, _reply: Payload, _ctx: &mut Ctx) -> bool {
        false
    }
    /// A job report (jobs are shared: every screen hears them); true when it changed what
    /// the screen shows.
    fn on_job(&mut self, _ev: &JobEvent, _ctx: &mut Ctx) -> bool {
        false
    }
    /// Called when the screen becomes the current one.
    fn on_show(&mut self, _ctx: &mut Ctx) {}
    /// The hint bar's keys for the pane that has the keys; `None`: the screen's hinted
    /// commands.
    fn hints(&self) -> Option<Vec<Hint>> {
        None
    }
    /// A mouse event inside the screen's `area` (where it was last drawn); true when
    /// handled. Unhandled, the shell turns the wheel into `nav.up`/`nav.down` commands.
    fn mouse(&mut self, _ev: MouseEvent, _area: Rect, _ctx: &mut Ctx) -> bool {
        false
    }
}
