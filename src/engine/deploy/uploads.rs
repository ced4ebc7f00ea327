//! Packages received by the agent, in `packages/` of its state folder: `<blake3>.zip` once
//! complete, `.upload-*` while arriving.
//!
//! A package there belongs to a deployment that has not started yet (a push's body, or an
//! upload waiting for `POST /api/v1/deployments`); once a deployment started, its package
//! is archived as `archives/<id>.zip`. What an agent killed meanwhile left there is
//! removed by recovery ([`remove_leftovers`]), never kept.
//!
//! Another agent on the same state may be receiving a package at that moment: every
//! upload holds a shared `flock` on the `packages/` folder ([`Receiving`]) from before it
//! creates its file until its request is answered, and recovery empties the folder only
//! under an exclusive one, taken without waiting (and otherwise leaves it for the next
//! recovery).

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use anyhow::Context;

/// The folder of received packages in the state folder `state_dir`.
pub fn packages_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("packages")
}

/// A shared hold on `packages/` while a package is received: recovery leaves the folder
/// alone until it is dropped.
pub struct Receiving {
    _dir: File,
}

/// Create `packages/` if needed and hold it while receiving (blocks only while a
/// recovery is removing leftovers, which is quick).
pub fn receiving(state_dir: &Path) -> anyhow::Result<Receiving> {
    let dir = packages_dir(state_dir);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let f = File::open(&dir).with_context(|| format!("cannot open {}", dir.display()))?;
    flock(&f, libc::LOCK_SH).with_context(|| format!("cannot lock {}", dir.display()))?;
    Ok(Receiving { _dir: f })
}

/// Remove every package (complete or cut short) from `packages/` of `state_dir`, unless an
/// upload is in progress there. Returns how many files went; None when an upload was
/// in progress (nothing removed).
pub fn remove_leftovers(state_dir: &Path) -> anyhow::Result<Option<usize>> {
    let dir = packages_dir(state_dir);
    let f = match File::open(&dir) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Some(0)),
        Err(e) => return Err(e).with_context(|| format!("cannot open {}", dir.display())),
    };
    match flock(&f, libc::LOCK_EX | libc::LOCK_NB) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot lock {}", dir.display())),
    }
    let mut n = 0;
    for e in std::fs::read_dir(&dir)?.flatten() {
        // Only files: nothing else is ever made there.
        if e.file_type().is_ok_and(|t| t.is_file()) {
            std::fs::remove_file(e.path())
                .with_context(|| format!("cannot remove {}", e.path().display()))?;
            n += 1;
        }
    }
    Ok(Some(n))
}

fn flock(f: &File, op: libc::c_int) -> std::io::Result<()> {
    loop {
        // SAFETY: flock on a descriptor `f` owns; released when it is closed.
        if unsafe { libc::flock(f.as_raw_fd(), op) } == 0 {
            return Ok(());
        }
        let e = std::io::Error::last_os_error();
        if e.kind() != std::io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leftovers_go_unless_an_upload_is_in_progress() {
        let d = tempfile::tempdir().unwrap();
        assert_eq!(
            remove_leftovers(d.path()).unwrap(),
            Some(0),
            "no folder yet"
        );
        let dir = packages_dir(d.path());
        let r = receiving(d.path()).unwrap();
        std::fs::write(dir.join("ab.zip"), b"zip").unwrap();
        std::fs::write(dir.join(".upload-x"), b"half").unwrap();
        assert_eq!(remove_leftovers(d.path()).unwrap(), None);
        assert!(dir.join("ab.zip").exists() && dir.join(".upload-x").exists());
        drop(r);
        assert_eq!(remove_leftovers(d.path()).unwrap(), Some(2));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
    }
}
