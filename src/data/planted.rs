//! A generated market with a planted, learnable signal: the controlled experiment for the paper's
//! sample-efficiency claim (§4 Corollaries 1–2, §6.2).
//!
//! Every asset follows the same process, independently of the others, so every task (a subset of
//! `m` assets) is the same MDP up to a relabelling of the assets: the Bellman difference between
//! tasks is ε = 0, the case where Theorem 1 says pooling helps most.
//!
//! Asset `i`'s daily log-return on day `n` is
//!
//! ```text
//! ln y_{n,i} = s_{n,i} · d + σ · ε_{n,i} − σ² / 2,     ε_{n,i} ~ N(0, 1)
//! ```
//!
//! with a regime `s_{n,i} ∈ {−1, +1}` that flips with probability `1 / L` each day (`L` = the mean
//! regime length in days) and starts at ±1 with equal probability. The `−σ²/2` makes the price a
//! martingale within a regime at `d = 0`. A reader of the recent window can tell the regime (the
//! time-series momentum rule of [`crate::baselines::Momentum`] does), so at `d > 0` there is
//! something to learn; at `d = 0` there is nothing, which is the experiment's weak-signal end.
//!
//! Written on the command line as `--data planted` or
//! `--data planted:assets=20,days=3000,drift=0.0025,noise=0.01,regime=40,seed=0` (any subset of
//! the keys, in any order).

use super::prices::PriceData;
use crate::error::{Error, Result};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// The parameters of a planted market.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PlantedMarket {
    /// Number of assets.
    pub assets: usize,
    /// Number of days (rows of relatives).
    pub days: usize,
    /// Per-day drift `d` of a regime (the signal), `≥ 0`.
    pub drift: f64,
    /// Per-day noise `σ` of the log-return, `≥ 0`.
    pub noise: f64,
    /// Mean regime length `L` in days (`≥ 1`): a regime flips with probability `1/L` each day.
    pub regime: f64,
    /// Seed of the generator.
    pub seed: u64,
}

impl Default for PlantedMarket {
    /// The exchangeable market of issue #16: 20 assets, 3000 days, `d = 0.0025`, `σ = 0.01`,
    /// `L = 40`.
    fn default() -> Self {
        PlantedMarket {
            assets: 20,
            days: 3000,
            drift: 0.0025,
            noise: 0.01,
            regime: 40.0,
            seed: 0,
        }
    }
}

/// The prefix that marks a planted-market spec in `--data`.
pub const PREFIX: &str = "planted";

impl PlantedMarket {
    /// Whether a `--data` value names a planted market (`planted` or `planted:…`).
    pub fn is_spec(spec: &str) -> bool {
        spec == PREFIX || spec.starts_with("planted:")
    }

    /// Parses `planted[:key=value,…]` (keys: `assets`, `days`, `drift`, `noise`, `regime`,
    /// `seed`); missing keys keep their defaults.
    ///
    /// # Errors
    /// Not a planted spec, an unknown or repeated key, a value that does not parse, or
    /// parameters out of range ([`validate`](Self::validate)).
    pub fn parse(spec: &str) -> Result<Self> {
        let rest = match spec.strip_prefix(PREFIX) {
            Some("") => "",
            Some(r) if r.starts_with(':') => &r[1..],
            _ => {
                return Err(Error::param(
                    "data",
                    spec,
                    "a planted market is written `planted` or `planted:key=value,…`",
                ))
            }
        };
        let mut p = PlantedMarket::default();
        let mut seen: Vec<&str> = Vec::new();
        for item in rest.split(',').filter(|s| !s.trim().is_empty()) {
            let (key, value) = item.split_once('=').ok_or_else(|| {
                Error::param("data", item, "planted-market parameters are written key=value")
            })?;
            let (key, value) = (key.trim(), value.trim());
            if seen.contains(&key) {
                return Err(Error::param("data", key, "planted-market key given twice"));
            }
            let bad = |what: &str| {
                Error::param(
                    "data",
                    format!("{key}={value}"),
                    format!("`{key}` must be {what}"),
                )
            };
            match key {
                "assets" => p.assets = value.parse().map_err(|_| bad("a whole number"))?,
                "days" => p.days = value.parse().map_err(|_| bad("a whole number"))?,
                "seed" => p.seed = value.parse().map_err(|_| bad("a whole number"))?,
                "drift" => p.drift = value.parse().map_err(|_| bad("a number"))?,
                "noise" => p.noise = value.parse().map_err(|_| bad("a number"))?,
                "regime" => p.regime = value.parse().map_err(|_| bad("a number"))?,
                _ => {
                    return Err(Error::param(
                        "data",
                        key,
                        "unknown planted-market key (known: assets, days, drift, noise, regime, seed)",
                    ))
                }
            }
            seen.push(key);
        }
        p.validate()?;
        Ok(p)
    }

    /// Checks the parameters.
    ///
    /// # Errors
    /// No assets or days, a non-finite or negative drift or noise, a regime length below 1 or
    /// not finite, or a noise so large that prices under- or overflow.
    pub fn validate(&self) -> Result<()> {
        if self.assets == 0 {
            return Err(Error::param("planted assets", 0, "must be at least 1"));
        }
        if self.days == 0 {
            return Err(Error::param("planted days", 0, "must be at least 1"));
        }
        if !(self.drift.is_finite() && self.drift >= 0.0) {
            return Err(Error::param(
                "planted drift",
                self.drift,
                "must be finite and >= 0",
            ));
        }
        if !(self.noise.is_finite() && (0.0..=1.0).contains(&self.noise)) {
            return Err(Error::param(
                "planted noise",
                self.noise,
                "must be finite and in [0, 1]",
            ));
        }
        if self.drift > 1.0 {
            return Err(Error::param(
                "planted drift",
                self.drift,
                "must be at most 1 per day",
            ));
        }
        if !(self.regime.is_finite() && self.regime >= 1.0) {
            return Err(Error::param(
                "planted regime",
                self.regime,
                "the mean regime length must be finite and >= 1 day",
            ));
        }
        Ok(())
    }

    /// The spec string that [`parse`](Self::parse) reads back to `self`.
    pub fn spec(&self) -> String {
        format!(
            "planted:assets={},days={},drift={},noise={},regime={},seed={}",
            self.assets, self.days, self.drift, self.noise, self.regime, self.seed
        )
    }

    /// Generates `[day][asset]` price relatives and the regimes `s_{n,i}` that produced them.
    ///
    /// Asset by asset from one `ChaCha8Rng` seeded by [`seed`](Self::seed): the same parameters
    /// give the same market, bit for bit.
    ///
    /// # Errors
    /// Invalid parameters.
    pub fn generate_with_regimes(&self) -> Result<(Vec<f64>, Vec<i8>)> {
        self.validate()?;
        let (m, days) = (self.assets, self.days);
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let mut relatives = vec![0.0; m * days];
        let mut regimes = vec![0i8; m * days];
        let flip = 1.0 / self.regime;
        let half_var = 0.5 * self.noise * self.noise;
        for i in 0..m {
            let mut s: i8 = if rng.random_bool(0.5) { 1 } else { -1 };
            for n in 0..days {
                if n > 0 && rng.random::<f64>() < flip {
                    s = -s;
                }
                let e: f64 = StandardNormal.sample(&mut rng);
                relatives[n * m + i] = (f64::from(s) * self.drift + self.noise * e - half_var).exp();
                regimes[n * m + i] = s;
            }
        }
        Ok((relatives, regimes))
    }

    /// The market as price data (assets named `A00`, `A01`, …; no dates, no high/low).
    ///
    /// # Errors
    /// Invalid parameters.
    pub fn generate(&self) -> Result<PriceData> {
        let (relatives, _) = self.generate_with_regimes()?;
        let width = self.assets.saturating_sub(1).to_string().len().max(2);
        let names = (0..self.assets).map(|i| format!("A{i:0width$}")).collect();
        PriceData::new(names, relatives, PathBuf::from(self.spec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_keys_in_any_order_and_keeps_defaults() {
        let p = PlantedMarket::parse("planted:seed=7,drift=0.001").unwrap();
        assert_eq!(p.seed, 7);
        assert_eq!(p.drift, 0.001);
        assert_eq!(p.assets, 20);
        assert_eq!(PlantedMarket::parse("planted").unwrap(), PlantedMarket::default());
        assert_eq!(PlantedMarket::parse(&p.spec()).unwrap(), p);
    }

    #[test]
    fn rejects_bad_specs_naming_the_key() {
        for (spec, needle) in [
            ("planted:foo=1", "unknown planted-market key"),
            ("planted:days=0", "planted days"),
            ("planted:assets=0", "planted assets"),
            ("planted:drift=NaN", "planted drift"),
            ("planted:noise=-0.1", "planted noise"),
            ("planted:regime=0.5", "planted regime"),
            ("planted:days=-3", "whole number"),
            ("planted:days", "key=value"),
            ("planted:seed=1,seed=2", "given twice"),
            ("plantedx", "written `planted`"),
        ] {
            let e = PlantedMarket::parse(spec).unwrap_err().to_string();
            assert!(e.contains(needle), "{spec}: {e}");
        }
    }

    #[test]
    fn log_returns_have_the_planted_drift_by_regime() {
        let p = PlantedMarket {
            assets: 4,
            days: 20_000,
            ..PlantedMarket::default()
        };
        let (y, s) = p.generate_with_regimes().unwrap();
        let (mut up, mut nu, mut down, mut nd, mut flips) = (0.0, 0.0, 0.0, 0.0, 0usize);
        for k in 0..y.len() {
            let r = y[k].ln() + 0.5 * p.noise * p.noise;
            if s[k] > 0 {
                up += r;
                nu += 1.0;
            } else {
                down += r;
                nd += 1.0;
            }
            if k >= p.assets && s[k] != s[k - p.assets] {
                flips += 1;
            }
        }
        // Standard error of a regime mean: σ / √(n) ≈ 0.01 / √40000 = 5e-5.
        assert!((up / nu - p.drift).abs() < 3e-4, "{}", up / nu);
        assert!((down / nd + p.drift).abs() < 3e-4, "{}", down / nd);
        let rate = flips as f64 / (p.assets * (p.days - 1)) as f64;
        assert!((rate - 1.0 / p.regime).abs() < 0.004, "flip rate {rate}");
    }

    #[test]
    fn same_seed_same_market_other_seed_other_market() {
        let a = PlantedMarket::default().generate().unwrap();
        let b = PlantedMarket::default().generate().unwrap();
        assert_eq!(a.relatives, b.relatives);
        let c = PlantedMarket {
            seed: 1,
            ..PlantedMarket::default()
        }
        .generate()
        .unwrap();
        assert_ne!(a.relatives, c.relatives);
    }
}
