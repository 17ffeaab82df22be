//! The `atiende` binary: parse the command line and run it. Everything else is in the library.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    atiende::cli::main()
}
