//! `pimtl.TaskSampler`: the prioritised task sampler of §5 (`pimtl::sampler::TaskSampler`).
//!
//! Scores are smoothed, `s_t ← γ s_t + (1 − γ) max(score, floor)`; tasks are drawn with
//! `p_t = s_t^α / Σ s^α` from a sum tree; the importance weight is `w_t = (T p_t)^−β / max w`.
//! The generator is the core's `ChaCha8Rng`, seeded at construction or by `seed(s)`, so a seed
//! gives the same draws as the Rust sampler, bit for bit.

use crate::arrays::{self, check_shape};
use crate::errors::{check_count, try_vec, IntoPy};
use numpy::PyArray1;
use pimtl::sampler::{SamplerConfig, TaskSampler};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Drawn tasks and their importance weights.
type TasksAndWeights<'py> = (Bound<'py, PyArray1<i64>>, Bound<'py, PyArray1<f64>>);

/// The prioritised task sampler of §5 over `tasks` tasks.
///
/// `TaskSampler(tasks, alpha=0.5, beta=1.0, smoothing=0.2, initial_score=1.0,
/// score_floor=1e-6, seed=0)`. `sample()` draws one task, `sample(n)` an int64 array of `n`
/// (the same tasks as `n` single draws); `update(t, score)` and `update(tasks, scores)` smooth
/// scores in; `weight(t)`, `weights()`, `probability(t)`, `probabilities()` and `scores()` read
/// the state.
#[pyclass(name = "TaskSampler", module = "pimtl._core")]
pub struct PyTaskSampler {
    inner: TaskSampler,
    rng: ChaCha8Rng,
}

fn task_index(t: i64, len: usize) -> PyResult<usize> {
    usize::try_from(t)
        .ok()
        .filter(|&u| u < len)
        .ok_or_else(|| PyValueError::new_err(format!("task: index {t} out of range for {len} tasks")))
}

#[pymethods]
impl PyTaskSampler {
    #[new]
    #[pyo3(signature = (tasks, alpha=0.5, beta=1.0, smoothing=0.2, initial_score=1.0, score_floor=1e-6, seed=0))]
    fn new(
        tasks: usize,
        alpha: f64,
        beta: f64,
        smoothing: f64,
        initial_score: f64,
        score_floor: f64,
        seed: u64,
    ) -> PyResult<Self> {
        let config = SamplerConfig {
            alpha,
            beta,
            smoothing,
            initial_score,
            score_floor,
            ..SamplerConfig::default()
        };
        Ok(PyTaskSampler {
            inner: TaskSampler::new(tasks, config).py()?,
            rng: ChaCha8Rng::seed_from_u64(seed),
        })
    }

    /// Reseeds the sampler's generator (the scores are kept).
    fn seed(&mut self, seed: u64) {
        self.rng = ChaCha8Rng::seed_from_u64(seed);
    }

    /// One task (`n=None`) or an int64 array of `n` tasks, each with probability `p_t`.
    #[pyo3(signature = (n=None))]
    fn sample<'py>(&mut self, py: Python<'py>, n: Option<usize>) -> PyResult<Bound<'py, PyAny>> {
        match n {
            None => Ok(self.inner.sample(&mut self.rng).into_pyobject(py)?.into_any()),
            Some(n) => {
                let mut out = try_vec(n, 0usize, "n")?;
                let (inner, rng) = (&self.inner, &mut self.rng);
                py.detach(|| inner.sample_many(rng, &mut out));
                // Same size and alignment: the standard library's in-place collect reuses the
                // buffer (indices are < 2^63).
                let v: Vec<i64> = out.into_iter().map(|t| t as i64).collect();
                Ok(PyArray1::from_vec(py, v).into_any())
            }
        }
    }

    /// `n` tasks and their importance weights, as `(int64 array, float64 array)`.
    fn sample_with_weights<'py>(&mut self, py: Python<'py>, n: usize) -> PyResult<TasksAndWeights<'py>> {
        let mut out = try_vec(n, 0usize, "n")?;
        let mut w = try_vec(n, 0.0f64, "n")?;
        let (inner, rng) = (&self.inner, &mut self.rng);
        py.detach(|| inner.sample_many_with_weights(rng, &mut out, &mut w));
        let t: Vec<i64> = out.into_iter().map(|t| t as i64).collect();
        Ok((PyArray1::from_vec(py, t), PyArray1::from_vec(py, w)))
    }

    /// Smooths a score in: `update(t, score)` returns the new `s_t`; `update(tasks, scores)`
    /// (arrays of equal length) returns the new scores as an array. Every index and score of a
    /// batch is checked before any is applied.
    fn update<'py>(
        &mut self,
        py: Python<'py>,
        task: &Bound<'py, PyAny>,
        score: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let (Ok(t), Ok(s)) = (task.extract::<i64>(), score.extract::<f64>()) {
            let t = task_index(t, self.inner.len())?;
            return Ok(self.inner.update(t, s).py()?.into_pyobject(py)?.into_any());
        }
        if task.extract::<i64>().is_ok() || score.extract::<f64>().is_ok() {
            return Err(PyTypeError::new_err(
                "update: give one task and one score, or two arrays of equal length",
            ));
        }
        let (tasks, ts) = arrays::read::<i64>(task, "tasks")?;
        let (scores, ss) = arrays::read::<f64>(score, "scores")?;
        check_shape("tasks", &ts, &[None], "(one index per score)")?;
        check_shape("scores", &ss, &[Some(tasks.len())], "(one score per task)")?;
        let idx: Vec<usize> = tasks
            .iter()
            .map(|&t| task_index(t, self.inner.len()))
            .collect::<PyResult<_>>()?;
        if let Some((i, s)) = scores.iter().enumerate().find(|(_, s)| !s.is_finite()) {
            return Err(PyValueError::new_err(format!(
                "scores: non-finite value {s} at index {i}"
            )));
        }
        // All or nothing (`TaskSampler::update_many`): a batch whose total would overflow
        // leaves the sampler as it was.
        let mut out = try_vec(idx.len(), 0.0f64, "tasks")?;
        self.inner.update_many(&idx, &scores, &mut out).py()?;
        Ok(PyArray1::from_vec(py, out).into_any())
    }

    /// Sets `s_t` directly (no smoothing, no floor; must be finite and > 0).
    fn set_score(&mut self, task: i64, score: f64) -> PyResult<()> {
        let t = task_index(task, self.inner.len())?;
        self.inner.set_score(t, score).py()
    }

    /// `p_t`.
    fn probability(&self, task: i64) -> PyResult<f64> {
        let t = task_index(task, self.inner.len())?;
        self.inner.probability(t).py()
    }

    /// `w_t = (T p_t)^−β / max w`.
    fn weight(&self, task: i64) -> PyResult<f64> {
        let t = task_index(task, self.inner.len())?;
        self.inner.weight(t).py()
    }

    /// Every `p_t`, as an array.
    fn probabilities<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.inner.probabilities())
    }

    /// Every `w_t`, as an array.
    fn weights<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_vec(py, self.inner.weights())
    }

    /// Every smoothed score `s_t`, as an array.
    fn scores<'py>(&self, py: Python<'py>) -> Bound<'py, PyArray1<f64>> {
        PyArray1::from_slice(py, self.inner.scores())
    }

    /// The sampler's settings as a dict.
    #[getter]
    fn config<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, pyo3::types::PyDict>> {
        let c = self.inner.config();
        let d = pyo3::types::PyDict::new(py);
        d.set_item("alpha", c.alpha)?;
        d.set_item("beta", c.beta)?;
        d.set_item("smoothing", c.smoothing)?;
        d.set_item("initial_score", c.initial_score)?;
        d.set_item("score_floor", c.score_floor)?;
        Ok(d)
    }

    fn __len__(&self) -> usize {
        self.inner.len()
    }

    fn __repr__(&self) -> String {
        let c = self.inner.config();
        format!(
            "TaskSampler(tasks={}, alpha={}, beta={}, smoothing={})",
            self.inner.len(),
            c.alpha,
            c.beta,
            c.smoothing
        )
    }
}

/// Adds the sampler to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<PyTaskSampler>()?;
    m.add_function(wrap_pyfunction!(draw_tasks, m)?)
}

/// `n_tasks` distinct tasks of `task_size` entities out of `universe_size` (Corollary 2's task
/// space, `pimtl::tasks::draw_tasks`), each a sorted list of entity indices, reproducible from
/// `seed`. `ValueError` for `task_size = 0`, `task_size > universe_size` or more tasks than
/// `C(M, m)`.
#[pyfunction]
#[pyo3(signature = (universe_size, task_size, n_tasks, seed=0))]
fn draw_tasks(
    universe_size: usize,
    task_size: usize,
    n_tasks: usize,
    seed: u64,
) -> PyResult<Vec<Vec<usize>>> {
    // The draw keeps every task (and, when sparse, a set of them): 2^28 indices is 2 GiB.
    check_count(
        "n_tasks × task_size",
        n_tasks as u128 * task_size.max(1) as u128,
        1 << 28,
    )?;
    let tasks = pimtl::tasks::draw_tasks(universe_size, task_size, n_tasks, seed).py()?;
    Ok(tasks.into_iter().map(|t| t.entities().to_vec()).collect())
}
