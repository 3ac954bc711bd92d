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

/// Two-sided 95 % critical values `t_{0.975, ν}` of Student's t for ν = 1 … 30.
const T975: [f64; 30] = [
    12.706_205, 4.302_653, 3.182_446, 2.776_445, 2.570_582, 2.446_912, 2.364_624, 2.306_004, 2.262_157,
    2.228_139, 2.200_985, 2.178_813, 2.160_369, 2.144_787, 2.131_450, 2.119_905, 2.109_816, 2.100_922,
    2.093_024, 2.085_963, 2.079_614, 2.073_873, 2.068_658, 2.063_899, 2.059_539, 2.055_529, 2.051_831,
    2.048_407, 2.045_230, 2.042_272,
];

/// Two-sided 95 % quantile `t_{0.975, df}` of Student's t distribution: a table (6 decimals)
/// for `df ≤ 30`, otherwise the Cornish–Fisher expansion around `z = 1.959964`,
/// `z + (z³+z)/(4ν) + (5z⁵+16z³+3z)/(96ν²) + (3z⁷+19z⁵+17z³−15z)/(384ν³)` (error < 1e-5 for
/// ν > 30). NaN for `df = 0` (no interval from one value).
pub fn t_quantile_975(df: usize) -> f64 {
    let z: f64 = 1.959_963_984_540_054;
    match df {
        0 => f64::NAN,
        1..=30 => T975[df - 1],
        _ => {
            let v = df as f64;
            let (z3, z5, z7) = (z.powi(3), z.powi(5), z.powi(7));
            z + (z3 + z) / (4.0 * v)
                + (5.0 * z5 + 16.0 * z3 + 3.0 * z) / (96.0 * v * v)
                + (3.0 * z7 + 19.0 * z5 + 17.0 * z3 - 15.0 * z) / (384.0 * v * v * v)
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
        // Six-digit table values (R's qt(0.975, df)) on both sides of the switch at 30.
        for (df, t) in [
            (3, 3.182_446),
            (9, 2.262_157),
            (30, 2.042_272),
            (31, 2.039_513),
            (49, 2.009_575),
            (1000, 1.962_339),
        ] {
            assert!((t_quantile_975(df) - t).abs() < 1e-5, "df {df}");
        }
        assert!(t_quantile_975(0).is_nan());
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
