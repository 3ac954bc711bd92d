//! `pimtl.cli(args)`: the command line (`pimtl::cli::run`) inside the interpreter, so that a
//! Python process (a Ray worker of `pimtl.sweep`, a notebook) runs the experiment runner without
//! a separate binary. The interpreter lock is released while the command runs.

use crate::errors::panic_error;
use pyo3::exceptions::{PyRuntimeError, PyTypeError};
use pyo3::prelude::*;

/// Runs `pimtl ARGS…` (`args` a list of strings without the program name, e.g.
/// `["portfolio", "--quick", "--out", "results/x"]`). Output goes to the process's stdout and
/// stderr as from the binary; `--help` prints the help. A failure (a parse error, a bad file, a
/// refused output folder) is a `RuntimeError` with the command's message.
#[pyfunction]
fn cli(py: Python<'_>, args: Vec<String>) -> PyResult<()> {
    if args.is_empty() {
        return Err(PyTypeError::new_err(
            "args: give the command and its options, e.g. [\"portfolio\", \"--quick\"]",
        ));
    }
    let argv: Vec<String> = std::iter::once("pimtl".to_string()).chain(args).collect();
    let outcome = py.detach(|| std::panic::catch_unwind(|| pimtl::cli::run(argv)));
    match outcome {
        Err(payload) => Err(panic_error(payload)),
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) if pimtl::cli::is_help(&e) => {
            println!("{e}");
            Ok(())
        }
        Ok(Err(e)) => Err(PyRuntimeError::new_err(format!("{e}"))),
    }
}

/// Adds `cli` to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(cli, m)?)
}
