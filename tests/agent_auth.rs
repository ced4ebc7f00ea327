//! The key check of the HTTP agent with the real binary: many wrong keys sent at once from
//! one address are checked at the limiter's rate, not all at once (a right guess among
//! them is not found any faster), and the `Bearer` scheme is matched in any case.

mod support;
use support::agent::{create_key, start_agent};
use support::deploy::put;

use std::time::{Duration, Instant};

use devsky::server::keys::Throttle;

#[test]
fn concurrent_wrong_keys_from_one_address_take_the_limiters_time() {
    let d = tempfile::tempdir().unwrap();
    let (root, state) = (d.path().join("root"), d.path().join("state"));
    put(&root, "index.php", b"<?php\n");
    let key = create_key(&root, &state);
    let agent = start_agent(&root, &state, d.path().join("agent.log"), &[], &[]);
    let client = reqwest::blocking::Client::new();

    // 40 wrong keys at once, each on its own connection.
    const N: u32 = 40;
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(N as usize + 1));
    let wrong: Vec<_> = (0..N)
        .map(|n| {
            let (url, barrier) = (agent.url.clone(), barrier.clone());
            std::thread::spawn(move || {
                let client = reqwest::blocking::Client::new();
                barrier.wait();
                let r = client
                    .get(format!("{url}/api/v1/status"))
                    .bearer_auth(format!("wrong-{n}"))
                    .send()
                    .unwrap();
                r.status().as_u16()
            })
        })
        .collect();
    // The right key, sent while they wait, waits its turn behind them.
    barrier.wait();
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_millis(300));
    let right = client
        .get(format!("{}/api/v1/status", agent.url))
        .bearer_auth(&key)
        .send()
        .unwrap();
    let right_after = t0.elapsed();
    assert_eq!(right.status(), 200);
    for h in wrong {
        assert_eq!(h.join().unwrap(), 401);
    }
    let all = t0.elapsed();
    // BURST at once, then one per INTERVAL: the last of them after (N - BURST) intervals.
    let least = Throttle::INTERVAL * (N - Throttle::BURST) - Duration::from_millis(100);
    assert!(
        all >= least,
        "{N} wrong keys took {all:?}, less than {least:?}"
    );
    assert!(
        right_after >= least,
        "the right key was checked after {right_after:?}: before the guesses ahead of it \
         (at least {least:?})"
    );
}

#[test]
fn the_bearer_scheme_is_matched_in_any_case() {
    let d = tempfile::tempdir().unwrap();
    let (root, state) = (d.path().join("root"), d.path().join("state"));
    put(&root, "index.php", b"<?php\n");
    let key = create_key(&root, &state);
    let agent = start_agent(&root, &state, d.path().join("agent.log"), &[], &[]);
    let client = reqwest::blocking::Client::new();
    let status = |value: String| {
        client
            .get(format!("{}/api/v1/status", agent.url))
            .header("authorization", value)
            .send()
            .unwrap()
            .status()
            .as_u16()
    };
    for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
        assert_eq!(status(format!("{scheme} {key}")), 200, "{scheme}");
    }
    assert_eq!(status(format!("Basic {key}")), 401);
    assert_eq!(status(key.clone()), 401);
}
