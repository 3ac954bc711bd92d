//! The "follow the winner" and pattern-matching OLPS baselines (UP, EG, ONS, Anticor, CORN)
//! against universal-portfolios 0.4.17 (`tests/data/olps_reference.json`; conventions and the
//! package's quirks in `benches/compare/OLPS.md`).
//!
//! Every strategy runs once per set with no fee; the wealth at universal-portfolios' additive
//! fees (`r = a·y − c Σ|a − w'|`, first purchase free) is recomputed from that run's growth and
//! turnover, which is what `baselines::backtest` with `Fee::Additive(c)` gives (checked once
//! below). A set whose CSV is missing is skipped.

#[path = "support/olps.rs"]
mod olps;

use pimtl::baselines::{backtest, Anticor, Corn, Eg, Fee, OnlineStrategy, Ons, Up};

/// One fee-free run: final wealth at the three reference fees and the first 12 allocations.
struct Run {
    wealth: [f64; 3],
    first12: Vec<Vec<f64>>,
}

fn run(strategy: &mut dyn OnlineStrategy, y: &[f64], m: usize) -> Run {
    let bt = backtest(strategy, y, m, Fee::None).expect("back-test");
    let mut wealth = [1.0; 3];
    for (w, &c) in wealth.iter_mut().zip(&olps::FEES) {
        for (r, t) in bt.period_returns.iter().zip(&bt.turnover) {
            *w *= (r - c * t).max(0.0);
        }
    }
    let first12 = bt.weights.chunks_exact(m).take(12).map(|r| r.to_vec()).collect();
    Run { wealth, first12 }
}

/// Compares `run` with the reference entry `key` on `set`; returns the largest relative wealth
/// difference over the three fees (asserted ≤ `tol`) after checking the first 12 days' weights.
fn compare(set: &str, key: &str, run: &Run, tol: f64, weights_tol: f64) -> f64 {
    let reference = olps::weights_first12(set, key);
    for (day, (ours, theirs)) in run.first12.iter().zip(&reference).enumerate() {
        for (i, (a, b)) in ours.iter().zip(theirs).enumerate() {
            assert!(
                (a - b).abs() <= weights_tol,
                "{set}/{key}: weight of day {day} asset {i}: {a} vs {b}"
            );
        }
    }
    let mut worst: f64 = 0.0;
    for (k, &fee) in olps::FEES.iter().enumerate() {
        let r = olps::wealth(set, key, fee);
        let d = olps::rel_diff(run.wealth[k], r);
        assert!(
            d <= tol,
            "{set}/{key} at fee {fee}: wealth {} vs {r} (rel. diff {d:e})",
            run.wealth[k]
        );
        worst = worst.max(d);
    }
    eprintln!("{set}/{key}: max rel. wealth diff {worst:.2e}");
    worst
}

/// pandas' default CSV float parser (`precise_xstrtod`, pandas 2.3): up to 17 significant digits
/// accumulated in a double, then one division by a power of ten. It is not correctly rounded: on
/// about 10 % of the prices of the NYSE sets it differs from Rust's `parse` by one ulp, which
/// breaks exact ties (Anticor's `μ_i > μ_j`) the other way. Handles the plain decimals of the
/// bundled CSVs (no exponent, no sign).
fn pandas_parse(text: &str) -> f64 {
    const MAX_DIGITS: i32 = 17;
    let mut number = 0.0_f64;
    let mut exponent = 0_i32;
    let mut digits = 0_i32;
    let mut bytes = text.trim().bytes().peekable();
    while let Some(&c) = bytes.peek().filter(|c| c.is_ascii_digit()) {
        if digits < MAX_DIGITS {
            number = number * 10.0 + f64::from(c - b'0');
            digits += 1;
        } else {
            exponent += 1;
        }
        bytes.next();
    }
    if bytes.peek() == Some(&b'.') {
        bytes.next();
        for c in bytes.by_ref() {
            if !c.is_ascii_digit() {
                panic!("unexpected {c} in {text}");
            }
            if digits < MAX_DIGITS {
                number = number * 10.0 + f64::from(c - b'0');
                digits += 1;
                exponent -= 1;
            }
        }
    }
    let p10 = |k: i32| format!("1e{k}").parse::<f64>().expect("power of ten");
    if exponent >= 0 {
        number * p10(exponent)
    } else {
        number / p10(-exponent)
    }
}

/// The relatives of `set` as universal-portfolios sees them: prices read by pandas'
/// [`pandas_parse`], `X[0] = 1`, `X[t] = row_t / row_{t−1}`. `None` when the CSV is missing.
fn pandas_relatives(set: &str) -> Option<(Vec<f64>, usize)> {
    let text = std::fs::read_to_string(olps::data_path(set)).ok()?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let m = lines.next()?.split(',').count();
    let mut prev: Option<Vec<f64>> = None;
    let mut rel = Vec::new();
    for line in lines {
        let row: Vec<f64> = line.split(',').map(pandas_parse).collect();
        assert_eq!(row.len(), m);
        match &prev {
            None => rel.extend(std::iter::repeat_n(1.0, m)),
            Some(p) => rel.extend(row.iter().zip(p).map(|(v, p)| v / p)),
        }
        prev = Some(row);
    }
    Some((rel, m))
}

#[test]
fn pandas_parser_examples() {
    assert_eq!(pandas_parse("1.0"), 1.0);
    assert_eq!(pandas_parse("0.99751"), 0.99751);
    // A string where pandas' result is one ulp off the correctly rounded value would go here;
    // the whole-set comparison below covers them.
    assert_eq!(pandas_parse("12"), 12.0);
}

fn sets() -> impl Iterator<Item = (&'static str, Vec<f64>, usize)> {
    olps::SETS.iter().filter_map(|&set| match pandas_relatives(set) {
        Some((y, m)) => Some((set, y, m)),
        None => {
            eprintln!("{set}: CSV missing, skipped");
            None
        }
    })
}

#[test]
fn eg_matches_reference() {
    let mut worst: f64 = 0.0;
    for (set, y, m) in sets() {
        let r = run(&mut Eg::default(), &y, m);
        worst = worst.max(compare(set, "EG", &r, 1e-9, 1e-12));
    }
    eprintln!("EG: max rel. diff {worst:.2e}");
}

#[test]
fn eg_additive_fee_matches_backtest() {
    let Some((y, m)) = olps::universal_relatives("djia") else {
        return;
    };
    let r = run(&mut Eg::default(), &y, m);
    for (k, &c) in olps::FEES.iter().enumerate() {
        let bt = backtest(&mut Eg::default(), &y, m, Fee::Additive(c)).unwrap();
        assert!(olps::rel_diff(bt.final_wealth(), r.wealth[k]) < 1e-13);
    }
}

#[test]
fn up_matches_reference_seed_0() {
    let mut worst: f64 = 0.0;
    for (set, y, m) in sets() {
        let r = run(&mut Up::default(), &y, m);
        worst = worst.max(compare(set, "UP", &r, 1e-9, 1e-12));
    }
    eprintln!("UP: max rel. diff {worst:.2e}");
}

#[test]
fn ons_matches_tight_reference() {
    let mut worst: f64 = 0.0;
    for (set, y, m) in sets() {
        let r = run(&mut Ons::default(), &y, m);
        // ONS@tight is cvxopt's interior-point solution at 1e-12 tolerances: weights that are 0
        // at the exact optimum come out at 1e-10 … 2e-9 there, and small positive ones differ
        // by up to 2e-8 (TSE day 5); the wealth agrees to < 1e-6.
        worst = worst.max(compare(set, "ONS@tight", &r, 1e-6, 3e-8));
        // Against the default-tolerance run: the documented ≤ 2.6e-3 (OLPS.md §3).
        let d = olps::FEES
            .iter()
            .enumerate()
            .map(|(k, &f)| olps::rel_diff(r.wealth[k], olps::wealth(set, "ONS", f)))
            .fold(0.0, f64::max);
        assert!(d < 6e-3, "{set}: ONS vs default-tolerance reference {d:e}");
    }
    eprintln!("ONS: max rel. diff vs ONS@tight {worst:.2e}");
}

#[test]
fn anticor_matches_reference() {
    let mut worst: f64 = 0.0;
    for (set, y, m) in sets() {
        let r = run(&mut Anticor::default(), &y, m);
        worst = worst.max(compare(set, "Anticor", &r, 1e-9, 1e-12));
    }
    eprintln!("Anticor: max rel. diff {worst:.2e}");
}

/// Regression: Anticor with `w = 2` on NYSE(N) in pimtl's reading (as `pimtl baselines --data
/// nyse_n --strategy anticor:window=2` runs it) overflowed to a `(−∞, +∞)` allocation on day 6221
/// (a claim of `f64::MAX` times a weight of `1 + 4.4e-16`). Every set, every short window, every
/// reading and fee model: the back-test runs and every allocation is finite.
#[test]
fn anticor_short_windows_stay_finite() {
    for &set in &olps::SETS {
        let Ok(data) = pimtl::data::prices::load(set, olps::data_path(set).parent().unwrap()) else {
            eprintln!("{set}: CSV missing, skipped");
            continue;
        };
        let m = data.num_assets();
        let mut universal = data.relatives.clone();
        universal[..m].fill(1.0);
        for y in [&data.relatives, &universal] {
            for w in [2, 3, 5] {
                for fee in [Fee::None, Fee::Additive(0.0025), Fee::Exact(0.0025)] {
                    let bt = backtest(&mut Anticor::new(w).unwrap(), y, m, fee)
                        .unwrap_or_else(|e| panic!("{set}, w = {w}, {fee:?}: {e}"));
                    assert!(bt.weights.iter().all(|x| x.is_finite()), "{set}, w = {w}");
                    assert!(bt.final_wealth().is_finite(), "{set}, w = {w}");
                }
            }
        }
    }
}

/// CORN with cash through the one simulator: `backtest` trades the assets-then-cash allocations
/// through a cash account. The wealth at each fee is recomputed from the period returns and the
/// (assets-only) turnover as `run` does, and checked against universal-portfolios' convention
/// applied by hand to the same weights, `r = 1 + Σ_i b_i (x_i − 1) − c Σ_i |b_i − b̃_i|` with the
/// drifted `b̃ = b ⊙ x / (1 + b·(x − 1))` of the previous day (first purchase free): a cash
/// account that charged the cash leg, or drifted the cash weight wrongly, fails here.
fn run_with_cash(corn: &mut Corn, y: &[f64], m: usize) -> (Run, usize) {
    let bt = backtest(corn, y, m, Fee::None).expect("back-test with cash");
    assert_eq!(bt.weights.len(), bt.days() * (m + 1), "assets then cash");
    let rows: Vec<&[f64]> = bt.weights.chunks_exact(m + 1).collect();
    let cash_days = rows.iter().filter(|r| r[m] > 1e-12).count();
    let mut wealth = [1.0; 3];
    for (w, &c) in wealth.iter_mut().zip(&olps::FEES) {
        for (r, t) in bt.period_returns.iter().zip(&bt.turnover) {
            *w *= (r - c * t).max(0.0);
        }
    }
    let mut by_hand = [1.0; 3];
    let mut drifted = vec![0.0; m];
    for (n, (row, x)) in rows.iter().zip(y.chunks_exact(m)).enumerate() {
        let b = &row[..m];
        let growth = 1.0 + b.iter().zip(x).map(|(b, x)| b * (x - 1.0)).sum::<f64>();
        let turnover: f64 = if n == 0 {
            0.0
        } else {
            b.iter().zip(&drifted).map(|(b, d)| (b - d).abs()).sum()
        };
        for (w, &c) in by_hand.iter_mut().zip(&olps::FEES) {
            *w *= (growth.max(0.0) - c * turnover).max(1e-10);
        }
        for ((d, b), x) in drifted.iter_mut().zip(b).zip(x) {
            *d = b * x / growth;
        }
    }
    for (k, (ours, hand)) in wealth.iter().zip(&by_hand).enumerate() {
        let d = olps::rel_diff(*ours, *hand);
        assert!(
            d < 1e-9,
            "fee {}: simulator {ours} vs convention {hand} ({d:e})",
            olps::FEES[k]
        );
    }
    let first12 = rows.iter().take(12).map(|r| r[..m].to_vec()).collect();
    (Run { wealth, first12 }, cash_days)
}

/// universal-portfolios' CORN solves each log-optimal portfolio with SLSQP at its default
/// `ftol = 1e-6` and a finite-difference gradient, and sometimes stops at its start point (the
/// uniform portfolio: MSCI day 11, where one matched day has a clear best asset). The exact solve
/// here differs from those figures by up to 2.4e-2 (MSCI); see OLPS.md, "Rust port:
/// differences". Days where the package returned its start point are skipped in the weights check.
const CORN_VS_PACKAGE: f64 = 3e-2;

/// Tolerance against the tight-SLSQP evaluation (SLSQP still stops at about 1e-8 in `b`).
const CORN_VS_TIGHT: f64 = 1e-4;

fn check_corn_weights(set: &str, key: &str, ours: &[Vec<f64>], tol: f64) {
    let reference = olps::weights_first12(set, key);
    for (day, (a, r)) in ours.iter().zip(&reference).enumerate() {
        let m = r.len() as f64;
        let r_uniform = r.iter().all(|&v| (v - 1.0 / m).abs() < 1e-15);
        let a_uniform = a.iter().all(|&v| (v - 1.0 / m).abs() < 1e-15);
        if r_uniform && !a_uniform {
            eprintln!("{set}/{key}: day {day}: the package stopped at its uniform start");
            continue;
        }
        for (i, (x, y)) in a.iter().zip(r).enumerate() {
            assert!(
                (x - y).abs() <= tol,
                "{set}/{key}: weight of day {day} asset {i}: {x} vs {y}"
            );
        }
    }
}

#[test]
fn corn_matches_reference() {
    let mut worst: f64 = 0.0;
    for (set, y, m) in sets() {
        let start = std::time::Instant::now();
        let (r, cash_days) = run_with_cash(&mut Corn::default(), &y, m);
        eprintln!(
            "{set}: CORN {:.2} s, {cash_days} days with cash",
            start.elapsed().as_secs_f64()
        );
        check_corn_weights(set, "CORN", &r.first12, 1e-4);
        let mut d: f64 = 0.0;
        for (k, &fee) in olps::FEES.iter().enumerate() {
            d = d.max(olps::rel_diff(r.wealth[k], olps::wealth(set, "CORN", fee)));
        }
        eprintln!("{set}/CORN: max rel. wealth diff {d:.2e}");
        assert!(d <= CORN_VS_PACKAGE, "{set}: CORN vs package {d:e}");
        worst = worst.max(d);
    }
    eprintln!("CORN: max rel. diff vs package {worst:.2e}");
}

/// The same CORN algorithm with SLSQP at `ftol = 1e-12` (`benches/compare/olps_corn_tight.py`,
/// `tests/data/olps_corn_tight.json`, small sets only: the Python loop is slow). The exact solve
/// should match it far better than the package's default-tolerance figures.
#[test]
fn corn_matches_tight_solver() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/olps_corn_tight.json");
    let text = std::fs::read_to_string(&path).expect("tests/data/olps_corn_tight.json");
    let tight: serde_json::Value = serde_json::from_str(&text).expect("parses");
    let mut worst: f64 = 0.0;
    for (set, y, m) in sets() {
        let Some(entry) = tight.get(set).filter(|_| set != "meta") else {
            continue;
        };
        let (r, _) = run_with_cash(&mut Corn::default(), &y, m);
        for (k, fee) in ["0.0", "0.001", "0.0025"].iter().enumerate() {
            let w = entry["wealth"][fee].as_f64().expect("wealth");
            let d = olps::rel_diff(r.wealth[k], w);
            eprintln!("{set}/CORN@tight fee {fee}: {} vs {w} ({d:.2e})", r.wealth[k]);
            assert!(
                d <= CORN_VS_TIGHT,
                "{set}: CORN vs CORN@tight at fee {fee}: {d:e}"
            );
            worst = worst.max(d);
        }
        let reference = entry["weights_first12"].as_array().expect("weights");
        for (day, (a, row)) in r.first12.iter().zip(reference).enumerate() {
            for (i, (x, v)) in a.iter().zip(row.as_array().expect("row")).enumerate() {
                let v = v.as_f64().expect("weight");
                assert!(
                    (x - v).abs() <= 1e-6,
                    "{set}: CORN@tight day {day} asset {i}: {x} vs {v}"
                );
            }
        }
    }
    eprintln!("CORN: max rel. diff vs CORN@tight {worst:.2e}");
}
