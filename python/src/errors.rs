//! Core errors as Python exceptions, with the core's message unchanged.
//!
//! | core error | Python |
//! |---|---|
//! | `InvalidParameter`, `ShapeMismatch`, `NonFinite`, `InvalidAllocation`, `Format`, `Parse` | `ValueError` |
//! | `Io` | `OSError` |
//! | `Overflow`, `Diverged` | `ArithmeticError` |

use pyo3::exceptions::{PyArithmeticError, PyMemoryError, PyOSError, PyRuntimeError, PyValueError};
use pyo3::PyErr;

/// Converts a core error into the Python exception of the table above.
pub fn to_py(e: pimtl::Error) -> PyErr {
    use pimtl::Error as E;
    let msg = e.to_string();
    match e {
        E::Io { .. } => PyOSError::new_err(msg),
        E::Overflow { .. } | E::Diverged { .. } => PyArithmeticError::new_err(msg),
        _ => PyValueError::new_err(msg),
    }
}

/// Extension trait: `result.py()?` turns a core `Result` into a `PyResult`.
pub trait IntoPy<T> {
    /// The value, or the core error as a Python exception.
    fn py(self) -> pyo3::PyResult<T>;
}

impl<T> IntoPy<T> for pimtl::Result<T> {
    fn py(self) -> pyo3::PyResult<T> {
        self.map_err(to_py)
    }
}

/// A `RuntimeError` for a panic caught at the boundary (a bug in the core, reported instead of
/// aborting or poisoning the interpreter).
pub fn panic_error(payload: Box<dyn std::any::Any + Send>) -> PyErr {
    let what = payload
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".to_string());
    PyRuntimeError::new_err(format!("internal error in pimtl (please report): {what}"))
}

/// A vector of `n` copies of `value`, or a `MemoryError` naming `what` when it cannot be
/// allocated (instead of the abort of a failed allocation, which would end the interpreter).
pub fn try_vec<T: Clone>(n: usize, value: T, what: &str) -> pyo3::PyResult<Vec<T>> {
    let mut v = Vec::new();
    v.try_reserve_exact(n)
        .map_err(|_| PyMemoryError::new_err(format!("{what}: cannot allocate {n} values")))?;
    v.resize(n, value);
    Ok(v)
}

/// Refuses a request for more than `limit` items of `what` with a `MemoryError` (for core
/// calls that allocate in proportion to a count the caller gives).
pub fn check_count(what: &str, n: u128, limit: u128) -> pyo3::PyResult<()> {
    if n > limit {
        Err(PyMemoryError::new_err(format!(
            "{what}: {n} is more than this call can hold in memory (at most {limit})"
        )))
    } else {
        Ok(())
    }
}
