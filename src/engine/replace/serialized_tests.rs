//! Unit and property tests of the serialized-value editor. The model below writes PHP's
//! format itself (lengths counted here), so the editor is checked against a writer it
//! does not share code with.

use proptest::prelude::*;

use super::*;
use crate::engine::replace::pattern::Options;

#[derive(Debug, Clone)]
enum V {
    N,
    B(bool),
    I(i64),
    S(String),
    A(Vec<(K, V)>),
    O(String, Vec<(String, V)>),
}

#[derive(Debug, Clone)]
enum K {
    I(i64),
    S(String),
}

fn s(t: &str) -> String {
    format!("s:{}:\"{t}\";", t.len())
}

fn ser(v: &V) -> String {
    match v {
        V::N => "N;".into(),
        V::B(b) => format!("b:{};", u8::from(*b)),
        V::I(i) => format!("i:{i};"),
        V::S(t) => s(t),
        V::A(m) => {
            let body: String = m
                .iter()
                .map(|(k, v)| {
                    let k = match k {
                        K::I(i) => format!("i:{i};"),
                        K::S(t) => s(t),
                    };
                    k + &ser(v)
                })
                .collect();
            format!("a:{}:{{{body}}}", m.len())
        }
        V::O(class, m) => {
            let body: String = m.iter().map(|(k, v)| s(k) + &ser(v)).collect();
            format!("O:{}:\"{class}\":{}:{{{body}}}", class.len(), m.len())
        }
    }
}

/// The model with `from` replaced by `to` in every string value (not keys or classes).
fn replaced(v: &V, from: &str, to: &str) -> V {
    match v {
        V::S(t) => V::S(t.replace(from, to)),
        V::A(m) => V::A(
            m.iter()
                .map(|(k, v)| (k.clone(), replaced(v, from, to)))
                .collect(),
        ),
        V::O(c, m) => V::O(
            c.clone(),
            m.iter()
                .map(|(k, v)| (k.clone(), replaced(v, from, to)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn lit(from: &str, to: &str) -> Pattern {
    Pattern::new(from, to, Options::default()).unwrap()
}

fn changed(e: Edit) -> String {
    match e {
        Edit::Changed { value, .. } => value,
        other => panic!("expected a change, got {other:?}"),
    }
}

#[test]
fn nested_arrays_and_objects_of_unknown_classes() {
    let v = V::A(vec![
        (K::S("home".into()), V::S("http://old.example/é".into())),
        (
            K::S("http://old.example".into()),
            V::A(vec![(
                K::I(0),
                V::O(
                    "Vendor\\Unknown_Widget".into(),
                    vec![
                        ("url".into(), V::S("http://old.example".into())),
                        ("n".into(), V::I(-3)),
                        ("x".into(), V::N),
                    ],
                ),
            )]),
        ),
        (K::I(7), V::B(true)),
    ]);
    let p = lit("http://old.example", "https://new.example.org");
    let out = changed(edit_value(&ser(&v), &p));
    let want = replaced(&v, "http://old.example", "https://new.example.org");
    assert_eq!(out, ser(&want));
    assert!(
        out.contains(&s("http://old.example")),
        "keys are kept: {out}"
    );
}

#[test]
fn serialized_inside_serialized_and_json_inside_serialized() {
    let inner = ser(&V::A(vec![(K::S("u".into()), V::S("old".into()))]));
    let json = r#"{"link":"https:\/\/old\/p","t":"caf\u00e9 old"}"#;
    let outer = V::A(vec![
        (K::I(0), V::S(inner.clone())),
        (K::I(1), V::S(json.into())),
    ]);
    let p = lit("old", "brand-new");
    let out = changed(edit_value(&ser(&outer), &p));
    let inner_new = ser(&V::A(vec![(K::S("u".into()), V::S("brand-new".into()))]));
    let json_new = r#"{"link":"https:\/\/brand-new\/p","t":"caf\u00e9 brand-new"}"#;
    let want = V::A(vec![
        (K::I(0), V::S(inner_new)),
        (K::I(1), V::S(json_new.into())),
    ]);
    assert_eq!(out, ser(&want));
}

#[test]
fn json_escaped_slashes_and_unicode_are_matched_and_kept() {
    let doc = r#"{"https:\/\/old.example":1, "url": "https:\/\/old.example\/a", "n": "\u00e9t\u00e9 https:\/\/old.example"}"#;
    let p = lit("https://old.example", "https://été.example");
    let out = changed(edit_value(doc, &p));
    assert_eq!(
        out,
        r#"{"https:\/\/old.example":1, "url": "https:\/\/\u00e9t\u00e9.example\/a", "n": "\u00e9t\u00e9 https:\/\/\u00e9t\u00e9.example"}"#
    );
    // A match only in a key: nothing to do.
    assert_eq!(
        edit_value(r#"{"https:\/\/old.example":1}"#, &p),
        Edit::Unchanged
    );
    // Decoded matching: the pattern "é" is found behind \u00e9.
    let e = lit("été", "summer");
    assert_eq!(
        changed(edit_value(r#"["\u00e9t\u00e9"]"#, &e)),
        r#"["summer"]"#
    );
}

#[test]
fn corrupt_values_are_left_and_reported() {
    let p = lit("old", "new");
    for bad in [
        r#"a:1:{s:5:"old";s:1:"x";}"#,
        r#"s:10:"old";"#,
        r#"a:2:{i:0;s:3:"old";}"#,
        r#"O:3:"Foo":1:{s:1:"a";s:3:"old";"#,
    ] {
        assert!(matches!(edit_value(bad, &p), Edit::Corrupt(_)), "{bad}");
    }
    // Plain text that merely mentions the format is text.
    assert_eq!(
        changed(edit_value("see s:3 old", &p)),
        "see s:3 new".to_string()
    );
}

#[test]
fn custom_serialized_objects_are_refused_only_when_matched() {
    let v = r#"a:2:{i:0;C:11:"ArrayObject":21:{x:i:0;a:0:{};m:a:0:{}}i:1;s:3:"old";}"#;
    let out = changed(edit_value(v, &lit("old", "new")));
    assert!(out.ends_with(r#"i:1;s:3:"new";}"#), "{out}");
    let hit = r#"a:1:{i:0;C:11:"ArrayObject":19:{x:i:0;s:3:"old";m:a}}"#;
    match edit_value(hit, &lit("old", "new")) {
        Edit::Refused(why) => assert!(why.contains("ArrayObject"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn hostile_nesting_is_corrupt_not_a_crash() {
    let deep = "a:1:{i:0;".repeat(100_000) + "s:3:\"old\";" + &"}".repeat(100_000);
    assert!(matches!(
        edit_value(&deep, &lit("old", "new")),
        Edit::Corrupt(_)
    ));
}

fn text() -> impl Strategy<Value = String> {
    let frag = prop::sample::select(vec![
        "old.example",
        "x",
        "é",
        "\"",
        ";",
        "}",
        "{",
        ":",
        " ",
        "http://",
        "s:3:\"",
        "日本",
    ]);
    // A leading "t" keeps generated text from being read as serialized data or JSON.
    prop::collection::vec(frag, 0..6).prop_map(|f| format!("t{}", f.concat()))
}

fn value() -> impl Strategy<Value = V> {
    let leaf = prop_oneof![
        Just(V::N),
        any::<bool>().prop_map(V::B),
        any::<i64>().prop_map(V::I),
        text().prop_map(V::S),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            prop::collection::vec(
                (
                    prop_oneof![any::<i64>().prop_map(K::I), text().prop_map(K::S)],
                    inner.clone()
                ),
                0..5
            )
            .prop_map(V::A),
            (
                "[A-Z][A-Za-z_\\\\]{0,12}",
                prop::collection::vec((text(), inner), 0..5)
            )
                .prop_map(|(c, m)| V::O(c, m)),
        ]
    })
}

proptest! {
    #[test]
    fn any_tree_is_edited_like_the_model(v in value(), to in "[a-z./:é\"]{0,12}") {
        let p = lit("old.example", &to);
        let want = ser(&replaced(&v, "old.example", &to));
        match edit_value(&ser(&v), &p) {
            Edit::Changed { value, .. } => prop_assert_eq!(value, want),
            Edit::Unchanged => prop_assert_eq!(ser(&v), want),
            other => prop_assert!(false, "{:?}", other),
        }
    }

    #[test]
    fn truncated_values_never_change(v in value(), cut in 1usize..40) {
        let full = ser(&v);
        let at = full.len().saturating_sub(cut);
        if let Some(head) = full.get(..at) {
            let r = edit_value(head, &lit("old.example", "n"));
            let changed = matches!(r, Edit::Changed { .. });
            prop_assert!(!changed || format_of(head) == Format::Text, "{:?}", r);
        }
    }
}

#[test]
fn json_inside_a_json_string_is_found_behind_double_escapes() {
    // PHP: json_encode([json_encode(["http://old.example"])]), found by the random test.
    let doc = r#"["[\"http:\\\/\\\/old.example\"]"]"#;
    let out = changed(edit_value(doc, &lit("http://old.example", "https://new")));
    assert_eq!(out, r#"["[\"https:\\\/\\\/new\"]"]"#);
}

fn b64(from: &str, to: &str) -> Pattern {
    let opts = Options {
        base64: true,
        ..Options::default()
    };
    Pattern::new(from, to, opts).unwrap()
}

#[test]
fn base64_values_only_on_request_alphabet_and_padding_kept() {
    // "http://old.example/?a=>>>" in the standard alphabet, padded: `/` and `+` in it
    let std = "aHR0cDovL29sZC5leGFtcGxlLz9hPT4+Pg==";
    assert_eq!(edit_value(std, &lit("old.example", "x")), Edit::Unchanged);
    let out = changed(edit_value(std, &b64("old.example", "new.example")));
    // "http://new.example/?a=>>>" written by hand: 26 bytes, so one `=`
    assert_eq!(out, "aHR0cDovL25ldy5leGFtcGxlLz9hPT4+Pg==");
    assert_eq!(
        base64_text(&out).map(|(t, _)| t).as_deref(),
        Some("http://new.example/?a=>>>")
    );
    // the same URL-safe without padding stays so
    let url = std.replace('+', "-").replace('/', "_").replace('=', "");
    let out = changed(edit_value(&url, &b64("old.example", "new.example")));
    assert!(!out.contains(['=', '+', '/']), "{out}");
    assert_eq!(
        base64_text(&out).map(|(t, _)| t).as_deref(),
        Some("http://new.example/?a=>>>")
    );
    // serialized data inside base64: lengths recomputed inside
    let ser64 = "YToxOntzOjM6InVybCI7czoxODoiaHR0cDovL29sZC5leGFtcGxlIjt9";
    let out = changed(edit_value(ser64, &b64("old.example", "new-site.example")));
    assert_eq!(
        base64_text(&out).map(|(t, _)| t).as_deref(),
        Some(r#"a:1:{s:3:"url";s:23:"http://new-site.example";}"#)
    );
    // words, and what does not decode to text, are not base64 values
    for v in [
        "test",
        "abcd",
        "old.example",
        "////",
        "aGVsbG8=x",
        "aGVsbG8==",
    ] {
        assert!(base64_text(v).is_none(), "{v}");
    }
    assert_eq!(
        base64_text("aGVsbG8").map(|(t, _)| t).as_deref(),
        Some("hello")
    );
    // a corrupt serialized value inside base64 stays reported as corrupt
    let bad = "YToxOntzOjM6InVybCI7czo1OiJodHRwOi8vb2xkLmV4YW1wbGUiO30=";
    assert!(matches!(
        edit_value(bad, &b64("old.example", "x")),
        Edit::Corrupt(_)
    ));
}
