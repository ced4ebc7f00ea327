//! SQL text for tables, columns, indexes and foreign keys, per engine: what the schema
//! diff's steps are made of. Identifiers are always quoted (MySQL backticks, SQLite double
//! quotes); MySQL index prefix lengths (`body(20)`) stay outside the quotes.

use super::narrowing::{affinity, int_rank};
use super::{ColumnSchema, ForeignKey, IndexSchema, Kind, TableSchema};

/// An identifier quoted for the engine.
pub fn ident(kind: Kind, name: &str) -> String {
    match kind {
        Kind::Mysql => format!("`{}`", name.replace('`', "``")),
        Kind::Sqlite => format!("\"{}\"", name.replace('"', "\"\"")),
    }
}

/// An index column: MySQL prefix lengths (`body(20)`) stay outside the quotes.
pub(super) fn index_col(kind: Kind, c: &str) -> String {
    if let Some((base, rest)) = c.split_once('(')
        && kind == Kind::Mysql
        && rest
            .strip_suffix(')')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    {
        return format!("{}({rest}", ident(kind, base));
    }
    ident(kind, c)
}

pub(super) fn list(kind: Kind, cols: &[String]) -> String {
    cols.iter()
        .map(|c| index_col(kind, c))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Not a generated column (those cannot be written).
pub fn writable(c: &ColumnSchema) -> bool {
    !c.extra
        .to_ascii_lowercase()
        .split_whitespace()
        .any(|w| matches!(w, "virtual" | "stored" | "persistent"))
}

/// A MySQL column definition.
pub fn column_def(kind: Kind, c: &ColumnSchema) -> String {
    let mut s = format!("{} {}", ident(kind, &c.name), c.data_type);
    s.push_str(if c.nullable { " NULL" } else { " NOT NULL" });
    if let Some(d) = &c.default
        && (c.nullable || !d.eq_ignore_ascii_case("null"))
    {
        s.push_str(" DEFAULT ");
        s.push_str(d);
    }
    // MySQL 8 reports DEFAULT_GENERATED for expression defaults; generated columns cannot be
    // re-created from the normalized schema (their expression is not in it).
    let extra: Vec<&str> = c
        .extra
        .split_whitespace()
        .filter(|w| {
            !w.eq_ignore_ascii_case("default_generated")
                && !w.eq_ignore_ascii_case("virtual")
                && !w.eq_ignore_ascii_case("stored")
                && !w.eq_ignore_ascii_case("generated")
                && !w.eq_ignore_ascii_case("persistent")
        })
        .collect();
    if !extra.is_empty() {
        s.push(' ');
        s.push_str(&extra.join(" "));
    }
    s
}

pub(super) fn fk_clause(kind: Kind, fk: &ForeignKey) -> String {
    let mut s = String::new();
    if !fk.name.is_empty() {
        s = format!("CONSTRAINT {} ", ident(kind, &fk.name));
    }
    s.push_str(&format!(
        "FOREIGN KEY ({}) REFERENCES {} ({})",
        list(kind, &fk.columns),
        ident(kind, &fk.ref_table),
        list(kind, &fk.ref_columns)
    ));
    // RESTRICT is the default and left out: MariaDB records an explicit RESTRICT added
    // with FOREIGN_KEY_CHECKS=0 as NO ACTION (the same for InnoDB, see `same_fk`).
    for (what, action) in [("DELETE", &fk.on_delete), ("UPDATE", &fk.on_update)] {
        let action = action.trim().to_ascii_uppercase();
        if !action.is_empty() && action != "RESTRICT" {
            s.push_str(&format!(" ON {what} {action}"));
        }
    }
    s
}

/// The same foreign key. MySQL: NO ACTION is RESTRICT (InnoDB checks both at once).
pub fn same_fk(kind: Kind, a: &ForeignKey, b: &ForeignKey) -> bool {
    let rule = |r: &str| match r.trim().to_ascii_uppercase() {
        x if kind == Kind::Mysql && (x.is_empty() || x == "NO ACTION") => "RESTRICT".to_string(),
        x => x,
    };
    a.name == b.name
        && a.columns == b.columns
        && a.ref_table == b.ref_table
        && a.ref_columns == b.ref_columns
        && rule(&a.on_delete) == rule(&b.on_delete)
        && rule(&a.on_update) == rule(&b.on_update)
}

/// The same foreign keys (in order).
pub fn same_fks(kind: Kind, a: &[ForeignKey], b: &[ForeignKey]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same_fk(kind, x, y))
}

pub(super) fn mysql_options(options: &str) -> String {
    if options.contains('=') {
        return options.to_string();
    }
    let w: Vec<&str> = options.split_whitespace().collect();
    let mut s = String::new();
    for (i, label) in ["ENGINE=", "DEFAULT CHARSET=", "COLLATE="]
        .iter()
        .enumerate()
    {
        if let Some(v) = w.get(i) {
            s.push_str(&format!(" {label}{v}"));
        }
    }
    s
}

/// SQLite keeps the indexes of `UNIQUE`/`PRIMARY KEY` constraints itself.
pub(super) fn own_index(kind: Kind, ix: &IndexSchema) -> bool {
    kind == Kind::Sqlite && ix.name.starts_with("sqlite_autoindex_")
}

pub fn add_index_sql(kind: Kind, table: &str, ix: &IndexSchema) -> String {
    let unique = if ix.unique { "UNIQUE " } else { "" };
    match kind {
        Kind::Mysql => format!(
            "ALTER TABLE {} ADD {unique}INDEX {} ({});",
            ident(kind, table),
            ident(kind, &ix.name),
            list(kind, &ix.columns)
        ),
        Kind::Sqlite => format!(
            "CREATE {unique}INDEX {} ON {} ({});",
            ident(kind, &ix.name),
            ident(kind, table),
            list(kind, &ix.columns)
        ),
    }
}

pub fn drop_index_sql(kind: Kind, table: &str, ix: &IndexSchema) -> String {
    match kind {
        Kind::Mysql => format!(
            "ALTER TABLE {} DROP INDEX {};",
            ident(kind, table),
            ident(kind, &ix.name)
        ),
        Kind::Sqlite => format!("DROP INDEX {};", ident(kind, &ix.name)),
    }
}

/// MySQL: the server's own clause for the foreign key `name` of `t`, as its `SHOW CREATE
/// TABLE` text declares it (a reference to another schema included).
pub(super) fn fk_text(t: &TableSchema, name: &str) -> Option<String> {
    super::show_create::of(t)?
        .foreign_keys
        .into_iter()
        .find(|(n, _)| n == name)
        .map(|(_, clause)| clause)
}

/// `ALTER TABLE .. ADD` the foreign key `fk` of `t`: the server's clause where it has one.
pub(super) fn add_fk_sql(t: &TableSchema, fk: &ForeignKey) -> String {
    format!(
        "ALTER TABLE {} ADD {};",
        ident(Kind::Mysql, &t.name),
        fk_text(t, &fk.name).unwrap_or_else(|| fk_clause(Kind::Mysql, fk))
    )
}

pub(super) fn drop_fk_sql(table: &str, fk: &ForeignKey) -> String {
    format!(
        "ALTER TABLE {} DROP FOREIGN KEY {};",
        ident(Kind::Mysql, table),
        ident(Kind::Mysql, &fk.name)
    )
}

/// `CREATE TABLE` for `t` with the foreign keys `keep_fk` accepts (MySQL: the server's own
/// text, see `show_create`, or else built from the normalized schema with its options;
/// SQLite: `create_sql` as is, which holds its keys),
/// followed by the indexes SQLite creates separately.
pub fn create_table_sql(
    kind: Kind,
    t: &TableSchema,
    keep_fk: &dyn Fn(&ForeignKey) -> bool,
) -> String {
    match kind {
        Kind::Sqlite => {
            let mut s = format!("{};", t.create_sql.trim().trim_end_matches(';'));
            for ix in t.indexes.iter().filter(|ix| !own_index(kind, ix)) {
                s.push('\n');
                s.push_str(&add_index_sql(kind, &t.name, ix));
            }
            s
        }
        Kind::Mysql => {
            if let Some(p) = super::show_create::of(t) {
                return super::show_create::create_sql(t, &p, keep_fk);
            }
            let mut parts: Vec<String> = t.columns.iter().map(|c| column_def(kind, c)).collect();
            if !t.primary_key.is_empty() {
                parts.push(format!("PRIMARY KEY ({})", list(kind, &t.primary_key)));
            }
            for ix in &t.indexes {
                parts.push(format!(
                    "{}KEY {} ({})",
                    if ix.unique { "UNIQUE " } else { "" },
                    ident(kind, &ix.name),
                    list(kind, &ix.columns)
                ));
            }
            parts.extend(
                t.foreign_keys
                    .iter()
                    .filter(|fk| keep_fk(fk))
                    .map(|fk| fk_clause(kind, fk)),
            );
            format!(
                "CREATE TABLE {} (\n  {}\n){};",
                ident(kind, &t.name),
                parts.join(",\n  "),
                mysql_options(&t.options)
            )
        }
    }
}

pub fn drop_table_sql(kind: Kind, table: &str) -> String {
    format!("DROP TABLE {};", ident(kind, table))
}

/// A value for a NOT NULL column without a default, where rows must be given one.
pub fn placeholder(kind: Kind, c: &ColumnSchema) -> &'static str {
    let t = c.data_type.to_ascii_lowercase();
    if kind == Kind::Sqlite {
        return match affinity(&t) {
            "text" => "''",
            "blob" => "X''",
            _ => "0",
        };
    }
    let base = t.split(['(', ' ']).next().unwrap_or("");
    match base {
        "date" => "'1970-01-01'",
        "datetime" | "timestamp" => "'1970-01-01 00:00:00'",
        "time" => "'00:00:00'",
        "year" => "1970",
        "json" => "'null'",
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" => "X''",
        _ if int_rank(base).is_some()
            || matches!(
                base,
                "decimal"
                    | "numeric"
                    | "dec"
                    | "fixed"
                    | "float"
                    | "double"
                    | "real"
                    | "bit"
                    | "bool"
                    | "boolean"
            ) =>
        {
            "0"
        }
        _ => "''",
    }
}
