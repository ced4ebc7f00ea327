//! A one-line text field (search boxes, prompts, the palette): editing keys in the
//! readline style, a cursor, and rendering with the cursor placed.

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use unicode_width::UnicodeWidthStr;

/// What a key did to the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// The text changed.
    Edited,
    /// Only the cursor moved.
    Moved,
    /// The key is not an editing key (Enter, Esc, Up, ... are left to the caller).
    Ignored,
}

/// A single-line text field.
#[derive(Debug, Clone, Default)]
pub struct LineInput {
    text: String,
    /// Cursor position in chars.
    cursor: usize,
}

impl LineInput {
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn set(&mut self, text: &str) {
        self.text = text.to_string();
        self.cursor = self.text.chars().count();
    }

    pub fn clear(&mut self) {
        self.set("");
    }

    fn byte_at(&self, char_idx: usize) -> usize {
        self.text
            .char_indices()
            .nth(char_idx)
            .map_or(self.text.len(), |(i, _)| i)
    }

    /// Handle an editing key.
    pub fn handle(&mut self, key: &KeyEvent) -> Change {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        let len = self.text.chars().count();
        match key.code {
            KeyCode::Char('a') if ctrl => self.cursor = 0,
            KeyCode::Char('e') if ctrl => self.cursor = len,
            KeyCode::Char('u') if ctrl => {
                let b = self.byte_at(self.cursor);
                self.text.replace_range(..b, "");
                self.cursor = 0;
                return Change::Edited;
            }
            KeyCode::Char('w') if ctrl => {
                let end = self.byte_at(self.cursor);
                let head = &self.text[..end];
                let start = head
                    .trim_end()
                    .rfind(char::is_whitespace)
                    .map_or(0, |i| i + 1);
                let removed = self.text[start..end].chars().count();
                self.text.replace_range(start..end, "");
                self.cursor -= removed;
                return Change::Edited;
            }
            KeyCode::Char(c) if !ctrl && !key.modifiers.contains(KeyModifiers::ALT) => {
                let b = self.byte_at(self.cursor);
                self.text.insert(b, c);
                self.cursor += 1;
                return Change::Edited;
            }
            KeyCode::Backspace if self.cursor > 0 => {
                let b = self.byte_at(self.cursor - 1);
                self.text.remove(b);
                self.cursor -= 1;
                return Change::Edited;
            }
            KeyCode::Delete if self.cursor < len => {
                let b = self.byte_at(self.cursor);
                self.text.remove(b);
                return Change::Edited;
            }
            KeyCode::Backspace | KeyCode::Delete => return Change::Moved,
            KeyCode::Left => self.cursor = self.cursor.saturating_sub(1),
            KeyCode::Right => self.cursor = (self.cursor + 1).min(len),
            KeyCode::Home => self.cursor = 0,
            KeyCode::End => self.cursor = len,
            _ => return Change::Ignored,
        }
        Change::Moved
    }

    /// Display columns before the cursor (to place the terminal cursor).
    pub fn cursor_column(&self) -> u16 {
        let b = self.byte_at(self.cursor);
        self.text[..b].width() as u16
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(c: KeyCode) -> KeyEvent {
        KeyEvent::new(c, KeyModifiers::NONE)
    }
    fn ctrl(c: char) -> KeyEvent {
        KeyEvent::new(KeyCode::Char(c), KeyModifiers::CONTROL)
    }

    #[test]
    fn typing_editing_and_words() {
        let mut i = LineInput::default();
        for c in "héllo wörld".chars() {
            assert_eq!(i.handle(&k(KeyCode::Char(c))), Change::Edited);
        }
        assert_eq!(i.handle(&ctrl('w')), Change::Edited);
        assert_eq!(i.text(), "héllo ");
        i.handle(&k(KeyCode::Backspace));
        i.handle(&k(KeyCode::Home));
        i.handle(&k(KeyCode::Delete));
        assert_eq!(i.text(), "éllo");
        i.handle(&k(KeyCode::End));
        i.handle(&k(KeyCode::Left));
        i.handle(&k(KeyCode::Char('X')));
        assert_eq!(i.text(), "éllXo");
        assert_eq!(i.cursor_column(), 4);
        i.handle(&ctrl('u'));
        assert_eq!(i.text(), "o");
        assert_eq!(i.handle(&k(KeyCode::Enter)), Change::Ignored);
        assert_eq!(i.handle(&ctrl('p')), Change::Ignored);
    }
}
