//! Growth, drift, turnover and the transaction remainder factor of one trading period.
//!
//! Notation of Jiang, Xu & Liang (2017), "A deep reinforcement learning framework for the
//! financial portfolio management problem" (arXiv 1706.10059), §2.3–2.4: `a` is the allocation
//! chosen for the period (their `w_t`), `w'` the previous allocation after the previous period's
//! price moves (their `w'_t`), `y` the period's price relatives.
//!
//! ```text
//! growth      g  = a · y = Σ_i a_i y_i                   (eq. 3)
//! drift       w' = a ⊙ y / (a · y)                       (eq. 7, the weights at the close)
//! turnover    τ  = Σ_i |a_i − w'_i|                      (w' of the previous period)
//! linear      μ  = 1 − c τ                               (PGPortfolio's training approximation)
//! exact       μ  = [1 − c_p w'_0 − (c_s + c_p − c_s c_p) Σ_{i≥1} max(w'_i − μ a_i, 0)] / (1 − c_p a_0)
//!                                                         (eq. 14, index 0 = cash)
//! return      r  = μ g                                   (eq. 9)
//! additive    r  = max(g − c τ, 0)                        (universal-portfolios' convention)
//! ```
//!
//! The exact remainder is a fixed point; [`transaction_remainder`] solves it with equal buying
//! and selling rates `c_p = c_s = c` (PGPortfolio's `calculate_pv_after_commission`, with or
//! without a cash asset) and [`transaction_remainder_per_side`] with different rates and no cash
//! asset. [`period_return`] combines them for one period of a back-test under a [`Fee`] model.

use super::Fee;
use crate::error::{Error, Result};

/// `a · y = Σ_i a_i y_i`: the growth factor of the period before costs (Jiang et al. 2017, eq. 3).
///
/// Summed in [`GROWTH_LANES`] = 4 partial sums, `s_k = Σ_{i ≡ k (mod 4)} a_i y_i` (each from −0,
/// `i` increasing), combined as `(s_0 + s_1) + (s_2 + s_3)`. This order is the crate's definition
/// of the growth: every back-test path ([`crate::portfolio::Account`], its fast paths, the
/// training reward) computes it through this function, so they agree bit for bit. The partial
/// sums shorten the chain of dependent additions from `m` to `m/4 + 2`, which is what bounds a
/// strategy whose next allocation needs today's growth (buy and hold: `w' = w ⊙ y / g`).
///
/// Uses the common prefix if the lengths differ.
#[inline]
pub fn growth(a: &[f64], y: &[f64]) -> f64 {
    let n = a.len().min(y.len());
    let (a, y) = (&a[..n], &y[..n]);
    let mut s = [-0.0_f64; GROWTH_LANES];
    let mut a4 = a.chunks_exact(GROWTH_LANES);
    let mut y4 = y.chunks_exact(GROWTH_LANES);
    for (a, y) in (&mut a4).zip(&mut y4) {
        for k in 0..GROWTH_LANES {
            s[k] += a[k] * y[k];
        }
    }
    for (k, (a, y)) in a4.remainder().iter().zip(y4.remainder()).enumerate() {
        s[k] += a * y;
    }
    (s[0] + s[1]) + (s[2] + s[3])
}

/// The number of partial sums of [`growth`].
pub const GROWTH_LANES: usize = 4;

/// `out_i = a_i y_i / (a · y)`: the allocation `a` after the period's price moves `y` (Jiang et
/// al. 2017, eq. 7), written into `out`.
///
/// Computed as `out_i = (a_i y_i) · (1 / g)` with one division per period, `g` = [`growth`]`(a, y)`
/// (each entry within 1.5 ulp of the quotient; the division per entry was what bounded the
/// back-test of a fixed portfolio). Every path of the crate drifts through this formula.
///
/// Uses the common prefix if the lengths differ.
pub fn drift(a: &[f64], y: &[f64], out: &mut [f64]) {
    drift_by(a, y, growth(a, y), out);
}

/// [`drift`] with the growth `g = a · y` already computed.
pub(crate) fn drift_by(a: &[f64], y: &[f64], g: f64, out: &mut [f64]) {
    let r = 1.0 / g;
    for ((o, a), y) in out.iter_mut().zip(a).zip(y) {
        *o = a * y * r;
    }
}

/// `w ← w ⊙ y / (w · y)`: [`drift`] in place (buy-and-hold's weights after a period), bit for bit
/// the same formula.
pub fn drift_in_place(w: &mut [f64], y: &[f64]) {
    let g = growth(w, y);
    drift_by_in_place(w, y, g);
}

/// [`drift_in_place`] with the growth `g = w · y` already computed.
pub(crate) fn drift_by_in_place(w: &mut [f64], y: &[f64], g: f64) {
    let r = 1.0 / g;
    for (wi, yi) in w.iter_mut().zip(y) {
        *wi = *wi * yi * r;
    }
}

/// `Σ_i |a_i − w'_i|`: the fraction of wealth traded when rebalancing the drifted allocation
/// `w_prev` (`w'`) to `a` (each unit moved between two assets counts twice: sold and bought).
///
/// Uses the common prefix if the lengths differ.
pub fn turnover(w_prev: &[f64], a: &[f64]) -> f64 {
    w_prev.iter().zip(a).map(|(w, a)| (w - a).abs()).sum()
}

/// `1 − c Σ_i |w_i − a_i|`: the linear transaction remainder factor (PGPortfolio's training
/// approximation, Jiang et al. 2017).
///
/// `w_prev` is the drifted allocation before trading, `a` the new one. Uses the common prefix if
/// the lengths differ. Not clamped: for `c ≤ 1/2` it lies in `[1 − 2c, 1]` on the simplex.
pub fn linear_remainder(w_prev: &[f64], a: &[f64], c: f64) -> f64 {
    1.0 - c * w_prev.iter().zip(a).map(|(w, a)| (w - a).abs()).sum::<f64>()
}

/// Convergence tolerance of [`transaction_remainder`] and [`transaction_remainder_per_side`]: the
/// returned `μ` is within this distance of the exact fixed point.
pub const REMAINDER_TOLERANCE: f64 = 1e-10;

/// Iteration cap of the fixed-point loop of [`transaction_remainder`] (a bisection finishes the
/// job in the rare case, `c` close to 1, where the contraction is too slow).
pub const REMAINDER_MAX_ITERATIONS: usize = 1000;

/// Checks that a commission rate lies in `[0, 1)`.
pub(crate) fn check_rate(c: f64) -> Result<()> {
    if c.is_finite() && (0.0..1.0).contains(&c) {
        Ok(())
    } else {
        Err(Error::param("fee", c, "the commission rate must lie in [0, 1)"))
    }
}

/// Checks the two allocations of a remainder computation: equal lengths, non-empty, finite.
fn check_pair(w_prev: &[f64], a: &[f64]) -> Result<()> {
    if a.len() != w_prev.len() {
        return Err(Error::shape("target allocation", w_prev.len(), a.len()));
    }
    if a.is_empty() {
        return Err(Error::InvalidAllocation {
            reason: "allocation is empty (m = 0)".to_string(),
        });
    }
    crate::error::check_finite("previous (drifted) allocation", w_prev)?;
    crate::error::check_finite("target allocation", a)
}

/// The exact transaction remainder factor `μ` of Jiang, Xu & Liang (2017), eq. 14, with equal
/// buying and selling commission `c` (PGPortfolio's `calculate_pv_after_commission`).
///
/// `w_prev` is the drifted allocation before trading (`w'`), `a` the target allocation. With
/// `cash = true`, index 0 is a cash asset (trading into or out of cash costs one commission only):
///
/// ```text
/// μ = [1 − c w'_0 − (2c − c²) Σ_{i≥1} max(w'_i − μ a_i, 0)] / (1 − c a_0)
/// ```
///
/// With `cash = false` every asset is risky (`w'_0 = a_0 = 0` in the formula, the sum runs over all
/// assets): `μ = 1 − (2c − c²) Σ_i max(w'_i − μ a_i, 0)`.
///
/// The right-hand side `f(μ)` is non-decreasing in `μ` with slope at most `k = 2c − c² < 1`, so it
/// is a contraction with a unique fixed point in `[(1 − c)², 1]`. The iteration starts from
/// `μ = 1` (PGPortfolio starts from `(1 − c)²`; from 1 the iterates decrease monotonically to the
/// fixed point, and `μ = 1` is returned exactly when nothing trades); it stops
/// when `|Δμ| ≤ 1e-10 · (1 − k)`, which bounds the distance to the fixed point by
/// [`REMAINDER_TOLERANCE`] = 1e-10. After [`REMAINDER_MAX_ITERATIONS`] iterations it finishes by
/// bisection. |μ − [`linear_remainder`]| ≤ c² up to
/// O(c³) terms.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the lengths differ, [`Error::InvalidAllocation`] for empty input
/// (or only a cash entry with `cash = true` is allowed: then `μ = 1`), [`Error::NonFinite`] for
/// NaN or infinite entries, [`Error::InvalidParameter`] (`fee`) for `c ∉ [0, 1)`.
pub fn transaction_remainder(w_prev: &[f64], a: &[f64], c: f64, cash: bool) -> Result<f64> {
    check_pair(w_prev, a)?;
    check_rate(c)?;
    if c == 0.0 {
        return Ok(1.0);
    }
    let (w0, a0, wr, ar) = if cash {
        (w_prev[0], a[0], &w_prev[1..], &a[1..])
    } else {
        (0.0, 0.0, w_prev, a)
    };
    Ok(fixed_point(w0, a0, wr, ar, c, 2.0 * c - c * c))
}

/// The exact transaction remainder factor `μ` of Jiang, Xu & Liang (2017), eq. 14, with buying
/// rate `buy` (`c_p`) and selling rate `sell` (`c_s`), every asset risky (no cash asset):
///
/// ```text
/// μ = 1 − (c_s + c_p − c_s c_p) Σ_i max(w'_i − μ a_i, 0)
/// ```
///
/// (eq. 14 with `w'_0 = a_0 = 0`: selling the excess `w'_i − μ a_i` of an asset leaves
/// `(1 − c_s)` of it, and buying with that leaves `(1 − c_p)` again, so only the round-trip rate
/// `k = c_s + c_p − c_s c_p = 1 − (1 − c_s)(1 − c_p)` enters). `w_prev` is the drifted allocation
/// `w'` before trading, `a` the target.
///
/// As for [`transaction_remainder`] the right-hand side is non-decreasing with slope at most
/// `k < 1`, a contraction whose unique fixed point lies in `[(1 − c_s)(1 − c_p), 1]` (the sum is
/// at most `Σ_i w'_i = 1`); the same iteration from `μ = 1`, stopping rule
/// `|Δμ| ≤ 1e-10 · (1 − k)` (distance to the fixed point ≤ [`REMAINDER_TOLERANCE`]) and bisection
/// fallback are used. With `buy = sell = c` the result is bit for bit
/// `transaction_remainder(w_prev, a, c, false)`.
///
/// # Errors
/// [`Error::ShapeMismatch`] if the lengths differ, [`Error::InvalidAllocation`] for empty input,
/// [`Error::NonFinite`] for NaN or infinite entries, [`Error::InvalidParameter`] (`fee`) for a
/// rate outside `[0, 1)`.
pub fn transaction_remainder_per_side(w_prev: &[f64], a: &[f64], buy: f64, sell: f64) -> Result<f64> {
    exact_remainder(Fee::PerSide { buy, sell }, w_prev, a, false)
}

/// The exact transaction remainder `μ` of Jiang, Xu & Liang (2017), eq. 14, of the exact fee
/// models: [`Fee::Exact`]`(c)` (buying and selling rate `c`) and [`Fee::PerSide`] (buying rate
/// `c_p`, selling rate `c_s`); any other model gives 1.
///
/// Without cash every entry of `w_prev` and `a` is an asset
/// ([`transaction_remainder_per_side`]); with `cash_last`, the last entry is a cash asset (a cash
/// account, [`crate::portfolio::Account::with_cash`]):
///
/// ```text
/// μ = [1 − c_p w'_c − (c_s + c_p − c_s c_p) Σ_{i<m} max(w'_i − μ a_i, 0)] / (1 − c_p a_c)
/// ```
///
/// `Fee::Exact(c)` is bit for bit [`transaction_remainder`]`(w_prev, a, c, false)` without cash
/// (`c + c = 2c` exactly), and with cash the same with the cash entry moved to the front.
///
/// # Errors
/// As [`transaction_remainder`].
pub(crate) fn exact_remainder(fee: Fee, w_prev: &[f64], a: &[f64], cash_last: bool) -> Result<f64> {
    check_pair(w_prev, a)?;
    let (buy, sell) = match fee {
        Fee::Exact(c) => (c, c),
        Fee::PerSide { buy, sell } => (buy, sell),
        _ => return Ok(1.0),
    };
    check_rate(buy)?;
    check_rate(sell)?;
    if buy == 0.0 && sell == 0.0 {
        return Ok(1.0);
    }
    let k = sell + buy - sell * buy;
    Ok(if cash_last {
        let m = a.len() - 1;
        fixed_point(w_prev[m], a[m], &w_prev[..m], &a[..m], buy, k)
    } else {
        fixed_point(0.0, 0.0, w_prev, a, buy, k)
    })
}

/// Solves `μ = clamp([1 − c_p w0 − k Σ_i max(wr_i − μ ar_i, 0)] / (1 − c_p a0), 0, 1)` for
/// `k ∈ (0, 1)`: iteration from 1 (a contraction of modulus `k`), bisection after
/// [`REMAINDER_MAX_ITERATIONS`] iterations.
fn fixed_point(w0: f64, a0: f64, wr: &[f64], ar: &[f64], c_p: f64, k: f64) -> f64 {
    let denom = 1.0 - c_p * a0;
    let f = |mu: f64| -> f64 {
        let s: f64 = wr.iter().zip(ar).map(|(w, a)| (w - mu * a).max(0.0)).sum();
        ((1.0 - c_p * w0 - k * s) / denom).clamp(0.0, 1.0)
    };
    let stop = REMAINDER_TOLERANCE * (1.0 - k);
    let mut mu = 1.0;
    for _ in 0..REMAINDER_MAX_ITERATIONS {
        let next = f(mu);
        if (next - mu).abs() <= stop {
            return next;
        }
        mu = next;
    }
    // g(μ) = f(μ) − μ is strictly decreasing with g(0) ≥ 0 ≥ g(1): bisect for its root.
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if f(mid) - mid > 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-15 {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// What one trading period did to the portfolio (see [`period_return`]).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TradingDay {
    /// `a · y`, the growth before costs.
    pub growth: f64,
    /// The transaction remainder factor `μ` of the multiplicative fee models (1 for
    /// [`Fee::None`], [`Fee::Additive`] and the free first purchase).
    pub remainder: f64,
    /// The fee `c τ` subtracted from the growth under [`Fee::Additive`] (0 otherwise).
    pub additive_fee: f64,
    /// `τ = Σ_i |a_i − w'_i|` (0 for the free first purchase).
    pub turnover: f64,
    /// The period return `r` (growth factor of wealth): `μ · a·y`, or `max(a·y − c τ, 0)` under
    /// [`Fee::Additive`].
    pub period_return: f64,
}

/// One period of a back-test: rebalance from the drifted allocation `drifted` (`w'`) to `a`, then
/// the prices move by `y`.
///
/// With `first_day` the purchase is free (turnover 0, `μ = 1`, `r = a·y`): the portfolio starts
/// from cash, as in universal-portfolios. Otherwise, by `fee`:
///
/// ```text
/// None             r = a·y
/// Linear(c)        r = max(1 − c τ, 0) · a·y
/// Exact(c)         r = μ · a·y,  μ = transaction_remainder(w', a, c, no cash)
/// PerSide(c_p,c_s) r = μ · a·y,  μ = transaction_remainder_per_side(w', a, c_p, c_s)
/// Additive(c)      r = max(a·y − c τ, 0)
/// ```
///
/// The drift is not applied here (see [`drift`]); `fee` is assumed valid ([`Fee::validate`]; the
/// exact models check their rates again).
///
/// # Errors
/// [`Error::ShapeMismatch`] when `drifted`, `a` and `y` differ in length; the errors of
/// [`transaction_remainder`] / [`transaction_remainder_per_side`].
pub fn period_return(fee: Fee, drifted: &[f64], a: &[f64], y: &[f64], first_day: bool) -> Result<TradingDay> {
    if y.len() != a.len() {
        return Err(Error::shape("price relatives of the period", a.len(), y.len()));
    }
    if drifted.len() != a.len() {
        return Err(Error::shape("drifted allocation", a.len(), drifted.len()));
    }
    let growth = growth(a, y);
    let mut day = TradingDay {
        growth,
        remainder: 1.0,
        additive_fee: 0.0,
        turnover: 0.0,
        period_return: growth,
    };
    if first_day {
        return Ok(day);
    }
    day.turnover = turnover(drifted, a);
    match fee {
        Fee::None => {}
        Fee::Linear(c) => day.remainder = linear_remainder(drifted, a, c).max(0.0),
        Fee::Exact(c) => day.remainder = transaction_remainder(drifted, a, c, false)?,
        Fee::PerSide { buy, sell } => day.remainder = transaction_remainder_per_side(drifted, a, buy, sell)?,
        Fee::Additive(c) => {
            day.additive_fee = c * day.turnover;
            day.period_return = (growth - day.additive_fee).max(0.0);
        }
    }
    if !matches!(fee, Fee::Additive(_)) {
        day.period_return = day.remainder * growth;
    }
    Ok(day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A small portable generator of simplex points for the tests below.
    fn points(seed: u64, n: usize, m: usize) -> Vec<Vec<f64>> {
        let mut s = seed;
        let mut uniform = || {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((s >> 11) as f64 / (1u64 << 53) as f64).max(1e-9)
        };
        (0..n)
            .map(|_| {
                let v: Vec<f64> = (0..m).map(|_| -uniform().ln()).collect();
                let t: f64 = v.iter().sum();
                v.iter().map(|x| x / t).collect()
            })
            .collect()
    }

    #[test]
    fn remainder_examples() {
        let w = [1.0, 0.0];
        let a = [0.0, 1.0];
        let c = 0.0025;
        let mu = transaction_remainder(&w, &a, c, false).unwrap();
        assert!((mu - (1.0 - c) * (1.0 - c)).abs() < 1e-12);
        assert_eq!(transaction_remainder(&a, &a, c, false).unwrap(), 1.0);
        assert!(transaction_remainder(&w, &a, 1.0, false).is_err());
        assert!(transaction_remainder(&w, &a[..1], c, false).is_err());
        // c close to 1 still converges (bisection fallback).
        let mu = transaction_remainder(&[0.7, 0.3], &[0.2, 0.8], 0.999, false).unwrap();
        assert!((0.0..=1.0).contains(&mu));
    }

    #[test]
    fn per_side_with_equal_rates_is_the_equal_rate_remainder_bit_for_bit() {
        let p = points(1, 60, 5);
        for (w, a) in p.iter().zip(p.iter().skip(1)) {
            for c in [0.0, 1e-4, 0.0025, 0.01, 0.2, 0.9] {
                let equal = transaction_remainder(w, a, c, false).unwrap();
                let sides = transaction_remainder_per_side(w, a, c, c).unwrap();
                assert_eq!(sides.to_bits(), equal.to_bits(), "c = {c}");
            }
        }
    }

    #[test]
    fn per_side_remainder_is_bounded_and_a_fixed_point() {
        let p = points(2, 80, 4);
        for (w, a) in p.iter().zip(p.iter().skip(1)) {
            for (buy, sell) in [
                (0.0025, 0.0),
                (0.0, 0.0025),
                (0.001, 0.004),
                (0.05, 0.01),
                (0.3, 0.6),
            ] {
                let mu = transaction_remainder_per_side(w, a, buy, sell).unwrap();
                let lower = (1.0 - sell) * (1.0 - buy);
                assert!(mu >= lower - 1e-12 && mu <= 1.0, "μ = {mu} for ({buy}, {sell})");
                let k = sell + buy - sell * buy;
                let s: f64 = w.iter().zip(a).map(|(w, a)| (w - mu * a).max(0.0)).sum();
                assert!((mu - (1.0 - k * s)).abs() <= 2.0 * REMAINDER_TOLERANCE);
                // Only the round-trip rate matters without cash: the sides are interchangeable.
                let swapped = transaction_remainder_per_side(w, a, sell, buy).unwrap();
                assert!((mu - swapped).abs() <= 2.0 * REMAINDER_TOLERANCE);
            }
            assert_eq!(transaction_remainder_per_side(w, w, 0.01, 0.02).unwrap(), 1.0);
        }
        // The largest trade (all of one asset into another) reaches the lower bound.
        let mu = transaction_remainder_per_side(&[1.0, 0.0], &[0.0, 1.0], 0.01, 0.03).unwrap();
        assert!((mu - 0.99 * 0.97).abs() < 1e-12);
    }

    #[test]
    fn per_side_rejects_bad_input() {
        let w = [0.5, 0.5];
        assert!(transaction_remainder_per_side(&w, &[1.0], 0.01, 0.01).is_err());
        assert!(transaction_remainder_per_side(&[], &[], 0.01, 0.01).is_err());
        assert!(transaction_remainder_per_side(&w, &[f64::NAN, 0.5], 0.01, 0.01).is_err());
        for (buy, sell) in [(1.0, 0.0), (0.0, -0.1), (f64::NAN, 0.0)] {
            assert!(transaction_remainder_per_side(&w, &[1.0, 0.0], buy, sell).is_err());
        }
    }

    #[test]
    fn growth_sums_four_partial_sums_then_pairs() {
        // Terms 1, 2^-53, 0, 0, 0, 2^-53: in order the two halves of an ulp are each lost
        // (1 + 2^-53 rounds to 1); in four partial sums they meet in s_1 first and survive.
        let h = f64::EPSILON / 2.0;
        let y = [1.0, h, 0.0, 0.0, 0.0, h];
        let in_order: f64 = y.iter().sum();
        assert_eq!(in_order, 1.0);
        assert_eq!(growth(&[1.0; 6], &y), 1.0 + f64::EPSILON);
        // Fewer entries than lanes: the empty partial sums are −0 and change nothing.
        assert_eq!(growth(&[1.0], &[0.0]), 0.0);
        assert_eq!(growth(&[0.5, 0.5], &[3.0, 1.0]), 2.0);
    }

    #[test]
    fn drift_turnover_and_period_return() {
        let a = [0.25, 0.75];
        let y = [2.0, 1.0];
        assert_eq!(growth(&a, &y), 1.25);
        let mut w = [0.0; 2];
        drift(&a, &y, &mut w);
        // (a ⊙ y) · (1/g): within 1.5 ulp of the quotients 0.5 / 1.25 and 0.75 / 1.25.
        for (wi, exact) in w.iter().zip([0.4, 0.6]) {
            assert!(
                (wi - exact).abs() <= 1.5 * f64::EPSILON * exact,
                "{wi} vs {exact}"
            );
        }
        let mut v = a;
        drift_in_place(&mut v, &y);
        assert_eq!(v, w);
        assert!((turnover(&w, &[0.5, 0.5]) - 0.2).abs() < 1e-15);

        let c = 0.01;
        let first = period_return(Fee::Exact(c), &w, &[0.5, 0.5], &y, true).unwrap();
        assert_eq!(
            (first.turnover, first.remainder, first.period_return),
            (0.0, 1.0, 1.5)
        );
        let lin = period_return(Fee::Linear(c), &w, &[0.5, 0.5], &y, false).unwrap();
        assert_eq!(lin.remainder, linear_remainder(&w, &[0.5, 0.5], c));
        assert_eq!(lin.period_return, lin.remainder * 1.5);
        let add = period_return(Fee::Additive(c), &w, &[0.5, 0.5], &y, false).unwrap();
        assert_eq!((add.remainder, add.additive_fee), (1.0, c * add.turnover));
        assert_eq!(add.period_return, 1.5 - c * add.turnover);
        let exact = period_return(Fee::Exact(c), &w, &[0.5, 0.5], &y, false).unwrap();
        let sides = period_return(Fee::PerSide { buy: c, sell: c }, &w, &[0.5, 0.5], &y, false).unwrap();
        assert_eq!(exact, sides);
        assert!(period_return(Fee::None, &w, &a, &y[..1], false).is_err());
        assert!(period_return(Fee::None, &w[..1], &a, &y, false).is_err());
    }
}
