//! The probability simplex: softmax, its vector–Jacobian product, entropy and validation.
//!
//! Paper §3 (problem setting): at every step the agent splits one unit of a resource among the
//! `m` entities of the current task, so an allocation is a point of the probability simplex
//!
//! ```text
//! Δ_m = { a ∈ R^m : 0 ≤ a_i ≤ 1,  Σ_i a_i = 1 }.
//! ```
//!
//! Policies produce allocations by a softmax over per-entity scores, which maps R^m onto the
//! interior of Δ_m and commutes with permutations of the entities (it is permutation
//! equivariant), which is what the permutation-invariance results of §4 rely on.
//!
//! Formulas, for scores `s` and `a = softmax(s)`:
//!
//! ```text
//! softmax(s)_i      = exp(s_i − max_j s_j) / Σ_k exp(s_k − max_j s_j)
//! log_sum_exp(s)    = max_j s_j + ln Σ_k exp(s_k − max_j s_j)
//! log_softmax(s)_i  = s_i − log_sum_exp(s)
//! dL/ds             = a ⊙ (g − Σ_j a_j g_j)          where g = dL/da   (softmax VJP)
//! x_log_x(x)        = x ln x, with 0 ln 0 = 0
//! entropy(a)        = −Σ_i a_i ln a_i
//! l1_distance(a, b) = Σ_i |a_i − b_i|
//! linf_distance(a, b) = max_i |a_i − b_i|
//! linf_from_uniform(a) = max_i |a_i − 1/m|           (the P-MTL task scorer of §6.2)
//! ```
//!
//! Subtracting the maximum score before exponentiating leaves the softmax unchanged (it is
//! invariant to adding a constant to every score) and keeps every exponent ≤ 0, so scores such
//! as `[1000, 1001]` neither overflow nor produce NaN.
//!
//! The functions are generic over [`num_traits::Float`] (in practice `f32` and `f64`).

use crate::error::{check_finite, Error, Result};
use num_traits::Float;

/// Default tolerance of [`validate_allocation`], suitable for `f64` allocations.
///
/// For `f32` allocations with many entities, rounding in the sum alone can reach
/// `m · f32::EPSILON ≈ m · 1.2e-7`; pass a larger tolerance (e.g. `1e-4`) in that case.
pub const DEFAULT_TOLERANCE: f64 = 1e-6;

/// Converts a count to `T`; NaN if `T` cannot represent it (never for `f32`/`f64`).
fn cast<T: Float>(x: usize) -> T {
    T::from(x).unwrap_or_else(T::nan)
}

/// Largest entry of `scores` (NaN entries are skipped); `-inf` for an empty slice.
fn max_score<T: Float>(scores: &[T]) -> T {
    scores
        .iter()
        .fold(T::neg_infinity(), |m, &s| if s > m { s } else { m })
}

/// Writes `softmax(scores)` into `out`, subtracting the maximum score first.
///
/// `out[i] = exp(s_i − max s) / Σ_k exp(s_k − max s)`.
///
/// This is the fast, unchecked kernel: `scores` and `out` must have equal lengths (checked by a
/// `debug_assert!`; in release builds only the common prefix is written). Use [`try_softmax`]
/// for a checked version. An empty input is a no-op.
///
/// Scores may contain `-inf` (the entry gets probability 0) as long as one score is finite;
/// if all scores are `-inf`, or any score is `+inf` or NaN, the output is NaN.
pub fn softmax_into<T: Float>(scores: &[T], out: &mut [T]) {
    debug_assert_eq!(scores.len(), out.len(), "softmax_into: length mismatch");
    if scores.is_empty() {
        return;
    }
    let max = max_score(scores);
    let mut sum = T::zero();
    for (o, &s) in out.iter_mut().zip(scores) {
        *o = (s - max).exp();
        sum = sum + *o;
    }
    let inv = sum.recip();
    for o in out.iter_mut().take(scores.len()) {
        *o = *o * inv;
    }
}

/// Returns `softmax(scores)` as a new vector (see [`softmax_into`]); empty for empty input.
pub fn softmax<T: Float>(scores: &[T]) -> Vec<T> {
    let mut out = vec![T::zero(); scores.len()];
    softmax_into(scores, &mut out);
    out
}

/// Checked softmax: like [`softmax_into`], but validates its inputs first.
///
/// # Errors
/// [`Error::ShapeMismatch`] if `out.len() != scores.len()`; [`Error::NonFinite`] naming the
/// first score that is NaN or infinite.
pub fn try_softmax<T: Float>(scores: &[T], out: &mut [T]) -> Result<()> {
    if out.len() != scores.len() {
        return Err(Error::shape("softmax output", scores.len(), out.len()));
    }
    check_finite("softmax scores", scores)?;
    softmax_into(scores, out);
    Ok(())
}

/// Vector–Jacobian product of the softmax: given `a = softmax(s)` and `g = dL/da`, writes
/// `dL/ds = a ⊙ (g − Σ_j a_j g_j)` into `out`.
///
/// The softmax Jacobian is `J = diag(a) − a aᵀ`, which is symmetric, so `Jᵀ g = a ⊙ g − a (aᵀ g)`.
/// This costs O(m) instead of the O(m²) of forming `J`.
///
/// `a`, `g` and `out` must have equal lengths (checked by a `debug_assert!`; in release builds
/// only the common prefix is used). The components of the result sum to `0` when `a` sums to 1.
pub fn softmax_vjp<T: Float>(a: &[T], g: &[T], out: &mut [T]) {
    debug_assert_eq!(a.len(), g.len(), "softmax_vjp: length of g");
    debug_assert_eq!(a.len(), out.len(), "softmax_vjp: length of out");
    let dot = a.iter().zip(g).fold(T::zero(), |acc, (&ai, &gi)| acc + ai * gi);
    for ((o, &ai), &gi) in out.iter_mut().zip(a).zip(g) {
        *o = ai * (gi - dot);
    }
}

/// `ln Σ_i exp(s_i)`, computed stably as `max s + ln Σ_i exp(s_i − max s)`.
///
/// Returns `-inf` for an empty slice (the log of an empty sum).
pub fn log_sum_exp<T: Float>(scores: &[T]) -> T {
    let max = max_score(scores);
    if !max.is_finite() {
        // Empty, all `-inf` (result `-inf`), or a `+inf` score (result `+inf`).
        return if scores.iter().any(|s| s.is_nan()) {
            T::nan()
        } else {
            max
        };
    }
    let sum = scores.iter().fold(T::zero(), |acc, &s| acc + (s - max).exp());
    max + sum.ln()
}

/// Writes `log_softmax(scores)_i = s_i − log_sum_exp(s)` into `out`.
///
/// More accurate than `ln(softmax(s))` for very negative log-probabilities (no underflow to
/// `ln 0 = -inf`). Same length contract as [`softmax_into`]; empty input is a no-op.
pub fn log_softmax_into<T: Float>(scores: &[T], out: &mut [T]) {
    debug_assert_eq!(scores.len(), out.len(), "log_softmax_into: length mismatch");
    let lse = log_sum_exp(scores);
    for (o, &s) in out.iter_mut().zip(scores) {
        *o = s - lse;
    }
}

/// Returns `log_softmax(scores)` as a new vector (see [`log_softmax_into`]).
pub fn log_softmax<T: Float>(scores: &[T]) -> Vec<T> {
    let mut out = vec![T::zero(); scores.len()];
    log_softmax_into(scores, &mut out);
    out
}

/// `x ln x`, extended continuously by `0 ln 0 = 0`. NaN for negative `x`.
pub fn x_log_x<T: Float>(x: T) -> T {
    if x == T::zero() {
        T::zero()
    } else {
        x * x.ln()
    }
}

/// Shannon entropy `−Σ_i a_i ln a_i` in nats, with `0 ln 0 = 0`.
///
/// On the simplex it lies in `[0, ln m]`: `0` at a vertex, `ln m` at the uniform allocation.
/// Returns `0` for an empty slice.
pub fn entropy<T: Float>(a: &[T]) -> T {
    -a.iter().fold(T::zero(), |acc, &x| acc + x_log_x(x))
}

/// `Σ_i |a_i − b_i|` (`0` for empty slices).
///
/// # Errors
/// [`Error::ShapeMismatch`] if `b.len() != a.len()`.
pub fn l1_distance<T: Float>(a: &[T], b: &[T]) -> Result<T> {
    if a.len() != b.len() {
        return Err(Error::shape("l1_distance second argument", a.len(), b.len()));
    }
    Ok(a.iter()
        .zip(b)
        .fold(T::zero(), |acc, (&x, &y)| acc + (x - y).abs()))
}

/// `max_i |a_i − b_i|` (`0` for empty slices; NaN if any difference is NaN).
///
/// # Errors
/// [`Error::ShapeMismatch`] if `b.len() != a.len()`.
pub fn linf_distance<T: Float>(a: &[T], b: &[T]) -> Result<T> {
    if a.len() != b.len() {
        return Err(Error::shape("linf_distance second argument", a.len(), b.len()));
    }
    Ok(a.iter().zip(b).fold(T::zero(), |acc, (&x, &y)| {
        let d = (x - y).abs();
        if d > acc || d.is_nan() {
            d
        } else {
            acc
        }
    }))
}

/// `max_i |a_i − 1/m|` with `m = a.len()`: how far an allocation is from the uniform one in the
/// sup norm (the P-MTL task score of §6.2). `0` for an empty slice; NaN if any entry is NaN.
///
/// On the simplex it lies in `[0, 1 − 1/m]`, the maximum being reached at a vertex.
pub fn linf_from_uniform<T: Float>(a: &[T]) -> T {
    if a.is_empty() {
        return T::zero();
    }
    let u = cast::<T>(a.len()).recip();
    a.iter().fold(T::zero(), |acc, &x| {
        let d = (x - u).abs();
        if d > acc || d.is_nan() {
            d
        } else {
            acc
        }
    })
}

/// The uniform allocation `(1/m, …, 1/m)` of length `m` (empty for `m = 0`).
pub fn uniform(m: usize) -> Vec<f64> {
    if m == 0 {
        return Vec::new();
    }
    vec![1.0 / m as f64; m]
}

/// Checks that `a` is a point of the simplex, up to the tolerance `tol`.
///
/// Accepted iff `a` is non-empty, every entry is finite, every entry satisfies
/// `−tol ≤ a_i ≤ 1 + tol` (tiny negative rounding errors within `tol` are accepted), and
/// `|Σ_i a_i − 1| ≤ tol`. The sum is accumulated in `f64`. See [`DEFAULT_TOLERANCE`].
///
/// # Errors
/// - [`Error::InvalidParameter`] (`tol`) if `tol` is negative, NaN or infinite;
/// - [`Error::InvalidAllocation`] for an empty allocation;
/// - [`Error::NonFinite`] naming the first NaN or infinite entry;
/// - [`Error::InvalidAllocation`] naming the index and value of the first entry below `−tol` or
///   above `1 + tol`;
/// - [`Error::InvalidAllocation`] giving the sum when `|Σ a − 1| > tol`.
pub fn validate_allocation<T: Float>(a: &[T], tol: f64) -> Result<()> {
    if !(tol.is_finite() && tol >= 0.0) {
        return Err(Error::param(
            "tol",
            tol,
            "tolerance must be finite and non-negative",
        ));
    }
    if a.is_empty() {
        return Err(Error::InvalidAllocation {
            reason: "allocation is empty (m = 0)".to_string(),
        });
    }
    check_finite("allocation", a)?;
    let mut sum = 0.0_f64;
    for (i, &x) in a.iter().enumerate() {
        let v = x.to_f64().unwrap_or(f64::NAN);
        if v < -tol {
            return Err(Error::InvalidAllocation {
                reason: format!("entry a[{i}] = {v} is negative (tolerance {tol})"),
            });
        }
        if v > 1.0 + tol {
            return Err(Error::InvalidAllocation {
                reason: format!("entry a[{i}] = {v} exceeds 1 (tolerance {tol})"),
            });
        }
        sum += v;
    }
    if (sum - 1.0).abs() > tol {
        return Err(Error::InvalidAllocation {
            reason: format!(
                "entries sum to {sum}, not 1 (|sum − 1| = {:e} > tolerance {tol})",
                (sum - 1.0).abs()
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64, tol: f64) -> bool {
        (a - b).abs() <= tol
    }

    #[test]
    fn softmax_known_values() {
        let a = softmax(&[0.0, 2.0_f64.ln()]);
        assert!(close(a[0], 1.0 / 3.0, 1e-15));
        assert!(close(a[1], 2.0 / 3.0, 1e-15));
        let u = softmax(&[3.0_f64; 4]);
        assert!(u.iter().all(|&x| close(x, 0.25, 1e-15)));
        assert_eq!(softmax(&[7.5_f64]), vec![1.0]);
    }

    #[test]
    fn softmax_f32() {
        let a = softmax(&[0.0_f32, 2.0_f32.ln()]);
        assert!((a[0] - 1.0 / 3.0).abs() < 1e-6);
        assert!(validate_allocation(&a, 1e-5).is_ok());
    }

    #[test]
    fn softmax_large_scores_do_not_overflow() {
        let a = softmax(&[1000.0_f64, 1001.0]);
        let e = std::f64::consts::E;
        assert!(close(a[0], 1.0 / (1.0 + e), 1e-15));
        assert!(close(a[1], e / (1.0 + e), 1e-15));
        let b = softmax(&[-1000.0_f64, -1001.0]);
        assert!(close(b[0], e / (1.0 + e), 1e-15));
        let c = softmax(&[80.0_f32, 100.0, 90.0]);
        assert!(c.iter().all(|x| x.is_finite()));
        assert!(validate_allocation(&c, 1e-5).is_ok());
    }

    #[test]
    fn softmax_neg_infinity_gets_zero() {
        let a = softmax(&[f64::NEG_INFINITY, 0.0, 0.0]);
        assert_eq!(a, vec![0.0, 0.5, 0.5]);
    }

    #[test]
    fn softmax_empty_is_noop() {
        let mut out: [f64; 0] = [];
        softmax_into(&[], &mut out);
        assert!(softmax::<f64>(&[]).is_empty());
        assert!(try_softmax::<f64>(&[], &mut out).is_ok());
        assert!(log_softmax::<f64>(&[]).is_empty());
    }

    #[test]
    fn try_softmax_checks() {
        let mut out = [0.0_f64; 2];
        assert!(matches!(
            try_softmax(&[1.0, 2.0, 3.0], &mut out),
            Err(Error::ShapeMismatch {
                expected: 3,
                got: 2,
                ..
            })
        ));
        assert!(matches!(
            try_softmax(&[1.0, f64::NAN], &mut out),
            Err(Error::NonFinite { index: 1, .. })
        ));
        try_softmax(&[0.0, 0.0], &mut out).unwrap();
        assert_eq!(out, [0.5, 0.5]);
    }

    #[test]
    fn log_softmax_matches_ln_softmax() {
        let s = [0.3_f64, -1.2, 4.0, 2.5];
        let a = softmax(&s);
        let l = log_softmax(&s);
        for (x, y) in a.iter().zip(&l) {
            assert!(close(x.ln(), *y, 1e-13));
        }
        // Very negative log-probabilities stay finite.
        let l = log_softmax(&[0.0_f64, -2000.0]);
        assert!(close(l[1], -2000.0, 1e-9));
        assert!(close(
            log_sum_exp(&[1000.0_f64, 1000.0]),
            1000.0 + 2.0_f64.ln(),
            1e-12
        ));
        assert_eq!(log_sum_exp::<f64>(&[]), f64::NEG_INFINITY);
        assert_eq!(log_sum_exp(&[f64::INFINITY, 1.0]), f64::INFINITY);
        assert!(log_sum_exp(&[f64::INFINITY, f64::NAN]).is_nan());
    }

    #[test]
    fn vjp_matches_finite_differences() {
        let s = [0.4_f64, -0.7, 1.3, 0.0, 2.1];
        let g = [1.5_f64, -2.0, 0.25, 3.0, -0.5];
        // L(s) = g · softmax(s), so dL/da = g.
        let loss = |s: &[f64]| -> f64 { softmax(s).iter().zip(&g).map(|(a, g)| a * g).sum() };
        let a = softmax(&s);
        let mut grad = [0.0; 5];
        softmax_vjp(&a, &g, &mut grad);
        let h = 1e-6;
        for i in 0..s.len() {
            let mut p = s;
            let mut q = s;
            p[i] += h;
            q[i] -= h;
            let fd = (loss(&p) - loss(&q)) / (2.0 * h);
            assert!(close(grad[i], fd, 1e-8), "i={i}: {} vs {fd}", grad[i]);
        }
        assert!(close(grad.iter().sum::<f64>(), 0.0, 1e-14));
    }

    #[test]
    fn entropy_values() {
        for m in 1..10 {
            assert!(close(entropy(&uniform(m)), (m as f64).ln(), 1e-14));
        }
        assert_eq!(entropy(&[1.0_f64, 0.0, 0.0]), 0.0);
        assert!(close(entropy(&[0.5_f64, 0.0, 0.5]), 2.0_f64.ln(), 1e-15));
        assert_eq!(entropy::<f64>(&[]), 0.0);
        assert_eq!(x_log_x(0.0_f64), 0.0);
        assert!(close(x_log_x(std::f64::consts::E), std::f64::consts::E, 1e-15));
        assert!(x_log_x(-1.0_f64).is_nan());
    }

    #[test]
    fn distances() {
        let a = [0.5_f64, 0.25, 0.25];
        let b = [0.25_f64, 0.25, 0.5];
        assert_eq!(l1_distance(&a, &b).unwrap(), 0.5);
        assert_eq!(linf_distance(&a, &b).unwrap(), 0.25);
        assert_eq!(l1_distance::<f64>(&[], &[]).unwrap(), 0.0);
        assert!(matches!(
            l1_distance(&a, &b[..2]),
            Err(Error::ShapeMismatch {
                expected: 3,
                got: 2,
                ..
            })
        ));
        assert!(matches!(
            linf_distance(&a[..1], &b),
            Err(Error::ShapeMismatch {
                expected: 1,
                got: 3,
                ..
            })
        ));
        assert!(linf_distance(&[f64::NAN, 0.0], &[0.0, 5.0]).unwrap().is_nan());
    }

    #[test]
    fn linf_from_uniform_values() {
        assert_eq!(linf_from_uniform(&uniform(5)), 0.0);
        assert!(close(linf_from_uniform(&[1.0_f64, 0.0, 0.0, 0.0]), 0.75, 1e-15));
        assert!(close(
            linf_from_uniform(&[0.5_f64, 0.3, 0.2]),
            0.5 - 1.0 / 3.0,
            1e-15
        ));
        assert_eq!(linf_from_uniform::<f64>(&[]), 0.0);
        assert!(linf_from_uniform(&[f64::NAN, 1.0]).is_nan());
    }

    #[test]
    fn uniform_is_valid() {
        assert!(uniform(0).is_empty());
        for m in 1..50 {
            validate_allocation(&uniform(m), DEFAULT_TOLERANCE).unwrap();
        }
    }

    #[test]
    fn validation_errors() {
        let reason = |r: Result<()>| match r {
            Err(Error::InvalidAllocation { reason }) => reason,
            other => panic!("expected InvalidAllocation, got {other:?}"),
        };
        // Empty.
        assert!(reason(validate_allocation::<f64>(&[], 1e-6)).contains("empty"));
        // Non-finite.
        assert!(matches!(
            validate_allocation(&[0.5, f64::NAN, 0.5], 1e-6),
            Err(Error::NonFinite { index: 1, .. })
        ));
        assert!(matches!(
            validate_allocation(&[f64::INFINITY], 1e-6),
            Err(Error::NonFinite { index: 0, .. })
        ));
        // Negative entry, named with index and value.
        let r = reason(validate_allocation(&[0.7, 0.5, -0.2], 1e-6));
        assert!(r.contains("a[2]") && r.contains("-0.2"), "{r}");
        // Tiny negative within tolerance is accepted.
        validate_allocation(&[1.0 + 1e-9, -1e-9], 1e-6).unwrap();
        // Entry above 1.
        let r = reason(validate_allocation(&[1.5, -0.5], 0.1));
        assert!(r.contains("a[0]") && r.contains("1.5"), "{r}");
        // Sum off.
        let r = reason(validate_allocation(&[0.5, 0.4], 1e-6));
        assert!(r.contains("0.9"), "{r}");
        validate_allocation(&[0.5, 0.4], 0.2).unwrap();
        // Bad tolerance.
        for tol in [-1e-6, f64::NAN, f64::INFINITY] {
            assert!(matches!(
                validate_allocation(&[1.0], tol),
                Err(Error::InvalidParameter { name: "tol", .. })
            ));
        }
        // Exact zero tolerance.
        validate_allocation(&[0.5, 0.25, 0.25], 0.0).unwrap();
    }
}
