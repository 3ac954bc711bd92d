//! The GRU encoder (§5, §A.1) with entity rows in SIMD lanes: the forward pass (recording for
//! backpropagation, or inference in a few kilobytes of scratch) and backpropagation through time
//! for `f32` and `f64`, one source for every instruction set.
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
//! `h_0 Wh` term, `gh = bh`), then the gates are element-wise vector operations. A recording pass
//! keeps, per group, the inputs, the states `h_1 … h_W`, the gates and `gh_n` of every step
//! (`[g][t][column][lane]`); [`backward`] reads them there.
//!
//! **Backward** (`papers/policy.md` §3), per group from `dh = dL/dh_W`, for t = W … 1 with
//! `h = h_{t−1}`:
//!
//! ```text
//! dpre_n = dh ⊙ (1 − z) ⊙ (1 − n²)          dpre_r = dpre_n ⊙ gh_n ⊙ r ⊙ (1 − r)
//! dpre_z = dh ⊙ (h − n) ⊙ z ⊙ (1 − z)
//! dgx = [dpre_r, dpre_z, dpre_n],  dgh = [dpre_r, dpre_z, dpre_n ⊙ r]
//! dx_t = dgx Wxᵀ                            (acc = 0; fma over the 3H columns in order)
//! dh  ← dh ⊙ z + dgh Whᵀ                    (acc = dh ⊙ z; fma over the 3H columns; t > 1)
//! ```
//!
//! the products left to right, one rounding each, as `encoder::gru_backward` computes them. The
//! weight gradients `dWx += x_tᵀ dgx`, `dWh += h_{t−1}ᵀ dgh` (t > 1), `dbx += Σ dgx`,
//! `dbh += Σ dgh` sum over rows, across lanes, in the fixed order of [`super::elman`]'s module
//! doc: per lane an fma chain from 0 over t descending, the groups added in order, then the
//! pairwise tree over the lanes.
//!
//! **Same bits everywhere.** Each lane performs, in the same order, exactly the operations of the
//! scalar code (`encoder::gru_forward` and `encoder::gru_backward`, FMA path) for its row: the same
//! fused multiply-adds for the products, separate multiplies and adds for the gates (`σ` through
//! the same `tanh`), `z ⊙ h_0` computed on a zero vector as the scalar code does. The states,
//! gates, embedding, `dgx`, `dgh`, the recursion for `dh` and dL/dx are therefore bitwise the
//! scalar code's on every path, and the encoder stays exactly permutation-equivariant. The weight
//! gradients are bitwise equal across paths (the sum order above does not depend on the
//! instruction set) and differ from the scalar code's row-by-row sums in the last bits.
//! `tests` below check every available path against a scalar implementation of these formulas
//! bit for bit, and against `encoder::gru_backward`.
// Register blocks are arrays indexed in fully unrolled loops.
#![allow(clippy::needless_range_loop)]

use super::elman::{
    add_lane_totals, blocks, from_lanes, grad_rows, next_input_rows, on_isa, prefetch_share, row_of_blocks,
    rows_to_lanes, Edge, ElmanDims, Term, MAX_GROUPS,
};
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
    /// [`backward`] on the path `isa`.
    ///
    /// # Safety
    /// `isa` must be available on this CPU.
    unsafe fn gru_backward_on(isa: Isa, a: Backward<'_, Self>);
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
        // The next run's input rows, a share per step (as the Elman forward pass).
        let ahead = [next_input_rows(
            x,
            ((g + gs) * n, V::GROUPS * n),
            rows,
            window * f,
        )];
        for t in 0..window {
            prefetch_share::<V, 1>(ahead, t, window);
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

/// Arguments of the backward pass.
pub(crate) struct Backward<'a, E> {
    /// `Wx` (F×3H), `Wh` (H×3H), row-major, gate columns `[r | z | n]`.
    pub weights: (&'a [E], &'a [E]),
    /// The recording forward pass's lane-layout inputs, states, gates and `gh_n`
    /// ([`Forward::xl`], [`Forward::hl`], [`Forward::gl`], [`Forward::nl`]).
    pub record: (&'a [E], &'a [E], &'a [E], &'a [E]),
    /// dL/dh_W, `R`×`H` row-major.
    pub de: &'a [E],
    /// Gradient buffer: dL/dWx, dL/dWh, dL/dbx, dL/dbh are **added** at the offsets `offsets`.
    pub grad: &'a mut [E],
    /// Offsets of `Wx`, `Wh`, `bx`, `bh` in `grad`.
    pub offsets: (usize, usize, usize, usize),
    /// When given, dL/dx is written here (`R` rows of `W·F`).
    pub dx: Option<&'a mut [E]>,
    /// Scratch, at least [`backward_scratch_len`] values (overwritten).
    pub scratch: &'a mut [E],
    /// Sizes.
    pub dims: ElmanDims,
}

/// Scratch length of [`backward`]: `Whᵀ` (3H×H), `Wxᵀ` (3H×F), the lane sums of
/// `[dWh; dWx; dbx; dbh]` (`(H + F + 2)·3H·N`), `dgx` (`W·3H·N`) and `dgh_n` (`W·H·N`) of every
/// step and `dh` (`H·N`) of two groups, one step's dx (`F·N`), a vector of ones and one of zeros.
pub(crate) fn backward_scratch_len(d: ElmanDims, n: usize) -> usize {
    let (w, f, h) = (d.window, d.features, d.hidden);
    let g3 = 3 * h;
    g3 * h + g3 * f + (h + f + 2) * g3 * n + MAX_GROUPS * (w * 4 * h * n + h * n) + f * n + 2 * n
}

/// What [`bptt`] reads and writes, as pointers (lane layout, see the module doc).
struct Bptt<E> {
    dims: ElmanDims,
    /// The forward record: `hl`, `gl`, `nl`.
    rec: (*const E, *const E, *const E),
    /// `Whᵀ` (3H×H) and `Wxᵀ` (3H×F).
    wt: (*const E, *const E),
    /// Per group in flight: `dgx` (`W·3H` vectors), `dgh_n` (`W·H`), `dh` (`H`).
    bufs: (*mut E, *mut E, *mut E),
    /// One step's dx (`F` vectors), a vector of zeros.
    dxl: *mut E,
    zero: *const E,
}

/// BPTT of the `G` groups `g … g + G`: `dh` must hold dL/dh_W of each group (padding lanes 0).
/// Leaves `dgx` and `dgh_n` of every step in the group buffers and writes dL/dx into `dx`. Step
/// `t` also prefetches share `W − 1 − t` of `W` of each `ahead` block ([`prefetch_share`]).
///
/// # Safety
/// `V`'s instruction set must be available; the pointers of `c` are valid for the lengths stated
/// in [`Bptt`] and [`lens`] (recording), and groups `g + q` (`q < G`) exist. The `ahead` blocks
/// need not be dereferenceable.
#[inline(always)]
unsafe fn bptt<V: Lanes, const G: usize>(
    c: &Bptt<V::E>,
    g: usize,
    ahead: [(*const V::E, usize); 4],
    mut dx: Option<&mut [V::E]>,
) {
    let ElmanDims {
        rows,
        window,
        features: f,
        hidden: h,
    } = c.dims;
    let (n, g3) = (V::N, 3 * h);
    let hg_len = window * h * n;
    let (hp, gp, np) = c.rec;
    let (wht, wxt) = c.wt;
    let (dgx, dgn, dh) = c.bufs;
    let one = V::splat(V::E::one());
    let dgx_at = |q: usize, t: usize| dgx.add((q * window + t) * g3 * n);
    let dgn_at = |q: usize, t: usize| dgn.add((q * window + t) * h * n);
    let dh_at = |q: usize| dh.add(q * h * n);
    for t in (0..window).rev() {
        prefetch_share::<V, 4>(ahead, window - 1 - t, window);
        // The element-wise part, as `encoder::gru_backward` does it for each row.
        for q in 0..G {
            let gg = g + q;
            let gt = gp.add((gg * window + t) * g3 * n);
            let ghn = np.add((gg * window + t) * h * n);
            let (dgx_t, dgn_t, dhq) = (dgx_at(q, t), dgn_at(q, t), dh_at(q));
            for j in 0..h {
                let at = |cc: usize| (cc * h + j) * n;
                let (rg, zg, ng) = (
                    V::load(gt.add(at(0))),
                    V::load(gt.add(at(1))),
                    V::load(gt.add(at(2))),
                );
                let hv = if t > 0 {
                    V::load(hp.add(gg * hg_len + ((t - 1) * h + j) * n))
                } else {
                    V::load(c.zero)
                };
                let d = V::load(dhq.add(j * n));
                let dn = V::mul(d, V::sub(one, zg));
                let dz = V::mul(d, V::sub(hv, ng));
                let dpre_n = V::mul(dn, V::sub(one, V::mul(ng, ng)));
                let dr = V::mul(dpre_n, V::load(ghn.add(j * n)));
                let dpre_r = V::mul(V::mul(dr, rg), V::sub(one, rg));
                let dpre_z = V::mul(V::mul(dz, zg), V::sub(one, zg));
                V::store(dgx_t.add(at(0)), dpre_r);
                V::store(dgx_t.add(at(1)), dpre_z);
                V::store(dgx_t.add(at(2)), dpre_n);
                V::store(dgn_t.add(j * n), V::mul(dpre_n, rg));
                V::store(dhq.add(j * n), V::mul(d, zg));
            }
        }
        // dx_t = dgx Wxᵀ.
        if let Some(dx) = dx.as_deref_mut() {
            for q in 0..G {
                let term = [Term {
                    src: [dgx_at(q, t) as *const _],
                    w: wxt,
                    k: g3,
                    cols: f,
                }];
                row_of_blocks::<V, 1>(&term, Edge::Zero, f, [c.dxl]);
                let dxl = std::slice::from_raw_parts(c.dxl as *const V::E, f * n);
                from_lanes(dx, dxl, g + q, n, rows, (window * f, t * f, f));
            }
        }
        // dh ← dh ⊙ z + dgh Whᵀ, with dgh = [dgx_r, dgx_z, dgh_n]: k = 0 … 3H in order.
        if t > 0 {
            let mut rz = [std::ptr::null::<V::E>(); G];
            let mut nn = [std::ptr::null::<V::E>(); G];
            let mut out = [std::ptr::null_mut::<V::E>(); G];
            for q in 0..G {
                rz[q] = dgx_at(q, t);
                nn[q] = dgn_at(q, t);
                out[q] = dh_at(q);
            }
            let terms = [
                Term {
                    src: rz,
                    w: wht,
                    k: 2 * h,
                    cols: h,
                },
                Term {
                    src: nn,
                    w: wht.add(2 * h * h),
                    k: h,
                    cols: h,
                },
            ];
            row_of_blocks::<V, G>(&terms, Edge::Start(out.map(|p| p as *const _)), h, out);
        }
    }
}

/// GRU backpropagation through time in lane layout on the vectors `V` (see the module doc),
/// reading the record of a recording [`forward`] pass.
///
/// # Safety
/// `V`'s instruction set must be available.
#[inline(always)]
pub(crate) unsafe fn backward<V: Lanes>(a: Backward<'_, V::E>) {
    let Backward {
        weights: (wx, wh),
        record: (xl, hl, gl, nl),
        de,
        grad,
        offsets: (gwx, gwh, gbx, gbh),
        mut dx,
        scratch,
        dims,
    } = a;
    let ElmanDims {
        rows,
        window,
        features: f,
        hidden: h,
    } = dims;
    let (n, g3) = (V::N, 3 * h);
    let groups = dims.groups(n);
    let zero = V::E::zero();
    let need = lens(dims, n, true);
    assert!(V::GROUPS <= MAX_GROUPS);
    assert!(wx.len() >= f * g3 && wh.len() >= h * g3 && de.len() >= rows * h);
    assert!(xl.len() >= need.xl && hl.len() >= need.hl && gl.len() >= need.gl && nl.len() >= need.nl);
    assert!(grad.len() >= (gwx + f * g3).max(gwh + h * g3).max(gbx + g3).max(gbh + g3));
    if let Some(dx) = dx.as_deref() {
        assert!(dx.len() >= rows * window * f);
    }
    if window == 0 {
        return;
    }
    let slen = backward_scratch_len(dims, n);
    assert!(scratch.len() >= slen);
    let rows_g = h + f + 2;
    let buf = &mut scratch[..slen];
    let (wht, rest) = buf.split_at_mut(g3 * h);
    let (wxt, rest) = rest.split_at_mut(g3 * f);
    let (sums, rest) = rest.split_at_mut(rows_g * g3 * n);
    let (dgx, rest) = rest.split_at_mut(MAX_GROUPS * window * g3 * n);
    let (dgn, rest) = rest.split_at_mut(MAX_GROUPS * window * h * n);
    let (dh, rest) = rest.split_at_mut(MAX_GROUPS * h * n);
    let (dxl, rest) = rest.split_at_mut(f * n);
    let (ones, zeros) = rest.split_at_mut(n);
    for cc in 0..g3 {
        for j in 0..h {
            wht[cc * h + j] = wh[j * g3 + cc];
        }
        for o in 0..f {
            wxt[cc * f + o] = wx[o * g3 + cc];
        }
    }
    sums.fill(zero);
    ones.fill(V::E::one());
    zeros.fill(zero);
    let c = Bptt {
        dims,
        rec: (hl.as_ptr(), gl.as_ptr(), nl.as_ptr()),
        wt: (wht.as_ptr(), wxt.as_ptr()),
        bufs: (dgx.as_mut_ptr(), dgn.as_mut_ptr(), dh.as_mut_ptr()),
        dxl: dxl.as_mut_ptr(),
        zero: zeros.as_ptr(),
    };
    let (xg_len, hg_len, gg_len) = (window * f * n, window * h * n, window * g3 * n);
    let (xp, hp, onep) = (xl.as_ptr(), hl.as_ptr(), ones.as_ptr());
    let sp = sums.as_mut_ptr();
    let mut g = 0;
    while g < groups {
        let gs = V::GROUPS.min(groups - g);
        for q in 0..gs {
            rows_to_lanes(
                std::slice::from_raw_parts_mut(c.bufs.2.add(q * h * n), h * n),
                de,
                (g + q, n, rows),
                h,
            );
        }
        // The next run's record, asked for a share per step while this run computes: its BPTT
        // reads the gates, gh_n and states, its weight gradients the states and inputs; with a
        // history larger than the caches they come from memory.
        let next = g + gs;
        let next_len = V::GROUPS.min(groups - next);
        let ahead = [
            (gl.as_ptr().wrapping_add(next * gg_len), next_len * gg_len),
            (nl.as_ptr().wrapping_add(next * hg_len), next_len * hg_len),
            (hp.wrapping_add(next * hg_len), next_len * hg_len),
            (xp.wrapping_add(next * xg_len), next_len * xg_len),
        ];
        // SAFETY: groups g … g + gs exist; the buffers have the lengths `Bptt` states.
        if gs == 2 {
            bptt::<V, 2>(&c, g, ahead, dx.as_deref_mut());
        } else {
            bptt::<V, 1>(&c, g, ahead, dx.as_deref_mut());
        }
        // Weight gradients of these groups, in group order. Row k of [dWh; dWx; dbx; dbh] at
        // step t: h_{t−1}[k] (k < H, steps W−1 … 1, against dgh), x_t[k − H] (k < H + F, against
        // dgx), ones (k = H + F against dgx, k = H + F + 1 against dgh); steps W−1 … 0.
        for q in 0..gs {
            let gg = g + q;
            let source = |k: usize| -> (*const V::E, usize) {
                if k < h {
                    (hp.wrapping_add(gg * hg_len + k * n).wrapping_sub(h * n), h * n)
                } else if k < h + f {
                    (xp.add(gg * xg_len + (k - h) * n), f * n)
                } else {
                    (onep, 0)
                }
            };
            let dgx_q = c.bufs.0.add(q * window * g3 * n) as *const V::E;
            let dgn_q = c.bufs.1.add(q * window * h * n) as *const V::E;
            for gate in 0..3 {
                for (j0, j) in blocks(h, V::GRAD_BLOCK) {
                    let col = gate * h + j0;
                    let d_x = (dgx_q.add(col * n), g3);
                    let d_h = if gate < 2 { d_x } else { (dgn_q.add(j0 * n), h) };
                    for (lo_k, hi_k, t_lo, d) in [
                        (0, h, 1, d_h),
                        (h, h + f + 1, 0, d_x),
                        (h + f + 1, rows_g, 0, d_h),
                    ] {
                        let sums = |k: usize| (sp.add((k * g3 + col) * n), g3);
                        grad_rows::<V>((lo_k, hi_k), j, &source, d, (t_lo, window), sums);
                    }
                }
            }
        }
        g += gs;
    }
    // grad += tree(S) for every weight.
    add_lane_totals(sums, (rows_g, g3, n), grad, |k, cc| {
        if k < h {
            gwh + k * g3 + cc
        } else if k < h + f {
            gwx + (k - h) * g3 + cc
        } else if k == h + f {
            gbx + cc
        } else {
            gbh + cc
        }
    });
}

/// [`GruLanes`] for `$e` with `$n` lanes and the x86 lane types `$avx2`, `$avx512`.
macro_rules! gru_lanes {
    ($e:ty, $n:literal, $avx2:ident, $avx512:ident) => {
        impl GruLanes for $e {
            const N: usize = $n;
            unsafe fn gru_forward_on(isa: Isa, a: Forward<'_, $e>) {
                on_isa!(isa, forward, Forward<'_, $e>, a, $e, $n, $avx2, $avx512)
            }
            unsafe fn gru_backward_on(isa: Isa, a: Backward<'_, $e>) {
                on_isa!(isa, backward, Backward<'_, $e>, a, $e, $n, $avx2, $avx512)
            }
        }
    };
}

gru_lanes!(f32, 16, Avx2F32, Avx512F32);
gru_lanes!(f64, 8, Avx2F64, Avx512F64);

#[cfg(test)]
mod tests {
    use super::super::elman::tree_sum;
    use super::super::encoder::{gru_backward, gru_forward, Dims};
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

    /// The test shapes `(R, W, F, H)`: single values, tails of a group, two groups, the paper's
    /// hidden size and a hidden size above one register block.
    fn shapes() -> Vec<ElmanDims> {
        [
            (1, 1, 1, 1),
            (3, 4, 2, 5),
            (17, 3, 3, 8),
            (5, 2, 1, 9),
            (33, 5, 3, 25),
            (40, 3, 2, 13),
            (9, 2, 4, 40),
        ]
        .into_iter()
        .map(|(rows, window, features, hidden)| ElmanDims {
            rows,
            window,
            features,
            hidden,
        })
        .collect()
    }

    fn check<E: GruLanes>() {
        for (seed, d) in shapes().into_iter().enumerate() {
            let ElmanDims {
                rows, window, hidden, ..
            } = d;
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

    /// Sizes of the backward tests: `Dims` for the scalar code.
    fn sdims(d: ElmanDims) -> Dims {
        Dims {
            rows: d.rows,
            window: d.window,
            features: d.features,
            hidden: d.hidden,
        }
    }

    /// dL/dh_W and a gradient buffer to add to.
    fn de_g0<E: Scalar>(d: ElmanDims, seed: u64) -> (Vec<E>, Vec<E>) {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ 0x5eed);
        let mut v = |k: usize, s: f64| (0..k).map(|_| E::of(rng.random_range(-s..s))).collect::<Vec<E>>();
        let h = d.hidden;
        (v(d.rows * h, 1.0), v((d.features + h + 2) * 3 * h, 0.1))
    }

    /// The module doc's backward formulas in plain scalar code, from the scalar forward record:
    /// `(grad, dx)`. Per row the element-wise step and the fma chains of `encoder::gru_backward`;
    /// weight gradients in the documented order (per lane t descending, groups in order, tree).
    fn scalar_backward<E: Scalar>(
        d: ElmanDims,
        (theta, x): (&[E], &[E]),
        (de, g0): (&[E], &[E]),
        n: usize,
    ) -> (Vec<E>, Vec<E>) {
        let ElmanDims {
            rows,
            window,
            features: f,
            hidden: h,
        } = d;
        let g3 = 3 * h;
        let one = E::one();
        let (hs, gates, ghn) = scalar(d, theta, x);
        let (wx, wh) = (&theta[..f * g3], &theta[f * g3..(f + h) * g3]);
        // dgx[t][r][c], dgh[t][r][c]; dx[r][t][o].
        let mut dgx = vec![E::zero(); window * rows * g3];
        let mut dgh = vec![E::zero(); window * rows * g3];
        let mut dx = vec![E::zero(); rows * window * f];
        for r in 0..rows {
            let mut dh: Vec<E> = de[r * h..(r + 1) * h].to_vec();
            for t in (0..window).rev() {
                let gt = &gates[(t * rows + r) * g3..(t * rows + r + 1) * g3];
                let mut next = vec![E::zero(); h];
                for j in 0..h {
                    let (rg, zg, ng) = (gt[j], gt[h + j], gt[2 * h + j]);
                    let dv = dh[j];
                    let hp = hs[(t * rows + r) * h + j];
                    let dpre_n = dv * (one - zg) * (one - ng * ng);
                    let dpre_r = dpre_n * ghn[(t * rows + r) * h + j] * rg * (one - rg);
                    let dpre_z = dv * (hp - ng) * zg * (one - zg);
                    let at = (t * rows + r) * g3;
                    dgx[at + j] = dpre_r;
                    dgx[at + h + j] = dpre_z;
                    dgx[at + 2 * h + j] = dpre_n;
                    dgh[at + j] = dpre_r;
                    dgh[at + h + j] = dpre_z;
                    dgh[at + 2 * h + j] = dpre_n * rg;
                    next[j] = dv * zg;
                }
                for o in 0..f {
                    let mut acc = E::zero();
                    for c in 0..g3 {
                        acc = dgx[(t * rows + r) * g3 + c].mul_add(wx[o * g3 + c], acc);
                    }
                    dx[r * window * f + t * f + o] = acc;
                }
                for j in 0..h {
                    for c in 0..g3 {
                        next[j] = dgh[(t * rows + r) * g3 + c].mul_add(wh[j * g3 + c], next[j]);
                    }
                }
                dh = next;
            }
        }
        let groups = rows.div_ceil(n);
        let mut grad = g0.to_vec();
        let (gwx, gwh, gbx, gbh) = (0, f * g3, (f + h) * g3, (f + h + 1) * g3);
        for k in 0..h + f + 2 {
            for c in 0..g3 {
                let mut s = vec![E::zero(); n];
                for g in 0..groups {
                    for (l, sl) in s.iter_mut().enumerate() {
                        let r = g * n + l;
                        let mut p = E::zero();
                        for t in (usize::from(k < h)..window).rev() {
                            if r >= rows {
                                continue;
                            }
                            let (a, dv) = if k < h {
                                (hs[(t * rows + r) * h + k], dgh[(t * rows + r) * g3 + c])
                            } else if k < h + f {
                                (x[r * window * f + t * f + k - h], dgx[(t * rows + r) * g3 + c])
                            } else if k == h + f {
                                (one, dgx[(t * rows + r) * g3 + c])
                            } else {
                                (one, dgh[(t * rows + r) * g3 + c])
                            };
                            p = a.mul_add(dv, p);
                        }
                        *sl = if g == 0 { E::zero() + p } else { *sl + p };
                    }
                }
                let at = if k < h {
                    gwh + k * g3 + c
                } else if k < h + f {
                    gwx + (k - h) * g3 + c
                } else if k == h + f {
                    gbx + c
                } else {
                    gbh + c
                };
                grad[at] += tree_sum(&mut s);
            }
        }
        (grad, dx)
    }

    /// The lane kernels on `isa`: a recording forward pass, then the backward pass on buffers of
    /// exactly the documented lengths (scratch filled with NaN): `(grad, dx)`.
    fn lanes_backward<E: GruLanes>(
        isa: Isa,
        d: ElmanDims,
        (theta, x): (&[E], &[E]),
        (de, g0): (&[E], &[E]),
    ) -> (Vec<E>, Vec<E>) {
        let (n, f, h) = (E::N, d.features, d.hidden);
        let g3 = 3 * h;
        let len = lens(d, n, true);
        let mut xl = vec![E::nan(); len.xl];
        let mut hl = vec![E::nan(); len.hl];
        let mut gl = vec![E::nan(); len.gl];
        let mut nl = vec![E::nan(); len.nl];
        let mut scratch = vec![E::nan(); len.scratch.max(backward_scratch_len(d, n))];
        let mut emb = vec![E::nan(); d.rows * h];
        let o = (f * g3, (f + h) * g3, (f + h + 1) * g3);
        let mut grad = g0.to_vec();
        let mut dx = vec![E::nan(); d.rows * d.window * f];
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
                    record: true,
                    dims: d,
                },
            );
            scratch.fill(E::nan());
            E::gru_backward_on(
                isa,
                Backward {
                    weights: (&theta[..o.0], &theta[o.0..o.1]),
                    record: (&xl, &hl, &gl, &nl),
                    de,
                    grad: &mut grad,
                    offsets: (0, o.0, o.1, o.2),
                    dx: Some(&mut dx),
                    scratch: &mut scratch,
                    dims: d,
                },
            );
        }
        (grad, dx)
    }

    /// `encoder::gru_backward` (the row-major scalar BPTT, FMA path): `(grad, dx)`.
    fn encoder_backward<E: Scalar>(
        d: ElmanDims,
        (theta, x): (&[E], &[E]),
        (de, g0): (&[E], &[E]),
    ) -> (Vec<E>, Vec<E>) {
        let (f, h) = (d.features, d.hidden);
        let offsets = (0, f * 3 * h, (f + h) * 3 * h, (f + h + 1) * 3 * h);
        let mut ws = Workspace::new();
        ws.x = x.to_vec();
        gru_forward::<E, true>(theta, offsets, &mut ws, sdims(d));
        ws.de = de.to_vec();
        let mut grad = g0.to_vec();
        gru_backward::<E, true>(theta, offsets, &mut ws, &mut grad, sdims(d), true);
        (grad, ws.dx)
    }

    fn check_backward<E: GruLanes>(tol: f64) {
        for (seed, d) in shapes().into_iter().enumerate() {
            let what = format!("{}: {d:?}", std::any::type_name::<E>());
            let (theta, x) = case::<E>(d, seed as u64);
            let (de, g0) = de_g0::<E>(d, seed as u64);
            let (grad_want, dx_want) = scalar_backward(d, (&theta, &x), (&de, &g0), E::N);
            let (grad_enc, dx_enc) = encoder_backward(d, (&theta, &x), (&de, &g0));
            // The reference's per-row arithmetic is the encoder's: dL/dx bit for bit, the weight
            // gradients (another summation order) to rounding.
            assert_eq!(bits(&dx_want), bits(&dx_enc), "reference dx, {what}");
            // Relative error, with the denominator at least 1 % of the largest gradient (small
            // entries are sums that cancel).
            let scale = grad_enc.iter().map(|v| v.value_f64().abs()).fold(0.0, f64::max);
            for (i, (a, b)) in grad_want.iter().zip(&grad_enc).enumerate() {
                let (a, b) = (a.value_f64(), b.value_f64());
                let err = (a - b).abs() / (b.abs().max(1e-2 * scale));
                assert!(err <= tol, "grad[{i}] {a} against {b} (relative {err:e}), {what}");
            }
            for isa in Isa::available() {
                let (grad, dx) = lanes_backward(isa, d, (&theta, &x), (&de, &g0));
                assert_eq!(bits(&dx), bits(&dx_want), "dx, {isa}, {what}");
                assert_eq!(bits(&grad), bits(&grad_want), "weight gradients, {isa}, {what}");
            }
        }
    }

    #[test]
    fn every_path_computes_the_documented_backward_pass_bit_for_bit() {
        check_backward::<f32>(1e-5);
        check_backward::<f64>(1e-12);
    }

    #[test]
    fn every_path_is_the_scalar_forward_pass_bit_for_bit() {
        check::<f32>();
        check::<f64>();
    }
}
