//! Oracles from outside devsky: `php` (Debian's php-cli) to check serialized values, the
//! `sqlite3` shell's `.dump` of a database. A missing program fails the test saying what
//! to install.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

fn need(program: &str, package: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "this test needs `{program}`: install the Debian package {package} (scripts/test does)"
    );
}

/// Run PHP code (`php -r`) with `input` on its stdin; returns stdout (fails on an error).
pub fn php(code: &str, input: &str) -> String {
    need("php", "php-cli");
    let mut child = Command::new("php")
        .args(["-n", "-r", code])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run php");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "php failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// `sqlite3 FILE .dump`: the schema and every row as SQL text.
pub fn sqlite_dump(db: &Path) -> String {
    need("sqlite3", "sqlite3");
    let out = Command::new("sqlite3")
        .arg(db)
        .arg(".dump")
        .output()
        .expect("run sqlite3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Checks, with PHP's own `unserialize()` and `json_decode()`, that every `after` value is
/// valid and holds the structure of its `before` value with `from` replaced by `to` in
/// every string value (keys and class names kept). Strings that hold serialized data or
/// JSON are compared by their structure, recursively. Panics naming each bad pair.
pub fn php_check_replaced(pairs: &[(String, String)], from: &str, to: &str) {
    let input = serde_json::json!({ "from": from, "to": to, "pairs": pairs }).to_string();
    let code = r#"
$in = json_decode(stream_get_contents(STDIN), true);
function norm($v, $f, $t) {
    if (is_array($v)) { $o = []; foreach ($v as $k => $x) { $o[$k] = norm($x, $f, $t); } return $o; }
    if (is_object($v)) { return ['__object' => norm((array)$v, $f, $t)]; }
    if (!is_string($v)) { return $v; }
    if ($v === 'b:0;' || ($u = @unserialize($v, ['allowed_classes' => false])) !== false) {
        return ['__serialized' => norm($v === 'b:0;' ? false : $u, $f, $t)];
    }
    $j = json_decode($v, true);
    if (is_array($j)) { return ['__json' => norm($j, $f, $t)]; }
    return $f === null ? $v : str_replace($f, $t, $v);
}
$bad = 0;
foreach ($in['pairs'] as $i => [$before, $after]) {
    $want = norm($before, $in['from'], $in['to']);
    $got = norm($after, null, null);
    if (!is_array($got) || $want !== $got) { $bad++; echo "pair $i differs:\n$before\n$after\n"; }
}
echo $bad === 0 ? "OK " . count($in['pairs']) : "BAD $bad";
"#;
    let out = php(code, &input);
    assert_eq!(
        out.trim_end().lines().last(),
        Some(format!("OK {}", pairs.len()).as_str()),
        "{out}"
    );
}

/// WordPress-style option values written by PHP itself around the URL `u`: nested
/// serialized arrays, an object of a class the reader will not know (public, protected
/// and private properties), JSON inside serialized data, JSON with escaped slashes and
/// non-ASCII, serialized data inside serialized data, and the URL as an array key.
pub fn wordpress_values(u: &str) -> Vec<String> {
    let code = r#"
class Acme_Widget_Unknown { public $url; protected $list; private $n = 3;
  function __construct($u) { $this->url = $u; $this->list = [$u . '/a', 'x' => ['deep' => $u]]; } }
$u = stream_get_contents(STDIN);
echo json_encode([
  serialize(['siteurl' => $u, 'nested' => ['a' => [$u . '/wp-content', 42, true, null, 1.5]], 7 => 'café ' . $u]),
  serialize(new Acme_Widget_Unknown($u)),
  serialize(['json' => json_encode(['link' => $u . '/feed', 'name' => 'été'])]),
  json_encode(['home' => $u, 'list' => [$u . '/a', 'ünï ' . $u]]),
  serialize([$u => 'key is kept', 'inner' => serialize(['u' => $u])]),
]);
"#;
    serde_json::from_str(&php(code, u)).unwrap()
}
