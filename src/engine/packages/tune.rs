//! Tune ("syntax check and tuning of packages"): what is wrong with a package before it
//! travels. Header fields and lists, references between records, and DEV.SKY's rules
//! (FORMATS.md "DEV.SKY package rules"), as a list of findings, errors first.

use std::collections::BTreeSet;

use serde::Serialize;

use super::archive::Archive;
use super::{refs, resolve};
use crate::store::codebase::{Area, FIXED_AREA_MAX};

/// How bad a finding is: an error stops a submit, a warning does not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    Error,
    Warning,
}

/// One finding: a stable code (for scripts) and a sentence (for people).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    pub level: Level,
    pub code: &'static str,
    pub message: String,
}

/// What Tune needs to know of the installation the package comes from.
pub struct Context<'a> {
    /// Whether a record with this id exists here (fixed-area references point here).
    pub exists: &'a dyn Fn(i64) -> bool,
    /// Earlier packages made here that have no SKY_ID yet: (id, name).
    pub unsent_before: Vec<(i64, String)>,
    /// References that could not be laid out (export's dangling references).
    pub dangling: Vec<String>,
}

/// Every finding for `a`, errors first.
pub fn tune(a: &Archive, ctx: &Context<'_>) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut err = |code, message: String| {
        out.push(Finding {
            level: Level::Error,
            code,
            message,
        })
    };
    let h = &a.header;
    let ids: BTreeSet<i64> = a.records().map(|r| r.id).collect();
    // In the package, or a fixed-area record here.
    let known = |id: i64| ids.contains(&id) || (id <= FIXED_AREA_MAX && (ctx.exists)(id));

    if !resolve::valid_name(&h.name) {
        err(
            "name",
            format!(
                "name {:?}: 1-100 of letters, digits, '.', '_', '-', not starting with '.' or '-'",
                h.name
            ),
        );
    }
    if let Err(e) = resolve::parse_version(&h.version) {
        err("version", e.to_string());
    }
    for d in &ctx.dangling {
        err("floating-outside", format!("{d}: it cannot travel"));
    }
    if h.sky_id == 0 && !ctx.unsent_before.is_empty() {
        let names: Vec<String> = ctx
            .unsent_before
            .iter()
            .map(|(id, n)| format!("#{id} {n}"))
            .collect();
        err(
            "unsent",
            format!(
                "a second new package cannot be generated until the previous one has a SKY_ID: \
                 submit {} first",
                names.join(", ")
            ),
        );
    }
    // depends: name@requirement; an update (u_<login>.<app>) names DEV first, its app second.
    let deps: Vec<_> = h
        .depends
        .iter()
        .filter_map(|d| match resolve::parse_dep(d) {
            Ok(d) => Some(d),
            Err(e) => {
                err("depends", format!("depends: {e}"));
                None
            }
        })
        .collect();
    if h.name.starts_with("u_") {
        let names: Vec<&str> = deps.iter().map(|d| d.name.as_str()).collect();
        if names.len() < 2 || names[0] != "dev" || names[1] != h.app {
            err(
                "update-depends",
                format!(
                    "an update's depends starts with the DEV version, then the version of the \
                     application it updates (dev@... {}@...); it has [{}]",
                    if h.app.is_empty() { "APP" } else { &h.app },
                    h.depends.join(" ")
                ),
            );
        }
    }
    // included: the version it was built from (or scratch) first; then updates, work, copy.
    match h.included.first() {
        None => err(
            "included",
            "included is empty: its first entry is the application version the package was \
             built from (app@version), or scratch for a new application"
                .into(),
        ),
        Some(first) if first != "scratch" && !is_exact(first) => err(
            "included",
            format!(
                "included starts with {first:?}: the first entry is the application version \
                 the package was built from (app@version), or scratch"
            ),
        ),
        _ => {}
    }
    for w in h.included.iter().skip(1) {
        if !matches!(w.as_str(), "work" | "copy" | "scratch") && !is_exact(w) {
            err(
                "included",
                format!("included entry {w:?}: an update (name@version), work or copy"),
            );
        }
    }
    // priorun: record ids or macro names.
    for p in &h.priorun {
        match refs::priorun_id(p) {
            Some(id) if !known(id) => err(
                "missing-record",
                format!("priorun names record {id}, which is neither in the package nor here"),
            ),
            Some(_) => {}
            None if !is_macro(p) => err(
                "priorun",
                format!("priorun entry {p:?}: a record id or a macro name (a-z, 0-9, _)"),
            ),
            None => {}
        }
    }
    if h.start_id != 0 && !ids.contains(&h.start_id) {
        err(
            "start-id",
            format!("start_id {} is not a record of the package", h.start_id),
        );
    }
    // References between records.
    for r in a.records() {
        let Some(text) = refs::as_text(&r.body) else {
            continue;
        };
        for id in refs::references(text) {
            if Area::of(r.id) == Area::Fixed && Area::of(id) == Area::Floating {
                err(
                    "fixed-to-floating",
                    format!(
                        "record {} ({}) is in the fixed area and refers to floating record {id}: \
                         the fixed area cannot refer to the floating area",
                        r.id, r.name
                    ),
                );
            } else if !known(id) {
                err(
                    "missing-record",
                    format!(
                        "record {} ({}) runs record {id}, which is neither in the package nor here",
                        r.id, r.name
                    ),
                );
            }
        }
    }
    // Warnings.
    let mut warn = |code, message: String| {
        out.push(Finding {
            level: Level::Warning,
            code,
            message,
        })
    };
    if h.app.is_empty() {
        warn(
            "app",
            "app is empty: name the application under development".into(),
        );
    }
    if h.authors.is_empty() {
        warn("authors", "authors is empty".into());
    }
    if ids.is_empty() {
        warn("empty", "the package has no records".into());
    }
    if h.included.iter().skip(1).any(|w| w == "scratch") {
        warn("included", "scratch belongs first in included".into());
    }
    if let Some(pos) = h.included.iter().position(|w| w == "work")
        && pos + 1 != h.included.len()
    {
        warn(
            "included",
            "work is usually the last entry of included".into(),
        );
    }
    out.sort_by_key(|f| f.level);
    out
}

/// `name@version` with an exact version.
fn is_exact(w: &str) -> bool {
    w.split_once('@')
        .is_some_and(|(n, v)| resolve::valid_name(n) && resolve::parse_version(v).is_ok())
}

fn is_macro(w: &str) -> bool {
    w.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && w.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

#[cfg(test)]
mod tests;
