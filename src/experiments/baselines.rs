//! `pimtl baselines`: every online-portfolio-selection strategy of
//! [`crate::baselines::registry`] on one data set, with the table a portfolio researcher compares
//! a new method against (final wealth, annualised return, Sharpe ratio, maximum drawdown,
//! turnover) and the wealth curves.
//!
//! Each strategy is run by the one simulator ([`crate::baselines::backtest`]) over every day of
//! the set, starting from cash on day 0 (the first purchase is free), with the chosen fee model.
//! Hindsight strategies (BCRP, best asset) are fitted on the same days and marked as such.
//! Strategies run in parallel; each is deterministic, so the results do not depend on
//! `--threads`. Their wall times go to `speed.json`, the only output that varies between runs.

use super::runner::{self, ExperimentConfig};
use crate::baselines::registry::{BuildContext, StrategySpec};
use crate::baselines::{backtest, Backtest, Fee};
use crate::data::prices::PriceData;
use crate::data::DataDirs;
use crate::error::{Error, Result};
use crate::metrics::Metrics;
use crate::plot::{line_chart, Series};
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The fee conventions a back-test can charge (see [`Fee`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum FeeModel {
    /// Exact remainder μ of Jiang, Xu & Liang (2017), eq. 14 (the portfolio study's model).
    Exact,
    /// Linear remainder `1 − c·turnover` (PGPortfolio's training approximation).
    Linear,
    /// universal-portfolios' `r = a·y − c·turnover` (to compare with its figures).
    Additive,
    /// Exact remainder μ with a buying rate `--fee-buy` and a selling rate `--fee-sell` (each
    /// `--fee` when not given); equal rates charge what `exact` charges.
    PerSide,
}

/// Every setting of `pimtl baselines`: the command line (each `default_value` is the full
/// preset) and the `config` object of its `config.json`.
#[derive(Clone, Debug, Serialize, Deserialize, clap::Args)]
pub struct BaselinesConfig {
    /// A known data set (nyse_o, nyse_n, tse, djia, sp500, msci; see `pimtl data`) or a price file
    /// or folder, as `pimtl portfolio --data` reads.
    #[arg(long, default_value = "nyse_o")]
    pub data: String,
    /// Folder of the known data sets [default: the search path of `pimtl data`].
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Commission rate c on each side of a trade (0.0025 = 0.25 %); under `--fee-model per-side`,
    /// the rate of a side without its own `--fee-buy` / `--fee-sell`.
    #[arg(long, default_value_t = 0.0025, allow_negative_numbers = true, value_parser = finite)]
    pub fee: f64,
    /// How the commission reduces wealth (`per-side`: the exact remainder with separate buying and
    /// selling rates, `--fee-buy` and `--fee-sell`).
    #[arg(long, value_enum, default_value_t = FeeModel::Exact)]
    pub fee_model: FeeModel,
    /// Commission rate on the value bought, in [0, 1); only with `--fee-model per-side`
    /// [default: --fee].
    #[arg(long, allow_negative_numbers = true, value_parser = finite)]
    pub fee_buy: Option<f64>,
    /// Commission rate on the value sold, in [0, 1); only with `--fee-model per-side`
    /// [default: --fee].
    #[arg(long, allow_negative_numbers = true, value_parser = finite)]
    pub fee_sell: Option<f64>,
    /// Strategies to run, `NAME` or `NAME:KEY=VALUE:…` (repeat the option) [default: all;
    /// `pimtl baselines --list` prints them with their parameters].
    #[arg(long = "strategy")]
    pub strategies: Vec<String>,
    /// Replace day 0's relatives by ones, as universal-portfolios' `algo.run(S)` does on a price
    /// file (to reproduce its figures).
    #[arg(long)]
    pub universal_first_day: bool,
    /// Seed of the randomised strategies (universal portfolio's sampling).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

/// A finite number from the command line. JSON has no NaN or infinity, so a non-finite rate would
/// reach the configuration as `null` (an absent per-side rate, silently `--fee`); it is refused
/// here instead.
fn finite(s: &str) -> std::result::Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(x) if x.is_finite() => Ok(x),
        Ok(_) => Err("a commission rate must be a finite number in [0, 1)".to_string()),
        Err(e) => Err(e.to_string()),
    }
}

impl ExperimentConfig for BaselinesConfig {
    const NAME: &'static str = "baselines";

    /// The quick preset is the full one (a run over every strategy takes seconds).
    fn quick_preset() -> serde_json::Value {
        serde_json::json!({})
    }

    fn validate(&self) -> Result<()> {
        self.fee_of()?.validate()?;
        self.specs()?;
        Ok(())
    }

    fn data_files(&self) -> Vec<PathBuf> {
        crate::data::prices::data_files(&self.data, &DataDirs::resolve(self.data_dir.as_deref()))
    }
}

impl BaselinesConfig {
    /// The fee of the back-tests: [`Fee::None`] when every rate is 0; under
    /// [`FeeModel::PerSide`], [`Fee::PerSide`] with `fee_buy` and `fee_sell` (each `fee` when
    /// absent).
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] naming the setting (`fee`, `fee_buy`, `fee_sell`) for a rate
    /// that is NaN, negative or ≥ 1, and for `fee_buy` or `fee_sell` given with another model
    /// than `per-side` (they would be ignored).
    pub fn fee_of(&self) -> Result<Fee> {
        let check = |name: &'static str, c: f64| -> Result<f64> {
            if c.is_finite() && (0.0..1.0).contains(&c) {
                Ok(c)
            } else {
                Err(Error::param(name, c, "the commission rate must lie in [0, 1)"))
            }
        };
        let c = check("fee", self.fee)?;
        if self.fee_model != FeeModel::PerSide {
            for (name, rate) in [("fee_buy", self.fee_buy), ("fee_sell", self.fee_sell)] {
                if let Some(r) = rate {
                    return Err(Error::param(
                        name,
                        r,
                        "a per-side rate needs --fee-model per-side (fee_model \"per-side\")",
                    ));
                }
            }
        }
        let fee = match self.fee_model {
            FeeModel::Exact | FeeModel::Linear | FeeModel::Additive if c == 0.0 => Fee::None,
            FeeModel::Exact => Fee::Exact(c),
            FeeModel::Linear => Fee::Linear(c),
            FeeModel::Additive => Fee::Additive(c),
            FeeModel::PerSide => {
                let buy = check("fee_buy", self.fee_buy.unwrap_or(c))?;
                let sell = check("fee_sell", self.fee_sell.unwrap_or(c))?;
                if buy == 0.0 && sell == 0.0 {
                    Fee::None
                } else {
                    Fee::PerSide { buy, sell }
                }
            }
        };
        fee.validate()?;
        Ok(fee)
    }

    /// The strategies to run: the ones named, or every one of the table.
    ///
    /// # Errors
    /// An unknown name or key, or a strategy named twice.
    pub fn specs(&self) -> Result<Vec<StrategySpec>> {
        if self.strategies.is_empty() {
            return Ok(StrategySpec::all());
        }
        let mut out: Vec<StrategySpec> = Vec::new();
        for s in &self.strategies {
            let spec = StrategySpec::parse(s)?;
            if out.iter().any(|o| o.label() == spec.label()) {
                return Err(Error::param("strategy", s, "named twice"));
            }
            out.push(spec);
        }
        Ok(out)
    }
}

/// One strategy's outcome.
#[derive(Clone, Debug, Serialize)]
pub struct StrategyResult {
    /// `NAME:KEY=VALUE:…` with every parameter.
    pub label: String,
    /// The strategy's own name (with parameters).
    pub name: String,
    /// Fitted on the evaluated days.
    pub hindsight: bool,
    /// Final wealth, returns, Sharpe, drawdown, turnover.
    pub metrics: Metrics,
    /// The full back-test (wealth, weights, period returns, turnover per day).
    #[serde(skip)]
    pub backtest: Backtest,
    /// Wall time of the fit (hindsight strategies) and the back-test (not serialised with the results: it varies between runs).
    #[serde(skip)]
    pub seconds: f64,
}

/// Everything `pimtl baselines` computes.
#[derive(Clone, Debug, Serialize)]
pub struct BaselinesResults {
    /// Where the data came from.
    pub source: PathBuf,
    /// Assets and days back-tested.
    pub assets: usize,
    /// Days back-tested.
    pub days: usize,
    /// The fee model applied.
    pub fee: Fee,
    /// One entry per strategy, in the order run.
    pub strategies: Vec<StrategyResult>,
    /// The label of the online (not hindsight) strategy with the largest final wealth.
    pub best_online: Option<String>,
}

/// Loads the data of `cfg` as the run reads it (with `universal_first_day` applied).
///
/// # Errors
/// As [`crate::data::prices::load_from`].
pub fn load(cfg: &BaselinesConfig) -> Result<PriceData> {
    let mut data = crate::data::prices::load_from(&cfg.data, &DataDirs::resolve(cfg.data_dir.as_deref()))?;
    if data.days() == 0 {
        return Err(Error::Format {
            path: Some(data.source.clone()),
            reason: "the data set has no days of prices".into(),
        });
    }
    if cfg.universal_first_day {
        let m = data.num_assets();
        data.relatives[..m].fill(1.0);
    }
    Ok(data)
}

/// Runs every strategy of `cfg` on `data` (in parallel on the current rayon pool).
///
/// # Errors
/// A window longer than the data, a parameter out of range, or a strategy that produces a
/// non-finite or off-simplex allocation (named with the day).
pub fn run_on(cfg: &BaselinesConfig, data: &PriceData) -> Result<BaselinesResults> {
    let fee = cfg.fee_of()?;
    let specs = cfg.specs()?;
    let (m, days) = (data.num_assets(), data.days());
    for s in &specs {
        for (k, v) in &s.params.0 {
            if k.contains("window") && *v >= days as f64 {
                return Err(Error::param(
                    "strategy",
                    s.label(),
                    format!(
                        "{k} = {v} is not shorter than the data ({days} days in {})",
                        data.source.display()
                    ),
                ));
            }
        }
    }
    let ctx = BuildContext {
        relatives: &data.relatives,
        assets: m,
        fee_rate: fee.rate(),
        seed: cfg.seed,
    };
    let strategies = specs
        .par_iter()
        .map(|spec| {
            let spec = spec.resolved(&ctx)?;
            let started = std::time::Instant::now();
            let mut s = spec.build(&ctx)?;
            let bt = backtest(s.as_mut(), &data.relatives, m, fee)?;
            let seconds = started.elapsed().as_secs_f64();
            Ok(StrategyResult {
                label: spec.label(),
                name: s.name(),
                hindsight: spec.entry()?.hindsight,
                metrics: Metrics::from_backtest(&bt),
                backtest: bt,
                seconds,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let best_online = strategies
        .iter()
        .filter(|r| !r.hindsight)
        .max_by(|a, b| a.metrics.final_wealth.total_cmp(&b.metrics.final_wealth))
        .map(|r| r.label.clone());
    Ok(BaselinesResults {
        source: data.source.clone(),
        assets: m,
        days,
        fee,
        strategies,
        best_online,
    })
}

/// Loads the data and runs every strategy.
///
/// # Errors
/// As [`load`] and [`run_on`].
pub fn run(cfg: &BaselinesConfig) -> Result<BaselinesResults> {
    run_on(cfg, &load(cfg)?)
}

/// The table of final wealth, annualised return, Sharpe ratio, maximum drawdown and mean turnover.
pub fn summary_table(res: &BaselinesResults) -> String {
    let mut s = format!(
        "{} assets, {} days, fee {:?}\n{:<54} {:>14} {:>10} {:>8} {:>8} {:>9}\n",
        res.assets,
        res.days,
        res.fee,
        "strategy",
        "final wealth",
        "ann. ret.",
        "Sharpe",
        "max DD",
        "turnover"
    );
    for r in &res.strategies {
        let m = &r.metrics;
        let name = if r.hindsight {
            format!("{} (hindsight)", r.name)
        } else {
            r.name.clone()
        };
        s.push_str(&format!(
            "{:<54} {:>14.6e} {:>9.2}% {:>8.3} {:>7.1}% {:>9.4}\n",
            name,
            m.final_wealth,
            100.0 * m.annualised_return,
            m.sharpe,
            100.0 * m.max_drawdown,
            m.mean_turnover
        ));
    }
    if let Some(b) = &res.best_online {
        s.push_str(&format!("best online strategy: {b}\n"));
    }
    s
}

/// Writes `results.json`, `table.csv`, `wealth.csv` (one column per strategy), `wealth.svg`
/// (log10 wealth) and `speed.json` (wall time per strategy, the only file that varies) into `out`.
///
/// # Errors
/// I/O errors, named with the file.
pub fn write_results(res: &BaselinesResults, out: &Path) -> Result<()> {
    crate::io::create_out_dir(out)?;
    let json = serde_json::to_vec_pretty(res).map_err(|e| Error::Format {
        path: Some(out.join("results.json")),
        reason: e.to_string(),
    })?;
    crate::io::write_atomic(&out.join("results.json"), &json)?;
    let mut csv = String::from(
        "strategy,name,hindsight,final_wealth,annualised_return,arithmetic_annualised_return,annualised_volatility,sharpe,max_drawdown,mean_turnover,days\n",
    );
    for r in &res.strategies {
        let m = &r.metrics;
        csv.push_str(&format!(
            "{},\"{}\",{},{},{},{},{},{},{},{},{}\n",
            r.label,
            r.name.replace('"', "'"),
            r.hindsight,
            m.final_wealth,
            m.annualised_return,
            m.arithmetic_annualised_return,
            m.annualised_volatility,
            m.sharpe,
            m.max_drawdown,
            m.mean_turnover,
            m.days
        ));
    }
    crate::io::write_atomic(&out.join("table.csv"), csv.as_bytes())?;
    let mut curves = String::from("day");
    for r in &res.strategies {
        curves.push(',');
        curves.push_str(&r.label);
    }
    curves.push('\n');
    for n in 0..res.days {
        curves.push_str(&n.to_string());
        for r in &res.strategies {
            curves.push_str(&format!(",{}", r.backtest.wealth[n]));
        }
        curves.push('\n');
    }
    crate::io::write_atomic(&out.join("wealth.csv"), curves.as_bytes())?;
    let series: Vec<Series> = res
        .strategies
        .iter()
        .map(|r| Series {
            name: r.label.clone(),
            points: r
                .backtest
                .wealth
                .iter()
                .enumerate()
                .map(|(n, w)| (n as f64, w.log10()))
                .collect(),
            band: Vec::new(),
            scatter: false,
        })
        .collect();
    line_chart(
        &out.join("wealth.svg"),
        "Wealth of the online strategies",
        "day",
        "log10 wealth",
        &series,
    )?;
    let speed: Vec<serde_json::Value> = res
        .strategies
        .iter()
        .map(|r| serde_json::json!({ "strategy": r.label, "seconds": r.seconds }))
        .collect();
    let cpu = runner::CpuInfo::detect();
    let speed = serde_json::json!({ "cpu": cpu, "strategies": speed });
    crate::io::write_atomic(
        &out.join("speed.json"),
        &serde_json::to_vec_pretty(&speed).unwrap_or_default(),
    )?;
    Ok(())
}

/// The strategy table with parameters and defaults (`pimtl baselines --list`).
pub fn list() -> String {
    let mut s = String::new();
    for e in crate::baselines::registry::entries() {
        s.push_str(&format!(
            "{:<10} {}{}\n",
            e.name,
            e.title,
            if e.hindsight { " [hindsight]" } else { "" }
        ));
        for p in e.params {
            let d = if p.default.is_nan() {
                "the run's fee".to_string()
            } else {
                p.default.to_string()
            };
            s.push_str(&format!("           {}={}  {}\n", p.key, d, p.doc));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> BaselinesConfig {
        runner::defaults::<BaselinesConfig>().unwrap()
    }

    fn market() -> PriceData {
        let mut y = Vec::new();
        let mut z = 1u64;
        for _ in 0..60 {
            for i in 0..4 {
                z = z
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let u = (z >> 11) as f64 / (1u64 << 53) as f64;
                y.push(1.0 + 0.02 * (u - 0.5) + 0.001 * i as f64);
            }
        }
        PriceData::new((0..4).map(|i| format!("a{i}")).collect(), y, PathBuf::new()).unwrap()
    }

    #[test]
    fn runs_every_strategy_and_names_the_best_online_one() {
        let res = run_on(&cfg(), &market()).unwrap();
        assert_eq!(res.strategies.len(), StrategySpec::all().len());
        let best = res.best_online.clone().unwrap();
        let bw = res
            .strategies
            .iter()
            .find(|r| r.label == best)
            .unwrap()
            .metrics
            .final_wealth;
        assert!(res
            .strategies
            .iter()
            .filter(|r| !r.hindsight)
            .all(|r| r.metrics.final_wealth <= bw));
        // BCRP in hindsight is at least Equal CRP without costs.
        let mut c = cfg();
        c.fee = 0.0;
        let res = run_on(&c, &market()).unwrap();
        let w = |l: &str| {
            res.strategies
                .iter()
                .find(|r| r.label == l)
                .unwrap()
                .metrics
                .final_wealth
        };
        assert!(w("bcrp") >= w("ucrp"));
    }

    #[test]
    fn same_config_same_bytes() {
        let dir = std::env::temp_dir().join(format!("pimtl-baselines-{}", std::process::id()));
        let a = run_on(&cfg(), &market()).unwrap();
        let b = run_on(&cfg(), &market()).unwrap();
        write_results(&a, &dir.join("a")).unwrap();
        write_results(&b, &dir.join("b")).unwrap();
        for f in ["results.json", "table.csv", "wealth.csv", "wealth.svg"] {
            assert_eq!(
                std::fs::read(dir.join("a").join(f)).unwrap(),
                std::fs::read(dir.join("b").join(f)).unwrap(),
                "{f}"
            );
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn refuses_bad_settings() {
        let mut c = cfg();
        c.strategies = vec!["nope".into()];
        assert!(c.validate().unwrap_err().to_string().contains("known"));
        c.strategies = vec!["olmar:window=60".into()];
        assert!(run_on(&c, &market())
            .unwrap_err()
            .to_string()
            .contains("not shorter than the data"));
        c.strategies = vec!["bah".into(), "bah".into()];
        assert!(c.validate().is_err());
        let mut c = cfg();
        c.fee = 1.5;
        assert!(c.validate().is_err());
        c.fee = f64::NAN;
        assert!(c.validate().is_err());
    }

    #[test]
    fn per_side_fees() {
        let with = |model: FeeModel, fee: f64, buy: Option<f64>, sell: Option<f64>| {
            let mut c = cfg();
            (c.fee_model, c.fee, c.fee_buy, c.fee_sell) = (model, fee, buy, sell);
            c.fee_of()
        };
        let per = FeeModel::PerSide;
        assert_eq!(
            with(per, 0.0025, Some(0.001), Some(0.003)).unwrap(),
            Fee::PerSide {
                buy: 0.001,
                sell: 0.003
            }
        );
        // A side without its own rate takes --fee; no rate at all is no fee.
        assert_eq!(
            with(per, 0.002, Some(0.001), None).unwrap(),
            Fee::PerSide {
                buy: 0.001,
                sell: 0.002
            }
        );
        assert_eq!(
            with(per, 0.002, None, None).unwrap(),
            Fee::PerSide {
                buy: 0.002,
                sell: 0.002
            }
        );
        assert_eq!(with(per, 0.0, None, Some(0.0)).unwrap(), Fee::None);
        assert_eq!(
            with(per, 0.0, Some(0.0), Some(0.001)).unwrap(),
            Fee::PerSide {
                buy: 0.0,
                sell: 0.001
            }
        );
        // Out of range, named by the setting.
        for (buy, sell, name) in [
            (Some(-0.001), None, "fee_buy"),
            (Some(1.0), None, "fee_buy"),
            (Some(f64::NAN), None, "fee_buy"),
            (None, Some(1.5), "fee_sell"),
            (None, Some(f64::INFINITY), "fee_sell"),
            (None, Some(-0.0001), "fee_sell"),
        ] {
            let e = with(per, 0.0025, buy, sell).unwrap_err().to_string();
            assert!(e.contains(name) && e.contains("[0, 1)"), "{e}");
        }
        let e = with(per, -0.1, Some(0.001), Some(0.001)).unwrap_err().to_string();
        assert!(e.contains("fee") && e.contains("[0, 1)"), "{e}");
        // Per-side rates with another model are refused, not ignored.
        for model in [FeeModel::Exact, FeeModel::Linear, FeeModel::Additive] {
            let e = with(model, 0.0025, Some(0.001), None).unwrap_err().to_string();
            assert!(e.contains("fee_buy") && e.contains("per-side"), "{e}");
            let e = with(model, 0.0, None, Some(0.001)).unwrap_err().to_string();
            assert!(e.contains("fee_sell") && e.contains("per-side"), "{e}");
            assert!(with(model, 0.0025, None, None).is_ok());
        }
        let mut c = cfg();
        (c.fee_model, c.fee_buy) = (FeeModel::Linear, Some(0.001));
        assert!(c.validate().is_err());
    }

    #[test]
    fn per_side_settings_round_trip_through_config_json() {
        let mut c = cfg();
        (c.fee_model, c.fee_buy, c.fee_sell) = (FeeModel::PerSide, Some(0.0025), Some(0.0035));
        let v = serde_json::to_value(&c).unwrap();
        assert_eq!(v["fee_model"], "per-side");
        let back: BaselinesConfig = serde_json::from_value(v).unwrap();
        assert_eq!(
            back.fee_of().unwrap(),
            Fee::PerSide {
                buy: 0.0025,
                sell: 0.0035
            }
        );
        // A config.json written before the per-side settings existed still reads.
        let mut old = serde_json::to_value(cfg()).unwrap();
        let o = old.as_object_mut().unwrap();
        o.remove("fee_buy");
        o.remove("fee_sell");
        let back: BaselinesConfig = serde_json::from_value(old).unwrap();
        assert_eq!(back.fee_of().unwrap(), Fee::Exact(0.0025));
    }
}
