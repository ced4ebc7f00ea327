//! `devsky-manifest.json`, the root entry of an update package: what to upload, what to
//! delete, what every touched path must hold before (pre-images) and after (expected).
//! The format is described in docs/DEPLOY.md. [`Manifest::check`] refuses anything that
//! could reach outside the root or contradict itself; [`check_path`] and
//! [`check_link_target`] are the rules for names and symlink targets.

use std::collections::{BTreeMap, HashSet};

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};

use crate::engine::map::{EntryKind, cmp_paths};
use crate::engine::snapshot::objects::is_id;

/// The manifest's name at the root of the zip.
pub const MANIFEST_NAME: &str = "devsky-manifest.json";
/// `format` of every manifest.
pub const FORMAT: &str = "devsky-deploy";
/// The newest manifest version this devsky reads. Version 2 lists folders (`folders`,
/// `remove_folders`): they are deployed as listed. Version 1 lists none: folders follow the
/// files (made for uploads, removed once emptied).
pub const VERSION: u32 = 3;
/// The version of a manifest that carries SQL (`sql`): an agent reading up to version 2
/// refuses it rather than deploy the files without the SQL.
pub const VERSION_SQL: u32 = 3;
/// Longest path accepted (bytes).
const MAX_PATH: usize = 4096;

/// A file or symlink to write.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Upload {
    pub path: String,
    /// Bytes (for a symlink: the length of its target).
    pub size: u64,
    /// blake3 of the content (for a symlink: of its target).
    pub blake3: String,
    /// Permission bits in octal, e.g. `"644"`.
    pub mode: String,
    pub kind: Kind,
}

/// A file or symlink to remove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delete {
    pub path: String,
    /// What it must hold now (its pre-image).
    pub blake3: String,
}

/// What an upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    File,
    Symlink,
}

impl From<EntryKind> for Kind {
    /// Folders are never uploads (plans and journals keep them apart): one taken for a
    /// file here would be refused when its content is checked.
    fn from(k: EntryKind) -> Kind {
        match k {
            EntryKind::File | EntryKind::Dir => Kind::File,
            EntryKind::Symlink => Kind::Symlink,
        }
    }
}

impl From<Kind> for EntryKind {
    fn from(k: Kind) -> EntryKind {
        match k {
            Kind::File => EntryKind::File,
            Kind::Symlink => EntryKind::Symlink,
        }
    }
}

/// A folder that must be there after the deploy, with this mode (created, or its mode
/// changed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Folder {
    pub path: String,
    /// Permission bits in octal, e.g. `"755"`.
    pub mode: String,
}

/// The manifest (see docs/DEPLOY.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `devsky-deploy`.
    pub format: String,
    pub version: u32,
    /// RFC 3339 UTC.
    pub created: String,
    pub uploads: Vec<Upload>,
    pub deletes: Vec<Delete>,
    /// Every touched path -> the blake3 it must have before (null: it must not exist).
    pub pre_images: BTreeMap<String, Option<String>>,
    /// Every touched path -> the blake3 of its map entry after (null: gone).
    pub expected: BTreeMap<String, Option<String>>,
    /// Version 2: folders to create or to give a new mode.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<Folder>,
    /// Version 2: folders to remove (the deletes must empty them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub remove_folders: Vec<String>,
    /// Version 3: the database change to run with the files (`super::sqlpart`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sql: Option<super::sqlpart::SqlPart>,
    /// Version 3: no folders listed, they follow the files (as in version 1).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub folders_follow: bool,
}

/// The mode of an upload as a number.
pub fn parse_mode(s: &str) -> anyhow::Result<u32> {
    let m = u32::from_str_radix(s, 8).with_context(|| format!("mode {s:?} is not octal"))?;
    if m > 0o7777 {
        bail!("mode {s:?} is more than permission bits");
    }
    if m & 0o6000 != 0 {
        bail!("mode {s:?} has setuid/setgid bits; devsky does not deploy those");
    }
    Ok(m)
}

/// Check a path of the manifest or of a zip entry: relative, `/`-separated, no `.` or `..`
/// or empty components, no backslash or NUL, nothing inside `.git/` or `.devsky/` (maps
/// never see those, so nothing there could be verified).
pub fn check_path(p: &str) -> anyhow::Result<()> {
    let bad = |why: &str| -> anyhow::Result<()> { bail!("refused path {p:?}: {why}") };
    if p.is_empty() {
        return bad("empty");
    }
    if p.len() > MAX_PATH {
        return bad("longer than 4096 bytes");
    }
    if p.contains('\0') {
        return bad("contains NUL");
    }
    if p.contains('\\') {
        return bad("contains a backslash (paths are /-separated)");
    }
    if p.starts_with('/') {
        return bad("absolute (paths are relative to the root)");
    }
    let parts: Vec<&str> = p.split('/').collect();
    for (i, c) in parts.iter().enumerate() {
        match *c {
            "" => return bad("empty component (// or a trailing /)"),
            "." => return bad("has a . component"),
            ".." => return bad("has a .. component (would leave the root)"),
            ".git" | ".devsky" if i + 1 < parts.len() => {
                return bad("inside .git/ or .devsky/, which are never deployed");
            }
            _ => {}
        }
    }
    Ok(())
}

/// Check the target of a symlink at `path`: relative, and resolving it from the link's
/// folder never climbs above the root.
pub fn check_link_target(path: &str, target: &[u8]) -> anyhow::Result<()> {
    let shown = String::from_utf8_lossy(target);
    let bad =
        |why: &str| -> anyhow::Result<()> { bail!("refused symlink {path:?} -> {shown:?}: {why}") };
    if target.is_empty() {
        return bad("empty target");
    }
    if target.len() > MAX_PATH {
        return bad("target longer than 4096 bytes");
    }
    if target.contains(&0) {
        return bad("target contains NUL");
    }
    if target.contains(&b'\\') {
        return bad("target contains a backslash");
    }
    if target.starts_with(b"/") {
        return bad("absolute target (leaves the root)");
    }
    let mut depth = path.split('/').count() as i64 - 1;
    for c in target.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                depth -= 1;
                if depth < 0 {
                    return bad("target climbs out of the root");
                }
            }
            _ => depth += 1,
        }
    }
    Ok(())
}

impl Manifest {
    /// Parse and check a manifest.
    pub fn parse(bytes: &[u8]) -> anyhow::Result<Manifest> {
        let m: Manifest = serde_json::from_slice(bytes)
            .context("the package's devsky-manifest.json is not a valid manifest")?;
        m.check()?;
        Ok(m)
    }

    /// Every rule a manifest must follow (see the module doc).
    pub fn check(&self) -> anyhow::Result<()> {
        if self.format != FORMAT {
            bail!(
                "not a devsky deploy manifest (format {:?}, expected {FORMAT:?})",
                self.format
            );
        }
        if self.version > VERSION {
            bail!(
                "the package was made by a newer devsky (manifest version {}, this devsky \
                 reads up to {VERSION}); upgrade devsky on the server",
                self.version
            );
        }
        if self.version == 0 {
            bail!("manifest version 0 is not valid");
        }
        if self.sql.is_some() && self.version < VERSION_SQL {
            bail!("a manifest of version {} cannot carry SQL", self.version);
        }
        let mut touched: HashSet<&str> = HashSet::new();
        for u in &self.uploads {
            check_path(&u.path)?;
            if u.path == MANIFEST_NAME {
                bail!("refused path {MANIFEST_NAME:?}: the name is reserved for the manifest");
            }
            check_hash(&u.path, &u.blake3)?;
            parse_mode(&u.mode).with_context(|| format!("upload {:?}", u.path))?;
            if !touched.insert(&u.path) {
                bail!("{:?} is listed twice in the manifest", u.path);
            }
        }
        for d in &self.deletes {
            check_path(&d.path)?;
            check_hash(&d.path, &d.blake3)?;
            if !touched.insert(&d.path) {
                bail!("{:?} is listed twice in the manifest", d.path);
            }
        }
        for (name, map) in [
            ("pre_images", &self.pre_images),
            ("expected", &self.expected),
        ] {
            for (p, h) in map {
                if !touched.contains(p.as_str()) {
                    check_path(p)?;
                    bail!("{name} lists {p:?}, which is neither uploaded nor deleted");
                }
                if let Some(h) = h {
                    check_hash(p, h)?;
                }
            }
            if map.len() != touched.len() {
                let missing = touched.iter().find(|p| !map.contains_key(**p));
                bail!("{name} has no entry for {missing:?}");
            }
        }
        for u in &self.uploads {
            if self.expected[&u.path].as_deref() != Some(u.blake3.as_str()) {
                bail!("expected hash of {:?} differs from its upload's", u.path);
            }
        }
        for d in &self.deletes {
            if self.expected[&d.path].is_some() {
                bail!("{:?} is deleted but expected to exist after", d.path);
            }
            if self.pre_images[&d.path].as_deref() != Some(d.blake3.as_str()) {
                bail!("pre-image of {:?} differs from its delete's", d.path);
            }
        }
        self.check_folders(&touched)?;
        // A path cannot be both a file (or symlink) and a folder after the deploy.
        let mut after: Vec<&Upload> = self.uploads.iter().collect();
        after.sort_by(|a, b| cmp_paths(a.path.as_bytes(), b.path.as_bytes()));
        for w in after.windows(2) {
            let (a, b) = (w[0].path.as_bytes(), w[1].path.as_bytes());
            if b.len() > a.len() && b.starts_with(a) && b[a.len()] == b'/' {
                bail!(
                    "{:?} is uploaded as a {} and as a folder of {:?}",
                    w[0].path,
                    if w[0].kind == Kind::Symlink {
                        "symlink"
                    } else {
                        "file"
                    },
                    w[1].path
                );
            }
        }
        Ok(())
    }

    /// The folder lists: version 2 only, valid paths and modes, each path once, never a
    /// folder where a file is uploaded, nor an upload inside a folder removed.
    fn check_folders(&self, touched: &HashSet<&str>) -> anyhow::Result<()> {
        if (self.version < 2 || self.folders_follow)
            && !(self.folders.is_empty() && self.remove_folders.is_empty())
        {
            bail!("a manifest of version {} cannot list folders", self.version);
        }
        let uploads: HashSet<&str> = self.uploads.iter().map(|u| u.path.as_str()).collect();
        let mut seen: HashSet<&str> = HashSet::new();
        for f in &self.folders {
            check_path(&f.path)?;
            parse_mode(&f.mode).with_context(|| format!("folder {:?}", f.path))?;
            if !seen.insert(&f.path) {
                bail!("folder {:?} is listed twice in the manifest", f.path);
            }
            if uploads.contains(f.path.as_str()) {
                bail!("{:?} is uploaded as a file and listed as a folder", f.path);
            }
        }
        let removed: HashSet<&str> = self.remove_folders.iter().map(String::as_str).collect();
        for r in &self.remove_folders {
            check_path(r)?;
            if !seen.insert(r) {
                bail!("folder {r:?} is listed twice in the manifest");
            }
            if touched.contains(r.as_str()) && !uploads.contains(r.as_str()) {
                bail!("{r:?} is deleted as a file and removed as a folder");
            }
        }
        let made = self.uploads.iter().map(|u| u.path.as_str());
        for p in made.chain(self.folders.iter().map(|f| f.path.as_str())) {
            let inside = p.match_indices('/').any(|(i, _)| removed.contains(&p[..i]));
            if inside {
                bail!("{p:?} is inside a folder the manifest removes");
            }
        }
        Ok(())
    }

    /// Total bytes of the uploads.
    pub fn upload_bytes(&self) -> u64 {
        self.uploads.iter().map(|u| u.size).sum()
    }
}

fn check_hash(path: &str, h: &str) -> anyhow::Result<()> {
    if !is_id(h) {
        bail!("{path:?}: {h:?} is not a blake3 hash (64 lowercase hex)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_and_targets() {
        for ok in ["a", "a/b.txt", ".htaccess", "x/.git", "a b/ü"] {
            check_path(ok).unwrap();
        }
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../../x",
            "a//b",
            "a/",
            "./a",
            "a\\b",
            "a\0b",
            ".git/config",
            "x/.devsky/dev.db",
        ] {
            assert!(check_path(bad).is_err(), "{bad:?} accepted");
        }
        check_link_target("a/b/l", b"../c").unwrap();
        check_link_target("a/b/l", b"../../c").unwrap();
        check_link_target("l", b"./x/../y").unwrap();
        for bad in [&b"/etc"[..], b"../x", b"a/../../x", b"", b"x\0"] {
            assert!(check_link_target("l", bad).is_err(), "{bad:?}");
        }
        assert!(check_link_target("a/l", b"../../x").is_err());
        assert_eq!(parse_mode("755").unwrap(), 0o755);
        assert!(
            parse_mode("4755").is_err() && parse_mode("17777").is_err() && parse_mode("9").is_err()
        );
    }
}
