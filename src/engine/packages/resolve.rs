//! Dependency resolution: which version of every package an install needs, with the
//! `pubgrub` algorithm over `semver` versions (Cargo's requirement syntax), and a readable
//! explanation of why when no set of versions works (pubgrub's derivation tree, told as
//! uv and cargo tell it).
//!
//! Versions are lenient on input (`1` is 1.0.0, `1.2` is 1.2.0, as DEV.SKY numbered them).
//! A `depends` entry is `name@requirement` (`dev@^1.2`, `shop@>=2,<3`) or a bare `name`
//! (any version). Pre-release versions are not candidates (documented limit).

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use pubgrub::{DefaultStringReporter, OfflineDependencyProvider, PubGrubError, Ranges, Reporter};
use semver::{Comparator, Op, Version, VersionReq};

/// A dependency: a package name and the versions that satisfy it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dep {
    pub name: String,
    pub req: VersionReq,
}

impl std::fmt::Display for Dep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.req)
    }
}

/// Where the resolver learns which versions exist and what each depends on (the
/// registry's index, a local cache, a test's table).
pub trait Index {
    /// Every version of `name` with its dependencies (none: the package is unknown).
    fn versions(&self, name: &str) -> anyhow::Result<Vec<(Version, Vec<Dep>)>>;
}

/// Why resolution failed.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No set of versions satisfies everything; the text says why, step by step.
    #[error("no set of package versions satisfies the request:\n{0}")]
    NoSolution(String),
    #[error("{0}")]
    Invalid(String),
}

/// A package name: 1-100 of letters, digits, `.`, `_`, `-`, not starting with `.` or `-`.
pub fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && !name.starts_with(['.', '-'])
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

/// A version, leniently: `1` -> 1.0.0, `1.2` -> 1.2.0, else semver.
pub fn parse_version(s: &str) -> Result<Version, ResolveError> {
    let padded = match s.split('.').count() {
        1 if s.bytes().all(|b| b.is_ascii_digit()) => format!("{s}.0.0"),
        2 if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') => format!("{s}.0"),
        _ => s.to_string(),
    };
    Version::parse(&padded)
        .map_err(|e| ResolveError::Invalid(format!("version {s:?} is not a version ({e})")))
}

/// A `depends` entry: `name@requirement` or `name`.
pub fn parse_dep(s: &str) -> Result<Dep, ResolveError> {
    let (name, req) = s.split_once('@').unwrap_or((s, "*"));
    if !valid_name(name) {
        return Err(ResolveError::Invalid(format!(
            "{s:?}: {name:?} is not a package name (letters, digits, '.', '_', '-')"
        )));
    }
    let req = VersionReq::parse(req).map_err(|e| {
        ResolveError::Invalid(format!("{s:?}: {req:?} is not a version requirement ({e})"))
    })?;
    if req.comparators.iter().any(|c| !c.pre.is_empty()) {
        return Err(ResolveError::Invalid(format!(
            "{s:?}: pre-release requirements are not supported"
        )));
    }
    Ok(Dep {
        name: name.to_string(),
        req,
    })
}

fn v(major: u64, minor: u64, patch: u64) -> Version {
    Version::new(major, minor, patch)
}

/// The versions one comparator allows, as Cargo reads it (without pre-releases).
fn comparator(c: &Comparator) -> Ranges<Version> {
    let (ma, mi, pa) = (c.major, c.minor, c.patch);
    // [lo, hi): the versions that "start with" the given parts.
    let prefix = || match (mi, pa) {
        (None, _) => Ranges::between(v(ma, 0, 0), v(ma.saturating_add(1), 0, 0)),
        (Some(mi), None) => Ranges::between(v(ma, mi, 0), v(ma, mi.saturating_add(1), 0)),
        (Some(mi), Some(pa)) => Ranges::singleton(v(ma, mi, pa)),
    };
    let low = v(ma, mi.unwrap_or(0), pa.unwrap_or(0));
    match c.op {
        Op::Exact | Op::Wildcard => prefix(),
        Op::Greater => match (mi, pa) {
            (None, _) => Ranges::higher_than(v(ma.saturating_add(1), 0, 0)),
            (Some(mi), None) => Ranges::higher_than(v(ma, mi.saturating_add(1), 0)),
            (Some(_), Some(_)) => Ranges::strictly_higher_than(low),
        },
        Op::GreaterEq => Ranges::higher_than(low),
        Op::Less => Ranges::strictly_lower_than(low),
        Op::LessEq => match (mi, pa) {
            (None, _) => Ranges::strictly_lower_than(v(ma.saturating_add(1), 0, 0)),
            (Some(mi), None) => Ranges::strictly_lower_than(v(ma, mi.saturating_add(1), 0)),
            (Some(_), Some(_)) => Ranges::lower_than(low),
        },
        Op::Tilde => match (mi, pa) {
            (None, _) => prefix(),
            (Some(mi), _) => Ranges::between(low, v(ma, mi.saturating_add(1), 0)),
        },
        Op::Caret => match (ma, mi, pa) {
            (_, None, _) => prefix(),
            (0, Some(0), None) => Ranges::between(v(0, 0, 0), v(0, 1, 0)),
            (0, Some(0), Some(_)) => Ranges::singleton(low),
            (0, Some(mi), _) => Ranges::between(low, v(0, mi.saturating_add(1), 0)),
            (_, Some(_), _) => Ranges::between(low, v(ma.saturating_add(1), 0, 0)),
        },
        _ => Ranges::empty(),
    }
}

/// The versions a requirement allows (every comparator at once).
pub fn ranges(req: &VersionReq) -> Ranges<Version> {
    req.comparators
        .iter()
        .fold(Ranges::full(), |acc, c| acc.intersection(&comparator(c)))
}

/// The name standing for the request itself in explanations.
const ROOT: &str = "(request)";

/// Resolve `wants` over `index`: one version of every package needed, by name.
pub fn resolve(
    index: &dyn Index,
    wants: &[Dep],
) -> Result<BTreeMap<String, Version>, ResolveError> {
    let mut provider = OfflineDependencyProvider::<String, Ranges<Version>>::new();
    provider.add_dependencies(
        ROOT.to_string(),
        v(0, 0, 0),
        wants.iter().map(|d| (d.name.clone(), ranges(&d.req))),
    );
    // Load every package reachable from the request.
    let mut seen = BTreeSet::new();
    let mut queue: VecDeque<String> = wants.iter().map(|d| d.name.clone()).collect();
    while let Some(name) = queue.pop_front() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let versions = index
            .versions(&name)
            .map_err(|e| ResolveError::Invalid(format!("reading the index for {name}: {e:#}")))?;
        for (ver, deps) in versions {
            if !ver.pre.is_empty() {
                continue;
            }
            for d in &deps {
                queue.push_back(d.name.clone());
            }
            provider.add_dependencies(
                name.clone(),
                ver,
                deps.iter().map(|d| (d.name.clone(), ranges(&d.req))),
            );
        }
    }
    match pubgrub::resolve(&provider, ROOT.to_string(), v(0, 0, 0)) {
        Ok(chosen) => Ok(chosen
            .into_iter()
            .filter(|(name, _)| name != ROOT)
            .collect()),
        Err(PubGrubError::NoSolution(mut tree)) => {
            tree.collapse_no_versions();
            Err(ResolveError::NoSolution(explain(
                &DefaultStringReporter::report(&tree),
            )))
        }
        Err(e) => Err(ResolveError::Invalid(format!("resolution failed: {e}"))),
    }
}

/// pubgrub's report in the words of this tool: the request is "your request", ranges as
/// Cargo writes requirements.
fn explain(report: &str) -> String {
    static ASKED_TWICE: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"you asked for (\S+) and you asked for ").expect("a valid pattern")
    });
    static ANY: std::sync::LazyLock<regex::Regex> = std::sync::LazyLock::new(|| {
        regex::Regex::new(r"(^|[ ,])([A-Za-z0-9._-]+) \*").expect("a valid pattern")
    });
    let text = report
        .replace(&format!("{ROOT} 0.0.0 depends on "), "you asked for ")
        .replace(
            &format!("{ROOT} 0.0.0 is forbidden"),
            "no set of versions works",
        )
        .replace(&format!("{ROOT} 0.0.0"), "your request")
        .replace(ROOT, "your request")
        .replace(" are incompatible", " cannot be used together")
        .replace("your request depends on ", "you asked for ");
    let text = ASKED_TWICE.replace_all(&text, "you asked for $1 and ");
    ANY.replace_all(&text, "${1}any version of $2").into_owned()
}

#[cfg(test)]
mod tests;
