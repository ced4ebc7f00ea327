//! Running the built binary in CLI tests: the user's config kept out (`DEVSKY_CONFIG_DIR`
//! points at a folder that does not exist), output checked, files written.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

pub fn devsky(args: &[&str], cwd: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_devsky"))
        .args(args)
        .current_dir(cwd)
        .env("DEVSKY_CONFIG_DIR", cwd.join(".no-config"))
        .env_remove("NO_COLOR")
        .output()
        .expect("run devsky")
}

pub fn ok(args: &[&str], cwd: &Path) -> String {
    let out = devsky(args, cwd);
    assert!(
        out.status.success(),
        "devsky {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

pub fn json(args: &[&str], cwd: &Path) -> Value {
    serde_json::from_str(&ok(args, cwd)).unwrap()
}

pub fn fails(args: &[&str], cwd: &Path) -> String {
    let out = devsky(args, cwd);
    assert!(!out.status.success(), "devsky {args:?} should fail");
    String::from_utf8(out.stderr).unwrap()
}

pub fn write(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}
