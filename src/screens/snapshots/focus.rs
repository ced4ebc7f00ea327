//! Focus and the mouse on the Snapshots screen: the hint bar's keys of the list or of
//! the popup that has the keys, and a click on a snapshot selects it (the shared
//! `app::mouse` helpers and `ListNav::click`). The list is drawn as the pane with the keys
//! (`widgets::pane`, `▶` and the cursor) while no popup is open.

use crossterm::event::MouseEvent;

use super::{Popup, SnapshotsScreen};
use crate::app::commands::Cmd;
use crate::app::mouse;
use crate::app::screen::Hint;

impl SnapshotsScreen {
    /// The keys of what has them: the open popup, else the list.
    pub(super) fn pane_hints(&self) -> Vec<Hint> {
        match &self.popup {
            Some(Popup::Create { .. }) => vec![
                Hint::Key("enter", "take it"),
                Hint::Key("tab", "next field"),
                Hint::Key("esc", "cancel"),
            ],
            Some(Popup::Delete { .. }) => {
                vec![Hint::Key("y", "delete it"), Hint::Key("n", "keep it")]
            }
            Some(Popup::Tables(_)) => vec![Hint::Key("r c s a", "mode"), Hint::Key("esc", "close")],
            Some(Popup::Report { .. }) => vec![Hint::Key("esc", "close")],
            None => vec![
                Hint::Cmd(Cmd::SnapshotsCreate, "snapshot"),
                Hint::Cmd(Cmd::SnapshotsDiff, "diff"),
                Hint::Cmd(Cmd::SnapshotsMark, "mark"),
                Hint::Cmd(Cmd::SnapshotsDelete, "delete"),
                Hint::Cmd(Cmd::SnapshotsTables, "tables"),
            ],
        }
    }

    /// A click on a snapshot selects it; true when the event was for this screen.
    pub(super) fn mouse_event(&mut self, ev: MouseEvent) -> bool {
        if self.popup.is_some() {
            return false;
        }
        match mouse::clicked_row(&ev, self.rows_area) {
            Some(row) => {
                self.nav.click(row, self.list.len());
                true
            }
            None => false,
        }
    }
}
