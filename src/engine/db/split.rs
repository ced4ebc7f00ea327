//! Split SQL text into statements, keeping each one's byte offset in the text.
//!
//! A terminator (`;`, or what a `DELIMITER xx` line set) ends a statement only outside
//! quotes (`'..'`, `".."`, `` `..` `` with doubled-quote and, for MySQL, backslash escapes)
//! and comments (`-- `, `#` for MySQL, `/* */`). `DELIMITER xx` lines are the MySQL
//! client's convention for bodies that contain `;` (procedures, triggers); they are
//! consumed here and never sent. For SQLite, `;` inside a `CREATE TRIGGER ... BEGIN ...
//! END` body does not end the statement.
//!
//! A statement starts at its first byte that is neither white space nor a comment (MySQL's
//! executable `/*! ... */` comments count as statement text) and ends before its terminator,
//! trailing white space trimmed. Pieces that hold only comments are dropped.

use super::Kind;

/// One statement: a slice of the text and where it starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stmt<'a> {
    /// Byte offset of `sql` in the text that was split.
    pub offset: usize,
    pub sql: &'a str,
}

/// Split `text` into statements for the SQL dialect of `kind`.
pub fn split(text: &str, kind: Kind) -> Vec<Stmt<'_>> {
    let mysql = kind == Kind::Mysql;
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut delim: String = ";".into();
    // Start of the current statement's text (None until a non-comment byte is seen).
    let mut start: Option<usize> = None;
    // SQLite trigger bodies: `CREATE ... TRIGGER` seen, and BEGIN/CASE ... END depth.
    let mut trigger = false;
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        // DELIMITER lines, only where a statement may start.
        if mysql
            && start.is_none()
            && at_line_start(b, i)
            && starts_with_word_ci(&b[i..], b"delimiter")
        {
            let line_end = b[i..]
                .iter()
                .position(|&x| x == b'\n')
                .map_or(b.len(), |p| i + p);
            let arg = text[i + "delimiter".len()..line_end].trim();
            if let Some(d) = arg.split_whitespace().next() {
                delim = d.to_string();
                i = line_end;
                continue;
            }
        }
        match c {
            b'\'' | b'"' | b'`' => {
                start.get_or_insert(i);
                i = skip_quoted(b, i, mysql && c != b'`');
                continue;
            }
            b'[' if !mysql => {
                start.get_or_insert(i);
                i = b[i..]
                    .iter()
                    .position(|&x| x == b']')
                    .map_or(b.len(), |p| i + p + 1);
                continue;
            }
            b'-' if b.get(i + 1) == Some(&b'-')
                && (!mysql
                    || b.get(i + 2)
                        .is_none_or(|x| x.is_ascii_whitespace() || x.is_ascii_control())) =>
            {
                i = b[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |p| i + p + 1);
                continue;
            }
            b'#' if mysql => {
                i = b[i..]
                    .iter()
                    .position(|&x| x == b'\n')
                    .map_or(b.len(), |p| i + p + 1);
                continue;
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let executable = mysql && matches!(b.get(i + 2), Some(b'!') | Some(b'M'));
                if executable {
                    start.get_or_insert(i);
                }
                i = find(b, i + 2, b"*/").map_or(b.len(), |p| p + 2);
                continue;
            }
            _ => {}
        }
        if b[i..].starts_with(delim.as_bytes()) && (mysql || !trigger || depth == 0) {
            if let Some(s) = start.take() {
                out.push(Stmt {
                    offset: s,
                    sql: text[s..i].trim_end(),
                });
            }
            trigger = false;
            depth = 0;
            i += delim.len();
            continue;
        }
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let s = *start.get_or_insert(i);
        if is_word_byte(c) {
            // A delimiter ends a word too (`SELECT 2$$` with `DELIMITER $$`).
            let mut end = i + 1;
            while end < b.len() && is_word_byte(b[end]) && !b[end..].starts_with(delim.as_bytes()) {
                end += 1;
            }
            if !mysql {
                let word = &text[i..end];
                if word.eq_ignore_ascii_case("trigger") && first_word_is(&text[s..i], "create") {
                    trigger = true;
                } else if trigger
                    && (word.eq_ignore_ascii_case("begin") || word.eq_ignore_ascii_case("case"))
                {
                    depth += 1;
                } else if trigger && word.eq_ignore_ascii_case("end") {
                    depth = depth.saturating_sub(1);
                }
            }
            i = end;
            continue;
        }
        i += text[i..].chars().next().map_or(1, char::len_utf8);
    }
    if let Some(s) = start {
        let sql = text[s..].trim_end();
        if !sql.is_empty() {
            out.push(Stmt { offset: s, sql });
        }
    }
    out
}

/// The first keyword of a statement, upper-cased (`SELECT`, `CREATE`, ...), skipping
/// leading parentheses.
pub fn first_keyword(sql: &str) -> String {
    let t = sql.trim_start_matches(|c: char| c.is_whitespace() || c == '(');
    t.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_ascii_uppercase()
}

fn first_word_is(s: &str, w: &str) -> bool {
    s.split(|c: char| !c.is_ascii_alphanumeric() && c != '_')
        .find(|x| !x.is_empty())
        .is_some_and(|x| x.eq_ignore_ascii_case(w))
}

fn is_word_byte(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b'$'
}

fn at_line_start(b: &[u8], i: usize) -> bool {
    b[..i]
        .iter()
        .rev()
        .take_while(|&&x| x != b'\n')
        .all(|x| x.is_ascii_whitespace())
}

fn starts_with_word_ci(b: &[u8], w: &[u8]) -> bool {
    b.len() > w.len() && b[..w.len()].eq_ignore_ascii_case(w) && b[w.len()].is_ascii_whitespace()
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    b.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| from + p)
}

/// The index just past the quoted run that starts at `i` (or the end of the text when it
/// is not closed). A doubled quote is an escaped quote; with `backslash`, so is `\q`.
fn skip_quoted(b: &[u8], i: usize, backslash: bool) -> usize {
    let q = b[i];
    let mut j = i + 1;
    while j < b.len() {
        if backslash && b[j] == b'\\' {
            j += 2;
        } else if b[j] == q {
            if b.get(j + 1) == Some(&q) {
                j += 2;
            } else {
                return j + 1;
            }
        } else {
            j += 1;
        }
    }
    b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn my(s: &str) -> Vec<&str> {
        split(s, Kind::Mysql).into_iter().map(|x| x.sql).collect()
    }
    fn lite(s: &str) -> Vec<&str> {
        split(s, Kind::Sqlite).into_iter().map(|x| x.sql).collect()
    }

    #[test]
    fn semicolons_and_offsets() {
        let text = "SELECT 1;\n  SELECT 2 ;SELECT 3";
        let v = split(text, Kind::Mysql);
        assert_eq!(v.len(), 3);
        assert_eq!((v[0].offset, v[0].sql), (0, "SELECT 1"));
        assert_eq!((v[1].offset, v[1].sql), (12, "SELECT 2"));
        assert_eq!((v[2].offset, v[2].sql), (22, "SELECT 3"));
        for s in &v {
            assert_eq!(&text[s.offset..s.offset + s.sql.len()], s.sql);
        }
        assert_eq!(my(";;  ; \n"), Vec::<&str>::new());
        assert_eq!(my("SELECT 'é😀';SELECT 2"), ["SELECT 'é😀'", "SELECT 2"]);
    }

    #[test]
    fn quotes_hide_semicolons() {
        assert_eq!(my("SELECT 'a;b'; SELECT 2"), ["SELECT 'a;b'", "SELECT 2"]);
        assert_eq!(
            my(r#"SELECT "a;""b"; SELECT 2"#),
            [r#"SELECT "a;""b""#, "SELECT 2"]
        );
        assert_eq!(
            my("SELECT `a;``b`; SELECT 2"),
            ["SELECT `a;``b`", "SELECT 2"]
        );
        assert_eq!(
            my("SELECT 'it''s;'; SELECT 2"),
            ["SELECT 'it''s;'", "SELECT 2"]
        );
        // MySQL: backslash escapes; SQLite: a backslash is an ordinary character.
        assert_eq!(
            my(r"SELECT 'a\';b'; SELECT 2"),
            [r"SELECT 'a\';b'", "SELECT 2"]
        );
        assert_eq!(lite(r"SELECT 'a\'; SELECT 2"), [r"SELECT 'a\'", "SELECT 2"]);
        // Backquotes have no backslash escape in MySQL either.
        assert_eq!(my(r"SELECT `a\`; SELECT 2"), [r"SELECT `a\`", "SELECT 2"]);
        assert_eq!(
            lite("SELECT [a;b] FROM t; SELECT 2"),
            ["SELECT [a;b] FROM t", "SELECT 2"]
        );
        // An unclosed quote runs to the end.
        assert_eq!(my("SELECT 'a; SELECT 2"), ["SELECT 'a; SELECT 2"]);
    }

    #[test]
    fn comments() {
        assert_eq!(
            my("-- a; b\nSELECT 1; # c;\nSELECT 2"),
            ["SELECT 1", "SELECT 2"]
        );
        let v = split("/* x; */ SELECT /* ; */ 1;", Kind::Mysql);
        assert_eq!((v[0].offset, v[0].sql), (9, "SELECT /* ; */ 1"));
        // `--` needs a space after it in MySQL; `#` is not a comment in SQLite.
        assert_eq!(my("SELECT 1--1; SELECT 2"), ["SELECT 1--1", "SELECT 2"]);
        assert_eq!(lite("SELECT 1--1; SELECT 2"), ["SELECT 1--1; SELECT 2"]);
        assert_eq!(lite("SELECT '#'; SELECT 2"), ["SELECT '#'", "SELECT 2"]);
        // Comment-only pieces are dropped; executable comments are statements.
        assert_eq!(my("SELECT 1; -- done\n"), ["SELECT 1"]);
        assert_eq!(
            my("/*!40101 SET NAMES utf8mb4 */;\nSELECT 1"),
            ["/*!40101 SET NAMES utf8mb4 */", "SELECT 1"]
        );
        assert_eq!(my("SELECT 1 -- end"), ["SELECT 1 -- end"]);
    }

    #[test]
    fn delimiter_lines() {
        let text = "DROP PROCEDURE IF EXISTS p;\nDELIMITER //\nCREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\n  SELECT 2;\nEND//\nDELIMITER ;\nCALL p();\n";
        let v = split(text, Kind::Mysql);
        let sqls: Vec<&str> = v.iter().map(|s| s.sql).collect();
        assert_eq!(
            sqls,
            [
                "DROP PROCEDURE IF EXISTS p",
                "CREATE PROCEDURE p()\nBEGIN\n  SELECT 1;\n  SELECT 2;\nEND",
                "CALL p()"
            ]
        );
        assert_eq!(v[1].offset, text.find("CREATE").unwrap());
        // A two-character delimiter, lower case keyword, `;` inside quotes in the body.
        assert_eq!(
            my("delimiter $$\nSELECT ';' $$ SELECT 2$$"),
            ["SELECT ';'", "SELECT 2"]
        );
        // A column named delimiter is not a DELIMITER line.
        assert_eq!(
            my("SELECT 1 AS x,\ndelimiter FROM t; SELECT 2"),
            ["SELECT 1 AS x,\ndelimiter FROM t", "SELECT 2"]
        );
    }

    #[test]
    fn sqlite_trigger_bodies() {
        let t = "CREATE TABLE a(x);\nCREATE TRIGGER tr AFTER INSERT ON a BEGIN\n  UPDATE a SET x = CASE WHEN x > 1 THEN 1 ELSE 0 END;\n  DELETE FROM a WHERE x = 5;\nEND;\nINSERT INTO a VALUES (1);";
        let v = lite(t);
        assert_eq!(v.len(), 3, "{v:?}");
        assert!(v[1].starts_with("CREATE TRIGGER") && v[1].ends_with("END"));
        assert_eq!(v[2], "INSERT INTO a VALUES (1)");
    }

    #[test]
    fn keywords() {
        assert_eq!(first_keyword("  (select 1)"), "SELECT");
        assert_eq!(first_keyword("create table x"), "CREATE");
    }
}
