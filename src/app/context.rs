//! What a screen gets from the shell: [`Ctx`] when it handles a key or an event (to start
//! jobs and ask for effects), [`DrawCtx`] when it draws.

use super::events::EventTx;
use super::jobtable::JobTable;
use super::keymap::Keymap;
use super::theme::Theme;
use crate::engine::diff::changes::ChangeSet;
use crate::engine::jobs::Jobs;
use crate::engine::project::Project;
use crate::screens::ScreenId;

/// How a status message reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Info,
    Success,
    Warn,
    Error,
}

/// Something a screen asks the shell to do.
#[derive(Debug, Clone)]
pub enum Effect {
    /// Show a message in the status line.
    Status(Level, String),
    /// Put text on the user's clipboard (OSC 52); the label says what was copied.
    Copy { label: String, text: String },
    /// Switch to another tool.
    Switch(ScreenId),
    /// Open a set of changes in Compare.
    ShowChanges(Box<ChangeSet>),
}

/// Handed to a screen while it handles input or events.
pub struct Ctx<'a> {
    pub project: &'a Project,
    pub jobs: &'a Jobs,
    pub job_table: &'a mut JobTable,
    pub tx: &'a EventTx,
    pub effects: &'a mut Vec<Effect>,
}

impl Ctx<'_> {
    pub fn status(&mut self, level: Level, msg: impl Into<String>) {
        self.effects.push(Effect::Status(level, msg.into()));
    }
}

/// Handed to a screen while it draws.
pub struct DrawCtx<'a> {
    pub theme: &'a Theme,
    pub keymap: &'a Keymap,
    pub job_table: &'a JobTable,
}
