//! Theorem 1's explicit bound and Corollaries 1–2 (`pimtl::theory::bound`).
//!
//! ```text
//! ‖V_t^{π_t*} − V_t^{π_K}‖_σ ≤ 2/(1−γ)² · { (1+γ)√(C C'') [ 2/√(1−γ²) (2√2 E_0 + E_2)
//!        + 2/(1−γ) ( γ V_max L √(d/ν_μ) (√(8 log(8dK/δ)/N) + 1/N) + E_1 ) ]
//!        + γ^{(K−1)/2} R_max + 3ε√(2C') }
//! ```
//!
//! Corollary 1 is the same with `N → N·T` for `T` tasks; Corollary 2 counts the tasks,
//! `T = C(M, m) ≥ (M/m)^m`.

use crate::errors::IntoPy;
use pimtl::theory::bound::{self, Bound as TheoremBound, BoundInputs};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

fn bound_dict<'py>(py: Python<'py>, b: &TheoremBound) -> PyResult<Bound<'py, PyDict>> {
    let t = b.terms();
    let terms = PyDict::new(py);
    for (k, v) in [
        ("prefactor", t.prefactor),
        ("approximation", t.approximation),
        ("estimation", t.estimation),
        ("estimation_sample", t.estimation_sample),
        ("estimation_e1", t.estimation_e1),
        ("iteration", t.iteration),
        ("transfer", t.transfer),
        ("total", t.total),
        ("trivial", t.trivial),
    ] {
        terms.set_item(k, v)?;
    }
    let d = PyDict::new(py);
    d.set_item("applicable", b.is_applicable())?;
    d.set_item("value", b.value())?;
    d.set_item("terms", terms)?;
    match b {
        TheoremBound::Applicable(_) => {
            d.set_item("failures", Vec::<String>::new())?;
            d.set_item("reason", "")?;
        }
        TheoremBound::NotApplicable { failures, reason, .. } => {
            let f: Vec<&str> = failures.iter().map(|f| f.name()).collect();
            d.set_item("failures", f)?;
            d.set_item("reason", reason)?;
        }
    }
    Ok(d)
}

/// The names of Theorem 1's inputs (as in the paper's appendix) and, for the optional ones, their
/// default.
const INPUTS: [(&str, Option<f64>); 16] = [
    ("gamma", None),
    ("r_max", None),
    ("c", None),
    ("c_prime", None),
    ("c_second", None),
    ("nu_mu", None),
    ("l", None),
    ("d", None),
    ("k", None),
    ("delta", None),
    ("n", None),
    ("lemma4_min_n", Some(0.0)),
    ("e0", Some(0.0)),
    ("e1", Some(0.0)),
    ("e2", Some(0.0)),
    ("epsilon", Some(0.0)),
];

/// Theorem 1's inputs from the keyword arguments of `function`.
///
/// # Errors
/// `TypeError` for a missing or unknown keyword or a value of the wrong type (`d` and `k` are
/// ints, the rest numbers).
fn bound_inputs(py: Python<'_>, function: &str, kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<BoundInputs> {
    let empty = PyDict::new(py);
    let kwargs = kwargs.unwrap_or(&empty);
    for key in kwargs.keys() {
        let key: String = key.extract()?;
        if !INPUTS.iter().any(|(name, _)| *name == key) {
            return Err(PyTypeError::new_err(format!(
                "{function}() got an unexpected keyword argument '{key}'"
            )));
        }
    }
    let mut values = [0.0f64; 16];
    let (mut d, mut k) = (0usize, 0usize);
    for (i, (name, default)) in INPUTS.iter().enumerate() {
        let item = kwargs.get_item(name)?;
        let wrong = |e: PyErr| PyTypeError::new_err(format!("{function}(): {name}: {e}"));
        match (item, default) {
            (None, None) => {
                return Err(PyTypeError::new_err(format!(
                    "{function}() missing required keyword argument '{name}'"
                )))
            }
            (None, Some(v)) => values[i] = *v,
            (Some(v), _) if *name == "d" => d = v.extract().map_err(wrong)?,
            (Some(v), _) if *name == "k" => k = v.extract().map_err(wrong)?,
            (Some(v), _) => values[i] = v.extract().map_err(wrong)?,
        }
    }
    let [gamma, r_max, c, c_prime, c_second, nu_mu, l, _, _, delta, n, lemma4_min_n, e0, e1, e2, epsilon] =
        values;
    Ok(BoundInputs {
        gamma,
        r_max,
        c,
        c_prime,
        c_second,
        nu_mu,
        l,
        d,
        k,
        delta,
        n,
        lemma4_min_n,
        e0,
        e1,
        e2,
        epsilon,
    })
}

/// Theorem 1 (appendix form), keyword arguments only: `gamma, r_max, c, c_prime, c_second, nu_mu,
/// l, d, k, delta, n` and optionally `lemma4_min_n, e0, e1, e2, epsilon` (default 0). Returns
/// `{"applicable", "value", "terms": {...}, "failures", "reason"}`; `value` is `None` when the
/// bound says nothing (an infinite concentrability, `N` below Lemma 4's sample size, or a
/// right-hand side at least the trivial `2 V_max`). Inputs out of range are a `ValueError`
/// naming the input.
#[pyfunction]
#[pyo3(signature = (**kwargs))]
fn theorem1<'py>(py: Python<'py>, kwargs: Option<&Bound<'py, PyDict>>) -> PyResult<Bound<'py, PyDict>> {
    bound_dict(py, &bound::theorem1(&bound_inputs(py, "theorem1", kwargs)?).py()?)
}

/// Corollary 1: Theorem 1 for LSPI on the average MDP of `tasks` tasks with `n` samples each
/// (`N → N·T`); the keyword arguments as for `theorem1` (their `nu_mu`, `e1`, `e2` computed at
/// `N·T`).
#[pyfunction]
#[pyo3(signature = (tasks, **kwargs))]
fn corollary1<'py>(
    py: Python<'py>,
    tasks: f64,
    kwargs: Option<&Bound<'py, PyDict>>,
) -> PyResult<Bound<'py, PyDict>> {
    bound_dict(
        py,
        &bound::corollary1(&bound_inputs(py, "corollary1", kwargs)?, tasks).py()?,
    )
}

/// Corollary 2: `{"tasks": C(M, m) or None beyond u128, "log_tasks", "lower_bound": (M/m)^m,
/// "log_lower_bound"}` for a universe of `universe` entities and tasks of `task_size`.
#[pyfunction]
fn corollary2<'py>(py: Python<'py>, universe: u64, task_size: u64) -> PyResult<Bound<'py, PyDict>> {
    let c = bound::corollary2(universe, task_size).py()?;
    let d = PyDict::new(py);
    d.set_item("universe", c.universe)?;
    d.set_item("task_size", c.task_size)?;
    d.set_item("tasks", c.tasks)?;
    d.set_item("log_tasks", c.log_tasks)?;
    d.set_item("lower_bound", c.lower_bound)?;
    d.set_item("log_lower_bound", c.log_lower_bound)?;
    Ok(d)
}

/// Adds the theory functions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(theorem1, m)?)?;
    m.add_function(wrap_pyfunction!(corollary1, m)?)?;
    m.add_function(wrap_pyfunction!(corollary2, m)?)
}
