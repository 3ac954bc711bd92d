//! Core errors as Python exceptions, with the core's message unchanged.
//!
//! | core error | Python |
//! |---|---|
//! | `InvalidParameter`, `ShapeMismatch`, `NonFinite`, `InvalidAllocation`, `Format`, `Parse` | `ValueError` |
//! | `Io` | `OSError` |
//! | `Overflow`, `Diverged` | `ArithmeticError` |

use pyo3::exceptions::{PyArithmeticError, PyOSError, PyRuntimeError, PyValueError};
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
