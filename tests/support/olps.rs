//! Shared by the integration tests that compare the online-portfolio-selection family with
//! universal-portfolios 0.4.17 (`tests/data/olps_reference.json`, made by
//! `benches/compare/olps_universal.py`; conventions in `benches/compare/OLPS.md` §1).
//!
//! Include with `#[path = "support/olps.rs"] mod olps;`. A set whose CSV is not in `data/` (or
//! `$PIMTL_DATA_DIR`) is skipped by returning `None`: `scripts/fetch-data.sh` fetches them, and
//! `.ci/run` runs it first.

#![allow(dead_code)]

use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;

/// The six bundled sets, as named in the reference file and in `data/`.
pub const SETS: [&str; 6] = ["nyse_o", "nyse_n", "tse", "djia", "sp500", "msci"];

/// The fees of the reference runs (universal-portfolios' `result.fee`).
pub const FEES: [f64; 3] = [0.0, 0.001, 0.0025];

/// Path of `data/<name>.csv` (or under `$PIMTL_DATA_DIR`).
pub fn data_path(name: &str) -> PathBuf {
    let dir = std::env::var_os("PIMTL_DATA_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("data"));
    dir.join(format!("{name}.csv"))
}

/// The relatives of set `name` in universal-portfolios' convention (`[day][asset]`, assets):
/// the CSV holds prices normalised to 1 before the first row; `algo.run(S)` turns them into
/// `X[0] = (1, …, 1)`, `X[t] = row_t / row_{t−1}`. `None` when the file is absent.
pub fn universal_relatives(name: &str) -> Option<(Vec<f64>, usize)> {
    let path = data_path(name);
    let text = std::fs::read_to_string(&path).ok()?;
    let mut lines = text.lines().filter(|l| !l.trim().is_empty());
    let m = lines.next()?.split(',').count();
    let mut prev: Option<Vec<f64>> = None;
    let mut rel = Vec::new();
    for line in lines {
        let row: Vec<f64> = line
            .split(',')
            .map(|v| v.trim().parse::<f64>().expect("number"))
            .collect();
        assert_eq!(row.len(), m, "ragged row in {}", path.display());
        match &prev {
            None => rel.extend(std::iter::repeat_n(1.0, m)),
            Some(p) => rel.extend(row.iter().zip(p).map(|(v, p)| v / p)),
        }
        prev = Some(row);
    }
    Some((rel, m))
}

/// The whole reference file, parsed once.
pub fn reference() -> &'static Value {
    static REF: OnceLock<Value> = OnceLock::new();
    REF.get_or_init(|| {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/olps_reference.json");
        let text = std::fs::read_to_string(&path).expect("tests/data/olps_reference.json");
        serde_json::from_str(&text).expect("olps_reference.json parses")
    })
}

/// The entry of `strategy` (e.g. `"ONS@tight"`) on `set`.
pub fn entry(set: &str, strategy: &str) -> &'static Value {
    let e = &reference()[set][strategy];
    assert!(!e.is_null(), "no reference entry {set}/{strategy}");
    e
}

/// The reference final wealth of `strategy` on `set` at `fee` (one of [`FEES`]).
pub fn wealth(set: &str, strategy: &str, fee: f64) -> f64 {
    let key = FEES
        .iter()
        .zip(["0.0", "0.001", "0.0025"])
        .find(|(f, _)| **f == fee)
        .map(|(_, k)| k)
        .unwrap_or_else(|| panic!("no reference at fee {fee}"));
    entry(set, strategy)["wealth"][key]
        .as_f64()
        .unwrap_or_else(|| panic!("{set}/{strategy}: no wealth at fee {key}"))
}

/// The reference weights of the first 12 days (`[day][asset]`), full precision.
pub fn weights_first12(set: &str, strategy: &str) -> Vec<Vec<f64>> {
    let v = &entry(set, strategy)["weights_first12"];
    let parsed: Value;
    let v = match v {
        Value::String(s) => {
            parsed = serde_json::from_str(&s.replace('\'', "\"")).expect("weights_first12 parses");
            &parsed
        }
        v => v,
    };
    v.as_array()
        .expect("weights_first12 is an array")
        .iter()
        .map(|row| {
            row.as_array()
                .expect("a row of weights")
                .iter()
                .map(|x| x.as_f64().expect("a weight"))
                .collect()
        })
        .collect()
}

/// Relative difference `|a − b| / |b|`.
pub fn rel_diff(a: f64, b: f64) -> f64 {
    (a - b).abs() / b.abs()
}
