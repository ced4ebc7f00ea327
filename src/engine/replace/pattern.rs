//! The pattern of a search or a replace: a literal or a regex (the `regex` crate), with
//! `--ignore-case` and `--word`, and the replacement with capture groups (`$1`, `${name}`;
//! regex mode only: a literal replacement is taken as it is).
//!
//! A literal pattern holding `/` also matches its JSON-escaped form (`https:\/\/old`), and
//! that form is replaced by the replacement escaped the same way, so URLs that PHP's
//! `json_encode` wrote are found and written back escaped wherever they sit.

use anyhow::{Context, bail};
use regex::{Captures, Regex, RegexBuilder};

/// How the pattern text is read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Options {
    pub regex: bool,
    pub ignore_case: bool,
    pub word: bool,
    /// Decode values that are wholly base64 and search inside them (database values).
    pub base64: bool,
}

/// A compiled pattern and its replacement.
#[derive(Debug, Clone)]
pub struct Pattern {
    re: Regex,
    replacement: String,
    /// The replacement of a match of the JSON-escaped literal (`\/` for `/`).
    escaped_replacement: Option<String>,
    regex: bool,
    /// The regex as compiled, and whether it ignores case (for [`Self::needles`]).
    source: String,
    ignore_case: bool,
    base64: bool,
}

/// Group name of the JSON-escaped alternative of a literal pattern.
const ESCAPED: &str = "devsky_json_escaped";

impl Pattern {
    /// Compile `pattern` (an invalid regex is an error that shows where it is wrong).
    pub fn new(pattern: &str, replacement: &str, opts: Options) -> anyhow::Result<Pattern> {
        if pattern.is_empty() {
            bail!("the pattern is empty: give the text to search for");
        }
        let wrap = |p: String| {
            if opts.word {
                format!(r"\b(?:{p})\b")
            } else {
                p
            }
        };
        let mut escaped_replacement = None;
        let source = if opts.regex {
            wrap(pattern.to_string())
        } else if pattern.contains('/') {
            escaped_replacement = Some(replacement.replace('/', r"\/"));
            let alt = regex::escape(&pattern.replace('/', r"\/"));
            format!(
                "(?:{})|(?P<{ESCAPED}>{})",
                wrap(regex::escape(pattern)),
                wrap(alt)
            )
        } else {
            wrap(regex::escape(pattern))
        };
        let re = RegexBuilder::new(&source)
            .case_insensitive(opts.ignore_case)
            .size_limit(64 << 20)
            .build()
            .with_context(|| format!("invalid pattern {pattern:?}"))?;
        Ok(Pattern {
            re,
            replacement: replacement.to_string(),
            escaped_replacement,
            regex: opts.regex,
            source,
            ignore_case: opts.ignore_case,
            base64: opts.base64,
        })
    }

    pub fn regex(&self) -> &Regex {
        &self.re
    }

    /// Texts one of which every match holds, for the server's prefilter (None: read every
    /// value: nothing is required, or base64 values are decoded).
    pub fn needles(&self) -> Option<Vec<super::needles::Needle>> {
        if self.base64 {
            return None;
        }
        super::needles::needles(&self.source, self.ignore_case)
    }

    /// Are values that are wholly base64 decoded and searched inside?
    pub fn base64(&self) -> bool {
        self.base64
    }

    /// Does `text` hold a match?
    pub fn is_match(&self, text: &str) -> bool {
        self.re.is_match(text)
    }

    /// The text a match becomes.
    pub fn expand(&self, caps: &Captures, out: &mut String) {
        if caps.name(ESCAPED).is_some() {
            out.push_str(self.escaped_replacement.as_deref().unwrap_or_default());
        } else if self.regex {
            caps.expand(&self.replacement, out);
        } else {
            out.push_str(&self.replacement);
        }
    }

    /// `text` with every match replaced, and the number of matches (0: unchanged).
    pub fn replace(&self, text: &str) -> (String, usize) {
        self.replace_except(text, &[])
    }

    /// [`Self::replace`], leaving the matches whose indexes (0-based, in order) are in
    /// `skip` as they are.
    pub fn replace_except(&self, text: &str, skip: &[usize]) -> (String, usize) {
        let mut out = String::with_capacity(text.len());
        let mut last = 0;
        let mut n = 0;
        for (i, caps) in self.re.captures_iter(text).enumerate() {
            if skip.contains(&i) {
                continue;
            }
            let m = caps.get(0).expect("group 0");
            out.push_str(&text[last..m.start()]);
            self.expand(&caps, &mut out);
            last = m.end();
            n += 1;
        }
        out.push_str(&text[last..]);
        (out, n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pat: &str, rep: &str, regex: bool) -> Pattern {
        let opts = Options {
            regex,
            ..Options::default()
        };
        Pattern::new(pat, rep, opts).unwrap()
    }

    #[test]
    fn literal_regex_groups_and_escaped_urls() {
        let lit = p("a.b/c", "x/$1", false);
        let (out, n) = lit.replace(r"a.b/c axb/c a.b\/c");
        assert_eq!((out.as_str(), n), (r"x/$1 axb/c x\/$1", 2));
        let re = p(r"(\w+)@old\.org", "$1@new.org", true);
        assert_eq!(
            re.replace("me@old.org, you@old.org").0,
            "me@new.org, you@new.org"
        );
        let word = Pattern::new(
            "cat",
            "dog",
            Options {
                word: true,
                ignore_case: true,
                ..Options::default()
            },
        )
        .unwrap();
        assert_eq!(word.replace("Cat concat cat.").0, "dog concat dog.");
    }

    #[test]
    fn invalid_regex_says_where() {
        let opts = Options {
            regex: true,
            ..Options::default()
        };
        let e = format!("{:#}", Pattern::new("ab(c", "", opts).unwrap_err());
        assert!(e.contains("invalid pattern") && e.contains("^"), "{e}");
        assert!(Pattern::new("", "", Options::default()).is_err());
    }
}
