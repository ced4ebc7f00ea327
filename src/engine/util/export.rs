//! Writing an exported result (CSV, JSON) to a new file named after what it is and the
//! time (`app-20250101-120000.csv`; `-2` and so on when that name is taken), never over an
//! existing file. Used by the Query screen and the Tasks view.

use std::io::Write;
use std::path::{Path, PathBuf};

/// Write `body` to a new file `NAME-STAMP.EXT` in `dir` (created when missing); returns
/// its path. Characters of `name` other than ASCII letters, digits and `-` become `_`.
pub fn write_new(dir: &Path, name: &str, ext: &str, body: &str) -> std::io::Result<PathBuf> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let digits: String = super::units::format_time(now)
        .chars()
        .filter(char::is_ascii_digit)
        .collect();
    let stamp = format!("{}-{}{:02}", &digits[..8], &digits[8..], now % 60);
    let safe: String = name
        .chars()
        .map(|c| match c {
            c if c.is_ascii_alphanumeric() || c == '-' => c,
            _ => '_',
        })
        .collect();
    std::fs::create_dir_all(dir)?;
    for n in 1.. {
        let suffix = if n == 1 {
            String::new()
        } else {
            format!("-{n}")
        };
        let path = dir.join(format!("{safe}-{stamp}{suffix}.{ext}"));
        match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(mut f) => {
                f.write_all(body.as_bytes())?;
                return Ok(path);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    unreachable!("some file name is free")
}
