//! Helpers shared by integration tests (`mod support;`).

#![allow(dead_code)]

pub mod agent;
pub mod cli;
pub mod deploy;
pub mod hostile;
pub mod httprec;
pub mod mariadb;
pub mod nobody;
pub mod objects;
pub mod oracles;
pub mod packages;
pub mod postgres;
pub mod registry;
pub mod scripts;
pub mod sshd;
pub mod tmux;
pub mod tree;
pub mod vsftpd;

/// A port free on 127.0.0.1 right now (for a server the test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Fails the calling test unless the fault-injection hooks are compiled in: tests that set
/// `DEVSKY_CRASH_AT` or a `DEVSKY_TEST_*` switch need them (a release build ignores them).
pub fn need_test_hooks() {
    if !cfg!(feature = "test-hooks") {
        panic!(
            "this test needs devsky's fault-injection hooks: run `cargo test --features \
             test-hooks` (scripts/test does)"
        );
    }
}
