//! User-facing strings of the TUI that are longer than a word, in one place.

pub const TOO_SMALL: &str = "devsky needs a terminal of at least 80×20.";

pub const SEARCH_PLACEHOLDER: &str = "type to search names and bodies; Enter keeps, Esc clears";

pub const JUMP_PROMPT: &str = "Jump to id: ";
