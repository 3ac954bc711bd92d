//! Every instruction-set path of the policy computes the same bits (policy::isa).
//!
//! Each test forces every path this CPU can run (`Workspace::set_isa`) and compares allocations,
//! embeddings, parameter gradients and input gradients bit for bit with the portable path, for the
//! paper's network and the other encoders and heads, in `f32` and `f64`, on shapes whose entity
//! rows fill whole lane groups and shapes that leave a partial group. A path that reorders a sum,
//! drops a fused multiply-add or leaks a padding lane into a result fails here.

use pimtl::policy::{
    Cell, EncoderConfig, EquivariantPolicy, Input, Isa, PolicyConfig, Scalar, Shape, Workspace,
};
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

fn configs() -> Vec<(&'static str, PolicyConfig)> {
    let gru = PolicyConfig {
        encoder: EncoderConfig::Recurrent {
            cell: Cell::Gru,
            features: 3,
            hidden: 7,
        },
        ..PolicyConfig::paper_portfolio(3)
    };
    let rich_head = PolicyConfig {
        pooled_context: true,
        score_hidden: 5,
        ..PolicyConfig::paper_portfolio(3)
    };
    let wide = PolicyConfig {
        encoder: EncoderConfig::Recurrent {
            cell: Cell::Elman,
            features: 2,
            hidden: 40,
        },
        ..PolicyConfig::paper_portfolio(2)
    };
    vec![
        ("paper Elman H 25", PolicyConfig::paper_portfolio(3)),
        ("Elman H 40", wide),
        ("Elman with pooled context and hidden head", rich_head),
        ("GRU H 7", gru),
    ]
}

/// (allocations, embeddings, dL/dθ, dL/dx, dL/dw) as bit patterns.
type Bits = [Vec<u64>; 5];

fn run<T: Scalar>(policy: &EquivariantPolicy<T>, shape: Shape, isa: Isa, seed: u64) -> Bits {
    let features = policy.config().features();
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let x: Vec<T> = (0..shape.rows() * shape.window * features)
        .map(|_| T::of(rng.random_range(0.8..1.25)))
        .collect();
    let prev: Vec<T> = (0..shape.rows())
        .map(|_| T::of(1.0 / shape.entities as f64))
        .collect();
    let g: Vec<T> = (0..shape.rows())
        .map(|_| T::of(rng.random_range(-1.0..1.0)))
        .collect();
    let mut ws = Workspace::new();
    ws.set_isa(isa).expect("available path");
    let input = Input::new(&x, Some(&prev), shape);
    let a = policy.forward(&input, &mut ws).expect("valid input").to_vec();
    let mut grad = vec![T::zero(); policy.num_params()];
    policy
        .backward(&mut ws, &g, &mut grad, true)
        .expect("valid gradient");
    let bits = |v: &[T]| v.iter().map(|x| x.value_f64().to_bits()).collect::<Vec<_>>();
    [
        bits(&a),
        bits(ws.embeddings()),
        bits(&grad),
        bits(ws.input_gradient()),
        bits(ws.prev_gradient()),
    ]
}

fn check<T: Scalar>(type_name: &str) {
    let shapes = [
        Shape::new(2, 8, 6),
        Shape::new(3, 7, 5),
        Shape::new(5, 10, 4),
        Shape::new(1, 3, 1),
    ];
    let what = ["allocations", "embeddings", "dL/dθ", "dL/dx", "dL/dw"];
    for (name, config) in configs() {
        let policy = EquivariantPolicy::<f64>::new(config, 11)
            .expect("valid config")
            .cast::<T>();
        for (i, &shape) in shapes.iter().enumerate() {
            let want = run(&policy, shape, Isa::Portable, i as u64);
            for isa in Isa::available() {
                let got = run(&policy, shape, isa, i as u64);
                for (k, w) in what.iter().enumerate() {
                    assert_eq!(
                        got[k], want[k],
                        "{type_name}, {name}, {shape:?}: {w} on {isa} differ from portable"
                    );
                }
            }
        }
    }
}

#[test]
fn every_path_gives_the_portable_bits_in_f32() {
    check::<f32>("f32");
}

#[test]
fn every_path_gives_the_portable_bits_in_f64() {
    check::<f64>("f64");
}

/// Embeddings and scores are computed row by row, so a permutation of the entities permutes them
/// exactly; the softmax's denominator is a sum over the task's entities, so the allocations move
/// with the permutation up to the rounding of that sum.
#[test]
fn permuting_entities_permutes_embeddings_and_scores_exactly_on_every_path() {
    let policy = EquivariantPolicy::<f64>::new(PolicyConfig::paper_portfolio(3), 5)
        .expect("valid config")
        .cast::<f32>();
    // 40 entity rows: two full groups of 16 lanes and a partial one, so rows move across groups.
    let shape = Shape::new(1, 40, 7);
    let mut rng = ChaCha8Rng::seed_from_u64(9);
    let x: Vec<f32> = (0..40 * 7 * 3).map(|_| rng.random_range(0.8..1.25)).collect();
    let prev: Vec<f32> = (0..40).map(|_| rng.random_range(0.0..0.05)).collect();
    let sigma: Vec<usize> = (0..40).map(|i| (i * 17 + 3) % 40).collect();
    let mut xs = vec![0.0f32; x.len()];
    let mut ps = vec![0.0f32; 40];
    for (i, &s) in sigma.iter().enumerate() {
        xs[i * 21..(i + 1) * 21].copy_from_slice(&x[s * 21..(s + 1) * 21]);
        ps[i] = prev[s];
    }
    for isa in Isa::available() {
        let mut ws = Workspace::new();
        ws.set_isa(isa).expect("available path");
        let a = policy
            .forward(&Input::new(&x, Some(&prev), shape), &mut ws)
            .expect("valid")
            .to_vec();
        let (e_a, s_a) = (ws.embeddings().to_vec(), ws.scores().to_vec());
        let b = policy
            .forward(&Input::new(&xs, Some(&ps), shape), &mut ws)
            .expect("valid")
            .to_vec();
        let (e_b, s_b) = (ws.embeddings(), ws.scores());
        for (i, &s) in sigma.iter().enumerate() {
            assert_eq!(
                s_b[i].to_bits(),
                s_a[s].to_bits(),
                "{isa}: score of entity {i} ← {s}"
            );
            let (hb, ha) = (&e_b[i * 25..(i + 1) * 25], &e_a[s * 25..(s + 1) * 25]);
            assert!(
                hb.iter().zip(ha).all(|(p, q)| p.to_bits() == q.to_bits()),
                "{isa}: embedding {i} ← {s}"
            );
            assert!(
                (b[i] - a[s]).abs() <= 4.0 * f32::EPSILON * a[s],
                "{isa}: allocation {i} ← {s}"
            );
        }
    }
}

#[test]
fn a_path_the_cpu_lacks_is_refused_by_name() {
    let mut ws = Workspace::<f32>::new();
    for isa in Isa::ALL {
        match ws.set_isa(isa) {
            Ok(()) => assert!(isa.is_available()),
            Err(e) => {
                assert!(!isa.is_available());
                assert!(e.to_string().contains(isa.name()), "{e}");
            }
        }
    }
}
