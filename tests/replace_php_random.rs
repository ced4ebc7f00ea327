//! Random PHP values, made and serialized by PHP itself (seeded; the seed is printed),
//! edited by devsky's serialized-value editor, and checked by PHP's `unserialize()`: every
//! edited value must read as the original structure with the URL replaced in its strings.

mod support;

use devsky::engine::replace::pattern::{Options, Pattern};
use devsky::engine::replace::serialized::{Edit, edit_value};
use support::oracles::{php, php_check_replaced};

const OLD: &str = "http://old.example";
const NEW: &str = "https://ünï.new-site.example/a\"b;c";

#[test]
fn random_values_made_by_php_stay_valid_after_replace() {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        % 1_000_000;
    println!("seed {seed}");
    let code = r#"
mt_srand((int) stream_get_contents(STDIN));
$u = 'http://old.example';
$frag = [$u, $u, 'x', 'é', '"', ';', '}', '{', ':', ' ', 's:3:"', '日本', "\n", '\\', $u . '/p?q=1'];
function str_r($frag) { $s = 't'; for ($i = mt_rand(0, 5); $i > 0; $i--) { $s .= $frag[mt_rand(0, count($frag) - 1)]; } return $s; }
function val($d, $frag) {
    $k = mt_rand(0, $d > 0 ? 8 : 4);
    switch ($k) {
        case 0: return null;
        case 1: return mt_rand(0, 1) === 1;
        case 2: return mt_rand(-1000, 1000);
        case 3: return mt_rand(0, 1000) / 7;
        case 4: return str_r($frag);
        case 5: case 6: $a = []; for ($i = mt_rand(0, 4); $i > 0; $i--) {
            if (mt_rand(0, 1)) { $a[] = val($d - 1, $frag); } else { $a[str_r($frag)] = val($d - 1, $frag); } } return $a;
        case 7: $o = new stdClass; for ($i = mt_rand(0, 3); $i > 0; $i--) { $o->{str_r($frag)} = val($d - 1, $frag); } return $o;
        default: return mt_rand(0, 1) ? serialize(val($d - 1, $frag)) : json_encode([val($d - 1, $frag)], mt_rand(0, 1) ? 0 : JSON_UNESCAPED_UNICODE);
    }
}
$out = [];
for ($n = 0; $n < 400; $n++) {
    $v = serialize(mt_rand(0, 3) ? [val(3, $frag), 'k' => val(3, $frag), str_r($frag)] : val(4, $frag));
    // Rename stdClass to classes nobody defines (same length: nested lengths stay right).
    $out[] = str_replace('O:8:"stdClass"', 'O:8:"AcmeUnk' . mt_rand(0, 9) . '"', $v);
}
echo json_encode($out);
"#;
    let values: Vec<String> = serde_json::from_str(&php(code, &seed.to_string())).unwrap();
    let p = Pattern::new(OLD, NEW, Options::default()).unwrap();
    let mut pairs = Vec::new();
    let mut changed = 0;
    for v in values {
        match edit_value(&v, &p) {
            Edit::Changed { value, .. } => {
                changed += 1;
                pairs.push((v, value));
            }
            Edit::Unchanged => pairs.push((v.clone(), v)),
            other => panic!("seed {seed}: {other:?} for {v}"),
        }
    }
    assert!(
        changed > 100,
        "seed {seed}: only {changed} values held the URL"
    );
    // Unchanged values must hold the URL nowhere PHP would replace it.
    pairs.retain(|(b, _)| b.starts_with("a:") || b.starts_with("O:"));
    php_check_replaced(&pairs, OLD, NEW);
}
