//! Small helpers every capability uses: units and times for people, and the test-only
//! fault-injection switches.

pub mod testhooks;
pub mod units;
