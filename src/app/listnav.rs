//! Moving in a list, one way for every screen: a selected row and the first visible row.
//! [`ListNav::target`] says where a `nav.*` command goes (clamped to the list), and
//! [`ListNav::scroll_into_view`] moves the window so the selected row shows.

use std::ops::Range;

use super::commands::Cmd;

/// A selection in a list of rows and the scroll offset of the window onto it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListNav {
    /// The selected row (clamp it after the list shrinks: [`ListNav::clamp`]).
    pub selected: usize,
    /// The first row shown.
    pub offset: usize,
}

impl ListNav {
    /// The row a `nav.*` command moves to in a list of `len` rows with `page` rows shown;
    /// None for a command that is not a list movement (`nav.focus`, anything else).
    pub fn target(&self, cmd: Cmd, len: usize, page: usize) -> Option<usize> {
        let cur = self.selected.min(len.saturating_sub(1));
        let page = page.max(1);
        let row = match cmd {
            Cmd::NavDown => cur.saturating_add(1),
            Cmd::NavUp => cur.saturating_sub(1),
            Cmd::NavPageDown => cur.saturating_add(page),
            Cmd::NavPageUp => cur.saturating_sub(page),
            Cmd::NavTop => 0,
            Cmd::NavBottom => usize::MAX,
            _ => return None,
        };
        Some(row.min(len.saturating_sub(1)))
    }

    /// Move the selection by a `nav.*` command; None when `cmd` is not a list movement,
    /// else whether the selection changed.
    pub fn apply(&mut self, cmd: Cmd, len: usize, page: usize) -> Option<bool> {
        let row = self.target(cmd, len, page)?;
        let changed = row != self.selected;
        self.selected = row;
        Some(changed)
    }

    /// Select the row shown `row` rows below the top of the window (a click); false when
    /// no row of the list is there.
    pub fn click(&mut self, row: usize, len: usize) -> bool {
        let at = self.offset + row;
        if at >= len {
            return false;
        }
        self.selected = at;
        true
    }

    /// Keep the selection inside a list of `len` rows (0 when it is empty).
    pub fn clamp(&mut self, len: usize) {
        self.selected = self.selected.min(len.saturating_sub(1));
    }

    /// Move the window of `height` rows so the selected row shows (and no row past the
    /// end is wasted); returns the rows to draw.
    pub fn scroll_into_view(&mut self, len: usize, height: usize) -> Range<usize> {
        let height = height.max(1);
        self.clamp(len);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        self.offset = self.offset.min(len.saturating_sub(height));
        self.offset..(self.offset + height).min(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(selected: usize) -> ListNav {
        ListNav {
            selected,
            offset: 0,
        }
    }

    #[test]
    fn up_and_down_move_one_row_and_stop_at_the_ends() {
        assert_eq!(at(3).target(Cmd::NavDown, 10, 5), Some(4));
        assert_eq!(at(3).target(Cmd::NavUp, 10, 5), Some(2));
        assert_eq!(at(9).target(Cmd::NavDown, 10, 5), Some(9));
        assert_eq!(at(0).target(Cmd::NavUp, 10, 5), Some(0));
    }

    #[test]
    fn pages_move_by_the_visible_height_clamped() {
        assert_eq!(at(3).target(Cmd::NavPageDown, 100, 20), Some(23));
        assert_eq!(at(90).target(Cmd::NavPageDown, 100, 20), Some(99));
        assert_eq!(at(30).target(Cmd::NavPageUp, 100, 20), Some(10));
        assert_eq!(at(5).target(Cmd::NavPageUp, 100, 20), Some(0));
        // a zero height still moves
        assert_eq!(at(5).target(Cmd::NavPageDown, 100, 0), Some(6));
    }

    #[test]
    fn top_and_bottom() {
        assert_eq!(at(42).target(Cmd::NavTop, 100, 20), Some(0));
        assert_eq!(at(42).target(Cmd::NavBottom, 100, 20), Some(99));
    }

    #[test]
    fn empty_lists_and_out_of_range_selections_clamp() {
        for cmd in [Cmd::NavDown, Cmd::NavUp, Cmd::NavBottom, Cmd::NavPageDown] {
            assert_eq!(at(0).target(cmd, 0, 5), Some(0), "{cmd:?}");
        }
        assert_eq!(at(usize::MAX).target(Cmd::NavUp, 10, 5), Some(8));
        assert_eq!(at(usize::MAX).target(Cmd::NavDown, 10, 5), Some(9));
        let mut n = at(50);
        n.clamp(10);
        assert_eq!(n.selected, 9);
        n.clamp(0);
        assert_eq!(n.selected, 0);
    }

    #[test]
    fn other_commands_are_not_movements() {
        let mut n = at(2);
        assert_eq!(n.target(Cmd::NavFocus, 10, 5), None);
        assert_eq!(n.apply(Cmd::AppQuit, 10, 5), None);
        assert_eq!(n.apply(Cmd::NavDown, 10, 5), Some(true));
        assert_eq!(n.selected, 3);
        assert_eq!(n.apply(Cmd::NavTop, 10, 5), Some(true));
        assert_eq!(n.apply(Cmd::NavTop, 10, 5), Some(false));
    }

    #[test]
    fn the_window_follows_the_selection() {
        let mut n = at(0);
        assert_eq!(n.scroll_into_view(100, 10), 0..10);
        n.selected = 15;
        assert_eq!(n.scroll_into_view(100, 10), 6..16);
        n.selected = 3;
        assert_eq!(n.scroll_into_view(100, 10), 3..13);
        n.selected = 99;
        assert_eq!(n.scroll_into_view(100, 10), 90..100);
        // the list shrank: the window moves back, the selection clamps
        assert_eq!(n.scroll_into_view(5, 10), 0..5);
        assert_eq!(n.selected, 4);
        assert_eq!(n.scroll_into_view(0, 10), 0..0);
    }
}
