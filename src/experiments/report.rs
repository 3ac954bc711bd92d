//! `pimtl report`: merges result folders of one experiment (the seeds of a sweep, shards run on
//! several machines, single runs) into tables over seeds: for every measured quantity the mean,
//! the sample standard deviation and the 95 % t interval, and for the comparisons the experiment
//! is about (MTL against STL, a learned policy against FedAvg, …) the paired differences over
//! seeds with their interval and the exact sign test.
//!
//! Every folder is checked against its manifest first (a folder without one is incomplete and
//! refused, unless `--unverified` admits folders written before manifests existed, which the
//! report then marks). The folders must agree on every setting except the seed, and no seed may
//! appear twice: merging anything else would not be a set of replicates.
//!
//! What is read per experiment (one value per folder and key):
//! * `federated`: `summary.json`, per test set and method, the final accuracy and the mean
//!   accuracy over rounds; pairs MTL − STL, STL − FedAvg, MTL − FedAvg, each policy against the
//!   rare-half reweighting, and the centralised upper bound against each when present;
//! * `portfolio`: `metrics.csv`, per task set, T and method, the mean gain over Equal CRP and the
//!   mean annualised return over experiments and tasks; pairs MTL − STL, P-MTL − STL, P-MTL − MTL;
//! * `synthetic`: `summary.json`, per ε, the real and augmented values and their gap;
//! * `bound`: `summary.json`, per spread level and N, the mean measured suboptimality and bound;
//! * `demo`: `summary.json`, the final regret and transfer regret.

use super::runner::{self, read_json, refuse, MANIFEST};
use crate::error::{Error, Result};
use crate::plot::{interval_chart, Interval95};
use crate::stats::{paired, Interval};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One merged folder.
#[derive(Clone, Debug, Serialize)]
pub struct Source {
    /// The folder.
    pub path: String,
    /// Its seed.
    pub seed: u64,
    /// Whether its manifest was checked (false only for folders admitted with `--unverified`).
    pub verified: bool,
}

/// A quantity over seeds.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// What was measured, e.g. `held_out/mtl/final`.
    pub key: String,
    /// Seeds it was measured in.
    pub n: usize,
    /// Mean over seeds.
    pub mean: f64,
    /// Sample standard deviation (n − 1).
    pub sd: f64,
    /// 95 % t interval of the mean (NaN when n < 2).
    pub ci_low: f64,
    /// Upper end.
    pub ci_high: f64,
}

/// A paired comparison over seeds: `a − b` per seed.
#[derive(Clone, Debug, Serialize)]
pub struct PairedRow {
    /// `a − b`, e.g. `held_out/final: mtl − stl`.
    pub key: String,
    /// Seeds where both were measured.
    pub n: usize,
    /// Mean difference.
    pub mean: f64,
    /// 95 % t interval of the mean difference.
    pub ci_low: f64,
    /// Upper end.
    pub ci_high: f64,
    /// Seeds with a positive difference.
    pub positive: usize,
    /// Seeds with a negative difference.
    pub negative: usize,
    /// Two-sided exact sign-test p-value.
    pub sign_p: f64,
}

/// The merged report.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// The experiment all folders ran.
    pub experiment: String,
    /// The folders, in seed order.
    pub sources: Vec<Source>,
    /// Every quantity.
    pub rows: Vec<Row>,
    /// The comparisons.
    pub paired: Vec<PairedRow>,
}

/// The result folders under `dirs`: each one itself when it holds `config.json`, otherwise its
/// sub-folders that do (a sweep's `seed-S`), sorted; hidden staging folders are skipped.
fn expand(dirs: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for d in dirs {
        if !d.is_dir() {
            return Err(refuse(d, "is not a folder"));
        }
        if d.join(runner::CONFIG).is_file() {
            out.push(d.clone());
            continue;
        }
        let mut subs: Vec<PathBuf> = std::fs::read_dir(d)
            .map_err(|source| Error::Io {
                path: d.clone(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.is_dir()
                    && p.join(runner::CONFIG).is_file()
                    && !p
                        .file_name()
                        .is_some_and(|n| n.to_string_lossy().starts_with('.'))
            })
            .collect();
        if subs.is_empty() {
            return Err(refuse(
                d,
                "is not a result folder (no config.json) and holds none",
            ));
        }
        subs.sort();
        out.extend(subs);
    }
    Ok(out)
}

/// Merges the folders under `dirs` (see the module doc). `unverified` admits folders without a
/// manifest.
///
/// # Errors
/// A folder that is incomplete or altered (manifest), of another experiment, with other settings
/// than the first (the differing fields named), a seed twice, or a file that cannot be read.
pub fn build(dirs: &[PathBuf], unverified: bool) -> Result<Report> {
    let folders = expand(dirs)?;
    let mut experiment = None::<String>;
    let mut reference: Option<(PathBuf, Value)> = None;
    let mut entries: Vec<(Source, BTreeMap<String, f64>)> = Vec::new();
    for f in &folders {
        let verified = if f.join(MANIFEST).is_file() || !unverified {
            runner::verify_manifest(f)?;
            true
        } else {
            false
        };
        let record = read_json(&f.join(runner::CONFIG))?;
        let exp = record["experiment"]
            .as_str()
            .ok_or_else(|| refuse(&f.join(runner::CONFIG), "no `experiment` field"))?
            .to_string();
        let mut config = record["config"].clone();
        let seed = config["seed"]
            .as_u64()
            .ok_or_else(|| refuse(&f.join(runner::CONFIG), "no `config.seed` field"))?;
        if let Some(o) = config.as_object_mut() {
            o.remove("seed");
        }
        match (&experiment, &reference) {
            (Some(e), Some((rp, rc))) => {
                if *e != exp {
                    return Err(refuse(
                        f,
                        format!("is a `{exp}` result; {} is `{e}`", rp.display()),
                    ));
                }
                if *rc != config {
                    let diffs = crate::io::json_differences("config", rc, &config);
                    return Err(refuse(
                        f,
                        format!(
                            "has other settings than {} (not replicates): {}",
                            rp.display(),
                            diffs.join(", ")
                        ),
                    ));
                }
            }
            _ => {
                experiment = Some(exp.clone());
                reference = Some((f.clone(), config.clone()));
            }
        }
        if let Some((other, _)) = entries.iter().find(|(s, _)| s.seed == seed) {
            return Err(refuse(f, format!("seed {seed} is already in {}", other.path)));
        }
        let values = extract(&exp, f)?;
        entries.push((
            Source {
                path: f.display().to_string(),
                seed,
                verified,
            },
            values,
        ));
    }
    entries.sort_by_key(|(s, _)| s.seed);
    let experiment = experiment.unwrap_or_default();
    let mut keys: Vec<String> = entries.iter().flat_map(|(_, v)| v.keys().cloned()).collect();
    keys.sort();
    keys.dedup();
    let rows = keys
        .iter()
        .map(|k| {
            let xs: Vec<f64> = entries.iter().filter_map(|(_, v)| v.get(k).copied()).collect();
            let i = Interval::t95(&xs);
            Row {
                key: k.clone(),
                n: i.n,
                mean: i.mean,
                sd: i.sd,
                ci_low: i.lo,
                ci_high: i.hi,
            }
        })
        .collect();
    let mut paired_rows = Vec::new();
    for (a, b) in pairs(&experiment, &keys) {
        let (mut xa, mut xb) = (Vec::new(), Vec::new());
        for (_, v) in &entries {
            if let (Some(&x), Some(&y)) = (v.get(&a), v.get(&b)) {
                xa.push(x);
                xb.push(y);
            }
        }
        if xa.is_empty() {
            continue;
        }
        let p = paired(&xa, &xb);
        paired_rows.push(PairedRow {
            key: format!("{a} − {b}"),
            n: p.interval.n,
            mean: p.interval.mean,
            ci_low: p.interval.lo,
            ci_high: p.interval.hi,
            positive: p.sign.positive,
            negative: p.sign.negative,
            sign_p: p.sign.p_value,
        });
    }
    Ok(Report {
        experiment,
        sources: entries.into_iter().map(|(s, _)| s).collect(),
        rows,
        paired: paired_rows,
    })
}

/// The quantities of one folder, by key.
fn extract(experiment: &str, dir: &Path) -> Result<BTreeMap<String, f64>> {
    let mut v = BTreeMap::new();
    let mut put = |k: String, x: Option<f64>| {
        if let Some(x) = x.filter(|x| x.is_finite()) {
            v.insert(k, x);
        }
    };
    match experiment {
        "federated" => {
            let s = read_json(&dir.join("summary.json"))?;
            for (set, methods) in s["summary"].as_object().into_iter().flatten() {
                for (method, m) in methods.as_object().into_iter().flatten() {
                    for metric in ["final", "mean_over_rounds"] {
                        put(format!("{set}/{metric}/{method}"), m[metric].as_f64());
                    }
                }
            }
        }
        "portfolio" => {
            let path = dir.join("metrics.csv");
            let text =
                String::from_utf8(crate::io::read_file(&path)?).map_err(|_| refuse(&path, "not UTF-8"))?;
            let mut lines = text.lines();
            let header: Vec<&str> = lines.next().unwrap_or("").split(',').collect();
            let col = |name: &str| {
                header
                    .iter()
                    .position(|h| *h == name)
                    .ok_or_else(|| refuse(&path, format!("no column `{name}`")))
            };
            let (ct, cm, cs, cg, cr) = (
                col("tasks")?,
                col("method")?,
                col("task_set")?,
                col("gain_over_ecrp")?,
                col("annualised_return")?,
            );
            let mut sums: BTreeMap<String, (f64, f64)> = BTreeMap::new();
            for (i, line) in lines.enumerate() {
                let f: Vec<&str> = line.split(',').collect();
                let num = |c: usize, name: &str| -> Result<f64> {
                    f.get(c)
                        .and_then(|x| x.parse::<f64>().ok())
                        .ok_or_else(|| Error::Parse {
                            path: path.clone(),
                            line: i + 2,
                            column: name.to_string(),
                            reason: "not a number".into(),
                        })
                };
                let (g, r) = (num(cg, "gain_over_ecrp")?, num(cr, "annualised_return")?);
                let tasks = f.get(ct).copied().unwrap_or("");
                let group = if tasks == "0" {
                    format!(
                        "{}/{}",
                        f.get(cs).copied().unwrap_or(""),
                        f.get(cm).copied().unwrap_or("")
                    )
                } else {
                    format!(
                        "{}/T{tasks}/{}",
                        f.get(cs).copied().unwrap_or(""),
                        f.get(cm).copied().unwrap_or("")
                    )
                };
                for (metric, x) in [("gain_over_ecrp", g), ("annualised_return", r)] {
                    let e = sums.entry(format!("{metric}/{group}")).or_insert((0.0, 0.0));
                    e.0 += x;
                    e.1 += 1.0;
                }
            }
            for (k, (s, n)) in sums {
                put(k, Some(s / n));
            }
        }
        "synthetic" => {
            let s = read_json(&dir.join("summary.json"))?;
            for e in s["per_epsilon"].as_array().into_iter().flatten() {
                let eps = e["epsilon"].as_f64().unwrap_or(f64::NAN);
                for metric in ["real", "augmented", "gap"] {
                    put(format!("eps{eps:.2}/{metric}"), e[metric].as_f64());
                }
            }
        }
        "bound" => {
            let s = read_json(&dir.join("summary.json"))?;
            for l in s["summary"]["levels"].as_array().into_iter().flatten() {
                let spread = l["spread"]
                    .as_f64()
                    .map_or("file".to_string(), |x| format!("{x}"));
                let n = l["n_per_task"].as_u64().unwrap_or(0);
                for metric in ["mean_epsilon", "mean_measured", "mean_total"] {
                    put(format!("s{spread}/N{n}/{metric}"), l[metric].as_f64());
                }
            }
        }
        "demo" => {
            let s = read_json(&dir.join("summary.json"))?;
            for metric in ["regret", "transfer_regret", "policy_reward"] {
                put(format!("final/{metric}"), s["final"][metric].as_f64());
            }
        }
        other => return Err(refuse(dir, format!("unknown experiment `{other}`"))),
    }
    Ok(v)
}

/// The comparisons of an experiment, as `(a, b)` key pairs present in `keys`.
fn pairs(experiment: &str, keys: &[String]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (methods, sep): (&[(&str, &str)], char) = match experiment {
        "federated" => (
            &[
                ("mtl", "stl"),
                ("stl", "fedavg"),
                ("mtl", "fedavg"),
                ("mtl", "rare_half"),
                ("stl", "rare_half"),
                ("centralised", "mtl"),
                ("centralised", "stl"),
                ("centralised", "fedavg"),
            ],
            '/',
        ),
        "portfolio" => (&[("MTL", "STL"), ("P-MTL", "STL"), ("P-MTL", "MTL")], '/'),
        _ => return out,
    };
    for k in keys {
        let Some((prefix, last)) = k.rsplit_once(sep) else {
            continue;
        };
        for (a, b) in methods {
            if last == *a {
                let other = format!("{prefix}{sep}{b}");
                if keys.contains(&other) {
                    out.push((k.clone(), other));
                }
            }
        }
    }
    out
}

/// A plain-text table of the report.
pub fn table(r: &Report) -> String {
    let mut s = format!(
        "{} over {} seed(s): {}\n",
        r.experiment,
        r.sources.len(),
        r.sources
            .iter()
            .map(|s| format!("{}{}", s.seed, if s.verified { "" } else { " (unverified)" }))
            .collect::<Vec<_>>()
            .join(", ")
    );
    s.push_str(&format!(
        "{:<48} {:>3} {:>11} {:>10} {:>24}\n",
        "quantity", "n", "mean", "sd", "95 % interval"
    ));
    for row in &r.rows {
        s.push_str(&format!(
            "{:<48} {:>3} {:>11.5} {:>10.5} [{:>10.5}, {:>10.5}]\n",
            row.key, row.n, row.mean, row.sd, row.ci_low, row.ci_high
        ));
    }
    if !r.paired.is_empty() {
        s.push_str(&format!(
            "\n{:<72} {:>3} {:>10} {:>24} {:>6} {:>7}\n",
            "paired difference", "n", "mean", "95 % interval", "+/−", "sign p"
        ));
        for p in &r.paired {
            s.push_str(&format!(
                "{:<72} {:>3} {:>10.5} [{:>10.5}, {:>10.5}] {:>3}/{:<2} {:>7.3}\n",
                p.key, p.n, p.mean, p.ci_low, p.ci_high, p.positive, p.negative, p.sign_p
            ));
        }
    }
    s
}

fn csv_f(x: f64) -> String {
    if x.is_finite() {
        format!("{x}")
    } else {
        String::new()
    }
}

/// Writes `report.csv` (every quantity), `paired.csv` (the comparisons), `report.json`
/// (both, and the folders merged) and `paired.svg` (the paired differences with their
/// intervals) into `out`.
///
/// # Errors
/// A file that cannot be written, named.
pub fn write(r: &Report, out: &Path) -> Result<()> {
    let mut csv = String::from("key,n,mean,sd,ci_low,ci_high\n");
    for row in &r.rows {
        csv.push_str(&format!(
            "{},{},{},{},{},{}\n",
            row.key,
            row.n,
            csv_f(row.mean),
            csv_f(row.sd),
            csv_f(row.ci_low),
            csv_f(row.ci_high)
        ));
    }
    crate::io::write_atomic(&out.join("report.csv"), csv.as_bytes())?;
    let mut pcsv = String::from("key,n,mean,ci_low,ci_high,positive,negative,sign_p\n");
    for p in &r.paired {
        pcsv.push_str(&format!(
            "{},{},{},{},{},{},{},{}\n",
            p.key,
            p.n,
            csv_f(p.mean),
            csv_f(p.ci_low),
            csv_f(p.ci_high),
            p.positive,
            p.negative,
            p.sign_p
        ));
    }
    crate::io::write_atomic(&out.join("paired.csv"), pcsv.as_bytes())?;
    let json = serde_json::to_vec_pretty(r).map_err(|e| refuse(out, e.to_string()))?;
    crate::io::write_atomic(&out.join("report.json"), &json)?;
    let items: Vec<Interval95> = r
        .paired
        .iter()
        .filter(|p| p.mean.is_finite())
        .map(|p| Interval95 {
            label: p.key.clone(),
            mean: p.mean,
            lo: if p.ci_low.is_finite() { p.ci_low } else { p.mean },
            hi: if p.ci_high.is_finite() { p.ci_high } else { p.mean },
        })
        .collect();
    if !items.is_empty() {
        interval_chart(
            &out.join("paired.svg"),
            &format!(
                "{}: paired differences over {} seeds (95 % t intervals)",
                r.experiment,
                r.sources.len()
            ),
            "difference",
            &items,
        )?;
    }
    Ok(())
}
