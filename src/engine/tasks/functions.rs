//! `devsky task functions`: the functions, methods and classes (interfaces, traits, enums)
//! of every PHP and JS file, with line numbers. Not tree-sitter (too heavy a dependency
//! for this): a careful tokenizer that skips strings, comments, PHP heredoc/nowdoc and
//! the HTML outside `<?php ... ?>`, JS template literals (with `${...}` nesting) and regex
//! literals, then a small scan of the tokens that follows braces to tell methods from
//! functions. Anonymous functions and classes are not listed.

use anyhow::Result;
use serde::Serialize;

use super::{Files, Table, read, step};
use crate::engine::jobs::Progress;

/// One declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decl {
    pub line: usize,
    /// class, interface, trait, enum, function or method.
    pub kind: &'static str,
    /// `Class::method` for a method.
    pub name: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    Php,
    Js,
}

impl Lang {
    pub fn of(rel: &str) -> Option<Lang> {
        let e = rel.rsplit_once('.')?.1.to_ascii_lowercase();
        match e.as_str() {
            "php" | "phtml" | "inc" => Some(Lang::Php),
            "js" | "mjs" | "cjs" | "jsx" => Some(Lang::Js),
            _ => None,
        }
    }
}

pub fn run(files: &Files, progress: &Progress) -> Result<Table> {
    let mut t = Table::new("functions", &["path", "line", "kind", "name"]);
    t.problems = files.problems.clone();
    let todo: Vec<(&String, Lang)> = files
        .paths
        .iter()
        .filter_map(|p| Some((p, Lang::of(p)?)))
        .collect();
    let mut n = 0usize;
    for (i, (rel, lang)) in todo.iter().enumerate() {
        step(progress, i, todo.len(), "functions")?;
        match read(&files.root, rel) {
            Ok(b) => {
                for d in declarations(&b, *lang) {
                    n += 1;
                    t.rows.push(vec![
                        rel.as_str().into(),
                        d.line.into(),
                        d.kind.into(),
                        d.name.into(),
                    ]);
                }
            }
            Err(p) => t.problems.push(p),
        }
    }
    step(progress, todo.len(), todo.len(), "functions")?;
    t.summary = format!("{n} declaration(s) in {} PHP/JS file(s)", todo.len());
    Ok(t)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Ident(String),
    Punct(&'static str),
    /// A literal, a variable, a number: something that is none of the above.
    Other,
}

fn ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c >= 0x80 || c == b'$'
}

fn ident_char(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 || c == b'$'
}

const PUNCTS: &[&str] = &[
    "?->", "->", "::", "=>", "{", "}", "(", ")", "[", "]", ";", ",", "=", ".", "*", "&", ":", "!",
    "|", "?", "+", "-", "%", "<", ">", "~", "^", "/", "@", "\\",
];

/// JS keywords after which a `/` starts a regex literal.
const BEFORE_REGEX: &[&str] = &[
    "return",
    "typeof",
    "instanceof",
    "in",
    "of",
    "new",
    "delete",
    "void",
    "throw",
    "case",
    "do",
    "else",
    "yield",
    "await",
];

/// The tokens of `src` with their line numbers.
fn tokens(src: &[u8], lang: Lang) -> Vec<(Tok, usize)> {
    let mut out: Vec<(Tok, usize)> = Vec::new();
    let (mut i, mut line) = (0usize, 1usize);
    let n = src.len();
    let mut html = lang == Lang::Php;
    // JS: brace depths at which a template literal's `${` was opened.
    let mut tmpl: Vec<usize> = Vec::new();
    let mut depth = 0usize;
    let lines = |a: usize, b: usize| src[a..b].iter().filter(|&&c| c == b'\n').count();
    let at = |i: usize, s: &[u8]| src[i..].starts_with(s);
    while i < n {
        if html {
            match find(src, i, b"<?") {
                Some(j) => {
                    line += lines(i, j);
                    i = j + 2;
                    if src[i..].len() >= 3 && src[i..i + 3].eq_ignore_ascii_case(b"php") {
                        i += 3;
                    }
                    html = false;
                }
                None => break,
            }
            continue;
        }
        let c = src[i];
        if c == b'\n' {
            line += 1;
            i += 1;
        } else if c.is_ascii_whitespace() {
            i += 1;
        } else if lang == Lang::Php && at(i, b"?>") {
            html = true;
            i += 2;
        } else if at(i, b"//") || (lang == Lang::Php && c == b'#' && !at(i, b"#[")) {
            while i < n && src[i] != b'\n' && !(lang == Lang::Php && at(i, b"?>")) {
                i += 1;
            }
        } else if at(i, b"/*") {
            let end = find(src, i + 2, b"*/").map_or(n, |j| j + 2);
            line += lines(i, end);
            i = end;
        } else if c == b'\'' || c == b'"' || (c == b'`' && lang == Lang::Php) {
            let end = quoted(src, i + 1, c);
            line += lines(i, end);
            i = end;
            out.push((Tok::Other, line));
        } else if c == b'`' {
            let (end, open) = template(src, i + 1);
            line += lines(i, end);
            i = end;
            if open {
                tmpl.push(depth);
            }
            out.push((Tok::Other, line));
        } else if lang == Lang::Php && at(i, b"<<<") {
            let end = heredoc(src, i + 3);
            line += lines(i, end);
            i = end;
            out.push((Tok::Other, line));
        } else if lang == Lang::Js && c == b'/' && regex_may_start(out.last().map(|t| &t.0)) {
            let end = regex_literal(src, i + 1);
            i = end;
            out.push((Tok::Other, line));
        } else if c == b'}' && tmpl.last() == Some(&depth) {
            tmpl.pop();
            let (end, open) = template(src, i + 1);
            line += lines(i, end);
            i = end;
            if open {
                tmpl.push(depth);
            }
        } else if ident_start(c) || (lang == Lang::Js && c == b'#') {
            let start = i;
            i += 1;
            while i < n && ident_char(src[i]) {
                i += 1;
            }
            let word = &src[start..i];
            if word[0] == b'$' && lang == Lang::Php || word[0] == b'#' {
                out.push((Tok::Other, line));
            } else {
                out.push((Tok::Ident(String::from_utf8_lossy(word).into_owned()), line));
            }
        } else if c.is_ascii_digit() {
            while i < n && (src[i].is_ascii_alphanumeric() || src[i] == b'.' || src[i] == b'_') {
                i += 1;
            }
            out.push((Tok::Other, line));
        } else {
            let p = PUNCTS
                .iter()
                .find(|p| at(i, p.as_bytes()))
                .copied()
                .unwrap_or("?");
            i += p.len().max(1);
            match p {
                "{" => depth += 1,
                "}" => depth = depth.saturating_sub(1),
                _ => {}
            }
            out.push((Tok::Punct(p), line));
        }
    }
    out
}

fn find(src: &[u8], from: usize, what: &[u8]) -> Option<usize> {
    src.get(from..)?
        .windows(what.len())
        .position(|w| w == what)
        .map(|p| p + from)
}

/// The end of a quoted literal whose body starts at `i` (after the closing quote).
fn quoted(src: &[u8], mut i: usize, q: u8) -> usize {
    while i < src.len() {
        match src[i] {
            b'\\' => i += 2,
            c if c == q => return i + 1,
            _ => i += 1,
        }
    }
    src.len()
}

/// A JS template literal's text from `i`: where it stops, and whether it stopped at a
/// `${` (code follows until the matching `}`) rather than at its closing backtick.
fn template(src: &[u8], mut i: usize) -> (usize, bool) {
    while i < src.len() {
        match src[i] {
            b'\\' => i += 2,
            b'`' => return (i + 1, false),
            b'$' if src.get(i + 1) == Some(&b'{') => return (i + 2, true),
            _ => i += 1,
        }
    }
    (src.len(), false)
}

/// The end of a PHP heredoc or nowdoc whose `<<<` ends at `i`: after the line (or the
/// indented closing) that holds its identifier alone.
fn heredoc(src: &[u8], mut i: usize) -> usize {
    while i < src.len() && (src[i] == b' ' || src[i] == b'\t') {
        i += 1;
    }
    let quote = matches!(src.get(i), Some(b'\'' | b'"'));
    if quote {
        i += 1;
    }
    let start = i;
    while i < src.len() && ident_char(src[i]) && src[i] != b'$' {
        i += 1;
    }
    let id = &src[start..i];
    if id.is_empty() {
        return i;
    }
    let mut at = match find(src, i, b"\n") {
        Some(j) => j + 1,
        None => return src.len(),
    };
    while at < src.len() {
        let mut j = at;
        while j < src.len() && (src[j] == b' ' || src[j] == b'\t') {
            j += 1;
        }
        if src[j..].starts_with(id) && !src.get(j + id.len()).is_some_and(|&c| ident_char(c)) {
            return j + id.len();
        }
        at = match find(src, at, b"\n") {
            Some(k) => k + 1,
            None => return src.len(),
        };
    }
    src.len()
}

fn regex_may_start(prev: Option<&Tok>) -> bool {
    match prev {
        None => true,
        Some(Tok::Punct(p)) => !matches!(*p, ")" | "]" | "}"),
        Some(Tok::Ident(w)) => BEFORE_REGEX.contains(&w.as_str()),
        Some(Tok::Other) => false,
    }
}

/// The end of a JS regex literal whose body starts at `i` (flags included). A newline
/// before its end means it was a division after all: it stops there.
fn regex_literal(src: &[u8], mut i: usize) -> usize {
    let mut class = false;
    while i < src.len() {
        match src[i] {
            b'\\' => i += 2,
            b'\n' => return i,
            b'[' => {
                class = true;
                i += 1
            }
            b']' => {
                class = false;
                i += 1
            }
            b'/' if !class => {
                i += 1;
                while i < src.len() && src[i].is_ascii_alphabetic() {
                    i += 1;
                }
                return i;
            }
            _ => i += 1,
        }
    }
    src.len()
}

const JS_NOT_METHODS: &[&str] = &[
    "if", "for", "while", "switch", "catch", "function", "return", "with", "super",
];

/// The declarations of a PHP or JS source.
pub fn declarations(src: &[u8], lang: Lang) -> Vec<Decl> {
    let toks = tokens(src, lang);
    let mut out = Vec::new();
    let mut depth = 0usize;
    // Open classes: name (None: anonymous) and the depth of their body.
    let mut classes: Vec<(Option<String>, usize)> = Vec::new();
    let mut pending: Option<Option<String>> = None;
    let ident = |k: usize| match toks.get(k) {
        Some((Tok::Ident(w), _)) => Some(w.as_str()),
        _ => None,
    };
    let punct = |k: usize| match toks.get(k) {
        Some((Tok::Punct(p), _)) => Some(*p),
        _ => None,
    };
    let in_class_body = |classes: &Vec<(Option<String>, usize)>, depth: usize| {
        classes.last().filter(|c| c.1 == depth).map(|c| c.0.clone())
    };
    let fun = |classes: &Vec<(Option<String>, usize)>, depth: usize, name: &str, line: usize| {
        match in_class_body(classes, depth) {
            Some(Some(c)) => Some(Decl {
                line,
                kind: "method",
                name: format!("{c}::{name}"),
            }),
            Some(None) => None,
            None => Some(Decl {
                line,
                kind: "function",
                name: name.to_string(),
            }),
        }
    };
    for k in 0..toks.len() {
        let (tok, line) = (&toks[k].0, toks[k].1);
        let member = k > 0 && matches!(punct(k - 1), Some("->" | "?->" | "::" | "."));
        match tok {
            Tok::Punct("{") => {
                depth += 1;
                if let Some(c) = pending.take() {
                    classes.push((c, depth));
                }
            }
            Tok::Punct("}") => {
                if classes.last().is_some_and(|c| c.1 == depth) {
                    classes.pop();
                }
                depth = depth.saturating_sub(1);
            }
            Tok::Ident(_) if member => {}
            Tok::Ident(w) => {
                let w = w.as_str();
                let php_kind = lang == Lang::Php
                    && matches!(
                        w.to_ascii_lowercase().as_str(),
                        "class" | "interface" | "trait" | "enum"
                    );
                if php_kind || (lang == Lang::Js && w == "class") {
                    let anonymous =
                        k > 0 && ident(k - 1).is_some_and(|p| p.eq_ignore_ascii_case("new"));
                    match ident(k + 1)
                        .filter(|n| !anonymous && !matches!(*n, "extends" | "implements"))
                    {
                        Some(name) => {
                            let kind = match w.to_ascii_lowercase().as_str() {
                                "interface" => "interface",
                                "trait" => "trait",
                                "enum" => "enum",
                                _ => "class",
                            };
                            // `enum` is a keyword only before a name and `{`, `:` or implements
                            if kind == "enum"
                                && !matches!(punct(k + 2), Some("{" | ":"))
                                && ident(k + 2) != Some("implements")
                            {
                                continue;
                            }
                            out.push(Decl {
                                line,
                                kind,
                                name: name.to_string(),
                            });
                            pending = Some(Some(name.to_string()));
                        }
                        None if anonymous || lang == Lang::Js => pending = Some(None),
                        None => {}
                    }
                } else if w.eq_ignore_ascii_case("function") {
                    let mut j = k + 1;
                    while matches!(punct(j), Some("*" | "&")) {
                        j += 1;
                    }
                    if let Some(name) = ident(j)
                        && let Some(d) = fun(&classes, depth, name, line)
                    {
                        out.push(d);
                    }
                } else if lang == Lang::Js && matches!(w, "const" | "let" | "var") {
                    if let (Some(name), Some("=")) = (ident(k + 1), punct(k + 2))
                        && js_function_follows(&toks, k + 3)
                        && in_class_body(&classes, depth).is_none()
                    {
                        out.push(Decl {
                            line,
                            kind: "function",
                            name: name.to_string(),
                        });
                    }
                } else if lang == Lang::Js
                    && punct(k + 1) == Some("(")
                    && !JS_NOT_METHODS.contains(&w)
                    && (k == 0
                        || matches!(punct(k - 1), Some("{" | "}" | ";" | "*"))
                        || matches!(ident(k - 1), Some("static" | "async" | "get" | "set")))
                    && let Some(Some(c)) = in_class_body(&classes, depth)
                {
                    out.push(Decl {
                        line,
                        kind: "method",
                        name: format!("{c}::{w}"),
                    });
                }
            }
            _ => {}
        }
    }
    out
}

/// After `NAME =` at `k`: a function expression or an arrow function.
fn js_function_follows(toks: &[(Tok, usize)], k: usize) -> bool {
    match toks.get(k).map(|t| &t.0) {
        Some(Tok::Ident(w)) if w == "function" || w == "async" => true,
        Some(Tok::Ident(_)) => toks.get(k + 1).map(|t| &t.0) == Some(&Tok::Punct("=>")),
        Some(Tok::Punct("(")) => {
            let mut level = 0;
            for (j, (t, _)) in toks.iter().enumerate().skip(k) {
                match t {
                    Tok::Punct("(") => level += 1,
                    Tok::Punct(")") => {
                        level -= 1;
                        if level == 0 {
                            return toks.get(j + 1).map(|t| &t.0) == Some(&Tok::Punct("=>"));
                        }
                    }
                    _ => {}
                }
            }
            false
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(src: &str, lang: Lang) -> Vec<String> {
        declarations(src.as_bytes(), lang)
            .into_iter()
            .map(|d| d.name)
            .collect()
    }

    #[test]
    fn unterminated_literals_and_random_bytes_do_not_panic() {
        for src in [
            "<?php 'abc",
            "<?php <<<EOT\nx",
            "<?php /* x",
            "`${",
            "/[/",
            "\"\\",
        ] {
            declarations(src.as_bytes(), Lang::Php);
            declarations(src.as_bytes(), Lang::Js);
        }
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..200 {
            let bytes: Vec<u8> = (0..300)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    b"<?>/*`${}'\"\\#\n fnclass(){}=<<<EOT"[(x % 33) as usize]
                })
                .collect();
            declarations(&bytes, Lang::Php);
            declarations(&bytes, Lang::Js);
        }
    }

    #[test]
    fn division_is_not_a_regex_and_members_are_not_declarations() {
        let js = "let a = b / c; function f() {} let d = e / g;\nx.class = 1; function h() {}";
        assert_eq!(names(js, Lang::Js), ["f", "h"]);
        let php = "<?php $x->function = 1; A::class; function real() {}";
        assert_eq!(names(php, Lang::Php), ["real"]);
    }
}
