//! Packages refused for what they would do to the server's tree (`engine::deploy::guard`),
//! before anything is written: symlinks judged by where they resolve through the server's
//! symlinks and the package's own (chains, loops, links out of the root, a server symlink
//! turned outward), paths written or deleted through a symlink or under a file, folders
//! deleted, names too long for the file system. Each refusal says why, and leaves the site
//! and a sentinel beside it exactly as they were (`support::tree`, not devsky's maps).

mod support;

use devsky::engine::deploy::LogLine;
use devsky::engine::deploy::apply::{ApplyOptions, apply};
use devsky::engine::jobs::Progress;
use support::hostile::{E, Site, manifest, zip_of};
use support::tree::{Node, walk};

fn forced() -> ApplyOptions {
    ApplyOptions {
        force: true,
        ..ApplyOptions::default()
    }
}

/// A package of `files` deleting `deletes`, refused with `want` (and no deployment).
#[track_caller]
fn refused(site: &Site, name: &str, files: &[E], deletes: &[(&str, &[u8])], want: &str) {
    let p = site.zip(name);
    zip_of(&p, Some(&manifest(files, deletes)), files);
    site.refused(name, &p, &forced(), want);
}

#[test]
fn symlinks_are_judged_by_where_they_resolve() {
    let site = Site::new();
    // Each text stays in the root; the chain leaves it.
    refused(
        &site,
        "chain",
        &[E::Link("a/up", ".."), E::Link("x", "a/up/..")],
        &[],
        "refused symlink \"x\" -> \"a/up/..\": it resolves to the root's parent folder or \
         beyond (through a/up -> ..)",
    );
    // The same through a symlink already on the server.
    std::os::unix::fs::symlink("..", site.www.join("lib/up")).unwrap();
    refused(
        &site,
        "chain-server",
        &[E::Link("x", "lib/up/../outside.txt")],
        &[],
        "resolves to the root's parent folder or beyond (through lib/up -> ..)",
    );
    // Through the server's own link out of the root.
    refused(
        &site,
        "via-ext",
        &[E::Link("pics", "ext/pics")],
        &[],
        "refused symlink \"pics\" -> \"ext/pics\": it resolves outside the root (through ext ->",
    );
    refused(
        &site,
        "loop",
        &[E::Link("l1", "l2"), E::Link("l2", "l1")],
        &[],
        "it loops",
    );
    // A parent that is a symlink, on the server or in the package.
    refused(
        &site,
        "parent-server",
        &[E::File("lib2/evil.php", b"x")],
        &[],
        "lib2 is a symlink on the server, and the package puts lib2/evil.php under it: devsky \
         never writes through a symlink",
    );
    refused(
        &site,
        "parent-package",
        &[E::Link("d", "lib"), E::File("d/x.php", b"x")],
        &[],
        "\"d\" is uploaded as a symlink and as a folder of \"d/x.php\"",
    );

    // A symlink of the server, inside the root now, that the package would turn outward:
    // s -> d/e/../.. is the root while d/e is missing, the root's parent once d/e -> ..
    std::os::unix::fs::symlink("d/e/../..", site.www.join("s")).unwrap();
    let files = [E::Link("d/e", "..")];
    let p = site.zip("server-link");
    zip_of(&p, Some(&manifest(&files, &[])), &files);
    let before = site.tree();
    site.refused_recorded(
        "server-link",
        &p,
        &ApplyOptions::default(),
        "the package would make the server's symlink \"s\" -> \"d/e/../..\" resolve outside \
         the root: it resolves to the root's parent folder or beyond (through d/e -> ..)",
        &before,
    );
    let h = site.state.deployments().unwrap();
    assert_eq!((h.len(), h[0].status.as_str()), (1, "failed"));
    std::fs::remove_file(site.www.join("s")).unwrap();

    // What stays inside deploys: a link through the server's inside link, and one to a
    // folder the package makes.
    let files = [
        E::Link("ok", "lib2/keep.php"),
        E::Link("n/here", "../lib/up/lib"),
        E::File("n/f.txt", b"f"),
    ];
    let p = site.zip("fine");
    zip_of(&p, Some(&manifest(&files, &[])), &files);
    apply(
        &site.www,
        &site.state,
        &p,
        &ApplyOptions::default(),
        &Progress::silent(),
        &|_: &LogLine| {},
    )
    .unwrap();
    let t = walk(&site.www);
    assert_eq!(
        t.get(&b"ok"[..]),
        Some(&Node::Link {
            target: b"lib2/keep.php".to_vec()
        })
    );
    assert_eq!(std::fs::read(site.www.join("ok")).unwrap(), b"keep");
}

#[test]
fn deletes_that_cannot_be_done_are_refused() {
    let site = Site::new();
    // lib2/keep.php is lib/keep.php seen through the symlink lib2: never deleted that way,
    // even forced (it used to pass as "0 deletes").
    refused(
        &site,
        "under-link",
        &[E::File("new.txt", b"n")],
        &[("lib2/keep.php", b"keep")],
        "cannot delete lib2/keep.php: lib2 is a symlink (devsky never deletes through a \
         symlink) on the server",
    );
    refused(
        &site,
        "folder",
        &[],
        &[("data", b"a")],
        "cannot delete data: it is a folder on the server (not empty: 2 entries)",
    );
    refused(
        &site,
        "under-file",
        &[],
        &[("index.php/x", b"x")],
        "cannot delete index.php/x: index.php is a file on the server",
    );
}

#[test]
fn paths_under_files_and_names_too_long_are_refused() {
    let site = Site::new();
    refused(
        &site,
        "under-file",
        &[E::File("index.php/x.php", b"x")],
        &[],
        "index.php is a file on the server, and the package puts index.php/x.php under it",
    );
    let long = "n".repeat(256);
    refused(
        &site,
        "long-name",
        &[E::File(&format!("a/{long}"), b"x")],
        &[],
        "is 256 bytes, longer than the 255 the server's file system allows",
    );
    // Within the 4096 bytes of a package path, over PATH_MAX once under the root.
    let deep = vec!["p".repeat(203); 20].join("/");
    assert!(deep.len() <= 4096);
    refused(
        &site,
        "long-path",
        &[E::File(&deep, b"x")],
        &[],
        "bytes long, over the server's limit of 4096",
    );
}
