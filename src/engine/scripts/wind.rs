//! Winds: a script exported as one standalone POSIX sh script (`devsky wind export`) that
//! applies the change on a box without devsky, and rolls it back:
//!
//! ```sh
//! sh change.sh check|apply|rollback [--sqlite FILE | --mysql 'CLIENT OPTIONS']
//! ```
//!
//! run in the target folder. It needs only sh, coreutils (sha256sum, base64, mv -T,
//! rmdir), plus the `sqlite3` or `mysql`/`mariadb` client when the script has SQL.
//!
//! Order of `apply` (and of `rollback`, the same with the sides swapped):
//! 1. every touched path is checked against the script's pre-image (its kind and the
//!    SHA-256 of its content or symlink target, computed here from the object store; a
//!    parent that is not a plain folder is a conflict too), and the database by SQL the
//!    wind carries (`dbpart::check_sql`: every touched table's columns, every row the
//!    script changes); any conflict: every one is listed, nothing is touched, exit 2;
//! 2. every new content is written to a stage folder in the target and its checksum
//!    verified (nothing of the target touched yet);
//! 3. the SQL runs (SQLite: the script's own transaction, `-bail`; MySQL: statement by
//!    statement, DDL commits as it runs), a failure stops the wind before any file moves;
//! 4. deleted paths are removed (with the folders that became empty), then the staged
//!    files are renamed into place (modes set).
//!
//! Contents are embedded base64 (each distinct content once), paths single-quoted; the
//! export refuses a path that is absolute, has `..`, or holds a control character.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use anyhow::{Context, bail};
use base64::Engine as _;
use sha2::{Digest, Sha256};

use super::{FileChange, FileState, Loaded};
use crate::engine::project::Project;
use crate::engine::snapshot::objects::ObjectStore;

/// What an export wrote.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Wind {
    pub files: usize,
    pub sql: bool,
    pub bytes: u64,
}

/// `'text'` for sh, with `'` written as `'\''`.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

fn check_path(p: &str) -> anyhow::Result<()> {
    if p.is_empty()
        || p.starts_with('/')
        || p.split('/').any(|c| c.is_empty() || c == "." || c == "..")
        || p.chars().any(|c| c.is_control())
    {
        bail!(
            "a wind cannot carry the path {p:?} (absolute, `..`, empty part or a control character)"
        );
    }
    Ok(())
}

/// One side of a path in the wind's terms: `none`, `file SHA`, `symlink SHA`.
fn expect(s: &Option<FileState>, sha: &BTreeMap<String, String>) -> String {
    match s {
        None => "none".into(),
        Some(s) => format!("{} {}", s.kind, sha[&s.blake3]),
    }
}

const HEAD: &str = r#"set -eu
set -f
die() { printf 'wind: %s\n' "$*" >&2; exit 1; }
usage() { die "usage: sh $0 check|apply|rollback [--sqlite FILE | --mysql 'CLIENT OPTIONS']"; }
[ $# -ge 1 ] || usage
ACTION=$1; shift
DBKIND=; DBARG=
while [ $# -gt 0 ]; do
  case $1 in
    --sqlite) [ $# -ge 2 ] || usage; DBKIND=sqlite; DBARG=$2; shift 2 ;;
    --mysql) [ $# -ge 2 ] || usage; DBKIND=mysql; DBARG=$2; shift 2 ;;
    *) usage ;;
  esac
done
case $ACTION in check|apply|rollback) ;; *) usage ;; esac
for tool in sha256sum base64 mv rm mkdir chmod rmdir ln readlink dirname; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is needed (coreutils)"
done
if [ "$HAS_SQL" = 1 ] && { [ "$ACTION" != check ] || [ -n "$DBKIND" ]; }; then
  case $DBKIND in
    sqlite) command -v sqlite3 >/dev/null 2>&1 || die "the sqlite3 client is needed"
            [ "$SQL_KIND" = sqlite ] || die "this wind's SQL is for MySQL/MariaDB: use --mysql" ;;
    mysql) if command -v mysql >/dev/null 2>&1; then MYSQL=mysql
           elif command -v mariadb >/dev/null 2>&1; then MYSQL=mariadb
           else die "the mysql (or mariadb) client is needed"; fi
           [ "$SQL_KIND" = mysql ] || die "this wind's SQL is for SQLite: use --sqlite FILE" ;;
    *) die "this wind changes the database: give --sqlite FILE or --mysql 'CLIENT OPTIONS'" ;;
  esac
fi
STAGE=.wind-stage.$$
CONFLICTS=
trap 'rm -rf "$STAGE"' EXIT
trap 'exit 1' INT TERM HUP
sha() { sha256sum | cut -d' ' -f1; }
# state PATH: none | file SHA | symlink SHA | other WHY
state() {
  d=$(dirname -- "$1")
  while [ "$d" != . ]; do
    if [ -L "$d" ]; then echo "other $d is a symlink"; return; fi
    if [ -e "$d" ] && [ ! -d "$d" ]; then echo "other $d is not a folder"; return; fi
    d=$(dirname -- "$d")
  done
  if [ -L "$1" ]; then echo "symlink $(printf '%s' "$(readlink -- "$1")" | sha)"
  elif [ -f "$1" ]; then echo "file $(sha < "$1")"
  elif [ -e "$1" ]; then echo "other not a file"
  else echo none; fi
}
expect() {
  got=$(state "$1")
  [ "$got" = "$2" ] || CONFLICTS="$CONFLICTS
  file $1: expected $2, found $got"
}
n=0
stage_file() {
  n=$((n + 1)); "blob_$2" > "$STAGE/$n"
  [ "$(sha < "$STAGE/$n")" = "$2" ] || die "the content of $1 is damaged in this wind"
  chmod "$3" "$STAGE/$n"
}
stage_link() { n=$((n + 1)); ln -s -- "$2" "$STAGE/$n"; }
m=0
place() {
  m=$((m + 1)); d=$(dirname -- "$1")
  [ "$d" = . ] || mkdir -p -- "$d"
  mv -fT -- "$STAGE/$m" "$1"
}
remove() {
  rm -f -- "$1"; d=$(dirname -- "$1")
  [ "$d" = . ] || rmdir -p --ignore-fail-on-non-empty -- "$d" 2>/dev/null || true
}
run_sql() {
  case $DBKIND in
    sqlite) "$1" | sqlite3 -bail "$DBARG" ;;
    mysql) "$1" | $MYSQL $DBARG ;;
  esac
}
"#;

/// Write the wind of a loaded script to `out` (mode 0755, written whole then renamed).
pub fn export(project: &Project, l: &Loaded, out: &Path) -> anyhow::Result<Wind> {
    let objects = ObjectStore::open(&project.root)?;
    let files: &[FileChange] = &l.files;
    // SHA-256 of every content, once; the contents to embed (files only: symlink targets
    // are written inline).
    let mut sha = BTreeMap::new();
    let mut blobs: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    let mut targets: BTreeMap<String, String> = BTreeMap::new();
    for f in files {
        check_path(&f.path)?;
        for s in [&f.before, &f.after].into_iter().flatten() {
            if sha.contains_key(&s.blake3) {
                continue;
            }
            let bytes = objects.get(&s.blake3).with_context(|| {
                format!("the content of {} is missing from the object store", f.path)
            })?;
            let h = hex(&Sha256::digest(&bytes));
            if s.kind == "symlink" {
                let t = String::from_utf8(bytes)
                    .ok()
                    .filter(|t| !t.is_empty() && !t.chars().any(|c| c.is_control()))
                    .with_context(|| format!("{}: a wind carries UTF-8 symlink targets without control characters only", f.path))?;
                targets.insert(s.blake3.clone(), t);
            } else {
                blobs.insert(h.clone(), bytes);
            }
            sha.insert(s.blake3.clone(), h);
        }
    }
    let script = l.script()?;
    let (fwd, rev) = match &script {
        Some(s) if !s.steps.is_empty() => (s.forward_sql(), s.reverse_sql()),
        _ => (String::new(), String::new()),
    };
    // The database's pre-images, checked by SQL before anything changes.
    let (check_fwd, check_rev) = match &l.db {
        Some((old, new)) if !fwd.is_empty() => {
            let tables = l.tables()?;
            let filters: super::Filters =
                serde_json::from_value(l.package.filters.clone()).unwrap_or_default();
            (
                super::dbpart::check_sql(old, new, &tables, &filters),
                super::dbpart::check_sql(new, old, &tables, &filters),
            )
        }
        _ => (String::new(), String::new()),
    };
    let has_sql = !fwd.is_empty();
    let sql_kind = match &script {
        Some(s) if s.kind == crate::engine::db::Kind::Mysql => "mysql",
        _ => "sqlite",
    };
    let p = &l.package;
    let mut sh = String::new();
    writeln!(sh, "#!/bin/sh")?;
    writeln!(
        sh,
        "# devsky wind of script {} {}: {} file(s){}.",
        p.id,
        quote(&p.name),
        files.len(),
        if has_sql { ", SQL" } else { "" }
    )?;
    writeln!(
        sh,
        "# Run in the target folder: sh THIS check|apply|rollback [--sqlite FILE | --mysql 'CLIENT OPTIONS']"
    )?;
    writeln!(
        sh,
        "# Every pre-image is checked first (SHA-256); a conflict: listed, nothing touched, exit 2."
    )?;
    writeln!(sh, "HAS_SQL={}\nSQL_KIND={sql_kind}", has_sql as u8)?;
    sh.push_str(HEAD);
    let b64 = |bytes: &[u8]| -> String {
        let s = base64::engine::general_purpose::STANDARD.encode(bytes);
        let mut out = String::with_capacity(s.len() + s.len() / 76 + 1);
        for chunk in s.as_bytes().chunks(76) {
            out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
            out.push('\n');
        }
        out
    };
    for (h, bytes) in &blobs {
        write!(
            sh,
            "blob_{h}() {{ base64 -d <<'DEVSKY_WIND_EOF'\n{}DEVSKY_WIND_EOF\n}}\n",
            b64(bytes)
        )?;
    }
    for (name, text) in [
        ("sql_forward", &fwd),
        ("sql_reverse", &rev),
        ("sql_check_apply", &check_fwd),
        ("sql_check_rollback", &check_rev),
    ] {
        write!(
            sh,
            "{name}() {{ base64 -d <<'DEVSKY_WIND_EOF'\n{}DEVSKY_WIND_EOF\n}}\n",
            b64(text.as_bytes())
        )?;
    }
    // One function per direction: check, stage, place.
    for (dir, reverse) in [("apply", false), ("rollback", true)] {
        let side = |f: &FileChange| {
            if reverse {
                (f.after.clone(), f.before.clone())
            } else {
                (f.before.clone(), f.after.clone())
            }
        };
        writeln!(sh, "check_{dir}() {{\n  :")?;
        for f in files {
            let (pre, _) = side(f);
            writeln!(
                sh,
                "  expect {} {}",
                quote(&f.path),
                quote(&expect(&pre, &sha))
            )?;
        }
        writeln!(sh, "}}\nstage_{dir}() {{\n  mkdir \"$STAGE\"")?;
        for f in files {
            match side(f).1 {
                Some(s) if s.kind == "symlink" => writeln!(
                    sh,
                    "  stage_link {} {}",
                    quote(&f.path),
                    quote(&targets[&s.blake3])
                )?,
                Some(s) => writeln!(
                    sh,
                    "  stage_file {} {} {:o}",
                    quote(&f.path),
                    sha[&s.blake3],
                    s.mode & 0o7777
                )?,
                None => {}
            }
        }
        // Removals first: a folder that becomes a file is emptied before the file comes.
        writeln!(sh, "}}\nplace_{dir}() {{\n  :")?;
        for f in files.iter().filter(|f| side(f).1.is_none()) {
            writeln!(sh, "  remove {}", quote(&f.path))?;
        }
        for f in files.iter().filter(|f| side(f).1.is_some()) {
            writeln!(sh, "  place {}", quote(&f.path))?;
        }
        writeln!(sh, "}}")?;
    }
    sh.push_str(
        r#"case $ACTION in check|apply) DIR=apply; SQL=sql_forward ;; rollback) DIR=rollback; SQL=sql_reverse ;; esac
[ "$ACTION" = check ] && DIR=apply
"check_$DIR"
if [ "$HAS_SQL" = 1 ] && [ -n "$DBKIND" ]; then
  out=$(run_sql "sql_check_$DIR") || die "cannot read the database to check its pre-images"
  while IFS= read -r line; do
    case $line in ok|'') ;; *) CONFLICTS="$CONFLICTS
  $line" ;; esac
  done <<DEVSKY_WIND_EOF
$out
DEVSKY_WIND_EOF
elif [ "$HAS_SQL" = 1 ]; then
  echo "wind: the database was not checked (give --sqlite FILE or --mysql 'OPTIONS')" >&2
fi
if [ -n "$CONFLICTS" ]; then
  printf 'wind: refused: conflicts with the pre-images, nothing was changed:%s\n' "$CONFLICTS" >&2
  exit 2
fi
if [ "$ACTION" = check ]; then echo "wind: every pre-image matches: ready to apply"; exit 0; fi
"stage_$DIR"
if [ "$HAS_SQL" = 1 ]; then run_sql "$SQL" || die "the SQL failed: no file was changed"; fi
"place_$DIR"
echo "wind: $ACTION done"
"#,
    );
    let dir = out
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".wind-")
        .tempfile_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    tmp.write_all(sh.as_bytes())?;
    use std::os::unix::fs::PermissionsExt;
    tmp.as_file()
        .set_permissions(std::fs::Permissions::from_mode(0o755))?;
    tmp.persist(out)
        .with_context(|| format!("cannot write {}", out.display()))?;
    Ok(Wind {
        files: files.len(),
        sql: has_sql,
        bytes: sh.len() as u64,
    })
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::{check_path, quote};

    #[test]
    fn quoting_and_paths_a_wind_refuses() {
        assert_eq!(quote("it's here"), r"'it'\''s here'");
        assert_eq!(quote("$(rm -rf /)"), "'$(rm -rf /)'");
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a/./b",
            "a\nb",
            "a\u{1b}b",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?}");
        }
        for good in [
            "a",
            "-n",
            "it's a file.txt",
            "dir/$HOME `x`.php",
            "ünï/cödé",
        ] {
            assert!(check_path(good).is_ok(), "{good:?}");
        }
    }
}
