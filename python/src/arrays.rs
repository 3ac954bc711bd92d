//! Reading numpy arrays (and array-likes) at the boundary, with errors naming the argument.
//!
//! An argument that is already a C-contiguous array of the wanted dtype is read in place (no
//! copy); another numeric array or a nested sequence of numbers is converted with
//! `numpy.asarray(value, dtype)`; anything else (strings, objects, `None`) is a `TypeError`
//! naming the argument. Shapes are checked by the caller against what it expects, and a wrong
//! one is a `ValueError` naming the argument, the expected and the given shape.

use numpy::{Element, PyArrayDyn, PyArrayMethods, PyUntypedArrayMethods};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;

/// The numpy dtype name of `T` (`"float64"`, `"float32"`, `"int64"`).
pub trait DtypeName {
    /// The name numpy gives the dtype.
    const NAME: &'static str;
}

impl DtypeName for f64 {
    const NAME: &'static str = "float64";
}
impl DtypeName for f32 {
    const NAME: &'static str = "float32";
}
impl DtypeName for i64 {
    const NAME: &'static str = "int64";
}

/// `value` as an array of `T`: itself when it already is one, else `numpy.asarray(value, T)`
/// for numeric arrays and sequences. Booleans and complex numbers are refused.
///
/// # Errors
/// `TypeError` naming `name` for non-numeric values.
pub fn as_array<'py, T: Element + DtypeName>(
    value: &Bound<'py, PyAny>,
    name: &str,
) -> PyResult<Bound<'py, PyArrayDyn<T>>> {
    if let Ok(a) = value.cast::<PyArrayDyn<T>>() {
        return Ok(a.clone());
    }
    let py = value.py();
    let np = py.import("numpy")?;
    if value.is_none() || value.is_instance_of::<pyo3::types::PyString>() {
        return Err(PyTypeError::new_err(format!(
            "{name}: expected an array of numbers ({}), got {}",
            T::NAME,
            type_name(value)
        )));
    }
    // Numeric arrays of another dtype convert; anything numpy cannot read as numbers does not.
    if let Ok(dtype) = value.getattr("dtype") {
        let kind: String = dtype.getattr("kind")?.extract()?;
        if !matches!(kind.as_str(), "f" | "i" | "u") {
            return Err(PyTypeError::new_err(format!(
                "{name}: expected a numeric array ({}), got dtype {}",
                T::NAME,
                dtype.str()?
            )));
        }
    }
    let converted = np
        .call_method1("asarray", (value, T::NAME))
        .map_err(|e| PyTypeError::new_err(format!("{name}: cannot be read as {} numbers: {e}", T::NAME)))?;
    converted
        .cast::<PyArrayDyn<T>>()
        .cloned()
        .map_err(|_| PyTypeError::new_err(format!("{name}: cannot be read as a {} array", T::NAME)))
}

/// Reads `value` as an array of `T` and returns its values (row-major) and shape.
///
/// # Errors
/// As [`as_array`].
pub fn read<T: Element + DtypeName + Copy>(
    value: &Bound<'_, PyAny>,
    name: &str,
) -> PyResult<(Vec<T>, Vec<usize>)> {
    let a = as_array::<T>(value, name)?;
    let shape = a.shape().to_vec();
    let ro = a.readonly();
    // `as_slice` also accepts Fortran order; only C order is the row-major layout wanted here.
    let v = match ro.as_slice() {
        Ok(s) if ro.is_c_contiguous() => s.to_vec(),
        _ => ro.as_array().iter().copied().collect(),
    };
    Ok((v, shape))
}

/// Calls `f` with the values of `value` as a contiguous slice (borrowed in place when the array
/// already is C-contiguous of dtype `T`) and its shape.
///
/// # Errors
/// As [`as_array`], and whatever `f` returns.
pub fn with_slice<T: Element + DtypeName + Copy, R>(
    value: &Bound<'_, PyAny>,
    name: &str,
    f: impl FnOnce(&[T], &[usize]) -> PyResult<R>,
) -> PyResult<R> {
    let a = as_array::<T>(value, name)?;
    let ro = a.readonly();
    let shape = ro.shape().to_vec();
    match ro.as_slice() {
        Ok(s) if ro.is_c_contiguous() => f(s, &shape),
        _ => {
            let v: Vec<T> = ro.as_array().iter().copied().collect();
            f(&v, &shape)
        }
    }
}

/// Checks `shape` against `expected`, where `None` entries match any length.
///
/// # Errors
/// `ValueError` naming `name` with both shapes.
pub fn check_shape(name: &str, shape: &[usize], expected: &[Option<usize>], what: &str) -> PyResult<()> {
    let ok =
        shape.len() == expected.len() && shape.iter().zip(expected).all(|(s, e)| e.is_none_or(|e| e == *s));
    if ok {
        Ok(())
    } else {
        let want: Vec<String> = expected
            .iter()
            .map(|e| e.map_or_else(|| "*".to_string(), |v| v.to_string()))
            .collect();
        Err(PyValueError::new_err(format!(
            "{name}: expected shape ({}) {what}, got {:?}",
            want.join(", "),
            shape
        )))
    }
}

/// The Python type name of `value`, for messages.
pub fn type_name(value: &Bound<'_, PyAny>) -> String {
    value
        .get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "object".to_string())
}
