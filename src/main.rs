//! devsky's entry point: parse the arguments and dispatch. Nothing else lives here.

use clap::Parser;

fn main() {
    let cli = devsky::cli::Cli::parse();
    match devsky::cli::run(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("devsky: {e:#}");
            std::process::exit(1);
        }
    }
}
