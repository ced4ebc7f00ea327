//! The source layout's rules, checked by reading the sources. Imports go one way:
//! `shell -> screens -> app -> engine -> store`, `cli -> shell/app/engine`,
//! `server -> engine`, `registry -> engine`; each folder of `src/` may use only the modules below it. A rule is
//! one row of [`RULES`]: add a row to check another folder. And the engine's top folder
//! holds one folder per capability, not loose files.
//!
//! A use is any `crate::name` path in code (a `use` line or an inline path, also
//! `crate::{a, b}` groups); comments are skipped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// One rule: files under `src/<dir>` must not use the crate's top-level modules `forbidden`.
struct Rule {
    dir: &'static str,
    forbidden: &'static [&'static str],
    /// Whether test code (`tests.rs` files, and what follows `#[cfg(test)]` in a file) is
    /// held to the rule too.
    tests_too: bool,
    why: &'static str,
}

const RULES: &[Rule] = &[
    Rule {
        dir: "app",
        forbidden: &["screens", "shell", "cli", "server", "registry"],
        tests_too: true,
        why: "app is the UI framework: it knows screens only through its Screen trait",
    },
    Rule {
        dir: "screens",
        forbidden: &["shell", "cli", "server", "registry"],
        // A screen's TestBackend tests drive it through the shell's harness.
        tests_too: false,
        why: "screens sit on the framework; the shell hosts them, not the other way round",
    },
    Rule {
        dir: "engine",
        forbidden: &["app", "screens", "shell", "cli", "server", "registry"],
        tests_too: true,
        why: "the engine knows nothing of the TUI, the CLI or the server",
    },
    Rule {
        dir: "store",
        forbidden: &[
            "app", "screens", "shell", "cli", "server", "registry", "engine",
        ],
        tests_too: true,
        why: "the store is the bottom layer",
    },
    Rule {
        dir: "cli",
        // The CLI starts the TUI through `shell` (and `devsky keys` lists the registry of
        // `app`), but never reaches into a screen.
        forbidden: &["screens"],
        tests_too: true,
        why: "the CLI starts the TUI through the shell",
    },
    Rule {
        dir: "server",
        forbidden: &["app", "screens", "shell", "cli", "registry"],
        tests_too: true,
        why: "the server knows nothing of the TUI or the CLI",
    },
    Rule {
        dir: "registry",
        forbidden: &["app", "screens", "shell", "cli", "server"],
        tests_too: true,
        why: "the registry server uses only the engine and the store",
    },
];

/// Folders (and files) of `src/` that may use `crate::screens`: the shell that hosts the
/// screens, and the screens themselves.
const MAY_USE_SCREENS: &[&str] = &["shell", "screens"];

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The top-level modules a source text uses through `crate::` (code only).
fn crate_uses(text: &str, tests_too: bool) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        if !tests_too && code.trim_start().starts_with("#[cfg(test)]") {
            break;
        }
        let mut rest = code;
        while let Some(i) = rest.find("crate::") {
            let after = &rest[i + "crate::".len()..];
            if let Some(group) = after.strip_prefix('{') {
                let inner = group.split('}').next().unwrap_or("");
                for item in inner.split(',') {
                    out.insert(ident(item.trim()));
                }
            } else {
                out.insert(ident(after));
            }
            rest = after;
        }
    }
    out.remove("");
    out
}

fn ident(s: &str) -> String {
    s.chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect()
}

fn is_test_file(p: &Path) -> bool {
    p.file_name().is_some_and(|n| n == "tests.rs")
}

/// Every `(file, module)` of a rule's folder that breaks it.
fn violations(rule: &Rule) -> Vec<String> {
    let mut files = Vec::new();
    rust_files(&src().join(rule.dir), &mut files);
    assert!(!files.is_empty(), "no sources under src/{}", rule.dir);
    let mut bad = Vec::new();
    for f in files {
        if !rule.tests_too && is_test_file(&f) {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        for m in crate_uses(&text, rule.tests_too) {
            if rule.forbidden.contains(&m.as_str()) {
                bad.push(format!("{} uses crate::{m}", f.display()));
            }
        }
    }
    bad
}

#[test]
fn every_folder_uses_only_what_is_below_it() {
    let mut report = Vec::new();
    for rule in RULES {
        for v in violations(rule) {
            report.push(format!("{v} ({})", rule.why));
        }
    }
    assert!(report.is_empty(), "{}", report.join("\n"));
}

#[test]
fn only_the_shell_knows_the_screens() {
    let mut files = Vec::new();
    rust_files(&src(), &mut files);
    let mut bad = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(src()).unwrap();
        let top = rel
            .components()
            .next()
            .unwrap()
            .as_os_str()
            .to_string_lossy();
        let top = top.trim_end_matches(".rs");
        if MAY_USE_SCREENS.contains(&top) {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        if crate_uses(&text, true).contains("screens") {
            bad.push(rel.display().to_string());
        }
    }
    assert!(
        bad.is_empty(),
        "only src/shell hosts the screens, yet these use crate::screens: {bad:?}"
    );
}

#[test]
fn the_scanner_sees_every_form_of_use() {
    let text = "use crate::app::theme::Theme;\n\
                let x = crate::screens::ScreenId::Query; // crate::cli in a comment\n\
                use crate::{engine::jobs, store};\n\
                /// Docs about crate::server\n\
                #[cfg(test)]\n\
                use crate::shell::harness::Harness;\n";
    let all: Vec<String> = crate_uses(text, true).into_iter().collect();
    assert_eq!(all, ["app", "engine", "screens", "shell", "store"]);
    let no_tests: Vec<String> = crate_uses(text, false).into_iter().collect();
    assert_eq!(no_tests, ["app", "engine", "screens", "store"]);
}

#[test]
fn the_scan_sees_a_violation() {
    // The checks above read text; make sure the reader finds what it looks for.
    let rule = Rule {
        dir: "cli",
        forbidden: &["engine"],
        tests_too: true,
        why: "",
    };
    assert!(
        !violations(&rule).is_empty(),
        "the cli imports the engine, and the scan must see it"
    );
}

#[test]
fn the_engine_top_folder_holds_folders() {
    let root = src().join("engine");
    let loose: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.file_name().unwrap() != "mod.rs")
        .map(|p| p.display().to_string())
        .collect();
    assert!(
        loose.is_empty(),
        "loose files in src/engine (give each a capability folder): {loose:?}"
    );
}

#[test]
fn the_cli_and_the_deploy_screen_push_one_way() {
    // Both plan and push through engine/deploy/push.rs (plan under a hold, push from the
    // held map); neither talks to the agent's push or upload routes itself.
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    for file in ["cli/deploy.rs", "screens/deploy/jobs.rs"] {
        let text = std::fs::read_to_string(src.join(file)).unwrap();
        let code: String = text
            .lines()
            .map(|l| l.split("//").next().unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        for must in ["deploy::push::plan(", ".push(&built,"] {
            assert!(code.contains(must), "{file} does not call {must}");
        }
        for never in ["remote.push(", ".upload(", "upload_and_deploy"] {
            assert!(!code.contains(never), "{file} calls {never} itself");
        }
    }
}
