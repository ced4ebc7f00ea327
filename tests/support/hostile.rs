//! Helpers of the hostile-package tests: packages made by hand (a manifest that matches
//! the entries, zips with the zip crate, then raw bytes patched where the crate cannot
//! make the damage), a site with a sentinel file outside its root, and the check that a
//! refused package changed nothing — by the independent walker of `tree.rs`.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use devsky::engine::deploy::apply::{ApplyOptions, apply};
use devsky::engine::deploy::manifest::{Delete, FORMAT, Kind, MANIFEST_NAME, Manifest, Upload};
use devsky::engine::deploy::{LogLine, State};
use devsky::engine::jobs::Progress;
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

use super::tree::{Tree, assert_same, walk};

/// An entry of a hand-made package.
pub enum E<'a> {
    File(&'a str, &'a [u8]),
    Link(&'a str, &'a str),
}

pub fn hex(b: &[u8]) -> String {
    blake3::hash(b).to_hex().to_string()
}

/// A manifest whose uploads match `files` exactly (each new on the server), deleting
/// `deletes` (path, the content it must hold).
pub fn manifest(files: &[E], deletes: &[(&str, &[u8])]) -> Vec<u8> {
    let mut m = Manifest {
        format: FORMAT.into(),
        version: 1,
        created: "2026-01-01T00:00:00.000Z".into(),
        uploads: vec![],
        deletes: vec![],
        pre_images: Default::default(),
        expected: Default::default(),
        folders: vec![],
        remove_folders: vec![],
        sql: None,
        folders_follow: false,
    };
    for f in files {
        let (path, data, kind, mode) = match f {
            E::File(p, d) => (*p, d.to_vec(), Kind::File, "644"),
            E::Link(p, t) => (*p, t.as_bytes().to_vec(), Kind::Symlink, "777"),
        };
        m.uploads.push(Upload {
            path: path.into(),
            size: data.len() as u64,
            blake3: hex(&data),
            mode: mode.into(),
            kind,
        });
        m.pre_images.insert(path.into(), None);
        m.expected.insert(path.into(), Some(hex(&data)));
    }
    for (p, content) in deletes {
        m.deletes.push(Delete {
            path: (*p).into(),
            blake3: hex(content),
        });
        m.pre_images.insert((*p).into(), Some(hex(content)));
        m.expected.insert((*p).into(), None);
    }
    serde_json::to_vec(&m).unwrap()
}

/// A zip of `manifest` (if any) and `entries`, deflated.
pub fn zip_of(path: &Path, manifest: Option<&[u8]>, entries: &[E]) {
    zip_with(path, manifest, entries, CompressionMethod::Deflated);
}

/// [`zip_of`] with another compression.
pub fn zip_with(path: &Path, manifest: Option<&[u8]>, entries: &[E], method: CompressionMethod) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let o = SimpleFileOptions::default().compression_method(method);
    if let Some(m) = manifest {
        z.start_file(MANIFEST_NAME, o).unwrap();
        std::io::Write::write_all(&mut z, m).unwrap();
    }
    for e in entries {
        match e {
            E::File(p, d) => {
                z.start_file(*p, o).unwrap();
                std::io::Write::write_all(&mut z, d).unwrap();
            }
            E::Link(p, t) => z.add_symlink(*p, *t, o).unwrap(),
        }
    }
    z.finish().unwrap();
}

/// Offsets of the local header and the central directory header of the entry `name`.
pub fn headers_of(zip: &[u8], name: &[u8]) -> (usize, usize) {
    let u16_at = |i: usize| u16::from_le_bytes([zip[i], zip[i + 1]]) as usize;
    let find = |sig: &[u8], name_len_at: usize, name_at: usize| {
        (0..zip.len() - name_at)
            .find(|&i| {
                &zip[i..i + 4] == sig
                    && u16_at(i + name_len_at) == name.len()
                    && zip.get(i + name_at..i + name_at + name.len()) == Some(name)
            })
            .unwrap_or_else(|| panic!("no header for {}", String::from_utf8_lossy(name)))
    };
    (find(b"PK\x03\x04", 26, 30), find(b"PK\x01\x02", 28, 46))
}

/// Patch the zip at `path`: `f(bytes, local header offset, central header offset)` for the
/// entry `name`.
pub fn patch(path: &Path, name: &str, f: impl FnOnce(&mut Vec<u8>, usize, usize)) {
    let mut b = std::fs::read(path).unwrap();
    let (l, c) = headers_of(&b, name.as_bytes());
    f(&mut b, l, c);
    std::fs::write(path, b).unwrap();
}

pub fn put(root: &Path, rel: &str, content: &[u8]) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, content).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
}

/// `dir/site/www` (the root), `dir/site/outside.txt` (a sentinel beside it) and
/// `dir/site/shared/` (a folder outside the root), a state folder in `dir/state`.
pub struct Site {
    pub dir: tempfile::TempDir,
    pub www: PathBuf,
    pub state: State,
}

impl Site {
    /// The root holds `index.php`, `lib/keep.php`, `data/{a,b}.txt`, the symlinks `lib2 ->
    /// lib` (inside) and `ext -> <dir>/site/shared` (outside, absolute).
    pub fn new() -> Site {
        let dir = tempfile::tempdir().unwrap();
        let site = dir.path().join("site");
        let www = site.join("www");
        put(&www, "index.php", b"<?php");
        put(&www, "lib/keep.php", b"keep");
        put(&www, "data/a.txt", b"a");
        put(&www, "data/b.txt", b"b");
        std::os::unix::fs::symlink("lib", www.join("lib2")).unwrap();
        put(&site, "shared/pics/p.txt", b"shared");
        std::os::unix::fs::symlink(site.join("shared"), www.join("ext")).unwrap();
        put(&site, "outside.txt", b"precious");
        let state = State::open(&dir.path().join("state"), &www).unwrap();
        Site { dir, www, state }
    }

    pub fn zip(&self, name: &str) -> PathBuf {
        self.dir.path().join(format!("{name}.zip"))
    }

    /// The whole site (root and sentinel), by the independent walker.
    pub fn tree(&self) -> Tree {
        walk(&self.dir.path().join("site"))
    }

    /// Apply `zip` and require a refusal whose message has `want` and says nothing was
    /// changed, with the site exactly as before and no deployment recorded.
    #[track_caller]
    pub fn refused(&self, name: &str, zip: &Path, opts: &ApplyOptions, want: &str) -> String {
        let before = self.tree();
        let msg = self.refused_recorded(name, zip, opts, want, &before);
        assert!(
            self.state.deployments().unwrap().is_empty(),
            "{name}: a refused package was recorded as a deployment"
        );
        msg
    }

    /// [`Site::refused`], where the refusal may come once the deployment is recorded (it is
    /// then recorded failed).
    #[track_caller]
    pub fn refused_recorded(
        &self,
        name: &str,
        zip: &Path,
        opts: &ApplyOptions,
        want: &str,
        before: &Tree,
    ) -> String {
        let err = apply(
            &self.www,
            &self.state,
            zip,
            opts,
            &Progress::silent(),
            &|_: &LogLine| {},
        )
        .err()
        .unwrap_or_else(|| panic!("{name}: accepted"));
        let msg = format!("{err:#}");
        assert!(msg.contains(want), "{name}: {msg}");
        assert!(msg.contains("nothing was changed"), "{name}: {msg}");
        assert_same(before, &self.tree(), name);
        assert!(self.state.lock_info().unwrap().is_none(), "{name}: locked");
        for e in std::fs::read_dir(self.dir.path().join("site")).unwrap() {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            assert!(!n.contains("devsky-stage"), "{name}: stage folder {n} left");
        }
        msg
    }
}
