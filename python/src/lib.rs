//! `pimtl._core`: the Python bindings of the pimtl crate (PyO3, abi3 for CPython ≥ 3.9).
//!
//! Each submodule wraps one part of the core and converts at the boundary only: numpy arrays in,
//! numpy arrays out (built from the core's vectors without another copy), every core error a
//! Python exception carrying the core's message ([`errors`]). The Python package `pimtl` (in
//! `python/pimtl/`) adds the Gymnasium environments and the Ray sweeps on top.
//!
//! | module | core | Python |
//! |---|---|---|
//! | [`sampler`] | `pimtl::sampler::TaskSampler` (§5) | `pimtl.TaskSampler` |
//! | [`policy`] | `pimtl::policy::EquivariantPolicy` (§4–5) | `pimtl.EquivariantPolicy` |
//! | [`envs`] | `pimtl::envs::episode`, `pimtl::envs::synthetic` (§6.1–6.2) | `pimtl.envs` |
//! | [`backtest`] | `pimtl::portfolio::simulate`, `pimtl::baselines::registry` | `pimtl.backtest`, `pimtl.run_strategy` |
//! | [`theory`] | `pimtl::theory::bound` (Theorem 1, Corollaries 1–2) | `pimtl.theorem1`, … |
//! | [`cli`] | `pimtl::cli` (the experiment runner) | `pimtl.cli` |

use pyo3::prelude::*;

mod arrays;
mod backtest;
mod cli;
mod envs;
mod errors;
mod policy;
mod sampler;
mod theory;

/// The extension module `pimtl._core`.
#[pymodule]
fn _core(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    sampler::register(m)?;
    policy::register(m)?;
    envs::register(m)?;
    backtest::register(m)?;
    theory::register(m)?;
    cli::register(m)?;
    Ok(())
}
