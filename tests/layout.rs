//! The source layout's rules, checked by reading the source: imports go one way
//! (screens -> app -> engine -> store; cli and server -> engine), and the engine's top
//! folder holds one folder per capability, not loose files.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// Every `crate::<top>` a file under `src/<layer>` names (in `use` lines or paths), as
/// "file:line: text".
fn uses_of(layer: &str, tops: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("src")
        .join(layer);
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let mut found = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for top in tops {
                if code.contains(&format!("crate::{top}::"))
                    || code.contains(&format!("crate::{top};"))
                    || code.contains(&format!("crate::{{{top}"))
                {
                    found.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
                }
            }
        }
    }
    found
}

#[test]
fn engine_and_store_import_no_ui_cli_or_server() {
    let mut bad = uses_of("engine", &["app", "screens", "cli", "server"]);
    bad.extend(uses_of(
        "store",
        &["app", "screens", "cli", "server", "engine"],
    ));
    assert!(
        bad.is_empty(),
        "imports against the one-way rule:\n{}",
        bad.join("\n")
    );
}

#[test]
fn cli_and_server_do_not_reach_into_the_tui() {
    // The CLI starts the TUI through `app` (and `devsky keys` lists its registry), but
    // never reaches into a screen.
    let mut bad = uses_of("cli", &["screens"]);
    bad.extend(uses_of("server", &["app", "screens", "cli"]));
    assert!(
        bad.is_empty(),
        "imports against the one-way rule:\n{}",
        bad.join("\n")
    );
}

#[test]
fn the_engine_top_folder_holds_folders() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/engine");
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
fn the_scan_sees_a_violation() {
    // The checks above read text; make sure the reader finds what it looks for.
    let found = uses_of("cli", &["engine"]);
    assert!(
        !found.is_empty(),
        "the cli imports the engine, and the scan must see it"
    );
}
