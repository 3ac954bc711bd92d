//! The GRU encoder (§5, §A.1) with entity rows in SIMD lanes: the forward pass (recording for
//! backpropagation, or inference in a few kilobytes of scratch) for `f32` and `f64`, one source
//! for every instruction set.
//!
//! Gate columns are ordered `[r | z | n]`. Per step, with `h_0 = 0`:
//!
//! ```text
//! gx = x_t Wx + bx,  gh = h_{t−1} Wh + bh            (F×3H and H×3H weights, 3H biases)
//! r  = σ(gx_r + gh_r),  z = σ(gx_z + gh_z)            (σ(v) = 1/2 + 1/2 · tanh(v/2))
//! n  = tanh(gx_n + r ⊙ gh_n)
//! h_t = (1 − z) ⊙ n + z ⊙ h_{t−1}
//! ```
//!
//! **Layout** as in [`super::elman`]: rows in groups of `N` (16 for `f32`, 8 for `f64`, the last
//! padded with zero rows), value `k` of every row of a group in one logical vector ([`Lanes`]),
//! lane `l` being row `g·N + l`. `gx` and `gh` are register blocks of
//! `acc = b_j; acc = fma(src[k], W[k, j], acc)` for `k` ascending (for `t = 1` there is no
//! `h_0 Wh` term, `gh = bh`), then the gates are element-wise vector operations.
//!
//! **Same bits everywhere.** Each lane performs, in the same order, exactly the operations of the
//! scalar code (`encoder::gru_forward`, FMA path) for its row: the same fused multiply-adds for the
//! products, separate multiplies and adds for the gates (`σ` through the same `tanh`), `z ⊙ h_0`
//! computed on a zero vector as the scalar code does. The states, gates and embedding are
//! therefore bitwise the scalar code's on every path, and the encoder stays exactly
//! permutation-equivariant. The backward pass still runs on the scalar code
//! (`encoder::gru_backward`): a recording pass scatters its lane-layout record back to rows.
// Register blocks are arrays indexed in fully unrolled loops.
#![allow(clippy::needless_range_loop)]

use super::elman::{from_lanes, row_of_blocks, rows_to_lanes, Edge, ElmanDims, Term, MAX_GROUPS};
use super::isa::Isa;
use super::lanes::{Lanes, Port};
use super::scalar::Scalar;
use num_traits::{One, Zero};

/// A scalar type with GRU lane kernels: `f32` (16 lanes) and `f64` (8 lanes).
pub(crate) trait GruLanes: Scalar {
    /// Lanes of a logical vector.
    const N: usize;
    /// [`forward`] on the path `isa`.
    ///
    /// # Safety
    /// `isa` must be available on this CPU.
    unsafe fn gru_forward_on(isa: Isa, a: Forward<'_, Self>);
}

/// Arguments of the forward pass.
pub(crate) struct Forward<'a, E> {
    /// Inputs, `R` rows of `W·F` (`[r][t][f]`).
    pub x: &'a [E],
    /// `Wx` (F×3H), `Wh` (H×3H), `bx` (3H), `bh` (3H), row-major, gate columns `[r | z | n]`.
    pub weights: (&'a [E], &'a [E], &'a [E], &'a [E]),
    /// Out: inputs in lane layout ([`Lens::xl`] values).
    pub xl: &'a mut [E],
    /// Out: states `h_1 … h_W` in lane layout, `[g][t][j][lane]` ([`Lens::hl`]).
    pub hl: &'a mut [E],
    /// Out: gates `r, z, n` of every step, `[g][t][c][lane]` with `c < 3H` ([`Lens::gl`]).
    pub gl: &'a mut [E],
    /// Out: `gh_n` of every step, `[g][t][j][lane]` ([`Lens::nl`]).
    pub nl: &'a mut [E],
    /// Scratch ([`Lens::scratch`] values, overwritten).
    pub scratch: &'a mut [E],
    /// Out: the embedding `h_W`, `R`×`H` row-major.
    pub emb: &'a mut [E],
    /// Whether to keep every group and step (for a backward pass). When `false` (inference) the
    /// buffers only hold the groups in flight: two steps of states, one of gates. The embedding is
    /// bitwise the same in both modes.
    pub record: bool,
    /// Sizes.
    pub dims: ElmanDims,
}

/// Buffer lengths of one forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Lens {
    /// Lane-layout inputs.
    pub xl: usize,
    /// Lane-layout states.
    pub hl: usize,
    /// Lane-layout gates.
    pub gl: usize,
    /// Lane-layout `gh_n`.
    pub nl: usize,
    /// Scratch: `gh` of the groups in flight and a zero vector.
    pub scratch: usize,
}

/// The lengths [`forward`] needs for `d` with `n` lanes, recording or not.
pub(crate) fn lens(d: ElmanDims, n: usize, record: bool) -> Lens {
    let (w, f, h) = (d.window, d.features, d.hidden);
    let groups = if record { d.groups(n) } else { MAX_GROUPS };
    let (h_slots, g_slots) = if record { (w, w) } else { (2, 1) };
    Lens {
        xl: groups * w * f * n,
        hl: groups * h_slots * h * n,
        gl: groups * g_slots * 3 * h * n,
        nl: groups * g_slots * h * n,
        scratch: MAX_GROUPS * 3 * h * n + n,
    }
}

/// The GRU's weights `(Wx, Wh, bx, bh)`, as in [`Forward::weights`].
type Weights<'a, E> = (&'a [E], &'a [E], &'a [E], &'a [E]);

/// One step of `G` groups: `gx` into the gate slots, `gh` into `ghs`, then the gates and state.
///
/// # Safety
/// `V`'s instruction set must be available; `xs[g]` holds `F` vectors, `hp[g]` `H` vectors (or is
/// `None` for `t = 1`), `gates[g]` and `ghs[g]` room for `3H`, `nout[g]` and `hout[g]` for `H`,
/// `zero` one zero vector; the weights are as in [`Forward::weights`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn step<V: Lanes, const G: usize>(
    (wx, wh, bx, bh): Weights<'_, V::E>,
    (f, h): (usize, usize),
    xs: [*const V::E; G],
    hp: Option<[*const V::E; G]>,
    gates: [*mut V::E; G],
    ghs: [*mut V::E; G],
    (nout, hout): ([*mut V::E; G], [*mut V::E; G]),
    zero: *const V::E,
) {
    let n = V::N;
    let g3 = 3 * h;
    let xt = Term {
        src: xs,
        w: wx.as_ptr(),
        k: f,
        cols: g3,
    };
    row_of_blocks::<V, G>(&[xt], Edge::Bias(bx.as_ptr()), g3, gates);
    match hp {
        Some(src) => {
            let ht = Term {
                src,
                w: wh.as_ptr(),
                k: h,
                cols: g3,
            };
            row_of_blocks::<V, G>(&[ht], Edge::Bias(bh.as_ptr()), g3, ghs);
        }
        None => row_of_blocks::<V, G>(&[], Edge::Bias(bh.as_ptr()), g3, ghs),
    }
    let half = V::splat(V::E::of(0.5));
    let one = V::splat(V::E::one());
    // σ(v) = half + half · tanh(v · half), as `encoder::sigmoid`.
    let sigmoid = |v: V| V::add(half, V::mul(half, V::tanh(V::mul(v, half))));
    for g in 0..G {
        let (gt, gh) = (gates[g], ghs[g]);
        for j in 0..h {
            let at = |c: usize| (c * h + j) * n;
            let rg = sigmoid(V::add(V::load(gt.add(at(0))), V::load(gh.add(at(0)))));
            let zg = sigmoid(V::add(V::load(gt.add(at(1))), V::load(gh.add(at(1)))));
            let ghn = V::load(gh.add(at(2)));
            let ng = V::tanh(V::add(V::load(gt.add(at(2))), V::mul(rg, ghn)));
            V::store(gt.add(at(0)), rg);
            V::store(gt.add(at(1)), zg);
            V::store(gt.add(at(2)), ng);
            V::store(nout[g].add(j * n), ghn);
            let hv = match hp {
                Some(p) => V::load(p[g].add(j * n)),
                None => V::load(zero),
            };
            let next = V::add(V::mul(V::sub(one, zg), ng), V::mul(zg, hv));
            V::store(hout[g].add(j * n), next);
        }
    }
}

/// GRU forward pass in lane layout on the vectors `V` (see the module doc).
///
/// # Safety
/// `V`'s instruction set must be available.
#[inline(always)]
pub(crate) unsafe fn forward<V: Lanes>(a: Forward<'_, V::E>) {
    let Forward {
        x,
        weights,
        xl,
        hl,
        gl,
        nl,
        scratch,
        emb,
        record,
        dims,
    } = a;
    let ElmanDims {
        rows,
        window,
        features: f,
        hidden: h,
    } = dims;
    let (wx, wh, bx, bh) = weights;
    let n = V::N;
    let g3 = 3 * h;
    let groups = dims.groups(n);
    assert!(V::GROUPS <= MAX_GROUPS);
    assert!(x.len() >= rows * window * f && wx.len() >= f * g3 && wh.len() >= h * g3);
    assert!(bx.len() >= g3 && bh.len() >= g3 && emb.len() >= rows * h);
    let need = lens(dims, n, record);
    assert!(xl.len() >= need.xl && hl.len() >= need.hl && gl.len() >= need.gl);
    assert!(nl.len() >= need.nl && scratch.len() >= need.scratch);
    let emb = &mut emb[..rows * h];
    if window == 0 {
        emb.fill(V::E::zero());
        return;
    }
    let (ghs, zero) = scratch[..need.scratch].split_at_mut(MAX_GROUPS * g3 * n);
    zero.fill(V::E::zero());
    let (h_slots, g_slots) = if record { (window, window) } else { (2, 1) };
    let (xg_len, hg_len) = (window * f * n, h_slots * h * n);
    let (gg_len, ng_len) = (g_slots * g3 * n, g_slots * h * n);
    let mut g = 0;
    while g < groups {
        let gs = V::GROUPS.min(groups - g);
        let at = if record { g } else { 0 };
        for q in 0..gs {
            rows_to_lanes(&mut xl[(at + q) * xg_len..], x, (g + q, n, rows), window * f);
        }
        let (xp, hp, gp, np) = (xl.as_ptr(), hl.as_mut_ptr(), gl.as_mut_ptr(), nl.as_mut_ptr());
        let (sp, zp) = (ghs.as_mut_ptr(), zero.as_ptr());
        for t in 0..window {
            // SAFETY: blocks at + q (q < gs) lie inside the buffers (checked above); step t's
            // slots lie inside their block.
            let x_at = |q: usize| xp.add((at + q) * xg_len + t * f * n);
            let h_at = |q: usize, s: usize| hp.add((at + q) * hg_len + (s % h_slots) * h * n);
            let g_at = |q: usize| gp.add((at + q) * gg_len + (t % g_slots) * g3 * n);
            let n_at = |q: usize| np.add((at + q) * ng_len + (t % g_slots) * h * n);
            let s_at = |q: usize| sp.add(q * g3 * n);
            let dims2 = (f, h);
            if gs == 2 {
                let prev = (t > 0).then(|| [h_at(0, t - 1) as *const _, h_at(1, t - 1) as *const _]);
                step::<V, 2>(
                    weights,
                    dims2,
                    [x_at(0), x_at(1)],
                    prev,
                    [g_at(0), g_at(1)],
                    [s_at(0), s_at(1)],
                    ([n_at(0), n_at(1)], [h_at(0, t), h_at(1, t)]),
                    zp,
                );
            } else {
                let prev = (t > 0).then(|| [h_at(0, t - 1) as *const _]);
                step::<V, 1>(
                    weights,
                    dims2,
                    [x_at(0)],
                    prev,
                    [g_at(0)],
                    [s_at(0)],
                    ([n_at(0)], [h_at(0, t)]),
                    zp,
                );
            }
        }
        let last = ((window - 1) % h_slots) * h * n;
        for q in 0..gs {
            let start = (at + q) * hg_len + last;
            from_lanes(emb, &hl[start..start + h * n], g + q, n, rows, (h, 0, h));
        }
        g += gs;
    }
}

/// Runs `$kernel::<V>(a)` with `V` the lane type of `isa` (see `elman`'s `on_isa`).
macro_rules! on_isa {
    ($isa:expr, $kernel:ident, $args:ty, $a:expr, $e:ty, $n:literal, $avx2:ident, $avx512:ident) => {{
        #[cfg(target_arch = "x86_64")]
        {
            use super::lanes::{$avx2, $avx512};
            #[target_feature(enable = "avx2,fma")]
            unsafe fn on_avx2(a: $args) {
                $kernel::<$avx2>(a)
            }
            #[target_feature(enable = "avx512f,avx2,fma")]
            unsafe fn on_avx512(a: $args) {
                $kernel::<$avx512>(a)
            }
            match $isa {
                Isa::Avx2 => return on_avx2($a),
                Isa::Avx512 => return on_avx512($a),
                Isa::Portable => {}
            }
        }
        let _ = $isa;
        $kernel::<Port<$e, $n>>($a)
    }};
}

/// [`GruLanes`] for `$e` with `$n` lanes and the x86 lane types `$avx2`, `$avx512`.
macro_rules! gru_lanes {
    ($e:ty, $n:literal, $avx2:ident, $avx512:ident) => {
        impl GruLanes for $e {
            const N: usize = $n;
            unsafe fn gru_forward_on(isa: Isa, a: Forward<'_, $e>) {
                on_isa!(isa, forward, Forward<'_, $e>, a, $e, $n, $avx2, $avx512)
            }
        }
    };
}

gru_lanes!(f32, 16, Avx2F32, Avx512F32);
gru_lanes!(f64, 8, Avx2F64, Avx512F64);

#[cfg(test)]
mod tests {
    use super::super::encoder::{gru_forward, Dims};
    use super::super::Workspace;
    use super::*;
    use rand::{RngExt, SeedableRng};

    fn bits<E: Scalar>(v: &[E]) -> Vec<u64> {
        v.iter().map(|x| x.value_f64().to_bits()).collect()
    }

    /// Theta `[Wx | Wh | bx | bh]` and inputs for the given sizes.
    fn case<E: Scalar>(d: ElmanDims, seed: u64) -> (Vec<E>, Vec<E>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let (f, h) = (d.features, d.hidden);
        let s = 1.5 / (h as f64).sqrt();
        let theta = (0..(f + h + 2) * 3 * h)
            .map(|_| E::of(rng.random_range(-s..s)))
            .collect();
        let x = (0..d.rows * d.window * f)
            .map(|_| E::of(rng.random_range(-2.0..2.0)))
            .collect();
        (theta, x)
    }

    /// The scalar FMA code's `(hs, gates, ghn)`, row-major.
    fn scalar<E: Scalar>(d: ElmanDims, theta: &[E], x: &[E]) -> (Vec<E>, Vec<E>, Vec<E>) {
        let (f, h) = (d.features, d.hidden);
        let offsets = (0, f * 3 * h, (f + h) * 3 * h, (f + h + 1) * 3 * h);
        let mut ws = Workspace::new();
        ws.x = x.to_vec();
        let dims = Dims {
            rows: d.rows,
            window: d.window,
            features: f,
            hidden: h,
        };
        gru_forward::<E, true>(theta, offsets, &mut ws, dims);
        (ws.hs, ws.gates, ws.ghn)
    }

    /// The lane kernel on `isa`: `(emb, hs, gates, ghn)` (row-major, `hs` with its zero block
    /// `h_0`, empty unless `record`), on buffers of exactly [`lens`] filled with NaN.
    fn lanes<E: GruLanes>(
        isa: Isa,
        d: ElmanDims,
        (theta, x): (&[E], &[E]),
        record: bool,
    ) -> (Vec<E>, Vec<E>, Vec<E>, Vec<E>) {
        let (n, f, h) = (E::N, d.features, d.hidden);
        let g3 = 3 * h;
        let len = lens(d, n, record);
        let mut xl = vec![E::nan(); len.xl];
        let mut hl = vec![E::nan(); len.hl];
        let mut gl = vec![E::nan(); len.gl];
        let mut nl = vec![E::nan(); len.nl];
        let mut scratch = vec![E::nan(); len.scratch];
        let mut emb = vec![E::nan(); d.rows * h];
        let o = (f * g3, (f + h) * g3, (f + h + 1) * g3);
        // SAFETY: the callers pass available paths only.
        unsafe {
            E::gru_forward_on(
                isa,
                Forward {
                    x,
                    weights: (&theta[..o.0], &theta[o.0..o.1], &theta[o.1..o.2], &theta[o.2..]),
                    xl: &mut xl,
                    hl: &mut hl,
                    gl: &mut gl,
                    nl: &mut nl,
                    scratch: &mut scratch,
                    emb: &mut emb,
                    record,
                    dims: d,
                },
            )
        };
        if !record {
            return (emb, vec![], vec![], vec![]);
        }
        let (rows, w) = (d.rows, d.window);
        let mut hs = vec![E::zero(); (w + 1) * rows * h];
        let mut gates = vec![E::zero(); w * rows * g3];
        let mut ghn = vec![E::zero(); w * rows * h];
        for g in 0..rows.div_ceil(n) {
            for t in 0..w {
                let at = (g * w + t) * n;
                from_lanes(
                    &mut hs[(t + 1) * rows * h..],
                    &hl[at * h..],
                    g,
                    n,
                    rows,
                    (h, 0, h),
                );
                from_lanes(
                    &mut gates[t * rows * g3..],
                    &gl[at * g3..],
                    g,
                    n,
                    rows,
                    (g3, 0, g3),
                );
                from_lanes(&mut ghn[t * rows * h..], &nl[at * h..], g, n, rows, (h, 0, h));
            }
        }
        (emb, hs, gates, ghn)
    }

    fn check<E: GruLanes>() {
        let shapes = [
            (1, 1, 1, 1),
            (3, 4, 2, 5),
            (17, 3, 3, 8),
            (5, 2, 1, 9),
            (33, 5, 3, 25),
            (40, 3, 2, 13),
            (9, 2, 4, 40),
        ];
        for (seed, &(rows, window, features, hidden)) in shapes.iter().enumerate() {
            let d = ElmanDims {
                rows,
                window,
                features,
                hidden,
            };
            let what = format!("{}: {d:?}", std::any::type_name::<E>());
            let (theta, x) = case::<E>(d, seed as u64);
            let (hs, gates, ghn) = scalar(d, &theta, &x);
            let last = &hs[window * rows * hidden..];
            for isa in Isa::available() {
                let (emb, lhs, lgates, lghn) = lanes(isa, d, (&theta, &x), true);
                assert_eq!(bits(&lhs), bits(&hs), "states, {isa}, {what}");
                assert_eq!(bits(&lgates), bits(&gates), "gates, {isa}, {what}");
                assert_eq!(bits(&lghn), bits(&ghn), "gh_n, {isa}, {what}");
                assert_eq!(bits(&emb), bits(last), "embedding, {isa}, {what}");
                let (iemb, ..) = lanes(isa, d, (&theta, &x), false);
                assert_eq!(bits(&iemb), bits(last), "inference embedding, {isa}, {what}");
            }
        }
    }

    #[test]
    fn every_path_is_the_scalar_forward_pass_bit_for_bit() {
        check::<f32>();
        check::<f64>();
    }
}
