//! The one walk over a project tree that import, maps and snapshots share: `.gitignore`
//! and `.devskyignore` rules (also outside a git repository), hidden files included,
//! `.git/` and `.devsky/` always left out, symlinks never followed.

use std::path::Path;

use crate::store::STATE_DIR;

/// Name of devsky's own ignore file.
pub const IGNORE_FILE: &str = ".devskyignore";

/// A walker over `dir` with the project's rules. `sorted` walks depth first with siblings
/// in byte order, which is the order of maps (see [`super::map::cmp_paths`]).
pub fn builder(dir: &Path, sorted: bool) -> ignore::WalkBuilder {
    let mut walk = ignore::WalkBuilder::new(dir);
    walk.hidden(false)
        .parents(true)
        .require_git(false)
        .follow_links(false)
        .git_global(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .filter_entry(|e| {
            let n = e.file_name();
            !(e.depth() > 0
                && e.file_type().is_some_and(|t| t.is_dir())
                && (n == ".git" || n == STATE_DIR))
        });
    if sorted {
        walk.sort_by_file_name(|a, b| a.as_encoded_bytes().cmp(b.as_encoded_bytes()));
    }
    walk
}
