//! Which column changes may lose data: a narrower or different type, or NOT NULL added.
//!
//! MySQL: integers by size and sign, decimals by integer and fraction digits, strings and
//! blobs by capacity (`varchar(n)`, then tiny/-/medium/longtext), enum and set members,
//! temporal precision; any other change of family "converts". SQLite enforces no lengths:
//! only a change of type affinity (other than to BLOB) converts.

use super::{ColumnSchema, Kind};

/// Why changing column `o` into `n` of `table` may lose data, if it may.
pub fn narrowing(kind: Kind, table: &str, o: &ColumnSchema, n: &ColumnSchema) -> Option<String> {
    let mut why = Vec::new();
    if o.data_type != n.data_type
        && let Some(verb) = type_change(kind, &o.data_type, &n.data_type)
    {
        why.push(format!(
            "{verb} {table}.{} from {} to {}",
            n.name, o.data_type, n.data_type
        ));
    }
    if o.nullable && !n.nullable {
        why.push(format!("makes {table}.{} NOT NULL", n.name));
    }
    (!why.is_empty()).then(|| why.join("; "))
}

/// SQLite's declared-type affinity.
pub(super) fn affinity(ty: &str) -> &'static str {
    let t = ty.to_ascii_uppercase();
    if t.contains("INT") {
        "integer"
    } else if t.contains("CHAR") || t.contains("CLOB") || t.contains("TEXT") {
        "text"
    } else if t.contains("BLOB") || t.trim().is_empty() {
        "blob"
    } else if t.contains("REAL") || t.contains("FLOA") || t.contains("DOUB") {
        "real"
    } else {
        "numeric"
    }
}

struct Ty {
    base: String,
    args: Vec<String>,
    unsigned: bool,
}

fn parse_ty(s: &str) -> Ty {
    let s = s.trim().to_ascii_lowercase();
    let base = s.split(['(', ' ']).next().unwrap_or("").to_string();
    let mut args = Vec::new();
    if let (Some(a), Some(b)) = (s.find('('), s.rfind(')')) {
        let (mut cur, mut quoted) = (String::new(), false);
        let inner: Vec<char> = s[a + 1..b].chars().collect();
        let mut i = 0;
        while i < inner.len() {
            let ch = inner[i];
            if ch == '\'' && quoted && inner.get(i + 1) == Some(&'\'') {
                cur.push('\'');
                i += 1;
            } else if ch == '\'' {
                quoted = !quoted;
            } else if ch == ',' && !quoted {
                args.push(std::mem::take(&mut cur).trim().to_string());
            } else {
                cur.push(ch);
            }
            i += 1;
        }
        args.push(cur.trim().to_string());
    }
    Ty {
        unsigned: s.contains(" unsigned"),
        base,
        args,
    }
}

pub(super) fn int_rank(base: &str) -> Option<u32> {
    Some(match base {
        "tinyint" | "bool" | "boolean" => 1,
        "smallint" => 2,
        "mediumint" => 3,
        "int" | "integer" => 4,
        "bigint" => 5,
        _ => return None,
    })
}

fn arg(t: &Ty, i: usize, default: u64) -> u64 {
    t.args
        .get(i)
        .and_then(|a| a.parse().ok())
        .unwrap_or(default)
}

/// (binary, capacity) of string and blob types.
fn capacity(t: &Ty) -> Option<(bool, u64)> {
    Some(match t.base.as_str() {
        "char" | "varchar" => (false, arg(t, 0, 1)),
        "binary" | "varbinary" => (true, arg(t, 0, 1)),
        "tinytext" => (false, 255),
        "text" => (false, 65_535),
        "mediumtext" => (false, 16_777_215),
        "longtext" | "json" => (false, 4_294_967_295),
        "tinyblob" => (true, 255),
        "blob" => (true, 65_535),
        "mediumblob" => (true, 16_777_215),
        "longblob" => (true, 4_294_967_295),
        _ => return None,
    })
}

/// "narrows" / "converts" when a value of type `a` may not survive as type `b`.
pub(super) fn type_change(kind: Kind, a: &str, b: &str) -> Option<&'static str> {
    if kind == Kind::Sqlite {
        let (x, y) = (affinity(a), affinity(b));
        return (x != y && y != "blob").then_some("converts");
    }
    let (a, b) = (parse_ty(a), parse_ty(b));
    let decimal = |t: &Ty| matches!(t.base.as_str(), "decimal" | "numeric" | "dec" | "fixed");
    let digits = |t: &Ty| (arg(t, 0, 10), arg(t, 1, 0));
    let fsp = |t: &Ty| arg(t, 0, 0);
    let widening = match (a.base.as_str(), b.base.as_str()) {
        (x, y) if int_rank(x).is_some() && int_rank(y).is_some() => {
            let (ra, rb) = (int_rank(x).unwrap_or(0), int_rank(y).unwrap_or(0));
            return match (a.unsigned, b.unsigned) {
                (p, q) if p == q && rb >= ra => None,
                (true, false) if rb > ra => None,
                _ => Some("narrows"),
            };
        }
        (x, _) if int_rank(x).is_some() && decimal(&b) => {
            let (p, s) = digits(&b);
            p - s.min(p) >= [3, 5, 8, 10, 20][int_rank(x).unwrap_or(5) as usize - 1]
        }
        (x, "double" | "real") if int_rank(x).is_some() => int_rank(x) <= Some(4),
        (x, "float") if int_rank(x).is_some() => int_rank(x) <= Some(2),
        _ if decimal(&a) && decimal(&b) => {
            let ((p1, s1), (p2, s2)) = (digits(&a), digits(&b));
            p2.saturating_sub(s2) >= p1.saturating_sub(s1) && s2 >= s1
        }
        ("float", "double" | "real")
        | ("double" | "real", "double" | "real")
        | ("float", "float") => true,
        ("enum", "enum") | ("set", "set") => a.args.iter().all(|m| b.args.contains(m)),
        ("enum" | "set", _) if capacity(&b).is_some_and(|(bin, _)| !bin) => {
            let need = if a.base == "set" {
                a.args.iter().map(|m| m.chars().count() + 1).sum::<usize>()
            } else {
                a.args.iter().map(|m| m.chars().count()).max().unwrap_or(0)
            };
            capacity(&b).is_some_and(|(_, cap)| cap >= need as u64)
        }
        ("date", "datetime" | "timestamp") | ("year", "date" | "datetime" | "timestamp") => true,
        ("datetime" | "timestamp", "datetime" | "timestamp") | ("time", "time") => {
            fsp(&b) >= fsp(&a)
        }
        ("bit", "bit") => arg(&b, 0, 1) >= arg(&a, 0, 1),
        ("json", x) if capacity(&b).is_some() && x != "json" => {
            capacity(&b).is_some_and(|(bin, cap)| !bin && cap >= 4_294_967_295)
        }
        ("longtext", "json") => false,
        _ => match (capacity(&a), capacity(&b)) {
            (Some((ba, ca)), Some((bb, cb))) => cb >= ca && (ba == bb || bb),
            _ => return Some("converts"),
        },
    };
    (!widening).then_some(if capacity(&a).is_some() && capacity(&b).is_none() {
        "converts"
    } else {
        "narrows"
    })
}
