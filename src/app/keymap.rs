//! Keys: parsing key names, the live keymap built from the command registry, and the
//! user's overrides in `<config dir>/keymap.toml`.
//!
//! The override file is partial; each entry replaces the keys of one action:
//!
//! ```toml
//! [keys]
//! "app.quit" = ["q", "ctrl-q"]
//! "codebase.search" = ["/", "ctrl-f"]
//! ```
//!
//! A key given to an action is taken away from any other action of the same scope.
//!
//! An action can also have a key sequence (a chord, as in vim and helix): keys pressed
//! one after the other, written with spaces (`"z h"`) or, for plain characters, run
//! together (`"zh"`). The first key of a chord then only starts it (see
//! [`super::chord`]): it cannot also be an action of its own in the same scope or the
//! global one.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use anyhow::{Context, bail};
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::commands::{COMMANDS, Cmd, CommandDef, Scope};

/// A key with its modifiers (shift is folded into the character).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyCombo {
    pub code: KeyCode,
    pub mods: KeyModifiers,
}

impl KeyCombo {
    /// The combo of a terminal key event.
    pub fn from_event(ev: &KeyEvent) -> KeyCombo {
        let mut mods = ev.modifiers & (KeyModifiers::CONTROL | KeyModifiers::ALT);
        let code = match ev.code {
            KeyCode::Char(c) if mods.contains(KeyModifiers::CONTROL) => {
                KeyCode::Char(c.to_ascii_lowercase())
            }
            KeyCode::BackTab => {
                mods -= KeyModifiers::SHIFT;
                KeyCode::BackTab
            }
            other => other,
        };
        KeyCombo { code, mods }
    }

    /// Parse a key name: `q`, `G`, `?`, `ctrl-p`, `alt-x`, `esc`, `enter`, `tab`,
    /// `backtab`, `space`, `up`, `down`, `left`, `right`, `pageup`, `pagedown`, `home`,
    /// `end`, `backspace`, `delete`, `insert`, `f1`..`f12`.
    pub fn parse(s: &str) -> anyhow::Result<KeyCombo> {
        let mut mods = KeyModifiers::NONE;
        let mut rest = s;
        loop {
            if let Some(r) = rest
                .strip_prefix("ctrl-")
                .or_else(|| rest.strip_prefix("C-"))
            {
                mods |= KeyModifiers::CONTROL;
                rest = r;
            } else if let Some(r) = rest
                .strip_prefix("alt-")
                .or_else(|| rest.strip_prefix("M-"))
            {
                mods |= KeyModifiers::ALT;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "esc" | "escape" => KeyCode::Esc,
            "enter" | "return" => KeyCode::Enter,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "backspace" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "insert" => KeyCode::Insert,
            f if f.len() >= 2
                && f.starts_with('f')
                && f[1..].parse::<u8>().is_ok_and(|n| (1..=12).contains(&n)) =>
            {
                KeyCode::F(f[1..].parse().unwrap_or(1))
            }
            c if c.chars().count() == 1 => {
                let ch = c.chars().next().unwrap_or(' ');
                if mods.contains(KeyModifiers::CONTROL) {
                    KeyCode::Char(ch.to_ascii_lowercase())
                } else {
                    KeyCode::Char(ch)
                }
            }
            _ => bail!(
                "unknown key {s:?}: use a single character, or ctrl-/alt- plus a key, or one of \
                 esc enter tab backtab space up down left right pageup pagedown home end backspace delete insert f1..f12"
            ),
        };
        Ok(KeyCombo { code, mods })
    }
}

impl fmt::Display for KeyCombo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.mods.contains(KeyModifiers::CONTROL) {
            write!(f, "ctrl-")?;
        }
        if self.mods.contains(KeyModifiers::ALT) {
            write!(f, "alt-")?;
        }
        match self.code {
            KeyCode::Char(' ') => write!(f, "space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Esc => write!(f, "esc"),
            KeyCode::Enter => write!(f, "enter"),
            KeyCode::Tab => write!(f, "tab"),
            KeyCode::BackTab => write!(f, "backtab"),
            KeyCode::Up => write!(f, "up"),
            KeyCode::Down => write!(f, "down"),
            KeyCode::Left => write!(f, "left"),
            KeyCode::Right => write!(f, "right"),
            KeyCode::PageUp => write!(f, "pageup"),
            KeyCode::PageDown => write!(f, "pagedown"),
            KeyCode::Home => write!(f, "home"),
            KeyCode::End => write!(f, "end"),
            KeyCode::Backspace => write!(f, "backspace"),
            KeyCode::Delete => write!(f, "delete"),
            KeyCode::Insert => write!(f, "insert"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// The keys of one binding: a single key, or a chord of keys pressed one after the other.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct KeySeq(pub Vec<KeyCombo>);

/// The longest chord a binding may have.
pub const MAX_CHORD: usize = 3;

impl KeySeq {
    /// Parse a binding: one key name ([`KeyCombo::parse`]), key names separated by spaces
    /// (`"z h"`, `"ctrl-w l"`), or plain characters run together (`"zh"`).
    pub fn parse(s: &str) -> anyhow::Result<KeySeq> {
        let tokens: Vec<&str> = s.split_whitespace().collect();
        let keys = match tokens[..] {
            [] => bail!("an empty key"),
            [one] => match KeyCombo::parse(one) {
                Ok(k) => vec![k],
                Err(e) => {
                    let plain = one.chars().count() <= MAX_CHORD
                        && !one.contains('-')
                        && one.chars().all(|c| c.is_ascii_graphic());
                    if !plain {
                        return Err(e);
                    }
                    one.chars()
                        .map(|c| KeyCombo::parse(&c.to_string()))
                        .collect::<anyhow::Result<_>>()?
                }
            },
            _ => tokens
                .iter()
                .map(|t| KeyCombo::parse(t))
                .collect::<anyhow::Result<_>>()?,
        };
        if keys.len() > MAX_CHORD {
            bail!("{s:?}: a key sequence has at most {MAX_CHORD} keys");
        }
        Ok(KeySeq(keys))
    }

    /// Whether this is a chord (more than one key).
    pub fn is_chord(&self) -> bool {
        self.0.len() > 1
    }
}

/// Plain characters run together (`zh`), anything else separated by spaces (`ctrl-w l`).
fn plain_char(k: &KeyCombo) -> bool {
    k.mods.is_empty() && matches!(k.code, KeyCode::Char(c) if c != ' ')
}

impl fmt::Display for KeySeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sep = if self.0.iter().all(plain_char) {
            ""
        } else {
            " "
        };
        let names: Vec<String> = self.0.iter().map(|k| k.to_string()).collect();
        write!(f, "{}", names.join(sep))
    }
}

/// The live keymap.
#[derive(Debug, Clone)]
pub struct Keymap {
    by_key: HashMap<(Scope, KeySeq), Cmd>,
    by_command: HashMap<Cmd, Vec<KeySeq>>,
}

impl Keymap {
    /// The default keys of every command.
    pub fn defaults() -> Keymap {
        let mut km = Keymap {
            by_key: HashMap::new(),
            by_command: HashMap::new(),
        };
        for c in COMMANDS {
            let keys = c
                .keys
                .iter()
                .map(|k| KeySeq::parse(k).expect("default keys parse"))
                .collect();
            km.bind(c, keys);
        }
        km
    }

    /// Defaults with the overrides of `<config_dir>/keymap.toml`, if that file exists.
    pub fn load(config_dir: Option<&Path>) -> anyhow::Result<Keymap> {
        let mut km = Keymap::defaults();
        let Some(path) = config_dir.map(|d| d.join("keymap.toml")) else {
            return Ok(km);
        };
        if !path.exists() {
            return Ok(km);
        }
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {}", path.display()))?;
        km.apply_overrides(&text)
            .with_context(|| format!("in {}", path.display()))?;
        Ok(km)
    }

    /// Apply a keymap.toml text (see the module docs).
    pub fn apply_overrides(&mut self, text: &str) -> anyhow::Result<()> {
        #[derive(serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        struct File {
            #[serde(default)]
            keys: toml::Table,
        }
        let file: File = toml::from_str(text)?;
        for (action, value) in &file.keys {
            let Some(def) = super::commands::find(action) else {
                bail!("unknown action {action:?}; `devsky keys` lists the actions");
            };
            let names: Vec<&str> = match value {
                toml::Value::String(s) => vec![s.as_str()],
                toml::Value::Array(a) => a
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .with_context(|| format!("{action}: keys must be strings"))
                    })
                    .collect::<anyhow::Result<_>>()?,
                _ => bail!("{action}: give a key or a list of keys, like [\"q\", \"ctrl-q\"]"),
            };
            let keys = names
                .iter()
                .map(|k| KeySeq::parse(k).with_context(|| format!("action {action:?}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            self.bind(def, keys);
        }
        self.check_chords()
    }

    /// A chord's first keys only start it: refuse a binding that is also a key of its own
    /// where the chord applies (its scope, or global).
    fn check_chords(&self) -> anyhow::Result<()> {
        // In registry order, so the error names the same clash every time.
        let mut all: Vec<_> = self.by_key.iter().collect();
        all.sort_by_key(|(_, c)| COMMANDS.iter().position(|d| d.cmd == **c));
        for ((scope, seq), cmd) in all {
            for n in 1..seq.0.len() {
                let head = KeySeq(seq.0[..n].to_vec());
                let clash = [*scope, Scope::Global]
                    .iter()
                    .chain(self.screen_scopes(*scope).iter())
                    .find_map(|s| self.by_key.get(&(*s, head.clone())));
                if let Some(other) = clash {
                    bail!(
                        "{head} starts the key sequence {seq} ({}), so it cannot also be {}",
                        cmd.id(),
                        other.id()
                    );
                }
            }
        }
        Ok(())
    }

    /// For a global chord, every screen's scope (a screen key there would hide it).
    fn screen_scopes(&self, scope: Scope) -> Vec<Scope> {
        if scope != Scope::Global {
            return Vec::new();
        }
        let mut v: Vec<Scope> = self.by_key.keys().map(|(s, _)| *s).collect();
        v.sort_by_key(|s| s.label());
        v.dedup();
        v
    }

    fn bind(&mut self, def: &'static CommandDef, keys: Vec<KeySeq>) {
        if let Some(old) = self.by_command.remove(&def.cmd) {
            for k in old {
                self.by_key.remove(&(def.scope, k));
            }
        }
        for k in &keys {
            if let Some(prev) = self.by_key.insert((def.scope, k.clone()), def.cmd)
                && let Some(list) = self.by_command.get_mut(&prev)
            {
                list.retain(|x| x != k);
            }
        }
        self.by_command.insert(def.cmd, keys);
    }

    /// The command a key runs in `scope` (no fallback to global here).
    pub fn lookup(&self, scope: Scope, key: &KeyCombo) -> Option<Cmd> {
        self.lookup_seq(scope, &[*key])
    }

    /// The command a key sequence runs in `scope` (no fallback to global here).
    pub fn lookup_seq(&self, scope: Scope, keys: &[KeyCombo]) -> Option<Cmd> {
        self.by_key.get(&(scope, KeySeq(keys.to_vec()))).copied()
    }

    /// The commands of `scope` whose chord starts with `keys` (and is longer), in
    /// registry order: what may follow a pending prefix.
    pub fn chords_after(&self, scope: Scope, keys: &[KeyCombo]) -> Vec<Cmd> {
        let mut out: Vec<Cmd> = self
            .by_key
            .iter()
            .filter(|((s, seq), _)| {
                *s == scope && seq.0.len() > keys.len() && seq.0.starts_with(keys)
            })
            .map(|(_, c)| *c)
            .collect();
        out.sort_by_key(|c| COMMANDS.iter().position(|d| d.cmd == *c));
        out.dedup();
        out
    }

    /// The keys of a command.
    pub fn keys_of(&self, cmd: Cmd) -> &[KeySeq] {
        self.by_command.get(&cmd).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The keys of a command, joined for display (`"? f1"`), or empty.
    pub fn label(&self, cmd: Cmd) -> String {
        self.keys_of(cmd)
            .iter()
            .map(|k| k.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The first key of a command, for hints.
    pub fn first(&self, cmd: Cmd) -> Option<String> {
        self.keys_of(cmd).first().map(|k| k.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::screen::ScreenId;

    fn key(c: KeyCode, m: KeyModifiers) -> KeyEvent {
        KeyEvent::new(c, m)
    }

    #[test]
    fn parses_and_prints_keys() {
        for k in [
            "q",
            "G",
            "?",
            "ctrl-p",
            "alt-x",
            "esc",
            "enter",
            "f1",
            "pagedown",
            "space",
            "ctrl-alt-d",
        ] {
            assert_eq!(KeyCombo::parse(k).unwrap().to_string(), k);
        }
        assert!(KeyCombo::parse("hyper-q").is_err());
        assert!(KeyCombo::parse("f13").is_err());
    }

    #[test]
    fn events_match_parsed_keys_with_shift_folded() {
        let shifted = KeyCombo::from_event(&key(KeyCode::Char('G'), KeyModifiers::SHIFT));
        assert_eq!(shifted, KeyCombo::parse("G").unwrap());
        let ctrl = KeyCombo::from_event(&key(
            KeyCode::Char('P'),
            KeyModifiers::CONTROL | KeyModifiers::SHIFT,
        ));
        assert_eq!(ctrl, KeyCombo::parse("ctrl-p").unwrap());
    }

    #[test]
    fn defaults_cover_every_command() {
        let km = Keymap::defaults();
        for c in COMMANDS {
            assert!(!km.keys_of(c.cmd).is_empty(), "{} has no key", c.id());
        }
        let q = KeyCombo::parse("q").unwrap();
        assert_eq!(km.lookup(Scope::Global, &q), Some(Cmd::AppQuit));
        km.check_chords()
            .expect("no default key hides a default chord");
    }

    #[test]
    fn overrides_replace_keys_and_steal_from_others() {
        let mut km = Keymap::defaults();
        km.apply_overrides("[keys]\n\"app.quit\" = [\"ctrl-q\"]\n\"app.help\" = \"q\"\n")
            .unwrap();
        assert_eq!(km.label(Cmd::AppQuit), "ctrl-q");
        assert_eq!(
            km.lookup(Scope::Global, &KeyCombo::parse("q").unwrap()),
            Some(Cmd::AppHelp)
        );
        assert_eq!(km.label(Cmd::AppHelp), "q");
        let cb = Scope::Screen(ScreenId::Codebase);
        km.apply_overrides("[keys]\n\"codebase.search\" = [\"ctrl-f\"]\n")
            .unwrap();
        assert_eq!(
            km.lookup(cb, &KeyCombo::parse("ctrl-f").unwrap()),
            Some(Cmd::CodebaseSearch)
        );
        assert_eq!(km.lookup(cb, &KeyCombo::parse("/").unwrap()), None);
    }

    #[test]
    fn bad_overrides_are_clear_errors() {
        let mut km = Keymap::defaults();
        let e = km
            .apply_overrides("[keys]\n\"app.fly\" = [\"q\"]\n")
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown action \"app.fly\""), "{e}");
        let e = format!(
            "{:#}",
            km.apply_overrides("[keys]\n\"app.quit\" = [\"hyper-q\"]\n")
                .unwrap_err()
        );
        assert!(e.contains("unknown key \"hyper-q\""), "{e}");
        assert!(km.apply_overrides("[keys\n").is_err());
        // a failed file leaves the defaults working
        assert_eq!(km.label(Cmd::AppQuit), "q ctrl-c");
    }

    #[test]
    fn load_reads_the_config_dir() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            Keymap::load(Some(dir.path())).unwrap().label(Cmd::AppQuit),
            "q ctrl-c"
        );
        std::fs::write(
            dir.path().join("keymap.toml"),
            "[keys]\n\"app.quit\" = [\"Q\"]\n",
        )
        .unwrap();
        assert_eq!(
            Keymap::load(Some(dir.path())).unwrap().label(Cmd::AppQuit),
            "Q"
        );
        std::fs::write(
            dir.path().join("keymap.toml"),
            "[keys]\n\"nope.nope\" = [\"Q\"]\n",
        )
        .unwrap();
        let e = format!("{:#}", Keymap::load(Some(dir.path())).unwrap_err());
        assert!(e.contains("keymap.toml") && e.contains("nope.nope"), "{e}");
    }
}
