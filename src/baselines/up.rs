//! UP: Cover's universal portfolio (Cover 1991), evaluated by Monte Carlo over constant
//! rebalanced portfolios as universal-portfolios 0.4.17 does.
//!
//! T. M. Cover, "Universal portfolios", Mathematical Finance 1(1), 1–29, 1991 (eq. 1.3 with the
//! uniform prior). The universal portfolio is the wealth-weighted mean of all CRPs `w ∈ Δ`:
//!
//! ```text
//! b_{n+1} = ∫ w S_n(w) dμ(w) / ∫ S_n(w) dμ(w),     S_n(w) = Π_{k ≤ n} w·y_k
//! ```
//!
//! The integral over the uniform (Dirichlet(1)) measure is replaced by the mean over `P` random
//! points `w_1 … w_P` of the simplex, kept for the whole run with their wealths:
//!
//! ```text
//! S_j ← S_j (w_j·y_n),      b_{n+1} = Σ_j S_j w_j / Σ_j S_j · 1      (b_0 uniform)
//! ```
//!
//! Each point is drawn as universal-portfolios' `mc_simplex` draws it: the `m − 1` coordinates of a
//! row of uniform draws are sorted, padded with 0 and 1, and differenced. The uniform draws come
//! from a Mersenne Twister MT19937 seeded like `numpy.random.seed(seed)` and read like numpy's
//! legacy `random_sample` (53-bit doubles), so `seed = 0` reproduces the reference runs
//! (`np.random.seed(0)` before each run) up to summation order. With `leverage > 1` the points are
//! stretched away from the centre, `w ← (w − 1/m)·s + 1/m` with `s = (L − 1/m)/(1 − 1/m)`
//! (`L = max(leverage, 1/m)`; negative weights are then possible, so only `leverage ≤ 1` gives
//! allocations on the simplex). O(P·m) per day.

use super::{check_assets, check_day, check_out, OnlineStrategy};
use crate::error::{Error, Result};
use serde::Serialize;

/// universal-portfolios' default number of Monte-Carlo points of UP.
pub const UP_DEFAULT_EVAL_POINTS: usize = 10_000;

/// The parameters of [`Up`] (recorded in a run's configuration).
#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub struct UpParams {
    /// Number `P` of random CRPs.
    pub eval_points: usize,
    /// Leverage `L` (1 = the simplex).
    pub leverage: f64,
    /// Seed of the MT19937 generator (numpy's `np.random.seed`).
    pub seed: u32,
}

/// Cover's universal portfolio by Monte Carlo; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct Up {
    params: UpParams,
    assets: usize,
    /// The points `w_j`, `[point][asset]` row-major.
    points: Vec<f64>,
    /// Their wealths `S_j`, rescaled by powers of two (exactly) to stay near 1.
    wealth: Vec<f64>,
    b: Vec<f64>,
    seen: usize,
}

impl Up {
    /// UP with `eval_points` ≥ 1 random CRPs, `leverage` (finite, > 0) and generator `seed`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`eval_points` or `leverage`) outside those ranges.
    pub fn new(eval_points: usize, leverage: f64, seed: u32) -> Result<Up> {
        if eval_points == 0 {
            return Err(Error::param(
                "eval_points",
                eval_points,
                "UP needs at least one evaluation point",
            ));
        }
        if !(leverage.is_finite() && leverage > 0.0) {
            return Err(Error::param(
                "leverage",
                leverage,
                "the leverage must be finite and > 0",
            ));
        }
        Ok(Up {
            params: UpParams {
                eval_points,
                leverage,
                seed,
            },
            assets: 0,
            points: Vec::new(),
            wealth: Vec::new(),
            b: Vec::new(),
            seen: 0,
        })
    }

    /// The parameters.
    pub fn params(&self) -> UpParams {
        self.params
    }
}

impl Default for Up {
    /// 10 000 points, leverage 1, seed 0 (universal-portfolios 0.4.17 after `np.random.seed(0)`).
    fn default() -> Up {
        Up {
            params: UpParams {
                eval_points: UP_DEFAULT_EVAL_POINTS,
                leverage: 1.0,
                seed: 0,
            },
            assets: 0,
            points: Vec::new(),
            wealth: Vec::new(),
            b: Vec::new(),
            seen: 0,
        }
    }
}

/// Draws `points` points of the `m`-simplex as `mc_simplex(m − 1, points)` does.
fn mc_simplex(m: usize, points: usize, rng: &mut Mt19937) -> Vec<f64> {
    let mut out = Vec::with_capacity(points * m);
    let mut row = vec![0.0; m.saturating_sub(1)];
    for _ in 0..points {
        row.iter_mut().for_each(|u| *u = rng.next_f64());
        row.sort_unstable_by(f64::total_cmp);
        let mut prev = 0.0;
        for &u in &row {
            out.push(u - prev);
            prev = u;
        }
        out.push(1.0 - prev);
    }
    out
}

impl OnlineStrategy for Up {
    fn name(&self) -> String {
        let p = &self.params;
        if p.leverage == 1.0 {
            format!("UP ({} points, seed {})", p.eval_points, p.seed)
        } else {
            format!(
                "UP ({} points, leverage {}, seed {})",
                p.eval_points, p.leverage, p.seed
            )
        }
    }

    fn reset(&mut self, assets: usize) -> Result<()> {
        check_assets(assets)?;
        let m = assets;
        let p = self.params.eval_points;
        let mut rng = Mt19937::new(self.params.seed);
        self.points = mc_simplex(m, p, &mut rng);
        if m > 1 {
            let inv_m = 1.0 / m as f64;
            let leverage = self.params.leverage.max(inv_m);
            let stretch = (leverage - inv_m) / (1.0 - inv_m);
            // Applied even for leverage 1 (stretch = 1), as the package does: w − 1/m + 1/m can
            // differ from w in the last bit.
            self.points
                .iter_mut()
                .for_each(|w| *w = (*w - inv_m) * stretch + inv_m);
        }
        self.wealth = vec![1.0; p];
        self.b = crate::simplex::uniform(m);
        self.assets = m;
        self.seen = 0;
        Ok(())
    }

    fn weights(&mut self, out: &mut [f64]) -> Result<()> {
        check_out(out, self.b.len())?;
        out.copy_from_slice(&self.b);
        Ok(())
    }

    fn observe(&mut self, y: &[f64]) -> Result<()> {
        check_day(y, self.b.len(), self.seen)?;
        self.seen += 1;
        let m = self.assets;
        self.b.fill(0.0);
        let mut max_s = 0.0_f64;
        for (s, w) in self.wealth.iter_mut().zip(self.points.chunks_exact(m)) {
            let wy = dot4(w, y);
            *s *= wy;
            max_s = max_s.max(s.abs());
            for (b, wi) in self.b.iter_mut().zip(w) {
                *b += *s * wi;
            }
        }
        let total: f64 = self.b.iter().sum();
        self.b.iter_mut().for_each(|b| *b /= total);
        // Rescale the wealths by a power of two (exact) so that they neither overflow nor
        // underflow over long runs; b is invariant.
        if max_s > 0.0 && max_s.is_finite() {
            let k = max_s.log2().round();
            if k.abs() >= 64.0 {
                let scale = (-k).exp2();
                self.wealth.iter_mut().for_each(|s| *s *= scale);
            }
        }
        Ok(())
    }
}

/// Dot product with four independent accumulators (vectorises; the summation order differs from
/// a sequential sum in the last bits only).
fn dot4(a: &[f64], b: &[f64]) -> f64 {
    let mut acc = [0.0; 4];
    let (ca, cb) = (a.chunks_exact(4), b.chunks_exact(4));
    let tail: f64 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..4 {
            acc[k] += x[k] * y[k];
        }
    }
    (acc[0] + acc[1]) + (acc[2] + acc[3]) + tail
}

/// The Mersenne Twister MT19937 (Matsumoto & Nishimura 1998), seeded by `init_genrand` as
/// numpy's `RandomState.seed(int)`, with numpy's 53-bit `random_sample` doubles.
#[derive(Clone, Debug)]
pub struct Mt19937 {
    state: [u32; 624],
    pos: usize,
}

impl Mt19937 {
    /// The generator after `init_genrand(seed)` (= `np.random.seed(seed)`).
    pub fn new(seed: u32) -> Mt19937 {
        let mut state = [0u32; 624];
        state[0] = seed;
        for i in 1..624 {
            let prev = state[i - 1];
            state[i] = 1_812_433_253u32
                .wrapping_mul(prev ^ (prev >> 30))
                .wrapping_add(i as u32);
        }
        Mt19937 { state, pos: 624 }
    }

    fn twist(&mut self) {
        const UPPER: u32 = 0x8000_0000;
        const LOWER: u32 = 0x7fff_ffff;
        const MATRIX_A: u32 = 0x9908_b0df;
        for i in 0..624 {
            let y = (self.state[i] & UPPER) | (self.state[(i + 1) % 624] & LOWER);
            let mut v = self.state[(i + 397) % 624] ^ (y >> 1);
            if y & 1 != 0 {
                v ^= MATRIX_A;
            }
            self.state[i] = v;
        }
        self.pos = 0;
    }

    /// The next 32-bit output (tempered).
    pub fn next_u32(&mut self) -> u32 {
        if self.pos >= 624 {
            self.twist();
        }
        let mut y = self.state[self.pos];
        self.pos += 1;
        y ^= y >> 11;
        y ^= (y << 7) & 0x9d2c_5680;
        y ^= (y << 15) & 0xefc6_0000;
        y ^ (y >> 18)
    }

    /// A uniform double in `[0, 1)` with 53 random bits (numpy's `random_sample`).
    pub fn next_f64(&mut self) -> f64 {
        let a = (self.next_u32() >> 5) as f64;
        let b = (self.next_u32() >> 6) as f64;
        (a * 67_108_864.0 + b) / 9_007_199_254_740_992.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mt19937_matches_numpy_seed_0() {
        // np.random.seed(0); np.random.random(3)
        let mut rng = Mt19937::new(0);
        assert_eq!(rng.next_f64(), 0.5488135039273248);
        assert_eq!(rng.next_f64(), 0.7151893663724195);
        assert_eq!(rng.next_f64(), 0.6027633760716439);
    }

    #[test]
    fn points_lie_on_the_simplex() {
        let mut rng = Mt19937::new(7);
        let w = mc_simplex(4, 100, &mut rng);
        for row in w.chunks_exact(4) {
            assert!(row.iter().all(|&x| x >= 0.0));
            assert!((row.iter().sum::<f64>() - 1.0).abs() < 1e-15);
        }
    }

    #[test]
    fn one_point_is_its_crp_and_two_assets_follow_the_winner() {
        // With a single point, UP holds that CRP from day 1 on.
        let mut up = Up::new(1, 1.0, 3).unwrap();
        up.reset(2).unwrap();
        let w0 = up.points[0];
        up.observe(&[2.0, 0.5]).unwrap();
        let mut out = [0.0; 2];
        up.weights(&mut out).unwrap();
        assert!((out[0] - w0).abs() < 1e-15);
        // With many points, a day where asset 0 doubles moves UP towards asset 0:
        // E[w S] / E[S] with S = 1 + w (w ~ U(0,1)) gives (1/2 + 1/3)/(3/2) = 5/9.
        let mut up = Up::new(200_000, 1.0, 0).unwrap();
        up.reset(2).unwrap();
        up.observe(&[2.0, 1.0]).unwrap();
        up.weights(&mut out).unwrap();
        assert!((out[0] - 5.0 / 9.0).abs() < 3e-3, "{out:?}");
    }

    #[test]
    fn rejects_bad_parameters() {
        assert!(Up::new(0, 1.0, 0).is_err());
        assert!(Up::new(10, 0.0, 0).is_err());
        assert!(Up::new(10, f64::NAN, 0).is_err());
        assert_eq!(Up::default().params().eval_points, 10_000);
        let mut up = Up::default();
        assert!(up.reset(0).is_err());
        up.reset(1).unwrap();
        let mut out = [0.0; 1];
        up.observe(&[1.1]).unwrap();
        up.weights(&mut out).unwrap();
        assert_eq!(out, [1.0]);
    }
}
