//! `devsky task ...` checked by oracles that share no code with devsky: `md5sum`,
//! `sha256sum` and `b3sum` for checksums, `wc -l` for lines, a std::fs walker of this
//! test for folder sizes, `php -l` and `node --check` run by the test for the syntax
//! truth, `iconv` for an encoding round trip, and a PHP/JS fixture whose functions are
//! listed by hand.

mod support;

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use support::cli::{devsky, json, ok, write};

/// Run a tool of the system; a missing one fails the test naming its Debian package.
fn tool(cmd: &str, args: &[&str], cwd: &Path, package: &str) -> std::process::Output {
    Command::new(cmd)
        .args(args)
        .current_dir(cwd)
        .output()
        .unwrap_or_else(|e| panic!("{cmd} cannot run ({e}): install the Debian package {package}"))
}

fn stdout(cmd: &str, args: &[&str], cwd: &Path, package: &str) -> String {
    let out = tool(cmd, args, cwd, package);
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// A project with nested folders, a binary file, a non-ASCII name, CRLF and no final
/// newline.
fn project() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(&["init"], r);
    write(r, "index.php", b"<?php\necho 'hi';\n");
    write(r, "a/b/c/deep.txt", b"one\r\ntwo\r\nthree");
    write(r, "a/b/other.txt", "Grüße\n\n\n".as_bytes());
    write(r, "a/x y.txt", b"with a space\n");
    let big: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    write(r, "img/blob.bin", &big);
    write(r, "empty.txt", b"");
    dir
}

fn rows(v: &Value) -> &Vec<Value> {
    v["rows"].as_array().expect("rows")
}

/// `path -> column` of a task's JSON rows.
fn column(v: &Value, col: &str) -> BTreeMap<String, Value> {
    rows(v)
        .iter()
        .map(|r| (r["path"].as_str().unwrap().to_string(), r[col].clone()))
        .collect()
}

/// The project's files by a std::fs walk (without devsky's state), relative paths.
fn walk(root: &Path, rel: &str, out: &mut Vec<(String, u64)>) {
    for e in fs::read_dir(root.join(rel)).unwrap() {
        let e = e.unwrap();
        let name = e.file_name().into_string().unwrap();
        let path = if rel.is_empty() {
            name.clone()
        } else {
            format!("{rel}/{name}")
        };
        if path == ".devsky" {
            continue;
        }
        let m = fs::symlink_metadata(e.path()).unwrap();
        if m.is_dir() {
            walk(root, &path, out);
        } else if m.is_file() {
            out.push((path, m.len()));
        }
    }
}

#[test]
fn checksums_match_md5sum_sha256sum_and_b3sum() {
    let dir = project();
    let r = dir.path();
    let v = json(&["task", "checksums", "--json", "--csv", "sums.csv"], r);
    let mut files = Vec::new();
    walk(r, "", &mut files);
    files.retain(|(p, _)| p != "sums.csv");
    assert_eq!(rows(&v).len(), files.len(), "{v}");
    for (tool_name, col, package) in [
        ("md5sum", "md5", "coreutils"),
        ("sha256sum", "sha256", "coreutils"),
        ("b3sum", "blake3", "b3sum"),
    ] {
        let got = column(&v, col);
        for (path, _) in &files {
            let out = stdout(tool_name, &["--", path], r, package);
            let want = out.split_whitespace().next().unwrap();
            assert_eq!(got[path].as_str(), Some(want), "{tool_name} of {path}");
        }
    }
    let sizes = column(&v, "size");
    for (path, len) in &files {
        assert_eq!(sizes[path].as_u64(), Some(*len), "{path}");
    }
    // the CSV: a header and one line per file, the name with a space kept as it is
    let csv = fs::read_to_string(r.join("sums.csv")).unwrap();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines[0], "path,size,md5,sha256,blake3");
    assert_eq!(lines.len(), files.len() + 1);
    assert!(
        lines.iter().any(|l| l.starts_with("a/x y.txt,13,")),
        "{csv}"
    );
}

#[test]
fn sizes_roll_up_like_a_std_walker() {
    let dir = project();
    let r = dir.path();
    let v = json(&["task", "sizes", "--json"], r);
    let mut files = Vec::new();
    walk(r, "", &mut files);
    let mut want: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for (path, len) in &files {
        let parts: Vec<&str> = path.split('/').collect();
        for n in 0..parts.len() {
            let folder = if n == 0 {
                ".".to_string()
            } else {
                parts[..n].join("/")
            };
            let e = want.entry(folder).or_default();
            e.0 += len;
            e.1 += 1;
        }
    }
    let got: BTreeMap<String, (u64, u64)> = rows(&v)
        .iter()
        .map(|r| {
            let f = r["folder"].as_str().unwrap().to_string();
            (
                f,
                (r["bytes"].as_u64().unwrap(), r["files"].as_u64().unwrap()),
            )
        })
        .collect();
    assert_eq!(got, want);
    assert_eq!(got["a"], (3 + 8 + 13 + 14, 3), "a/ rolls up a/b and a/b/c");
}

#[test]
fn lines_match_wc_l_and_a_domain_narrows_them() {
    let dir = project();
    let r = dir.path();
    let v = json(&["task", "lines", "--json"], r);
    let got = column(&v, "lines");
    assert!(
        !got.contains_key("img/blob.bin"),
        "binary files are left out: {v}"
    );
    let mut total = 0;
    for (path, n) in &got {
        let out = stdout("wc", &["-l", "--", path], r, "coreutils");
        let want: u64 = out.split_whitespace().next().unwrap().parse().unwrap();
        assert_eq!(n.as_u64(), Some(want), "{path}");
        total += want;
    }
    assert_eq!(got["a/b/other.txt"], 3);
    assert!(
        v["summary"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{total} line(s)"))
    );

    // the human table: a header, numbers right-aligned, the total on stderr
    let out = devsky(&["task", "lines"], r);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.starts_with("PATH"), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("a/b/other.txt") && l.ends_with(" 3")),
        "{text}"
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(&format!("{total} line(s)")));

    ok(&["domain", "add", "deep", "-i", "a/b"], r);
    let v = json(&["task", "lines", "--json", "--domain", "deep"], r);
    let got: Vec<&str> = rows(&v)
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["a/b/c/deep.txt", "a/b/other.txt"]);
    let err = String::from_utf8(devsky(&["task", "lines", "--domain", "nope"], r).stderr).unwrap();
    assert!(err.contains("nope"), "{err}");
}

#[test]
fn syntax_agrees_with_php_l_and_node_check_and_reports_a_missing_checker_once() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(&["init"], r);
    write(
        r,
        "good.php",
        b"<?php\nfunction f($a) { return $a . \"}\"; }\n",
    );
    write(r, "src/bad.php", b"<?php\nfunction f( {\n  echo 1;\n");
    write(r, "src/also-good.php", b"<html><?= 1 + 1 ?></html>\n");
    write(r, "app.js", b"const a = (x) => x * 2;\n");
    write(r, "broken.js", b"function (\n");
    write(r, "notes.txt", b"not checked\n");
    let out = devsky(&["task", "syntax", "--json", "-j", "3"], r);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let got = column(&v, "result");
    assert_eq!(got.len(), 5, "{v}");
    for (path, result) in &got {
        let (cmd, args, package) = if path.ends_with(".php") {
            ("php", vec!["-l", path.as_str()], "php-cli")
        } else {
            ("node", vec!["--check", path.as_str()], "nodejs")
        };
        let truth = tool(cmd, &args, r, package).status.success();
        assert_eq!(result.as_str() == Some("ok"), truth, "{path}: {v}");
    }
    assert_eq!(got["src/bad.php"], "error");
    assert_eq!(got["broken.js"], "error");
    assert_eq!(v["failed"], 2);
    let bad = rows(&v)
        .iter()
        .find(|r| r["path"] == "src/bad.php")
        .unwrap();
    assert!(bad["output"].as_str().unwrap().contains("line 2"), "{bad}");

    // a checker that is not installed: reported once, its files not counted as failures
    let v = json(
        &[
            "task",
            "syntax",
            "--json",
            "--cmd",
            "php=devsky-no-such-checker -l",
            "--cmd",
            "js=",
        ],
        r,
    );
    assert_eq!(rows(&v).len(), 0, "{v}");
    let problems = v["problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{v}");
    assert!(
        problems[0]["reason"]
            .as_str()
            .unwrap()
            .contains("devsky-no-such-checker")
    );
    assert!(
        v["summary"].as_str().unwrap().contains("3 not checked"),
        "{v}"
    );
    // a checker from the settings
    ok(
        &["settings", "set", "task.syntax.txt", "grep -q checked"],
        r,
    );
    let v = json(
        &["task", "syntax", "--json", "--cmd", "php=", "--cmd", "js="],
        r,
    );
    assert_eq!(column(&v, "result")["notes.txt"], "ok", "{v}");
    // a checker that hangs is killed after --timeout, and that file fails
    write(r, "slow.sh", b"#!/bin/sh\nsleep 30\n");
    fs::set_permissions(r.join("slow.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    let slow = format!("txt={}", r.join("slow.sh").display());
    let started = std::time::Instant::now();
    let out = devsky(
        &[
            "task",
            "syntax",
            "--json",
            "--cmd",
            "php=",
            "--cmd",
            "js=",
            "--cmd",
            &slow,
            "--timeout",
            "1",
        ],
        r,
    );
    assert!(
        started.elapsed().as_secs() < 20,
        "the checker was not killed"
    );
    assert_eq!(out.status.code(), Some(1));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let notes = rows(&v).iter().find(|r| r["path"] == "notes.txt").unwrap();
    assert!(
        notes["output"]
            .as_str()
            .unwrap()
            .contains("killed after 1 s"),
        "{v}"
    );
    // checkers run in parallel: four one-second checks with -j 4 take about a second
    for n in 0..4 {
        write(r, &format!("par/{n}.chk"), b"x\n");
    }
    write(r, "nap.sh", b"#!/bin/sh\nsleep 1\n");
    fs::set_permissions(r.join("nap.sh"), fs::Permissions::from_mode(0o755)).unwrap();
    let nap = format!("chk={}", r.join("nap.sh").display());
    let started = std::time::Instant::now();
    let v = json(
        &[
            "task", "syntax", "--json", "--cmd", "php=", "--cmd", "js=", "--cmd", "txt=", "--cmd",
            &nap, "-j", "4",
        ],
        r,
    );
    assert_eq!(rows(&v).len(), 4, "{v}");
    assert!(
        started.elapsed().as_millis() < 3500,
        "not parallel: {:?}",
        started.elapsed()
    );
    let err = String::from_utf8(devsky(&["task", "syntax", "--cmd", "php"], r).stderr).unwrap();
    assert!(err.contains("EXT=COMMAND"), "{err}");
}

#[test]
fn encoding_detects_previews_and_converts_like_iconv() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(&["init"], r);
    let russian = "Привет, мир! Это старый сайт на кодировке windows-1251.\r\nВторая строка текста, чтобы угадать кодировку.\r\n";
    write(r, "ru/utf8.txt", russian.as_bytes());
    let cp = tool(
        "iconv",
        &["-f", "UTF-8", "-t", "WINDOWS-1251", "ru/utf8.txt"],
        r,
        "libc-bin",
    );
    assert!(cp.status.success());
    write(r, "ru/page.txt", &cp.stdout);
    fs::set_permissions(r.join("ru/page.txt"), fs::Permissions::from_mode(0o640)).unwrap();
    write(r, "ascii.txt", b"plain\n");
    write(r, "ja.txt", "日本語のテキスト\n".as_bytes());
    write(r, "bin.dat", &[0, 1, 2, 3]);
    let v = json(&["task", "encoding", "--json"], r);
    let got = column(&v, "encoding");
    assert_eq!(got["ru/page.txt"], "windows-1251", "{v}");
    assert_eq!(got["ru/utf8.txt"], "UTF-8");
    assert_eq!(got["bin.dat"], "binary");

    // to windows-1251: the Japanese file cannot be written in it (refused, untouched)
    let v = json(&["task", "encoding", "--json", "--to", "windows-1251"], r);
    let would: Vec<&str> = v["would_change"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(would, ["ru/utf8.txt"], "ASCII files do not change: {v}");
    assert!(
        v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["place"] == "ja.txt" && p["kind"] == "refused"),
        "{v}"
    );

    // the preview to UTF-8 changes nothing
    let before = stdout(
        "b3sum",
        &["ru/page.txt", "ru/utf8.txt", "ja.txt", "ascii.txt"],
        r,
        "b3sum",
    );
    let v = json(&["task", "encoding", "--json", "--to", "utf-8"], r);
    let would: Vec<&str> = v["would_change"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(would, ["ru/page.txt"]);
    assert_eq!(
        stdout(
            "b3sum",
            &["ru/page.txt", "ru/utf8.txt", "ja.txt", "ascii.txt"],
            r,
            "b3sum"
        ),
        before
    );

    // apply: what iconv makes of it, the mode kept, the original in the recycle bin
    let v = json(
        &["task", "encoding", "--json", "--to", "utf-8", "--apply"],
        r,
    );
    assert_eq!(v["converted"], serde_json::json!(["ru/page.txt"]), "{v}");
    assert_eq!(fs::read(r.join("ru/page.txt")).unwrap(), russian.as_bytes());
    let again = tool(
        "iconv",
        &["-f", "UTF-8", "-t", "WINDOWS-1251", "ru/page.txt"],
        r,
        "libc-bin",
    );
    assert!(again.status.success());
    assert_eq!(again.stdout, cp.stdout, "round trip through iconv");
    assert_eq!(
        fs::metadata(r.join("ru/page.txt"))
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o640
    );
    let bin = json(&["bin", "list", "--json"], r);
    let entry = bin
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == "ru/page.txt")
        .expect("in the bin");
    let id = entry["id"].as_u64().unwrap().to_string();
    ok(&["bin", "restore", &id], r);
    assert_eq!(
        fs::read(r.join("ru/page.txt")).unwrap(),
        cp.stdout,
        "the original comes back"
    );
    let v = json(&["task", "encoding", "--json", "--to", "utf-8"], r);
    assert_eq!(v["would_change"].as_array().unwrap().len(), 1);
}

const PHP: &str = r#"<html><body>function html_not_code() {}</body>
<?php
namespace App;
// function commented() {}
# class Hashed {}
/* function blocked() {}
   class Blocked {} */
$s = 'function single() {} class Single {}';
$d = "function double() { $x } \" class Escaped {}";
$h = <<<EOT
function in_heredoc() {}
class InHeredoc {}
EOT;
$n = <<<'NOW'
  function in_nowdoc() {}
  NOW;
$cls = Foo::class;
$obj->class = 1;
#[Attribute]
interface Shape { public function area(): float; }
trait Named { function name() { return "}"; } }
abstract class Base implements Shape {
    public static function make(): static { return new static(); }
    private function &refd() { $f = function () {}; return $f; }
}
function top_level($a) {
    $o = new class { function anon() {} };
    return $a;
}
enum Suit: string { case Hearts = 'H'; public function label() {} }
?>
<p>class AfterClose {}</p>
<?php function after_reopen() {}
"#;

const JS: &str = r#"// function commented() {}
/* class Blocked {} */
const s = 'function single() {}';
const t = `function tmpl() { ${ {a: 1}.a } } class InTemplate {}`;
const re = /function re() {}|class X/g;
const half = 10 / 2; const other = 3 / 1;
function topLevel(a) { return a; }
async function* gen() {}
class Widget extends Base {
  constructor(x) { super(x); this.x = x; }
  static create() { return new Widget(1); }
  get size() { return this.x; }
  async load() { if (this.x) { return 1; } }
  #secret() {}
}
const arrow = (a, b) => a + b;
let single = x => x;
var expr = function () {};
obj.method = function () {};
"#;

#[test]
fn functions_of_a_php_and_a_js_fixture_listed_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let r = dir.path();
    ok(&["init"], r);
    write(r, "src/app.php", PHP.as_bytes());
    write(r, "web/app.js", JS.as_bytes());
    write(r, "notes.txt", b"function not_a_source() {}\n");
    let v = json(&["task", "functions", "--json", "--csv", "f.csv"], r);
    let got: Vec<(String, u64, String, String)> = rows(&v)
        .iter()
        .map(|r| {
            (
                r["path"].as_str().unwrap().to_string(),
                r["line"].as_u64().unwrap(),
                r["kind"].as_str().unwrap().to_string(),
                r["name"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want: Vec<(String, u64, String, String)> = [
        ("src/app.php", 20, "interface", "Shape"),
        ("src/app.php", 20, "method", "Shape::area"),
        ("src/app.php", 21, "trait", "Named"),
        ("src/app.php", 21, "method", "Named::name"),
        ("src/app.php", 22, "class", "Base"),
        ("src/app.php", 23, "method", "Base::make"),
        ("src/app.php", 24, "method", "Base::refd"),
        ("src/app.php", 26, "function", "top_level"),
        ("src/app.php", 30, "enum", "Suit"),
        ("src/app.php", 30, "method", "Suit::label"),
        ("src/app.php", 33, "function", "after_reopen"),
        ("web/app.js", 7, "function", "topLevel"),
        ("web/app.js", 8, "function", "gen"),
        ("web/app.js", 9, "class", "Widget"),
        ("web/app.js", 10, "method", "Widget::constructor"),
        ("web/app.js", 11, "method", "Widget::create"),
        ("web/app.js", 12, "method", "Widget::size"),
        ("web/app.js", 13, "method", "Widget::load"),
        ("web/app.js", 16, "function", "arrow"),
        ("web/app.js", 17, "function", "single"),
        ("web/app.js", 18, "function", "expr"),
    ]
    .iter()
    .map(|(p, l, k, n)| (p.to_string(), *l, k.to_string(), n.to_string()))
    .collect();
    assert_eq!(got, want);
    let csv = fs::read_to_string(r.join("f.csv")).unwrap();
    assert!(
        csv.starts_with("path,line,kind,name\r\nsrc/app.php,20,interface,Shape\r\n"),
        "{csv}"
    );
}
