//! Themes: named sets of ratatui styles for every part of the UI, plus a choice
//! of code highlighting.
//!
//! The themes in `themes/*.toml` are embedded at build time; a user file
//! `<config_dir>/themes/NAME.toml` overrides the embedded theme of the same
//! name or adds a new one. A theme may be partial: the keys it omits come from
//! the theme named in its `inherits` key ("default" when absent). The file
//! format is documented at the top of `themes/default.toml`.
//!
//! Code highlighting is [`SyntaxStyle::Ansi`] (a syntect theme built here whose
//! colors encode ANSI palette indices, decoded by [`syntect_to_color`]), a
//! syntect default theme, or off.

use std::path::Path;
use std::sync::OnceLock;

use anyhow::{Context, Result, anyhow, bail};
use ratatui::style::{Color, Modifier, Style};
use syntect::highlighting::{
    Color as SColor, FontStyle, ScopeSelectors, StyleModifier, Theme as SyntectTheme, ThemeItem,
    ThemeSet, ThemeSettings,
};

const DEFAULT: &str = "default";

/// Embedded themes, sorted by name.
const EMBEDDED: &[(&str, &str)] = &[
    ("dark", include_str!("../../themes/dark.toml")),
    ("default", include_str!("../../themes/default.toml")),
    ("light", include_str!("../../themes/light.toml")),
    ("mono", include_str!("../../themes/mono.toml")),
];

/// The themes shipped with syntect (`ThemeSet::load_defaults`).
#[rustfmt::skip]
const SYNTECT_THEMES: &[&str] = &["base16-ocean.dark", "base16-eighties.dark", "base16-mocha.dark",
    "base16-ocean.light", "InspiredGitHub", "Solarized (dark)", "Solarized (light)"];

/// A resolved theme: one style per UI role.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Theme {
    pub name: String,
    pub base: Style,
    pub dim: Style,
    pub accent: Style,
    pub border: Style,
    pub border_focus: Style,
    pub title: Style,
    pub selected: Style,
    pub sidebar: Style,
    pub sidebar_active: Style,
    pub hint_key: Style,
    pub hint_text: Style,
    pub status: Style,
    pub error: Style,
    pub warn: Style,
    pub success: Style,
    pub matched: Style,
    pub line_no: Style,
    pub popup: Style,
    pub syntax: SyntaxStyle,
}

/// How code is highlighted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum SyntaxStyle {
    /// Colors from the terminal's ANSI palette.
    #[default]
    Ansi,
    /// A syntect default theme, by name (e.g. "base16-ocean.dark").
    Syntect(String),
    /// No highlighting.
    Off,
}

/// One parsed theme file, before inheritance is applied.
#[derive(Default)]
struct Partial {
    inherits: Option<String>,
    syntax: Option<SyntaxStyle>,
    styles: Vec<(&'static str, Style)>,
}

/// Declares the `[styles]` keys (the `Theme` style fields) and the key -> field lookup.
macro_rules! style_keys {
    ($($field:ident)*) => {
        const KEYS: &[&str] = &[$(stringify!($field)),*];
        impl Theme {
            fn slot(&mut self, key: &str) -> Option<&mut Style> {
                match key { $(stringify!($field) => Some(&mut self.$field),)* _ => None }
            }
        }
    };
}
style_keys! { base dim accent border border_focus title selected sidebar sidebar_active hint_key
hint_text status error warn success matched line_no popup }

impl Theme {
    /// Load a theme by name (`None` = "default"), resolving `inherits` chains.
    /// Errors name the theme and list the available ones; a malformed TOML
    /// file gets an error with the file path and the parser's line/column.
    pub fn load(name: Option<&str>, config_dir: Option<&Path>) -> Result<Theme> {
        let name = name.unwrap_or(DEFAULT);
        let (mut chain, mut seen, mut child) = (Vec::new(), Vec::new(), None::<String>);
        let mut next = Some((true, name.to_string()));
        while let Some((allow_user, cur)) = next.take() {
            let Some((src, origin, is_user)) = find_source(&cur, config_dir, allow_user)? else {
                let avail = Self::names(config_dir).join(", ");
                let who = child.map_or_else(
                    || "unknown theme".into(),
                    |c| format!("{c}: inherits unknown theme"),
                );
                bail!("{who} `{cur}`; available: {avail}");
            };
            if seen.contains(&(cur.clone(), is_user)) {
                bail!("theme `{name}`: inheritance cycle through `{cur}` ({origin})");
            }
            seen.push((cur.clone(), is_user));
            let partial = parse_theme(&src).map_err(|e| anyhow!("{origin}: {e}"))?;
            let parent = match &partial.inherits {
                Some(p) => Some(p.clone()),
                None if !is_user && cur == DEFAULT => None,
                None => Some(DEFAULT.to_string()),
            };
            // A user theme inheriting its own name builds on the embedded one.
            next = parent.map(|p| (!(is_user && p == cur), p));
            child = Some(origin);
            chain.push(partial);
        }
        let mut theme = Theme {
            name: name.to_string(),
            ..Theme::default()
        };
        for partial in chain.iter().rev() {
            if let Some(s) = &partial.syntax {
                theme.syntax = s.clone();
            }
            for (key, style) in &partial.styles {
                if let Some(slot) = theme.slot(key) {
                    *slot = *style;
                }
            }
        }
        Ok(theme)
    }

    /// All theme names, embedded and user, sorted and deduplicated.
    pub fn names(config_dir: Option<&Path>) -> Vec<String> {
        let mut names: Vec<String> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
        if let Some(entries) = config_dir.and_then(|d| std::fs::read_dir(d.join("themes")).ok()) {
            for path in entries.flatten().map(|e| e.path()) {
                if path.extension().is_some_and(|e| e == "toml")
                    && let Some(stem) = path.file_stem().and_then(|s| s.to_str())
                {
                    names.push(stem.to_string());
                }
            }
        }
        names.sort();
        names.dedup();
        names
    }

    /// Which theme name to use: explicit CLI flag wins, then `NO_COLOR`
    /// (non-empty -> "mono"), then the setting, then "default".
    pub fn choose(flag: Option<&str>, no_color: Option<&str>, setting: Option<&str>) -> String {
        fn given(s: Option<&str>) -> Option<&str> {
            s.map(str::trim).filter(|s| !s.is_empty())
        }
        if let Some(flag) = given(flag) {
            return flag.to_string();
        }
        if no_color.is_some_and(|v| !v.is_empty()) {
            return "mono".to_string();
        }
        given(setting).unwrap_or(DEFAULT).to_string()
    }

    /// A syntect theme for highlighting code with this theme, or None for Off.
    /// For [`SyntaxStyle::Ansi`] the colors encode ANSI palette indices
    /// (see [`syntect_to_color`]) so highlighting follows the user's palette.
    pub fn syntect_theme(&self) -> Option<SyntectTheme> {
        match &self.syntax {
            SyntaxStyle::Off => None,
            SyntaxStyle::Ansi => Some(ansi_syntect_theme()),
            SyntaxStyle::Syntect(name) => {
                static SET: OnceLock<ThemeSet> = OnceLock::new();
                let set = SET.get_or_init(ThemeSet::load_defaults);
                set.themes.get(name).cloned()
            }
        }
    }
}

#[rustfmt::skip]
const ANSI16: [Color; 16] = [Color::Black, Color::Red, Color::Green, Color::Yellow, Color::Blue,
    Color::Magenta, Color::Cyan, Color::Gray, Color::DarkGray, Color::LightRed, Color::LightGreen,
    Color::LightYellow, Color::LightBlue, Color::LightMagenta, Color::LightCyan, Color::White];

/// Convert a syntect color produced with [`Theme::syntect_theme`] to a ratatui
/// color: alpha 0 encodes an ANSI palette index in `r` (0-15 become the named
/// colors, others `Indexed`), alpha 1 the terminal default (`Reset`), anything
/// else is truecolor.
pub fn syntect_to_color(c: SColor) -> Color {
    match c.a {
        0 => ANSI16
            .get(usize::from(c.r))
            .copied()
            .unwrap_or(Color::Indexed(c.r)),
        1 => Color::Reset,
        _ => Color::Rgb(c.r, c.g, c.b),
    }
}

/// A syntect style (from [`Theme::syntect_theme`]) as a ratatui style: colour, bold, italic.
pub fn syntect_style(style: syntect::highlighting::Style) -> ratatui::style::Style {
    use syntect::highlighting::FontStyle;
    let mut s = ratatui::style::Style::default().fg(syntect_to_color(style.foreground));
    if style.font_style.contains(FontStyle::BOLD) {
        s = s.add_modifier(ratatui::style::Modifier::BOLD);
    }
    if style.font_style.contains(FontStyle::ITALIC) {
        s = s.add_modifier(ratatui::style::Modifier::ITALIC);
    }
    s
}

/// Find a theme's source: the user file (if allowed and present), else the
/// embedded one. Returns (text, origin for messages, `is_user`).
fn find_source(
    name: &str,
    dir: Option<&Path>,
    allow_user: bool,
) -> Result<Option<(String, String, bool)>> {
    let valid = !name.is_empty() && !name.contains(['/', '\\']) && name != "..";
    if let Some(dir) = dir.filter(|_| allow_user && valid) {
        let path = dir.join("themes").join(format!("{name}.toml"));
        if path.is_file() {
            let text = std::fs::read_to_string(&path)
                .with_context(|| format!("reading theme `{name}` from {}", path.display()))?;
            return Ok(Some((text, path.display().to_string(), true)));
        }
    }
    let found = EMBEDDED.iter().find(|(n, _)| *n == name);
    Ok(found.map(|(n, src)| (src.to_string(), format!("embedded theme `{n}`"), false)))
}

fn parse_theme(src: &str) -> Result<Partial> {
    let table: toml::Table = toml::from_str(src)?;
    let mut p = Partial::default();
    for (key, value) in &table {
        match key.as_str() {
            "inherits" => {
                let parent = value.as_str().context("`inherits` must be a string")?;
                p.inherits = Some(parent.to_string());
            }
            "syntax" => p.syntax = Some(parse_syntax(value)?),
            "description" => {}
            "styles" => {
                for (k, v) in value.as_table().context("`styles` must be a table")? {
                    let Some(key) = KEYS.iter().find(|n| **n == k) else {
                        bail!("unknown style key `styles.{k}`; known: {}", KEYS.join(" "));
                    };
                    p.styles
                        .push((key, parse_style(v, &format!("styles.{k}"))?));
                }
            }
            other => {
                bail!("unknown key `{other}` (expected inherits, syntax, description, styles)")
            }
        }
    }
    Ok(p)
}

fn parse_syntax(value: &toml::Value) -> Result<SyntaxStyle> {
    Ok(match value.as_str().context("`syntax` must be a string")? {
        "ansi" => SyntaxStyle::Ansi,
        "off" => SyntaxStyle::Off,
        name if SYNTECT_THEMES.contains(&name) => SyntaxStyle::Syntect(name.to_string()),
        other => bail!(
            "syntax: unknown value `{other}`; use \"ansi\", \"off\" or one of: {}",
            SYNTECT_THEMES.join(", ")
        ),
    })
}

/// Parse `{ fg, bg, mods }`; `path` (e.g. "styles.error") prefixes errors.
fn parse_style(value: &toml::Value, path: &str) -> Result<Style> {
    let table = value.as_table().with_context(|| {
        format!("{path}: must be a table like {{ fg = \"blue\", mods = [\"bold\"] }}")
    })?;
    let mut style = Style::default();
    for (k, v) in table {
        let path = format!("{path}.{k}");
        style = match k.as_str() {
            "fg" => style.fg(parse_color(v, &path)?),
            "bg" => style.bg(parse_color(v, &path)?),
            "mods" => style.add_modifier(parse_mods(v, &path)?),
            _ => bail!("{path}: unknown field (expected fg, bg, mods)"),
        };
    }
    Ok(style)
}

fn parse_color(value: &toml::Value, path: &str) -> Result<Color> {
    let color = match value {
        toml::Value::String(s) => s.parse().ok(),
        toml::Value::Integer(i) => u8::try_from(*i).ok().map(Color::Indexed),
        _ => None,
    };
    color.with_context(|| {
        format!("{path}: bad color {value}; use \"reset\", a color name, \"#rrggbb\" or 0-255")
    })
}

fn parse_mods(value: &toml::Value, path: &str) -> Result<Modifier> {
    let mut mods = Modifier::empty();
    for m in value
        .as_array()
        .with_context(|| format!("{path}: must be an array"))?
    {
        mods |= match m.as_str().unwrap_or_default().to_ascii_lowercase().as_str() {
            "bold" => Modifier::BOLD,
            "dim" => Modifier::DIM,
            "italic" => Modifier::ITALIC,
            "underlined" | "underline" => Modifier::UNDERLINED,
            "reversed" | "reverse" => Modifier::REVERSED,
            "crossed_out" | "strikethrough" => Modifier::CROSSED_OUT,
            "slow_blink" | "blink" => Modifier::SLOW_BLINK,
            "rapid_blink" => Modifier::RAPID_BLINK,
            "hidden" => Modifier::HIDDEN,
            _ => bail!(
                "{path}: unknown modifier {m} (bold dim italic underlined reversed crossed_out \
                 slow_blink rapid_blink hidden)"
            ),
        };
    }
    Ok(mods)
}

/// Scope rules of the ANSI syntect theme: (selectors, palette index or none, font style bits
/// 1 bold, 2 underline, 4 italic).
#[rustfmt::skip]
const ANSI_RULES: &[(&str, Option<u8>, u8)] = &[
    ("comment, punctuation.definition.comment", Some(8), 0),
    ("string, punctuation.definition.string", Some(2), 0),
    ("constant, support.constant", Some(6), 0),
    ("keyword, storage, keyword.operator.word", Some(5), 0),
    ("keyword.operator, punctuation", None, 0),
    ("entity.name.function, support.function, variable.function", Some(4), 0),
    ("entity.name.type, entity.name.class, entity.other.inherited-class", Some(3), 0),
    ("support.type, support.class, storage.type.primitive", Some(3), 0),
    ("entity.name.tag", Some(1), 0),
    ("entity.other.attribute-name, support.type.property-name", Some(3), 0),
    ("invalid", Some(1), 1),
    ("markup.heading, entity.name.section", Some(4), 1),
    ("markup.bold", None, 1),
    ("markup.italic", None, 4),
    ("markup.underline.link, markup.link", Some(6), 2),
    ("markup.inserted", Some(2), 0),
    ("markup.deleted", Some(1), 0),
    ("markup.changed", Some(3), 0),
];

/// A syntect theme whose colors are ANSI palette indices (alpha 0, index in
/// `r`); the default foreground/background are "terminal default" (alpha 1).
fn ansi_syntect_theme() -> SyntectTheme {
    let color = |r, a| SColor { r, g: 0, b: 0, a };
    let scopes = ANSI_RULES.iter().map(|&(sel, fg, font)| ThemeItem {
        scope: sel
            .parse::<ScopeSelectors>()
            .expect("static scope selector"),
        style: StyleModifier {
            foreground: fg.map(|r| color(r, 0)),
            background: None,
            font_style: (font != 0).then(|| FontStyle::from_bits_truncate(font)),
        },
    });
    let settings = ThemeSettings {
        foreground: Some(color(0, 1)),
        background: Some(color(0, 1)),
        ..ThemeSettings::default()
    };
    let name = Some("devsky-ansi".to_string());
    SyntectTheme {
        name,
        author: None,
        settings,
        scopes: scopes.collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all_styles(t: &Theme) -> Vec<Style> {
        let mut t = t.clone();
        KEYS.iter().map(|k| *t.slot(k).unwrap()).collect()
    }

    fn user_dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("themes")).unwrap();
        for (name, text) in files {
            std::fs::write(dir.path().join("themes").join(format!("{name}.toml")), text).unwrap();
        }
        dir
    }

    #[test]
    fn embedded_themes_load_and_are_complete() {
        for (name, src) in EMBEDDED {
            assert_eq!(Theme::load(Some(name), None).unwrap().name, *name);
            let p = parse_theme(src).unwrap();
            assert_eq!(p.styles.len(), KEYS.len(), "{name} must set every style");
            assert!(p.syntax.is_some(), "{name} must set syntax");
        }
        assert_eq!(Theme::load(None, None).unwrap().name, "default");
        assert_eq!(Theme::names(None), ["dark", "default", "light", "mono"]);
        // `default` uses only the terminal's named ANSI colors.
        for s in all_styles(&Theme::load(None, None).unwrap()) {
            let c = [s.fg, s.bg];
            assert!(
                !c.iter()
                    .flatten()
                    .any(|c| matches!(c, Color::Rgb(..) | Color::Indexed(_)))
            );
        }
    }

    #[test]
    fn mono_has_no_colors() {
        let t = Theme::load(Some("mono"), None).unwrap();
        let plain = |c: Option<Color>| matches!(c, None | Some(Color::Reset));
        for s in all_styles(&t) {
            assert!(plain(s.fg) && plain(s.bg), "{s:?}");
        }
        assert!(t.syntax == SyntaxStyle::Off && t.syntect_theme().is_none());
    }

    #[test]
    fn choose_precedence() {
        assert_eq!(
            Theme::choose(Some("dark"), Some("1"), Some("light")),
            "dark"
        );
        assert_eq!(Theme::choose(None, Some("1"), Some("light")), "mono");
        assert_eq!(Theme::choose(None, Some(""), Some("light")), "light");
        assert_eq!(Theme::choose(None, None, Some("light")), "light");
        assert_eq!(Theme::choose(None, None, None), "default");
        assert_eq!(Theme::choose(Some(""), None, Some("")), "default");
    }

    #[test]
    fn partial_user_theme_inherits() {
        let mine = "inherits = \"dark\"\n[styles]\nselected = { fg = \"red\" }\n";
        let dir = user_dir(&[
            ("mine", mine),
            ("default", "[styles]\naccent = { fg = 5 }\n"),
        ]);
        let cfg = Some(dir.path());
        let (dark, mine) = (
            Theme::load(Some("dark"), None).unwrap(),
            Theme::load(Some("mine"), cfg).unwrap(),
        );
        assert_eq!(mine.selected, Style::new().fg(Color::Red));
        assert_eq!((mine.base, &mine.syntax), (dark.base, &dark.syntax));
        // A user "default" overrides the embedded one and inherits from it.
        let (def, embedded) = (
            Theme::load(None, cfg).unwrap(),
            Theme::load(None, None).unwrap(),
        );
        assert_eq!(def.accent, Style::new().fg(Color::Indexed(5)));
        assert_eq!(def.error, embedded.error);
        assert_eq!(
            Theme::names(cfg),
            ["dark", "default", "light", "mine", "mono"]
        );
    }

    #[test]
    fn errors_name_the_problem() {
        let dir = user_dir(&[
            ("bad", "[styles]\nerror = { fg = \"blurple\" }\n"),
            ("typo", "[styles]\nselectd = {}\n"),
            ("broken", "[styles\nbase = {}\n"),
            ("orphan", "inherits = \"nope\"\n"),
            ("loop", "inherits = \"loop2\"\n"),
            ("loop2", "inherits = \"loop\"\n"),
        ]);
        let err = |n| {
            Theme::load(Some(n), Some(dir.path()))
                .unwrap_err()
                .to_string()
        };
        let e = err("bad");
        assert!(
            e.contains("styles.error.fg") && e.contains("blurple"),
            "{e}"
        );
        assert!(err("typo").contains("styles.selectd"));
        let e = err("broken");
        assert!(e.contains("broken.toml") && e.contains("line 1"), "{e}");
        assert!(err("orphan").contains("`nope`"));
        assert!(err("loop").contains("cycle"));
        let e = err("missing");
        assert!(
            e.contains("`missing`") && e.contains("dark, default"),
            "{e}"
        );
    }

    #[test]
    fn default_syntect_theme_is_ansi_encoded() {
        use syntect::{easy::HighlightLines, parsing::SyntaxSet};
        let theme = Theme::load(None, None).unwrap().syntect_theme().unwrap();
        let ss = SyntaxSet::load_defaults_newlines();
        let mut hl = HighlightLines::new(ss.find_syntax_by_extension("rs").unwrap(), &theme);
        let line = "fn main() { let s = \"x\"; } // hi\n";
        let mut colors = Vec::new();
        for (style, _) in hl.highlight_line(line, &ss).unwrap() {
            colors.push(syntect_to_color(style.foreground));
            assert_eq!(syntect_to_color(style.background), Color::Reset);
        }
        assert!(
            colors.iter().all(|c| !matches!(c, Color::Rgb(..))),
            "{colors:?}"
        );
        for c in [Color::Magenta, Color::Green, Color::DarkGray, Color::Reset] {
            assert!(colors.contains(&c), "{c:?} missing in {colors:?}");
        }
    }

    #[test]
    fn truecolor_themes_have_syntect_themes() {
        assert!(
            Theme::load(Some("dark"), None)
                .unwrap()
                .syntect_theme()
                .is_some()
        );
        let set = ThemeSet::load_defaults();
        assert!(SYNTECT_THEMES.iter().all(|n| set.themes.contains_key(*n)));
    }
}
