//! Key sequences (chords, as vim's and helix's `z…`): the first key of a chord is held
//! as pending; the next key completes a chord of the screen (or a global one), waits for
//! one more, or cancels it (`Esc`, or a key no chord has). The hint bar shows the
//! choices while a chord is pending; help and the palette list chords like any key.

use crossterm::event::KeyCode;

use super::commands::{Cmd, def};
use super::keymap::{KeyCombo, KeySeq, Keymap};
use super::screen::Hint;
use crate::app::commands::Scope;

/// What a key did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Not part of a chord: the key's own meaning (the screen's, else the global one).
    Key,
    /// It completed a chord: the screen's command and the global one, to try in order.
    Run(Option<Cmd>, Option<Cmd>),
    /// A chord is pending: wait for the next key.
    Wait,
    /// The pending chord was given up (`Esc`, or no chord goes on with the key); the text
    /// says so.
    Cancelled(String),
}

/// The keys of a chord typed so far (none while no chord is pending).
#[derive(Debug, Clone, Default)]
pub struct Chord {
    keys: Vec<KeyCombo>,
}

impl Chord {
    /// The pending keys as shown (`z`), if a chord is pending.
    pub fn pending(&self) -> Option<String> {
        (!self.keys.is_empty()).then(|| KeySeq(self.keys.clone()).to_string())
    }

    /// Forget the pending keys (a click, a popup, another screen).
    pub fn clear(&mut self) {
        self.keys.clear();
    }

    /// Feed a key pressed on `screen`.
    pub fn key(&mut self, keymap: &Keymap, screen: Scope, key: KeyCombo) -> Step {
        let pending = !self.keys.is_empty();
        if pending && key.code == KeyCode::Esc && key.mods.is_empty() {
            let typed = self.pending().unwrap_or_default();
            self.keys.clear();
            return Step::Cancelled(format!("{typed}… cancelled"));
        }
        let mut keys = std::mem::take(&mut self.keys);
        keys.push(key);
        let (own, global) = (
            keymap.lookup_seq(screen, &keys),
            keymap.lookup_seq(Scope::Global, &keys),
        );
        if own.is_some() || global.is_some() {
            return if pending {
                Step::Run(own, global)
            } else {
                Step::Key
            };
        }
        let more = !keymap.chords_after(screen, &keys).is_empty()
            || !keymap.chords_after(Scope::Global, &keys).is_empty();
        if more {
            self.keys = keys;
            return Step::Wait;
        }
        if pending {
            let typed = KeySeq(keys).to_string();
            return Step::Cancelled(format!("{typed}: no such key sequence"));
        }
        Step::Key
    }

    /// The hint bar while a chord is pending: each chord that can follow (the screen's,
    /// then the global ones) with its short label, and how to give up.
    pub fn hints(&self, keymap: &Keymap, screen: Scope) -> Vec<Hint> {
        let mut out: Vec<Hint> = [screen, Scope::Global]
            .iter()
            .flat_map(|s| keymap.chords_after(*s, &self.keys))
            .map(|c| {
                let d = def(c);
                Hint::Cmd(c, if d.hint.is_empty() { d.title } else { d.hint })
            })
            .collect();
        out.push(Hint::Key("esc", "cancel"));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::screen::ScreenId;

    fn k(name: &str) -> KeyCombo {
        KeyCombo::parse(name).unwrap()
    }

    const CMP: Scope = Scope::Screen(ScreenId::Compare);

    #[test]
    fn a_chord_waits_then_runs_or_cancels() {
        let km = Keymap::defaults();
        let mut c = Chord::default();
        assert_eq!(c.key(&km, CMP, k("j")), Step::Key);
        assert_eq!(c.key(&km, CMP, k("z")), Step::Wait);
        assert_eq!(c.pending().as_deref(), Some("z"));
        assert_eq!(
            c.key(&km, CMP, k("l")),
            Step::Run(Some(Cmd::CompareHalfRight), None)
        );
        assert_eq!(c.pending(), None);
        assert_eq!(c.key(&km, CMP, k("z")), Step::Wait);
        assert_eq!(
            c.key(&km, CMP, k("esc")),
            Step::Cancelled("z… cancelled".into())
        );
        assert_eq!(c.key(&km, CMP, k("z")), Step::Wait);
        match c.key(&km, CMP, k("q")) {
            Step::Cancelled(t) => assert!(t.contains("zq"), "{t}"),
            other => panic!("{other:?}"),
        }
        // q did not quit: it was eaten by the cancelled chord, and nothing is pending.
        assert_eq!(c.pending(), None);
        // Where no chord starts with z, z is just a key.
        let cb = Scope::Screen(ScreenId::Codebase);
        assert_eq!(c.key(&km, cb, k("z")), Step::Key);
    }

    #[test]
    fn the_hints_list_what_can_follow() {
        let km = Keymap::defaults();
        let mut c = Chord::default();
        c.key(&km, CMP, k("z"));
        let hints = c.hints(&km, CMP);
        assert!(hints.contains(&Hint::Cmd(Cmd::CompareHalfLeft, "half left")));
        assert!(hints.contains(&Hint::Cmd(Cmd::CompareHalfRight, "half right")));
        assert_eq!(hints.last(), Some(&Hint::Key("esc", "cancel")));
    }

    #[test]
    fn chords_parse_print_and_refuse_a_clashing_key() {
        assert_eq!(KeySeq::parse("z h").unwrap().to_string(), "zh");
        assert_eq!(KeySeq::parse("zh").unwrap(), KeySeq::parse("z h").unwrap());
        assert_eq!(KeySeq::parse("ctrl-w l").unwrap().to_string(), "ctrl-w l");
        assert_eq!(KeySeq::parse("f1").unwrap().0.len(), 1);
        assert!(KeySeq::parse("").is_err());
        assert!(KeySeq::parse("a b c d").is_err());
        assert!(KeySeq::parse("hyper-q").is_err());
        let mut km = Keymap::defaults();
        assert_eq!(km.label(Cmd::CompareHalfLeft), "zh");
        let e = km
            .apply_overrides("[keys]\n\"compare.wrap\" = [\"z\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("z starts the key sequence"), "{e}");
        let mut km = Keymap::defaults();
        km.apply_overrides("[keys]\n\"compare.half_left\" = [\"g h\"]\n")
            .unwrap_err();
        let mut km = Keymap::defaults();
        km.apply_overrides("[keys]\n\"compare.half_left\" = [\"Z h\"]\n")
            .unwrap();
        let mut c = Chord::default();
        assert_eq!(c.key(&km, CMP, k("Z")), Step::Wait);
        assert_eq!(
            c.key(&km, CMP, k("h")),
            Step::Run(Some(Cmd::CompareHalfLeft), None)
        );
    }
}
