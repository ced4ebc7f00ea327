//! The mouse on the Deploy screen: a click on a server, a file of the plan or a deployment
//! of the History tab selects it and gives its pane the keys; a click on the log (or on
//! the Database tab) gives that pane the keys; the wheel over the log scrolls it.
//! Rows are found with the shared `app::mouse` helpers and `ListNav::click`.

use crossterm::event::{MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use super::{DeployScreen, Tab};
use crate::app::listnav::ListNav;
use crate::app::mouse;

/// Where the panes' rows were last drawn: the inside of each, and the first row shown of
/// the lists that scroll by hand.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct Areas {
    pub servers: Rect,
    pub servers_offset: usize,
    /// The inside of the tabs pane, and the rows of its list (files or deployments).
    pub right: Rect,
    pub rows: Rect,
    pub history_offset: usize,
    pub log: Rect,
}

impl DeployScreen {
    /// A mouse event; true when it was for this screen.
    pub(super) fn mouse_event(&mut self, ev: MouseEvent) -> bool {
        if self.popup.is_some() || self.filtering {
            return false;
        }
        let a = self.areas;
        if let Some(row) = mouse::clicked_row(&ev, a.servers) {
            (self.focus_right, self.log_focus) = (false, false);
            let mut nav = ListNav {
                selected: self.selected,
                offset: a.servers_offset,
            };
            if nav.click(row, self.servers.len()) && nav.selected != self.selected {
                self.selected = nav.selected;
                self.server_changed();
            }
            return true;
        }
        if let Some(row) = mouse::clicked_row(&ev, a.rows) {
            (self.focus_right, self.log_focus) = (true, false);
            match self.tab {
                Tab::Files => {
                    self.files.click(row, self.rows.len());
                }
                Tab::History => {
                    let len = self
                        .history
                        .as_ref()
                        .and_then(|h| h.as_ref().ok())
                        .map_or(0, Vec::len);
                    let mut nav = ListNav {
                        selected: self.hist_row,
                        offset: a.history_offset,
                    };
                    if nav.click(row, len) {
                        self.hist_row = nav.selected;
                    }
                }
                Tab::Database => {}
            }
            return true;
        }
        if mouse::clicked_row(&ev, a.right).is_some() {
            (self.focus_right, self.log_focus) = (true, false);
            return true;
        }
        if mouse::clicked_row(&ev, a.log).is_some() {
            (self.focus_right, self.log_focus) = (false, true);
            return true;
        }
        if mouse::inside(&ev, a.log) {
            match ev.kind {
                MouseEventKind::ScrollDown => self.scroll_log(-3),
                MouseEventKind::ScrollUp => self.scroll_log(3),
                _ => return false,
            }
            return true;
        }
        false
    }
}
