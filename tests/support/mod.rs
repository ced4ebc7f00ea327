//! Helpers shared by integration tests (`mod support;`).

#![allow(dead_code)]

pub mod agent;
pub mod cli;
pub mod deploy;
pub mod mariadb;
pub mod nobody;
pub mod sshd;
pub mod tmux;
