//! Helpers shared by integration tests (`mod support;`).

#![allow(dead_code)]

pub mod agent;
pub mod cli;
pub mod deploy;
pub mod mariadb;
pub mod nobody;
pub mod sshd;
pub mod tmux;

/// A port free on 127.0.0.1 right now (for a server the test starts).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
