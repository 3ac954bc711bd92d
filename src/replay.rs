//! Per-task replay (paper Algorithm 1: "Initialize replay buffers R_1, …, R_T", "Sample a random
//! minibatch B_t from R_t"; §6.2: minibatches of consecutive samples whose first index `n_b`
//! is drawn from a geometric distribution favouring recent samples, as in Jiang et al. 2017).
//!
//! Two pieces for the data-driven environments (the rolled-out ones, synthetic and federated,
//! keep their own per-task sample stores):
//! * [`IndexReplay`] — for data-driven environments (portfolio) whose "transitions" are the
//!   time indices `n ∈ [start, end)` of a fixed data set: a minibatch is the block
//!   `n_b, …, n_b + B − 1` and only `n_b` is random ([`StartDistribution`]).
//! * [`PortfolioVectorMemory`] — Jiang et al.'s PVM: the allocation last written for every time
//!   index, so a state that includes the previous allocation can be rebuilt for any sampled
//!   block without replaying the whole history.
//!
//! Each task owns its own instance of each (Algorithm 1 keeps separate buffers per task, updated
//! only when the task is used).

use crate::error::{check_finite, Error, Result};
use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};

// ---------------------------------------------------------------------------------------------
// Index replay with geometric starts
// ---------------------------------------------------------------------------------------------

/// PGPortfolio's default geometric bias `p` (`buffer_biased` = 5e-5): mean look-back
/// `1/p = 20 000` periods, i.e. close to uniform over data sets of a few thousand periods.
pub const PGPORTFOLIO_BIAS: f64 = 5e-5;

/// How the first index `n_b` of a minibatch of `B` consecutive indices is drawn.
///
/// With `R = end − start − B + 1` valid starts and `n_b = end − B − k`:
/// * `Uniform`: `k` uniform on `{0, …, R − 1}`.
/// * `Geometric { bias: p }` (Jiang et al. 2017, "online stochastic batch learning"):
///   `P(k) = (1 − p)^k p / (1 − (1 − p)^R)` for `k ∈ {0, …, R − 1}` — a geometric
///   distribution truncated to the valid range, so the most recent block (`k = 0`) is the most
///   likely and the odds fall by `1 − p` per period of look-back.
///
/// Convention relative to PGPortfolio (`marketdata/replaybuffer.py`): it draws
/// `k' ~ Geometric(p)` on `{1, 2, …}`, re-draws while `k' > end' − start'`, and starts at
/// `end' − k'` with `end' = (number of experiences) − B`. That is this distribution with
/// `k = k' − 1`, except that here the newest complete block (`n_b = end − B`) is included,
/// which PGPortfolio's indexing leaves out. Truncation by re-drawing gives exactly the
/// conditional law above; it is sampled here in O(1) by inverting its CDF instead of re-drawing
/// (which needs `1 / (1 − (1 − p)^R)` tries on average — 20 for `p = 5e-5`, `R = 1000`).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub enum StartDistribution {
    /// Every valid start equally likely.
    Uniform,
    /// Truncated geometric look-back with success probability `bias ∈ (0, 1]`.
    Geometric {
        /// The geometric parameter `p`: larger favours recent indices more strongly.
        bias: f64,
    },
}

impl Default for StartDistribution {
    /// `Geometric { bias: 5e-5 }`, PGPortfolio's default ([`PGPORTFOLIO_BIAS`]).
    fn default() -> Self {
        StartDistribution::Geometric {
            bias: PGPORTFOLIO_BIAS,
        }
    }
}

impl StartDistribution {
    /// Checks the parameter.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`bias`) unless `0 < bias ≤ 1`.
    pub fn validate(&self) -> Result<()> {
        match *self {
            StartDistribution::Uniform => Ok(()),
            StartDistribution::Geometric { bias } => check_bias(bias),
        }
    }

    /// Draws the look-back `k ∈ {0, …, range − 1}` (`range ≥ 1`, parameter already valid).
    fn draw_lookback<R: Rng + ?Sized>(&self, rng: &mut R, range: usize) -> usize {
        match *self {
            StartDistribution::Uniform => rng.random_range(0..range),
            StartDistribution::Geometric { bias } => {
                if bias >= 1.0 || range == 1 {
                    return 0;
                }
                // Inverse CDF of the truncated geometric law:
                //   P(k ≥ j) = 1 − (1 − (1 − p)^j) / c,   c = 1 − (1 − p)^R
                //   k = ⌊ ln(1 − U c) / ln(1 − p) ⌋,      U ~ Uniform[0, 1)
                let l = (-bias).ln_1p();
                let c = -(range as f64 * l).exp_m1();
                let u: f64 = rng.random::<f64>();
                let k = ((-u * c).ln_1p() / l).floor();
                // Rounding can only push k to R at the very top of the range.
                if k >= (range - 1) as f64 {
                    range - 1
                } else {
                    k as usize
                }
            }
        }
    }
}

fn check_bias(bias: f64) -> Result<()> {
    if bias > 0.0 && bias <= 1.0 {
        Ok(())
    } else {
        Err(Error::param("bias", bias, "geometric bias must be in (0, 1]"))
    }
}

/// The probability mass of look-back `k` under the truncated geometric law of
/// [`StartDistribution::Geometric`]:
///
/// ```text
/// P(k) = (1 − p)^k p / (1 − (1 − p)^range)   for 0 ≤ k < range,   0 for k ≥ range
/// ```
///
/// (computed with `ln_1p` / `exp_m1` so tiny `p` keeps its precision).
///
/// # Errors
/// [`Error::InvalidParameter`] (`bias`) unless `0 < bias ≤ 1`; (`range`) if `range == 0`.
pub fn geometric_pmf(k: usize, bias: f64, range: usize) -> Result<f64> {
    check_bias(bias)?;
    if range == 0 {
        return Err(Error::param("range", 0, "need at least one valid start"));
    }
    if k >= range {
        return Ok(0.0);
    }
    if bias == 1.0 {
        return Ok(if k == 0 { 1.0 } else { 0.0 });
    }
    let l = (-bias).ln_1p();
    let c = -(range as f64 * l).exp_m1();
    Ok((k as f64 * l).exp() * bias / c)
}

/// Replay over the time indices `n ∈ [start, end)` of a data-driven environment (§6.2): a
/// minibatch is `B` consecutive indices `n_b, …, n_b + B − 1` with `n_b` drawn by a
/// [`StartDistribution`].
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct IndexReplay {
    start: usize,
    end: usize,
    distribution: StartDistribution,
}

impl IndexReplay {
    /// Replay over `[start, end)`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`end`) if `end ≤ start`; the errors of
    /// [`StartDistribution::validate`].
    pub fn new(start: usize, end: usize, distribution: StartDistribution) -> Result<Self> {
        if end <= start {
            return Err(Error::param(
                "end",
                end,
                format!("index range [start, end) must be non-empty (start = {start})"),
            ));
        }
        distribution.validate()?;
        Ok(IndexReplay {
            start,
            end,
            distribution,
        })
    }

    /// The first index `start`.
    pub fn start(&self) -> usize {
        self.start
    }

    /// One past the last index, `end`.
    pub fn end(&self) -> usize {
        self.end
    }

    /// Number of indices `end − start`.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Always `false`: the range is non-empty.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// The start distribution.
    pub fn distribution(&self) -> StartDistribution {
        self.distribution
    }

    /// Grows the range to `[start, new_end)` as new data arrives (online learning).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`end`) if `new_end < end`.
    pub fn extend_to(&mut self, new_end: usize) -> Result<()> {
        if new_end < self.end {
            return Err(Error::param(
                "end",
                new_end,
                format!("the range can only grow (current end = {})", self.end),
            ));
        }
        self.end = new_end;
        Ok(())
    }

    /// Number of valid starts for minibatches of `B` indices: `R = end − start − B + 1`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`batch_size`) if `B == 0` or `B > end − start`.
    pub fn num_starts(&self, batch_size: usize) -> Result<usize> {
        if batch_size == 0 {
            return Err(Error::param("batch_size", 0, "minibatch size must be >= 1"));
        }
        if batch_size > self.len() {
            return Err(Error::param(
                "batch_size",
                batch_size,
                format!(
                    "minibatch size exceeds the {} indices in [{}, {})",
                    self.len(),
                    self.start,
                    self.end
                ),
            ));
        }
        Ok(self.len() - batch_size + 1)
    }

    /// Draws the first index `n_b = end − B − k ∈ [start, end − B]` of a block of `B`
    /// consecutive indices, `k` from the [`StartDistribution`]. O(1); one draw from `rng`.
    ///
    /// # Errors
    /// As [`IndexReplay::num_starts`].
    pub fn sample_start<R: Rng + ?Sized>(&self, rng: &mut R, batch_size: usize) -> Result<usize> {
        let range = self.num_starts(batch_size)?;
        let k = self.distribution.draw_lookback(rng, range);
        Ok(self.end - batch_size - k)
    }
}

// ---------------------------------------------------------------------------------------------
// Portfolio-vector memory
// ---------------------------------------------------------------------------------------------

/// Portfolio-Vector Memory (Jiang et al. 2017): for one task, the allocation vector
/// `(a_{1,n}, …, a_{m,n})` last written for every time index `n ∈ [0, len)`, initialised to the
/// uniform allocation `1/m`.
///
/// A learner sampling the block `n_b, …, n_b + B − 1` reads the previous allocations with
/// `get_batch(n_b − 1, B)` (the state's `w_{i,n−1}` component, possibly stale: written when that
/// index was last visited) and writes the new ones with `set_batch(n_b, …)`. Reusable by any
/// environment whose state includes the previous allocation. Storage: `len · m` f64, row-major.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PortfolioVectorMemory {
    len: usize,
    entities: usize,
    data: Vec<f64>,
}

impl PortfolioVectorMemory {
    /// A memory of `len` time indices and `m = entities` entries each, all `1/m`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`len` or `entities`) if either is 0; [`Error::Overflow`] if
    /// `len · m` overflows or cannot be allocated.
    pub fn new(len: usize, entities: usize) -> Result<Self> {
        if len == 0 {
            return Err(Error::param("len", 0, "need at least one time index"));
        }
        if entities == 0 {
            return Err(Error::param("entities", 0, "need at least one entity"));
        }
        let size = len.checked_mul(entities).ok_or_else(|| Error::Overflow {
            what: format!("portfolio-vector memory size {len} x {entities}"),
        })?;
        let mut data = Vec::new();
        data.try_reserve_exact(size).map_err(|_| Error::Overflow {
            what: format!("cannot allocate a {len} x {entities} portfolio-vector memory"),
        })?;
        data.resize(size, 1.0 / entities as f64);
        Ok(PortfolioVectorMemory { len, entities, data })
    }

    /// Number of time indices.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Always `false`: the memory has at least one index.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Entries per allocation, `m`.
    pub fn entities(&self) -> usize {
        self.entities
    }

    /// Resets every allocation to `1/m`.
    pub fn reset(&mut self) {
        let u = 1.0 / self.entities as f64;
        self.data.fill(u);
    }

    fn block(&self, n: usize, rows: usize) -> Result<std::ops::Range<usize>> {
        match n.checked_add(rows) {
            Some(stop) if stop <= self.len => Ok(n * self.entities..stop * self.entities),
            _ => Err(Error::param(
                "index",
                n,
                format!(
                    "rows [{n}, {n} + {rows}) exceed the portfolio-vector memory's {} indices",
                    self.len
                ),
            )),
        }
    }

    /// The allocation stored for index `n` (`m` entries).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`index`) if `n ≥ len`.
    pub fn get(&self, n: usize) -> Result<&[f64]> {
        let r = self.block(n, 1)?;
        Ok(&self.data[r])
    }

    /// The allocations of indices `n_b, …, n_b + B − 1`, row-major `B × m`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] (`index`) if `n_b + B > len`.
    pub fn get_batch(&self, n_b: usize, batch_size: usize) -> Result<&[f64]> {
        let r = self.block(n_b, batch_size)?;
        Ok(&self.data[r])
    }

    /// Stores `values` (row-major `B × m`, `B = values.len() / m`) as the allocations of indices
    /// `n_b, …, n_b + B − 1`. Values are not checked to lie on the simplex, only to be finite.
    ///
    /// # Errors
    /// Nothing is written on error:
    /// - [`Error::ShapeMismatch`] if `values.len()` is not a multiple of `m`;
    /// - [`Error::InvalidParameter`] (`index`) if `n_b + B > len`;
    /// - [`Error::NonFinite`] (`allocations`) naming the first NaN or infinite value.
    pub fn set_batch(&mut self, n_b: usize, values: &[f64]) -> Result<()> {
        let m = self.entities;
        if !values.len().is_multiple_of(m) {
            return Err(Error::shape(
                "allocations (batch x entities)",
                values.len().div_ceil(m) * m,
                values.len(),
            ));
        }
        let r = self.block(n_b, values.len() / m)?;
        check_finite("allocations", values)?;
        self.data[r].copy_from_slice(values);
        Ok(())
    }

    /// Stores one allocation for index `n`.
    ///
    /// # Errors
    /// As [`PortfolioVectorMemory::set_batch`] (shape: `values.len() ≠ m`).
    pub fn set(&mut self, n: usize, values: &[f64]) -> Result<()> {
        if values.len() != self.entities {
            return Err(Error::shape("allocation", self.entities, values.len()));
        }
        self.set_batch(n, values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn starts_stay_in_range() {
        let mut rng = ChaCha8Rng::seed_from_u64(2);
        for dist in [
            StartDistribution::Uniform,
            StartDistribution::Geometric { bias: 0.3 },
            StartDistribution::Geometric { bias: 1.0 },
            StartDistribution::Geometric { bias: 1e-300 },
            StartDistribution::default(),
        ] {
            let r = IndexReplay::new(10, 60, dist).unwrap();
            for _ in 0..2000 {
                let n = r.sample_start(&mut rng, 7).unwrap();
                assert!((10..=53).contains(&n), "{dist:?}: {n}");
            }
            assert_eq!(r.sample_start(&mut rng, 50).unwrap(), 10);
            assert!(r.sample_start(&mut rng, 51).is_err());
            assert!(r.sample_start(&mut rng, 0).is_err());
        }
        assert_eq!(
            IndexReplay::new(0, 9, StartDistribution::Geometric { bias: 1.0 })
                .unwrap()
                .sample_start(&mut rng, 3)
                .unwrap(),
            6
        );
        assert!(IndexReplay::new(5, 5, StartDistribution::Uniform).is_err());
        assert!(IndexReplay::new(0, 5, StartDistribution::Geometric { bias: 0.0 }).is_err());
    }

    #[test]
    fn pmf_sums_to_one() {
        for (p, r) in [(0.3, 10), (5e-5, 1000), (1.0, 4), (1e-12, 7)] {
            let s: f64 = (0..r).map(|k| geometric_pmf(k, p, r).unwrap()).sum();
            assert!((s - 1.0).abs() < 1e-9, "{p} {r}: {s}");
        }
        assert_eq!(geometric_pmf(10, 0.5, 10).unwrap(), 0.0);
        assert!(geometric_pmf(0, 1.5, 10).is_err());
        assert!(geometric_pmf(0, 0.5, 0).is_err());
    }

    #[test]
    fn pvm() {
        let mut p = PortfolioVectorMemory::new(5, 4).unwrap();
        assert_eq!(p.get(4).unwrap(), &[0.25; 4]);
        p.set_batch(3, &[0.1, 0.2, 0.3, 0.4, 0.4, 0.3, 0.2, 0.1]).unwrap();
        assert_eq!(p.get(3).unwrap(), &[0.1, 0.2, 0.3, 0.4]);
        assert_eq!(p.get_batch(2, 2).unwrap()[..4], [0.25; 4]);
        assert!(p.set_batch(4, &[0.25; 8]).is_err());
        assert!(p.set_batch(0, &[0.25; 7]).is_err());
        assert!(p.set_batch(0, &[f64::NAN, 0.0, 0.0, 1.0]).is_err());
        assert!(p.get(5).is_err());
        assert!(p.get_batch(usize::MAX, 2).is_err());
        assert!(PortfolioVectorMemory::new(usize::MAX, 2).is_err());
    }
}
