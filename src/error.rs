//! The crate's one error type.
//!
//! Every fallible function in `pimtl` returns [`Result<T>`](Result). Variants carry what a user
//! needs to fix the input: the parameter's name and value, the file, line and column, or the
//! shapes that did not match. Library code never panics on user input.

use std::path::PathBuf;

/// Everything that can go wrong in `pimtl`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A configuration parameter is outside its documented range.
    #[error("invalid parameter `{name}` = {value}: {reason}")]
    InvalidParameter {
        /// The parameter's name as the API or the CLI spells it.
        name: &'static str,
        /// The offending value, formatted.
        value: String,
        /// What the valid range is.
        reason: String,
    },
    /// Two pieces of data that must agree in shape do not.
    #[error("shape mismatch in {what}: expected {expected}, got {got}")]
    ShapeMismatch {
        /// Which buffer or dimension.
        what: &'static str,
        /// The expected size.
        expected: usize,
        /// The size that was passed.
        got: usize,
    },
    /// A numeric input that must be finite is NaN or infinite.
    #[error("non-finite value in {what} at index {index}: {value}")]
    NonFinite {
        /// Which buffer.
        what: &'static str,
        /// Flat index of the first offending value.
        index: usize,
        /// The value itself.
        value: f64,
    },
    /// An allocation is not a point of the probability simplex.
    #[error("invalid allocation: {reason}")]
    InvalidAllocation {
        /// What is wrong (negative entry, sum off by how much, …).
        reason: String,
    },
    /// A count does not fit in the integer type used for it.
    #[error("overflow: {what}")]
    Overflow {
        /// What overflowed.
        what: String,
    },
    /// A saved file (policy, checkpoint) is corrupt or does not match what was asked for.
    #[error("{}: {reason}", path.as_ref().map_or_else(|| "<bytes>".to_string(), |p| p.display().to_string()))]
    Format {
        /// The file, when the data came from one.
        path: Option<PathBuf>,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// A value in a data file is malformed.
    #[error("{}:{line}: column `{column}`: {reason}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// Column name or 1-based index.
        column: String,
        /// What is wrong.
        reason: String,
    },
    /// Training diverged (a NaN or infinite loss or gradient).
    #[error("training diverged at step {step}: {reason}")]
    Diverged {
        /// The step at which it was detected.
        step: usize,
        /// What was non-finite.
        reason: String,
    },
    /// An I/O error, with the file it concerns.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

/// `Result` with [`Error`] as its error type.
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// Shorthand for [`Error::InvalidParameter`].
    pub fn param(name: &'static str, value: impl std::fmt::Display, reason: impl Into<String>) -> Self {
        Error::InvalidParameter {
            name,
            value: value.to_string(),
            reason: reason.into(),
        }
    }

    /// Shorthand for [`Error::ShapeMismatch`].
    pub fn shape(what: &'static str, expected: usize, got: usize) -> Self {
        Error::ShapeMismatch { what, expected, got }
    }
}

/// Returns an error naming the first non-finite entry of `values`, if any.
///
/// Used at every boundary where user data enters a computation, so that a NaN is reported where
/// it came in instead of silently spreading into parameters.
pub fn check_finite<T: num_traits::Float>(what: &'static str, values: &[T]) -> Result<()> {
    // A branch-free OR over blocks (it vectorises; a search with an early exit does not), and
    // the element-wise search only in a block that holds a non-finite value.
    const BLOCK: usize = 256;
    let bad_block = values
        .chunks(BLOCK)
        .position(|block| block.iter().fold(false, |bad, v| bad | !v.is_finite()));
    let Some(b) = bad_block else {
        return Ok(());
    };
    match values[b * BLOCK..]
        .iter()
        .position(|v| !v.is_finite())
        .map(|i| b * BLOCK + i)
    {
        None => Ok(()),
        Some(index) => Err(Error::NonFinite {
            what,
            index,
            value: values[index].to_f64().unwrap_or(f64::NAN),
        }),
    }
}
