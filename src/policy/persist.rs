//! Saving and loading a policy as JSON: `{"format": "pimtl-policy", "version": 1, "config": …,
//! "params": […]}`.
//!
//! Loading validates everything: the format tag and version, the configuration, that the number
//! of parameters matches the configuration, and that every parameter is finite. Any defect is an
//! [`Error::Format`] naming the field and, when the data came from a file, the file.

use super::{EquivariantPolicy, PolicyConfig, Scalar};
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// The format tag written into every saved policy.
pub const FORMAT: &str = "pimtl-policy";
/// The current format version.
pub const VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Saved {
    format: String,
    version: u32,
    config: PolicyConfig,
    params: Vec<f64>,
}

impl<T: Scalar> EquivariantPolicy<T> {
    /// The policy as JSON bytes (parameters as `f64`, which holds `f32` values exactly).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let saved = Saved {
            format: FORMAT.to_string(),
            version: VERSION,
            config: self.config.clone(),
            params: self.params.iter().map(|p| p.value_f64()).collect(),
        };
        // Serialising plain data with finite floats cannot fail.
        serde_json::to_vec_pretty(&saved).unwrap_or_default()
    }

    /// Parses a policy from JSON bytes.
    ///
    /// # Errors
    /// [`Error::Format`] for malformed JSON, a wrong format tag or version, an invalid
    /// configuration, a parameter count that does not match the configuration, or a non-finite
    /// parameter.
    pub fn from_json_bytes(bytes: &[u8]) -> Result<Self> {
        Self::parse(bytes, None)
    }

    /// Writes the policy to `path` atomically (temporary file, then rename).
    ///
    /// # Errors
    /// [`Error::Io`] naming the path.
    pub fn save(&self, path: &Path) -> Result<()> {
        crate::io::write_atomic(path, &self.to_json_bytes())
    }

    /// Reads a policy saved by [`save`](Self::save).
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be read; [`Error::Format`] naming the file and the
    /// field for any defect (see [`from_json_bytes`](Self::from_json_bytes)).
    pub fn load(path: &Path) -> Result<Self> {
        let bytes = crate::io::read_file(path)?;
        Self::parse(&bytes, Some(path))
    }

    fn parse(bytes: &[u8], path: Option<&Path>) -> Result<Self> {
        let fail = |reason: String| Error::Format {
            path: path.map(Path::to_path_buf),
            reason,
        };
        let saved: Saved =
            serde_json::from_slice(bytes).map_err(|e| fail(format!("not a saved policy: {e}")))?;
        if saved.format != FORMAT {
            return Err(fail(format!(
                "field `format` is {:?}, expected {FORMAT:?}",
                saved.format
            )));
        }
        if saved.version != VERSION {
            return Err(fail(format!(
                "field `version` is {}, this build reads version {VERSION}",
                saved.version
            )));
        }
        saved
            .config
            .validate()
            .map_err(|e| fail(format!("field `config`: {e}")))?;
        let expected = super::Layout::new(&saved.config).total;
        if saved.params.len() != expected {
            return Err(fail(format!(
                "field `params` has {} values, the configuration needs {expected}",
                saved.params.len()
            )));
        }
        if let Some(i) = saved.params.iter().position(|p| !p.is_finite()) {
            return Err(fail(format!("field `params`: value {i} is not finite")));
        }
        let params = saved.params.into_iter().map(T::of).collect();
        EquivariantPolicy::from_params(saved.config, params).map_err(|e| fail(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{Cell, EncoderConfig};
    use super::*;

    fn gru() -> PolicyConfig {
        PolicyConfig {
            encoder: EncoderConfig::Recurrent {
                cell: Cell::Gru,
                features: 2,
                hidden: 3,
            },
            previous_allocation: true,
            pooled_context: true,
            score_hidden: 4,
            output_init_scale: 1.0,
        }
    }

    #[test]
    fn round_trip_is_exact() {
        let p = EquivariantPolicy::<f64>::new(gru(), 3).unwrap();
        let q = EquivariantPolicy::<f64>::from_json_bytes(&p.to_json_bytes()).unwrap();
        assert_eq!(p, q);
    }

    #[test]
    fn corrupt_and_mismatched_files_are_named_errors() {
        let p = EquivariantPolicy::<f64>::new(gru(), 3).unwrap();
        let text = String::from_utf8(p.to_json_bytes()).unwrap();
        let cases = [
            (text.replace("pimtl-policy", "other"), "format"),
            (text.replace("\"version\": 1", "\"version\": 9"), "version"),
            (text.replace("\"hidden\": 3", "\"hidden\": 4"), "params"),
            (text.replace("\"hidden\": 3", "\"hidden\": 0"), "config"),
            (text[..text.len() / 2].to_string(), "not a saved policy"),
            (String::new(), "not a saved policy"),
        ];
        for (bad, needle) in cases {
            let e = EquivariantPolicy::<f64>::from_json_bytes(bad.as_bytes())
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{e} should mention {needle}");
        }
    }

    #[test]
    fn load_names_the_file() {
        let dir = std::env::temp_dir().join(format!("pimtl-persist-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("bad.json");
        std::fs::write(&path, b"{\"format\": 3}").unwrap();
        let e = EquivariantPolicy::<f32>::load(&path).unwrap_err().to_string();
        assert!(e.contains("bad.json"), "{e}");
        let good = dir.join("good.json");
        let p = EquivariantPolicy::<f32>::new(gru(), 1).unwrap();
        p.save(&good).unwrap();
        assert_eq!(EquivariantPolicy::<f32>::load(&good).unwrap(), p);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
