//! The mouse on the Query screen: a click on a result row selects it and gives the grid
//! the keys; a click on the editor gives it the keys (typing goes there). Rows are found
//! with the shared `app::mouse` helpers and `ListNav::click`.

use crossterm::event::MouseEvent;
use ratatui::layout::Rect;

use super::{Focus, QueryScreen};
use crate::app::mouse;

/// The insides of the editor and of the grid, as last drawn.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Areas {
    pub editor: Rect,
    pub grid: Rect,
}

impl QueryScreen {
    /// A mouse event; true when it was for this screen.
    pub(super) fn mouse_event(&mut self, ev: MouseEvent) -> bool {
        if self.popup.is_some() {
            return false;
        }
        let a = self.areas;
        if let Some(row) = mouse::clicked_row(&ev, a.grid) {
            self.focus = Focus::Grid;
            // The first row of the grid is its header.
            if let Some(row) = row.checked_sub(1) {
                self.grid.nav.click(row, self.grid.rows.len());
            }
            return true;
        }
        if mouse::clicked_row(&ev, a.editor).is_some() {
            self.focus = Focus::Editor;
            return true;
        }
        false
    }
}
