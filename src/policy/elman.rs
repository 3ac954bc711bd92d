//! The Elman encoder `h_t = tanh(b + x_t Wx + h_{t−1} Wh)` (§5, §A.1) with entity rows in SIMD
//! lanes: forward and backpropagation through time for `f32` and `f64`, one source for every
//! instruction set.
//!
//! **Layout.** The `R` entity rows are cut into groups of `N` rows (16 for `f32`, 8 for `f64`;
//! the last group padded with zero rows). Within a group, value `k` of every row sits in one
//! logical vector ([`Lanes`]): lane `l` is row `g·N + l`. A step of the recurrence is then, for
//! each output `j`, `acc = b_j; acc = fma(x_t[k], Wx[k, j], acc) (k < F); acc = fma(h_{t−1}[k],
//! Wh[k, j], acc) (k < H); h_t[j] = tanh(acc)` with the weight broadcast to all lanes. The width
//! of a vector has nothing to do with `H`, so no lane is wasted on padding columns (H = 25 filled
//! 25 of 32 lanes in the row-major kernels this replaces), and a register block of up to
//! [`Lanes::BLOCK`] outputs × [`Lanes::GROUPS`] groups keeps the accumulators in registers over
//! the whole inner dimension.
//!
//! **Same bits everywhere.** Each lane performs, in the same order and with the same fused
//! multiply-adds, exactly what the scalar code (`encoder::elman_forward`, FMA path) does for its
//! row; the forward pass, `dL/dx` and the recursion `dpre_{t−1} = (dpre_t Whᵀ) ⊙ (1 − h_{t−1}²)`
//! are therefore bitwise those of the scalar code, and every row is computed independently of its
//! position, so the encoder is exactly permutation-equivariant. Weight gradients sum over rows,
//! i.e. across lanes; their order is fixed here, independent of the instruction set:
//!
//! ```text
//! P[g][l]  = Σ_{t = W−1 … 0} a_t[row g·N+l] · dpre_t[row g·N+l]   (fma chain from 0, t descending)
//! S[l]     = P[0][l] + P[1][l] + … + P[G−1][l]                       (groups in order)
//! total    = tree(S[0 … N−1])    (pairwise: S[i] + S[i + N/2], halving until one value)
//! grad    += total
//! ```
//!
//! with `a_t` the source of the gradient row (`h_{t−1}[k]` for `Wh`, from t = W−1 down to 1;
//! `x_t[k]` for `Wx`; 1 for `b`). Every instruction set computes this same sum, so gradients
//! are bitwise equal across paths too (they differ in the last bits from a row-by-row sum).
//! `tests` below check every available path against a scalar implementation of these formulas.
// Register blocks are `[[V; J]; G]` arrays indexed in fully unrolled loops over the block.
#![allow(clippy::needless_range_loop)]

use super::isa::Isa;
use super::lanes::{Lanes, Port};
use super::scalar::Scalar;
use num_traits::{One, Zero};

/// Dimensions of one encoder call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ElmanDims {
    /// Entity rows `R`.
    pub rows: usize,
    /// Window length `W`.
    pub window: usize,
    /// Features per step `F`.
    pub features: usize,
    /// Hidden units `H`.
    pub hidden: usize,
}

impl ElmanDims {
    /// Groups of `n` rows.
    pub(super) fn groups(&self, n: usize) -> usize {
        self.rows.div_ceil(n)
    }
}

/// A scalar type with lane kernels: `f32` (16 lanes) and `f64` (8 lanes).
pub(crate) trait LaneScalar: Scalar {
    /// Lanes of a logical vector.
    const N: usize;
    /// [`forward`] on the path `isa`.
    ///
    /// # Safety
    /// `isa` must be available on this CPU.
    unsafe fn forward_on(isa: Isa, a: Forward<'_, Self>);
    /// [`backward`] on the path `isa`.
    ///
    /// # Safety
    /// `isa` must be available on this CPU.
    unsafe fn backward_on(isa: Isa, a: Backward<'_, Self>);
}

/// Arguments of the forward pass.
pub(crate) struct Forward<'a, E> {
    /// Inputs, `R` rows of `W·F` (`[r][t][f]`).
    pub x: &'a [E],
    /// `Wx` (F×H), `Wh` (H×H), `b` (H), row-major.
    pub weights: (&'a [E], &'a [E], &'a [E]),
    /// Out: inputs in lane layout, [`x_lanes_len`] values.
    pub xl: &'a mut [E],
    /// Out: states `h_1 … h_W` in lane layout, [`h_lanes_len`] values.
    pub hl: &'a mut [E],
    /// Out: the embedding `h_W`, `R`×`H` row-major.
    pub emb: &'a mut [E],
    /// Whether to keep what [`backward`] needs. When `true`, `xl` and `hl` hold the inputs and
    /// states of every group and step ([`x_lanes_len`], [`h_lanes_len`]); when `false` (inference)
    /// they are scratch for one pass of [`Lanes::GROUPS`] groups ([`infer_x_lanes_len`],
    /// [`infer_h_lanes_len`]: the inputs of those groups and a ring of two steps), so the pass
    /// touches no memory beyond `x`, `emb` and a few kilobytes that stay in L1. The embedding is
    /// bitwise the same in both modes.
    pub record: bool,
    /// Sizes.
    pub dims: ElmanDims,
}

/// Arguments of the backward pass.
pub(crate) struct Backward<'a, E> {
    /// `Wx` (F×H), `Wh` (H×H), row-major.
    pub weights: (&'a [E], &'a [E]),
    /// The forward pass's lane-layout inputs and states.
    pub xl: &'a [E],
    /// See [`Forward::hl`].
    pub hl: &'a [E],
    /// dL/dh_W, `R`×`H` row-major.
    pub de: &'a [E],
    /// Gradient buffer: dL/dWx, dL/dWh, dL/db are **added** at the offsets `offsets`.
    pub grad: &'a mut [E],
    /// Offsets of `Wx`, `Wh`, `b` in `grad`.
    pub offsets: (usize, usize, usize),
    /// When given, dL/dx is written here (`R` rows of `W·F`).
    pub dx: Option<&'a mut [E]>,
    /// Scratch, at least [`backward_scratch_len`] values (overwritten).
    pub scratch: &'a mut [E],
    /// Sizes.
    pub dims: ElmanDims,
}

/// Length of the lane-layout inputs: `G·W·F·N`.
pub(crate) fn x_lanes_len(d: ElmanDims, n: usize) -> usize {
    d.groups(n) * d.window * d.features * n
}

/// Length of the lane-layout states `h_1 … h_W`: `G·W·H·N`.
pub(crate) fn h_lanes_len(d: ElmanDims, n: usize) -> usize {
    d.groups(n) * d.window * d.hidden * n
}

/// Length of the lane-layout inputs of an inference pass (`record = false`): `2·W·F·N`, the
/// inputs of the (at most two) groups in flight.
pub(crate) fn infer_x_lanes_len(d: ElmanDims, n: usize) -> usize {
    MAX_GROUPS * d.window * d.features * n
}

/// Length of the state ring of an inference pass: `2·2·H·N` (steps `t − 1` and `t` of two groups).
pub(crate) fn infer_h_lanes_len(d: ElmanDims, n: usize) -> usize {
    MAX_GROUPS * 2 * d.hidden * n
}

/// Groups whose dpre buffers [`backward`] keeps at once (the largest [`Lanes::GROUPS`]).
pub(super) const MAX_GROUPS: usize = 2;

/// Scratch length of [`backward`]: `Whᵀ` (H×H), `Wxᵀ` (H×F), the lane sums of `[dWh; dWx; db]`
/// (`(H + F + 1)·H·N`), dpre of every step of two groups (`2·W·H·N`), one step's dx (`F·N`) and a
/// vector of ones (`N`).
pub(crate) fn backward_scratch_len(d: ElmanDims, n: usize) -> usize {
    let (w, f, h) = (d.window, d.features, d.hidden);
    h * h + h * f + (h + f + 1) * h * n + MAX_GROUPS * w * h * n + f * n + n
}

/// Splits `n` outputs into blocks of at most `max`, as equal as possible (`25, 12 → 9, 8, 8`).
pub(super) fn blocks(n: usize, max: usize) -> impl Iterator<Item = (usize, usize)> {
    let count = n.div_ceil(max.max(1)).max(1);
    let (base, extra) = (n / count, n % count);
    (0..count).scan(0, move |start, i| {
        let len = base + usize::from(i < extra);
        let s = *start;
        *start += len;
        Some((s, len))
    })
}

/// Calls `$f::<V, J, K>(args)` for the run-time block width `$j` (1 … 6) and source rows `$k`
/// (1 … 4) of a weight-gradient block.
macro_rules! by_grad_block {
    ($j:expr, $k:expr, $f:ident :: <$v:ty> ($($arg:expr),* $(,)?)) => {
        match ($k, $j) {
            (1, 1) => $f::<$v, 1, 1>($($arg),*),
            (1, 2) => $f::<$v, 2, 1>($($arg),*),
            (1, 3) => $f::<$v, 3, 1>($($arg),*),
            (1, 4) => $f::<$v, 4, 1>($($arg),*),
            (1, 5) => $f::<$v, 5, 1>($($arg),*),
            (1, _) => $f::<$v, 6, 1>($($arg),*),
            (2, 1) => $f::<$v, 1, 2>($($arg),*),
            (2, 2) => $f::<$v, 2, 2>($($arg),*),
            (2, 3) => $f::<$v, 3, 2>($($arg),*),
            (2, 4) => $f::<$v, 4, 2>($($arg),*),
            (2, 5) => $f::<$v, 5, 2>($($arg),*),
            (2, _) => $f::<$v, 6, 2>($($arg),*),
            (3, 1) => $f::<$v, 1, 3>($($arg),*),
            (3, 2) => $f::<$v, 2, 3>($($arg),*),
            (3, 3) => $f::<$v, 3, 3>($($arg),*),
            (3, 4) => $f::<$v, 4, 3>($($arg),*),
            (3, 5) => $f::<$v, 5, 3>($($arg),*),
            (3, _) => $f::<$v, 6, 3>($($arg),*),
            (_, 1) => $f::<$v, 1, 4>($($arg),*),
            (_, 2) => $f::<$v, 2, 4>($($arg),*),
            (_, 3) => $f::<$v, 3, 4>($($arg),*),
            (_, 4) => $f::<$v, 4, 4>($($arg),*),
            (_, 5) => $f::<$v, 5, 4>($($arg),*),
            (_, _) => $f::<$v, 6, 4>($($arg),*),
        }
    };
}

/// Calls `$f::<V, J, G>(args)` for the run-time block width `$j` (1 … 12) and a compile-time `G`.
macro_rules! by_width {
    ($j:expr, $f:ident :: <$v:ty; $g:ident> ($($arg:expr),* $(,)?)) => {
        match $j {
            1 => $f::<$v, 1, $g>($($arg),*),
            2 => $f::<$v, 2, $g>($($arg),*),
            3 => $f::<$v, 3, $g>($($arg),*),
            4 => $f::<$v, 4, $g>($($arg),*),
            5 => $f::<$v, 5, $g>($($arg),*),
            6 => $f::<$v, 6, $g>($($arg),*),
            7 => $f::<$v, 7, $g>($($arg),*),
            8 => $f::<$v, 8, $g>($($arg),*),
            9 => $f::<$v, 9, $g>($($arg),*),
            10 => $f::<$v, 10, $g>($($arg),*),
            11 => $f::<$v, 11, $g>($($arg),*),
            _ => $f::<$v, 12, $g>($($arg),*),
        }
    };
}

/// One term `Σ_k src[k] · w[k, j]` of a block: `K` source vectors (`N` lanes each, consecutive)
/// per group and a `K`×`cols` row-major weight matrix.
#[derive(Clone, Copy)]
pub(super) struct Term<E, const G: usize> {
    pub(super) src: [*const E; G],
    pub(super) w: *const E,
    pub(super) k: usize,
    pub(super) cols: usize,
}

/// What a block starts from and does before storing.
#[derive(Clone, Copy)]
pub(super) enum Edge<E, const G: usize> {
    /// Start from the bias, store `tanh` (a forward step).
    BiasTanh(*const E),
    /// Start from the bias, store as is (the GRU's gate pre-activations).
    Bias(*const E),
    /// Start from 0, multiply by `1 − h²` with `h` read at the given vectors (the recursion).
    ZeroTimesOneMinusSq([*const E; G]),
    /// Start from 0, store as is.
    Zero,
    /// Start from the vectors at the given pointers (`cols` per group, read before the block
    /// stores, so the output may be the same vectors), store as is (the GRU's `dh` recursion).
    Start([*const E; G]),
}

/// `J` outputs `j0 … j0 + J` of `G` groups: `acc = start; acc = fma(src[k], w[k, j], acc)` over
/// the terms in order and `k` ascending; then the edge's epilogue; stored at `out[g] + j·N`.
#[inline(always)]
unsafe fn block<V: Lanes, const J: usize, const G: usize>(
    terms: &[Term<V::E, G>],
    edge: Edge<V::E, G>,
    j0: usize,
    out: [*mut V::E; G],
) {
    let n = V::N;
    let mut acc = [[V::zero(); J]; G];
    if let Edge::BiasTanh(b) | Edge::Bias(b) = edge {
        for jj in 0..J {
            let bv = V::splat(*b.add(j0 + jj));
            for g in 0..G {
                acc[g][jj] = bv;
            }
        }
    }
    if let Edge::Start(st) = edge {
        for g in 0..G {
            for jj in 0..J {
                acc[g][jj] = V::load(st[g].add((j0 + jj) * n));
            }
        }
    }
    for term in terms {
        for k in 0..term.k {
            let mut s = [V::zero(); G];
            for g in 0..G {
                s[g] = V::load(term.src[g].add(k * n));
            }
            let wr = term.w.add(k * term.cols + j0);
            for jj in 0..J {
                let w = V::splat(*wr.add(jj));
                for g in 0..G {
                    acc[g][jj] = V::fma(s[g], w, acc[g][jj]);
                }
            }
        }
    }
    match edge {
        Edge::BiasTanh(_) => {
            for g in 0..G {
                for jj in 0..J {
                    V::store(out[g].add((j0 + jj) * n), V::tanh(acc[g][jj]));
                }
            }
        }
        Edge::ZeroTimesOneMinusSq(h) => {
            let one = V::splat(V::E::one());
            for g in 0..G {
                for jj in 0..J {
                    let hv = V::load(h[g].add((j0 + jj) * n));
                    let v = V::mul(acc[g][jj], V::sub(one, V::mul(hv, hv)));
                    V::store(out[g].add((j0 + jj) * n), v);
                }
            }
        }
        Edge::Zero | Edge::Bias(_) | Edge::Start(_) => {
            for g in 0..G {
                for jj in 0..J {
                    V::store(out[g].add((j0 + jj) * n), acc[g][jj]);
                }
            }
        }
    }
}

/// All `cols` outputs of `G` groups, in register blocks of at most [`Lanes::BLOCK`].
///
/// # Safety
/// `V`'s instruction set must be available; every term's sources hold `k` vectors and its weights
/// `k`×`cols` values, the edge's bias `cols` values (its `h` vectors `cols` vectors), and every
/// `out[g]` has room for `cols` vectors.
#[inline(always)]
pub(super) unsafe fn row_of_blocks<V: Lanes, const G: usize>(
    terms: &[Term<V::E, G>],
    edge: Edge<V::E, G>,
    cols: usize,
    out: [*mut V::E; G],
) {
    for (j0, j) in blocks(cols, V::BLOCK) {
        by_width!(j, block::<V; G>(terms, edge, j0, out));
    }
}

/// Rows `g·N … g·N + N` of a row-major `R`×`width` matrix into `N` lanes per column:
/// `dst[c·N + l] = src[(g·N + l)·width + c]`, padding rows 0. Reads whole rows in order.
pub(super) fn rows_to_lanes<E: Scalar>(
    dst: &mut [E],
    src: &[E],
    (g, n, rows): (usize, usize, usize),
    width: usize,
) {
    for l in 0..n {
        let r = g * n + l;
        let lanes = dst[..width * n].chunks_exact_mut(n);
        if r < rows {
            for (d, &v) in lanes.zip(&src[r * width..(r + 1) * width]) {
                d[l] = v;
            }
        } else {
            for d in lanes {
                d[l] = E::zero();
            }
        }
    }
}

/// The block of `count` row-major input rows of `width` values from row `first` on, cut at `rows`
/// (empty past the last row): what the forward passes prefetch for their next run of groups.
pub(super) fn next_input_rows<E>(
    x: &[E],
    (first, count): (usize, usize),
    rows: usize,
    width: usize,
) -> (*const E, usize) {
    let first = first.min(rows);
    let count = count.min(rows - first);
    (x.as_ptr().wrapping_add(first * width), count * width)
}

/// Lanes back to rows, for the rows that exist: `dst[(g·N + l)·stride + off + c] = src[c·N + l]`.
pub(super) fn from_lanes<E: Scalar>(
    dst: &mut [E],
    src: &[E],
    g: usize,
    n: usize,
    rows: usize,
    (stride, off, cols): (usize, usize, usize),
) {
    for l in 0..n {
        let r = g * n + l;
        if r >= rows {
            break;
        }
        for c in 0..cols {
            dst[r * stride + off + c] = src[c * n + l];
        }
    }
}

/// Elman forward pass in lane layout on the vectors `V` (see the module doc).
///
/// # Safety
/// `V`'s instruction set must be available.
#[inline(always)]
pub(crate) unsafe fn forward<V: Lanes>(a: Forward<'_, V::E>) {
    let Forward {
        x,
        weights: (wx, wh, b),
        xl,
        hl,
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
    let n = V::N;
    let groups = dims.groups(n);
    assert!(V::GROUPS <= MAX_GROUPS);
    assert!(x.len() >= rows * window * f && wx.len() >= f * h && wh.len() >= h * h && b.len() >= h);
    let (xl_need, hl_need) = if record {
        (x_lanes_len(dims, n), h_lanes_len(dims, n))
    } else {
        (infer_x_lanes_len(dims, n), infer_h_lanes_len(dims, n))
    };
    assert!(xl.len() >= xl_need && hl.len() >= hl_need && emb.len() >= rows * h);
    let emb = &mut emb[..rows * h];
    if window == 0 {
        emb.fill(V::E::zero());
        return;
    }
    // Per group: its inputs (`xg_len`) and `slots` steps of states, step `s` in slot `s % slots`.
    let slots = if record { window } else { 2 };
    let (xg_len, hg_len) = (window * f * n, slots * h * n);
    let mut g = 0;
    while g < groups {
        let gs = V::GROUPS.min(groups - g);
        // Recording keeps every group at its own place; inference reuses the first blocks.
        let at = if record { g } else { 0 };
        for q in 0..gs {
            rows_to_lanes(&mut xl[(at + q) * xg_len..], x, (g + q, n, rows), window * f);
        }
        let (xp, hp) = (xl.as_ptr(), hl.as_mut_ptr());
        // The next run's input rows (row-major, consecutive), asked for a share per step while
        // this run computes: at large batches they come from memory, not from the caches.
        let ahead = [next_input_rows(
            x,
            ((g + gs) * n, V::GROUPS * n),
            rows,
            window * f,
        )];
        for t in 0..window {
            prefetch_share::<V, 1>(ahead, t, window);
            // SAFETY (both arms): blocks at + q (q < gs) lie inside xl and hl (checked above);
            // step t's inputs and slots t % slots and (t − 1) % slots lie inside their block.
            let x_at = |q: usize| xp.add((at + q) * xg_len + t * f * n);
            let h_at = |q: usize, s: usize| hp.add((at + q) * hg_len + (s % slots) * h * n);
            if gs == 2 {
                let xt = Term {
                    src: [x_at(0), x_at(1)],
                    w: wx.as_ptr(),
                    k: f,
                    cols: h,
                };
                let out = [h_at(0, t), h_at(1, t)];
                if t == 0 {
                    row_of_blocks::<V, 2>(&[xt], Edge::BiasTanh(b.as_ptr()), h, out);
                } else {
                    let prev = [h_at(0, t - 1) as *const _, h_at(1, t - 1) as *const _];
                    let ht = Term {
                        src: prev,
                        w: wh.as_ptr(),
                        k: h,
                        cols: h,
                    };
                    row_of_blocks::<V, 2>(&[xt, ht], Edge::BiasTanh(b.as_ptr()), h, out);
                }
            } else {
                let xt = Term {
                    src: [x_at(0)],
                    w: wx.as_ptr(),
                    k: f,
                    cols: h,
                };
                let out = [h_at(0, t)];
                if t == 0 {
                    row_of_blocks::<V, 1>(&[xt], Edge::BiasTanh(b.as_ptr()), h, out);
                } else {
                    let ht = Term {
                        src: [h_at(0, t - 1) as *const _],
                        w: wh.as_ptr(),
                        k: h,
                        cols: h,
                    };
                    row_of_blocks::<V, 1>(&[xt, ht], Edge::BiasTanh(b.as_ptr()), h, out);
                }
            }
        }
        let last = ((window - 1) % slots) * h * n;
        for q in 0..gs {
            let start = (at + q) * hg_len + last;
            from_lanes(emb, &hl[start..start + h * n], g + q, n, rows, (h, 0, h));
        }
        g += gs;
    }
}

/// Pairwise sum of `N` lanes: `s[i] + s[i + N/2]`, halving until one value is left.
pub(super) fn tree_sum<E: Scalar>(s: &mut [E]) -> E {
    let mut len = s.len();
    while len > 1 {
        let half = len / 2;
        for i in 0..half {
            s[i] += s[i + half];
        }
        len = half;
    }
    s[0]
}

/// Weight-gradient block: `P[q][j] = Σ_t a_t[q] · d_t[j]` for `J` columns `j` of `K` source
/// rows `q`, `t` from `t_hi − 1` down to `t_lo`, then `S[q][j] += P[q][j]` in memory.
///
/// Source row `q` at step `t` is the vector at `src[q].0 + t·src[q].1` (a stride of 0 repeats one
/// vector); `d_t[j]` is at `dp + (t·ds + j)·N`; `S[q][j]` at `s + (q·ss + j)·N`.
///
/// # Safety
/// `V`'s instruction set must be available and every vector named above must be valid.
#[inline(always)]
unsafe fn grad_block<V: Lanes, const J: usize, const K: usize>(
    src: &[(*const V::E, usize)],
    (dp, ds): (*const V::E, usize),
    (t_lo, t_hi): (usize, usize),
    (s, ss): (*mut V::E, usize),
) {
    let n = V::N;
    let mut acc = [[V::zero(); J]; K];
    for t in (t_lo..t_hi).rev() {
        let mut d = [V::zero(); J];
        for jj in 0..J {
            d[jj] = V::load(dp.add((t * ds + jj) * n));
        }
        for q in 0..K {
            let av = V::load(src[q].0.wrapping_add(t * src[q].1));
            for jj in 0..J {
                acc[q][jj] = V::fma(av, d[jj], acc[q][jj]);
            }
        }
    }
    for q in 0..K {
        for jj in 0..J {
            let p = s.add((q * ss + jj) * n);
            V::store(p, V::add(V::load(p), acc[q][jj]));
        }
    }
}

/// [`grad_block`] over the source rows `k_lo … k_hi` of one block of `j` columns, in blocks of
/// [`Lanes::GRAD_ROWS`] rows (the last one shorter): row `k`'s vectors start at `source(k)` and
/// its lane sums at `sums(k)`; `d` and `t` as in [`grad_block`].
///
/// # Safety
/// As [`grad_block`], for every row of the range.
#[inline(always)]
pub(super) unsafe fn grad_rows<V: Lanes>(
    (k_lo, k_hi): (usize, usize),
    j: usize,
    source: impl Fn(usize) -> (*const V::E, usize),
    d: (*const V::E, usize),
    t: (usize, usize),
    sums: impl Fn(usize) -> (*mut V::E, usize),
) {
    let mut src = [(std::ptr::null::<V::E>(), 0); 4];
    let mut k = k_lo;
    while k < k_hi {
        let kb = V::GRAD_ROWS.min(k_hi - k);
        for (q, sq) in src.iter_mut().enumerate().take(kb) {
            *sq = source(k + q);
        }
        by_grad_block!(j, kb, grad_block::<V>(&src, d, t, sums(k)));
        k += kb;
    }
}

/// Elman backpropagation through time in lane layout on the vectors `V` (see the module doc).
///
/// # Safety
/// `V`'s instruction set must be available.
#[inline(always)]
pub(crate) unsafe fn backward<V: Lanes>(a: Backward<'_, V::E>) {
    let Backward {
        weights: (wx, wh),
        xl,
        hl,
        de,
        grad,
        offsets: (gwx, gwh, gb),
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
    let n = V::N;
    let groups = dims.groups(n);
    let zero = V::E::zero();
    assert!(wx.len() >= f * h && wh.len() >= h * h && de.len() >= rows * h);
    assert!(xl.len() >= x_lanes_len(dims, n) && hl.len() >= h_lanes_len(dims, n));
    assert!(grad.len() >= (gwx + f * h).max(gwh + h * h).max(gb + h));
    if let Some(dx) = dx.as_deref() {
        assert!(dx.len() >= rows * window * f);
    }
    if window == 0 {
        return;
    }
    let (xg_len, hg_len) = (window * f * n, window * h * n);
    assert!(V::GROUPS <= MAX_GROUPS && scratch.len() >= backward_scratch_len(dims, n));
    let rows_g = h + f + 1;
    let dp_len = window * h * n;
    let buf = &mut scratch[..backward_scratch_len(dims, n)];
    let (wht, rest) = buf.split_at_mut(h * h);
    let (wxt, rest) = rest.split_at_mut(h * f);
    let (sums, rest) = rest.split_at_mut(rows_g * h * n);
    let (dps, rest) = rest.split_at_mut(V::GROUPS * dp_len);
    let (dxl, ones) = rest.split_at_mut(f * n);
    for k in 0..h {
        for j in 0..h {
            wht[k * h + j] = wh[j * h + k];
        }
        for o in 0..f {
            wxt[k * f + o] = wx[o * h + k];
        }
    }
    sums.fill(zero);
    ones.fill(V::E::one());
    let (xp, hp, onep) = (xl.as_ptr(), hl.as_ptr(), ones.as_ptr());
    let mut g = 0;
    while g < groups {
        let gs = V::GROUPS.min(groups - g);
        // dpre at the last step: de ⊙ (1 − h_W²), padding lanes 0.
        for q in 0..gs {
            let dp = &mut dps[q * dp_len..(q + 1) * dp_len];
            let last = (window - 1) * h * n;
            rows_to_lanes(&mut dp[last..], de, (g + q, n, rows), h);
            let hw = &hl[(g + q) * hg_len + last..(g + q) * hg_len + last + h * n];
            for (d, &hv) in dp[last..last + h * n].iter_mut().zip(hw) {
                *d *= V::E::one() - hv * hv;
            }
        }
        let dpp = dps.as_mut_ptr();
        // The next run's states and inputs, asked for a share per step while this run computes:
        // with a history larger than the caches they come from memory.
        let next = g + gs;
        let next_len = V::GROUPS.min(groups - next);
        let ahead = [
            (hp.wrapping_add(next * hg_len), next_len * hg_len),
            (xp.wrapping_add(next * xg_len), next_len * xg_len),
        ];
        for t in (0..window).rev() {
            prefetch_share::<V, 2>(ahead, window - 1 - t, window);
            // SAFETY (whole step): groups g + q < groups exist; dpre rows t and t − 1 of each
            // group lie in its dp_len block; states h_{t} (index t − 1) lie in its hl block.
            let dp_at = |q: usize, s: usize| dpp.add(q * dp_len + s * h * n);
            if let Some(dx) = dx.as_deref_mut() {
                for q in 0..gs {
                    let term = [Term {
                        src: [dp_at(q, t) as *const _],
                        w: wxt.as_ptr(),
                        k: h,
                        cols: f,
                    }];
                    row_of_blocks::<V, 1>(&term, Edge::Zero, f, [dxl.as_mut_ptr()]);
                    from_lanes(dx, dxl, g + q, n, rows, (window * f, t * f, f));
                }
            }
            if t > 0 {
                let h_prev = |q: usize| hp.add((g + q) * hg_len + (t - 1) * h * n);
                if gs == 2 {
                    let term = [Term {
                        src: [dp_at(0, t) as *const _, dp_at(1, t) as *const _],
                        w: wht.as_ptr(),
                        k: h,
                        cols: h,
                    }];
                    let edge = Edge::ZeroTimesOneMinusSq([h_prev(0), h_prev(1)]);
                    row_of_blocks::<V, 2>(&term, edge, h, [dp_at(0, t - 1), dp_at(1, t - 1)]);
                } else {
                    let term = [Term {
                        src: [dp_at(0, t) as *const _],
                        w: wht.as_ptr(),
                        k: h,
                        cols: h,
                    }];
                    row_of_blocks::<V, 1>(
                        &term,
                        Edge::ZeroTimesOneMinusSq([h_prev(0)]),
                        h,
                        [dp_at(0, t - 1)],
                    );
                }
            }
        }
        // Weight gradients of these groups, in group order.
        for q in 0..gs {
            let gg = g + q;
            let dp = dps.as_ptr().add(q * dp_len);
            let sp = sums.as_mut_ptr();
            // Row k of [dWh; dWx; db] at step t: h_{t−1}[k] = hl[t − 1][k] (k < H, steps W−1 … 1),
            // x_t[k − H] (k < H + F), ones (k = H + F); steps W−1 … 0 for the last two.
            let source = |k: usize| -> (*const V::E, usize) {
                if k < h {
                    (hp.wrapping_add(gg * hg_len + k * n).wrapping_sub(h * n), h * n)
                } else if k < h + f {
                    (xp.add(gg * xg_len + (k - h) * n), f * n)
                } else {
                    (onep, 0)
                }
            };
            // Column blocks outside, source rows inside: a block's dpre columns (all steps) stay in
            // L1 while the sources stream past.
            for (j0, j) in blocks(h, V::GRAD_BLOCK) {
                for (lo_k, hi_k, t_lo) in [(0, h, 1), (h, rows_g, 0)] {
                    let d = (dp.add(j0 * n), h);
                    let sums = |k: usize| (sp.add((k * h + j0) * n), h);
                    grad_rows::<V>((lo_k, hi_k), j, &source, d, (t_lo, window), sums);
                }
            }
        }
        g += gs;
    }
    // grad += tree(S) for every weight.
    add_lane_totals(sums, (rows_g, h, n), grad, |k, j| {
        if k < h {
            gwh + k * h + j
        } else if k < h + f {
            gwx + (k - h) * h + j
        } else {
            gb + j
        }
    });
}

/// Prefetches share `i` of `shares` of each `(start, len)` block (`len` values), whole cache
/// lines of 64 bytes: with `per = ⌈len / shares⌉` rounded up to a whole line, the lines from
/// `start + i·per` up to `start + min((i + 1)·per, len)`. Calling it for `i = 0 … shares − 1`
/// prefetches each block once. It changes no value (the Elman and GRU backward passes call it
/// for the next run of groups' records, one share per BPTT step).
///
/// # Safety
/// `V`'s instruction set must be available. The blocks need not be dereferenceable: nothing is
/// read or written through them, and a prefetch never faults.
#[inline(always)]
pub(super) unsafe fn prefetch_share<V: Lanes, const B: usize>(
    blocks: [(*const V::E, usize); B],
    i: usize,
    shares: usize,
) {
    let line = 64 / std::mem::size_of::<V::E>();
    for (start, len) in blocks {
        let per = len.div_ceil(shares.max(1)).next_multiple_of(line);
        let (lo, hi) = ((i * per).min(len), ((i + 1) * per).min(len));
        for e in (lo..hi).step_by(line) {
            V::prefetch(start.wrapping_add(e));
        }
    }
}

/// `grad[at(k, c)] += tree(S[k][c])` for every source row `k < rows` and column `c < cols` of the
/// lane sums `S` (`S[k][c]` is the `n` values at `sums[(k·cols + c)·n …]`), the last step of a
/// backward pass's weight gradients (see the module doc).
pub(super) fn add_lane_totals<E: Scalar>(
    sums: &[E],
    (rows, cols, n): (usize, usize, usize),
    grad: &mut [E],
    at: impl Fn(usize, usize) -> usize,
) {
    let mut lanes = vec![E::zero(); n];
    for k in 0..rows {
        for c in 0..cols {
            lanes.copy_from_slice(&sums[(k * cols + c) * n..(k * cols + c + 1) * n]);
            grad[at(k, c)] += tree_sum(&mut lanes);
        }
    }
}

/// Runs `$kernel::<V>(a)` with `V` the lane type of `isa`: `$avx2`, `$avx512` (each through a
/// wrapper compiled for its instruction set) or the portable `Port<$e, $n>`.
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
pub(super) use on_isa;

/// [`LaneScalar`] for `$e` with `$n` lanes and the x86 lane types `$avx2`, `$avx512`.
macro_rules! lane_scalar {
    ($e:ty, $n:literal, $avx2:ident, $avx512:ident) => {
        impl LaneScalar for $e {
            const N: usize = $n;
            unsafe fn forward_on(isa: Isa, a: Forward<'_, $e>) {
                on_isa!(isa, forward, Forward<'_, $e>, a, $e, $n, $avx2, $avx512)
            }
            unsafe fn backward_on(isa: Isa, a: Backward<'_, $e>) {
                on_isa!(isa, backward, Backward<'_, $e>, a, $e, $n, $avx2, $avx512)
            }
        }
    };
}

lane_scalar!(f32, 16, Avx2F32, Avx512F32);
lane_scalar!(f64, 8, Avx2F64, Avx512F64);

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};

    struct Case<E> {
        dims: ElmanDims,
        x: Vec<E>,
        wx: Vec<E>,
        wh: Vec<E>,
        b: Vec<E>,
        de: Vec<E>,
        g0: Vec<E>,
    }

    fn case<E: Scalar>(rows: usize, window: usize, f: usize, h: usize, seed: u64) -> Case<E> {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut v = |n: usize, s: f64| (0..n).map(|_| E::of(rng.random_range(-s..s))).collect::<Vec<E>>();
        Case {
            dims: ElmanDims {
                rows,
                window,
                features: f,
                hidden: h,
            },
            x: v(rows * window * f, 2.0),
            wx: v(f * h, 1.0),
            wh: v(h * h, 1.5 / (h as f64).sqrt()),
            b: v(h, 0.5),
            de: v(rows * h, 1.0),
            g0: v(f * h + h * h + h, 0.1),
        }
    }

    /// Row by row, the scalar forward pass: `(all states [t][r][j] for t = 1 … W)`.
    fn scalar_forward<E: Scalar>(c: &Case<E>) -> Vec<E> {
        let ElmanDims {
            rows,
            window,
            features: f,
            hidden: h,
        } = c.dims;
        let mut hs = vec![E::zero(); window * rows * h];
        for r in 0..rows {
            let mut prev = vec![E::zero(); h];
            for t in 0..window {
                let mut next = c.b.clone();
                for k in 0..f {
                    let xv = c.x[r * window * f + t * f + k];
                    for j in 0..h {
                        next[j] = xv.mul_add(c.wx[k * h + j], next[j]);
                    }
                }
                if t > 0 {
                    for k in 0..h {
                        for j in 0..h {
                            next[j] = prev[k].mul_add(c.wh[k * h + j], next[j]);
                        }
                    }
                }
                for v in next.iter_mut() {
                    *v = v.act_tanh();
                }
                hs[(t * rows + r) * h..(t * rows + r + 1) * h].copy_from_slice(&next);
                prev = next;
            }
        }
        hs
    }

    /// The module doc's formulas in plain scalar code: `(grad, dx)`.
    fn scalar_backward<E: Scalar>(c: &Case<E>, hs: &[E], n: usize) -> (Vec<E>, Vec<E>) {
        let ElmanDims {
            rows,
            window,
            features: f,
            hidden: h,
        } = c.dims;
        let one = E::one();
        let st = |t: usize, r: usize, j: usize| hs[(t * rows + r) * h + j]; // h_{t+1}
                                                                            // dpre[t][r][j] and dx, row by row.
        let mut dpre = vec![E::zero(); window * rows * h];
        let mut dx = vec![E::zero(); rows * window * f];
        for r in 0..rows {
            let mut d: Vec<E> = (0..h)
                .map(|j| c.de[r * h + j] * (one - st(window - 1, r, j) * st(window - 1, r, j)))
                .collect();
            for t in (0..window).rev() {
                dpre[(t * rows + r) * h..(t * rows + r + 1) * h].copy_from_slice(&d);
                for o in 0..f {
                    let mut acc = E::zero();
                    for j in 0..h {
                        acc = d[j].mul_add(c.wx[o * h + j], acc);
                    }
                    dx[r * window * f + t * f + o] = acc;
                }
                if t > 0 {
                    let mut next = vec![E::zero(); h];
                    for j in 0..h {
                        for k in 0..h {
                            next[j] = d[k].mul_add(c.wh[j * h + k], next[j]);
                        }
                        next[j] *= one - st(t - 1, r, j) * st(t - 1, r, j);
                    }
                    d = next;
                }
            }
        }
        // Weight gradients in the documented order.
        let groups = rows.div_ceil(n);
        let mut grad = c.g0.clone();
        let (gwx, gwh, gb) = (0, f * h, f * h + h * h);
        for k in 0..h + f + 1 {
            for j in 0..h {
                let mut s = vec![E::zero(); n];
                for g in 0..groups {
                    for (l, sl) in s.iter_mut().enumerate() {
                        let r = g * n + l;
                        let mut p = E::zero();
                        let lo = if k < h { 1 } else { 0 };
                        for t in (lo..window).rev() {
                            let a = if r >= rows {
                                E::zero()
                            } else if k < h {
                                st(t - 1, r, k)
                            } else if k < h + f {
                                c.x[r * window * f + t * f + k - h]
                            } else {
                                one
                            };
                            let dv = if r < rows {
                                dpre[(t * rows + r) * h + j]
                            } else {
                                E::zero()
                            };
                            p = a.mul_add(dv, p);
                        }
                        *sl = if g == 0 { E::zero() + p } else { *sl + p };
                    }
                }
                let total = tree_sum(&mut s);
                let at = if k < h {
                    gwh + k * h + j
                } else if k < h + f {
                    gwx + (k - h) * h + j
                } else {
                    gb + j
                };
                grad[at] += total;
            }
        }
        (grad, dx)
    }

    fn bits<E: Scalar>(v: &[E]) -> Vec<u64> {
        v.iter().map(|x| x.value_f64().to_bits()).collect()
    }

    fn run<E: LaneScalar>(isa: Isa, c: &Case<E>) -> (Vec<E>, Vec<E>, Vec<E>, Vec<E>) {
        let n = E::N;
        let ElmanDims {
            rows,
            window,
            features: f,
            hidden: h,
        } = c.dims;
        let mut xl = vec![E::nan(); x_lanes_len(c.dims, n)];
        let mut hl = vec![E::nan(); h_lanes_len(c.dims, n)];
        let mut emb = vec![E::nan(); rows * h];
        // SAFETY: the callers pass available paths only.
        unsafe {
            E::forward_on(
                isa,
                Forward {
                    x: &c.x,
                    weights: (&c.wx, &c.wh, &c.b),
                    xl: &mut xl,
                    hl: &mut hl,
                    emb: &mut emb,
                    record: true,
                    dims: c.dims,
                },
            )
        };
        let mut grad = c.g0.clone();
        let mut dx = vec![E::nan(); rows * window * f];
        let mut scratch = vec![E::nan(); backward_scratch_len(c.dims, n)];
        // SAFETY: as above.
        unsafe {
            E::backward_on(
                isa,
                Backward {
                    weights: (&c.wx, &c.wh),
                    xl: &xl,
                    hl: &hl,
                    de: &c.de,
                    grad: &mut grad,
                    offsets: (0, f * h, f * h + h * h),
                    dx: Some(&mut dx),
                    scratch: &mut scratch,
                    dims: c.dims,
                },
            )
        };
        // States back to [t][r][j].
        let mut hs = vec![E::zero(); window * rows * h];
        for r in 0..rows {
            let (g, l) = (r / n, r % n);
            for t in 0..window {
                for j in 0..h {
                    hs[(t * rows + r) * h + j] = hl[g * window * h * n + (t * h + j) * n + l];
                }
            }
        }
        (hs, emb, grad, dx)
    }

    /// The embedding of an inference pass (`record = false`) on scratch of exactly the documented
    /// lengths, filled with NaN so a read of a slot not yet written would show.
    fn infer<E: LaneScalar>(isa: Isa, c: &Case<E>) -> Vec<E> {
        let n = E::N;
        let mut xl = vec![E::nan(); infer_x_lanes_len(c.dims, n)];
        let mut hl = vec![E::nan(); infer_h_lanes_len(c.dims, n)];
        let mut emb = vec![E::nan(); c.dims.rows * c.dims.hidden];
        // SAFETY: the callers pass available paths only.
        unsafe {
            E::forward_on(
                isa,
                Forward {
                    x: &c.x,
                    weights: (&c.wx, &c.wh, &c.b),
                    xl: &mut xl,
                    hl: &mut hl,
                    emb: &mut emb,
                    record: false,
                    dims: c.dims,
                },
            )
        };
        emb
    }

    fn check<E: LaneScalar>() {
        let shapes = [
            (1, 1, 1, 1),
            (3, 4, 2, 5),
            (17, 3, 3, 8),
            (5, 2, 1, 9),
            (33, 5, 3, 25),
            (40, 3, 2, 13),
            (9, 2, 4, 40),
            (2, 3, 2, 57),
        ];
        for (seed, &(rows, window, f, h)) in shapes.iter().enumerate() {
            let c = case::<E>(rows, window, f, h, seed as u64);
            let what = format!("{}: R {rows} W {window} F {f} H {h}", std::any::type_name::<E>());
            let hs_want = scalar_forward(&c);
            let (grad_want, dx_want) = scalar_backward(&c, &hs_want, E::N);
            for isa in Isa::available() {
                let (hs, emb, grad, dx) = run(isa, &c);
                assert_eq!(bits(&hs), bits(&hs_want), "states, {isa}, {what}");
                assert_eq!(
                    bits(&emb),
                    bits(&hs_want[(window - 1) * rows * h..]),
                    "embedding, {isa}, {what}"
                );
                assert_eq!(
                    bits(&infer(isa, &c)),
                    bits(&emb),
                    "inference embedding, {isa}, {what}"
                );
                assert_eq!(bits(&dx), bits(&dx_want), "dx, {isa}, {what}");
                assert_eq!(bits(&grad), bits(&grad_want), "weight gradients, {isa}, {what}");
            }
        }
    }

    #[test]
    fn every_path_computes_the_documented_formulas_bit_for_bit() {
        check::<f32>();
        check::<f64>();
    }

    #[test]
    fn blocks_cover_the_outputs_evenly() {
        for n in 1..60 {
            for max in [4, 6, 12] {
                let b: Vec<_> = blocks(n, max).collect();
                assert_eq!(b.iter().map(|&(_, l)| l).sum::<usize>(), n);
                assert!(b.iter().all(|&(_, l)| l >= 1 && l <= max), "{n} {max} {b:?}");
                let (lo, hi) = (b.iter().map(|x| x.1).min(), b.iter().map(|x| x.1).max());
                assert!(hi.unwrap_or(0) - lo.unwrap_or(0) <= 1);
                assert!(b.windows(2).all(|w| w[0].0 + w[0].1 == w[1].0));
            }
        }
        assert_eq!(blocks(25, 12).map(|b| b.1).collect::<Vec<_>>(), vec![9, 8, 8]);
    }

    #[test]
    fn tree_sum_pairs_lanes_half_apart() {
        // 1e8 + 1 + (−1e8) + 1 in f32 depends on the pairing: (a + c) + (b + d) = 0 + 2.
        let mut s = [1e8f32, 1.0, -1e8, 1.0];
        assert_eq!(tree_sum(&mut s), 2.0);
    }
}
