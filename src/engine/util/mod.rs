//! Small helpers every capability uses: units and times for people, exported files, and
//! the test-only fault-injection switches.

pub mod durable;
pub mod export;
pub mod testhooks;
pub mod units;
