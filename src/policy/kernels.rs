//! AVX2 + FMA kernels for the Elman encoder in `f32` and `f64`, the network's hot loop.
//!
//! The generic kernels of [`scalar`](super::scalar) keep the output row in memory because its
//! width `H` is a run-time value: every `out[j] += x·w[k, j]` is a load, an FMA and a store, and
//! each loaded weight row serves one entity row. Here the hidden width is cut into 256-bit
//! registers ([`Simd`]: 8 `f32` or 4 `f64` lanes; weights packed once per call with rows
//! zero-padded to whole registers) and a block of up to 2 entity rows × 4 registers is accumulated
//! in registers over the whole inner dimension, with the weight registers loaded once per block
//! and each input value broadcast once. The `1 − h²` factor of the backward pass is applied before
//! the single store; the forward activation runs as a separate pass over each panel's contiguous
//! states (no padding lanes there, and the long, independent `tanh` evaluations overlap better
//! than when interleaved with the FMA blocks).
//!
//! **Same maths as the generic FMA path.** Every output element is accumulated in the same order,
//! with the same fused multiply-adds, as `encoder::elman_forward` / `elman_backward` do with
//! `FMA = true`: bias, then `k = 0, 1, …` for a layer output; entity rows in order for a weight
//! gradient (the accumulator is loaded from and stored to memory between panels of rows, which
//! does not round). [`tanh8`] is [`fast_tanh_f32`] lane by lane, operation for operation; `f64`
//! keeps the exact library `tanh`. The results are therefore bitwise equal to the generic code's
//! (the tests below check it), deterministic, and each entity row is computed independently of
//! its position, so the encoder stays exactly permutation-equivariant.
//!
//! The forward pass runs the time loop inside panels of [`PANEL`] entity rows, so a panel's hidden
//! states stay in L1 across the W steps. The backward pass goes step by step (the weight gradients
//! sum over all rows of a step before the next step), panel by panel within a step.
//!
//! The kernels are `unsafe fn` with `#[target_feature(enable = "avx2,fma")]`: callers must have
//! checked [`available`]. Slice lengths are asserted on entry; inside, rows are addressed through
//! raw pointers whose offsets stay within those asserted bounds.
#![cfg(target_arch = "x86_64")]
// Register blocks are `[[V; C]; R]` arrays indexed in fully unrolled loops over the block.
#![allow(clippy::needless_range_loop)]

use super::scalar::{fast_tanh_f32, Scalar};
use num_traits::{Float, One, Zero};
use std::arch::x86_64::*;
use std::sync::atomic::{AtomicU8, Ordering};

/// 8 `f32` lanes.
pub(crate) type F32x8 = __m256;
/// 4 `f64` lanes.
pub(crate) type F64x4 = __m256d;

/// Chunks of one register per register block (4 chunks × 2 rows = 8 accumulators).
const MAX_CHUNKS: usize = 4;
/// Entity rows per panel of the forward time loop and of each backward step.
pub(crate) const PANEL: usize = 64;

/// Whether the CPU supports AVX2 and FMA (checked once, then cached).
pub(crate) fn available() -> bool {
    static STATE: AtomicU8 = AtomicU8::new(0);
    match STATE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let ok = std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma");
            STATE.store(if ok { 2 } else { 1 }, Ordering::Relaxed);
            ok
        }
    }
}

/// One 256-bit register of [`LANES`](Simd::LANES) values of type [`E`](Simd::E): `__m256`
/// (8 × `f32`) or `__m256d` (4 × `f64`).
///
/// # Safety
/// Every method needs AVX2 and FMA; pointers must be valid for the lanes they touch.
pub(crate) trait Simd: Copy {
    /// The lane type.
    type E: Scalar;
    /// Lanes per register.
    const LANES: usize;
    /// All lanes 0.
    unsafe fn zero() -> Self;
    /// All lanes `x`.
    unsafe fn splat(x: Self::E) -> Self;
    /// All lanes `*p`.
    unsafe fn bcast(p: *const Self::E) -> Self;
    /// Unaligned load of `LANES` values.
    unsafe fn load(p: *const Self::E) -> Self;
    /// Unaligned store of `LANES` values.
    unsafe fn store(p: *mut Self::E, v: Self);
    /// Loads `n < LANES` values, the other lanes 0, reading nothing past `p + n`.
    unsafe fn load_part(p: *const Self::E, n: usize) -> Self;
    /// Stores the first `n < LANES` lanes, writing nothing past `p + n`.
    unsafe fn store_part(p: *mut Self::E, n: usize, v: Self);
    /// `a · b + c`, rounded once.
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self;
    /// `a · b`.
    unsafe fn mul(a: Self, b: Self) -> Self;
    /// `a − b`.
    unsafe fn sub(a: Self, b: Self) -> Self;
    /// `v[i] = v[i].act_tanh()` for all `i`, bitwise as the scalar function.
    unsafe fn tanh_in_place(v: &mut [Self::E]);
}

impl Simd for __m256 {
    type E = f32;
    const LANES: usize = 8;
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn zero() -> Self {
        _mm256_setzero_ps()
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn splat(x: f32) -> Self {
        _mm256_set1_ps(x)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn bcast(p: *const f32) -> Self {
        _mm256_broadcast_ss(&*p)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn load(p: *const f32) -> Self {
        _mm256_loadu_ps(p)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store(p: *mut f32, v: Self) {
        _mm256_storeu_ps(p, v)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn load_part(p: *const f32, n: usize) -> Self {
        _mm256_maskload_ps(p, mask32(n))
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store_part(p: *mut f32, n: usize, v: Self) {
        _mm256_maskstore_ps(p, mask32(n), v)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        _mm256_fmadd_ps(a, b, c)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn mul(a: Self, b: Self) -> Self {
        _mm256_mul_ps(a, b)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn sub(a: Self, b: Self) -> Self {
        _mm256_sub_ps(a, b)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tanh_in_place(v: &mut [f32]) {
        let mut chunks = v.chunks_exact_mut(8);
        for c in &mut chunks {
            _mm256_storeu_ps(c.as_mut_ptr(), tanh8(_mm256_loadu_ps(c.as_ptr())));
        }
        for a in chunks.into_remainder() {
            *a = fast_tanh_f32(*a);
        }
    }
}

impl Simd for __m256d {
    type E = f64;
    const LANES: usize = 4;
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn zero() -> Self {
        _mm256_setzero_pd()
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn splat(x: f64) -> Self {
        _mm256_set1_pd(x)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn bcast(p: *const f64) -> Self {
        _mm256_broadcast_sd(&*p)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn load(p: *const f64) -> Self {
        _mm256_loadu_pd(p)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store(p: *mut f64, v: Self) {
        _mm256_storeu_pd(p, v)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn load_part(p: *const f64, n: usize) -> Self {
        _mm256_maskload_pd(p, mask64(n))
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn store_part(p: *mut f64, n: usize, v: Self) {
        _mm256_maskstore_pd(p, mask64(n), v)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
        _mm256_fmadd_pd(a, b, c)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn mul(a: Self, b: Self) -> Self {
        _mm256_mul_pd(a, b)
    }
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn sub(a: Self, b: Self) -> Self {
        _mm256_sub_pd(a, b)
    }
    /// The exact `tanh` (a library call per value), as the generic code uses for `f64`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn tanh_in_place(v: &mut [f64]) {
        for a in v.iter_mut() {
            *a = a.act_tanh();
        }
    }
}

/// Mask of the first `n ≤ 8` `f32` lanes.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn mask32(n: usize) -> __m256i {
    _mm256_cmpgt_epi32(
        _mm256_set1_epi32(n as i32),
        _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7),
    )
}

/// Mask of the first `n ≤ 4` `f64` lanes.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn mask64(n: usize) -> __m256i {
    _mm256_cmpgt_epi64(_mm256_set1_epi64x(n as i64), _mm256_setr_epi64x(0, 1, 2, 3))
}

/// Loads `n` values (all lanes when `n ≥ LANES`), reading nothing past `p + n`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn load_n<V: Simd>(p: *const V::E, n: usize) -> V {
    if n >= V::LANES {
        V::load(p)
    } else {
        V::load_part(p, n)
    }
}

/// Stores `min(n, LANES)` lanes, writing nothing past `p + n`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn store_n<V: Simd>(p: *mut V::E, n: usize, v: V) {
    if n >= V::LANES {
        V::store(p, v)
    } else {
        V::store_part(p, n, v)
    }
}

/// Dimensions of one Elman encoder call.
#[derive(Clone, Copy, Debug)]
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

/// `n` rounded up to whole registers of `V`.
fn padded<V: Simd>(n: usize) -> usize {
    n.div_ceil(V::LANES) * V::LANES
}

/// Scratch length [`elman_forward`] needs: the packed `[Wx; Wh; b]`.
pub(crate) fn forward_scratch_len<V: Simd>(d: ElmanDims) -> usize {
    (d.features + d.hidden + 1) * padded::<V>(d.hidden)
}

/// Scratch length [`elman_backward`] needs: packed `Whᵀ`, the padded gradient rows
/// `[dWh; dWx; db]`, and two padded `R`×`H` buffers for `dpre`.
pub(crate) fn backward_scratch_len<V: Simd>(d: ElmanDims) -> usize {
    (d.hidden + d.hidden + d.features + 1 + 2 * d.rows) * padded::<V>(d.hidden)
}

/// Copies the `n`×`o` row-major `w` into `dst` (`n` rows of `op ≥ o` columns), zero-padded.
fn pack_rows<E: Scalar>(dst: &mut [E], w: &[E], n: usize, o: usize, op: usize) {
    for (d, s) in dst[..n * op].chunks_exact_mut(op).zip(w[..n * o].chunks_exact(o)) {
        d[..o].copy_from_slice(s);
        d[o..].fill(E::zero());
    }
}

/// [`fast_tanh_f32`] on 8 lanes, operation for operation (plain multiplies and adds, no
/// contraction), so the result is bitwise the scalar function's.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn tanh8(x: __m256) -> __m256 {
    let c = _mm256_set1_ps;
    let (mul, add) = (_mm256_mul_ps, _mm256_add_ps);
    // `clamp` as f32::clamp does it: max/min return their second operand when one is NaN, so NaN
    // passes through.
    let xs = _mm256_min_ps(c(4.0), _mm256_max_ps(c(-4.0), x));
    let x2 = mul(xs, xs);
    let p = add(mul(x2, c(-2.760_768_5e-16)), c(2.000_188e-13));
    let p = add(mul(x2, p), c(-8.604_672e-11));
    let p = add(mul(x2, p), c(5.122_297e-8));
    let p = add(mul(x2, p), c(1.485_722_4e-5));
    let p = add(mul(x2, p), c(6.372_619_3e-4));
    let p = add(mul(x2, p), c(4.893_524_6e-3));
    let p = mul(xs, p);
    let q = add(mul(x2, c(1.198_258_4e-6)), c(1.185_347_1e-4));
    let q = add(mul(x2, q), c(2.268_434_6e-3));
    let q = add(mul(x2, q), c(4.893_525e-3));
    let sign = c(-0.0);
    let ax = _mm256_andnot_ps(sign, x);
    let ax = _mm256_min_ps(c(9.5), _mm256_max_ps(c(0.0), ax));
    let d = mul(_mm256_sub_ps(ax, c(6.5)), c(0.125));
    let v = add(mul(d, c(1.0 / 120.0)), c(1.0 / 24.0));
    let v = add(mul(d, v), c(1.0 / 6.0));
    let v = add(mul(d, v), c(0.5));
    let v = add(mul(d, v), c(1.0));
    let v = add(mul(d, v), c(1.0));
    let v = mul(v, c(2.253_534_8));
    let v2 = mul(v, v);
    let v4 = mul(v2, v2);
    let v8 = mul(v4, v4);
    let v16 = mul(v8, v8);
    let tail = _mm256_cmp_ps::<_CMP_GE_OQ>(ax, c(4.0));
    let num = _mm256_blendv_ps(p, c(2.0), tail);
    let den = _mm256_blendv_ps(q, add(c(1.0), v16), tail);
    let r = _mm256_div_ps(num, den);
    let t = _mm256_or_ps(
        _mm256_andnot_ps(sign, _mm256_sub_ps(c(1.0), r)),
        _mm256_and_ps(sign, x),
    );
    _mm256_blendv_ps(r, t, tail)
}

// ---------------------------------------------------------------------------------------------
// Forward: h_t = tanh(b + x_t Wx + h_{t−1} Wh), h_0 = 0.

/// The Elman weights `(Wx, Wh, b)`.
pub(crate) type Weights<'a, E> = (&'a [E], &'a [E], &'a [E]);

/// Elman forward pass: writes `hs` (`(W + 1)` blocks of `R`×`H`, block 0 = `h_0 = 0`).
///
/// `x` is `R` rows of `W·F` (row-major `[r][t][f]`); `wx` is `F`×`H`, `wh` `H`×`H`, `b` `H`;
/// `scratch` holds at least [`forward_scratch_len`] values (overwritten).
///
/// # Safety
/// The CPU must support AVX2 and FMA ([`available`]).
#[target_feature(enable = "avx2,fma")]
#[inline(never)]
pub(crate) unsafe fn elman_forward<V: Simd>(
    x: &[V::E],
    (wx, wh, b): Weights<'_, V::E>,
    hs: &mut [V::E],
    scratch: &mut [V::E],
    dims: ElmanDims,
) {
    let ElmanDims {
        rows,
        window,
        features: f,
        hidden: h,
    } = dims;
    let stride = window * f;
    let hp = padded::<V>(h);
    let scratch_len = forward_scratch_len::<V>(dims);
    assert!(x.len() >= rows * stride && wx.len() >= f * h && wh.len() >= h * h && b.len() >= h);
    assert!(hs.len() >= (window + 1) * rows * h && scratch.len() >= scratch_len);
    let pack = &mut scratch[..scratch_len];
    pack_rows(&mut pack[..f * hp], wx, f, h, hp);
    pack_rows(&mut pack[f * hp..(f + h) * hp], wh, h, h, hp);
    pack_rows(&mut pack[(f + h) * hp..], b, 1, h, hp);
    hs[..rows * h].fill(V::E::zero());
    let pack = pack.as_ptr();
    let step = rows * h;
    let mut p0 = 0;
    while p0 < rows {
        let pr = PANEL.min(rows - p0);
        for t in 0..window {
            let (past, future) = hs.split_at_mut((t + 1) * step);
            let prev = past[t * step + p0 * h..t * step + (p0 + pr) * h].as_ptr();
            let next = future[p0 * h..(p0 + pr) * h].as_mut_ptr();
            let xt = x[p0 * stride + t * f..].as_ptr();
            let mut r = 0;
            while r < pr {
                let rb = 2.min(pr - r);
                let mut c0 = 0;
                while c0 < hp {
                    let nc = MAX_CHUNKS.min((hp - c0) / V::LANES);
                    // SAFETY (all arms): rows r..r + rb < pr of this panel exist in x, prev and
                    // next; columns c0..c0 + nc·LANES ≤ hp exist in every packed row; stores stop
                    // at column h (see `forward_block`).
                    let args = (xt.add(r * stride), stride, f, prev.add(r * h), h, pack, hp, c0);
                    let out = next.add(r * h);
                    let with_h = t > 0;
                    match (rb, nc) {
                        (2, 4) => forward_block::<V, 4, 2>(args, out, with_h),
                        (2, 3) => forward_block::<V, 3, 2>(args, out, with_h),
                        (2, 2) => forward_block::<V, 2, 2>(args, out, with_h),
                        (2, _) => forward_block::<V, 1, 2>(args, out, with_h),
                        (_, 4) => forward_block::<V, 4, 1>(args, out, with_h),
                        (_, 3) => forward_block::<V, 3, 1>(args, out, with_h),
                        (_, 2) => forward_block::<V, 2, 1>(args, out, with_h),
                        (_, _) => forward_block::<V, 1, 1>(args, out, with_h),
                    }
                    c0 += nc * V::LANES;
                }
                r += rb;
            }
            // The activation in a separate pass over the panel's contiguous states: no padding
            // lanes, and the independent evaluations overlap well.
            V::tanh_in_place(&mut future[p0 * h..(p0 + pr) * h]);
        }
        p0 += pr;
    }
}

/// Block arguments: `(x rows, x row stride, F, h_prev rows, H, packed weights, padded width,
/// first column)`.
type FwdArgs<E> = (*const E, usize, usize, *const E, usize, *const E, usize, usize);

/// `R` rows × `C` registers (columns `c0 ..`) of one forward step's pre-activation
/// `b + x_t Wx + h_{t−1} Wh` (the last term only `with_h`), stored up to column `H`.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn forward_block<V: Simd, const C: usize, const R: usize>(
    (x, stride, f, prev, h, pack, hp, c0): FwdArgs<V::E>,
    out: *mut V::E,
    with_h: bool,
) {
    let l = V::LANES;
    let mut acc = [[V::zero(); C]; R];
    let bias = pack.add((f + h) * hp + c0);
    for c in 0..C {
        let v = V::load(bias.add(c * l));
        for q in 0..R {
            acc[q][c] = v;
        }
    }
    let mut w = [V::zero(); C];
    for k in 0..f {
        let wr = pack.add(k * hp + c0);
        for c in 0..C {
            w[c] = V::load(wr.add(c * l));
        }
        for q in 0..R {
            let a = V::bcast(x.add(q * stride + k));
            for c in 0..C {
                acc[q][c] = V::fma(a, w[c], acc[q][c]);
            }
        }
    }
    if with_h {
        for k in 0..h {
            let wr = pack.add((f + k) * hp + c0);
            for c in 0..C {
                w[c] = V::load(wr.add(c * l));
            }
            for q in 0..R {
                let a = V::bcast(prev.add(q * h + k));
                for c in 0..C {
                    acc[q][c] = V::fma(a, w[c], acc[q][c]);
                }
            }
        }
    }
    for q in 0..R {
        for c in 0..C {
            let col = c0 + c * l;
            store_n(out.add(q * h + col), h - col, acc[q][c]);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Backward (BPTT). dpre_W = dL/dh_W ⊙ (1 − h_W²); for t = W … 1: dWx += x_tᵀ dpre, db += Σ dpre,
// dx_t = dpre Wxᵀ, and for t > 1: dWh += h_{t−1}ᵀ dpre, dpre ← (dpre Whᵀ) ⊙ (1 − h_{t−1}²).

/// Elman backpropagation through time, from `de = dL/dh_W` (`R`×`H`).
///
/// Adds dL/dWx, dL/dWh, dL/db into `grad` at the offsets `(gwx, gwh, gb)`; when `dx` is given
/// (`R`×`W·F`, zeroed by the caller) adds dL/dx into it. Leaves `dpre` of the first step in `de`,
/// as the generic code does. `hs` is the forward pass's; `scratch` holds at least
/// [`backward_scratch_len`] values (overwritten).
///
/// # Safety
/// The CPU must support AVX2 and FMA ([`available`]).
#[target_feature(enable = "avx2,fma")]
#[inline(never)]
#[allow(clippy::too_many_arguments)]
pub(crate) unsafe fn elman_backward<V: Simd>(
    x: &[V::E],
    (wx, wh): (&[V::E], &[V::E]),
    hs: &[V::E],
    de: &mut [V::E],
    grad: &mut [V::E],
    (gwx, gwh, gb): (usize, usize, usize),
    mut dx: Option<&mut [V::E]>,
    scratch: &mut [V::E],
    dims: ElmanDims,
) {
    let ElmanDims {
        rows,
        window,
        features: f,
        hidden: h,
    } = dims;
    let stride = window * f;
    let hp = padded::<V>(h);
    let l = V::LANES;
    let step = rows * h;
    let zero = V::E::zero();
    assert!(x.len() >= rows * stride && wx.len() >= f * h && wh.len() >= h * h);
    assert!(hs.len() >= (window + 1) * step && de.len() >= step);
    assert!(grad.len() >= (gwx + f * h).max(gwh + h * h).max(gb + h));
    assert!(scratch.len() >= backward_scratch_len::<V>(dims));
    if let Some(dx) = dx.as_deref() {
        assert!(dx.len() >= rows * stride);
    }
    let (wht, rest) = scratch.split_at_mut(h * hp);
    let (g, rest) = rest.split_at_mut((h + f + 1) * hp);
    let (d_a, rest) = rest.split_at_mut(rows * hp);
    let d_b = &mut rest[..rows * hp];
    // Whᵀ, row k = column k of Wh.
    for (k, row) in wht.chunks_exact_mut(hp).enumerate() {
        for (j, v) in row.iter_mut().enumerate() {
            *v = if j < h { wh[j * h + k] } else { zero };
        }
    }
    // Gradient rows [dWh; dWx; db], padded.
    pack_rows(&mut g[..h * hp], &grad[gwh..gwh + h * h], h, h, hp);
    pack_rows(&mut g[h * hp..(h + f) * hp], &grad[gwx..gwx + f * h], f, h, hp);
    pack_rows(&mut g[(h + f) * hp..], &grad[gb..gb + h], 1, h, hp);
    // dpre_W = de ⊙ (1 − h_W²), padded with zeros.
    let one = V::splat(V::E::one());
    let h_last = &hs[window * step..(window + 1) * step];
    for r in 0..rows {
        for c0 in (0..hp).step_by(l) {
            let d: V = load_n(de[r * h + c0..].as_ptr(), h - c0);
            let hv: V = load_n(h_last[r * h + c0..].as_ptr(), h - c0);
            let v = V::mul(d, V::sub(one, V::mul(hv, hv)));
            V::store(d_a[r * hp + c0..].as_mut_ptr(), v);
        }
    }
    let (mut cur, mut nxt) = (d_a, d_b);
    let unit = V::E::one();
    for t in (0..window).rev() {
        let h_prev = &hs[t * step..(t + 1) * step];
        let mut p0 = 0;
        while p0 < rows {
            let pr = PANEL.min(rows - p0);
            let dp = cur[p0 * hp..(p0 + pr) * hp].as_ptr();
            // Weight gradients: row k of g gets Σ_r a_k[r] · dpre[r], with a_k = h_{t−1}[:, k]
            // (k < H, only for t > 0), x_t[:, k − H] (k < H + F), or 1 (the bias row).
            let source = |k: usize| -> (*const V::E, usize) {
                if k < h {
                    (h_prev[p0 * h + k..].as_ptr(), h)
                } else if k < h + f {
                    (x[p0 * stride + t * f + (k - h)..].as_ptr(), stride)
                } else {
                    (&unit as *const V::E, 0)
                }
            };
            let mut k = if t > 0 { 0 } else { h };
            while k < h + f + 1 {
                let kb = 2.min(h + f + 1 - k);
                let src = [source(k), source(k + kb - 1)];
                let mut c0 = 0;
                while c0 < hp {
                    let nc = MAX_CHUNKS.min((hp - c0) / l);
                    // SAFETY (all arms): sources are read at rows < pr of this panel; g rows
                    // k .. k + kb ≤ H + F + 1 and dpre rows < pr exist with columns
                    // c0 + nc·LANES ≤ hp.
                    let args = (src, dp.add(c0), hp, pr, g.as_mut_ptr().add(k * hp + c0));
                    match (kb, nc) {
                        (2, 4) => grad_block::<V, 4, 2>(args),
                        (2, 3) => grad_block::<V, 3, 2>(args),
                        (2, 2) => grad_block::<V, 2, 2>(args),
                        (2, _) => grad_block::<V, 1, 2>(args),
                        (_, 4) => grad_block::<V, 4, 1>(args),
                        (_, 3) => grad_block::<V, 3, 1>(args),
                        (_, 2) => grad_block::<V, 2, 1>(args),
                        (_, _) => grad_block::<V, 1, 1>(args),
                    }
                    c0 += nc * l;
                }
                k += kb;
            }
            if let Some(dx) = dx.as_deref_mut() {
                for r in p0..p0 + pr {
                    let dxr = &mut dx[r * stride + t * f..r * stride + (t + 1) * f];
                    for (j, &dj) in cur[r * hp..r * hp + h].iter().enumerate() {
                        for (o, v) in dxr.iter_mut().enumerate() {
                            *v = dj.mul_add(wx[o * h + j], *v);
                        }
                    }
                }
            }
            if t > 0 {
                let hq = h_prev[p0 * h..(p0 + pr) * h].as_ptr();
                let out = nxt[p0 * hp..(p0 + pr) * hp].as_mut_ptr();
                let mut r = 0;
                while r < pr {
                    let rb = 2.min(pr - r);
                    let mut c0 = 0;
                    while c0 < hp {
                        let nc = MAX_CHUNKS.min((hp - c0) / l);
                        // SAFETY (all arms): rows r..r + rb < pr of the panel exist in dpre (hp
                        // wide), h_{t−1} (h wide, read up to column h) and the output; packed Whᵀ
                        // has h rows of hp ≥ c0 + nc·LANES columns.
                        let args = (dp.add(r * hp), hq.add(r * h), h, wht.as_ptr(), hp, c0);
                        let o = out.add(r * hp);
                        match (rb, nc) {
                            (2, 4) => dh_block::<V, 4, 2>(args, o),
                            (2, 3) => dh_block::<V, 3, 2>(args, o),
                            (2, 2) => dh_block::<V, 2, 2>(args, o),
                            (2, _) => dh_block::<V, 1, 2>(args, o),
                            (_, 4) => dh_block::<V, 4, 1>(args, o),
                            (_, 3) => dh_block::<V, 3, 1>(args, o),
                            (_, 2) => dh_block::<V, 2, 1>(args, o),
                            (_, _) => dh_block::<V, 1, 1>(args, o),
                        }
                        c0 += nc * l;
                    }
                    r += rb;
                }
            }
            p0 += pr;
        }
        if t > 0 {
            std::mem::swap(&mut cur, &mut nxt);
        }
    }
    for (dr, cr) in de[..step].chunks_exact_mut(h).zip(cur.chunks_exact(hp)) {
        dr.copy_from_slice(&cr[..h]);
    }
    for (k, gr) in g.chunks_exact(hp).enumerate() {
        let dst = if k < h {
            &mut grad[gwh + k * h..gwh + (k + 1) * h]
        } else if k < h + f {
            &mut grad[gwx + (k - h) * h..gwx + (k - h + 1) * h]
        } else {
            &mut grad[gb..gb + h]
        };
        dst.copy_from_slice(&gr[..h]);
    }
}

/// Gradient block arguments: `([(source, source row stride); 2], dpre + c0, padded width, rows,
/// gradient rows + c0)`.
type GradArgs<E> = ([(*const E, usize); 2], *const E, usize, usize, *mut E);

/// `g[q][c0 ..] += Σ_{r < rows} a_q[r] · dpre[r][c0 ..]` (`C` registers wide) for the `K` gradient
/// rows `q` of the block, rows `r` in order.
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn grad_block<V: Simd, const C: usize, const K: usize>((src, d, hp, rows, g): GradArgs<V::E>) {
    let l = V::LANES;
    let mut acc = [[V::zero(); C]; K];
    for q in 0..K {
        for c in 0..C {
            acc[q][c] = V::load(g.add(q * hp + c * l));
        }
    }
    let mut dv = [V::zero(); C];
    for r in 0..rows {
        for c in 0..C {
            dv[c] = V::load(d.add(r * hp + c * l));
        }
        for q in 0..K {
            let a = V::bcast(src[q].0.add(r * src[q].1));
            for c in 0..C {
                acc[q][c] = V::fma(a, dv[c], acc[q][c]);
            }
        }
    }
    for q in 0..K {
        for c in 0..C {
            V::store(g.add(q * hp + c * l), acc[q][c]);
        }
    }
}

/// `dh` block arguments: `(dpre rows, h_{t−1} rows, H, packed Whᵀ, padded width, first column)`.
type DhArgs<E> = (*const E, *const E, usize, *const E, usize, usize);

/// `R` rows × `C` registers of `dpre_{t−1} = (dpre_t Whᵀ) ⊙ (1 − h_{t−1}²)`, stored padded
/// (columns past `H` are 0).
#[target_feature(enable = "avx2,fma")]
#[inline]
unsafe fn dh_block<V: Simd, const C: usize, const R: usize>(
    (d, hprev, h, wht, hp, c0): DhArgs<V::E>,
    out: *mut V::E,
) {
    let l = V::LANES;
    let mut acc = [[V::zero(); C]; R];
    let mut w = [V::zero(); C];
    for k in 0..h {
        let wr = wht.add(k * hp + c0);
        for c in 0..C {
            w[c] = V::load(wr.add(c * l));
        }
        for q in 0..R {
            let a = V::bcast(d.add(q * hp + k));
            for c in 0..C {
                acc[q][c] = V::fma(a, w[c], acc[q][c]);
            }
        }
    }
    let one = V::splat(V::E::one());
    for q in 0..R {
        for c in 0..C {
            let col = c0 + c * l;
            let hv: V = load_n(hprev.add(q * h + col), h - col);
            let v = V::mul(acc[q][c], V::sub(one, V::mul(hv, hv)));
            V::store(out.add(q * hp + col), v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::encoder::{fill_rows, tanh_in_place};
    use crate::policy::scalar::{col_sum_acc, matmul_acc, matmul_at_b_acc, transpose_into, zeroed};
    use rand::{RngExt, SeedableRng};

    #[test]
    fn tanh8_is_fast_tanh_bit_for_bit() {
        if !available() {
            return;
        }
        let mut xs: Vec<f32> = (-24_000..=24_000).map(|i| i as f32 * 5e-4).collect();
        xs.extend([
            0.0,
            -0.0,
            4.0,
            -4.0,
            9.5,
            -9.5,
            1e30,
            -1e30,
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            f32::MIN_POSITIVE,
            3.999_999_8,
            4.000_000_5,
        ]);
        while xs.len() % 8 != 0 {
            xs.push(0.5);
        }
        for chunk in xs.chunks_exact(8) {
            let mut out = [0.0f32; 8];
            // SAFETY: AVX2 and FMA are available (checked above); both pointers cover 8 values.
            unsafe { _mm256_storeu_ps(out.as_mut_ptr(), tanh8(_mm256_loadu_ps(chunk.as_ptr()))) };
            for (&x, &y) in chunk.iter().zip(&out) {
                assert_eq!(y.to_bits(), fast_tanh_f32(x).to_bits(), "tanh8({x})");
            }
        }
    }

    struct Case<E> {
        dims: ElmanDims,
        x: Vec<E>,
        wx: Vec<E>,
        wh: Vec<E>,
        b: Vec<E>,
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
        }
    }

    /// The generic code's forward (`encoder::elman_forward` with FMA) on plain slices.
    fn reference_forward<E: Scalar>(c: &Case<E>) -> Vec<E> {
        let ElmanDims {
            rows,
            window,
            features: f,
            hidden: h,
        } = c.dims;
        let stride = window * f;
        let mut hs = vec![E::zero(); (window + 1) * rows * h];
        for t in 0..window {
            let (past, future) = hs.split_at_mut((t + 1) * rows * h);
            let h_prev = &past[t * rows * h..];
            let h_next = &mut future[..rows * h];
            fill_rows(h_next, &c.b, rows, h);
            matmul_acc::<E, true>(&c.x[t * f..], stride, &c.wx, h_next, rows, f, h);
            if t > 0 {
                matmul_acc::<E, true>(h_prev, h, &c.wh, h_next, rows, h, h);
            }
            tanh_in_place(h_next);
        }
        hs
    }

    /// The generic code's BPTT (`encoder::elman_backward` with FMA): (grad [wx | wh | b], dx, de).
    fn reference_backward<E: Scalar>(c: &Case<E>, hs: &[E], de: &[E], g0: &[E]) -> [Vec<E>; 3] {
        let ElmanDims {
            rows,
            window,
            features: f,
            hidden: h,
        } = c.dims;
        let stride = window * f;
        let (wx, wh, b) = (0, f * h, f * h + h * h);
        let mut grad = g0.to_vec();
        let mut dh = de.to_vec();
        let mut next = Vec::new();
        let (mut wh_t, mut wx_t) = (Vec::new(), Vec::new());
        transpose_into(&c.wh, h, h, &mut wh_t);
        transpose_into(&c.wx, f, h, &mut wx_t);
        let mut dx = vec![E::zero(); rows * stride];
        for t in (0..window).rev() {
            let h_t = &hs[(t + 1) * rows * h..(t + 2) * rows * h];
            for (d, &hv) in dh.iter_mut().zip(h_t) {
                *d *= E::one() - hv * hv;
            }
            matmul_at_b_acc::<E, true>(&c.x[t * f..], stride, &dh, &mut grad[wx..wx + f * h], rows, f, h);
            col_sum_acc(&dh, &mut grad[b..b + h], rows, h);
            for r in 0..rows {
                let dxr = &mut dx[r * stride + t * f..r * stride + (t + 1) * f];
                for (j, &dj) in dh[r * h..(r + 1) * h].iter().enumerate() {
                    for (o, &w) in dxr.iter_mut().zip(&wx_t[j * f..(j + 1) * f]) {
                        *o = dj.mul_add(w, *o);
                    }
                }
            }
            if t > 0 {
                let h_prev = &hs[t * rows * h..(t + 1) * rows * h];
                matmul_at_b_acc::<E, true>(h_prev, h, &dh, &mut grad[wh..wh + h * h], rows, h, h);
                zeroed(&mut next, rows * h);
                matmul_acc::<E, true>(&dh, h, &wh_t, &mut next, rows, h, h);
                std::mem::swap(&mut dh, &mut next);
            }
        }
        [grad, dx, dh]
    }

    fn check_against_reference<V: Simd>() {
        let bits = |v: &[V::E]| v.iter().map(|x| x.value_f64().to_bits()).collect::<Vec<_>>();
        let mut seed = 0;
        for &(rows, window, f, h) in &[
            (1, 1, 1, 1),
            (3, 4, 2, 5),
            (2, 3, 3, 8),
            (5, 2, 1, 9),
            (7, 5, 3, 25),
            (PANEL + 3, 3, 3, 25),
            (4, 3, 2, 33),
            (3, 2, 4, 40),
            (2, 2, 2, 57),
        ] {
            seed += 1;
            let what = format!("{}: {rows}x{window}x{f}x{h}", std::any::type_name::<V::E>());
            let c = case::<V::E>(rows, window, f, h, seed);
            let want = reference_forward(&c);
            let mut hs = vec![V::E::nan(); want.len()];
            let mut scratch = vec![V::E::nan(); forward_scratch_len::<V>(c.dims)];
            // SAFETY: AVX2 and FMA are available (checked by the caller).
            unsafe { elman_forward::<V>(&c.x, (&c.wx, &c.wh, &c.b), &mut hs, &mut scratch, c.dims) };
            assert_eq!(bits(&hs), bits(&want), "forward {what}");

            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed + 100);
            let mut v = |n: usize, s: f64| {
                (0..n)
                    .map(|_| V::E::of(rng.random_range(-s..s)))
                    .collect::<Vec<_>>()
            };
            let de = v(rows * h, 1.0);
            let g0 = v(f * h + h * h + h, 0.1);
            let [want_g, want_dx, want_de] = reference_backward(&c, &hs, &de, &g0);
            let mut grad = g0.clone();
            let mut dx = vec![V::E::zero(); rows * window * f];
            let mut de_k = de.clone();
            let mut scratch = vec![V::E::nan(); backward_scratch_len::<V>(c.dims)];
            // SAFETY: AVX2 and FMA are available (checked by the caller).
            unsafe {
                elman_backward::<V>(
                    &c.x,
                    (&c.wx, &c.wh),
                    &hs,
                    &mut de_k,
                    &mut grad,
                    (0, f * h, f * h + h * h),
                    Some(&mut dx),
                    &mut scratch,
                    c.dims,
                )
            };
            assert_eq!(bits(&grad), bits(&want_g), "gradient {what}");
            assert_eq!(bits(&dx), bits(&want_dx), "dx {what}");
            assert_eq!(bits(&de_k), bits(&want_de), "dpre_1 {what}");
        }
    }

    #[test]
    fn kernels_match_the_generic_code_bit_for_bit() {
        if !available() {
            return;
        }
        check_against_reference::<__m256>();
        check_against_reference::<__m256d>();
    }
}
