//! Packages (docs/PACKAGES.md): DEV.SKY's unit of exchange between installations.
//!
//! [`archive`] reads and writes `*.sky` archives (devsky's and Coresky's) and knows
//! nothing of the store; [`export`] and [`import`] move a package between the store and
//! an archive, renumbering floating ids ([`refs`] rewrites the references); [`tune`]
//! checks a package before it travels; [`resolve`] picks versions for `depends`
//! ([`StoreIndex`]: the project's own packages as its index).

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

/// The packages of a store as a resolver index: every name and version in `_dev_packages`
/// with its `depends` (a version or an entry that does not parse is an error naming it).
pub struct StoreIndex<'a>(pub &'a Store);

impl resolve::Index for StoreIndex<'_> {
    fn versions(&self, name: &str) -> anyhow::Result<Vec<(semver::Version, Vec<resolve::Dep>)>> {
        let mut out = Vec::new();
        for p in crate::store::scripts::packages(self.0.conn())? {
            if p.name != name {
                continue;
            }
            let v = resolve::parse_version(&p.version)
                .map_err(|e| anyhow::anyhow!("package #{} {}: {e}", p.id, p.name))?;
            let deps = p
                .depends
                .iter()
                .map(|d| resolve::parse_dep(d))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("package #{} {}: {e}", p.id, p.name))?;
            out.push((v, deps));
        }
        Ok(out)
    }
}
