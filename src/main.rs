//! devsky's entry point: everything happens in `devsky::cli::entry`.

fn main() {
    std::process::exit(devsky::cli::entry::main());
}
