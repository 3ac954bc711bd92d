//! Client partitions (paper skew, Dirichlet) and the FedAvg baselines.
//!
//! The FedAvg tests run softmax-regression clients on a slice of the real Fashion-MNIST when it is
//! installed at `/usr/share/datasets/fashion-mnist` (they print a note and return otherwise).

use pimtl::data::{load_dir, Dataset, FASHION_MNIST_DIR};
use pimtl::federated::fedavg::class_hits;
use pimtl::federated::partition::{gather, COMMON_LABELS, RARE_LABELS};
use pimtl::federated::{
    dirichlet, draw_skewed_task, paper_skew, rare_half_weights, run_federated, run_federated_with,
    skewed_universe, ClientModel, ConvNet, FedConfig, Partition, SoftmaxRegression, WeightsRule,
};
use pimtl::Error;
use std::collections::HashSet;
use std::path::Path;
use std::sync::OnceLock;

/// 6 000 samples per label, like the Fashion-MNIST training split, in a fixed interleaved order.
fn synthetic_labels(per_label: usize) -> Vec<u8> {
    (0..per_label * 10).map(|i| (i % 10) as u8).collect()
}

fn assert_disjoint(p: &Partition, n_data: usize) {
    let mut seen = HashSet::new();
    for idx in &p.clients {
        for &i in idx {
            assert!(i < n_data);
            assert!(seen.insert(i), "sample {i} appears twice");
        }
    }
}

fn assert_histograms(p: &Partition, labels: &[u8]) {
    for (idx, h) in p.clients.iter().zip(&p.histograms) {
        let mut expect = [0usize; 10];
        for &i in idx {
            expect[labels[i] as usize] += 1;
        }
        assert_eq!(&expect, h);
    }
}

#[test]
fn paper_skew_label_sets_sizes_and_disjointness() {
    let labels = synthetic_labels(6000);
    let u = paper_skew(&labels, 10, 2, 600, 7).unwrap();
    assert_eq!(u.partition.len(), 10);
    assert_eq!(u.is_rare, [vec![false; 8], vec![true; 2]].concat());
    assert_disjoint(&u.partition, labels.len());
    assert_histograms(&u.partition, &labels);
    for (k, (idx, h)) in u
        .partition
        .clients
        .iter()
        .zip(&u.partition.histograms)
        .enumerate()
    {
        assert_eq!(idx.len(), 600);
        let allowed = if u.is_rare[k] { RARE_LABELS } else { COMMON_LABELS };
        for (l, &c) in h.iter().enumerate() {
            // Every allowed label appears (600 draws from 4 or 6 equal pools), no other does.
            assert_eq!(c > 0, allowed.contains(&(l as u8)), "client {k} label {l}: {c}");
        }
    }
    // Reproducible from the seed, different for another seed.
    assert_eq!(u, paper_skew(&labels, 10, 2, 600, 7).unwrap());
    assert_ne!(u.partition, paper_skew(&labels, 10, 2, 600, 8).unwrap().partition);
}

#[test]
fn universe_tasks_have_eight_common_and_two_rare_clients() {
    let labels = synthetic_labels(6000);
    let u = skewed_universe(&labels, 50, 10, 2, 600, 1).unwrap();
    assert_eq!(u.rare_clients().len(), 10);
    assert_eq!(u.common_clients().len(), 40);
    assert_disjoint(&u.partition, labels.len());
    let mut seen_tasks = HashSet::new();
    for s in 0..20 {
        let task = draw_skewed_task(&u, s).unwrap();
        assert_eq!(task.len(), 10);
        assert_eq!(task.iter().collect::<HashSet<_>>().len(), 10);
        assert!(task[..8].iter().all(|&k| !u.is_rare[k]));
        assert!(task[8..].iter().all(|&k| u.is_rare[k]));
        assert_eq!(task, draw_skewed_task(&u, s).unwrap());
        seen_tasks.insert(task);
    }
    assert!(seen_tasks.len() > 15, "tasks barely vary: {}", seen_tasks.len());
}

#[test]
fn dirichlet_partition_is_disjoint_sized_and_skewed_by_alpha() {
    let labels = synthetic_labels(600);
    let p = dirichlet(&labels, 20, 250, 0.1, 3).unwrap();
    assert_eq!(p.len(), 20);
    assert!(p.clients.iter().all(|c| c.len() == 250));
    assert_disjoint(&p, labels.len());
    assert_histograms(&p, &labels);
    assert_eq!(p, dirichlet(&labels, 20, 250, 0.1, 3).unwrap());
    // Mean share of each client's largest label: α = 0.1 concentrates, α = 100 spreads.
    let top = |p: &Partition| {
        p.histograms
            .iter()
            .map(|h| *h.iter().max().unwrap() as f64 / 250.0)
            .sum::<f64>()
            / p.len() as f64
    };
    let iid = dirichlet(&labels, 20, 250, 100.0, 3).unwrap();
    assert!(top(&p) > 0.5, "α = 0.1: top share {}", top(&p));
    assert!(top(&iid) < 0.25, "α = 100: top share {}", top(&iid));
    // Filling the whole split exactly works (pools run dry and sampling moves on).
    let full = dirichlet(&labels, 24, 250, 0.1, 4).unwrap();
    assert_disjoint(&full, labels.len());
    assert_eq!(full.clients.iter().map(Vec::len).sum::<usize>(), labels.len());
}

#[test]
fn impossible_requests_are_errors() {
    let labels = synthetic_labels(6000);
    let param = |r: Result<_, Error>, name: &str| match r {
        Err(Error::InvalidParameter { name: n, .. }) => assert_eq!(n, name),
        other => panic!("expected an error about {name}, got {other:?}"),
    };
    // 80 common clients × 600 > 36 000 samples with labels 0–5.
    param(
        skewed_universe(&labels, 100, 10, 2, 600, 0).map(|_| ()),
        "samples",
    );
    param(paper_skew(&labels, 10, 2, 0, 0).map(|_| ()), "samples");
    param(paper_skew(&labels, 0, 0, 600, 0).map(|_| ()), "clients_per_task");
    param(paper_skew(&labels, 10, 10, 600, 0).map(|_| ()), "skewed");
    param(skewed_universe(&labels, 4, 10, 2, 600, 0).map(|_| ()), "universe");
    let mut bad = labels.clone();
    bad[17] = 10;
    param(paper_skew(&bad, 10, 2, 600, 0).map(|_| ()), "labels");
    param(dirichlet(&bad, 10, 600, 0.5, 0).map(|_| ()), "labels");
    param(dirichlet(&labels, 101, 600, 0.5, 0).map(|_| ()), "clients");
    param(dirichlet(&labels, 0, 600, 0.5, 0).map(|_| ()), "clients");
    param(dirichlet(&labels, 10, 0, 0.5, 0).map(|_| ()), "samples");
    for a in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        param(dirichlet(&labels, 10, 600, a, 0).map(|_| ()), "alpha");
    }
    assert!(rare_half_weights(&[false; 10]).is_err());
    assert!(rare_half_weights(&[true; 3]).is_err());
}

#[test]
fn weight_rules() {
    let w = rare_half_weights(&[[false; 8].as_slice(), &[true; 2]].concat()).unwrap();
    assert_eq!(w[..8], [0.0625; 8]);
    assert_eq!(w[8..], [0.25; 2]);
    assert_eq!(WeightsRule::Uniform.weights(&[5, 15]).unwrap(), [0.5, 0.5]);
    assert_eq!(WeightsRule::DataSize.weights(&[5, 15]).unwrap(), [0.25, 0.75]);
    assert!(WeightsRule::Fixed(vec![0.5, 0.6]).weights(&[1, 1]).is_err());
    assert!(WeightsRule::Fixed(vec![1.5, -0.5]).weights(&[1, 1]).is_err());
    assert!(WeightsRule::Fixed(vec![1.0]).weights(&[1, 1]).is_err());
}

fn fashion() -> Option<&'static Dataset> {
    static DATA: OnceLock<Option<Dataset>> = OnceLock::new();
    DATA.get_or_init(|| {
        let dir = Path::new(FASHION_MNIST_DIR);
        if !dir.exists() {
            eprintln!("note: {FASHION_MNIST_DIR} not found; skipping the FedAvg tests on real data");
            return None;
        }
        Some(load_dir(dir).expect("Fashion-MNIST is installed but cannot be read"))
    })
    .as_ref()
}

struct Setup {
    clients: Vec<(Vec<f32>, Vec<u8>)>,
    is_rare: Vec<bool>,
    eval: (Vec<f32>, Vec<u8>),
}

/// 10 clients × `samples` with the paper's skew, evaluation on the first `n_eval` test images.
fn skewed_setup(data: &Dataset, samples: usize, n_eval: usize, seed: u64) -> Setup {
    let u = paper_skew(&data.train_labels.labels, 10, 2, samples, seed).unwrap();
    let clients = u
        .partition
        .clients
        .iter()
        .map(|idx| gather(&data.train_images, &data.train_labels, idx).unwrap())
        .collect();
    let eval_idx: Vec<usize> = (0..n_eval).collect();
    let eval = gather(&data.test_images, &data.test_labels, &eval_idx).unwrap();
    Setup {
        clients,
        is_rare: u.is_rare,
        eval,
    }
}

fn refs(s: &Setup) -> Vec<(&[f32], &[u8])> {
    s.clients
        .iter()
        .map(|(x, y)| (x.as_slice(), y.as_slice()))
        .collect()
}

#[test]
fn fedavg_learns_on_fashion_mnist_and_is_reproducible() {
    let Some(data) = fashion() else { return };
    let s = skewed_setup(data, 100, 2000, 11);
    let model = SoftmaxRegression::new(784, 10).unwrap();
    let theta0 = model.init(0);
    let cfg = FedConfig::paper(3, 5);
    let eval = (s.eval.0.as_slice(), s.eval.1.as_slice());
    let a = run_federated(&model, &theta0, &refs(&s), &WeightsRule::Uniform, &cfg, eval).unwrap();
    let b = run_federated(&model, &theta0, &refs(&s), &WeightsRule::Uniform, &cfg, eval).unwrap();
    eprintln!("FedAvg uniform, 10 × 100, 3 rounds: {a:?}");
    assert_eq!(a.len(), 3);
    assert!(a[2] > 0.3, "accuracy {a:?} not above chance");
    assert_eq!(
        a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    // The same bits on one thread.
    let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build().unwrap();
    let one = pool
        .install(|| run_federated(&model, &theta0, &refs(&s), &WeightsRule::Uniform, &cfg, eval))
        .unwrap();
    assert_eq!(
        a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
        one.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
    );
    // Equal client sizes: data-size weights equal uniform ones.
    let c = run_federated(&model, &theta0, &refs(&s), &WeightsRule::DataSize, &cfg, eval).unwrap();
    assert_eq!(a, c);
    // Bad input is rejected before training.
    let bad_cfg = FedConfig { rounds: 0, ..cfg };
    assert!(run_federated(&model, &theta0, &refs(&s), &WeightsRule::Uniform, &bad_cfg, eval).is_err());
    let wrong = WeightsRule::Fixed(vec![0.5, 0.5]);
    assert!(run_federated(&model, &theta0, &refs(&s), &wrong, &cfg, eval).is_err());
}

/// Accuracy on the evaluation samples labelled 6–9.
fn rare_accuracy(model: &SoftmaxRegression, theta: &[f32], eval: (&[f32], &[u8])) -> f64 {
    let hits = class_hits(model, theta, eval.0, eval.1).unwrap();
    let (h, n) = hits[6..].iter().fold((0, 0), |(h, n), &(a, b)| (h + a, n + b));
    h as f64 / n as f64
}

#[test]
fn rare_half_reweighting_beats_uniform_on_rare_labels() {
    let Some(data) = fashion() else { return };
    let s = skewed_setup(data, 100, 2000, 12);
    let model = SoftmaxRegression::new(784, 10).unwrap();
    let theta0 = model.init(1);
    let cfg = FedConfig::paper(3, 6);
    let eval = (s.eval.0.as_slice(), s.eval.1.as_slice());
    let run = |rule: WeightsRule| {
        let mut rare = Vec::new();
        let acc = run_federated_with(&model, &theta0, &refs(&s), &rule, &cfg, eval, |_, th| {
            rare.push(rare_accuracy(&model, th, eval));
            Ok(())
        })
        .unwrap();
        (acc, rare)
    };
    let (acc_u, rare_u) = run(WeightsRule::Uniform);
    let (acc_r, rare_r) = run(WeightsRule::Fixed(rare_half_weights(&s.is_rare).unwrap()));
    eprintln!("uniform: overall {acc_u:?}, labels 6–9 {rare_u:?}");
    eprintln!("rare-half: overall {acc_r:?}, labels 6–9 {rare_r:?}");
    assert!(
        rare_r[2] > rare_u[2],
        "rare-half {rare_r:?} vs uniform {rare_u:?} on labels 6–9"
    );
}

/// The measured curve of the report (ignored: run with `--ignored --nocapture`): softmax
/// regression, paper skew, 10 clients × 600, 10 rounds, the full test split.
#[test]
#[ignore]
fn measure_fedavg_curves() {
    let Some(data) = fashion() else { return };
    let s = skewed_setup(data, 600, 10_000, 0);
    let model = SoftmaxRegression::new(784, 10).unwrap();
    let theta0 = model.init(0);
    let eval = (s.eval.0.as_slice(), s.eval.1.as_slice());
    for seed in 0..3 {
        let cfg = FedConfig::paper(10, seed);
        for (name, rule) in [
            ("uniform", WeightsRule::Uniform),
            ("data-size", WeightsRule::DataSize),
            (
                "rare-half",
                WeightsRule::Fixed(rare_half_weights(&s.is_rare).unwrap()),
            ),
        ] {
            let start = std::time::Instant::now();
            let mut rare = Vec::new();
            let acc = run_federated_with(&model, &theta0, &refs(&s), &rule, &cfg, eval, |_, th| {
                rare.push(rare_accuracy(&model, th, eval));
                Ok(())
            })
            .unwrap();
            let secs = start.elapsed().as_secs_f64();
            let f = |v: &[f64]| v.iter().map(|a| format!("{a:.3}")).collect::<Vec<_>>().join(" ");
            eprintln!(
                "seed {seed} {name:9} {secs:.2}s  acc: {}  | labels 6–9: {}",
                f(&acc),
                f(&rare)
            );
        }
    }
}

/// The paper's CNN client for comparison with the JAX reference (ignored; about a minute on 2
/// cores): paper skew, 10 clients × 600, 10 rounds, the full test split, seed 0.
#[test]
#[ignore]
fn measure_fedavg_cnn_curves() {
    let Some(data) = fashion() else { return };
    let s = skewed_setup(data, 600, 10_000, 0);
    let model = ConvNet::paper(28, 28).unwrap();
    let theta0 = model.init(0);
    let eval = (s.eval.0.as_slice(), s.eval.1.as_slice());
    let cfg = FedConfig::paper(10, 0);
    for (name, rule) in [
        ("uniform", WeightsRule::Uniform),
        (
            "rare-half",
            WeightsRule::Fixed(rare_half_weights(&s.is_rare).unwrap()),
        ),
    ] {
        let start = std::time::Instant::now();
        let acc = run_federated(&model, &theta0, &refs(&s), &rule, &cfg, eval).unwrap();
        let secs = start.elapsed().as_secs_f64();
        let f = acc
            .iter()
            .map(|a| format!("{a:.3}"))
            .collect::<Vec<_>>()
            .join(" ");
        eprintln!("CNN {name:9} {secs:.1}s  acc: {f}");
    }
}
