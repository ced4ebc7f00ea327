//! Copy to the user's clipboard through the terminal (OSC 52): works over SSH and inside
//! tmux, where no X display is reachable. Inside tmux the sequence is wrapped for
//! passthrough, so it reaches the outer terminal even when tmux's own clipboard is off.

use base64::Engine as _;

/// Terminals commonly cap OSC 52 payloads near 100 kB; larger copies are refused.
pub const MAX_BYTES: usize = 74_994;

/// The escape sequence that sets the clipboard to `text`.
pub fn osc52(text: &str, in_tmux: bool) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(text.as_bytes());
    if in_tmux {
        // DCS tmux; <sequence with every ESC doubled> ST
        format!("\x1bPtmux;\x1b\x1b]52;c;{b64}\x07\x1b\\")
    } else {
        format!("\x1b]52;c;{b64}\x07")
    }
}

/// Whether we run inside tmux.
pub fn in_tmux() -> bool {
    std::env::var_os("TMUX").is_some_and(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_and_tmux_sequences() {
        assert_eq!(osc52("hi", false), "\x1b]52;c;aGk=\x07");
        assert_eq!(osc52("hi", true), "\x1bPtmux;\x1b\x1b]52;c;aGk=\x07\x1b\\");
    }
}
