//! Running the built binary without privileges: root ignores file permissions, so tests of
//! unreadable or unwritable files run devsky through `setpriv` as nobody when they are root.

use std::process::Command;

/// The built `devsky`, to be run as nobody when the tests run as root (util-linux's
/// `setpriv`, installed by scripts/test), as the current user otherwise.
pub fn devsky_as_nobody() -> Command {
    let is_root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| o.stdout == b"0\n")
        .unwrap_or(false);
    if is_root {
        let mut c = Command::new("setpriv");
        c.args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            env!("CARGO_BIN_EXE_devsky"),
        ]);
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_devsky"))
    }
}
