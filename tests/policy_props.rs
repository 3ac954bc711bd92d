//! Property tests of Definition 1: the policy is permutation-equivariant, `π(σx) = σπ(x)`, for
//! random permutations, batch sizes, entity counts 1..64, window lengths, both encoder kinds
//! (and both recurrent cells), with and without pooled context; its allocations lie on the
//! simplex; and its parameter gradient is invariant when the batch's entities are permuted
//! together with dL/da.

use pimtl::policy::{Cell, EncoderConfig, EquivariantPolicy, Input, PolicyConfig, Shape, Workspace};
use pimtl::simplex::validate_allocation;
use proptest::prelude::*;
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// 0: MLP, 1: Elman, 2: GRU; pooled context on or off.
fn config(kind: u8, pooled: bool, features: usize) -> PolicyConfig {
    let encoder = match kind {
        0 => EncoderConfig::Mlp {
            features,
            hidden: vec![6, 5],
        },
        1 => EncoderConfig::Recurrent {
            cell: Cell::Elman,
            features,
            hidden: 5,
        },
        _ => EncoderConfig::Recurrent {
            cell: Cell::Gru,
            features,
            hidden: 5,
        },
    };
    PolicyConfig {
        encoder,
        previous_allocation: true,
        pooled_context: pooled,
        score_hidden: if pooled { 4 } else { 0 },
        output_init_scale: 1.0,
    }
}

struct Batch {
    x: Vec<f64>,
    prev: Vec<f64>,
    g: Vec<f64>,
    shape: Shape,
    per_entity: usize,
}

fn batch(cfg: &PolicyConfig, b: usize, m: usize, window: usize, seed: u64) -> Batch {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let per_entity = window * cfg.features();
    let shape = Shape::new(b, m, window);
    let x = (0..shape.rows() * per_entity)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let prev = (0..shape.rows()).map(|_| rng.random_range(0.0..1.0)).collect();
    let g = (0..shape.rows()).map(|_| rng.random_range(-1.0..1.0)).collect();
    Batch {
        x,
        prev,
        g,
        shape,
        per_entity,
    }
}

/// Applies the entity permutation `perm[b]` to every batch row: new entity `i` is old `perm[b][i]`.
fn permute(values: &[f64], perms: &[Vec<usize>], m: usize, width: usize) -> Vec<f64> {
    let mut out = Vec::with_capacity(values.len());
    for (b, perm) in perms.iter().enumerate() {
        for &i in perm {
            let start = (b * m + i) * width;
            out.extend_from_slice(&values[start..start + width]);
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 96, ..ProptestConfig::default() })]

    #[test]
    fn policy_is_permutation_equivariant(
        kind in 0u8..3, pooled in any::<bool>(), b in 1usize..5, m in 1usize..65,
        window in 1usize..7, features in 1usize..4, seed in any::<u64>(),
    ) {
        let cfg = config(kind, pooled, features);
        let window = if kind == 0 { 1 } else { window };
        let policy = EquivariantPolicy::<f64>::new(cfg.clone(), seed).unwrap();
        let k = batch(&cfg, b, m, window, seed ^ 1);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 2);
        let perms: Vec<Vec<usize>> = (0..b).map(|_| { let mut p: Vec<usize> = (0..m).collect(); p.shuffle(&mut rng); p }).collect();

        let mut ws = Workspace::new();
        let a = policy.forward(&Input::new(&k.x, Some(&k.prev), k.shape), &mut ws).unwrap().to_vec();
        let mut grad = vec![0.0; policy.num_params()];
        policy.backward(&mut ws, &k.g, &mut grad, false).unwrap();

        let xs = permute(&k.x, &perms, m, k.per_entity);
        let ps = permute(&k.prev, &perms, m, 1);
        let gs = permute(&k.g, &perms, m, 1);
        let a_sigma = policy.forward(&Input::new(&xs, Some(&ps), k.shape), &mut ws).unwrap().to_vec();
        let mut grad_sigma = vec![0.0; policy.num_params()];
        policy.backward(&mut ws, &gs, &mut grad_sigma, false).unwrap();

        // π(σx) = σπ(x)
        let sigma_a = permute(&a, &perms, m, 1);
        for (u, v) in a_sigma.iter().zip(&sigma_a) {
            prop_assert!((u - v).abs() <= 1e-12, "{} vs {}", u, v);
        }
        // allocations on the simplex, row by row
        for row in a.chunks(m) {
            prop_assert!(validate_allocation(row, 1e-9).is_ok());
        }
        // ∇θ L is invariant when entities and dL/da are permuted together
        let scale = grad.iter().fold(1e-12f64, |s, v| s.max(v.abs()));
        for (u, v) in grad.iter().zip(&grad_sigma) {
            prop_assert!((u - v).abs() <= 1e-10 * scale, "{} vs {}", u, v);
        }
    }

    /// The f32 path is equivariant too (up to f32 rounding of the summation order, which the
    /// permutation changes inside the pooled context and the softmax).
    #[test]
    fn f32_policy_is_equivariant(kind in 0u8..3, pooled in any::<bool>(), m in 1usize..33, seed in any::<u64>()) {
        let cfg = config(kind, pooled, 2);
        let window = if kind == 0 { 1 } else { 4 };
        let policy = EquivariantPolicy::<f64>::new(cfg.clone(), seed).unwrap().cast::<f32>();
        let k = batch(&cfg, 2, m, window, seed);
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 3);
        let perms: Vec<Vec<usize>> = (0..2).map(|_| { let mut p: Vec<usize> = (0..m).collect(); p.shuffle(&mut rng); p }).collect();
        let to32 = |v: &[f64]| v.iter().map(|&t| t as f32).collect::<Vec<f32>>();
        let a = policy.allocate(&Input::new(&to32(&k.x), Some(&to32(&k.prev)), k.shape)).unwrap();
        let xs = to32(&permute(&k.x, &perms, m, k.per_entity));
        let ps = to32(&permute(&k.prev, &perms, m, 1));
        let a_sigma = policy.allocate(&Input::new(&xs, Some(&ps), k.shape)).unwrap();
        let a64: Vec<f64> = a.iter().map(|&v| v as f64).collect();
        for (u, v) in a_sigma.iter().zip(permute(&a64, &perms, m, 1)) {
            prop_assert!((*u as f64 - v).abs() <= 1e-6);
        }
    }
}

/// Same seed, same parameters and outputs, bit for bit (single-threaded).
#[test]
fn same_seed_same_policy_bit_for_bit() {
    for kind in 0..3 {
        let cfg = config(kind, true, 3);
        let p = EquivariantPolicy::<f32>::new(cfg.clone(), 42).unwrap();
        let q = EquivariantPolicy::<f32>::new(cfg.clone(), 42).unwrap();
        assert_eq!(p.params(), q.params());
        let window = if kind == 0 { 1 } else { 5 };
        let k = batch(&cfg, 3, 7, window, 9);
        let x: Vec<f32> = k.x.iter().map(|&v| v as f32).collect();
        let prev: Vec<f32> = k.prev.iter().map(|&v| v as f32).collect();
        let a = p.allocate(&Input::new(&x, Some(&prev), k.shape)).unwrap();
        let b = q.allocate(&Input::new(&x, Some(&prev), k.shape)).unwrap();
        assert_eq!(
            a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert_ne!(
            EquivariantPolicy::<f32>::new(cfg, 43).unwrap().params(),
            p.params()
        );
    }
}

/// Bad input is a clear error, never a panic or a silent NaN.
#[test]
fn bad_input_is_an_error() {
    let cfg = config(1, false, 2);
    let p = EquivariantPolicy::<f64>::new(cfg.clone(), 0).unwrap();
    let x = vec![0.5; 2 * 3 * 4 * 2];
    let prev = vec![0.25; 6];
    let ok = Shape::new(2, 3, 4);
    assert!(p.allocate(&Input::new(&x, Some(&prev), ok)).is_ok());
    type Case = (Vec<f64>, Option<Vec<f64>>, Shape, &'static str);
    let cases: Vec<Case> = vec![
        (x.clone(), Some(prev.clone()), Shape::new(2, 0, 4), "entities"),
        (x.clone(), Some(prev.clone()), Shape::new(2, 3, 0), "window"),
        (x.clone(), Some(prev.clone()), Shape::new(0, 3, 4), "batch"),
        (x[1..].to_vec(), Some(prev.clone()), ok, "features x"),
        (x.clone(), Some(prev[1..].to_vec()), ok, "previous allocations"),
        (x.clone(), None, ok, "prev"),
        (
            {
                let mut y = x.clone();
                y[7] = f64::NAN;
                y
            },
            Some(prev.clone()),
            ok,
            "index 7",
        ),
        (
            x.clone(),
            Some({
                let mut q = prev.clone();
                q[2] = f64::INFINITY;
                q
            }),
            ok,
            "previous allocations",
        ),
    ];
    for (x, prev, shape, needle) in cases {
        let e = p
            .allocate(&Input::new(&x, prev.as_deref(), shape))
            .unwrap_err()
            .to_string();
        assert!(e.contains(needle), "{e} should mention {needle}");
    }
    let mlp = EquivariantPolicy::<f64>::new(PolicyConfig::mlp(2, vec![3]), 0).unwrap();
    assert!(mlp
        .allocate(&Input::new(&x, None, ok))
        .unwrap_err()
        .to_string()
        .contains("window"));
    // configuration errors
    let mut bad = config(2, true, 2);
    bad.score_hidden = 0;
    assert!(EquivariantPolicy::<f64>::new(bad, 0)
        .unwrap_err()
        .to_string()
        .contains("pooled_context"));
    assert!(EquivariantPolicy::<f64>::new(PolicyConfig::mlp(0, vec![3]), 0).is_err());
    assert!(EquivariantPolicy::<f64>::new(PolicyConfig::mlp(2, vec![]), 0).is_err());
    // backward before forward, wrong gradient sizes, NaN dL/da
    let mut ws = Workspace::new();
    let mut grad = vec![0.0; p.num_params()];
    assert!(p.backward(&mut ws, &[0.0; 6], &mut grad, false).is_err());
    p.forward(&Input::new(&x, Some(&prev), ok), &mut ws).unwrap();
    assert!(p.backward(&mut ws, &[0.0; 5], &mut grad, false).is_err());
    assert!(p.backward(&mut ws, &[0.0; 6], &mut grad[1..], false).is_err());
    assert!(p.backward(&mut ws, &[f64::NAN; 6], &mut grad, false).is_err());
    assert!(
        grad.iter().all(|v| *v == 0.0),
        "a refused backward must not touch the gradient"
    );
}

/// One entity: the allocation is exactly 1 whatever the input.
#[test]
fn single_entity_gets_everything() {
    let p = EquivariantPolicy::<f64>::new(config(2, true, 1), 5).unwrap();
    let a = p
        .allocate(&Input::new(&[0.3, -0.2, 0.9], Some(&[1.0]), Shape::new(1, 1, 3)))
        .unwrap();
    assert_eq!(a, vec![1.0]);
}

/// `infer` keeps no states (a ring of two steps for the Elman lane kernels), yet must give the
/// allocations of `forward` bit for bit, on every instruction set, for every encoder, including
/// after a `forward` of another shape left larger buffers behind; and a `backward` after `infer`
/// is an error, not a gradient computed from stale states.
#[test]
fn infer_gives_the_forward_allocations_bit_for_bit() {
    use pimtl::policy::Isa;
    for kind in 0..3 {
        for (b, m, window) in [(3, 7, 5), (2, 40, 9), (1, 1, 1)] {
            let cfg = config(kind, kind == 1, 3);
            let window = if kind == 0 { 1 } else { window };
            let k = batch(&cfg, b, m, window, 5 + b as u64);
            let p64 = EquivariantPolicy::<f64>::new(cfg.clone(), 7).unwrap();
            let p32 = p64.cast::<f32>();
            let x32: Vec<f32> = k.x.iter().map(|&v| v as f32).collect();
            let prev32: Vec<f32> = k.prev.iter().map(|&v| v as f32).collect();
            for isa in Isa::available() {
                let mut ws = Workspace::new();
                ws.set_isa(isa).unwrap();
                let input = Input::new(&k.x, Some(&k.prev), k.shape);
                let want: Vec<u64> = p64
                    .forward(&input, &mut ws)
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect();
                let got: Vec<u64> = p64
                    .infer(&input, &mut ws)
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect();
                assert_eq!(got, want, "f64 kind {kind} {isa} B {b} m {m} W {window}");
                let mut grad = vec![0.0; p64.num_params()];
                assert!(p64.backward(&mut ws, &k.g, &mut grad, false).is_err());
                let mut ws = Workspace::new();
                ws.set_isa(isa).unwrap();
                let input = Input::new(&x32, Some(&prev32), k.shape);
                let want: Vec<u32> = p32
                    .forward(&input, &mut ws)
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect();
                let got: Vec<u32> = p32
                    .infer(&input, &mut ws)
                    .unwrap()
                    .iter()
                    .map(|v| v.to_bits())
                    .collect();
                assert_eq!(got, want, "f32 kind {kind} {isa} B {b} m {m} W {window}");
            }
        }
    }
}
