//! An oracle for the object store that shares no code with devsky's reader: it reads
//! `.devsky/objects/<2 hex>/<62 hex>` with std::fs, decompresses with the zstd crate and
//! hashes with blake3, and reads snapshot rows from `.devsky/dev.db` with SQL.

use std::path::Path;

/// blake3 of `data` as 64 lowercase hex (an object id).
pub fn id_of(data: &[u8]) -> String {
    blake3::hash(data).to_hex().to_string()
}

/// Problems with object `id` of the store under `root`: missing, undecodable, or content
/// that does not hash to its id. None when it is sound.
pub fn object_problem(root: &Path, id: &str) -> Option<String> {
    let path = root.join(".devsky/objects").join(&id[..2]).join(&id[2..]);
    let raw = match std::fs::read(&path) {
        Ok(raw) => raw,
        Err(e) => return Some(format!("object {id}: cannot read {}: {e}", path.display())),
    };
    match zstd::decode_all(raw.as_slice()) {
        Ok(content) if id_of(&content) == id => None,
        Ok(_) => Some(format!("object {id}: its content hashes to something else")),
        Err(e) => Some(format!("object {id}: not a zstd frame ({e})")),
    }
}

/// Every object file's id under the store (names of `objects/xx/yyyy`, temp files left out).
pub fn object_ids(root: &Path) -> Vec<String> {
    let mut ids = Vec::new();
    let Ok(dirs) = std::fs::read_dir(root.join(".devsky/objects")) else {
        return ids;
    };
    for d in dirs.flatten() {
        let prefix = d.file_name().to_string_lossy().into_owned();
        if prefix.len() != 2 {
            continue;
        }
        for f in std::fs::read_dir(d.path()).unwrap().flatten() {
            ids.push(format!("{prefix}{}", f.file_name().to_string_lossy()));
        }
    }
    ids.sort();
    ids
}

/// (name, map object) of every snapshot row in the project's store.
pub fn snapshot_rows(root: &Path) -> Vec<(String, String)> {
    let flags = rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY;
    let db = rusqlite::Connection::open_with_flags(root.join(".devsky/dev.db"), flags).unwrap();
    let mut q = db
        .prepare("SELECT name, map_object FROM _dev_snapshots ORDER BY id")
        .unwrap();
    let rows = q.query_map([], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
    rows.map(|r| r.unwrap()).collect()
}
