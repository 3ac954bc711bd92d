//! Gradient checks: the hand-written backward pass against two independent references.
//!
//! The test loss is linear in the allocations, `L(θ, x) = Σ_{b,i} g_{b,i} a_{b,i}` with fixed
//! weights `g`, so `dL/da = g` and any loss's gradient follows by the chain rule. References:
//!
//! 1. **Forward-mode autodiff**: the very same generic forward pass run on `autodiff::F1` dual
//!    numbers, seeding one parameter (or input) at a time: exact up to rounding.
//! 2. **Central finite differences**: `(L(θ + h e_j) − L(θ − h e_j)) / 2h`, error `O(h²)`.
//!
//! Cost: one forward pass per parameter for each reference, so use small shapes.

use super::{EquivariantPolicy, Input, Workspace};
use crate::error::Result;
use autodiff::F1;

/// `L = Σ g ⊙ a` for the `f64` policy.
fn loss(policy: &EquivariantPolicy<f64>, input: &Input<'_, f64>, g: &[f64]) -> Result<f64> {
    let a = policy.allocate(input)?;
    Ok(a.iter().zip(g).map(|(a, g)| a * g).sum())
}

/// The hand-written reverse-mode gradients `(dL/dθ, dL/dx)` of `L = Σ g ⊙ a`.
///
/// # Errors
/// Invalid input or `g` of the wrong length.
pub fn hand_gradient(
    policy: &EquivariantPolicy<f64>,
    input: &Input<'_, f64>,
    g: &[f64],
) -> Result<(Vec<f64>, Vec<f64>)> {
    let mut ws = Workspace::new();
    policy.forward(input, &mut ws)?;
    let mut grad = vec![0.0; policy.num_params()];
    policy.backward(&mut ws, g, &mut grad, true)?;
    Ok((grad, ws.input_gradient().to_vec()))
}

/// dL/dθ by forward-mode autodiff: one dual-number forward pass per parameter.
///
/// # Errors
/// Invalid input or `g` of the wrong length.
pub fn autodiff_param_gradient(
    policy: &EquivariantPolicy<f64>,
    input: &Input<'_, f64>,
    g: &[f64],
) -> Result<Vec<f64>> {
    let x: Vec<F1> = input.x.iter().map(|&v| F1::cst(v)).collect();
    let prev: Option<Vec<F1>> = input.prev.map(|p| p.iter().map(|&v| F1::cst(v)).collect());
    let mut dual = policy.cast::<F1>();
    let mut ws = Workspace::new();
    let mut out = Vec::with_capacity(policy.num_params());
    for j in 0..policy.num_params() {
        dual.params_mut()[j] = F1::var(policy.params()[j]);
        let a = dual.forward(&Input::new(&x, prev.as_deref(), input.shape), &mut ws)?;
        out.push(a.iter().zip(g).map(|(a, &g)| a.deriv() * g).sum());
        dual.params_mut()[j] = F1::cst(policy.params()[j]);
    }
    Ok(out)
}

/// dL/dx by forward-mode autodiff: one dual-number forward pass per input value.
///
/// # Errors
/// Invalid input or `g` of the wrong length.
pub fn autodiff_input_gradient(
    policy: &EquivariantPolicy<f64>,
    input: &Input<'_, f64>,
    g: &[f64],
) -> Result<Vec<f64>> {
    let mut x: Vec<F1> = input.x.iter().map(|&v| F1::cst(v)).collect();
    let prev: Option<Vec<F1>> = input.prev.map(|p| p.iter().map(|&v| F1::cst(v)).collect());
    let dual = policy.cast::<F1>();
    let mut ws = Workspace::new();
    let mut out = Vec::with_capacity(x.len());
    for j in 0..x.len() {
        x[j] = F1::var(input.x[j]);
        let a = dual.forward(&Input::new(&x, prev.as_deref(), input.shape), &mut ws)?;
        out.push(a.iter().zip(g).map(|(a, &g)| a.deriv() * g).sum());
        x[j] = F1::cst(input.x[j]);
    }
    Ok(out)
}

/// dL/dθ by central finite differences with step `h`.
///
/// # Errors
/// Invalid input or `g` of the wrong length.
pub fn finite_difference_param_gradient(
    policy: &EquivariantPolicy<f64>,
    input: &Input<'_, f64>,
    g: &[f64],
    h: f64,
) -> Result<Vec<f64>> {
    let mut p = policy.clone();
    let mut out = Vec::with_capacity(policy.num_params());
    for j in 0..policy.num_params() {
        let t = policy.params()[j];
        p.params_mut()[j] = t + h;
        let plus = loss(&p, input, g)?;
        p.params_mut()[j] = t - h;
        let minus = loss(&p, input, g)?;
        p.params_mut()[j] = t;
        out.push((plus - minus) / (2.0 * h));
    }
    Ok(out)
}

/// `max_j |a_j − b_j| / max(|a_j|, |b_j|, floor)` with `floor = 1e-6 · max_j |b_j|` (so that
/// entries that are zero up to rounding do not dominate), and the index where it is attained.
pub fn max_relative_error(a: &[f64], b: &[f64]) -> (f64, usize) {
    let scale = b.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let floor = (1e-6 * scale).max(f64::MIN_POSITIVE);
    let mut worst = (0.0, 0);
    for (j, (x, y)) in a.iter().zip(b).enumerate() {
        let e = (x - y).abs() / x.abs().max(y.abs()).max(floor);
        if e > worst.0 || e.is_nan() {
            worst = (e, j);
        }
    }
    if a.len() != b.len() {
        worst.0 = f64::INFINITY;
    }
    worst
}
