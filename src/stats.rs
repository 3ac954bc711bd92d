//! Statistics for reports over repeated experiments: sample means and standard deviations
//! (`n − 1`), Student-t 95 % confidence intervals, paired differences and the sign test.
//!
//! ```text
//! x̄ = (1/n) Σ x_k,   s² = Σ (x_k − x̄)² / (n − 1),   CI₉₅ = x̄ ± t_{0.975, n−1} · s / √n
//! sign test: p = 2 · P[Bin(n₊ + n₋, ½) ≤ min(n₊, n₋)]   (zeros dropped, capped at 1)
//! ```

use serde::{Deserialize, Serialize};

/// Mean of `xs` (NaN when empty).
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        f64::NAN
    } else {
        xs.iter().sum::<f64>() / xs.len() as f64
    }
}

/// Sample standard deviation with the `n − 1` denominator (NaN for fewer than 2 values).
pub fn sample_sd(xs: &[f64]) -> f64 {
    if xs.len() < 2 {
        return f64::NAN;
    }
    let m = mean(xs);
    (xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (xs.len() - 1) as f64).sqrt()
}

/// The `q`-quantile of `xs` (`0 ≤ q ≤ 1`) by linear interpolation between order statistics
/// (type 7 of Hyndman & Fan, R's and numpy's default); NaN when empty. Non-finite values sort
/// by `total_cmp`.
pub fn quantile(xs: &[f64], q: f64) -> f64 {
    if xs.is_empty() || !(0.0..=1.0).contains(&q) {
        return f64::NAN;
    }
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    let h = q * (v.len() - 1) as f64;
    let (lo, hi) = (h.floor() as usize, h.ceil() as usize);
    v[lo] + (h - lo as f64) * (v[hi] - v[lo])
}

/// Two-sided 95 % quantile `t_{0.975, df}` of Student's t distribution (`df ≥ 1`).
///
/// Exact to the printed digits of the standard tables for `df ≤ 30`; above, the
/// Cornish–Fisher expansion `z + (z³ + z)/(4 df) + (5z⁵ + 16z³ + 3z)/(96 df²)` with
/// `z = 1.959964`, within 2·10⁻⁴ of the exact value.
pub fn t_quantile_975(df: usize) -> f64 {
    const TABLE: [f64; 30] = [
        12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281, 2.2010, 2.1788,
        2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860, 2.0796, 2.0739, 2.0687, 2.0639,
        2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
    ];
    match df {
        0 => f64::NAN,
        1..=30 => TABLE[df - 1],
        _ => {
            let z: f64 = 1.959_964;
            let d = df as f64;
            z + (z.powi(3) + z) / (4.0 * d) + (5.0 * z.powi(5) + 16.0 * z.powi(3) + 3.0 * z) / (96.0 * d * d)
        }
    }
}

/// A mean with its 95 % t interval over `n` values.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Number of values.
    pub n: usize,
    /// Sample mean.
    pub mean: f64,
    /// Sample standard deviation (`n − 1`).
    pub sd: f64,
    /// Lower end of the 95 % interval.
    pub lo: f64,
    /// Upper end of the 95 % interval.
    pub hi: f64,
}

impl Interval {
    /// `x̄ ± t_{0.975, n−1} s/√n`; with one value the interval is NaN-wide (unknown), with none
    /// everything is NaN.
    pub fn t95(xs: &[f64]) -> Interval {
        let n = xs.len();
        let m = mean(xs);
        let sd = sample_sd(xs);
        let half = if n >= 2 {
            t_quantile_975(n - 1) * sd / (n as f64).sqrt()
        } else {
            f64::NAN
        };
        Interval {
            n,
            mean: m,
            sd,
            lo: m - half,
            hi: m + half,
        }
    }

    /// Whether the whole interval lies above zero.
    pub fn above_zero(&self) -> bool {
        self.lo > 0.0
    }
}

/// The result of a two-sided sign test on paired differences.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct SignTest {
    /// Differences above zero.
    pub positive: usize,
    /// Differences below zero.
    pub negative: usize,
    /// Two-sided p-value under `P(difference > 0) = ½` (ties dropped).
    pub p_value: f64,
}

/// Two-sided sign test of `diffs` (exact binomial; zeros are dropped).
pub fn sign_test(diffs: &[f64]) -> SignTest {
    let positive = diffs.iter().filter(|&&d| d > 0.0).count();
    let negative = diffs.iter().filter(|&&d| d < 0.0).count();
    let n = positive + negative;
    let k = positive.min(negative);
    // P[Bin(n, ½) ≤ k] = Σ_{j ≤ k} C(n, j) / 2ⁿ, accumulated in logs to stay finite for large n.
    let ln_half_n = -(n as f64) * std::f64::consts::LN_2;
    let mut ln_c = 0.0; // ln C(n, 0)
    let mut tail = 0.0;
    for j in 0..=k {
        if j > 0 {
            ln_c += ((n - j + 1) as f64).ln() - (j as f64).ln();
        }
        tail += (ln_c + ln_half_n).exp();
    }
    SignTest {
        positive,
        negative,
        p_value: if n == 0 { 1.0 } else { (2.0 * tail).min(1.0) },
    }
}

/// Paired differences `a_k − b_k` with their t interval and sign test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Paired {
    /// The differences.
    pub diffs: Vec<f64>,
    /// Their mean and 95 % interval.
    pub interval: Interval,
    /// Their sign test.
    pub sign: SignTest,
}

/// Pairs `a` and `b` element by element (the shorter length wins).
pub fn paired(a: &[f64], b: &[f64]) -> Paired {
    let diffs: Vec<f64> = a.iter().zip(b).map(|(x, y)| x - y).collect();
    Paired {
        interval: Interval::t95(&diffs),
        sign: sign_test(&diffs),
        diffs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_by_hand() {
        // x̄ = 3, s = √2.5 = 1.58114, half = 2.7764 · 1.58114 / √5 = 1.96324.
        let i = Interval::t95(&[1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(i.n, 5);
        assert!((i.mean - 3.0).abs() < 1e-12);
        assert!((i.sd - 1.581_139).abs() < 1e-6);
        assert!((i.hi - 4.963_24).abs() < 1e-4, "{}", i.hi);
        assert!((i.lo - 1.036_76).abs() < 1e-4, "{}", i.lo);
        assert!(Interval::t95(&[1.0]).lo.is_nan());
    }

    #[test]
    fn t_quantiles_match_tables_across_the_switch() {
        assert!((t_quantile_975(10) - 2.2281).abs() < 1e-4);
        // Exact: df 40 → 2.0211, df 60 → 2.0003, df 120 → 1.9799.
        for (df, exact) in [(31, 2.0395), (40, 2.0211), (60, 2.0003), (120, 1.9799)] {
            assert!(
                (t_quantile_975(df) - exact).abs() < 2e-4,
                "df {df}: {}",
                t_quantile_975(df)
            );
        }
        assert!(t_quantile_975(100_000) > 1.9599 && t_quantile_975(100_000) < 1.9601);
    }

    #[test]
    fn sign_test_by_hand() {
        // 9 of 10 positive: p = 2 · (1 + 10) / 1024.
        let mut d = vec![1.0; 9];
        d.push(-1.0);
        d.push(0.0); // dropped
        let s = sign_test(&d);
        assert_eq!((s.positive, s.negative), (9, 1));
        assert!((s.p_value - 22.0 / 1024.0).abs() < 1e-12);
        assert_eq!(sign_test(&[1.0, -1.0]).p_value, 1.0);
        assert_eq!(sign_test(&[]).p_value, 1.0);
        // 1000 positive, 0 negative: p = 2^-999, tiny but finite and positive.
        let s = sign_test(&vec![1.0; 1000]);
        assert!(s.p_value > 0.0 && s.p_value < 1e-300);
    }

    #[test]
    fn quantiles_interpolate() {
        let x = [4.0, 1.0, 3.0, 2.0];
        assert_eq!(quantile(&x, 0.0), 1.0);
        assert_eq!(quantile(&x, 1.0), 4.0);
        assert!((quantile(&x, 0.25) - 1.75).abs() < 1e-12);
        assert!((quantile(&x, 0.5) - 2.5).abs() < 1e-12);
        assert!(quantile(&[], 0.5).is_nan());
    }

    #[test]
    fn paired_differences() {
        let p = paired(&[2.0, 3.0, 5.0], &[1.0, 1.0, 1.0]);
        assert_eq!(p.diffs, vec![1.0, 2.0, 4.0]);
        assert!((p.interval.mean - 7.0 / 3.0).abs() < 1e-12);
        assert_eq!(p.sign.positive, 3);
    }
}
