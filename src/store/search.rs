//! Full-text search over codebase records: what users type becomes an FTS5 query, hits
//! come back ranked (bm25, names weigh more than bodies) with a snippet around the match.

use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use super::codebase::file_path;

/// Marks the start of a matched term in a search snippet.
pub const MATCH_START: char = '\u{2}';
/// Marks the end of a matched term in a search snippet.
pub const MATCH_END: char = '\u{3}';

/// One search hit.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub id: i64,
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    pub kind: String,
    /// Text around the match; matched terms between [`MATCH_START`] and [`MATCH_END`].
    pub snippet: String,
    pub rank: f64,
    /// Whether a snippet was looked for (an empty one may mean "no body match").
    #[serde(skip)]
    pub snippet_checked: bool,
}

/// Results of a search: the best hits and how many matched in all (capped).
#[derive(Debug, Clone, Default, Serialize)]
pub struct SearchResults {
    pub total: usize,
    pub total_capped: bool,
    pub hits: Vec<Hit>,
}

/// Turn what a user types into an FTS5 query. Plain words become prefix terms that must
/// all match (results as you type); a query using FTS5 syntax (quotes, AND/OR/NOT, column
/// filters, parentheses, `*`) is passed through as written.
pub fn fts_query(input: &str) -> Option<String> {
    let input = input.trim();
    if input.is_empty() {
        return None;
    }
    let advanced = input.contains(['"', '(', ')', '*', '^'])
        || input
            .split_whitespace()
            .any(|w| matches!(w, "AND" | "OR" | "NOT" | "NEAR"))
        || input
            .split_whitespace()
            .any(|w| w.starts_with("name:") || w.starts_with("body:"));
    if advanced {
        return Some(input.to_string());
    }
    let terms: Vec<String> = input
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .map(|w| format!("\"{}\"*", w.replace('"', "")))
        .collect();
    if terms.is_empty() {
        None
    } else {
        Some(terms.join(" "))
    }
}

/// How many matches [`search`] counts before it stops counting.
pub const COUNT_CAP: usize = 10_000;

/// Full-text search, best first (names weigh more than bodies), with snippets.
///
/// Ranking is FTS5's bm25. Snippets are cut here from the first 64 KiB of each hit's body
/// rather than by FTS5's `snippet()`, which SQLite would evaluate for every match before
/// sorting (hundreds of milliseconds for a common word over 100,000 records); for the same
/// reason the records are joined only to the ranked top hits.
pub fn search(conn: &Connection, input: &str, limit: usize) -> rusqlite::Result<SearchResults> {
    let Some(q) = fts_query(input) else {
        return Ok(SearchResults::default());
    };
    let mut stmt = conn.prepare_cached(
        "SELECT c.id, c.name, c.kind, t.rank
         FROM (SELECT rowid AS id, bm25(_dev_codebase_fts, 10.0, 1.0) AS rank
               FROM _dev_codebase_fts WHERE _dev_codebase_fts MATCH ?1
               ORDER BY rank LIMIT ?2) t
         JOIN _dev_codebase c ON c.id = t.id
         ORDER BY t.rank",
    )?;
    let mut hits = stmt
        .query_map(params![q, limit as i64], |r| {
            let name: String = r.get(1)?;
            Ok(Hit {
                id: r.get(0)?,
                path: file_path(&name),
                name,
                kind: r.get(2)?,
                snippet: String::new(),
                rank: r.get(3)?,
                snippet_checked: false,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let terms = query_terms(input);
    for hit in hits.iter_mut().take(SNIPPET_HITS) {
        hit.snippet = snippet_for(conn, hit.id, &terms)?;
        hit.snippet_checked = true;
    }
    let total = if hits.len() < limit {
        hits.len()
    } else {
        let mut stmt = conn.prepare_cached(
            "SELECT COUNT(*) FROM (SELECT 1 FROM _dev_codebase_fts WHERE _dev_codebase_fts MATCH ?1 LIMIT ?2)",
        )?;
        stmt.query_row(params![q, (COUNT_CAP + 1) as i64], |r| r.get::<_, i64>(0))? as usize
    };
    Ok(SearchResults {
        total: total.min(COUNT_CAP),
        total_capped: total > COUNT_CAP,
        hits,
    })
}

/// Hits that [`search`] gives a snippet; later ones get theirs from [`snippet_for`] when
/// they are shown.
pub const SNIPPET_HITS: usize = 100;

/// The snippet of record `id` for `terms` (see [`make_snippet`]).
pub fn snippet_for(conn: &Connection, id: i64, terms: &[String]) -> rusqlite::Result<String> {
    let mut stmt =
        conn.prepare_cached("SELECT substr(body, 1, 65536) FROM _dev_codebase WHERE id = ?1")?;
    let text: Option<Option<String>> = stmt.query_row([id], |r| r.get(0)).optional()?;
    Ok(text
        .flatten()
        .map(|t| make_snippet(&t, terms))
        .unwrap_or_default())
}

/// The lower-cased words of a query, without FTS5 operators and column names.
pub fn query_terms(input: &str) -> Vec<String> {
    input
        .split(|c: char| !c.is_alphanumeric() && c != '_')
        .filter(|w| !w.is_empty() && !matches!(*w, "AND" | "OR" | "NOT" | "NEAR" | "name" | "body"))
        .map(str::to_lowercase)
        .collect()
}

/// Characters of context kept before the first match.
const SNIPPET_BEFORE: usize = 30;
/// Characters a snippet holds at most.
const SNIPPET_LEN: usize = 120;

/// A one-line excerpt of `text` around the first word that starts with one of `terms`,
/// every such word marked; empty when none occurs.
pub fn make_snippet(text: &str, terms: &[String]) -> String {
    let starts_term = |at: usize| -> Option<usize> {
        let rest = &text[at..];
        terms.iter().find_map(|t| {
            let mut len = 0;
            let mut chars = rest.chars();
            for tc in t.chars() {
                let c = chars.next()?;
                if !c.to_lowercase().eq(tc.to_lowercase()) {
                    return None;
                }
                len += c.len_utf8();
            }
            // extend to the end of the word (prefix match)
            let tail: usize = rest[len..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .map(char::len_utf8)
                .sum();
            Some(len + tail)
        })
    };
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    let mut prev_word = false;
    let mut first = None;
    for (i, c) in text.char_indices() {
        if is_word(c) && !prev_word && starts_term(i).is_some() {
            first = Some(i);
            break;
        }
        prev_word = is_word(c);
    }
    let Some(first) = first else {
        return String::new();
    };
    let start = text[..first]
        .char_indices()
        .rev()
        .nth(SNIPPET_BEFORE - 1)
        .map_or(0, |(i, _)| i);
    let end = text[start..]
        .char_indices()
        .nth(SNIPPET_LEN)
        .map_or(text.len(), |(i, _)| start + i);
    let window = &text[start..end];
    let mut out = String::with_capacity(window.len() + 16);
    if start > 0 {
        out.push('…');
    }
    let mut prev_word = start > 0 && text[..start].chars().next_back().is_some_and(is_word);
    let mut skip_to = 0;
    let mut last_space = false;
    for (i, c) in window.char_indices() {
        if i < skip_to {
            continue;
        }
        if is_word(c)
            && !prev_word
            && let Some(len) = starts_term(start + i)
        {
            let len = len.min(window.len() - i);
            out.push(MATCH_START);
            out.push_str(&window[i..i + len]);
            out.push(MATCH_END);
            skip_to = i + len;
            prev_word = true;
            last_space = false;
            continue;
        }
        prev_word = is_word(c);
        if c.is_whitespace() {
            if !last_space {
                out.push(' ');
            }
            last_space = true;
        } else if !c.is_control() {
            out.push(c);
            last_space = false;
        }
    }
    if end < text.len() {
        out.push('…');
    }
    out
}

/// A snippet with its match markers replaced by `open` and `close`.
pub fn snippet_marked(snippet: &str, open: &str, close: &str) -> String {
    snippet.replace(MATCH_START, open).replace(MATCH_END, close)
}

/// A snippet split into (is_match, text) parts.
pub fn snippet_parts(snippet: &str) -> Vec<(bool, &str)> {
    let mut out = Vec::new();
    let mut rest = snippet;
    while let Some(start) = rest.find(MATCH_START) {
        if start > 0 {
            out.push((false, &rest[..start]));
        }
        let after = &rest[start + MATCH_START.len_utf8()..];
        let end = after.find(MATCH_END).unwrap_or(after.len());
        out.push((true, &after[..end]));
        rest = after.get(end + MATCH_END.len_utf8()..).unwrap_or("");
    }
    if !rest.is_empty() {
        out.push((false, rest));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Store;
    use crate::store::codebase::{Body, NewRecord, find_by_name, get, insert, update_body};

    fn rec(name: &str, body: &str) -> NewRecord {
        NewRecord {
            name: name.into(),
            kind: "file".into(),
            body: Body::Text(body.into()),
            authors: "ann".into(),
            package: String::new(),
            status: "new".into(),
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open_project(dir.path(), true).unwrap();
        (dir, s)
    }

    #[test]
    fn snippets_mark_prefix_matches_case_insensitively() {
        let terms = query_terms("inv tot");
        let s = make_snippet(
            "class Invoice {\n  function total() { return invoices; }\n}",
            &terms,
        );
        assert_eq!(
            snippet_marked(&s, "[", "]"),
            "class [Invoice] { function [total]() { return [invoices]; } }"
        );
        assert_eq!(make_snippet("nothing here", &terms), "");
        // a match inside a word does not count
        assert_eq!(make_snippet("reinvent", &query_terms("inv")), "");
        let long = format!("{} needle {}", "a ".repeat(200), "b ".repeat(200));
        let s = make_snippet(&long, &query_terms("needle"));
        assert!(
            s.starts_with('…') && s.ends_with('…') && s.contains("\u{2}needle\u{3}"),
            "{s}"
        );
        assert!(
            s.chars().count() <= SNIPPET_LEN + 4,
            "two ellipses and two markers at most"
        );
        assert_eq!(
            query_terms("name:foo AND \"bar baz\""),
            ["foo", "bar", "baz"]
        );
        let s = make_snippet("ÉCOLE école", &query_terms("éc"));
        assert_eq!(snippet_marked(&s, "[", "]"), "[ÉCOLE] [école]");
    }

    #[test]
    fn search_ranks_name_matches_first_and_follows_updates() {
        let (_d, mut s) = store();
        s.write(|tx| {
            insert(
                tx,
                &rec("f:app/Invoice.php", "class Invoice { function total() {} }"),
                1,
            )?;
            insert(
                tx,
                &rec(
                    "f:app/User.php",
                    "class User { function invoices() { return invoice_list(); } }",
                ),
                1,
            )?;
            insert(tx, &rec("f:README.md", "nothing to see"), 1)?;
            Ok(())
        })
        .unwrap();
        let r = search(s.conn(), "invoice", 10).unwrap();
        assert_eq!(r.total, 2);
        assert_eq!(r.hits[0].name, "f:app/Invoice.php");
        assert_eq!(r.hits[0].path.as_deref(), Some("app/Invoice.php"));
        assert!(
            r.hits[1].snippet.contains(MATCH_START),
            "{:?}",
            r.hits[1].snippet
        );
        // prefix search while typing
        assert_eq!(search(s.conn(), "invo", 10).unwrap().total, 2);
        // an update re-indexes the body
        let id = find_by_name(s.conn(), "f:README.md").unwrap().unwrap().0;
        s.write(|tx| {
            Ok(update_body(
                tx,
                id,
                &Body::Text("invoice docs".into()),
                "bob",
                2,
            )?)
        })
        .unwrap();
        assert_eq!(search(s.conn(), "invoice", 10).unwrap().total, 3);
        let r = get(s.conn(), id).unwrap().unwrap();
        assert_eq!((r.version.as_str(), r.authors.as_str()), ("2", "ann+bob"));
        assert_eq!(search(s.conn(), "nothing", 10).unwrap().total, 0);
    }

    #[test]
    fn fts_query_quotes_plain_words_and_passes_syntax() {
        assert_eq!(fts_query("foo bar").unwrap(), "\"foo\"* \"bar\"*");
        assert_eq!(fts_query("a\"b OR c").unwrap(), "a\"b OR c");
        assert_eq!(fts_query("   "), None);
        assert_eq!(fts_query("-- ;;"), None);
        // punctuation-heavy input never produces an FTS syntax error
        let (_d, s) = store();
        for q in ["index.php", "a-b", "x::y", "é", "${var}", "<?php"] {
            search(s.conn(), q, 5).unwrap();
        }
    }

    #[test]
    fn snippet_parts_split_on_markers() {
        let s = format!("a {MATCH_START}b{MATCH_END} c");
        assert_eq!(
            snippet_parts(&s),
            vec![(false, "a "), (true, "b"), (false, " c")]
        );
        assert_eq!(snippet_marked(&s, "[", "]"), "a [b] c");
    }
}
