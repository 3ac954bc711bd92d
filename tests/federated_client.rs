//! Client models of the federated application (§A.2): the hand-written gradients against
//! forward-mode autodiff and finite differences, local SGD, aggregation and bad input.
//!
//! Precision: the reference checks run the same generic code in `f64` (hand-written backward vs
//! `autodiff::F1`, one dual pass per parameter) to 1e-9 relative; the `f32` training path is then
//! compared with the `f64` hand-written gradient (to 1e-3, the f32 rounding of sums over a few
//! hundred terms).

use autodiff::F1;
use pimtl::federated::{
    mean_cross_entropy, sgd_epoch, weighted_average, ClientModel, ConvNet, SoftmaxRegression, Workspace,
};
use pimtl::policy::check::max_relative_error;
use pimtl::Error;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn random_batch(model: &impl ClientModel, n: usize, seed: u64) -> (Vec<f64>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x = (0..n * model.input_len())
        .map(|_| rng.random_range(-1.0..1.0))
        .collect();
    let y = (0..n)
        .map(|_| rng.random_range(0..model.classes()) as u8)
        .collect();
    (x, y)
}

fn loss_f64(model: &impl ClientModel, theta: &[f64], x: &[f64], y: &[u8]) -> f64 {
    let mut z = vec![0.0; y.len() * model.classes()];
    model.logits(theta, x, &mut z).unwrap();
    mean_cross_entropy(&z, y, model.classes()).unwrap()
}

fn autodiff_grad(model: &impl ClientModel, theta: &[f64], x: &[f64], y: &[u8]) -> Vec<f64> {
    let xd: Vec<F1> = x.iter().map(|&v| F1::cst(v)).collect();
    let mut td: Vec<F1> = theta.iter().map(|&v| F1::cst(v)).collect();
    let mut z = vec![F1::cst(0.0); y.len() * model.classes()];
    (0..theta.len())
        .map(|j| {
            td[j] = F1::var(theta[j]);
            model.logits(&td, &xd, &mut z).unwrap();
            td[j] = F1::cst(theta[j]);
            mean_cross_entropy(&z, y, model.classes()).unwrap().deriv()
        })
        .collect()
}

fn check_gradients(model: &impl ClientModel, name: &str) {
    let theta32 = model.init(3);
    // Non-zero biases so that every parameter block is exercised away from its initial value.
    let mut rng = ChaCha8Rng::seed_from_u64(4);
    let theta: Vec<f64> = theta32
        .iter()
        .map(|&t| t as f64 + rng.random_range(-0.05..0.05))
        .collect();
    let (x, y) = random_batch(model, 3, 5);
    let mut hand = vec![0.0; theta.len()];
    let loss = model
        .loss_and_grad_with(&theta, &x, &y, &mut hand, &mut Workspace::new())
        .unwrap();
    assert!(
        (loss - loss_f64(model, &theta, &x, &y)).abs() < 1e-12,
        "{name}: loss"
    );

    let auto = autodiff_grad(model, &theta, &x, &y);
    let (err, j) = max_relative_error(&hand, &auto);
    assert!(err < 1e-9, "{name}: hand vs autodiff {err:e} at {j}");

    let h = 1e-5;
    let mut tp = theta.clone();
    let fd: Vec<f64> = (0..theta.len())
        .map(|j| {
            tp[j] = theta[j] + h;
            let plus = loss_f64(model, &tp, &x, &y);
            tp[j] = theta[j] - h;
            let minus = loss_f64(model, &tp, &x, &y);
            tp[j] = theta[j];
            (plus - minus) / (2.0 * h)
        })
        .collect();
    let (err, j) = max_relative_error(&hand, &fd);
    assert!(err < 1e-5, "{name}: hand vs finite differences {err:e} at {j}");

    // The f32 training path agrees with the f64 one.
    let t32: Vec<f32> = theta.iter().map(|&v| v as f32).collect();
    let x32: Vec<f32> = x.iter().map(|&v| v as f32).collect();
    let mut g32 = vec![0.0f32; theta.len()];
    let l32 = model.loss_and_grad(&t32, &x32, &y, &mut g32).unwrap();
    assert!(
        (l32 - loss).abs() < 1e-5 * loss.abs().max(1.0),
        "{name}: f32 loss"
    );
    let g32: Vec<f64> = g32.iter().map(|&v| v as f64).collect();
    let (err, j) = max_relative_error(&g32, &hand);
    assert!(err < 1e-3, "{name}: f32 vs f64 gradient {err:e} at {j}");
}

#[test]
fn softmax_regression_gradient_matches_autodiff_and_finite_differences() {
    check_gradients(&SoftmaxRegression::new(12, 4).unwrap(), "softmax regression");
}

#[test]
fn convnet_gradient_matches_autodiff_and_finite_differences() {
    // 8×8 images with 2 input channels, 5×5 kernel (the paper's), 3 output channels, 5 classes.
    let net = ConvNet::new(8, 8, 2, 3, 5, 5).unwrap();
    assert_eq!(net.num_params(), (50 + 1) * 3 + (4 * 4 * 3 + 1) * 5);
    check_gradients(&net, "convnet");
}

#[test]
fn paper_convnet_has_the_papers_shape() {
    let net = ConvNet::paper(28, 28).unwrap();
    assert_eq!(net.features(), 24 * 24 * 32);
    assert_eq!(net.num_params(), 26 * 32 + 18433 * 10);
    assert_eq!(net.input_len(), 784);
    assert_eq!(net.init(1).len(), net.num_params());
}

/// 6×6 images, 3 classes: class c has a bright 2-row band at rows 2c..2c+2, plus noise.
fn separable(n: usize, seed: u64) -> (Vec<f32>, Vec<u8>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Vec::with_capacity(n * 36);
    let mut y = Vec::with_capacity(n);
    for _ in 0..n {
        let c = rng.random_range(0..3u8);
        for r in 0..6 {
            for _ in 0..6 {
                let base = if r / 2 == c as usize { 1.0 } else { 0.0 };
                x.push(base + rng.random_range(-0.3..0.3f32));
            }
        }
        y.push(c);
    }
    (x, y)
}

fn train(model: &impl ClientModel, epochs: usize, seed: u64) -> (Vec<f32>, Vec<f64>) {
    let (x, y) = separable(120, 7);
    let mut theta = model.init(seed);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let losses = (0..epochs)
        .map(|_| sgd_epoch(model, &mut theta, &x, &y, 8, 0.2, &mut rng).unwrap())
        .collect();
    (theta, losses)
}

#[test]
fn training_reduces_the_loss_and_separates_the_classes() {
    let (xt, yt) = separable(90, 99);
    let soft = SoftmaxRegression::new(36, 3).unwrap();
    let conv = ConvNet::new(6, 6, 1, 4, 3, 3).unwrap();
    for (name, theta, losses, acc) in [
        {
            let (t, l) = train(&soft, 15, 1);
            ("softmax", t.clone(), l, soft.accuracy(&t, &xt, &yt).unwrap())
        },
        {
            let (t, l) = train(&conv, 15, 1);
            ("conv", t.clone(), l, conv.accuracy(&t, &xt, &yt).unwrap())
        },
    ] {
        assert!(theta.iter().all(|t| t.is_finite()));
        assert!(
            losses.last().unwrap() < &(0.3 * losses[0]),
            "{name}: losses {losses:?}"
        );
        assert!(acc >= 0.95, "{name}: held-out accuracy {acc}");
    }
}

#[test]
fn same_seed_gives_identical_parameters() {
    let conv = ConvNet::new(6, 6, 1, 4, 3, 3).unwrap();
    let (a, la) = train(&conv, 2, 5);
    let (b, lb) = train(&conv, 2, 5);
    assert_eq!(a, b);
    assert_eq!(la, lb);
    let (c, _) = train(&conv, 2, 6);
    assert_ne!(a, c);
}

#[test]
fn weighted_average_of_identical_models_is_the_model() {
    let theta = ConvNet::new(6, 6, 1, 4, 3, 3).unwrap().init(2);
    let params = vec![theta.clone(); 10];
    let mut out = Vec::new();
    weighted_average(&params, &[0.1; 10], &mut out).unwrap();
    assert_eq!(out, theta);
    let w = [0.05, 0.05, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.15, 0.15];
    weighted_average(&params, &w, &mut out).unwrap();
    assert_eq!(out, theta);
    // A genuine average.
    weighted_average(&[vec![0.0, 2.0], vec![4.0, 6.0]], &[0.25, 0.75], &mut out).unwrap();
    assert_eq!(out, vec![3.0, 5.0]);
}

#[test]
fn bad_inputs_are_errors() {
    let m = SoftmaxRegression::new(4, 3).unwrap();
    let theta = m.init(0);
    let x = vec![0.5f32; 8];
    let mut g = vec![0.0f32; m.num_params()];
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    // Labels out of range, empty batch, images of the wrong size, θ and grad of the wrong length.
    assert!(matches!(
        m.loss_and_grad(&theta, &x, &[0, 3], &mut g),
        Err(Error::InvalidParameter { name: "labels", .. })
    ));
    assert!(m.loss_and_grad(&theta, &[], &[], &mut g).is_err());
    assert!(matches!(
        m.loss_and_grad(&theta, &x[..7], &[0, 1], &mut g),
        Err(Error::ShapeMismatch { .. })
    ));
    assert!(m.loss_and_grad(&theta[1..], &x, &[0, 1], &mut g).is_err());
    assert!(m.loss_and_grad(&theta, &x, &[0, 1], &mut g[1..]).is_err());
    let mut nan = x.clone();
    nan[3] = f32::NAN;
    assert!(matches!(
        m.loss_and_grad(&theta, &nan, &[0, 1], &mut g),
        Err(Error::NonFinite { .. })
    ));
    assert!(m.predict(&theta, &x, &mut [0u8; 3]).is_err());
    assert!(m.predict(&theta, &[], &mut []).is_err());
    assert!(m.accuracy(&theta, &x, &[0, 9]).is_err());
    // SGD: zero batch, bad learning rate, mismatched data.
    let mut t = theta.clone();
    assert!(sgd_epoch(&m, &mut t, &x, &[0, 1], 0, 0.1, &mut rng).is_err());
    assert!(sgd_epoch(&m, &mut t, &x, &[0, 1], 1, f32::NAN, &mut rng).is_err());
    assert!(sgd_epoch(&m, &mut t, &x, &[0, 1], 1, -0.1, &mut rng).is_err());
    assert!(sgd_epoch(&m, &mut t, &x, &[0], 1, 0.1, &mut rng).is_err());
    assert!(sgd_epoch(&m, &mut t, &x, &[], 1, 0.1, &mut rng).is_err());
    assert_eq!(t, theta, "a rejected call leaves θ untouched");
    // Models.
    assert!(SoftmaxRegression::new(0, 3).is_err());
    assert!(SoftmaxRegression::new(4, 1).is_err());
    assert!(SoftmaxRegression::new(4, 257).is_err());
    assert!(ConvNet::new(4, 4, 1, 32, 5, 10).is_err());
    assert!(ConvNet::new(8, 8, 0, 32, 5, 10).is_err());
    assert!(ConvNet::new(8, 8, 1, 0, 5, 10).is_err());
    assert!(ConvNet::new(usize::MAX, usize::MAX, 1, 32, 5, 10).is_err());
    assert!(ConvNet::paper(4, 28).is_err());
    // Aggregation: ragged, weights off the simplex, wrong count, no models.
    let mut out = Vec::new();
    let p = vec![vec![1.0f32; 3], vec![1.0f32; 3]];
    assert!(weighted_average(&[vec![1.0; 3], vec![1.0; 2]], &[0.5, 0.5], &mut out).is_err());
    assert!(weighted_average(&p, &[0.6, 0.6], &mut out).is_err());
    assert!(weighted_average(&p, &[1.0 + 1e-7, -1e-7], &mut out).is_err());
    assert!(weighted_average(&p, &[f64::NAN, 1.0], &mut out).is_err());
    assert!(weighted_average(&p, &[1.0], &mut out).is_err());
    assert!(weighted_average(&[], &[], &mut out).is_err());
}

/// One local epoch of the paper's client on 600 random 28×28 images, batch 10
/// (`cargo test --release --test federated_client -- --ignored --nocapture`).
#[test]
#[ignore]
fn time_one_local_epoch_of_the_paper_convnet() {
    let net = ConvNet::paper(28, 28).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let x: Vec<f32> = (0..600 * 784).map(|_| rng.random_range(0.0..1.0)).collect();
    let y: Vec<u8> = (0..600).map(|_| rng.random_range(0..10u8)).collect();
    let mut theta = net.init(0);
    sgd_epoch(&net, &mut theta, &x, &y, 10, 0.01, &mut rng).unwrap();
    let reps = 3;
    let t = std::time::Instant::now();
    for _ in 0..reps {
        sgd_epoch(&net, &mut theta, &x, &y, 10, 0.01, &mut rng).unwrap();
    }
    let s = t.elapsed().as_secs_f64() / reps as f64;
    // Multiply-adds per sample: conv forward and ∂K (2 · 576·25·32), dense forward, ∂W, ∂a (3 · 184320).
    let flops = 600.0 * 2.0 * (2.0 * 576.0 * 25.0 * 32.0 + 3.0 * 184_320.0);
    println!(
        "one local epoch (600 samples, batch 10): {:.3} s, {:.2} GFLOP/s",
        s,
        flops / s / 1e9
    );
}

#[test]
fn parallel_local_training_does_not_depend_on_the_thread_count() {
    use pimtl::federated::local_training;
    let conv = ConvNet::new(6, 6, 1, 4, 3, 3).unwrap();
    let data: Vec<(Vec<f32>, Vec<u8>)> = (0..4).map(|i| separable(24, 10 + i)).collect();
    let clients: Vec<(&[f32], &[u8])> = data.iter().map(|(x, y)| (&x[..], &y[..])).collect();
    let global = conv.init(1);
    let run = |threads| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| local_training(&conv, &global, &clients, 2, 8, 0.1, 3).unwrap())
    };
    let one = run(1);
    assert_eq!(one, run(3));
    assert_eq!(one.len(), 4);
    assert_ne!(one[0].0, one[1].0);
    // Client i reproduces a sequential run with stream i.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    rng.set_stream(2);
    let mut theta = global.clone();
    for _ in 0..2 {
        sgd_epoch(&conv, &mut theta, clients[2].0, clients[2].1, 8, 0.1, &mut rng).unwrap();
    }
    assert_eq!(theta, one[2].0);
    assert!(local_training(&conv, &global, &[], 1, 8, 0.1, 3).is_err());
    assert!(local_training(&conv, &global, &clients, 0, 8, 0.1, 3).is_err());
    assert!(local_training(&conv, &global, &[(&data[0].0[..5], &data[0].1[..])], 1, 8, 0.1, 3).is_err());
}
