//! The tools of the palette, one module each. A screen is a thin view: it turns commands
//! and keys into engine calls, and engine results into widgets.

pub mod codebase;
pub mod compare;
pub mod deploy;
pub mod jobs;
pub mod planned;
pub mod query;
pub mod snapshots;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;

use crate::app::context::{Ctx, DrawCtx};
use crate::app::events::AppEvent;

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

    /// The id of the command that switches to this screen.
    pub fn command_id(self) -> String {
        format!("screen.{}", self.title().to_ascii_lowercase())
    }

    /// The screen a `screen.*` command switches to.
    pub fn from_command(id: &str) -> Option<ScreenId> {
        ScreenId::ALL.into_iter().find(|s| s.command_id() == id)
    }

    /// Position in the palette, 0-based.
    pub fn index(self) -> usize {
        ScreenId::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }
}

/// A tool of the palette.
pub trait Screen {
    fn id(&self) -> ScreenId;
    /// Draw into `area`.
    fn draw(&mut self, frame: &mut Frame, area: Rect, ctx: &DrawCtx);
    /// Run a command of this screen or a `nav.*` command; false when it does not apply,
    /// so the shell can try the key's global meaning.
    fn command(&mut self, id: &str, ctx: &mut Ctx) -> bool;
    /// While the screen has a text field focused, every key goes here first.
    fn captures_input(&self) -> bool {
        false
    }
    /// A key while [`Screen::captures_input`] is true; false when not consumed.
    fn input_key(&mut self, _key: KeyEvent, _ctx: &mut Ctx) -> bool {
        false
    }
    /// An event from the queue (worker results, job reports); true when it changed what
    /// the screen shows.
    fn on_event(&mut self, _ev: &AppEvent, _ctx: &mut Ctx) -> bool {
        false
    }
    /// Called when the screen becomes the current one.
    fn on_show(&mut self, _ctx: &mut Ctx) {}
}
