//! Fault-injection switches for the test suite, compiled in only with the `test-hooks`
//! cargo feature (`scripts/test` turns it on). Without it — in every release binary —
//! [`var`] always answers `None`, so `DEVSKY_CRASH_AT`, `DEVSKY_TEST_CORRUPT_STAGE`,
//! `DEVSKY_TEST_SLOW_DEPLOY_MS`, `DEVSKY_TEST_SLOW_PRUNE_MS`,
//! `DEVSKY_TEST_SLOW_RESTORE_MS` (a pause per file a rollback restores), `DEVSKY_TEST_HOLD_MS` and `DEVSKY_TEST_PANIC` in the
//! environment change nothing.

/// The value of a test-hook environment variable, or `None` when hooks are not compiled in.
#[cfg(feature = "test-hooks")]
pub fn var(name: &str) -> Option<String> {
    debug_assert!(name.starts_with("DEVSKY_CRASH_AT") || name.starts_with("DEVSKY_TEST_"));
    std::env::var(name).ok()
}

/// The value of a test-hook environment variable, or `None` when hooks are not compiled in.
#[cfg(not(feature = "test-hooks"))]
pub fn var(_name: &str) -> Option<String> {
    None
}

/// Whether this binary was built with the test hooks.
pub const ENABLED: bool = cfg!(feature = "test-hooks");
