//! Back-tests on numpy arrays through the crate's one simulator (`pimtl::portfolio::simulate`):
//! a given sequence of allocations (`pimtl.backtest`), or any strategy of the baselines'
//! registry by its spec (`pimtl.run_strategy("olmar:window=5", …)`, `pimtl.strategies()`).
//!
//! Day `n`: `r_n = period_return(fee, w'_{n−1}, a_n, y_n)` (the first purchase free),
//! `W_n = W_{n−1} r_n`, `w'_n = a_n ⊙ y_n / (a_n·y_n)`. Fee models: `"exact"` (Jiang et al.'s
//! eq. 14, the default), `"linear"` (`μ = 1 − cτ`), `"additive"` (universal-portfolios:
//! `max(a·y − cτ, 0)`), `"per_side"` (`fee=(buy, sell)`), `"none"`.

use crate::arrays::{self, check_shape};
use crate::errors::IntoPy;
use numpy::{PyArray1, PyArrayMethods};
use pimtl::baselines::registry::{self, BuildContext, StrategySpec};
use pimtl::portfolio::{simulate, Backtest, Fee, OnlineStrategy};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

/// The default commission rate (0.25 %, the paper's §A.1).
const DEFAULT_FEE: f64 = 0.0025;

/// A fee model from its name and rate (`fee` a number, or `(buy, sell)` for `"per_side"`;
/// `None` for the default 0.25 %).
///
/// # Errors
/// `ValueError` for an unknown model or a rate outside `[0, 1)`; `TypeError` for a rate of the
/// wrong type.
pub fn parse_fee(model: &str, fee: Option<&Bound<'_, PyAny>>) -> PyResult<Fee> {
    let rate = |f: Option<&Bound<'_, PyAny>>| -> PyResult<f64> {
        match f {
            None => Ok(DEFAULT_FEE),
            Some(v) if v.is_none() => Ok(DEFAULT_FEE),
            Some(v) => v.extract::<f64>().map_err(|_| {
                PyTypeError::new_err(format!(
                    "fee: expected a number for fee_model={model:?}, got {}",
                    arrays::type_name(v)
                ))
            }),
        }
    };
    let fee = match model {
        "exact" => Fee::Exact(rate(fee)?),
        "linear" => Fee::Linear(rate(fee)?),
        "additive" => Fee::Additive(rate(fee)?),
        "none" => Fee::None,
        "per_side" | "per-side" => {
            let (buy, sell) = match fee {
                Some(v) if !v.is_none() => v.extract::<(f64, f64)>().map_err(|_| {
                    PyTypeError::new_err(format!(
                        "fee: expected a pair (buy, sell) for fee_model=\"per_side\", got {}",
                        arrays::type_name(v)
                    ))
                })?,
                _ => (DEFAULT_FEE, DEFAULT_FEE),
            };
            Fee::PerSide { buy, sell }
        }
        other => {
            return Err(PyValueError::new_err(format!(
                "fee_model: expected \"exact\", \"linear\", \"additive\", \"per_side\" or \"none\", got {other:?}"
            )))
        }
    };
    fee.validate().py()?;
    Ok(fee)
}

/// Replays a fixed `[day][asset]` sequence of allocations.
struct Replay<'a> {
    weights: &'a [f64],
    assets: usize,
    day: usize,
}

impl OnlineStrategy for Replay<'_> {
    fn name(&self) -> String {
        "weights".to_string()
    }
    fn reset(&mut self, assets: usize) -> pimtl::Result<()> {
        self.day = 0;
        if assets != self.assets {
            return Err(pimtl::Error::shape("weights (assets)", assets, self.assets));
        }
        Ok(())
    }
    fn weights(&mut self, out: &mut [f64]) -> pimtl::Result<()> {
        let m = self.assets;
        out.copy_from_slice(&self.weights[self.day * m..(self.day + 1) * m]);
        Ok(())
    }
    fn observe(&mut self, _relatives: &[f64]) -> pimtl::Result<()> {
        self.day += 1;
        Ok(())
    }
}

fn read_relatives(relatives: &Bound<'_, PyAny>) -> PyResult<(Vec<f64>, usize, usize)> {
    let (y, s) = arrays::read::<f64>(relatives, "relatives")?;
    check_shape("relatives", &s, &[None, None], "(days, assets)")?;
    Ok((y, s[0], s[1]))
}

fn result<'py>(py: Python<'py>, name: &str, bt: Backtest, assets: usize) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", name)?;
    d.set_item("final_wealth", bt.final_wealth())?;
    let days = bt.days();
    d.set_item("wealth", PyArray1::from_vec(py, bt.wealth))?;
    d.set_item(
        "weights",
        PyArray1::from_vec(py, bt.weights).reshape([days, assets])?,
    )?;
    d.set_item("period_returns", PyArray1::from_vec(py, bt.period_returns))?;
    d.set_item("turnover", PyArray1::from_vec(py, bt.turnover))?;
    Ok(d)
}

/// Back-tests a given sequence of allocations `weights` (`(days, assets)`, each row on the
/// simplex) on `relatives` (`(days, assets)`) and returns `{"final_wealth", "wealth",
/// "weights", "period_returns", "turnover"}`. An allocation off the simplex is a `ValueError`
/// naming the day.
#[pyfunction]
#[pyo3(signature = (relatives, weights, fee=None, fee_model="exact"))]
fn backtest<'py>(
    py: Python<'py>,
    relatives: &Bound<'py, PyAny>,
    weights: &Bound<'py, PyAny>,
    fee: Option<&Bound<'py, PyAny>>,
    fee_model: &str,
) -> PyResult<Bound<'py, PyDict>> {
    let fee = parse_fee(fee_model, fee)?;
    let (y, days, m) = read_relatives(relatives)?;
    let (w, ws) = arrays::read::<f64>(weights, "weights")?;
    check_shape(
        "weights",
        &ws,
        &[Some(days), Some(m)],
        "(like relatives: days, assets)",
    )?;
    let mut replay = Replay {
        weights: &w,
        assets: m,
        day: 0,
    };
    let bt = py.detach(|| simulate(&mut replay, &y, m, fee)).py()?;
    result(py, "weights", bt, m)
}

/// Runs one strategy of the registry (`pimtl baselines --list` names them; a spec is
/// `"name"` or `"name:key=value:…"`) on `relatives` and returns its back-test, as `backtest`
/// does, plus its `"label"` with every parameter resolved. Hindsight strategies (BCRP, best
/// asset) are fitted on the same relatives.
#[pyfunction]
#[pyo3(signature = (spec, relatives, fee=None, fee_model="exact", seed=0))]
fn run_strategy<'py>(
    py: Python<'py>,
    spec: &str,
    relatives: &Bound<'py, PyAny>,
    fee: Option<&Bound<'py, PyAny>>,
    fee_model: &str,
    seed: u64,
) -> PyResult<Bound<'py, PyDict>> {
    let fee = parse_fee(fee_model, fee)?;
    let (y, _, m) = read_relatives(relatives)?;
    let spec = StrategySpec::parse(spec).py()?;
    let ctx = BuildContext {
        relatives: &y,
        assets: m,
        fee_rate: fee.rate(),
        seed,
    };
    let label = spec.resolved(&ctx).py()?.label();
    let (bt, name) = py
        .detach(|| -> pimtl::Result<(Backtest, String)> {
            let mut s = spec.build(&ctx)?;
            let name = s.name();
            Ok((simulate(s.as_mut(), &y, m, fee)?, name))
        })
        .py()?;
    let d = result(py, &name, bt, m)?;
    d.set_item("label", label)?;
    Ok(d)
}

/// The registry's strategies: a list of `{"name", "title", "hindsight", "params": {key:
/// default}}`.
#[pyfunction]
fn strategies<'py>(py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
    let out = PyList::empty(py);
    for e in registry::entries() {
        let d = PyDict::new(py);
        d.set_item("name", e.name)?;
        d.set_item("title", e.title)?;
        d.set_item("hindsight", e.hindsight)?;
        let p = PyDict::new(py);
        for spec in e.params {
            p.set_item(spec.key, spec.default)?;
        }
        d.set_item("params", p)?;
        out.append(d)?;
    }
    Ok(out)
}

/// Adds the back-test functions to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_function(wrap_pyfunction!(backtest, m)?)?;
    m.add_function(wrap_pyfunction!(run_strategy, m)?)?;
    m.add_function(wrap_pyfunction!(strategies, m)?)
}
