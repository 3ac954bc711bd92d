//! The experiment runner through the binary: every subcommand end to end into a folder that is
//! complete (its manifest verifies) or absent; `--config` reruns a run to the same bytes; a
//! non-empty `--out` is refused unless `--force`; a run killed mid-way is resumed by `--resume` to
//! the same bytes as an uninterrupted run, and refused when its settings changed; a sweep split
//! into shards gives the same folders as the whole sweep, and `pimtl report` merges them.

use pimtl::experiments::runner::{staging_path, verify_manifest};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

struct TmpDir(PathBuf);

impl TmpDir {
    fn new(test: &str) -> Self {
        let d = std::env::temp_dir().join(format!("pimtl-runner-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        TmpDir(d)
    }
    fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }
}

impl Drop for TmpDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn pimtl(args: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pimtl"))
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run pimtl")
}

fn ok(args: &[&str], out: &Path) -> String {
    let o = pimtl(args, out);
    assert!(
        o.status.success(),
        "pimtl {} failed:\n{}",
        args.join(" "),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn fails(args: &[&str], out: &Path, needles: &[&str]) -> String {
    let o = pimtl(args, out);
    let err = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(!o.status.success(), "pimtl {} succeeded", args.join(" "));
    assert!(!err.contains("panicked"), "{err}");
    for n in needles {
        assert!(err.contains(n), "pimtl {}: {n:?} not in {err}", args.join(" "));
    }
    err
}

/// The files two runs must agree on byte for byte: all but the wall time and the manifest that
/// hashes it.
fn reproducible_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let mut v: Vec<(String, Vec<u8>)> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), p))
        .filter(|(n, _)| n != "timing.json" && n != "manifest.json" && n != "phases.json")
        .map(|(n, p)| (n, std::fs::read(p).unwrap()))
        .collect();
    v.sort();
    v
}

fn assert_same_results(a: &Path, b: &Path) {
    let (x, y) = (reproducible_files(a), reproducible_files(b));
    let names = |v: &[(String, Vec<u8>)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(
        names(&x),
        names(&y),
        "{} and {} hold different files",
        a.display(),
        b.display()
    );
    for ((n, p), (_, q)) in x.iter().zip(&y) {
        assert!(p == q, "{n} differs between {} and {}", a.display(), b.display());
    }
}

const DEMO: &[&str] = &[
    "demo",
    "--steps",
    "60",
    "--eval-every",
    "20",
    "--eval-states",
    "50",
];
const SYNTHETIC: &[&str] = &[
    "synthetic",
    "--quick",
    "--repetitions",
    "3",
    "--eval-states",
    "100",
    "--epsilon",
    "0",
    "--epsilon",
    "0.4",
];
const BOUND: &[&str] = &["bound", "--quick", "--families", "1"];
const PLANTED: &str = "planted:assets=12,days=700,seed=3";

fn portfolio(extra: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = [
        "portfolio",
        "--quick",
        "--data",
        PLANTED,
        "--tasks",
        "3",
        "--tasks",
        "6",
        "--threads",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.extend(extra.iter().map(|s| s.to_string()));
    v
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Every experiment subcommand writes a complete folder (manifest verifies, config.json records
/// the settings, the data checksum and the machine), and `--config FILE` reruns it to the same
/// bytes.
#[test]
fn every_subcommand_end_to_end_and_rerun_from_its_config() {
    let t = TmpDir::new("e2e");
    let p = portfolio(&[]);
    for (name, args) in [
        ("demo", DEMO.to_vec()),
        ("synthetic", SYNTHETIC.to_vec()),
        ("bound", BOUND.to_vec()),
        ("portfolio", strs(&p)),
    ] {
        let a = t.join(&format!("{name}-a"));
        ok(&args, &a);
        let m = verify_manifest(&a).unwrap();
        assert!(m.files.iter().any(|f| f.path == "config.json"), "{name}");
        assert!(
            !staging_path(&a).unwrap().exists(),
            "{name}: staging folder left behind"
        );
        let record: serde_json::Value =
            serde_json::from_slice(&std::fs::read(a.join("config.json")).unwrap()).unwrap();
        assert_eq!(record["experiment"], name);
        assert!(record["cpu"]["arch"].is_string(), "{name}");
        assert!(record["config"]["seed"].is_u64(), "{name}: {record}");
        // Rerun from the recorded config only (no other option).
        let b = t.join(&format!("{name}-b"));
        let cfg = a.join("config.json");
        ok(&[name, "--config", cfg.to_str().unwrap()], &b);
        assert_same_results(&a, &b);
        // A changed option on top of the file is applied, and recorded.
        let c = t.join(&format!("{name}-c"));
        ok(&[name, "--config", cfg.to_str().unwrap(), "--seed", "5"], &c);
        let rc: serde_json::Value =
            serde_json::from_slice(&std::fs::read(c.join("config.json")).unwrap()).unwrap();
        assert_eq!(rc["config"]["seed"], 5, "{name}");
    }
    // Portfolio records every resolved hyper-parameter, baselines included.
    let rec: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.join("portfolio-a").join("config.json")).unwrap()).unwrap();
    for k in [
        "clip_norm",
        "olmar_window",
        "olmar_epsilon",
        "pamr_epsilon",
        "learning_rates",
        "window",
    ] {
        assert!(!rec["config"][k].is_null(), "config.{k} missing: {rec}");
    }
    assert_eq!(
        rec["config"]["window"], 20,
        "the quick preset is resolved into the file"
    );
    // `pimtl data` says where it looked.
    let o = Command::new(env!("CARGO_BIN_EXE_pimtl"))
        .args(["data", "--data-dir"])
        .arg(t.join("nowhere"))
        .output()
        .unwrap();
    assert!(o.status.success());
    let s = String::from_utf8_lossy(&o.stdout);
    assert!(
        s.contains("nowhere") && s.contains("--data-dir") && s.contains("absent"),
        "{s}"
    );
}

/// A non-empty `--out` is refused (complete or foreign), `--force` replaces it only once the new
/// one is complete, an unwritable `--out` fails before any work, and a config file of another
/// experiment or with an unknown setting is refused by name.
#[test]
fn output_folders_are_complete_or_refused() {
    let t = TmpDir::new("refuse");
    let out = t.join("b");
    ok(BOUND, &out);
    let before = std::fs::read(out.join("metrics.csv")).unwrap();
    fails(BOUND, &out, &["complete result", "--force"]);
    assert_eq!(std::fs::read(out.join("metrics.csv")).unwrap(), before);
    let mut forced = BOUND.to_vec();
    forced.extend(["--force", "--seed", "9"]);
    ok(&forced, &out);
    verify_manifest(&out).unwrap();
    assert_ne!(std::fs::read(out.join("metrics.csv")).unwrap(), before);
    let foreign = t.join("mine");
    std::fs::create_dir_all(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "keep").unwrap();
    fails(BOUND, &foreign, &["not empty"]);
    assert_eq!(
        std::fs::read_to_string(foreign.join("notes.txt")).unwrap(),
        "keep"
    );
    // Unwritable: a file where the parent folder should be. Fails before any work (the plan
    // line that starts the work is never printed) and names the path.
    std::fs::write(t.join("file"), "x").unwrap();
    let bad = t.join("file").join("out");
    let p = portfolio(&["--experiments", "40"]);
    let err = fails(&strs(&p), &bad, &["file"]);
    assert_eq!(
        err.lines().count(),
        1,
        "work started before the --out check:\n{err}"
    );
    let cfg = out.join("config.json");
    fails(
        &["demo", "--config", cfg.to_str().unwrap()],
        &t.join("d"),
        &["`bound` run", "not `demo`"],
    );
    std::fs::write(t.join("typo.json"), r#"{"stepz": 3}"#).unwrap();
    let typo = t.join("typo.json");
    fails(
        &["demo", "--config", typo.to_str().unwrap()],
        &t.join("d"),
        &["typo.json", "unknown setting `stepz`"],
    );
    assert!(!t.join("d").exists() && !staging_path(&t.join("d")).unwrap().exists());
    fails(
        &["demo", "--entities", "100000"],
        &t.join("d"),
        &["entities", "GB of working memory"],
    );
    fails(
        &["demo", "--force", "--resume"],
        &t.join("d"),
        &["--force", "--resume"],
    );
}

/// Starts `args` into `out`, kills it once it has saved `at_least` checkpoints, and returns how
/// many it had saved. Panics when the run finished before it could be killed.
fn kill_after_checkpoints(args: &[&str], out: &Path, at_least: usize) -> usize {
    let staging = staging_path(out).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pimtl"))
        .args(args)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let checkpoints = |s: &Path| std::fs::read_dir(s.join("checkpoints")).map_or(0, |d| d.count());
    while checkpoints(&staging) < at_least && started.elapsed() < Duration::from_secs(300) {
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(
        !status.success(),
        "the run finished before it could be killed; give this test a larger budget"
    );
    let done = checkpoints(&staging);
    assert!(done >= at_least, "killed before {at_least} checkpoints ({done})");
    assert!(!out.exists(), "a killed run left a result folder");
    done
}

/// `--resume` on a killed run's folder finishes it to the same bytes as `whole`.
fn resume_matches(args: &[&str], killed: &Path, whole: &Path) {
    let mut resume = args.to_vec();
    resume.push("--resume");
    let o = pimtl(&resume, killed);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(String::from_utf8_lossy(&o.stderr).contains("resuming"));
    verify_manifest(killed).unwrap();
    assert_same_results(whole, killed);
    let timing: serde_json::Value =
        serde_json::from_slice(&std::fs::read(killed.join("timing.json")).unwrap()).unwrap();
    assert_eq!(timing["resumed"], true);
}

/// Kill a real portfolio run once it has saved some checkpoints; `--resume` finishes it with the
/// same bytes as an uninterrupted run; a resume with changed settings is refused naming them.
#[test]
fn a_killed_portfolio_run_resumes_to_identical_results() {
    let t = TmpDir::new("resume");
    let p = portfolio(&["--epochs", "14"]);
    let args = strs(&p);
    let whole = t.join("whole");
    ok(&args, &whole);
    let killed = t.join("killed");
    kill_after_checkpoints(&args, &killed, 3);
    fails(&args, &killed, &["interrupted", "--resume"]);
    // Changed settings are refused, with the field named.
    let mut other = args.clone();
    other.extend(["--resume", "--commission", "0.001"]);
    fails(&other, &killed, &["config.commission", "0.0025", "0.001"]);
    resume_matches(&args, &killed, &whole);
}

/// The same for the synthetic experiment (a checkpoint per repetition) and, when Fashion-MNIST
/// is installed, the federated one (per learner and per test task).
#[test]
fn killed_synthetic_and_federated_runs_resume_to_identical_results() {
    let t = TmpDir::new("resume2");
    let syn = ["synthetic", "--repetitions", "80", "--eval-states", "1000"];
    let whole = t.join("syn-whole");
    ok(&syn, &whole);
    let killed = t.join("syn-killed");
    kill_after_checkpoints(&syn, &killed, 5);
    resume_matches(&syn, &killed, &whole);

    let data = Path::new(pimtl::data::idx::FASHION_MNIST_DIR);
    if !data.join("train-images-idx3-ubyte.gz").exists() && !data.join("train-images-idx3-ubyte").exists() {
        eprintln!("federated part skipped: no Fashion-MNIST in {}", data.display());
        return;
    }
    let fed = [
        "federated",
        "--quick",
        "--rounds",
        "4",
        "--updates",
        "3",
        "--train-tasks",
        "4",
        "--test-tasks",
        "2",
        "--threads",
        "1",
    ];
    let whole = t.join("fed-whole");
    ok(&fed, &whole);
    let killed = t.join("fed-killed");
    kill_after_checkpoints(&fed, &killed, 2);
    resume_matches(&fed, &killed, &whole);
}

/// A sweep split into two shards writes the same seed folders as the whole sweep; `report`
/// merges them (refusing folders that are not replicates), with a paired MTL − STL row.
#[test]
fn sharded_sweeps_match_the_whole_sweep_and_report_merges_them() {
    let t = TmpDir::new("sweep");
    let p = portfolio(&["--seeds", "0..3", "--experiments", "1"]);
    let whole = t.join("whole");
    ok(&strs(&p), &whole);
    let shards = t.join("shards");
    for s in ["0/2", "1/2"] {
        let mut a = p.clone();
        a.extend(["--shard".to_string(), s.to_string()]);
        ok(&strs(&a), &shards);
    }
    for seed in 0..3 {
        let (a, b) = (
            whole.join(format!("seed-{seed}")),
            shards.join(format!("seed-{seed}")),
        );
        verify_manifest(&b).unwrap();
        assert_same_results(&a, &b);
        let rec: serde_json::Value =
            serde_json::from_slice(&std::fs::read(a.join("config.json")).unwrap()).unwrap();
        assert_eq!(rec["config"]["seed"], seed);
    }
    // Resuming a finished sweep skips its seeds.
    let mut again = p.clone();
    again.push("--resume".into());
    let s = ok(&strs(&again), &whole);
    assert_eq!(s.matches("skipped").count(), 3, "{s}");
    let rep = t.join("report");
    let out = ok(&["report", whole.to_str().unwrap()], &rep);
    assert!(out.contains("portfolio over 3 seed(s)"), "{out}");
    verify_manifest(&rep).unwrap();
    let paired = std::fs::read_to_string(rep.join("paired.csv")).unwrap();
    let row = paired
        .lines()
        .find(|l| l.starts_with("gain_over_ecrp/train/T6/MTL − gain_over_ecrp/train/T6/STL,3,"))
        .unwrap_or_else(|| panic!("no paired MTL − STL row:\n{paired}"));
    // The paired mean is the mean of the per-seed differences of the per-seed means.
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(rep.join("report.json")).unwrap()).unwrap();
    let mean_of = |k: &str| {
        report["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["key"] == k)
            .unwrap()["mean"]
            .as_f64()
            .unwrap()
    };
    let d = mean_of("gain_over_ecrp/train/T6/MTL") - mean_of("gain_over_ecrp/train/T6/STL");
    let field: f64 = row.split(',').nth(2).unwrap().parse().unwrap();
    assert!((field - d).abs() < 1e-12, "{field} vs {d}");
    // The same seed twice, or folders with other settings, are refused.
    let dup = t.join("dup");
    fails(
        &[
            "report",
            whole.join("seed-0").to_str().unwrap(),
            shards.join("seed-0").to_str().unwrap(),
        ],
        &dup,
        &["seed 0 is already in"],
    );
    let other = t.join("other");
    let q = portfolio(&["--experiments", "1", "--seed", "7", "--commission", "0.001"]);
    ok(&strs(&q), &other);
    fails(
        &["report", whole.to_str().unwrap(), other.to_str().unwrap()],
        &dup,
        &["not replicates", "config.commission"],
    );
    // A folder without a manifest (incomplete, or written before manifests) is refused, and
    // admitted and marked only with --unverified.
    let legacy = t.join("legacy");
    std::fs::create_dir_all(legacy.join("seed-9")).unwrap();
    for f in ["config.json", "metrics.csv"] {
        std::fs::copy(whole.join("seed-2").join(f), legacy.join("seed-9").join(f)).unwrap();
    }
    fails(&["report", legacy.to_str().unwrap()], &dup, &["no manifest.json"]);
    let marked = t.join("marked");
    let s = ok(&["report", "--unverified", legacy.to_str().unwrap()], &marked);
    assert!(s.contains("2 (unverified)"), "{s}");
    // An altered result is refused by its manifest.
    std::fs::write(whole.join("seed-1").join("metrics.csv"), "tampered").unwrap();
    fails(
        &["report", whole.to_str().unwrap()],
        &dup,
        &["metrics.csv", "differs from the manifest"],
    );
    assert!(!dup.exists());
}

/// `pimtl` with `PIMTL_ISA` set.
fn pimtl_on(isa: &str, args: &[&str], out: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pimtl"))
        .env("PIMTL_ISA", isa)
        .args(args)
        .arg("--out")
        .arg(out)
        .output()
        .expect("run pimtl")
}

/// A whole portfolio training run (the paper's Elman policy, Adam, the sampler, back-tests) gives
/// the same result files on every SIMD path this CPU has as on the default path (config.json
/// differs only in the CPU record's `kernels`, so it is compared without it). The portable path is
/// compared on the demo (its library `fma` calls make the portfolio run 30× slower here); the
/// lane kernels' portable path is checked bit for bit in tests/kernels.rs. A misspelt `PIMTL_ISA`
/// is refused before any work.
#[test]
fn results_do_not_depend_on_the_instruction_set_path() {
    let t = TmpDir::new("isa");
    let portfolio_args = portfolio(&[]);
    let portfolio = strs(&portfolio_args);
    let without_kernels = |dir: &Path| {
        let mut v: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        v["cpu"]["kernels"] = serde_json::Value::Null;
        v
    };
    let files = |dir: &Path| {
        reproducible_files(dir)
            .into_iter()
            .filter(|(n, _)| n != "config.json")
            .collect::<Vec<_>>()
    };
    let reference = t.join("portfolio-default");
    ok(&portfolio, &reference);
    let demo_ref = t.join("demo-default");
    ok(DEMO, &demo_ref);
    for isa in pimtl::policy::Isa::available() {
        let (args, want): (&[&str], &Path) = if isa == pimtl::policy::Isa::Portable {
            (DEMO, &demo_ref)
        } else {
            (&portfolio, &reference)
        };
        let out = t.join(&format!("{}-{isa}", args[0]));
        let o = pimtl_on(isa.name(), args, &out);
        assert!(
            o.status.success(),
            "{isa}: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(
            files(&out) == files(want),
            "{isa}: result files differ from the default path's"
        );
        assert_eq!(without_kernels(&out), without_kernels(want), "{isa}: config.json");
        let record = without_kernels(&out);
        assert!(
            record.get("cpu").is_some(),
            "config.json has no CPU record: {record}"
        );
    }
    let bad = t.join("bad");
    let o = pimtl_on("avx3", DEMO, &bad);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success() && !bad.exists(), "{err}");
    assert!(
        err.contains("PIMTL_ISA") && err.contains("avx3") && err.lines().count() == 1,
        "{err}"
    );
}
