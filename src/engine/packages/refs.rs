//! References between codebase records: `RUN CODEBASE: <id>` in a record's text, and
//! numeric entries of a package's `priorun` list. Export and import renumber floating
//! ids; these are the only places a record id is written, so this is what they rewrite.

use std::sync::LazyLock;

use regex::Regex;

static RUN: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"RUN CODEBASE:[ \t]*([0-9]+)").expect("a valid pattern"));

/// The ids a text refers to, in order (a number too long for an id counts as `i64::MAX`:
/// a reference to nothing).
pub fn references(text: &str) -> Vec<i64> {
    RUN.captures_iter(text)
        .map(|c| c[1].parse::<i64>().unwrap_or(i64::MAX))
        .collect()
}

/// `text` with every reference's id replaced by `map(id)`; the first error stops it.
/// Nothing but the digits changes.
pub fn rewrite<E>(text: &str, mut map: impl FnMut(i64) -> Result<i64, E>) -> Result<String, E> {
    let mut out = String::with_capacity(text.len());
    let mut last = 0;
    for c in RUN.captures_iter(text) {
        let m = c.get(1).expect("group 1 always takes part");
        let id = m.as_str().parse::<i64>().unwrap_or(i64::MAX);
        out.push_str(&text[last..m.start()]);
        out.push_str(&map(id)?.to_string());
        last = m.end();
    }
    out.push_str(&text[last..]);
    Ok(out)
}

/// A priorun entry's record id, when it is one (else it names a macro).
pub fn priorun_id(entry: &str) -> Option<i64> {
    if entry.bytes().all(|b| b.is_ascii_digit()) {
        entry.parse().ok()
    } else {
        None
    }
}

/// A body as text to rewrite: UTF-8 without NUL (binary bodies are never rewritten).
pub fn as_text(body: &[u8]) -> Option<&str> {
    if body.contains(&0) {
        return None;
    }
    std::str::from_utf8(body).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_rewrites_only_the_digits() {
        let t = "a\nRUN CODEBASE: 50002\nRUN CODEBASE:7 and RUN CODEBASE:\t50001;\nrun codebase: 9";
        assert_eq!(references(t), vec![50002, 7, 50001]);
        let out = rewrite::<()>(t, |id| Ok(if id > 50000 { id + 100 } else { id })).unwrap();
        assert_eq!(
            out,
            "a\nRUN CODEBASE: 50102\nRUN CODEBASE:7 and RUN CODEBASE:\t50101;\nrun codebase: 9"
        );
        assert_eq!(
            references("RUN CODEBASE: 99999999999999999999999"),
            vec![i64::MAX]
        );
        assert_eq!(
            rewrite(t, |id| if id == 7 { Err(id) } else { Ok(id) }),
            Err(7)
        );
    }

    #[test]
    fn priorun_entries_are_ids_or_macros() {
        assert_eq!(priorun_id("50001"), Some(50001));
        assert_eq!(priorun_id("visual"), None);
        assert_eq!(priorun_id("x_fix"), None);
        assert_eq!(priorun_id(""), None);
    }
}
