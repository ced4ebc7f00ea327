//! Key/value settings in `_dev_settings` (theme, user name, ...).

use rusqlite::{Connection, OptionalExtension, params};

/// A setting's value, if set.
pub fn get(conn: &Connection, key: &str) -> rusqlite::Result<Option<String>> {
    conn.query_row(
        "SELECT value FROM _dev_settings WHERE key = ?1",
        [key],
        |r| r.get(0),
    )
    .optional()
}

/// Set (or replace) a setting.
pub fn set(conn: &Connection, key: &str, value: &str) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO _dev_settings(key, value) VALUES (?1, ?2)
         ON CONFLICT(key) DO UPDATE SET value = excluded.value",
        params![key, value],
    )?;
    Ok(())
}

/// Remove a setting; true if it was set.
pub fn unset(conn: &Connection, key: &str) -> rusqlite::Result<bool> {
    Ok(conn.execute("DELETE FROM _dev_settings WHERE key = ?1", [key])? > 0)
}

/// All settings, sorted by key.
pub fn all(conn: &Connection) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = conn.prepare("SELECT key, value FROM _dev_settings ORDER BY key")?;
    stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_replace_unset() {
        let dir = tempfile::tempdir().unwrap();
        let s = crate::store::Store::open_project(dir.path(), true).unwrap();
        let c = s.conn();
        assert_eq!(get(c, "theme").unwrap(), None);
        set(c, "theme", "dark").unwrap();
        set(c, "theme", "light").unwrap();
        assert_eq!(get(c, "theme").unwrap().as_deref(), Some("light"));
        assert_eq!(
            all(c).unwrap(),
            vec![("theme".to_string(), "light".to_string())]
        );
        assert!(unset(c, "theme").unwrap());
        assert!(!unset(c, "theme").unwrap());
    }
}
