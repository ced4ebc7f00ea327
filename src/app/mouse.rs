//! The mouse, one way for every screen: whether an event is inside a pane, and which row
//! of a pane's inside a left click landed on (then [`super::listnav::ListNav::click`]
//! selects it). The shell turns a wheel no screen takes into `nav.up`/`nav.down`.

use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

/// Whether the event is inside `r`.
pub fn inside(ev: &MouseEvent, r: Rect) -> bool {
    ev.column >= r.x && ev.column < r.x + r.width && ev.row >= r.y && ev.row < r.y + r.height
}

/// Whether the event is a press of the left button.
pub fn is_left_click(ev: &MouseEvent) -> bool {
    ev.kind == MouseEventKind::Down(MouseButton::Left)
}

/// The row of `inner` (a pane's inside, or the rows of its list) a left click landed on,
/// counted from its top; None for another event or a click elsewhere.
pub fn clicked_row(ev: &MouseEvent, inner: Rect) -> Option<usize> {
    (is_left_click(ev) && inside(ev, inner)).then(|| (ev.row - inner.y) as usize)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crossterm::event::KeyModifiers;

    fn ev(kind: MouseEventKind, column: u16, row: u16) -> MouseEvent {
        MouseEvent {
            kind,
            column,
            row,
            modifiers: KeyModifiers::NONE,
        }
    }

    #[test]
    fn a_click_names_the_row_inside_the_rect_only() {
        let r = Rect::new(10, 5, 20, 4);
        let down = MouseEventKind::Down(MouseButton::Left);
        assert_eq!(clicked_row(&ev(down, 10, 5), r), Some(0));
        assert_eq!(clicked_row(&ev(down, 29, 8), r), Some(3));
        assert_eq!(clicked_row(&ev(down, 30, 8), r), None);
        assert_eq!(clicked_row(&ev(down, 12, 9), r), None);
        assert_eq!(clicked_row(&ev(down, 9, 6), r), None);
        let up = MouseEventKind::Up(MouseButton::Left);
        assert_eq!(clicked_row(&ev(up, 12, 6), r), None);
        let right = MouseEventKind::Down(MouseButton::Right);
        assert_eq!(clicked_row(&ev(right, 12, 6), r), None);
        assert!(inside(&ev(MouseEventKind::ScrollDown, 12, 6), r));
    }
}
