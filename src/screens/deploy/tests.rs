//! The Deploy screen on a `TestBackend`, against a real agent (`server::serve`) running on
//! a thread of the test process, on a free port, with its root and state in temp folders.

use std::fs;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::engine::deploy::State;
use crate::engine::project::Project;
use crate::engine::remote::{ServerProfile, add_server, store_key};
use crate::shell::harness::Harness;

pub(super) struct Fixture {
    pub project: tempfile::TempDir,
    pub server: tempfile::TempDir,
}

fn write(root: &Path, path: &str, body: &str) {
    let p = root.join(path);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, body).unwrap();
}

/// A project and a server root that differ: index.html changed, css/ new, old/gone.txt
/// only on the server; an agent serving the server root, registered as `staging`.
pub(super) fn fixture(environment: &str) -> Fixture {
    fixture_with(environment, crate::server::ServeOptions::default())
}

/// [`fixture`] with the agent started with `opts` (`--db`).
fn fixture_with(environment: &str, opts: crate::server::ServeOptions) -> Fixture {
    fixture_at(environment, opts, |url| url)
}

/// [`fixture_with`], the server registered at `register(the agent's URL)`.
fn fixture_at(
    environment: &str,
    opts: crate::server::ServeOptions,
    register: impl FnOnce(String) -> String,
) -> Fixture {
    let project = tempfile::tempdir().unwrap();
    let server = tempfile::tempdir().unwrap();
    let p = project.path();
    write(p, "index.html", "<h1>new</h1>\n");
    write(p, "css/site.css", "body { color: red }\n");
    write(p, "css/extra.css", "p { margin: 0 }\n");
    write(p, "keep.txt", "same\n");
    let root = server.path().join("site");
    write(&root, "index.html", "<h1>old</h1>\n");
    write(&root, "keep.txt", "same\n");
    write(&root, "old/gone.txt", "bye\n");
    let root = root.canonicalize().unwrap();
    let state_dir = server.path().join("state");
    let state = State::open(&state_dir, &root).unwrap();
    let (_, key) = crate::server::keys::Keys::open(state.dir())
        .unwrap()
        .create("test")
        .unwrap();
    let port = crate::cli::demo::free_port().unwrap();
    let listen = format!("127.0.0.1:{port}");
    {
        let (root, state_dir, listen) = (root.clone(), state_dir.clone(), listen.clone());
        std::thread::spawn(move || crate::server::serve(&root, &state_dir, &listen, &opts));
    }
    let url = format!("http://{listen}");
    crate::cli::demo::wait_healthy(&url).unwrap();
    let proj = Project::locate(p).unwrap();
    let mut store = proj.open_store(true).unwrap();
    add_server(
        &mut store,
        &ServerProfile {
            id: 0,
            name: "staging".into(),
            environment: environment.into(),
            transport: "http".into(),
            url: Some(register(url)),
            key_env: None,
            ssh: None,
            remote_root: None,
            is_default: true,
            created: crate::store::now(),
            tls_ca: None,
            tls_fingerprint: None,
            include: Vec::new(),
            exclude: Vec::new(),
            options: serde_json::Value::Null,
        },
    )
    .unwrap();
    store_key(&proj.root, "staging", &key).unwrap();
    Fixture { project, server }
}

/// Plan (expecting `plan` in the status), deploy to staging, confirm, wait for deployment
/// `n` to be done; the screen then.
fn plan_and_deploy(h: &mut Harness, plan: &str, n: i64) -> String {
    h.key("p");
    h.wait_for(&format!("deploy plan: {plan}"));
    h.key("D");
    h.wait_for("Deploy to staging");
    h.key("y");
    h.wait_for(&format!("deploy: deployment {n} done"))
}

pub(super) fn open(root: &Path, w: u16, h: u16) -> Harness {
    let mut h = Harness::new(root, w, h).unwrap();
    h.key("8");
    h
}

#[test]
fn empty_state_explains_how_to_add_a_server() {
    let dir = tempfile::tempdir().unwrap();
    for (w, hgt) in [(120, 30), (80, 24)] {
        let mut h = open(dir.path(), w, hgt);
        let s = h.screen();
        assert!(s.contains("No servers yet"), "{s}");
        let one_line = "devsky server add NAME --url http://HOST:PORT --key KEY --env staging";
        if w >= 100 {
            assert!(s.contains(one_line), "{s}");
        } else {
            assert!(
                s.contains("devsky server add NAME --url http://HOST:PORT"),
                "{s}"
            );
        }
    }
}

#[test]
fn plan_tick_package_deploy_and_history() {
    let f = fixture("staging");
    let mut h = open(f.project.path(), 120, 36);
    let s = h.wait_for("staging");
    assert!(s.contains("staging · staging · http"), "{s}");
    h.key("p");
    h.wait_for("deploy plan: 3 to upload");
    let s = h.wait_for("to delete");
    assert!(s.contains("to upload"), "{s}");
    assert_eq!(
        tree_on_screen(&s),
        (
            vec![
                "css/extra.css".to_string(),
                "css/site.css".into(),
                "index.html".into()
            ],
            vec!["old/gone.txt".to_string()]
        ),
        "{s}"
    );
    assert!(!s.contains("keep.txt"), "{s}");
    // rows: header, index, css/, extra, site, header, old/, gone
    h.key("j");
    h.key("j");
    h.key("j");
    h.key("space");
    let s = h.screen();
    assert!(s.contains("[ ] A extra.css"), "{s}");
    assert!(s.contains("[-] css/"), "{s}");
    assert!(s.contains("ticked: 2 upload(s)"), "{s}");

    // b: the package leaves the unticked file out
    h.key("b");
    h.wait_for("built: 2 upload(s)");
    let dir = f.project.path().join(".devsky/deploy");
    let zip = fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "zip"))
        .expect("a zip in .devsky/deploy");
    let pkg = crate::engine::deploy::package::Package::open(
        &zip,
        &crate::engine::deploy::Limits::default(),
        &crate::engine::jobs::Progress::silent(),
    )
    .unwrap();
    let mut ups: Vec<&str> = pkg
        .manifest
        .uploads
        .iter()
        .map(|u| u.path.as_str())
        .collect();
    ups.sort();
    assert_eq!(ups, ["css/site.css", "index.html"]);
    assert_eq!(pkg.manifest.deletes.len(), 1);

    // D + y: deployed, the log pane shows the success line
    h.key("D");
    let s = h.wait_for("Deploy to staging (staging): 2 upload(s)");
    assert!(!s.contains("PRODUCTION"), "{s}");
    h.key("y");
    h.wait_for("verified: the root's map is exactly the expected one");
    h.wait_for("deploy: deployment 1 done");
    let root = f.server.path().join("site");
    assert_eq!(
        fs::read_to_string(root.join("index.html")).unwrap(),
        "<h1>new</h1>\n"
    );
    assert!(root.join("css/site.css").is_file());
    assert!(!root.join("css/extra.css").exists());
    assert!(!root.join("old/gone.txt").exists());
    assert!(root.join("keep.txt").is_file());

    // Database tab: fields, and an agent started without --db
    h.key("t");
    let s = h.wait_for("started without --db");
    assert!(s.contains("deployment 1 (deploy)"), "{s}");
    assert!(s.contains("environment not set, files in place"), "{s}");
    // History tab: the deployment
    h.key("t");
    let s = h.wait_for("   1  deploy   done");
    assert!(s.contains("deployed 2 upload(s)"), "{s}");
}

#[test]
fn production_says_so_and_80x24_renders() {
    let f = fixture("production");
    let mut h = open(f.project.path(), 80, 24);
    let s = h.wait_for("staging");
    assert!(s.contains("production"), "{s}");
    h.key("p");
    h.wait_for("deploy plan: 3 to upload");
    let s = h.wait_for("to upload");
    assert!(
        s.contains("[x] css/ (2/2)") && s.contains("extra.css"),
        "{s}"
    );
    h.key("D");
    let s = h.wait_for("PRODUCTION");
    assert!(s.contains("Deploy to staging (production)"), "{s}");
    h.key("n");
    let s = h.screen();
    assert!(!s.contains("PRODUCTION"), "{s}");
    assert!(f.server.path().join("site/old/gone.txt").exists());
    // the filter narrows the lists
    h.key("/");
    h.type_text("site");
    h.key("enter");
    let s = h.screen();
    assert!(
        s.contains("[x] css/ (1/1)") && s.contains("site.css") && !s.contains("index.html"),
        "{s}"
    );
}

#[test]
fn rollback_from_history_follows_the_log() {
    let f = fixture("staging");
    let mut h = open(f.project.path(), 120, 36);
    h.wait_for("staging");
    for (n, plan) in [(1, "3 to upload"), (2, "1 to upload")] {
        if n == 2 {
            write(f.project.path(), "index.html", "<h1>newer</h1>\n");
        }
        plan_and_deploy(&mut h, plan, n);
    }
    let index = f.server.path().join("site/index.html");
    assert_eq!(fs::read_to_string(&index).unwrap(), "<h1>newer</h1>\n");
    h.key("t");
    h.key("t");
    h.wait_for("   2  deploy   done");
    h.key("k");
    h.key("r");
    h.wait_for("Roll staging (staging) back to deployment 1?");
    h.key("y");
    let s = h.wait_for("rollback: deployment 3 done");
    assert!(s.contains("Log · deployment 3"), "{s}");
    assert_eq!(fs::read_to_string(&index).unwrap(), "<h1>new</h1>\n");
    h.wait_for("   3  rollback");
}

#[test]
fn the_log_pane_scrolls_and_follows_again_at_the_end() {
    let f = fixture("staging");
    // 80x24: the log pane shows 4 lines of a deployment's dozen.
    let mut h = open(f.project.path(), 80, 24);
    h.wait_for("staging");
    let s = plan_and_deploy(&mut h, "3 to upload", 1);
    // The push starts from the map the plan held: its first line says so.
    let first = "holding the deploy lock";
    assert!(
        !s.contains(first) && s.contains("verified: the root's map"),
        "{s}"
    );
    // Not focused: PgUp is the list's, the log keeps following.
    h.key("pageup");
    assert!(!h.screen().contains("newer below"));
    // The plan gave the tabs the keyboard; Tab: the log; Tab: the servers; Tab: the tabs.
    h.key("tab");
    let s = h.screen();
    assert!(s.contains("pageup/pagedown scroll · G follow"), "{s}");
    h.key("tab");
    h.key("tab");
    assert!(!h.screen().contains("scroll · G follow"));
    h.key("tab");
    h.key("pageup");
    let s = h.screen();
    assert!(s.contains("Log · deployment 1 · 4 newer below"), "{s}");
    assert!(!s.contains("verified: the root's map"), "{s}");
    h.key("g");
    let s = h.screen();
    assert!(s.contains(first), "{s}");
    h.key("ctrl-d");
    assert!(!h.screen().contains(first));
    h.key("G");
    let s = h.screen();
    assert!(!s.contains("newer below") && !s.contains(first), "{s}");
    assert!(s.contains("verified: the root's map"), "{s}");
    // Esc gives the keyboard back to the tabs.
    h.key("esc");
    assert!(!h.screen().contains("scroll · G follow"));
}

#[test]
fn undo_rolls_the_only_deployment_back_to_before_it() {
    let f = fixture("staging");
    let root = f.server.path().join("site");
    let before = fs::read_to_string(root.join("index.html")).unwrap();
    let mut h = open(f.project.path(), 120, 36);
    h.wait_for("staging");
    plan_and_deploy(&mut h, "3 to upload", 1);
    h.key("t");
    h.key("t");
    h.wait_for("   1  deploy   done");
    h.key("u");
    h.wait_for("Roll staging (staging) back to before its first deployment?");
    h.key("y");
    h.wait_for("rollback: deployment 2 done");
    assert_eq!(fs::read_to_string(root.join("index.html")).unwrap(), before);
    assert!(root.join("old/gone.txt").is_file());
    assert!(!root.join("css").exists());
    h.wait_for("   2  rollback");
    // Nothing left to undo.
    h.key("u");
    h.wait_for("nothing to undo");
}

#[test]
fn database_tab_shows_connection_tables_and_rows() {
    let dbdir = tempfile::tempdir().unwrap();
    let path = dbdir.path().join("app.db");
    rusqlite::Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE users (id INTEGER PRIMARY KEY, name TEXT);
             CREATE TABLE posts (id INTEGER PRIMARY KEY, user_id INTEGER, body TEXT);
             INSERT INTO users (name) VALUES ('ann'), ('bob');
             INSERT INTO posts (user_id, body) VALUES (1, 'a'), (1, 'b'), (2, 'c');",
        )
        .unwrap();
    let url = crate::server::database::parse_db_arg(&format!("sqlite:{}", path.display())).unwrap();
    let f = fixture_with(
        "staging",
        crate::server::ServeOptions {
            database: Some(url),
            ..Default::default()
        },
    );
    let mut h = open(f.project.path(), 80, 24);
    h.wait_for("staging");
    h.key("t");
    let s = h.wait_for("connected · sqlite 3.");
    let line = |name: &str| {
        s.lines()
            .find(|l| l.contains(&format!("│{name} ")))
            .unwrap_or_else(|| panic!("no line for {name}:\n{s}"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // name, rows, size (value and unit)
    assert_eq!(line("posts")[1..3], ["3".to_string(), "4.0".into()], "{s}");
    assert_eq!(line("users")[1], "2", "{s}");
    assert!(s.contains("2 table(s) · 5 row(s)"), "{s}");
    assert!(s.contains(&format!("sqlite://{}", path.display())), "{s}");
    assert!(s.contains("no deployment yet"), "{s}");

    // The database goes away: the tab says so, naming it.
    std::fs::remove_file(&path).unwrap();
    h.key("R");
    let s = h.wait_for("not connected");
    assert!(s.contains("no SQLite database at"), "{s}");
}

/// A TCP proxy in front of `upstream` (`host:port`) that counts the map requests
/// (`GET /api/v1/map`) going through it, reading the bytes as they pass: it shares no code
/// with devsky's client or agent. Its address and the count.
fn map_counting_proxy(upstream: String) -> (String, Arc<AtomicUsize>) {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let count = Arc::new(AtomicUsize::new(0));
    let maps = count.clone();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let mut server = TcpStream::connect(&upstream).unwrap();
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s2, &mut c2);
                let _ = c2.shutdown(Shutdown::Write);
            });
            let maps = maps.clone();
            std::thread::spawn(move || {
                const NEEDLE: &[u8] = b"GET /api/v1/map";
                let mut seen: Vec<u8> = Vec::new();
                let mut buf = [0u8; 64 * 1024];
                loop {
                    let n = match client.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    // The tail of the previous read, for a request line cut in two.
                    let keep = seen.len().saturating_sub(NEEDLE.len() - 1);
                    seen.drain(..keep);
                    let from = seen.len();
                    seen.extend_from_slice(&buf[..n]);
                    let found = seen
                        .windows(NEEDLE.len())
                        .enumerate()
                        .filter(|(i, w)| *w == NEEDLE && i + NEEDLE.len() > from)
                        .count();
                    maps.fetch_add(found, Ordering::SeqCst);
                    if server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
                let _ = server.shutdown(Shutdown::Write);
            });
        }
    });
    (addr, count)
}

#[test]
fn a_push_from_the_screen_maps_the_server_once() {
    let mut proxy = None;
    let f = fixture_at("staging", crate::server::ServeOptions::default(), |url| {
        let (addr, count) = map_counting_proxy(url.trim_start_matches("http://").to_string());
        proxy = Some(count);
        format!("http://{addr}")
    });
    let maps = proxy.unwrap();
    let mut h = open(f.project.path(), 120, 36);
    h.wait_for("staging");
    plan_and_deploy(&mut h, "3 to upload", 1);
    assert_eq!(
        maps.load(Ordering::SeqCst),
        1,
        "the plan asks for the server's map once, and the push does not ask again"
    );
    // And the agent did not map its root again for the push: it started from the map it
    // held for the plan (the agent's own record, read from its state).
    let root = f.server.path().join("site").canonicalize().unwrap();
    let state = State::open(&f.server.path().join("state"), &root).unwrap();
    let log: Vec<String> = state
        .logs(1)
        .unwrap()
        .into_iter()
        .map(|l| l.message)
        .collect();
    assert!(
        log.iter().any(|l| l.starts_with("holding the deploy lock")),
        "{log:#?}"
    );
    assert!(
        !log.iter().any(|l| l.starts_with("took the deploy lock")),
        "{log:#?}"
    );
    assert_eq!(
        fs::read_to_string(root.join("index.html")).unwrap(),
        "<h1>new</h1>\n"
    );
}

/// The Files list read back from the screen as a tree: each file's path made from the
/// folder lines it is drawn under (by indent), and each folder's `(on/all)` checked
/// against the files drawn under it. Returns the upload paths, then the delete paths.
fn tree_on_screen(s: &str) -> (Vec<String>, Vec<String>) {
    struct Open {
        col: usize,
        path: String,
        all: usize,
        seen: usize,
    }
    fn close(stack: &mut Vec<Open>, col: usize, s: &str) {
        while stack.last().is_some_and(|o| o.col >= col) {
            let o = stack.pop().unwrap();
            assert_eq!(
                o.all, o.seen,
                "{}/ counts {} file(s) but {} are drawn under it:\n{s}",
                o.path, o.all, o.seen
            );
        }
    }
    let (mut ups, mut dels) = (Vec::new(), Vec::new());
    let mut upload = true;
    let mut stack: Vec<Open> = Vec::new();
    for line in s.lines() {
        if line.contains("to delete —") {
            close(&mut stack, 0, s);
            upload = false;
        }
        let Some(col) = ["[x] ", "[ ] ", "[-] "]
            .iter()
            .filter_map(|m| line.find(m))
            .min()
        else {
            continue;
        };
        let rest = line[col + 4..].trim_end_matches(['│', ' ']);
        close(&mut stack, col, s);
        let under = |name: &str| match stack.last() {
            Some(o) => format!("{}/{name}", o.path),
            None => name.to_string(),
        };
        if let Some((name, count)) = rest.split_once("/ (") {
            let all = count.split(['/', ')']).nth(1).unwrap().parse().unwrap();
            let path = under(name);
            stack.push(Open {
                col,
                path,
                all,
                seen: 0,
            });
        } else {
            let path = under(rest.split_whitespace().nth(1).unwrap());
            for o in stack.iter_mut() {
                o.seen += 1;
            }
            if upload { &mut ups } else { &mut dels }.push(path);
        }
    }
    close(&mut stack, 0, s);
    ups.sort();
    dels.sort();
    (ups, dels)
}

#[test]
fn files_are_drawn_under_their_own_folder_with_counts_of_what_is_drawn() {
    let f = fixture("staging");
    let p = f.project.path();
    // composer.json sorts after app/… but is at the top level; vendor/x/y/ is a chain.
    for path in [
        "app/Controllers/Home.php",
        "app/helpers.php",
        "composer.json",
        "vendor/x/y/lib.php",
    ] {
        write(p, path, "<?php\n");
    }
    let mut h = open(p, 80, 24);
    h.wait_for("staging");
    h.key("p");
    h.wait_for("deploy plan: 7 to upload");
    let s = h.wait_for("to delete —");
    // The plan has the keys: its pane is marked, the hint bar shows its keys.
    let marked: Vec<&str> = s.lines().filter(|l| l.contains('▶')).collect();
    assert!(marked.len() == 1 && marked[0].contains("Files"), "{s}");
    assert!(
        s.lines().rev().nth(1).unwrap().contains("space tick"),
        "{s}"
    );
    let (ups, dels) = tree_on_screen(&s);
    assert_eq!(
        ups,
        [
            "app/Controllers/Home.php",
            "app/helpers.php",
            "composer.json",
            "css/extra.css",
            "css/site.css",
            "index.html",
            "vendor/x/y/lib.php",
        ],
        "{s}"
    );
    assert_eq!(dels, ["old/gone.txt"], "{s}");
    // The filter narrows the tree; a folder counts only the files still drawn.
    h.key("/");
    h.type_text("php");
    h.key("enter");
    let s = h.screen();
    assert!(s.contains("[x] app/ (2/2)"), "{s}");
    let (ups, dels) = tree_on_screen(&s);
    assert_eq!(
        ups,
        [
            "app/Controllers/Home.php",
            "app/helpers.php",
            "vendor/x/y/lib.php"
        ],
        "{s}"
    );
    assert!(dels.is_empty(), "{s}");
}

/// The History tab shows the log of a deployment this TUI did not start: read from the
/// agent (`GET /deployments/{id}/logs`), the agent's own record as the oracle.
#[test]
fn history_shows_the_log_of_any_past_deployment() {
    let f = fixture("staging");
    {
        let mut first = open(f.project.path(), 80, 24);
        first.wait_for("staging");
        plan_and_deploy(&mut first, "3 to upload", 1);
        // The deployment's log is in the Jobs screen's Log pane too.
        first.key("9");
        first.key("j");
        let s = first.screen();
        assert!(
            s.contains("Log · #2 deploy") && s.contains("success verified:"),
            "{s}"
        );
    }
    // Another TUI: it started nothing.
    let mut h = open(f.project.path(), 80, 24);
    h.wait_for("staging");
    h.key("t");
    h.key("t");
    h.wait_for("   1  deploy   done");
    assert!(!h.screen().contains("Log · deployment 1"));
    h.key("enter");
    let s = h.wait_for("Log · deployment 1");
    let state = State::open(
        &f.server.path().join("state"),
        &f.server.path().join("site"),
    )
    .unwrap();
    let lines = state.logs(1).unwrap();
    let last = &lines
        .last()
        .expect("the agent logged the deployment")
        .message;
    let start: String = last.chars().take(20).collect();
    assert!(s.contains(&start), "{last:?} not in:\n{s}");
}

/// A TCP proxy in front of `upstream` that passes what the client sends at about 2 MiB/s,
/// so an upload takes a while; shares no code with devsky.
fn slow_upload_proxy(upstream: String) -> String {
    use std::io::{Read, Write};
    use std::net::{Shutdown, TcpListener, TcpStream};
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    std::thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { continue };
            let mut server = TcpStream::connect(&upstream).unwrap();
            let (mut c2, mut s2) = (client.try_clone().unwrap(), server.try_clone().unwrap());
            std::thread::spawn(move || {
                let _ = std::io::copy(&mut s2, &mut c2);
                let _ = c2.shutdown(Shutdown::Write);
            });
            std::thread::spawn(move || {
                let mut buf = [0u8; 32 * 1024];
                loop {
                    let n = match client.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    if server.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(15));
                }
                let _ = server.shutdown(Shutdown::Write);
            });
        }
    });
    addr
}

/// The upload shows the bytes sent of the package's total while it goes (80x24).
#[test]
fn the_upload_shows_bytes_sent_of_the_total() {
    let f = fixture_at("staging", crate::server::ServeOptions::default(), |url| {
        format!(
            "http://{}",
            slow_upload_proxy(url.trim_start_matches("http://").to_string())
        )
    });
    // 12 MiB that do not compress (more than the sockets' buffers take at once).
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let noise: Vec<u8> = (0..12 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    fs::write(f.project.path().join("big.bin"), &noise).unwrap();
    let mut h = open(f.project.path(), 80, 24);
    h.wait_for("staging");
    h.key("p");
    h.wait_for("deploy plan: 4 to upload");
    h.key("D");
    h.wait_for("Deploy to staging");
    h.key("y");
    let s = h.wait_for("uploading ");
    let row = s
        .lines()
        .find(|l| l.contains("uploading "))
        .unwrap()
        .to_string();
    let (sent, total) = row
        .split_once("uploading ")
        .unwrap()
        .1
        .split_once(" of ")
        .unwrap_or_else(|| panic!("{row}"));
    let total = total.split(" MiB").next().unwrap().to_string() + " MiB";
    assert!(total.starts_with("12."), "the package's size: {row}");
    // Somewhere in the middle, the count is below the total.
    let mut partial = sent != total;
    while !partial {
        let s = h.wait_for("uploading ");
        partial = s
            .lines()
            .any(|l| l.contains("uploading ") && !l.contains(&format!("uploading {total}")));
    }
    h.wait_for("deploy: deployment 1 done");
    let pkg = fs::read_dir(f.project.path().join(".devsky/deploy"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .max()
        .unwrap();
    assert_eq!(
        total,
        crate::engine::util::units::human_size(pkg as i64),
        "the total is the package file's size"
    );
}
