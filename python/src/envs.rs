//! The environments' cores: price data (`pimtl.PriceSet`), one portfolio task stepped day by day
//! (`pimtl.PortfolioEpisode`, `pimtl::envs::episode`, §6.2) and the synthetic entropy-regularised
//! reward (`pimtl.SyntheticAllocation`, `pimtl::envs::synthetic`, §6.1). The Gymnasium classes
//! in `pimtl/envs.py` wrap these.

use crate::arrays::{self, check_shape};
use crate::backtest::parse_fee;
use crate::errors::{check_count, IntoPy};
use numpy::ndarray::Array3;
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArrayMethods};
use pimtl::data::prices::{self, PriceData};
use pimtl::data::DataDirs;
use pimtl::envs::episode::PortfolioEpisode;
use pimtl::envs::portfolio::{Market, PortfolioConfig};
use pimtl::envs::synthetic::SyntheticAllocation;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use std::path::PathBuf;
use std::sync::Arc;

/// Daily price relatives of a set of instruments: a known data set by name (`"nyse_o"`, looked
/// up like the command line's `--data`), a CSV file, or an array.
///
/// `PriceSet(spec, data_dir=None)`; `PriceSet.from_relatives(array, names=None)` for a
/// `(days, assets)` array of `y = v_n / v_{n−1}`; `PriceSet.from_prices(array, names=None)` for
/// a `(days + 1, assets)` array of prices. Every value must be finite and positive.
#[pyclass(name = "PriceSet", module = "pimtl._core", frozen)]
pub struct PyPriceSet {
    pub(crate) data: PriceData,
    pub(crate) market: Arc<Market>,
}

impl PyPriceSet {
    fn from_data(data: PriceData) -> PyResult<Self> {
        let high_low = match (&data.high, &data.low) {
            (Some(h), Some(l)) => Some((h.clone(), l.clone())),
            _ => None,
        };
        let market = Arc::new(Market::new(data.num_assets(), data.relatives.clone(), high_low).py()?);
        Ok(PyPriceSet { data, market })
    }
}

fn names_or_default(names: Option<Vec<String>>, assets: usize) -> PyResult<Vec<String>> {
    match names {
        Some(n) if n.len() != assets => Err(PyValueError::new_err(format!(
            "names: expected {assets} names (one per column), got {}",
            n.len()
        ))),
        Some(n) => Ok(n),
        None => Ok((0..assets).map(|i| format!("asset{i}")).collect()),
    }
}

#[pymethods]
impl PyPriceSet {
    #[new]
    #[pyo3(signature = (spec, data_dir=None))]
    fn new(py: Python<'_>, spec: &str, data_dir: Option<PathBuf>) -> PyResult<Self> {
        let dirs = DataDirs::resolve(data_dir.as_deref());
        let data = py.detach(|| prices::load_from(spec, &dirs)).py()?;
        Self::from_data(data)
    }

    /// Price data from a `(days, assets)` array of relatives.
    #[staticmethod]
    #[pyo3(signature = (relatives, names=None))]
    fn from_relatives(relatives: &Bound<'_, PyAny>, names: Option<Vec<String>>) -> PyResult<Self> {
        let (v, s) = arrays::read::<f64>(relatives, "relatives")?;
        check_shape("relatives", &s, &[None, None], "(days, assets)")?;
        let names = names_or_default(names, s[1])?;
        Self::from_data(PriceData::new(names, v, PathBuf::new()).py()?)
    }

    /// Price data from a `(days + 1, assets)` array of prices (relatives `v_n / v_{n−1}`).
    #[staticmethod]
    #[pyo3(signature = (prices, names=None))]
    fn from_prices(prices: &Bound<'_, PyAny>, names: Option<Vec<String>>) -> PyResult<Self> {
        let (v, s) = arrays::read::<f64>(prices, "prices")?;
        check_shape("prices", &s, &[None, None], "(days + 1, assets)")?;
        let (rows, m) = (s[0], s[1]);
        if rows < 2 || m == 0 {
            return Err(PyValueError::new_err(format!(
                "prices: need at least 2 rows and 1 column, got shape {s:?}"
            )));
        }
        if let Some((i, p)) = v.iter().enumerate().find(|(_, p)| !(p.is_finite() && **p > 0.0)) {
            return Err(PyValueError::new_err(format!(
                "prices: row {}, column {} is {p}: prices must be finite and > 0",
                i / m,
                i % m
            )));
        }
        let rel: Vec<f64> = (1..rows)
            .flat_map(|r| (0..m).map(move |i| (r, i)))
            .map(|(r, i)| v[r * m + i] / v[(r - 1) * m + i])
            .collect();
        let names = names_or_default(names, m)?;
        Self::from_data(PriceData::new(names, rel, PathBuf::new()).py()?)
    }

    /// Instrument names.
    #[getter]
    fn assets(&self) -> Vec<String> {
        self.data.assets.clone()
    }

    /// Number of days of relatives.
    #[getter]
    fn days(&self) -> usize {
        self.data.days()
    }

    /// Features per day in observations: 1 (close) or 3 (close, high, low).
    #[getter]
    fn features(&self) -> usize {
        self.market.features()
    }

    /// Dates ending each day's relative, when the file has them.
    #[getter]
    fn dates(&self) -> Option<Vec<String>> {
        self.data.dates.clone()
    }

    /// The file the data came from (`None` for arrays).
    #[getter]
    fn source(&self) -> Option<PathBuf> {
        (!self.data.source.as_os_str().is_empty()).then(|| self.data.source.clone())
    }

    /// The `(days, assets)` relatives (a copy).
    fn relatives<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyArray2<f64>>> {
        PyArray1::from_slice(py, &self.data.relatives).reshape([self.data.days(), self.data.num_assets()])
    }

    fn __len__(&self) -> usize {
        self.data.num_assets()
    }

    fn __repr__(&self) -> String {
        format!(
            "PriceSet(assets={}, days={}, features={})",
            self.data.num_assets(),
            self.data.days(),
            self.market.features()
        )
    }
}

/// What `step_observe` returns: reward, wealth, done, turnover, window, weights.
type StepObservation<'py> = (f64, f64, bool, f64, Bound<'py, PyAny>, Bound<'py, PyAny>);

/// One portfolio task stepped day by day (`pimtl::envs::episode::PortfolioEpisode`).
///
/// `PortfolioEpisode(prices, assets, window=50, fee=0.0025, fee_model="exact", cash=False,
/// feature_scale=1.0, tolerance=1e-6)`; `reset(start, end)` covers decision days
/// `[start, end)`; `observe()` gives `(window (m, H, F), weights (m,))`; `step(action)` trades
/// one day and returns `(reward, wealth, done, turnover)`; `step_observe(action)` does both in
/// one call (what the Gymnasium environment uses).
#[pyclass(name = "PortfolioEpisode", module = "pimtl._core")]
pub struct PyEpisode {
    inner: PortfolioEpisode,
}

impl PyEpisode {
    fn observation<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        let (m, h, f) = (self.inner.entities(), self.inner.window(), self.inner.features());
        let mut win = vec![0.0; m * h * f];
        let mut w = vec![0.0; m];
        self.inner.observe(&mut win, &mut w).py()?;
        // The vectors become the arrays' buffers: no copy.
        let win = Array3::from_shape_vec((m, h, f), win)
            .map_err(|e| PyValueError::new_err(e.to_string()))?
            .into_pyarray(py);
        Ok((win.into_any(), PyArray1::from_vec(py, w).into_any()))
    }

    fn trade(&mut self, action: &Bound<'_, PyAny>) -> PyResult<pimtl::envs::episode::EpisodeStep> {
        let m = self.inner.entities();
        let inner = &mut self.inner;
        arrays::with_slice::<f64, _>(action, "action", |a, shape| {
            check_shape("action", shape, &[Some(m)], "(one weight per entity)")?;
            inner.step(a).py()
        })
    }
}

#[pymethods]
impl PyEpisode {
    #[new]
    #[pyo3(signature = (prices, assets, window=50, fee=None, fee_model="exact", cash=false, feature_scale=1.0, tolerance=1e-6))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        prices: &PyPriceSet,
        assets: Vec<i64>,
        window: usize,
        fee: Option<&Bound<'_, PyAny>>,
        fee_model: &str,
        cash: bool,
        feature_scale: f64,
        tolerance: f64,
    ) -> PyResult<Self> {
        let n = prices.data.num_assets();
        let assets: Vec<usize> = assets
            .into_iter()
            .map(|a| {
                usize::try_from(a).ok().filter(|&u| u < n).ok_or_else(|| {
                    PyValueError::new_err(format!("assets: index {a} out of range for {n} instruments"))
                })
            })
            .collect::<PyResult<_>>()?;
        let config = PortfolioConfig {
            window,
            cash,
            feature_scale,
            ..PortfolioConfig::default()
        };
        let fee = parse_fee(fee_model, fee)?;
        let inner = PortfolioEpisode::new(prices.market.clone(), &config, fee, assets)
            .py()?
            .with_tolerance(tolerance)
            .py()?;
        Ok(PyEpisode { inner })
    }

    /// Starts an episode over decision days `[start, end)` (default: all days after the first
    /// window): wealth 1, uniform previous weights, first trade free.
    #[pyo3(signature = (start=None, end=None))]
    fn reset(&mut self, start: Option<usize>, end: Option<usize>) -> PyResult<()> {
        let days = self.days();
        self.inner
            .reset(start.unwrap_or(self.inner.window()), end.unwrap_or(days))
            .py()
    }

    /// `(window, weights)` for deciding the next day: `(m, H, F)` centred price ratios
    /// `κ·(v_d / v_{n−1} − 1)` and the previous weights `w'_{n−1}`.
    fn observe<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyAny>, Bound<'py, PyAny>)> {
        self.observation(py)
    }

    /// Trades the next day with `action` (on the simplex, else `ValueError` naming the day):
    /// `(reward = ln r, wealth, done, turnover)`.
    fn step(&mut self, action: &Bound<'_, PyAny>) -> PyResult<(f64, f64, bool, f64)> {
        let s = self.trade(action)?;
        Ok((s.reward, s.wealth, s.done, s.day.turnover))
    }

    /// `step` then `observe` in one call: `(reward, wealth, done, turnover, window, weights)`;
    /// after the last day the observation is the final weights with a zero window.
    fn step_observe<'py>(
        &mut self,
        py: Python<'py>,
        action: &Bound<'py, PyAny>,
    ) -> PyResult<StepObservation<'py>> {
        let s = self.trade(action)?;
        let (win, w) = if s.done {
            let (m, h, f) = (self.inner.entities(), self.inner.window(), self.inner.features());
            let win = Array3::<f64>::zeros((m, h, f)).into_pyarray(py).into_any();
            (win, PyArray1::from_slice(py, self.inner.weights()).into_any())
        } else {
            self.observation(py)?
        };
        Ok((s.reward, s.wealth, s.done, s.day.turnover, win, w))
    }

    /// Times the core alone: resets, then runs `steps` days of `observe` + `step` with the
    /// uniform allocation in a Rust loop (restarting the range when it ends), and returns the
    /// seconds per day. The Gymnasium step overhead is the Python step's time minus this.
    fn time_core_steps(&mut self, py: Python<'_>, steps: usize) -> PyResult<f64> {
        let (from, to) = self.inner.range();
        let m = self.inner.entities();
        let mut win = vec![0.0; m * self.inner.window() * self.inner.features()];
        let mut w = vec![0.0; m];
        let a = vec![1.0 / m as f64; m];
        let inner = &mut self.inner;
        py.detach(|| -> pimtl::Result<f64> {
            inner.reset(from, to)?;
            let t = std::time::Instant::now();
            for _ in 0..steps {
                if inner.is_done() {
                    inner.reset(from, to)?;
                }
                inner.observe(&mut win, &mut w)?;
                std::hint::black_box(&win);
                inner.step(&a)?;
            }
            let secs = t.elapsed().as_secs_f64() / steps.max(1) as f64;
            inner.reset(from, to)?;
            Ok(secs)
        })
        .py()
    }

    /// Entities `m` (instruments, plus cash).
    #[getter]
    fn entities(&self) -> usize {
        self.inner.entities()
    }

    /// Window length `H`.
    #[getter]
    fn window(&self) -> usize {
        self.inner.window()
    }

    /// Features per day `F`.
    #[getter]
    fn features(&self) -> usize {
        self.inner.features()
    }

    /// Days of data.
    #[getter]
    fn days(&self) -> usize {
        self.inner.market_days()
    }

    /// The next decision day.
    #[getter]
    fn day(&self) -> usize {
        self.inner.day()
    }

    /// The episode's decision days `(start, end)`.
    #[getter]
    fn range(&self) -> (usize, usize) {
        self.inner.range()
    }

    /// Wealth so far (1 at the start).
    #[getter]
    fn wealth(&self) -> f64 {
        self.inner.wealth()
    }

    /// The previous weights `w'_{n−1}` (a copy).
    #[getter]
    fn weights<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_slice(py, self.inner.weights())
    }

    /// The task's instruments (indices into the price set).
    #[getter]
    fn assets(&self) -> Vec<usize> {
        self.inner.assets().to_vec()
    }

    /// Whether the episode's last day has been traded.
    #[getter]
    fn done(&self) -> bool {
        self.inner.is_done()
    }
}

/// The §6.1 reward `R(x, a) = Σ_i x_i a_i − β_i a_i ln a_i` over `m` entities with weights `β_i`
/// (`pimtl::envs::synthetic::SyntheticAllocation`); its maximiser is `softmax(x/β)` for equal
/// weights. `SyntheticAllocation(betas, noise_std=0.0)` or
/// `SyntheticAllocation.with_spread(m, epsilon, noise_std=0.0)` (`max β − min β = ε`).
#[pyclass(name = "SyntheticAllocation", module = "pimtl._core", frozen)]
pub struct PySynthetic {
    inner: SyntheticAllocation,
}

#[pymethods]
impl PySynthetic {
    #[new]
    #[pyo3(signature = (betas, noise_std=0.0))]
    fn new(betas: Vec<f64>, noise_std: f64) -> PyResult<Self> {
        Ok(PySynthetic {
            inner: SyntheticAllocation::new(betas, noise_std).py()?,
        })
    }

    /// `m` weights evenly spaced on `[0.5 − ε/2, 0.5 + ε/2]`.
    #[staticmethod]
    #[pyo3(signature = (m, epsilon, noise_std=0.0))]
    fn with_spread(m: usize, epsilon: f64, noise_std: f64) -> PyResult<Self> {
        check_count("m", m as u128, 1 << 26)?;
        Ok(PySynthetic {
            inner: SyntheticAllocation::with_spread(m, epsilon, noise_std).py()?,
        })
    }

    /// The noiseless reward `R(x, a)` (`x` finite, `a` on the simplex to `1e-6`, else
    /// `ValueError`; both of length `m`).
    fn mean_reward(&self, x: &Bound<'_, PyAny>, a: &Bound<'_, PyAny>) -> PyResult<f64> {
        let m = self.inner.entities();
        arrays::with_slice::<f64, _>(x, "x", |x, xs| {
            check_shape("x", xs, &[Some(m)], "(one state per entity)")?;
            arrays::with_slice::<f64, _>(a, "action", |a, s| {
                check_shape("action", s, &[Some(m)], "(one weight per entity)")?;
                pimtl::simplex::validate_allocation(a, pimtl::portfolio::ALLOCATION_TOLERANCE).py()?;
                self.inner.mean_reward(x, a).py()
            })
        })
    }

    /// The maximiser `a*(x)`.
    fn optimal_allocation<'py>(
        &self,
        py: Python<'py>,
        x: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyArray1<f64>>> {
        let m = self.inner.entities();
        let a = arrays::with_slice::<f64, _>(x, "x", |x, xs| {
            check_shape("x", xs, &[Some(m)], "(one state per entity)")?;
            self.inner.optimal_allocation(x).py()
        })?;
        Ok(PyArray1::from_vec(py, a))
    }

    /// The weights `β_i`.
    #[getter]
    fn betas(&self) -> Vec<f64> {
        self.inner.betas().to_vec()
    }

    /// The noise standard deviation `σ`.
    #[getter]
    fn noise_std(&self) -> f64 {
        self.inner.noise_std()
    }

    /// Entities `m`.
    #[getter]
    fn entities(&self) -> usize {
        self.inner.entities()
    }

    /// `ε = max β − min β`.
    #[getter]
    fn spread(&self) -> f64 {
        self.inner.spread()
    }
}

/// Adds the environment cores to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyPriceSet>()?;
    m.add_class::<PyEpisode>()?;
    m.add_class::<PySynthetic>()
}
