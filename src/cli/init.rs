//! `devsky init [PATH]`: make the store of a project.

use std::path::PathBuf;

use clap::Args;

use crate::engine::project::Project;
use crate::store::migrations;

#[derive(Debug, Args)]
pub struct InitArgs {
    /// Project folder (default: the current folder).
    pub path: Option<PathBuf>,
    /// Print the result as JSON.
    #[arg(long)]
    pub json: bool,
}

pub fn run(args: InitArgs) -> anyhow::Result<i32> {
    let path = args.path.unwrap_or_else(|| PathBuf::from("."));
    let mut project = Project::locate(&path)?;
    // `init` makes a store at the path given, even inside another project.
    project.root = path.canonicalize()?;
    let existed = project.has_store();
    let store = project.open_store(true)?;
    let version = migrations::current_version(store.conn())?;
    if args.json {
        super::output::print_json(&serde_json::json!({
            "root": project.root,
            "store": store.path(),
            "created": !existed,
            "version": version,
        }))?;
    } else if existed {
        println!(
            "{} already has a devsky store (version {version}).",
            project.root.display()
        );
    } else {
        println!("Made a devsky store in {}.", store.path().display());
    }
    Ok(0)
}
