//! Searching and replacing in a database's tables. Only rows that can match are read: the
//! server filters first on a text every match holds (`INSTR`, or `LIKE` for a needle that
//! ignores case; see [`super::needles`]); a pattern that requires no text, or a search
//! inside base64 values, reads every row with text. `rows_read` counts what was read.
//! Each value is edited by [`super::serialized`], so PHP-serialized data and JSON stay
//! valid. Rows are named by their primary key; a table without one is skipped and
//! reported.
//!
//! Applying re-reads every row first: a value that changed since the preview is skipped and
//! reported. The remaining `UPDATE`s run in one transaction, each guarded by the old value
//! (`... WHERE key AND column = old`). Undo is the same in reverse.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::needles::Needle;
use super::pattern::Pattern;
use super::serialized::{Edit, Format, base64_text, edit_value, format_of};
use super::{Problem, ProblemKind};
use crate::engine::db::data_diff::literal;
use crate::engine::db::ddl::ident;
use crate::engine::db::{Db, Kind, QueryEvent, TableSchema, Value, collect};

/// One key column of a row: its name and the value as an SQL literal of the engine.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyPart {
    pub column: String,
    pub literal: String,
}

/// One value to change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowPlan {
    pub table: String,
    pub key: Vec<KeyPart>,
    pub column: String,
    /// php, json or text.
    pub format: String,
    pub count: usize,
    /// Around the first match.
    pub context: String,
    pub before: String,
    pub after: String,
    /// False: unticked, left as it is by the apply.
    #[serde(default = "yes")]
    pub selected: bool,
}

fn yes() -> bool {
    true
}

impl RowPlan {
    /// `table[id=5].column`.
    pub fn place(&self) -> String {
        place(&self.table, &self.key, &self.column)
    }
}

fn place(table: &str, key: &[KeyPart], column: &str) -> String {
    let k: Vec<String> = key
        .iter()
        .map(|k| format!("{}={}", k.column, k.literal))
        .collect();
    format!("{table}[{}].{column}", k.join(","))
}

/// The rows of a search or a replace.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct DbScan {
    pub profile: String,
    pub rows: Vec<RowPlan>,
    pub tables: usize,
    pub rows_read: u64,
    pub problems: Vec<Problem>,
}

/// A column that holds text we may edit (not ENUM/SET, not binary types).
fn text_column(kind: Kind, data_type: &str) -> bool {
    let t = data_type.to_ascii_lowercase();
    let texty = ["char", "text", "clob", "json"]
        .iter()
        .any(|w| t.contains(w));
    texty || (kind == Kind::Sqlite && t.is_empty())
}

/// The most a column takes: (limit, in characters?) for `varchar(N)`/`char(N)` (characters)
/// and MySQL's TEXT types (bytes).
fn limit(data_type: &str) -> Option<(usize, bool)> {
    let t = data_type.to_ascii_lowercase();
    if let Some(rest) = t
        .strip_prefix("varchar(")
        .or_else(|| t.strip_prefix("char("))
    {
        return rest.split(')').next()?.parse().ok().map(|n| (n, true));
    }
    match t.split_whitespace().next()? {
        "tinytext" => Some((255, false)),
        "text" => Some((65_535, false)),
        "mediumtext" => Some((16_777_215, false)),
        _ => None,
    }
}

/// The server-side filter of one column: any of `needles` ([`super::needles`]).
fn filter(kind: Kind, col: &str, needles: &[Needle]) -> String {
    let c = ident(kind, col);
    let any: Vec<String> = needles
        .iter()
        .map(|n| {
            if n.ignore_case {
                let like = format!(
                    "%{}%",
                    n.text
                        .replace('!', "!!")
                        .replace('%', "!%")
                        .replace('_', "!_")
                );
                let lit = literal(kind, &Value::Text(like));
                match kind {
                    Kind::Mysql => format!("LOWER({c}) LIKE {lit} ESCAPE '!'"),
                    // SQLite's LIKE ignores ASCII case, and the needle is ASCII.
                    Kind::Sqlite => format!("{c} LIKE {lit} ESCAPE '!'"),
                }
            } else {
                let lit = literal(kind, &Value::Text(n.text.clone()));
                format!("INSTR({c}, {lit}) > 0")
            }
        })
        .collect();
    format!("({})", any.join(" OR "))
}

/// Search `tables` (all when empty) for `pattern`, planning the edit of every value.
/// `needles` are texts one of which every match holds (None: read every row).
pub fn scan(
    db: &mut dyn Db,
    profile: &str,
    tables: &[String],
    pattern: &Pattern,
    needles: Option<&[Needle]>,
) -> Result<DbScan> {
    let kind = db.kind();
    let all = db.tables()?;
    for t in tables {
        if !all.iter().any(|s| &s.name == t) {
            anyhow::bail!("no table {t:?} in {}", db.describe());
        }
    }
    let mut out = DbScan {
        profile: profile.to_string(),
        ..DbScan::default()
    };
    for t in all
        .iter()
        .filter(|t| tables.is_empty() || tables.contains(&t.name))
    {
        let cols: Vec<usize> = (0..t.columns.len())
            .filter(|&i| text_column(kind, &t.columns[i].data_type))
            .filter(|&i| !t.primary_key.contains(&t.columns[i].name))
            .collect();
        if cols.is_empty() {
            continue;
        }
        if t.primary_key.is_empty() {
            out.problems.push(Problem {
                place: t.name.clone(),
                kind: ProblemKind::NoKey,
                reason:
                    "the table has no primary key: its rows cannot be named, so it is not searched"
                        .into(),
            });
            continue;
        }
        out.tables += 1;
        scan_table(db, t, &cols, pattern, needles, &mut out)?;
    }
    Ok(out)
}

fn scan_table(
    db: &mut dyn Db,
    t: &TableSchema,
    cols: &[usize],
    pattern: &Pattern,
    needles: Option<&[Needle]>,
    out: &mut DbScan,
) -> Result<()> {
    let kind = db.kind();
    let names: Vec<String> = t
        .primary_key
        .iter()
        .chain(cols.iter().map(|&i| &t.columns[i].name))
        .map(|c| ident(kind, c))
        .collect();
    let mut sql = format!("SELECT {} FROM {}", names.join(", "), ident(kind, &t.name));
    if let Some(needles) = needles {
        let any: Vec<String> = cols
            .iter()
            .map(|&i| filter(kind, &t.columns[i].name, needles))
            .collect();
        sql += &format!(" WHERE {}", any.join(" OR "));
    }
    let npk = t.primary_key.len();
    db.run(&sql, &mut |ev| {
        if let QueryEvent::Rows(rows) = ev {
            for row in rows {
                out.rows_read += 1;
                let key: Vec<KeyPart> = t
                    .primary_key
                    .iter()
                    .zip(&row)
                    .map(|(c, v)| KeyPart {
                        column: c.clone(),
                        literal: literal(kind, v),
                    })
                    .collect();
                for (j, &ci) in cols.iter().enumerate() {
                    let col = &t.columns[ci];
                    let at = || place(&t.name, &key, &col.name);
                    let text = match &row[npk + j] {
                        Value::Text(s) => s,
                        Value::Bytes(b) if pattern.is_match(&String::from_utf8_lossy(b)) => {
                            out.problems.push(Problem {
                                place: at(),
                                kind: ProblemKind::Encoding,
                                reason: "the value is not UTF-8; not edited".into(),
                            });
                            continue;
                        }
                        _ => continue,
                    };
                    let (kind_of, reason) = match edit_value(text, pattern) {
                        Edit::Unchanged => continue,
                        Edit::Changed { value, count } => {
                            if let Some((n, chars)) = limit(&col.data_type) {
                                let len = if chars {
                                    value.chars().count()
                                } else {
                                    value.len()
                                };
                                if len > n {
                                    let why = format!(
                                        "the new value ({len}) would not fit {}",
                                        col.data_type
                                    );
                                    out.problems.push(Problem {
                                        place: at(),
                                        kind: ProblemKind::Refused,
                                        reason: why,
                                    });
                                    continue;
                                }
                            }
                            out.rows.push(RowPlan {
                                table: t.name.clone(),
                                key: key.clone(),
                                column: col.name.clone(),
                                format: match format_of(text) {
                                    _ if pattern.base64() && base64_text(text).is_some() => {
                                        "base64"
                                    }
                                    Format::Php => "php",
                                    Format::Json => "json",
                                    Format::Text => "text",
                                }
                                .into(),
                                count,
                                context: context(text, pattern),
                                before: text.clone(),
                                after: value,
                                selected: true,
                            });
                            continue;
                        }
                        Edit::Corrupt(why) => (ProblemKind::Corrupt, why),
                        Edit::Refused(why) => (ProblemKind::Refused, why),
                    };
                    out.problems.push(Problem {
                        place: at(),
                        kind: kind_of,
                        reason,
                    });
                }
            }
        }
        true
    })
    .with_context(|| format!("cannot read table {}", t.name))?;
    Ok(())
}

/// Some 40 characters either side of the first match.
fn context(text: &str, pattern: &Pattern) -> String {
    let Some(m) = pattern.regex().find(text) else {
        return match base64_text(text) {
            Some((inner, _)) if pattern.base64() && inner.len() < text.len() => {
                context(&inner, pattern)
            }
            _ => String::new(),
        };
    };
    let before: String = text[..m.start()]
        .chars()
        .rev()
        .take(40)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    let after: String = text[m.end()..].chars().take(40).collect();
    format!("{before}{}{after}", m.as_str())
}

/// The current value of a row's column (None: the row is gone).
fn current(db: &mut dyn Db, r: &RowPlan) -> Result<Option<Value>> {
    let kind = db.kind();
    let sql = format!(
        "SELECT {} FROM {} WHERE {}",
        ident(kind, &r.column),
        ident(kind, &r.table),
        where_key(kind, &r.key)
    );
    let res = collect(db, &sql).map_err(|e| anyhow::anyhow!("{}: {e}", r.place()))?;
    Ok(res
        .last()
        .and_then(|s| s.rows.first())
        .and_then(|row| row.first().cloned()))
}

fn where_key(kind: Kind, key: &[KeyPart]) -> String {
    key.iter()
        .map(|k| format!("{} = {}", ident(kind, &k.column), k.literal))
        .collect::<Vec<_>>()
        .join(" AND ")
}

/// Change every row of `rows` from `before` to `after` (or back, with `reverse`) in one
/// transaction. Rows whose value is no longer what the change starts from are skipped and
/// reported. Returns the rows changed.
pub fn change(
    db: &mut dyn Db,
    rows: &[RowPlan],
    reverse: bool,
    skipped: &mut Vec<Problem>,
) -> Result<Vec<RowPlan>> {
    let kind = db.kind();
    let mut done = Vec::new();
    let mut sql = String::new();
    for r in rows {
        let (from, to) = if reverse {
            (&r.after, &r.before)
        } else {
            (&r.before, &r.after)
        };
        match current(db, r)? {
            Some(Value::Text(now)) if &now == from => {}
            now => {
                let reason = match now {
                    None => "the row is gone".to_string(),
                    Some(_) => format!(
                        "the value changed since {}; not overwritten",
                        if reverse {
                            "the replace"
                        } else {
                            "the preview"
                        }
                    ),
                };
                skipped.push(Problem {
                    place: r.place(),
                    kind: ProblemKind::Changed,
                    reason,
                });
                continue;
            }
        }
        sql += &format!(
            "UPDATE {} SET {c} = {} WHERE {} AND {c} = {};\n",
            ident(kind, &r.table),
            literal(kind, &Value::Text(to.clone())),
            where_key(kind, &r.key),
            literal(kind, &Value::Text(from.clone())),
            c = ident(kind, &r.column),
        );
        done.push(r.clone());
    }
    if !sql.is_empty() {
        db.apply_script(&sql)
            .map_err(|e| anyhow::anyhow!("{e}; nothing was changed in the database"))?;
    }
    Ok(done)
}
