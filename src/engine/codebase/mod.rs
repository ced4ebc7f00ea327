//! The code base as records: importing a project's files into the `_dev_` store's
//! `_dev_codebase` (the store itself, queries and search live in `crate::store`).

pub mod import;
