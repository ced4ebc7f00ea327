//! Packages (docs/PACKAGES.md): DEV.SKY's unit of exchange between installations.
//!
//! [`archive`] reads and writes `*.sky` archives (devsky's and Coresky's) and knows
//! nothing of the store; [`export`] and [`import`] move a package between the store and
//! an archive, renumbering floating ids ([`refs`] rewrites the references); [`tune`]
//! checks a package before it travels; [`resolve`] picks versions for `depends`.

pub mod archive;
pub mod export;
pub mod import;
pub mod refs;
pub mod resolve;
pub mod tune;

use crate::store::Store;
use crate::store::packages as extra;
use crate::store::scripts::Package;

/// Tune a package of the store: its export laid out as an archive, checked against the
/// store (records that exist here, earlier packages without a SKY_ID).
pub fn tune_package(store: &Store, package: &Package) -> anyhow::Result<Vec<tune::Finding>> {
    let plan = export::plan(store, package)?;
    let unsent_before = extra::unsent(store.conn())?
        .into_iter()
        .filter(|(id, _)| *id < package.id)
        .collect();
    let conn = store.conn();
    let exists = |id: i64| {
        crate::store::codebase::summary(conn, id)
            .ok()
            .flatten()
            .is_some()
    };
    Ok(tune::tune(
        &plan.archive,
        &tune::Context {
            exists: &exists,
            unsent_before,
            dangling: plan.dangling,
        },
    ))
}
