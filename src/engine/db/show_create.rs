//! MySQL's own `SHOW CREATE TABLE` text, cut into its parts: each column's definition, each
//! index and CHECK constraint clause (by name, in the order the table declares them), the
//! table options and the partitioning. The schema diff scripts MySQL tables from these
//! clauses as the server wrote them, so every attribute the server shows (generated
//! expressions, CHECK, character sets and collations, comments, expression defaults,
//! `INVISIBLE`, index types, parsers, prefixes, descending parts, table options,
//! partitions) survives, without devsky modelling each one.

use super::{ForeignKey, TableSchema};

/// The clauses of one `CREATE TABLE`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parts {
    /// (name, definition as in `ADD COLUMN`).
    pub columns: Vec<(String, String)>,
    /// `PRIMARY KEY (..)` clause, if any.
    pub primary: Option<String>,
    /// (name, clause as in `ADD ..`): `KEY`, `UNIQUE KEY`, `FULLTEXT KEY`, `SPATIAL KEY`.
    pub indexes: Vec<(String, String)>,
    /// (name, `CONSTRAINT .. CHECK (..)` clause).
    pub checks: Vec<(String, String)>,
    /// (name, `CONSTRAINT .. FOREIGN KEY ..` clause).
    pub foreign_keys: Vec<(String, String)>,
    /// Lines inside the parentheses that are none of the above (devsky cannot script them).
    pub other: Vec<String>,
    /// What follows the closing parenthesis on its line (`ENGINE=.. COMMENT='..'`), with
    /// `AUTO_INCREMENT=n` left out.
    pub options: String,
    /// The partitioning clause (the lines after the options), if any.
    pub partition: String,
}

/// A backquoted identifier at the start of `s`: its name and the rest.
fn backquoted(s: &str) -> Option<(String, &str)> {
    let rest = s.strip_prefix('`')?;
    let mut name = String::new();
    let mut chars = rest.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '`' {
            if chars.peek().is_some_and(|(_, d)| *d == '`') {
                chars.next();
                name.push('`');
                continue;
            }
            return Some((name, &rest[i + 1..]));
        }
        name.push(c);
    }
    None
}

/// Cut `create` (MySQL/MariaDB `SHOW CREATE TABLE` text); None when it is not one.
pub fn parse(create: &str) -> Option<Parts> {
    let mut lines = create.lines();
    let first = lines.next()?;
    if !first.starts_with("CREATE") || !first.trim_end().ends_with('(') {
        return None;
    }
    let mut p = Parts::default();
    let mut closed = false;
    for line in lines.by_ref() {
        if let Some(rest) = line.strip_prefix(')') {
            p.options = without_auto_increment(rest.trim());
            closed = true;
            break;
        }
        let clause = line.trim().trim_end_matches(',').to_string();
        if let Some((name, _)) = backquoted(&clause) {
            p.columns.push((name, clause));
        } else if clause.starts_with("PRIMARY KEY") {
            p.primary = Some(clause);
        } else if let Some(rest) = ["KEY ", "UNIQUE KEY ", "FULLTEXT KEY ", "SPATIAL KEY "]
            .iter()
            .find_map(|k| clause.strip_prefix(k))
            && let Some((name, _)) = backquoted(rest)
        {
            p.indexes.push((name, clause));
        } else if let Some(rest) = clause.strip_prefix("CONSTRAINT ")
            && let Some((name, tail)) = backquoted(rest)
        {
            if tail.trim_start().starts_with("FOREIGN KEY") {
                p.foreign_keys.push((name, clause));
            } else if tail.trim_start().starts_with("CHECK") {
                p.checks.push((name, clause));
            } else {
                p.other.push(clause);
            }
        } else {
            p.other.push(clause);
        }
    }
    if !closed {
        return None;
    }
    p.partition = lines.collect::<Vec<_>>().join("\n").trim().to_string();
    Some(p)
}

/// `AUTO_INCREMENT=n` out of a table options text (the counter is scripted on its own).
fn without_auto_increment(options: &str) -> String {
    options
        .split(' ')
        .filter(|w| !w.starts_with("AUTO_INCREMENT="))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The parts of a MySQL table's server text, when it has one.
pub fn of(t: &TableSchema) -> Option<Parts> {
    parse(&t.create_sql)
}

/// The column definition the server gave for `column`.
pub fn column<'a>(p: &'a Parts, column: &str) -> Option<&'a str> {
    p.columns
        .iter()
        .find(|(n, _)| n == column)
        .map(|(_, d)| d.as_str())
}

/// The index clause the server gave for `index`.
pub fn index<'a>(p: &'a Parts, index: &str) -> Option<&'a str> {
    p.indexes
        .iter()
        .find(|(n, _)| n == index)
        .map(|(_, d)| d.as_str())
}

/// A generated column (MariaDB cannot `MODIFY` one in place: drop and add it).
pub fn is_generated(definition: &str) -> bool {
    definition.contains(" GENERATED ALWAYS AS ")
}

/// `CREATE TABLE` as the server wrote it, with only the foreign keys `keep_fk` accepts
/// and without the `AUTO_INCREMENT` counter.
pub fn create_sql(t: &TableSchema, p: &Parts, keep_fk: &dyn Fn(&ForeignKey) -> bool) -> String {
    let first = t.create_sql.lines().next().unwrap_or_default();
    let mut body: Vec<&str> = Vec::new();
    body.extend(p.columns.iter().map(|(_, d)| d.as_str()));
    body.extend(p.primary.as_deref());
    body.extend(p.indexes.iter().map(|(_, d)| d.as_str()));
    for (name, clause) in &p.foreign_keys {
        let keep = t
            .foreign_keys
            .iter()
            .find(|fk| &fk.name == name)
            .is_none_or(keep_fk);
        if keep {
            body.push(clause);
        }
    }
    body.extend(p.checks.iter().map(|(_, d)| d.as_str()));
    body.extend(p.other.iter().map(String::as_str));
    let mut s = format!("{first}\n  {}\n) {}", body.join(",\n  "), p.options);
    if !p.partition.is_empty() {
        s.push('\n');
        s.push_str(&p.partition);
    }
    s.push(';');
    s
}

/// The option names in a table options text (`ENGINE`, `CHARSET`, `COMMENT`, ..).
pub fn option_names(options: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut quoted = false;
    let b = options.as_bytes();
    let mut start = 0;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'\'' => quoted = !quoted,
            b' ' if !quoted => start = i + 1,
            b'=' if !quoted && i > start => out.push(&options[start..i]),
            _ => {}
        }
    }
    out
}

/// `ALTER TABLE` options that turn table options `from` into `to`: `to` itself, plus a
/// reset for each option `to` does not have (`COMMENT=''`, `NAME=DEFAULT`).
pub fn options_change(from: &str, to: &str) -> String {
    let mut s = to.to_string();
    let keep = option_names(to);
    for name in option_names(from) {
        if keep.contains(&name) || matches!(name, "ENGINE" | "CHARSET" | "COLLATE") {
            continue;
        }
        s.push(' ');
        s.push_str(&if name == "COMMENT" {
            "COMMENT=''".to_string()
        } else {
            format!("{name}=DEFAULT")
        });
    }
    s
}

/// The default character set and collation of table options (`DEFAULT CHARSET=x
/// COLLATE=y`), as written.
pub fn charset(options: &str) -> (Option<&str>, Option<&str>) {
    let value = |key: &str| options.split(' ').find_map(|w| w.strip_prefix(key));
    (value("CHARSET="), value("COLLATE="))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CREATE: &str = "CREATE TABLE `t``x` (
  `id` int(11) NOT NULL AUTO_INCREMENT,
  `a` varchar(10) CHARACTER SET latin1 COLLATE latin1_swedish_ci DEFAULT NULL COMMENT 'x, y',
  `g` int(11) GENERATED ALWAYS AS (`id` + 1) VIRTUAL,
  PRIMARY KEY (`id`),
  UNIQUE KEY `u` (`a`),
  FULLTEXT KEY `ft` (`a`) WITH PARSER `ngram`,
  KEY `k` (`a`(5)) USING HASH COMMENT 'c',
  CONSTRAINT `fk` FOREIGN KEY (`id`) REFERENCES `p` (`id`),
  CONSTRAINT `chk` CHECK (`a` <> '')
) ENGINE=InnoDB AUTO_INCREMENT=3 DEFAULT CHARSET=utf8mb4 COMMENT='hi'
 PARTITION BY HASH (`id`)
PARTITIONS 2";

    #[test]
    fn show_create_table_is_cut_into_clauses() {
        let p = parse(CREATE).unwrap();
        let names = |v: &[(String, String)]| v.iter().map(|x| x.0.clone()).collect::<Vec<_>>();
        assert_eq!(names(&p.columns), ["id", "a", "g"]);
        assert_eq!(
            column(&p, "a"),
            Some(
                "`a` varchar(10) CHARACTER SET latin1 COLLATE latin1_swedish_ci DEFAULT NULL COMMENT 'x, y'"
            )
        );
        assert!(is_generated(column(&p, "g").unwrap()));
        assert!(!is_generated(column(&p, "a").unwrap()));
        assert_eq!(names(&p.indexes), ["u", "ft", "k"], "declared order");
        assert_eq!(
            index(&p, "k"),
            Some("KEY `k` (`a`(5)) USING HASH COMMENT 'c'")
        );
        assert_eq!(names(&p.checks), ["chk"]);
        assert_eq!(names(&p.foreign_keys), ["fk"]);
        assert!(p.other.is_empty());
        assert_eq!(
            p.options,
            "ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='hi'"
        );
        assert_eq!(p.partition, "PARTITION BY HASH (`id`)\nPARTITIONS 2");
        assert_eq!(
            options_change(
                "ENGINE=Aria COMMENT='a = b' ROW_FORMAT=DYNAMIC PAGE_CHECKSUM=1",
                "ENGINE=InnoDB"
            ),
            "ENGINE=InnoDB COMMENT='' ROW_FORMAT=DEFAULT PAGE_CHECKSUM=DEFAULT"
        );
        assert_eq!(
            charset("ENGINE=InnoDB DEFAULT CHARSET=latin1 COLLATE=latin1_bin"),
            (Some("latin1"), Some("latin1_bin"))
        );
        assert!(parse("CREATE VIEW v AS SELECT 1").is_none());
    }
}
