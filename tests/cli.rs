//! The `pimtl` binary on bad input: every case exits non-zero with exactly one stderr line,
//! `error: …`, naming the offending file (and line), field or parameter; nothing panics and no
//! output folder is created. Every input is built in a fresh temporary directory and is valid
//! apart from the one intended defect (checked through the library before the defect is made),
//! so every case fails during validation, before any training.

use pimtl::data::idx::{load_dir, Images, Labels};
use pimtl::data::prices::{check_min_days, parse_auto};
use pimtl::experiments::portfolio::{plan, PortfolioExperimentConfig};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// A fresh temporary directory, removed on drop.
struct TmpDir(PathBuf);

impl TmpDir {
    fn new(test: &str) -> Self {
        let d = std::env::temp_dir().join(format!("pimtl-cli-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TmpDir(d)
    }

    fn path(&self) -> &Path {
        &self.0
    }

    /// The output folder passed with `--out`; it must never be created.
    fn out(&self) -> PathBuf {
        self.0.join("out")
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs `pimtl <args>` expecting a clean failure; returns the single `error:` line. Checks:
/// non-zero exit, stderr is exactly one line starting with `error:`, no panic, no `out` folder,
/// and the line contains every one of `needles`.
fn expect_error<S: AsRef<OsStr>>(args: &[S], out: &Path, needles: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_pimtl"))
        .args(args)
        .output()
        .expect("run pimtl");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let shown: Vec<String> = args
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    let shown = shown.join(" ");
    assert!(
        !output.status.success(),
        "pimtl {shown} succeeded; stderr:\n{stderr}"
    );
    assert!(!stderr.contains("panicked"), "pimtl {shown} panicked:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "pimtl {shown}: expected exactly one stderr line, got:\n{stderr}"
    );
    let line = lines[0];
    assert!(
        line.starts_with("error: "),
        "pimtl {shown}: stderr line does not start with `error: `: {line}"
    );
    for n in needles {
        assert!(
            line.contains(n),
            "pimtl {shown}: error line does not name {n:?}: {line}"
        );
    }
    assert!(
        !out.exists(),
        "pimtl {shown} created the output folder {} although it failed",
        out.display()
    );
    let staging = pimtl::experiments::runner::staging_path(out).unwrap();
    assert!(
        !staging.exists(),
        "pimtl {shown} left the staging folder {} although it failed before any work",
        staging.display()
    );
    line.to_string()
}

// ---------------------------------------------------------------------------------------------
// federated
// ---------------------------------------------------------------------------------------------

const TRAIN_IMAGES: &str = "train-images-idx3-ubyte";
const TRAIN_LABELS: &str = "train-labels-idx1-ubyte";
const TEST_IMAGES: &str = "t10k-images-idx3-ubyte";
const TEST_LABELS: &str = "t10k-labels-idx1-ubyte";

/// `per_label` images of each label 0–9 (cycling through the labels), `side × side` pixels.
fn images_and_labels(per_label: usize, side: usize) -> (Images, Labels) {
    let count = per_label * 10;
    let labels: Vec<u8> = (0..count).map(|i| (i % 10) as u8).collect();
    let pixels = (0..count * side * side)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 7) as u8)
        .collect();
    (
        Images {
            count,
            rows: side,
            cols: side,
            pixels,
        },
        Labels { labels },
    )
}

/// Writes the four IDX files of a valid data set: `train_per_label` training images of each
/// label, `test_per_label` test images of each label, `side × side` pixels.
fn write_dataset(dir: &Path, train_per_label: usize, test_per_label: usize, side: usize) {
    let (ti, tl) = images_and_labels(train_per_label, side);
    let (si, sl) = images_and_labels(test_per_label, side);
    std::fs::write(dir.join(TRAIN_IMAGES), ti.to_idx_bytes().unwrap()).unwrap();
    std::fs::write(dir.join(TRAIN_LABELS), tl.to_idx_bytes().unwrap()).unwrap();
    std::fs::write(dir.join(TEST_IMAGES), si.to_idx_bytes().unwrap()).unwrap();
    std::fs::write(dir.join(TEST_LABELS), sl.to_idx_bytes().unwrap()).unwrap();
    load_dir(dir).expect("the data set built by the test is valid");
}

/// `pimtl federated --quick --out <out> --data <data> <extra…>`.
fn federated_args(out: &Path, data: &Path, extra: &[&str]) -> Vec<std::ffi::OsString> {
    let mut a: Vec<std::ffi::OsString> = vec![
        "federated".into(),
        "--quick".into(),
        "--out".into(),
        out.into(),
        "--data".into(),
        data.into(),
    ];
    a.extend(extra.iter().map(Into::into));
    a
}

fn show(p: &Path) -> String {
    p.display().to_string()
}

#[test]
fn federated_missing_files() {
    let t = TmpDir::new("fed-missing");
    let data = t.path().join("empty");
    std::fs::create_dir_all(&data).unwrap();
    let line = expect_error(
        &federated_args(&t.out(), &data, &[]),
        &t.out(),
        &[&show(&data.join(TRAIN_IMAGES)), "missing file"],
    );
    eprintln!("{line}");
}

#[test]
fn federated_truncated_train_images() {
    let t = TmpDir::new("fed-truncated");
    let data = t.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset(&data, 20, 10, 28);
    let file = data.join(TRAIN_IMAGES);
    let bytes = std::fs::read(&file).unwrap();
    std::fs::write(&file, &bytes[..bytes.len() - 100]).unwrap();
    let line = expect_error(
        &federated_args(&t.out(), &data, &[]),
        &t.out(),
        &[&show(&file), "truncated"],
    );
    eprintln!("{line}");
}

#[test]
fn federated_label_out_of_range() {
    let t = TmpDir::new("fed-label");
    let data = t.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset(&data, 20, 10, 28);
    let (_, mut labels) = images_and_labels(20, 28);
    labels.labels[37] = 12;
    let file = data.join(TRAIN_LABELS);
    std::fs::write(&file, labels.to_idx_bytes().unwrap()).unwrap();
    let line = expect_error(
        &federated_args(&t.out(), &data, &[]),
        &t.out(),
        &[&show(&file), "37", "12"],
    );
    eprintln!("{line}");
}

#[test]
fn federated_test_images_of_another_size() {
    let t = TmpDir::new("fed-size");
    let data = t.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset(&data, 20, 10, 28);
    let (small, _) = images_and_labels(10, 20);
    let file = data.join(TEST_IMAGES);
    std::fs::write(&file, small.to_idx_bytes().unwrap()).unwrap();
    let line = expect_error(
        &federated_args(&t.out(), &data, &[]),
        &t.out(),
        &[&show(&file), "20×20", "28×28"],
    );
    eprintln!("{line}");
}

#[test]
fn federated_more_clients_than_the_data_fills() {
    let t = TmpDir::new("fed-clients");
    let data = t.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    // 200 training images of each label and 100 test images; the default universe is
    // 50 + 20 clients of 600 images.
    write_dataset(&data, 200, 10, 28);
    let line = expect_error(
        &federated_args(&t.out(), &data, &[]),
        &t.out(),
        // The universe is train_clients + test_clients = 70; the error names `samples`, the
        // universe and what the data holds.
        &[
            "`samples` = 600",
            "universe of 70 clients",
            "only 1200",
            "fewer clients",
        ],
    );
    eprintln!("{line}");
}

#[test]
fn federated_history_zero() {
    let t = TmpDir::new("fed-history");
    let data = t.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset(&data, 20, 10, 28);
    let line = expect_error(
        &federated_args(&t.out(), &data, &["--history", "0"]),
        &t.out(),
        &["history", "0"],
    );
    eprintln!("{line}");
}

#[test]
fn federated_negative_alpha() {
    let t = TmpDir::new("fed-alpha");
    let data = t.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    write_dataset(&data, 20, 10, 28);
    // Both spellings: a separate negative value must reach validation, not be taken for a flag.
    for extra in [&["--alpha", "-1"][..], &["--alpha=-1"][..]] {
        let line = expect_error(
            &federated_args(&t.out(), &data, extra),
            &t.out(),
            &["alpha", "-1"],
        );
        eprintln!("{line}");
    }
    let line = expect_error(
        &federated_args(&t.out(), &data, &["--dirichlet", "-1"]),
        &t.out(),
        &["dirichlet", "-1"],
    );
    eprintln!("{line}");
}

// ---------------------------------------------------------------------------------------------
// portfolio
// ---------------------------------------------------------------------------------------------

const ASSETS: usize = 12;
const DAYS: usize = 120;

/// A price for asset `a` on row `d`: positive, wandering.
fn price(a: usize, d: usize) -> f64 {
    let x = (a * 7 + d * 13) as f64;
    (50.0 + 5.0 * a as f64) * (1.0 + 0.02 * x.sin() + 0.001 * d as f64)
}

/// Rows of a CSV as fields; row 0 is the header. `dated`: a `date` column and close prices;
/// otherwise the undated OLPS price path (normalised to 1 on the day before the first row).
fn csv_rows(dated: bool) -> Vec<Vec<String>> {
    let mut rows = Vec::with_capacity(DAYS + 1);
    let mut header: Vec<String> = (0..ASSETS).map(|a| format!("A{a:02}")).collect();
    if dated {
        header.insert(0, "date".into());
    }
    rows.push(header);
    // 2020-01-01 is day 18262 since 1970-01-01.
    for d in 0..DAYS {
        let mut row: Vec<String> = (0..ASSETS)
            .map(|a| {
                if dated {
                    format!("{:.4}", price(a, d))
                } else {
                    format!("{:.6}", price(a, d + 1) / price(a, 0))
                }
            })
            .collect();
        if dated {
            let (y, m, day) = pimtl::io::civil_from_days(18_262 + d as i64);
            row.insert(0, format!("{y:04}-{m:02}-{day:02}"));
        }
        rows.push(row);
    }
    rows
}

fn to_csv(rows: &[Vec<String>]) -> String {
    let mut s = String::new();
    for r in rows {
        s.push_str(&r.join(","));
        s.push('\n');
    }
    s
}

/// Checks that the defect-free rows are accepted all the way to the experiment's plan.
fn assert_valid(rows: &[Vec<String>], dir: &Path) {
    let path = dir.join("clean.csv");
    let data = parse_auto(to_csv(rows).as_bytes(), &path).expect("clean CSV parses");
    let cfg = PortfolioExperimentConfig::quick(&show(&path));
    cfg.validate().unwrap();
    check_min_days(&data, cfg.window).expect("enough days");
    plan(&cfg, data.num_assets(), data.days(), 1).expect("clean CSV fits the quick plan");
}

/// Writes `rows` with `field` of 1-based `line` replaced by `value` (0-based `column` of the
/// row) and runs the portfolio experiment on it.
fn portfolio_with_defect(
    test: &str,
    dated: bool,
    line: usize,
    column: usize,
    value: &str,
    needles: &[&str],
) -> String {
    let t = TmpDir::new(test);
    let mut rows = csv_rows(dated);
    assert_valid(&rows, t.path());
    rows[line - 1][column] = value.to_string();
    let file = t.path().join("prices.csv");
    std::fs::write(&file, to_csv(&rows)).unwrap();
    let column_name = rows[0][column].clone();
    let file_line = format!("{}:{line}", show(&file));
    let mut all = vec![file_line.as_str(), column_name.as_str()];
    all.extend_from_slice(needles);
    expect_error(&portfolio_args(&t.out(), &file), &t.out(), &all)
}

/// `pimtl portfolio --quick --out <out> --data <file>`.
fn portfolio_args(out: &Path, data: &Path) -> Vec<std::ffi::OsString> {
    vec![
        "portfolio".into(),
        "--quick".into(),
        "--out".into(),
        out.into(),
        "--data".into(),
        data.into(),
    ]
}

#[test]
fn portfolio_empty_file() {
    let t = TmpDir::new("pf-empty");
    let file = t.path().join("empty.csv");
    std::fs::write(&file, "").unwrap();
    let line = expect_error(
        &portfolio_args(&t.out(), &file),
        &t.out(),
        &[&format!("{}:1", show(&file)), "empty file"],
    );
    eprintln!("{line}");
}

#[test]
fn portfolio_nan_price() {
    for dated in [true, false] {
        let col = if dated { 3 } else { 2 };
        let line = portfolio_with_defect("pf-nan", dated, 40, col, "NaN", &["not finite", "NaN"]);
        eprintln!("{line}");
    }
}

#[test]
fn portfolio_non_positive_price() {
    for (dated, value, kind) in [
        (true, "0", "zero"),
        (true, "-3.5", "negative"),
        (false, "0", "zero"),
        (false, "-0.25", "negative"),
    ] {
        let col = if dated { 5 } else { 4 };
        let line = portfolio_with_defect("pf-nonpos", dated, 17, col, value, &[kind, value]);
        eprintln!("{line}");
    }
}

#[test]
fn portfolio_malformed_number_on_line_3() {
    for dated in [true, false] {
        let col = if dated { 2 } else { 1 };
        let line = portfolio_with_defect(
            "pf-malformed",
            dated,
            3,
            col,
            "12.3.4",
            &["not a number", "12.3.4"],
        );
        eprintln!("{line}");
    }
}

#[test]
fn portfolio_bad_planted_specs() {
    for (spec, needles) in [
        (
            "planted:volatility=0.2",
            &["volatility", "unknown planted-market key"][..],
        ),
        ("planted:days=0", &["planted days", "at least 1"][..]),
        ("planted:assets=0", &["planted assets"][..]),
        ("planted:regime=0", &["planted regime"][..]),
        ("planted:drift=NaN", &["planted drift", "NaN"][..]),
        ("planted:noise=abc", &["noise=abc", "a number"][..]),
        ("planted:days=60", &["60 days are too few"][..]),
    ] {
        let t = TmpDir::new("pf-planted");
        let line = expect_error(&portfolio_args(&t.out(), Path::new(spec)), &t.out(), needles);
        eprintln!("{line}");
    }
}

#[test]
fn portfolio_protocol_refusals_before_any_work() {
    for (extra, needles) in [
        (
            &["--holdout", "5", "--task-size", "5", "--holdout-tasks", "10"][..],
            &[
                "holdout_tasks",
                "only 1 distinct tasks of 5",
                "hold out at least 7",
            ][..],
        ),
        (
            &["--validation-fraction", "0.01"][..],
            &["validation_fraction", "validation range would have"][..],
        ),
        (
            &["--validation-fraction", "0", "--lr", "1e-3", "--lr", "3e-4"][..],
            &["needs a validation range"][..],
        ),
        (&["--lr", "-0.001"][..], &["lr", "must be finite and > 0"][..]),
        (&["--epochs", "0"][..], &["epochs", "must be finite and > 0"][..]),
    ] {
        let t = TmpDir::new("pf-protocol");
        let mut args = portfolio_args(&t.out(), Path::new("planted:days=400"));
        args.extend(extra.iter().map(Into::into));
        let line = expect_error(&args, &t.out(), needles);
        eprintln!("{line}");
    }
}

/// The portfolio study with a cash asset end to end on a small planted market (well under a
/// second in release): it succeeds and Fig. 5's allocation plots show cash as a band of its own
/// (each allocation row has m + 1 entries, cash last; the plot once refused them).
#[test]
fn portfolio_with_cash_draws_cash_band() {
    let t = TmpDir::new("pf-cash");
    let out = t.out();
    let mut args = portfolio_args(&out, Path::new("planted:days=400"));
    args.extend(
        [
            "--cash",
            "--experiments",
            "1",
            "--tasks",
            "2",
            "--holdout-tasks",
            "2",
        ]
        .iter()
        .map(Into::into),
    );
    let o = Command::new(env!("CARGO_BIN_EXE_pimtl"))
        .args(&args)
        .output()
        .expect("run pimtl");
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let config = std::fs::read_to_string(out.join("config.json")).unwrap();
    assert!(config.contains("\"cash\": true"), "{config}");
    for name in ["mtl", "stl"] {
        let svg = std::fs::read_to_string(out.join(format!("fig5_weights_{name}.svg"))).unwrap();
        // The legend entry (plotters writes a text's content on its own line) and the band's
        // light grey (#C8C8C8), which no instrument uses.
        assert!(
            svg.lines().any(|l| l.trim() == "cash") && svg.contains("#C8C8C8"),
            "fig5_weights_{name}.svg has no cash band"
        );
    }
}

/// The federated experiment end to end on the real data (a tiny budget, a few seconds): it
/// succeeds, writes every documented file, and two runs with the same seed write the same
/// results. Skipped when Fashion-MNIST is not installed (CI installs it).
#[test]
fn federated_runs_end_to_end_and_is_reproducible() {
    let data = Path::new(pimtl::data::idx::FASHION_MNIST_DIR);
    if !data.join("train-images-idx3-ubyte.gz").exists() && !data.join("train-images-idx3-ubyte").exists() {
        eprintln!("skipped: no Fashion-MNIST in {}", data.display());
        return;
    }
    let tmp = TmpDir::new("fed-e2e");
    let run = |name: &str| {
        let out = tmp.path().join(name);
        let output = Command::new(env!("CARGO_BIN_EXE_pimtl"))
            .args([
                "federated",
                "--quick",
                "--rounds",
                "3",
                "--updates",
                "2",
                "--train-tasks",
                "4",
            ])
            .args(["--test-tasks", "1", "--seed", "7", "--out"])
            .arg(&out)
            .output()
            .expect("run pimtl");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        out
    };
    let a = run("a");
    for f in [
        "accuracy.csv",
        "weights.csv",
        "metrics.csv",
        "summary.json",
        "config.json",
        "policy_stl.json",
        "policy_mtl.json",
        "accuracy.svg",
        "accuracy_stl_task.svg",
        "weights_stl.svg",
        "weights_mtl.svg",
        "training.svg",
    ] {
        assert!(a.join(f).exists(), "{f} missing");
    }
    let acc = std::fs::read_to_string(a.join("accuracy.csv")).unwrap();
    // 5 methods (fedavg, rare_half, stl, mtl, centralised) × 2 task sets (1 held-out task, the STL task) × 3
    // rounds, plus the header.
    assert_eq!(acc.lines().count(), 1 + 5 * 2 * 3, "{acc}");
    let b = run("b");
    for f in ["accuracy.csv", "weights.csv", "metrics.csv"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs between two runs with the same seed"
        );
    }
}

// ---------------------------------------------------------------------------------------------
// baselines
// ---------------------------------------------------------------------------------------------

/// `pimtl baselines --out <out> --data <file> <extra…>`.
fn baselines_args(out: &Path, data: &Path, extra: &[&str]) -> Vec<std::ffi::OsString> {
    let mut a: Vec<std::ffi::OsString> = vec![
        "baselines".into(),
        "--out".into(),
        out.into(),
        "--data".into(),
        data.into(),
    ];
    a.extend(extra.iter().map(|s| s.into()));
    a
}

#[test]
fn baselines_bad_strategies_and_data() {
    let t = TmpDir::new("baselines-bad");
    let rows = csv_rows(true);
    assert_valid(&rows, t.path());
    let file = t.path().join("prices.csv");
    std::fs::write(&file, to_csv(&rows)).unwrap();
    let out = t.out();
    expect_error(
        &baselines_args(&out, &file, &["--strategy", "olmr"]),
        &out,
        &["olmr", "known: ucrp"],
    );
    expect_error(
        &baselines_args(&out, &file, &["--strategy", "olmar:windw=3"]),
        &out,
        &["windw", "window, eps"],
    );
    expect_error(
        &baselines_args(&out, &file, &["--strategy", "olmar:eps=-1"]),
        &out,
        &["eps"],
    );
    let too_long = format!("olmar:window={DAYS}");
    expect_error(
        &baselines_args(&out, &file, &["--strategy", &too_long]),
        &out,
        &["not shorter than the data", &show(&file)],
    );
    expect_error(&baselines_args(&out, &file, &["--fee", "-0.1"]), &out, &["fee"]);
    // Bad data: a NaN price on line 4 and an empty file, named with file, line and column.
    let mut nan = rows.clone();
    nan[3][2] = "NaN".into();
    std::fs::write(&file, to_csv(&nan)).unwrap();
    let at = format!("{}:4", show(&file));
    expect_error(&baselines_args(&out, &file, &[]), &out, &[&at, &nan[0][2]]);
    std::fs::write(&file, "").unwrap();
    expect_error(&baselines_args(&out, &file, &[]), &out, &[&show(&file)]);
}

#[test]
fn baselines_runs_end_to_end_and_is_reproducible() {
    let t = TmpDir::new("baselines-run");
    let file = t.path().join("prices.csv");
    std::fs::write(&file, to_csv(&csv_rows(true))).unwrap();
    let run = |out: &Path| {
        let o = Command::new(env!("CARGO_BIN_EXE_pimtl"))
            .args(baselines_args(out, &file, &[]))
            .output()
            .expect("run pimtl");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let (a, b) = (t.path().join("a"), t.path().join("b"));
    let table = run(&a);
    run(&b);
    assert!(table.contains("best online strategy"), "{table}");
    for f in ["results.json", "table.csv", "wealth.csv", "wealth.svg"] {
        assert_eq!(
            std::fs::read(a.join(f)).unwrap(),
            std::fs::read(b.join(f)).unwrap(),
            "{f} differs between runs"
        );
    }
    let csv = std::fs::read_to_string(a.join("table.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + pimtl::baselines::registry::entries().len(),
        "one row per strategy:\n{csv}"
    );
}

#[test]
fn baselines_bad_per_side_fees() {
    let t = TmpDir::new("baselines-per-side-bad");
    let file = t.path().join("prices.csv");
    std::fs::write(&file, to_csv(&csv_rows(true))).unwrap();
    let out = t.out();
    for (extra, needles) in [
        (&["--fee-buy", "0.001"][..], &["fee_buy", "per-side"][..]),
        (
            &["--fee-model", "additive", "--fee-sell", "0.001"][..],
            &["fee_sell", "per-side"][..],
        ),
        (
            &["--fee-model", "per-side", "--fee-buy", "-0.001"][..],
            &["fee_buy", "-0.001", "[0, 1)"][..],
        ),
        (
            &["--fee-model", "per-side", "--fee-sell", "1"][..],
            &["fee_sell", "[0, 1)"][..],
        ),
    ] {
        let line = expect_error(&baselines_args(&out, &file, extra), &out, needles);
        eprintln!("{line}");
    }
    // A non-finite rate is refused by the argument parser (clap's own message and usage hint),
    // not read as an absent rate.
    for extra in [
        &["--fee-model", "per-side", "--fee-buy", "NaN"][..],
        &["--fee-model", "per-side", "--fee-sell", "inf"][..],
        &["--fee", "NaN"][..],
    ] {
        let o = Command::new(env!("CARGO_BIN_EXE_pimtl"))
            .args(baselines_args(&out, &file, extra))
            .output()
            .expect("run pimtl");
        let stderr = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{extra:?} succeeded");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains("finite number in [0, 1)"),
            "{stderr}"
        );
        assert!(!out.exists());
    }
}

/// Per-side fees with equal rates charge what the equal-rate exact model charges: every
/// strategy's final wealth is the same to the bit (the per-side remainder's fixed-point iteration
/// with `c_s + c_p − c_s c_p` is the same arithmetic as `2c − c²` when the rates are equal).
#[test]
fn baselines_per_side_with_equal_rates_is_exact() {
    let t = TmpDir::new("baselines-per-side");
    let file = t.path().join("prices.csv");
    std::fs::write(&file, to_csv(&csv_rows(true))).unwrap();
    let wealth = |name: &str, extra: &[&str]| -> Vec<(String, f64)> {
        let out = t.path().join(name);
        let o = Command::new(env!("CARGO_BIN_EXE_pimtl"))
            .args(baselines_args(&out, &file, extra))
            .output()
            .expect("run pimtl");
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("results.json")).unwrap()).unwrap();
        v["strategies"]
            .as_array()
            .expect("results.json has strategies")
            .iter()
            .map(|s| {
                (
                    s["label"].as_str().unwrap().to_string(),
                    s["metrics"]["final_wealth"].as_f64().unwrap(),
                )
            })
            .collect()
    };
    let c = "0.004";
    let exact = wealth("exact", &["--fee-model", "exact", "--fee", c]);
    let sides = wealth(
        "per-side",
        &["--fee-model", "per-side", "--fee-buy", c, "--fee-sell", c],
    );
    assert_eq!(exact.len(), pimtl::baselines::registry::entries().len());
    assert_eq!(exact.len(), sides.len());
    for ((la, a), (lb, b)) in exact.iter().zip(&sides) {
        assert_eq!(la, lb);
        assert_eq!(a.to_bits(), b.to_bits(), "{la}: exact {a} vs per-side {b}");
    }
    // Different rates do charge differently (and more selling cost costs wealth).
    let dearer = wealth(
        "dearer",
        &["--fee-model", "per-side", "--fee-buy", c, "--fee-sell", "0.01"],
    );
    let ucrp = |w: &[(String, f64)]| w.iter().find(|(l, _)| l == "ucrp").unwrap().1;
    assert!(
        ucrp(&dearer) < ucrp(&exact),
        "{} vs {}",
        ucrp(&dearer),
        ucrp(&exact)
    );
}
