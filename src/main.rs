//! The `lilt` binary: everything it does is in the `lilt-cli` crate.

fn main() -> std::process::ExitCode {
    lilt_cli::main()
}
