//! `pimtl.EquivariantPolicy`: the permutation-equivariant policy of §4–5
//! (`pimtl::policy::EquivariantPolicy`), in `float32` or `float64`.
//!
//! `a = softmax_i(score(encoder(x_i), w_i))`: one shared encoder (MLP, Elman RNN or GRU) per
//! entity, a score head, a softmax over the entities of each batch row, so `π(σx) = σπ(x)`. The
//! forward pass records what `backward` needs; `backward(dL/da)` returns `dL/dθ` (and `dL/dw`,
//! optionally `dL/dx`) as numpy arrays, computed by the core's hand-written gradients. Policies
//! load and save the same JSON as the command line (`policy.json` of a result folder).

use crate::arrays::{self, check_shape, DtypeName};
use crate::errors::IntoPy;
use numpy::{Element, PyArray1, PyArrayMethods};
use pimtl::policy::{EquivariantPolicy, Input, PolicyConfig, Scalar, Shape, Workspace};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};
use std::path::PathBuf;

/// A policy and the workspace of its last forward pass, in one scalar type.
struct Typed<T: Scalar> {
    policy: EquivariantPolicy<T>,
    ws: Workspace<T>,
}

impl<T: Scalar + Element + DtypeName> Typed<T> {
    fn new(policy: EquivariantPolicy<T>) -> Self {
        Typed {
            policy,
            ws: Workspace::new(),
        }
    }

    /// Runs the forward (`record`) or inference pass on `x` (`(B, m, W, F)`, or `(m, W, F)` for
    /// one row) and `prev` (`(B, m)` / `(m,)`), returning allocations of the batch's shape.
    fn run<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        prev: Option<&Bound<'py, PyAny>>,
        record: bool,
    ) -> PyResult<Bound<'py, PyAny>> {
        let features = self.policy.config().features();
        let (xv, xs) = arrays::read::<T>(x, "x")?;
        let single = xs.len() == 3;
        let (b, m, w) = match xs.as_slice() {
            [m, w, f] if *f == features => (1, *m, *w),
            [b, m, w, f] if *f == features => (*b, *m, *w),
            _ => {
                return Err(PyValueError::new_err(format!(
                    "x: expected shape (batch, entities, window, {features}) or (entities, window, \
                     {features}), got {xs:?}"
                )))
            }
        };
        let prev = match prev {
            Some(p) if !p.is_none() => {
                let (pv, ps) = arrays::read::<T>(p, "prev")?;
                let want: Vec<Option<usize>> = if single {
                    vec![Some(m)]
                } else {
                    vec![Some(b), Some(m)]
                };
                check_shape("prev", &ps, &want, "(the previous allocation of every entity)")?;
                Some(pv)
            }
            _ => None,
        };
        let input = Input::new(&xv, prev.as_deref(), Shape::new(b, m, w));
        let (policy, ws) = (&self.policy, &mut self.ws);
        let a = py
            .detach(|| {
                if record {
                    policy.forward(&input, ws).map(|a| a.to_vec())
                } else {
                    policy.infer(&input, ws).map(|a| a.to_vec())
                }
            })
            .py()?;
        let arr = PyArray1::from_vec(py, a);
        if single {
            Ok(arr.into_any())
        } else {
            Ok(arr.reshape([b, m])?.into_any())
        }
    }

    fn backward<'py>(
        &mut self,
        py: Python<'py>,
        dl_da: &Bound<'py, PyAny>,
        want_dx: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        let shape = self
            .ws
            .shape()
            .ok_or_else(|| PyValueError::new_err("backward: call forward first"))?;
        let (g, gs) = arrays::read::<T>(dl_da, "dl_da")?;
        let rows = shape.batch * shape.entities;
        if gs.iter().product::<usize>() != rows || !(gs.len() == 1 || gs.len() == 2) {
            return Err(PyValueError::new_err(format!(
                "dl_da: expected shape ({}, {}) like the allocations of the forward pass, got {gs:?}",
                shape.batch, shape.entities
            )));
        }
        let mut grad = vec![T::zero(); self.policy.num_params()];
        let (policy, ws) = (&self.policy, &mut self.ws);
        py.detach(|| policy.backward(ws, &g, &mut grad, want_dx)).py()?;
        let out = PyDict::new(py);
        out.set_item("params", PyArray1::from_vec(py, grad))?;
        let dprev =
            PyArray1::from_slice(py, self.ws.prev_gradient()).reshape([shape.batch, shape.entities])?;
        out.set_item("prev", dprev)?;
        if want_dx {
            let f = self.policy.config().features();
            let dx = PyArray1::from_slice(py, self.ws.input_gradient()).reshape([
                shape.batch,
                shape.entities,
                shape.window,
                f,
            ])?;
            out.set_item("x", dx)?;
        }
        Ok(out)
    }
}

enum Inner {
    F32(Typed<f32>),
    F64(Typed<f64>),
}

/// The permutation-equivariant policy (see the module documentation).
///
/// `EquivariantPolicy(config, seed=0, dtype="float32")` with `config` a dict or JSON string of
/// the core's `PolicyConfig` (as in a saved `policy.json`); or `EquivariantPolicy.paper_portfolio
/// (features, …)`, `.mlp(features, hidden, …)`, `.load(path)`, `.from_json(text)`.
#[pyclass(name = "EquivariantPolicy", module = "pimtl._core")]
pub struct PyPolicy {
    inner: Inner,
}

fn parse_dtype(dtype: &str) -> PyResult<bool> {
    match dtype {
        "float32" | "f32" => Ok(false),
        "float64" | "f64" => Ok(true),
        other => Err(PyValueError::new_err(format!(
            "dtype: expected \"float32\" or \"float64\", got {other:?}"
        ))),
    }
}

fn config_from(value: &Bound<'_, PyAny>) -> PyResult<PolicyConfig> {
    let text: String = if let Ok(s) = value.cast::<PyString>() {
        s.to_string()
    } else if value.is_instance_of::<PyDict>() {
        value
            .py()
            .import("json")?
            .call_method1("dumps", (value,))?
            .extract()?
    } else {
        return Err(PyTypeError::new_err(format!(
            "config: expected a dict or a JSON string, got {}",
            arrays::type_name(value)
        )));
    };
    let cfg: PolicyConfig =
        serde_json::from_str(&text).map_err(|e| PyValueError::new_err(format!("config: {e}")))?;
    cfg.validate().py()?;
    Ok(cfg)
}

impl PyPolicy {
    fn build(cfg: PolicyConfig, seed: u64, dtype: &str) -> PyResult<Self> {
        let inner = if parse_dtype(dtype)? {
            Inner::F64(Typed::new(EquivariantPolicy::<f64>::new(cfg, seed).py()?))
        } else {
            Inner::F32(Typed::new(EquivariantPolicy::<f32>::new(cfg, seed).py()?))
        };
        Ok(PyPolicy { inner })
    }

    fn from_f64(p: EquivariantPolicy<f64>, dtype: &str) -> PyResult<Self> {
        let inner = if parse_dtype(dtype)? {
            Inner::F64(Typed::new(p))
        } else {
            Inner::F32(Typed::new(p.cast::<f32>()))
        };
        Ok(PyPolicy { inner })
    }

    fn json_bytes(&self) -> Vec<u8> {
        match &self.inner {
            Inner::F32(t) => t.policy.to_json_bytes(),
            Inner::F64(t) => t.policy.to_json_bytes(),
        }
    }
}

#[pymethods]
impl PyPolicy {
    #[new]
    #[pyo3(signature = (config, seed=0, dtype="float32"))]
    fn new(config: &Bound<'_, PyAny>, seed: u64, dtype: &str) -> PyResult<Self> {
        Self::build(config_from(config)?, seed, dtype)
    }

    /// The paper's portfolio network (§A.1): Elman RNN, 25 units, previous allocation appended.
    #[staticmethod]
    #[pyo3(signature = (features=3, seed=0, dtype="float32"))]
    fn paper_portfolio(features: usize, seed: u64, dtype: &str) -> PyResult<Self> {
        Self::build(PolicyConfig::paper_portfolio(features), seed, dtype)
    }

    /// A tanh MLP encoder over `features` values per entity (window 1) with a linear score.
    #[staticmethod]
    #[pyo3(signature = (features, hidden, seed=0, dtype="float32"))]
    fn mlp(features: usize, hidden: Vec<usize>, seed: u64, dtype: &str) -> PyResult<Self> {
        Self::build(PolicyConfig::mlp(features, hidden), seed, dtype)
    }

    /// Reads a policy saved by `save` or by the command line (`policy.json`).
    #[staticmethod]
    #[pyo3(signature = (path, dtype="float32"))]
    fn load(path: PathBuf, dtype: &str) -> PyResult<Self> {
        Self::from_f64(EquivariantPolicy::<f64>::load(&path).py()?, dtype)
    }

    /// Parses a policy from its JSON text.
    #[staticmethod]
    #[pyo3(signature = (text, dtype="float32"))]
    fn from_json(text: &str, dtype: &str) -> PyResult<Self> {
        Self::from_f64(
            EquivariantPolicy::<f64>::from_json_bytes(text.as_bytes()).py()?,
            dtype,
        )
    }

    /// Writes the policy as JSON (atomically: a temporary file, then a rename).
    fn save(&self, path: PathBuf) -> PyResult<()> {
        pimtl::io::write_atomic(&path, &self.json_bytes()).py()
    }

    /// The policy as JSON text.
    fn to_json(&self) -> String {
        String::from_utf8_lossy(&self.json_bytes()).into_owned()
    }

    /// The architecture, as a dict.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let cfg = match &self.inner {
            Inner::F32(t) => t.policy.config(),
            Inner::F64(t) => t.policy.config(),
        };
        let text = serde_json::to_string(cfg).map_err(|e| PyValueError::new_err(e.to_string()))?;
        py.import("json")?.call_method1("loads", (text,))
    }

    /// `"float32"` or `"float64"`.
    #[getter]
    fn dtype(&self) -> &'static str {
        match &self.inner {
            Inner::F32(_) => "float32",
            Inner::F64(_) => "float64",
        }
    }

    /// Number of parameters.
    #[getter]
    fn num_params(&self) -> usize {
        match &self.inner {
            Inner::F32(t) => t.policy.num_params(),
            Inner::F64(t) => t.policy.num_params(),
        }
    }

    /// The flat parameter vector θ (a copy), in the layout of the saved JSON.
    fn params<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        match &self.inner {
            Inner::F32(t) => PyArray1::from_slice(py, t.policy.params()).into_any(),
            Inner::F64(t) => PyArray1::from_slice(py, t.policy.params()).into_any(),
        }
    }

    /// Replaces θ (same length and dtype-convertible; every value finite).
    fn set_params(&mut self, params: &Bound<'_, PyAny>) -> PyResult<()> {
        fn set<T: Scalar + Element + DtypeName>(t: &mut Typed<T>, p: &Bound<'_, PyAny>) -> PyResult<()> {
            let (v, s) = arrays::read::<T>(p, "params")?;
            check_shape(
                "params",
                &s,
                &[Some(t.policy.num_params())],
                "(one value per parameter)",
            )?;
            if let Some(i) = v.iter().position(|x| !x.is_finite()) {
                return Err(PyValueError::new_err(format!(
                    "params: non-finite value at index {i}"
                )));
            }
            t.policy.params_mut().copy_from_slice(&v);
            t.ws = Workspace::new();
            Ok(())
        }
        match &mut self.inner {
            Inner::F32(t) => set(t, params),
            Inner::F64(t) => set(t, params),
        }
    }

    /// Allocations for a batch, recording what `backward` needs: `x` of shape
    /// `(batch, entities, window, features)` (or one row without the batch axis), `prev` the
    /// previous allocations `(batch, entities)` when the policy uses them. Rows sum to 1.
    #[pyo3(signature = (x, prev=None))]
    fn forward<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        prev: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match &mut self.inner {
            Inner::F32(t) => t.run(py, x, prev, true),
            Inner::F64(t) => t.run(py, x, prev, true),
        }
    }

    /// The same allocations as `forward`, bit for bit, without recording for `backward`.
    #[pyo3(signature = (x, prev=None))]
    fn infer<'py>(
        &mut self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
        prev: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        match &mut self.inner {
            Inner::F32(t) => t.run(py, x, prev, false),
            Inner::F64(t) => t.run(py, x, prev, false),
        }
    }

    /// Reverse mode through the last `forward`: given `dl_da = dL/da` (shape of its allocations)
    /// returns `{"params": dL/dθ, "prev": dL/dw, "x": dL/dx (when want_dx)}`.
    #[pyo3(signature = (dl_da, want_dx=false))]
    fn backward<'py>(
        &mut self,
        py: Python<'py>,
        dl_da: &Bound<'py, PyAny>,
        want_dx: bool,
    ) -> PyResult<Bound<'py, PyDict>> {
        match &mut self.inner {
            Inner::F32(t) => t.backward(py, dl_da, want_dx),
            Inner::F64(t) => t.backward(py, dl_da, want_dx),
        }
    }

    fn __repr__(&self) -> String {
        format!(
            "EquivariantPolicy(params={}, dtype={})",
            self.num_params(),
            self.dtype()
        )
    }
}

/// Adds the policy to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPolicy>()
}
