//! Resolver tests over a table index: choices, conflicts explained, requirements read as
//! the semver crate reads them (its `VersionReq::matches` is the oracle).

use std::collections::BTreeMap;

use proptest::prelude::*;

use super::*;

/// name -> [(version, ["dep@req", ...])]
struct Table(BTreeMap<&'static str, Vec<(&'static str, Vec<&'static str>)>>);

impl Index for Table {
    fn versions(&self, name: &str) -> anyhow::Result<Vec<(Version, Vec<Dep>)>> {
        let Some(vs) = self.0.get(name) else {
            return Ok(Vec::new());
        };
        vs.iter()
            .map(|(v, deps)| {
                Ok((
                    parse_version(v)?,
                    deps.iter()
                        .map(|d| parse_dep(d))
                        .collect::<Result<_, _>>()?,
                ))
            })
            .collect()
    }
}

fn table(rows: &[(&'static str, &'static str, &[&'static str])]) -> Table {
    let mut t = BTreeMap::<_, Vec<_>>::new();
    for (name, v, deps) in rows {
        t.entry(*name).or_default().push((*v, deps.to_vec()));
    }
    Table(t)
}

fn want(s: &[&str]) -> Vec<Dep> {
    s.iter().map(|d| parse_dep(d).unwrap()).collect()
}

#[test]
fn picks_the_newest_versions_that_fit() {
    let t = table(&[
        ("dev", "1.0.0", &[]),
        ("dev", "1.4.2", &[]),
        ("dev", "2.0.0", &[]),
        ("shop", "1", &["dev@^1.2"]),
        ("shop", "1.1", &["dev@^1.2"]),
        ("u_neo.shop", "0.1.0", &["dev@1", "shop@~1.1"]),
    ]);
    let got = resolve(&t, &want(&["u_neo.shop"])).unwrap();
    let s = |m: &BTreeMap<String, Version>, k: &str| m[k].to_string();
    assert_eq!(s(&got, "dev"), "1.4.2");
    assert_eq!(s(&got, "shop"), "1.1.0");
    assert_eq!(s(&got, "u_neo.shop"), "0.1.0");
    assert_eq!(got.len(), 3);
    // Asking for dev 2 as well cannot work with shop.
    let got = resolve(&t, &want(&["shop", "dev@2"]));
    assert!(matches!(got, Err(ResolveError::NoSolution(_))), "{got:?}");
}

#[test]
fn a_conflict_is_explained_step_by_step() {
    let t = table(&[
        ("a", "1.0.0", &["c@^1"]),
        ("b", "1.0.0", &["c@^2"]),
        ("c", "1.0.0", &[]),
        ("c", "2.0.0", &[]),
    ]);
    let err = resolve(&t, &want(&["a", "b"])).unwrap_err().to_string();
    for part in [
        "you asked for a and b",
        "any version of a",
        "c >=2.0.0, <3.0.0",
        "depends on",
        "no set of versions works",
    ] {
        assert!(err.contains(part), "{part:?} missing from:\n{err}");
    }
    assert!(!err.contains("(request)"), "{err}");
    assert!(!err.contains("0.0.0"), "{err}");
}

#[test]
fn a_missing_package_or_version_is_named() {
    let t = table(&[("a", "1.0.0", &["ghost@^1"]), ("b", "1.0.0", &[])]);
    let err = resolve(&t, &want(&["a"])).unwrap_err().to_string();
    assert!(err.contains("ghost"), "{err}");
    let err = resolve(&t, &want(&["b@^3"])).unwrap_err().to_string();
    assert!(err.contains("b") && err.contains("3"), "{err}");
}

#[test]
fn pre_releases_are_not_candidates() {
    let t = table(&[("a", "1.0.0", &[]), ("a", "1.1.0-beta.1", &[])]);
    assert_eq!(
        resolve(&t, &want(&["a"])).unwrap()["a"].to_string(),
        "1.0.0"
    );
    assert!(parse_dep("a@^1.0.0-beta").is_err());
}

#[test]
fn lenient_versions_and_bad_input() {
    assert_eq!(parse_version("1").unwrap().to_string(), "1.0.0");
    assert_eq!(parse_version("1.2").unwrap().to_string(), "1.2.0");
    assert_eq!(parse_version("1.2.3").unwrap().to_string(), "1.2.3");
    assert!(parse_version("one").is_err());
    assert!(parse_version("").is_err());
    assert!(parse_dep("shop@>=2,<3").is_ok());
    assert!(parse_dep("../x@1").is_err());
    assert!(parse_dep("x@not a req").is_err());
    assert!(parse_dep("x@18446744073709551615").is_ok());
    let huge = parse_dep("x@>18446744073709551615").unwrap();
    let _ = ranges(&huge.req);
}

fn req_text() -> impl Strategy<Value = String> {
    let part = || 0u64..4;
    let op = prop_oneof![
        Just(""),
        Just("="),
        Just(">"),
        Just(">="),
        Just("<"),
        Just("<="),
        Just("~"),
        Just("^")
    ];
    let one = (
        op,
        part(),
        proptest::option::of(part()),
        proptest::option::of(part()),
    )
        .prop_map(|(op, a, b, c)| match (b, c) {
            (None, _) => format!("{op}{a}"),
            (Some(b), None) => format!("{op}{a}.{b}"),
            (Some(b), Some(c)) => format!("{op}{a}.{b}.{c}"),
        });
    prop_oneof![
        one.clone(),
        (one.clone(), one).prop_map(|(x, y)| format!("{x}, {y}")),
        (0u64..4).prop_map(|a| format!("{a}.*")),
        (0u64..4, 0u64..4).prop_map(|(a, b)| format!("{a}.{b}.*")),
        Just("*".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(500))]

    #[test]
    fn ranges_match_semver(req in req_text(), a in 0u64..5, b in 0u64..5, c in 0u64..5) {
        let Ok(parsed) = VersionReq::parse(&req) else { return Ok(()) };
        let ver = Version::new(a, b, c);
        prop_assert_eq!(ranges(&parsed).contains(&ver), parsed.matches(&ver), "{} vs {}", req, ver);
    }
}
