//! The strategy list by name: what `pimtl baselines` and the portfolio study run, with each
//! strategy's parameters, defaults and paper in one table.
//!
//! A strategy is named on the command line or in a config as `NAME` or `NAME:KEY=VALUE:…`, for
//! example `eg`, `eg:eta=0.1` or `olmar:window=10:eps=5`. [`StrategySpec::parse`] checks the
//! name and the keys; the ranges are checked by each strategy's constructor when
//! [`StrategySpec::build`] makes it. Unknown names and keys are errors that list what is known.
//!
//! Defaults are universal-portfolios 0.4.17's (the reference of `tests/olps_*.rs`), except where
//! the entry's documentation says otherwise.

use super::OnlineStrategy;
use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a strategy may read when it is built: hindsight strategies (BCRP, best asset) are fitted
/// on `relatives`; cost-aware ones read the fee rate.
#[derive(Clone, Copy, Debug)]
pub struct BuildContext<'a> {
    /// The `[day][asset]` relatives the strategy will be run on (or fitted on, for hindsight).
    pub relatives: &'a [f64],
    /// Number of assets.
    pub assets: usize,
    /// The commission rate of the back-test (the default of TCO's own cost parameter).
    pub fee_rate: f64,
    /// The run's seed (the default seed of the randomised strategies).
    pub seed: u64,
}

/// Where a parameter's default comes from when the spec does not give it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FromRun {
    /// The back-test's commission rate ([`BuildContext::fee_rate`]).
    FeeRate,
    /// The run's seed ([`BuildContext::seed`]).
    Seed,
}

/// One parameter of a strategy: its key, default and meaning.
#[derive(Clone, Copy, Debug)]
pub struct ParamSpec {
    /// The key in `NAME:KEY=VALUE`.
    pub key: &'static str,
    /// The default value (unused when `from_run` is set).
    pub default: f64,
    /// Taken from the run instead of a fixed default (not written into the spec unless given).
    pub from_run: Option<FromRun>,
    /// What it means, for `--help`-style listings.
    pub doc: &'static str,
}

/// A builder: the parameters (every key present) and the context to a strategy.
type Builder = fn(&Params, &BuildContext) -> Result<Box<dyn OnlineStrategy + Send>>;

/// One row of the strategy table.
#[derive(Clone, Copy)]
pub struct Entry {
    /// The name used on the command line (lower case).
    pub name: &'static str,
    /// The short name of tables and plots (`EG`, `Equal CRP`, …).
    pub display: &'static str,
    /// The strategy's full name and paper.
    pub title: &'static str,
    /// Whether it is fitted on the evaluated days (not an online strategy; marked in tables).
    pub hindsight: bool,
    /// Its parameters.
    pub params: &'static [ParamSpec],
    build: Builder,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry").field("name", &self.name).finish()
    }
}

/// Parameter values by key, every key of the entry present.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Params(pub BTreeMap<String, f64>);

impl Params {
    /// The value of `key` (a key of the entry; [`StrategySpec::parse`] fills every one).
    pub fn get(&self, key: &str) -> f64 {
        self.0.get(key).copied().unwrap_or(f64::NAN)
    }

    /// The value of `key` as a switch: 0 is `false`, 1 is `true`.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the key for any other value.
    pub fn flag(&self, key: &'static str) -> Result<bool> {
        let v = self.get(key);
        if v == 0.0 || v == 1.0 {
            Ok(v == 1.0)
        } else {
            Err(Error::param(key, v, "must be 0 or 1"))
        }
    }

    /// The value of `key` as a count: a finite non-negative whole number.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the key otherwise.
    pub fn count(&self, key: &'static str) -> Result<usize> {
        let v = self.get(key);
        if v.is_finite() && v >= 0.0 && v.fract() == 0.0 && v <= u32::MAX as f64 {
            Ok(v as usize)
        } else {
            Err(Error::param(key, v, "must be a whole number ≥ 0"))
        }
    }
}

/// A strategy chosen by name with its parameters, as written in a run's config.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StrategySpec {
    /// The entry's name.
    pub name: String,
    /// Every parameter, defaults filled in.
    pub params: Params,
}

/// A boxed strategy.
pub type BoxedStrategy = Box<dyn OnlineStrategy + Send>;

fn boxed<S: OnlineStrategy + Send + 'static>(s: S) -> Result<BoxedStrategy> {
    Ok(Box::new(s))
}

/// Every strategy `pimtl baselines` knows, in the order of its tables.
pub fn entries() -> &'static [Entry] {
    use super::*;
    const NONE: &[ParamSpec] = &[];
    static ENTRIES: &[Entry] = &[
        Entry {
            name: "ucrp",
            display: "Equal CRP",
            title: "Equal-weight constant rebalanced portfolio (Cover 1991)",
            hindsight: false,
            params: NONE,
            build: |_, _| boxed(EqualCrp),
        },
        Entry {
            name: "bah",
            display: "Buy and hold",
            title: "Uniform buy and hold",
            hindsight: false,
            params: NONE,
            build: |_, _| boxed(BuyAndHold::default()),
        },
        Entry {
            name: "best",
            display: "Best asset (hindsight)",
            title: "Best asset in hindsight",
            hindsight: true,
            params: NONE,
            build: |_, c| boxed(BestAsset::fit(c.relatives, c.assets)?),
        },
        Entry {
            name: "bcrp",
            display: "BCRP (hindsight)",
            title: "Best constant rebalanced portfolio in hindsight (Cover 1991)",
            hindsight: true,
            params: NONE,
            build: |_, c| boxed(Bcrp::fit(c.relatives, c.assets)?),
        },
        Entry {
            name: "momentum",
            display: "Momentum",
            title: "Long-only time-series momentum (Moskowitz, Ooi & Pedersen 2012)",
            hindsight: false,
            params: &[ParamSpec {
                key: "window",
                default: 20.0,
                doc: "look-back days",
                from_run: None,
            }],
            build: |p, _| boxed(Momentum::new(p.count("window")?)?),
        },
        Entry {
            name: "olmar",
            display: "OLMAR",
            title: "On-line moving average reversion, OLMAR-1 (Li & Hoi 2012)",
            hindsight: false,
            params: &[
                ParamSpec {
                    key: "window",
                    default: 5.0,
                    doc: "moving-average window (≥ 2)",
                    from_run: None,
                },
                ParamSpec {
                    key: "eps",
                    default: 10.0,
                    doc: "reversion threshold ε (> 0)",
                    from_run: None,
                },
            ],
            build: |p, _| {
                boxed(Olmar::new(p.count("window")?, p.get("eps"))?.with_warmup(OlmarWarmup::Universal))
            },
        },
        Entry {
            name: "pamr",
            display: "PAMR",
            title: "Passive-aggressive mean reversion (Li, Zhao, Hoi & Gopalkrishnan 2012)",
            hindsight: false,
            params: &[
                ParamSpec {
                    key: "eps",
                    default: 0.5,
                    doc: "sensitivity ε (≥ 0)",
                    from_run: None,
                },
                ParamSpec {
                    key: "variant",
                    default: 0.0,
                    doc: "0, 1 or 2 (PAMR, PAMR-1, PAMR-2)",
                    from_run: None,
                },
                ParamSpec {
                    key: "c",
                    default: 500.0,
                    doc: "aggressiveness C (> 0; variants 1, 2)",
                    from_run: None,
                },
            ],
            build: |p, _| {
                let variant = p.count("variant")?;
                let variant = u8::try_from(variant)
                    .map_err(|_| Error::param("variant", variant, "PAMR variants are 0, 1 and 2"))?;
                boxed(Pamr::new(p.get("eps"), variant, p.get("c"))?)
            },
        },
        Entry {
            name: "up",
            display: "UP",
            title: "Universal portfolio, Monte Carlo over CRPs (Cover 1991; universal-portfolios' sampling)",
            hindsight: false,
            params: &[
                ParamSpec {
                    key: "eval_points",
                    default: up::UP_DEFAULT_EVAL_POINTS as f64,
                    doc: "random CRPs averaged (≥ 1)",
                    from_run: None,
                },
                ParamSpec {
                    key: "leverage",
                    default: 1.0,
                    doc: "leverage of the sampled CRPs",
                    from_run: None,
                },
                ParamSpec {
                    key: "seed",
                    default: 0.0,
                    doc: "MT19937 seed (numpy-compatible)",
                    from_run: Some(FromRun::Seed),
                },
            ],
            build: |p, _| {
                let seed = u32::try_from(p.count("seed")?).map_err(|_| Error::param("seed", p.get("seed"), "UP's seed must fit in 32 bits"))?;
                boxed(Up::new(p.count("eval_points")?, p.get("leverage"), seed)?)
            },
        },
        Entry {
            name: "eg",
            display: "EG",
            title: "Exponentiated gradient (Helmbold, Schapire, Singer & Warmuth 1998)",
            hindsight: false,
            params: &[
                ParamSpec {
                    key: "eta",
                    default: 0.05,
                    doc: "learning rate η (> 0)",
                    from_run: None,
                },
            ],
            build: |p, _| boxed(Eg::new(p.get("eta"))?),
        },
        Entry {
            name: "ons",
            display: "ONS",
            title: "Online Newton step (Agarwal, Hazan, Kale & Schapire 2006)",
            hindsight: false,
            params: &[
                ParamSpec {
                    key: "delta",
                    default: 0.125,
                    doc: "mixing δ (> 0)",
                    from_run: None,
                },
                ParamSpec {
                    key: "beta",
                    default: 1.0,
                    doc: "β (> 0)",
                    from_run: None,
                },
                ParamSpec {
                    key: "eta",
                    default: 0.0,
                    doc: "uniform mixing η ∈ [0, 1)",
                    from_run: None,
                },
            ],
            build: |p, _| boxed(Ons::new(p.get("delta"), p.get("beta"), p.get("eta"))?),
        },
        Entry {
            name: "anticor",
            display: "Anticor",
            title: "Anticor (Borodin, El-Yaniv & Gogan 2004)",
            hindsight: false,
            params: &[
                ParamSpec {
                    key: "window",
                    default: 30.0,
                    doc: "window w (≥ 2); reads 2w days",
                    from_run: None,
                },
            ],
            build: |p, _| boxed(Anticor::new(p.count("window")?)?),
        },
        Entry {
            name: "corn",
            display: "CORN",
            title: "Correlation-driven nonparametric learning, CORN-U (Li, Hoi & Gopalkrishnan 2011), fully invested unless cash=1",
            hindsight: false,
            params: &[
                ParamSpec {
                    key: "window",
                    default: corn::CORN_DEFAULT_WINDOW as f64,
                    doc: "window w (≥ 1)",
                    from_run: None,
                },
                ParamSpec {
                    key: "rho",
                    default: corn::CORN_DEFAULT_RHO,
                    doc: "correlation threshold ρ ∈ [-1, 1]",
                    from_run: None,
                },
                ParamSpec {
                    key: "cash",
                    default: 0.0,
                    doc: "1: may keep cash (Σ b ≤ 1, universal-portfolios' default), 0: fully invested",
                    from_run: None,
                },
            ],
            build: |p, _| boxed(Corn::new(p.count("window")?, p.get("rho"))?.with_cash(p.flag("cash")?)),
        },
        Entry {
            name: "rmr",
            display: "RMR",
            title: "Robust median reversion (Huang, Li, Hoi & Zhu 2013)",
            hindsight: false,
            params: &[
                ParamSpec {
                    key: "window",
                    default: 5.0,
                    doc: "window w",
                    from_run: None,
                },
                ParamSpec {
                    key: "eps",
                    default: 10.0,
                    doc: "reversion threshold ε",
                    from_run: None,
                },
                ParamSpec {
                    key: "tau",
                    default: 0.001,
                    doc: "Weiszfeld tolerance τ",
                    from_run: None,
                },
            ],
            build: |p, _| boxed(Rmr::new(p.count("window")?, p.get("eps"), p.get("tau"))?),
        },
        Entry {
            name: "wmamr",
            display: "WMAMR",
            title: "Weighted moving-average mean reversion (Gao & Zhang 2013)",
            hindsight: false,
            params: &[
                ParamSpec {
                    key: "window",
                    default: 5.0,
                    doc: "window w",
                    from_run: None,
                },
                ParamSpec {
                    key: "eps",
                    default: 0.5,
                    doc: "sensitivity ε",
                    from_run: None,
                },
            ],
            build: |p, _| boxed(Wmamr::new(p.count("window")?, p.get("eps"))?),
        },
        Entry {
            name: "cwmr",
            display: "CWMR",
            title: "Confidence-weighted mean reversion (Li, Hoi, Zhao & Gopalkrishnan 2013)",
            hindsight: false,
            params: &[
                ParamSpec {
                    key: "eps",
                    default: -0.5,
                    doc: "sensitivity ε",
                    from_run: None,
                },
                ParamSpec {
                    key: "confidence",
                    default: 0.95,
                    doc: "confidence level",
                    from_run: None,
                },
            ],
            build: |p, _| boxed(Cwmr::new(p.get("eps"), p.get("confidence"))?),
        },
        Entry {
            name: "rprt",
            display: "RPRT",
            title: "Reweighted price relative tracking (Lai, Yang, Fang & Wu 2018)",
            hindsight: false,
            params: &[
                ParamSpec {
                    key: "window",
                    default: 5.0,
                    doc: "window w",
                    from_run: None,
                },
                ParamSpec {
                    key: "eps",
                    default: 50.0,
                    doc: "threshold ε",
                    from_run: None,
                },
                ParamSpec {
                    key: "theta",
                    default: 0.8,
                    doc: "reweighting θ",
                    from_run: None,
                },
            ],
            build: |p, _| boxed(Rprt::new(p.count("window")?, p.get("eps"), p.get("theta"))?),
        },
        Entry {
            name: "tco1",
            display: "TCO1",
            title: "Transaction cost optimisation, TCO1 (Li, Wang, Huang & Hoi 2018)",
            hindsight: false,
            params: &[
                ParamSpec {
                    key: "eta",
                    default: 10.0,
                    doc: "step η",
                    from_run: None,
                },
                ParamSpec {
                    key: "fee",
                    default: 0.0,
                    doc: "the cost rate it plans with",
                    from_run: Some(FromRun::FeeRate),
                },
            ],
            build: |p, _| boxed(Tco1::new(p.get("eta"), p.get("fee"))?),
        },
        Entry {
            name: "tco2",
            display: "TCO2",
            title: "Transaction cost optimisation, TCO2 (Li, Wang, Huang & Hoi 2018)",
            hindsight: false,
            params: &[
                ParamSpec {
                    key: "window",
                    default: 5.0,
                    doc: "window w",
                    from_run: None,
                },
                ParamSpec {
                    key: "eta",
                    default: 10.0,
                    doc: "step η",
                    from_run: None,
                },
                ParamSpec {
                    key: "fee",
                    default: 0.0,
                    doc: "the cost rate it plans with",
                    from_run: Some(FromRun::FeeRate),
                },
            ],
            build: |p, _| boxed(Tco2::new(p.count("window")?, p.get("eta"), p.get("fee"))?),
        },
    ];
    ENTRIES
}

/// The entry called `name` (case-insensitive).
///
/// # Errors
/// [`Error::InvalidParameter`] (`strategy`) listing the known names.
pub fn entry(name: &str) -> Result<&'static Entry> {
    let lower = name.trim().to_ascii_lowercase();
    entries().iter().find(|e| e.name == lower).ok_or_else(|| {
        Error::param(
            "strategy",
            name,
            format!("unknown strategy; known: {}", known_names()),
        )
    })
}

fn known_names() -> String {
    entries().iter().map(|e| e.name).collect::<Vec<_>>().join(", ")
}

impl StrategySpec {
    /// Parses `NAME` or `NAME:KEY=VALUE:…`, filling every parameter not given with its default.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for an unknown name or key (listing the known ones), a key
    /// given twice, or a value that is not a number.
    pub fn parse(text: &str) -> Result<StrategySpec> {
        let mut parts = text.split(':');
        let e = entry(parts.next().unwrap_or(""))?;
        let mut params = BTreeMap::new();
        for part in parts {
            let (key, value) = part.split_once('=').ok_or_else(|| {
                Error::param(
                    "strategy",
                    text,
                    format!("`{part}` is not KEY=VALUE (write {}:key=value)", e.name),
                )
            })?;
            let key = key.trim();
            let Some(spec) = e.params.iter().find(|p| p.key == key) else {
                let keys: Vec<&str> = e.params.iter().map(|p| p.key).collect();
                return Err(Error::param(
                    "strategy",
                    text,
                    format!(
                        "{} has no parameter `{key}`; its parameters: {}",
                        e.name,
                        if keys.is_empty() {
                            "none".to_string()
                        } else {
                            keys.join(", ")
                        }
                    ),
                ));
            };
            let v: f64 = value.trim().parse().map_err(|_| {
                Error::param(
                    "strategy",
                    text,
                    format!("{}: `{value}` is not a number", spec.key),
                )
            })?;
            if params.insert(spec.key.to_string(), v).is_some() {
                return Err(Error::param(
                    "strategy",
                    text,
                    format!("{} is given twice", spec.key),
                ));
            }
        }
        for p in e.params.iter().filter(|p| p.from_run.is_none()) {
            params.entry(p.key.to_string()).or_insert(p.default);
        }
        Ok(StrategySpec {
            name: e.name.to_string(),
            params: Params(params),
        })
    }

    /// Every strategy of the table with its defaults.
    pub fn all() -> Vec<StrategySpec> {
        entries()
            .iter()
            .map(|e| StrategySpec::parse(e.name).expect("every entry parses by its own name"))
            .collect()
    }

    /// The table entry.
    ///
    /// # Errors
    /// An unknown name (a spec edited by hand in a config file).
    pub fn entry(&self) -> Result<&'static Entry> {
        entry(&self.name)
    }

    /// Makes the strategy, checking the parameters' ranges. A parameter taken from the run
    /// ([`FromRun`]: TCO's cost rate, UP's seed) and not given takes the context's value.
    ///
    /// # Errors
    /// An unknown name or key (a spec edited by hand), a parameter out of range (named by the
    /// strategy's constructor), or a hindsight fit that fails (no days).
    pub fn build(&self, ctx: &BuildContext) -> Result<BoxedStrategy> {
        let e = self.entry()?;
        let params = self.resolved(ctx)?.params;
        (e.build)(&params, ctx)
    }

    /// The spec with every parameter present: the ones taken from the run ([`FromRun`]) filled
    /// from `ctx` (so its [`label`](Self::label) says what was run).
    ///
    /// # Errors
    /// An unknown name or key (a spec edited by hand in a config file).
    pub fn resolved(&self, ctx: &BuildContext) -> Result<StrategySpec> {
        let e = self.entry()?;
        let mut params = self.params.clone();
        for key in params.0.keys() {
            if !e.params.iter().any(|p| p.key == key) {
                return Err(Error::param(
                    "strategy",
                    &self.name,
                    format!("{} has no parameter `{key}`", e.name),
                ));
            }
        }
        for p in e.params {
            let default = match p.from_run {
                None => p.default,
                Some(FromRun::FeeRate) => ctx.fee_rate,
                Some(FromRun::Seed) => ctx.seed as f64,
            };
            params.0.entry(p.key.to_string()).or_insert(default);
        }
        Ok(StrategySpec {
            name: self.name.clone(),
            params,
        })
    }

    /// `NAME:KEY=VALUE:…` with every parameter, the inverse of [`StrategySpec::parse`].
    pub fn label(&self) -> String {
        let mut s = self.name.clone();
        for (k, v) in &self.params.0 {
            s.push_str(&format!(":{k}={v}"));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_keys_and_defaults() {
        let s = StrategySpec::parse("OLMAR:eps=5").unwrap();
        assert_eq!(s.name, "olmar");
        assert_eq!(s.params.get("eps"), 5.0);
        assert_eq!(s.params.get("window"), 5.0);
        assert_eq!(StrategySpec::parse(&s.label()).unwrap(), s);
        assert_eq!(StrategySpec::parse("bah").unwrap().params.0.len(), 0);
    }

    #[test]
    fn refuses_unknown_names_keys_and_values() {
        let msg = |t: &str| StrategySpec::parse(t).unwrap_err().to_string();
        assert!(msg("olmr").contains("known: ucrp"), "{}", msg("olmr"));
        assert!(
            msg("olmar:windw=3").contains("window, eps"),
            "{}",
            msg("olmar:windw=3")
        );
        assert!(msg("olmar:window").contains("KEY=VALUE"));
        assert!(msg("olmar:window=x").contains("not a number"));
        assert!(msg("olmar:window=3:window=4").contains("twice"));
        assert!(msg("bah:x=1").contains("none"));
    }

    #[test]
    fn builds_and_checks_ranges() {
        let y = [1.0, 1.1, 0.9, 1.0];
        let ctx = BuildContext {
            relatives: &y,
            assets: 2,
            fee_rate: 0.0025,
            seed: 0,
        };
        for spec in StrategySpec::all() {
            let mut s = spec.build(&ctx).unwrap();
            s.reset(2).unwrap();
        }
        assert!(StrategySpec::parse("olmar:window=1")
            .unwrap()
            .build(&ctx)
            .is_err());
        assert!(StrategySpec::parse("olmar:window=2.5")
            .unwrap()
            .build(&ctx)
            .is_err());
        assert!(StrategySpec::parse("pamr:variant=7")
            .unwrap()
            .build(&ctx)
            .is_err());
        assert!(StrategySpec::parse("momentum:window=-1")
            .unwrap()
            .build(&ctx)
            .is_err());
    }
}
