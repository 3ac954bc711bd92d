//! The hand-written backward pass against forward-mode autodiff (to 1e-9 relative, f64) and
//! central finite differences, for every encoder and head variant.

use pimtl::policy::check::{
    autodiff_input_gradient, autodiff_param_gradient, finite_difference_param_gradient, hand_gradient,
    max_relative_error,
};
use pimtl::policy::{Cell, EncoderConfig, EquivariantPolicy, Input, PolicyConfig, Shape};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn variants() -> Vec<(&'static str, PolicyConfig, usize)> {
    let rnn = |cell, prev, pooled, k| PolicyConfig {
        encoder: EncoderConfig::Recurrent {
            cell,
            features: 3,
            hidden: 4,
        },
        previous_allocation: prev,
        pooled_context: pooled,
        score_hidden: k,
        output_init_scale: 1.0,
    };
    let mlp = |prev, pooled, k| PolicyConfig {
        encoder: EncoderConfig::Mlp {
            features: 3,
            hidden: vec![5, 4],
        },
        previous_allocation: prev,
        pooled_context: pooled,
        score_hidden: k,
        output_init_scale: 1.0,
    };
    vec![
        ("elman, paper head", rnn(Cell::Elman, true, false, 0), 4),
        ("elman, hidden head, pooled", rnn(Cell::Elman, true, true, 3), 4),
        ("gru, paper head", rnn(Cell::Gru, true, false, 0), 4),
        (
            "gru, hidden head, pooled, no prev",
            rnn(Cell::Gru, false, true, 3),
            3,
        ),
        ("mlp, linear head", mlp(false, false, 0), 1),
        ("mlp, hidden head, pooled, prev", mlp(true, true, 2), 1),
    ]
}

struct Case {
    x: Vec<f64>,
    prev: Option<Vec<f64>>,
    g: Vec<f64>,
    shape: Shape,
}

fn case(config: &PolicyConfig, window: usize, seed: u64) -> Case {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let shape = Shape::new(2, 3, window);
    let x = (0..shape.rows() * window * 3)
        .map(|_| rng.random_range(-1.5..1.5))
        .collect();
    let prev = config.previous_allocation.then(|| {
        let mut p: Vec<f64> = (0..shape.rows()).map(|_| rng.random_range(0.05..1.0)).collect();
        for row in p.chunks_mut(3) {
            let s: f64 = row.iter().sum();
            row.iter_mut().for_each(|v| *v /= s);
        }
        p
    });
    let g = (0..shape.rows()).map(|_| rng.random_range(-2.0..2.0)).collect();
    Case { x, prev, g, shape }
}

#[test]
fn backward_matches_forward_mode_autodiff_to_1e_9() {
    for (name, config, window) in variants() {
        let policy = EquivariantPolicy::<f64>::new(config.clone(), 11).unwrap();
        let c = case(&config, window, 5);
        let input = Input::new(&c.x, c.prev.as_deref(), c.shape);
        let (hand, hand_dx) = hand_gradient(&policy, &input, &c.g).unwrap();
        let auto = autodiff_param_gradient(&policy, &input, &c.g).unwrap();
        let (err, at) = max_relative_error(&hand, &auto);
        assert!(
            err < 1e-9,
            "{name}: parameter {at}: hand {} vs autodiff {} (rel {err:e})",
            hand[at],
            auto[at]
        );
        let auto_dx = autodiff_input_gradient(&policy, &input, &c.g).unwrap();
        let (err, at) = max_relative_error(&hand_dx, &auto_dx);
        assert!(
            err < 1e-9,
            "{name}: input {at}: hand {} vs autodiff {} (rel {err:e})",
            hand_dx[at],
            auto_dx[at]
        );
        assert!(
            hand.iter().any(|v| v.abs() > 1e-6),
            "{name}: gradient is trivially zero"
        );
    }
}

#[test]
fn backward_matches_central_finite_differences() {
    for (name, config, window) in variants() {
        let policy = EquivariantPolicy::<f64>::new(config.clone(), 12).unwrap();
        let c = case(&config, window, 6);
        let input = Input::new(&c.x, c.prev.as_deref(), c.shape);
        let (hand, _) = hand_gradient(&policy, &input, &c.g).unwrap();
        let fd = finite_difference_param_gradient(&policy, &input, &c.g, 1e-5).unwrap();
        // Central differences carry O(h²) truncation and O(ε/h) rounding error, so the tolerance
        // is relative with an absolute floor tied to the gradient's scale.
        let scale = fd.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (j, (a, b)) in hand.iter().zip(&fd).enumerate() {
            let tol = 1e-6 * a.abs().max(b.abs()) + 1e-8 * scale;
            assert!((a - b).abs() <= tol, "{name}: parameter {j}: hand {a} vs fd {b}");
        }
    }
}

/// The f32 path (fast tanh, possibly FMA) agrees with the f64 path to f32 accuracy.
#[test]
fn f32_forward_and_backward_track_f64() {
    for (name, config, window) in variants() {
        let p64 = EquivariantPolicy::<f64>::new(config.clone(), 13).unwrap();
        let p32 = p64.cast::<f32>();
        let c = case(&config, window, 7);
        let x32: Vec<f32> = c.x.iter().map(|&v| v as f32).collect();
        let prev32: Option<Vec<f32>> = c.prev.as_ref().map(|p| p.iter().map(|&v| v as f32).collect());
        let g32: Vec<f32> = c.g.iter().map(|&v| v as f32).collect();
        let mut ws = pimtl::policy::Workspace::new();
        let a32 = p32
            .forward(&Input::new(&x32, prev32.as_deref(), c.shape), &mut ws)
            .unwrap()
            .to_vec();
        let mut grad32 = vec![0.0f32; p32.num_params()];
        p32.backward(&mut ws, &g32, &mut grad32, false).unwrap();
        let input = Input::new(&c.x, c.prev.as_deref(), c.shape);
        let a64 = p64.allocate(&input).unwrap();
        let (grad64, _) = hand_gradient(&p64, &input, &c.g).unwrap();
        for (u, v) in a32.iter().zip(&a64) {
            assert!((*u as f64 - v).abs() < 1e-5, "{name}: allocation {u} vs {v}");
        }
        let scale = grad64.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for (u, v) in grad32.iter().zip(&grad64) {
            assert!(
                (*u as f64 - v).abs() < 1e-4 * scale.max(1.0),
                "{name}: gradient {u} vs {v}"
            );
        }
    }
}

/// The paper's portfolio network at full size (10 assets, window 50, 3 features, 25 hidden):
/// central finite differences on all 751 parameters, including the first recurrent weights,
/// whose gradient flows back through all 50 steps.
#[test]
fn paper_network_gradient_through_fifty_steps() {
    let config = PolicyConfig::paper_portfolio(3);
    let policy = EquivariantPolicy::<f64>::new(config.clone(), 1).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(2);
    let shape = Shape::new(1, 10, 50);
    let x: Vec<f64> = (0..shape.rows() * 50 * 3)
        .map(|_| rng.random_range(0.9..1.1))
        .collect();
    let prev = vec![0.1; 10];
    let g: Vec<f64> = (0..10).map(|_| rng.random_range(-1.0..1.0)).collect();
    let input = Input::new(&x, Some(&prev), shape);
    let (hand, _) = hand_gradient(&policy, &input, &g).unwrap();
    let fd = finite_difference_param_gradient(&policy, &input, &g, 1e-6).unwrap();
    let (err, at) = max_relative_error(&hand, &fd);
    assert!(
        err < 1e-4,
        "parameter {at}: hand {} vs fd {} (rel {err:e})",
        hand[at],
        fd[at]
    );
}
