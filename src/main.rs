//! The `pimtl` command line: see [`pimtl::cli`] (the commands live in the library so that the
//! Python bindings can run them too).

fn main() -> std::process::ExitCode {
    pimtl::cli::main()
}
