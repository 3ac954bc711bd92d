//! The CNN client's products (§A.2), register-blocked and batched, with the summation order of the
//! plain loops.
//!
//! Every function here computes **exactly the bits** of the straightforward per-image loops of
//! [`client`](super::client)'s documentation: each output element is a sequence of `+= x · w`
//! (a multiply, then an add: no fused multiply-add) over the same terms in the same order. What
//! changes is only which elements are computed side by side:
//!
//! * `conv_matmul`: `R` output positions × 32 channels at once (the old loop kept one position,
//!   whose 4 accumulators formed a dependency chain through every term);
//! * `conv_weight_grad`: `KB` kernel rows × 32 channels at once, positions in order;
//! * `dense_forward_batch`: `z[i, c] = b_c + dot(W[c, :], a_i)` for blocks of 4 images × 2
//!   classes sharing the loads of `W` (the dot product keeps its 8 lane partial sums and its fixed
//!   final tree);
//! * `dense_backward_batch`: `dW[c, f] += g[i, c] · a_i[f]` over the images in order, all classes
//!   of a chunk of features at once, one pass over `dW`; `da_i[f] = Σ_c g[i, c] · W[c, f]` from 0
//!   with the classes in order, then the ReLU mask `[a_i[f] > 0]`.
//!
//! The tests in `client` compare the batched passes with the per-image reference bit for bit.
// Register blocks are arrays indexed in fully unrolled loops.
#![allow(clippy::needless_range_loop)]

use crate::policy::lanes::Lanes;
use crate::policy::Scalar;

/// Output channels whose running sums a block keeps (the paper's CNN has 32).
pub(crate) const CONV_BLOCK: usize = 32;

/// `act[r, :] += Σ_k p[r, k] K[k, :]` for `rows` output positions (`p` rows×`kk`, `K` kk×`c`),
/// `R` positions × [`CONV_BLOCK`] channels per register block; each sum adds its terms in the
/// order `k = 0, 1, …`. For `f32` the blocks run on the vectors `V` (16 lanes, `acc + x·w` as a
/// multiply and an add, as the scalar code).
///
/// # Safety
/// `V`'s instruction set must be available.
#[inline(always)]
pub(crate) unsafe fn conv_matmul<T: Scalar, V: Lanes<E = f32>, const R: usize>(
    p: &[T],
    kk: usize,
    k: &[T],
    act: &mut [T],
    rows: usize,
    c: usize,
) {
    if c.is_multiple_of(CONV_BLOCK) {
        if let (Some(p), Some(k), Some(act)) =
            (T::as_f32_slice(p), T::as_f32_slice(k), T::as_f32_slice_mut(act))
        {
            assert!(p.len() >= rows * kk && k.len() >= kk * c && act.len() >= rows * c);
            let mut r = 0;
            while r + R <= rows {
                conv_rows_lanes::<V, R>(p, kk, k, act, r, c);
                r += R;
            }
            while r < rows {
                conv_rows_lanes::<V, 1>(p, kk, k, act, r, c);
                r += 1;
            }
            return;
        }
    }
    let mut r = 0;
    while r + R <= rows {
        conv_rows::<T, R>(p, kk, k, act, r, c);
        r += R;
    }
    while r < rows {
        conv_rows::<T, 1>(p, kk, k, act, r, c);
        r += 1;
    }
}

/// Positions `r0 … r0 + R` of [`conv_matmul`] on the vectors `V` (`c` a multiple of 32).
#[inline(always)]
unsafe fn conv_rows_lanes<V: Lanes<E = f32>, const R: usize>(
    p: &[f32],
    kk: usize,
    k: &[f32],
    act: &mut [f32],
    r0: usize,
    c: usize,
) {
    let n = V::N;
    let nv = CONV_BLOCK / n;
    let (pp, kp, ap) = (p.as_ptr(), k.as_ptr(), act.as_mut_ptr());
    let mut j0 = 0;
    while j0 + CONV_BLOCK <= c {
        let mut acc = [[V::zero(); 2]; R];
        for q in 0..R {
            for v in 0..nv {
                acc[q][v] = V::load(ap.add((r0 + q) * c + j0 + v * n));
            }
        }
        for kx in 0..kk {
            let mut w = [V::zero(); 2];
            for v in 0..nv {
                w[v] = V::load(kp.add(kx * c + j0 + v * n));
            }
            for q in 0..R {
                let x = V::splat(*pp.add((r0 + q) * kk + kx));
                for v in 0..nv {
                    acc[q][v] = V::add(acc[q][v], V::mul(x, w[v]));
                }
            }
        }
        for q in 0..R {
            for v in 0..nv {
                V::store(ap.add((r0 + q) * c + j0 + v * n), acc[q][v]);
            }
        }
        j0 += CONV_BLOCK;
    }
}

/// Positions `r0 … r0 + R` of [`conv_matmul`].
#[inline(always)]
fn conv_rows<T: Scalar, const R: usize>(p: &[T], kk: usize, k: &[T], act: &mut [T], r0: usize, c: usize) {
    let mut j0 = 0;
    while j0 + CONV_BLOCK <= c {
        let mut acc = [[T::zero(); CONV_BLOCK]; R];
        for q in 0..R {
            acc[q].copy_from_slice(&act[(r0 + q) * c + j0..(r0 + q) * c + j0 + CONV_BLOCK]);
        }
        let prows: [&[T]; R] = std::array::from_fn(|q| &p[(r0 + q) * kk..(r0 + q + 1) * kk]);
        for (kx, wrow) in k.chunks_exact(c).take(kk).enumerate() {
            let w = &wrow[j0..j0 + CONV_BLOCK];
            for (a, pr) in acc.iter_mut().zip(&prows) {
                let x = pr[kx];
                for (av, &wv) in a.iter_mut().zip(w) {
                    *av += x * wv;
                }
            }
        }
        for q in 0..R {
            act[(r0 + q) * c + j0..(r0 + q) * c + j0 + CONV_BLOCK].copy_from_slice(&acc[q]);
        }
        j0 += CONV_BLOCK;
    }
    for q in 0..R {
        let r = r0 + q;
        for j in j0..c {
            let mut a = act[r * c + j];
            for kx in 0..kk {
                a += p[r * kk + kx] * k[kx * c + j];
            }
            act[r * c + j] = a;
        }
    }
}

/// `∂K[k, :] += Σ_r p[r, k] ∂u[r, :]` (`∂K = Pᵀ ∂u`) for `KB` kernel rows × [`CONV_BLOCK`]
/// channels per register block; each sum adds its terms in the order `r = 0, 1, …`. For `f32` the
/// blocks run on the vectors `V`, as in [`conv_matmul`].
///
/// # Safety
/// `V`'s instruction set must be available.
#[inline(always)]
pub(crate) unsafe fn conv_weight_grad<T: Scalar, V: Lanes<E = f32>, const KB: usize>(
    p: &[T],
    kk: usize,
    du: &[T],
    dk: &mut [T],
    rows: usize,
    c: usize,
) {
    if c.is_multiple_of(CONV_BLOCK) {
        if let (Some(p), Some(du), Some(dk)) =
            (T::as_f32_slice(p), T::as_f32_slice(du), T::as_f32_slice_mut(dk))
        {
            assert!(p.len() >= rows * kk && du.len() >= rows * c && dk.len() >= kk * c);
            let mut k0 = 0;
            while k0 + KB <= kk {
                weight_grad_lanes::<V, KB>(p, kk, du, dk, (rows, c), k0);
                k0 += KB;
            }
            while k0 < kk {
                weight_grad_lanes::<V, 1>(p, kk, du, dk, (rows, c), k0);
                k0 += 1;
            }
            return;
        }
    }
    let mut k0 = 0;
    while k0 + KB <= kk {
        weight_grad_rows::<T, KB>(p, kk, du, dk, (rows, c), k0);
        k0 += KB;
    }
    while k0 < kk {
        weight_grad_rows::<T, 1>(p, kk, du, dk, (rows, c), k0);
        k0 += 1;
    }
}

/// Kernel rows `k0 … k0 + KB` of [`conv_weight_grad`] on the vectors `V` (`c` a multiple of 32).
#[inline(always)]
unsafe fn weight_grad_lanes<V: Lanes<E = f32>, const KB: usize>(
    p: &[f32],
    kk: usize,
    du: &[f32],
    dk: &mut [f32],
    (rows, c): (usize, usize),
    k0: usize,
) {
    let n = V::N;
    let nv = CONV_BLOCK / n;
    let (pp, dp, gp) = (p.as_ptr(), du.as_ptr(), dk.as_mut_ptr());
    let mut j0 = 0;
    while j0 + CONV_BLOCK <= c {
        let mut acc = [[V::zero(); 2]; KB];
        for q in 0..KB {
            for v in 0..nv {
                acc[q][v] = V::load(gp.add((k0 + q) * c + j0 + v * n));
            }
        }
        for r in 0..rows {
            let mut d = [V::zero(); 2];
            for v in 0..nv {
                d[v] = V::load(dp.add(r * c + j0 + v * n));
            }
            for q in 0..KB {
                let x = V::splat(*pp.add(r * kk + k0 + q));
                for v in 0..nv {
                    acc[q][v] = V::add(acc[q][v], V::mul(x, d[v]));
                }
            }
        }
        for q in 0..KB {
            for v in 0..nv {
                V::store(gp.add((k0 + q) * c + j0 + v * n), acc[q][v]);
            }
        }
        j0 += CONV_BLOCK;
    }
}

/// Kernel rows `k0 … k0 + KB` of [`conv_weight_grad`].
#[inline(always)]
fn weight_grad_rows<T: Scalar, const KB: usize>(
    p: &[T],
    kk: usize,
    du: &[T],
    dk: &mut [T],
    (rows, c): (usize, usize),
    k0: usize,
) {
    let mut j0 = 0;
    while j0 + CONV_BLOCK <= c {
        let mut acc = [[T::zero(); CONV_BLOCK]; KB];
        for q in 0..KB {
            acc[q].copy_from_slice(&dk[(k0 + q) * c + j0..(k0 + q) * c + j0 + CONV_BLOCK]);
        }
        for (prow, drow) in p.chunks_exact(kk).zip(du.chunks_exact(c)).take(rows) {
            let d = &drow[j0..j0 + CONV_BLOCK];
            let xs = &prow[k0..k0 + KB];
            for (a, &x) in acc.iter_mut().zip(xs) {
                for (av, &dv) in a.iter_mut().zip(d) {
                    *av += x * dv;
                }
            }
        }
        for q in 0..KB {
            dk[(k0 + q) * c + j0..(k0 + q) * c + j0 + CONV_BLOCK].copy_from_slice(&acc[q]);
        }
        j0 += CONV_BLOCK;
    }
    for q in 0..KB {
        let kx = k0 + q;
        for j in j0..c {
            let mut a = dk[kx * c + j];
            for r in 0..rows {
                a += p[r * kk + kx] * du[r * c + j];
            }
            dk[kx * c + j] = a;
        }
    }
}

/// Largest window (`k · k · c_in` values) of the direct kernels, whose offset table lives on the
/// stack; larger windows take the im2col path.
pub(crate) const DIRECT_MAX_KK: usize = 64;

/// Where the windows of a valid, stride-1 convolution lie in a channels-last image, for the
/// direct kernels ([`conv_forward_direct`], [`conv_weight_grad_direct`]): the im2col value
/// `p[r, k]` is `img[base(r) + off(k)]`, so no patch matrix is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Window {
    /// Image width (pixels per image row).
    pub width: usize,
    /// Input channels.
    pub cin: usize,
    /// Kernel side `k`.
    pub ks: usize,
    /// Output height and width.
    pub oh: usize,
    /// Output width.
    pub ow: usize,
}

impl Window {
    /// `k · k · c_in`.
    #[inline(always)]
    fn kk(&self) -> usize {
        self.ks * self.ks * self.cin
    }

    /// Whether the direct kernels take this window and `c` output channels.
    #[inline(always)]
    pub(crate) fn direct(&self, c: usize) -> bool {
        c.is_multiple_of(CONV_BLOCK) && self.kk() <= DIRECT_MAX_KK && self.ow + self.ks <= self.width + 1
    }

    /// The values of one image: `(oh + k − 1) · width · c_in`.
    #[inline(always)]
    fn image_len(&self) -> usize {
        (self.oh + self.ks - 1) * self.width * self.cin
    }

    /// `off(k)` for the window row `k = (dy · ks + dx) · c_in + ci`: `(dy · width + dx) · c_in + ci`.
    #[inline(always)]
    fn offsets(&self) -> [usize; DIRECT_MAX_KK] {
        let mut off = [0; DIRECT_MAX_KK];
        for dy in 0..self.ks {
            for dx in 0..self.ks {
                for ci in 0..self.cin {
                    off[(dy * self.ks + dx) * self.cin + ci] = (dy * self.width + dx) * self.cin + ci;
                }
            }
        }
        off
    }

    /// `base(r)` of the output position `r = oy · ow + ox`: `(oy · width + ox) · c_in`.
    #[inline(always)]
    fn base(&self, r: usize) -> usize {
        (r / self.ow * self.width + r % self.ow) * self.cin
    }
}

/// Convolution + ReLU of one image without a patch matrix: `act[r, :] = relu(b_K + Σ_k p[r, k]
/// K[k, :])` with `p[r, k] = img[base(r) + off(k)]`, each sum started at the bias and adding its
/// terms in the order `k = 0, 1, …` (a multiply, then an add), `R` positions × [`CONV_BLOCK`]
/// channels per register block: bitwise the bias copy, [`conv_matmul`] and the ReLU pass
/// (`if v < 0 { 0 }`) over its patches. `act` is written, not read.
///
/// # Safety
/// `V`'s instruction set must be available. (The lengths and `win.direct(c)` are asserted.)
#[inline(always)]
pub(crate) unsafe fn conv_forward_direct<V: Lanes<E = f32>, const R: usize>(
    img: &[f32],
    win: Window,
    (k, kb): (&[f32], &[f32]),
    act: &mut [f32],
    c: usize,
) {
    let (kk, rows) = (win.kk(), win.oh * win.ow);
    assert!(win.direct(c) && img.len() >= win.image_len());
    assert!(k.len() >= kk * c && kb.len() >= c && act.len() >= rows * c);
    let off = win.offsets();
    let mut r = 0;
    while r + R <= rows {
        forward_direct_rows::<V, R>(img, win, &off, (k, kb), act, (r, c));
        r += R;
    }
    while r < rows {
        forward_direct_rows::<V, 1>(img, win, &off, (k, kb), act, (r, c));
        r += 1;
    }
}

/// Positions `r0 … r0 + R` of [`conv_forward_direct`] (lengths checked by the caller).
#[inline(always)]
unsafe fn forward_direct_rows<V: Lanes<E = f32>, const R: usize>(
    img: &[f32],
    win: Window,
    off: &[usize; DIRECT_MAX_KK],
    (k, kb): (&[f32], &[f32]),
    act: &mut [f32],
    (r0, c): (usize, usize),
) {
    let (n, nv, kk) = (V::N, CONV_BLOCK / V::N, win.kk());
    let (ip, kp, bp, ap, op) = (
        img.as_ptr(),
        k.as_ptr(),
        kb.as_ptr(),
        act.as_mut_ptr(),
        off.as_ptr(),
    );
    let bases: [*const f32; R] = std::array::from_fn(|q| ip.add(win.base(r0 + q)));
    let mut j0 = 0;
    while j0 + CONV_BLOCK <= c {
        let mut acc = [[V::zero(); 2]; R];
        for q in 0..R {
            for v in 0..nv {
                acc[q][v] = V::load(bp.add(j0 + v * n));
            }
        }
        for kx in 0..kk {
            let o = *op.add(kx);
            let mut w = [V::zero(); 2];
            for v in 0..nv {
                w[v] = V::load(kp.add(kx * c + j0 + v * n));
            }
            for q in 0..R {
                let x = V::splat(*bases[q].add(o));
                for v in 0..nv {
                    acc[q][v] = V::add(acc[q][v], V::mul(x, w[v]));
                }
            }
        }
        for q in 0..R {
            for v in 0..nv {
                V::store(ap.add((r0 + q) * c + j0 + v * n), V::relu(acc[q][v]));
            }
        }
        j0 += CONV_BLOCK;
    }
}

/// `∂K[k, :] += Σ_r p[r, k] ∂u[r, :]` of one image without a patch matrix (`p[r, k] =
/// img[base(r) + off(k)]`), `KB` kernel rows × [`CONV_BLOCK`] channels per register block, each
/// sum adding its terms in the order `r = 0, 1, …`: bitwise [`conv_weight_grad`] over the patches.
///
/// # Safety
/// `V`'s instruction set must be available. (The lengths and `win.direct(c)` are asserted.)
#[inline(always)]
pub(crate) unsafe fn conv_weight_grad_direct<V: Lanes<E = f32>, const KB: usize>(
    img: &[f32],
    win: Window,
    du: &[f32],
    dk: &mut [f32],
    c: usize,
) {
    let (kk, rows) = (win.kk(), win.oh * win.ow);
    assert!(win.direct(c) && img.len() >= win.image_len());
    assert!(du.len() >= rows * c && dk.len() >= kk * c);
    let off = win.offsets();
    let mut k0 = 0;
    while k0 + KB <= kk {
        weight_grad_direct_rows::<V, KB>(img, win, &off, du, dk, (k0, c));
        k0 += KB;
    }
    while k0 < kk {
        weight_grad_direct_rows::<V, 1>(img, win, &off, du, dk, (k0, c));
        k0 += 1;
    }
}

/// Kernel rows `k0 … k0 + KB` of [`conv_weight_grad_direct`] (lengths checked by the caller).
#[inline(always)]
unsafe fn weight_grad_direct_rows<V: Lanes<E = f32>, const KB: usize>(
    img: &[f32],
    win: Window,
    off: &[usize; DIRECT_MAX_KK],
    du: &[f32],
    dk: &mut [f32],
    (k0, c): (usize, usize),
) {
    let (n, nv) = (V::N, CONV_BLOCK / V::N);
    let (dp, gp) = (du.as_ptr(), dk.as_mut_ptr());
    let taps: [*const f32; KB] = std::array::from_fn(|q| img.as_ptr().add(off[k0 + q]));
    let mut j0 = 0;
    while j0 + CONV_BLOCK <= c {
        let mut acc = [[V::zero(); 2]; KB];
        for q in 0..KB {
            for v in 0..nv {
                acc[q][v] = V::load(gp.add((k0 + q) * c + j0 + v * n));
            }
        }
        let mut d_row = dp.add(j0);
        for oy in 0..win.oh {
            let mut base = oy * win.width * win.cin;
            for _ in 0..win.ow {
                let mut d = [V::zero(); 2];
                for v in 0..nv {
                    d[v] = V::load(d_row.add(v * n));
                }
                for q in 0..KB {
                    let x = V::splat(*taps[q].add(base));
                    for v in 0..nv {
                        acc[q][v] = V::add(acc[q][v], V::mul(x, d[v]));
                    }
                }
                base += win.cin;
                d_row = d_row.add(c);
            }
        }
        for q in 0..KB {
            for v in 0..nv {
                V::store(gp.add((k0 + q) * c + j0 + v * n), acc[q][v]);
            }
        }
        j0 += CONV_BLOCK;
    }
}

/// `∂b_K[:] += Σ_r ∂u[r, :]` for `rows` positions of `c` channels, positions in order (for `f32`
/// on the vectors `V`, 32 channels per block kept in registers).
///
/// # Safety
/// `V`'s instruction set must be available.
#[inline(always)]
pub(crate) unsafe fn bias_grad<T: Scalar, V: Lanes<E = f32>>(du: &[T], dkb: &mut [T], rows: usize, c: usize) {
    if c.is_multiple_of(CONV_BLOCK) {
        if let (Some(du), Some(dkb)) = (T::as_f32_slice(du), T::as_f32_slice_mut(dkb)) {
            assert!(du.len() >= rows * c && dkb.len() >= c);
            let (n, nv) = (V::N, CONV_BLOCK / V::N);
            let (dp, gp) = (du.as_ptr(), dkb.as_mut_ptr());
            for j0 in (0..c).step_by(CONV_BLOCK) {
                let mut acc = [V::zero(); 2];
                for v in 0..nv {
                    acc[v] = V::load(gp.add(j0 + v * n));
                }
                for r in 0..rows {
                    for v in 0..nv {
                        acc[v] = V::add(acc[v], V::load(dp.add(r * c + j0 + v * n)));
                    }
                }
                for v in 0..nv {
                    V::store(gp.add(j0 + v * n), acc[v]);
                }
            }
            return;
        }
    }
    for d in du.chunks_exact(c).take(rows) {
        for (g, &v) in dkb.iter_mut().zip(d) {
            *g += v;
        }
    }
}

/// Lanes of the dot product's partial sums.
const DOT_LANES: usize = 8;

/// `Σ_j a_j b_j` with 8 partial sums over consecutive chunks of 8, the tail summed separately,
/// combined as `((s0 + s4) + (s1 + s5)) + ((s2 + s6) + (s3 + s7)) + tail`.
#[inline(always)]
pub(crate) fn dot<T: Scalar>(a: &[T], b: &[T]) -> T {
    let mut out = [T::zero()];
    dots::<T, 1>(a, [b], &mut out);
    out[0]
}

/// The end of [`dot`]: its 8 partial sums `s` combined by the fixed tree, plus the tail
/// `Σ w_tail[j] · x_tail[j]` summed in order.
#[inline(always)]
fn dot_total<T: Scalar>(s: &[T; DOT_LANES], w_tail: &[T], x_tail: &[T]) -> T {
    let mut tail = T::zero();
    for (x, y) in w_tail.iter().zip(x_tail) {
        tail += *x * *y;
    }
    ((s[0] + s[4]) + (s[1] + s[5])) + ((s[2] + s[6]) + (s[3] + s[7])) + tail
}

/// [`dot`] of one `w` with `I` vectors `xs` at once (the loads of `w` shared).
#[inline(always)]
fn dots<T: Scalar, const I: usize>(w: &[T], xs: [&[T]; I], out: &mut [T]) {
    let f = w.len();
    let whole = f / DOT_LANES * DOT_LANES;
    let mut acc = [[T::zero(); DOT_LANES]; I];
    let mut c0 = 0;
    let xs_whole: [&[T]; I] = std::array::from_fn(|i| &xs[i][..whole]);
    while c0 < whole {
        let wv = &w[c0..c0 + DOT_LANES];
        for (a, x) in acc.iter_mut().zip(&xs_whole) {
            for ((av, &wl), &xl) in a.iter_mut().zip(wv).zip(&x[c0..c0 + DOT_LANES]) {
                *av += wl * xl;
            }
        }
        c0 += DOT_LANES;
    }
    for i in 0..I {
        out[i] = dot_total(&acc[i], &w[whole..], &xs[i][whole..f]);
    }
}

/// `z[i, c] = b_c + dot(W[c, :], a_i)` for the `n` feature rows of `feats` (`n`×`f`), `W`
/// class-major (`classes`×`f`), in blocks of 4 images (for `f32` on x86-64 with AVX2: 4 images ×
/// 2 classes, each dot's 8 partial sums in one 256-bit register; with AVX-512F: 4 images ×
/// up to 10 classes, two dots per 512-bit register).
#[inline(always)]
pub(crate) fn dense_forward_batch<T: Scalar>(w: &[T], b: &[T], feats: &[T], f: usize, z: &mut [T]) {
    let classes = b.len();
    let n = feats.len() / f;
    #[cfg(target_arch = "x86_64")]
    if std::is_x86_feature_detected!("avx2") {
        if let (Some(w32), Some(a32), Some(b32), Some(z32)) = (
            T::as_f32_slice(w),
            T::as_f32_slice(feats),
            T::as_f32_slice(b),
            T::as_f32_slice_mut(z),
        ) {
            assert!(w32.len() >= classes * f && a32.len() >= n * f && z32.len() >= n * classes);
            if std::is_x86_feature_detected!("avx512f") {
                // SAFETY: AVX-512F and AVX2 are available (checked above); lengths asserted.
                unsafe { dense_forward_avx512(w32, b32, a32, f, z32) };
            } else {
                // SAFETY: AVX2 is available (checked above); the lengths are asserted.
                unsafe { dense_forward_avx2(w32, b32, a32, f, z32) };
            }
            return;
        }
    }
    let mut i = 0;
    let mut out4 = [T::zero(); 4];
    while i + 4 <= n {
        let xs = [0, 1, 2, 3].map(|q| &feats[(i + q) * f..(i + q + 1) * f]);
        for c in 0..classes {
            dots::<T, 4>(&w[c * f..(c + 1) * f], xs, &mut out4);
            for q in 0..4 {
                z[(i + q) * classes + c] = b[c] + out4[q];
            }
        }
        i += 4;
    }
    while i < n {
        let x = &feats[i * f..(i + 1) * f];
        for c in 0..classes {
            z[i * classes + c] = b[c] + dot(&w[c * f..(c + 1) * f], x);
        }
        i += 1;
    }
}

/// [`dense_forward_batch`] for `f32` with AVX2: blocks of 4 images × 2 classes, 8 accumulators
/// of 8 lanes; each accumulator is one dot's 8 partial sums, so every dot is bitwise [`dot`].
///
/// # Safety
/// AVX2 must be available; `w` holds `classes·f`, `feats` `n·f`, `z` `n·classes` values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dense_forward_avx2(w: &[f32], b: &[f32], feats: &[f32], f: usize, z: &mut [f32]) {
    use std::arch::x86_64::*;
    let classes = b.len();
    let n = feats.len() / f;
    let whole = f / DOT_LANES * DOT_LANES;
    let (wp, ap) = (w.as_ptr(), feats.as_ptr());
    let finish = |acc: __m256, wr: &[f32], xr: &[f32]| -> f32 {
        let mut s = [0.0f32; DOT_LANES];
        _mm256_storeu_ps(s.as_mut_ptr(), acc);
        dot_total(&s, &wr[whole..], &xr[whole..])
    };
    for ((i, ib), (c, cb)) in image_class_blocks(n, classes, 2) {
        let mut acc = [[_mm256_setzero_ps(); 4]; 2];
        let mut c0 = 0;
        while c0 < whole {
            let wv = [
                _mm256_loadu_ps(wp.add(c * f + c0)),
                _mm256_loadu_ps(wp.add((c + cb - 1) * f + c0)),
            ];
            for q in 0..ib {
                let xv = _mm256_loadu_ps(ap.add((i + q) * f + c0));
                for k in 0..2 {
                    acc[k][q] = _mm256_add_ps(acc[k][q], _mm256_mul_ps(wv[k], xv));
                }
            }
            c0 += DOT_LANES;
        }
        for k in 0..cb {
            for q in 0..ib {
                let (wr, xr) = (
                    &w[(c + k) * f..(c + k + 1) * f],
                    &feats[(i + q) * f..(i + q + 1) * f],
                );
                z[(i + q) * classes + c + k] = b[c + k] + finish(acc[k][q], wr, xr);
            }
        }
    }
}

/// [`dense_forward_batch`] for `f32` with AVX-512F: blocks of 4 images × up to 10 classes in up
/// to 20 accumulators of 16 lanes, each holding the 8 partial sums of two dots (classes `c` and
/// `c + 1` of one image, one per 256-bit half), so one pass over the features serves the paper's
/// 10 classes. Every lane adds the terms of [`dot`]'s lane in the same order, so every dot is
/// bitwise [`dot`], as in [`dense_forward_avx2`], with half the multiplies and adds issued.
///
/// # Safety
/// AVX-512F and AVX2 must be available; `w` holds `classes·f`, `feats` `n·f`, `z` `n·classes`
/// values.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2")]
unsafe fn dense_forward_avx512(w: &[f32], b: &[f32], feats: &[f32], f: usize, z: &mut [f32]) {
    let classes = b.len();
    let n = feats.len() / f;
    for (images, cls) in image_class_blocks(n, classes, 10) {
        match cls.1.div_ceil(2) {
            5 => dense_block_avx512::<5>(w, b, feats, f, z, images, cls),
            4 => dense_block_avx512::<4>(w, b, feats, f, z, images, cls),
            3 => dense_block_avx512::<3>(w, b, feats, f, z, images, cls),
            2 => dense_block_avx512::<2>(w, b, feats, f, z, images, cls),
            _ => dense_block_avx512::<1>(w, b, feats, f, z, images, cls),
        }
    }
}

/// The register blocks of the dense forward kernels: `((i, ib), (c, cb))` for images `i … i + ib`
/// in blocks of 4 (the last one shorter) and, within each, classes `c … c + cb` in blocks of
/// `per_block`, images outside, classes inside.
#[cfg(target_arch = "x86_64")]
fn image_class_blocks(
    n: usize,
    classes: usize,
    per_block: usize,
) -> impl Iterator<Item = ((usize, usize), (usize, usize))> {
    (0..n).step_by(4).flat_map(move |i| {
        (0..classes)
            .step_by(per_block)
            .map(move |c| ((i, 4.min(n - i)), (c, per_block.min(classes - c))))
    })
}

/// Images `i … i + ib` (at most 4) × classes `c … c + cb` (at most `2P`) of
/// [`dense_forward_avx512`], `P` class pairs per image.
///
/// # Safety
/// As [`dense_forward_avx512`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2")]
#[allow(clippy::too_many_arguments)]
unsafe fn dense_block_avx512<const P: usize>(
    w: &[f32],
    b: &[f32],
    feats: &[f32],
    f: usize,
    z: &mut [f32],
    (i, ib): (usize, usize),
    (c, cb): (usize, usize),
) {
    use std::arch::x86_64::*;
    let classes = b.len();
    let whole = f / DOT_LANES * DOT_LANES;
    let (wp, ap) = (w.as_ptr(), feats.as_ptr());
    // Two 8-lane loads side by side in one register (bit moves only: no arithmetic).
    let pair = |lo: *const f32, hi: *const f32| -> __m512 {
        let lo = _mm256_castps_pd(_mm256_loadu_ps(lo));
        let hi = _mm256_castps_pd(_mm256_loadu_ps(hi));
        _mm512_castpd_ps(_mm512_insertf64x4::<1>(_mm512_castpd256_pd512(lo), hi))
    };
    // Classes past the end repeat the last one (computed, not written).
    let cls: [usize; 10] = std::array::from_fn(|k| c + k.min(cb - 1));
    // Images past the end repeat the last one (computed, not written).
    let img = [0, 1, 2, 3].map(|q| i + q.min(ib - 1));
    let mut acc = [[_mm512_setzero_ps(); 4]; P];
    let mut c0 = 0;
    while c0 < whole {
        let wv: [__m512; P] =
            std::array::from_fn(|k| pair(wp.add(cls[2 * k] * f + c0), wp.add(cls[2 * k + 1] * f + c0)));
        for q in 0..4 {
            let x = _mm256_castps_pd(_mm256_loadu_ps(ap.add(img[q] * f + c0)));
            let xv = _mm512_castpd_ps(_mm512_broadcast_f64x4(x));
            for k in 0..P {
                acc[k][q] = _mm512_add_ps(acc[k][q], _mm512_mul_ps(wv[k], xv));
            }
        }
        c0 += DOT_LANES;
    }
    for k in 0..P {
        for q in 0..ib {
            let mut s = [0.0f32; 2 * DOT_LANES];
            _mm512_storeu_ps(s.as_mut_ptr(), acc[k][q]);
            for h in 0..2 {
                let j = 2 * k + h;
                if j >= cb {
                    continue;
                }
                let (cc, ii) = (c + j, i + q);
                let part: &[f32; DOT_LANES] =
                    s[h * DOT_LANES..(h + 1) * DOT_LANES].try_into().expect("8 lanes");
                let (wr, xr) = (&w[cc * f..(cc + 1) * f], &feats[ii * f..(ii + 1) * f]);
                z[ii * classes + cc] = b[cc] + dot_total(part, &wr[whole..], &xr[whole..]);
            }
        }
    }
}

/// Features per chunk of [`dense_backward_batch`].
const CHUNK: usize = 16;
/// Classes [`dense_backward_batch`] keeps in registers (the paper's 10; more run in groups).
const CLASS_BLOCK: usize = 10;

/// The dense layer's backward pass for a batch, with the ReLU mask of the features before it:
///
/// * `db[c] += g[i, c]` and `dW[c, f] += g[i, c] · a_i[f]`, images `i` in order;
/// * `du_i[f] = Σ_c g[i, c] · W[c, f]` (from 0, classes in order), then 0 where `a_i[f] ≤ 0`,
///   written.
///
/// `feats` and `du` are `n`×`f`, `g` is `n`×`classes`, `W`/`dW` class-major. With `overwrite`,
/// `dW` is written as `0 + Σ_i …` whatever it held (bitwise what zeroing it first gives), so the
/// caller need not clear it.
///
/// # Safety
/// `V`'s instruction set must be available (used for `f32`, with up to 16 classes).
#[inline(always)]
pub(crate) unsafe fn dense_backward_batch<T: Scalar, V: Lanes<E = f32>>(
    w: &[T],
    feats: &[T],
    g: &[T],
    (dw, db): (&mut [T], &mut [T]),
    du: &mut [T],
    (f, overwrite): (usize, bool),
) {
    let classes = db.len();
    let n = feats.len() / f;
    for i in 0..n {
        for c in 0..classes {
            db[c] += g[i * classes + c];
        }
    }
    if let (Some(w32), Some(a32), Some(g32), Some(dw32), Some(du32)) = (
        T::as_f32_slice(w),
        T::as_f32_slice(feats),
        T::as_f32_slice(g),
        T::as_f32_slice_mut(dw),
        T::as_f32_slice_mut(du),
    ) {
        if classes <= 16 && f.is_multiple_of(V::N) {
            assert!(w32.len() >= classes * f && a32.len() >= n * f && g32.len() >= n * classes);
            assert!(dw32.len() >= classes * f && du32.len() >= n * f);
            // The paper's 10 classes as a constant: the loops over classes unroll and the 10
            // accumulators stay in registers (with a run-time count they lived on the stack, a
            // load and a store per multiply-add).
            if classes == CLASS_BLOCK {
                dense_backward_lanes::<V, CLASS_BLOCK>(
                    (w32, a32, g32),
                    dw32,
                    du32,
                    (n, f, classes),
                    overwrite,
                );
            } else {
                dense_backward_lanes::<V, 16>((w32, a32, g32), dw32, du32, (n, f, classes), overwrite);
            }
            return;
        }
    }
    if overwrite {
        dw[..classes * f].fill(T::zero());
    }
    let mut f0 = 0;
    while f0 < f {
        let len = CHUNK.min(f - f0);
        if len == CHUNK {
            let mut c0 = 0;
            while c0 < classes {
                let cb = CLASS_BLOCK.min(classes - c0);
                if cb == CLASS_BLOCK {
                    dw_chunk::<T, CLASS_BLOCK>(feats, g, dw, (n, f, classes), (f0, c0));
                } else {
                    for c in c0..c0 + cb {
                        dw_chunk::<T, 1>(feats, g, dw, (n, f, classes), (f0, c));
                    }
                }
                c0 += cb;
            }
            for i in 0..n {
                let mut acc = [T::zero(); CHUNK];
                for (c, &gc) in g[i * classes..(i + 1) * classes].iter().enumerate() {
                    for (av, &wl) in acc.iter_mut().zip(&w[c * f + f0..c * f + f0 + CHUNK]) {
                        *av += gc * wl;
                    }
                }
                let a = &feats[i * f + f0..i * f + f0 + CHUNK];
                let out = &mut du[i * f + f0..i * f + f0 + CHUNK];
                for l in 0..CHUNK {
                    out[l] = if a[l] <= T::zero() { T::zero() } else { acc[l] };
                }
            }
        } else {
            for c in 0..classes {
                for i in 0..n {
                    let gc = g[i * classes + c];
                    for x in f0..f0 + len {
                        dw[c * f + x] += gc * feats[i * f + x];
                    }
                }
            }
            for i in 0..n {
                for x in f0..f0 + len {
                    let mut acc = T::zero();
                    for c in 0..classes {
                        acc += g[i * classes + c] * w[c * f + x];
                    }
                    du[i * f + x] = if feats[i * f + x] <= T::zero() {
                        T::zero()
                    } else {
                        acc
                    };
                }
            }
        }
        f0 += len;
    }
}

/// The `f32` body of [`dense_backward_batch`] on the vectors `V`: per chunk of `N` features, the
/// `dW` rows of every class in registers while the images pass, then each image's `du`. `C` is
/// the number of classes when it equals `classes` (loops fully unrolled), or an upper bound.
/// With `overwrite` the sums start at `+0` instead of `dW`'s contents.
#[inline(always)]
unsafe fn dense_backward_lanes<V: Lanes<E = f32>, const C: usize>(
    (w, feats, g): (&[f32], &[f32], &[f32]),
    dw: &mut [f32],
    du: &mut [f32],
    (n, f, classes): (usize, usize, usize),
    overwrite: bool,
) {
    let nl = V::N;
    let (wp, ap, gp, dwp, dup) = (
        w.as_ptr(),
        feats.as_ptr(),
        g.as_ptr(),
        dw.as_mut_ptr(),
        du.as_mut_ptr(),
    );
    debug_assert!(classes <= C);
    let classes = if classes == C { C } else { classes };
    let zero = V::zero();
    for f0 in (0..f).step_by(nl) {
        let mut acc = [zero; C];
        if !overwrite {
            for c in 0..classes {
                acc[c] = V::load(dwp.add(c * f + f0));
            }
        }
        for i in 0..n {
            let a = V::load(ap.add(i * f + f0));
            for c in 0..classes {
                acc[c] = V::add(acc[c], V::mul(V::splat(*gp.add(i * classes + c)), a));
            }
        }
        for c in 0..classes {
            V::store(dwp.add(c * f + f0), acc[c]);
        }
        let mut wv = [zero; C];
        for c in 0..classes {
            wv[c] = V::load(wp.add(c * f + f0));
        }
        for i in 0..n {
            let mut d = zero;
            for c in 0..classes {
                d = V::add(d, V::mul(V::splat(*gp.add(i * classes + c)), wv[c]));
            }
            // ReLU mask: 0 where a ≤ 0 (NaN keeps d, as the scalar `if a <= 0`).
            let a = V::load(ap.add(i * f + f0));
            V::store(dup.add(i * f + f0), V::zero_where_nonpositive(a, d));
        }
    }
}

/// `dW[c, f0 … f0 + CHUNK] += Σ_i g[i, c] · a_i[f0 …]` for classes `c0 … c0 + CB`, images in order.
#[inline(always)]
fn dw_chunk<T: Scalar, const CB: usize>(
    feats: &[T],
    g: &[T],
    dw: &mut [T],
    (n, f, classes): (usize, usize, usize),
    (f0, c0): (usize, usize),
) {
    let mut acc = [[T::zero(); CHUNK]; CB];
    for q in 0..CB {
        acc[q].copy_from_slice(&dw[(c0 + q) * f + f0..(c0 + q) * f + f0 + CHUNK]);
    }
    for (arow, grow) in feats.chunks_exact(f).zip(g.chunks_exact(classes)).take(n) {
        let a = &arow[f0..f0 + CHUNK];
        for (accq, &gc) in acc.iter_mut().zip(&grow[c0..c0 + CB]) {
            for (av, &al) in accq.iter_mut().zip(a) {
                *av += gc * al;
            }
        }
    }
    for q in 0..CB {
        dw[(c0 + q) * f + f0..(c0 + q) * f + f0 + CHUNK].copy_from_slice(&acc[q]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// `dense_forward_batch` (the AVX-512 blocks of up to 10 classes, or AVX2's of 2, where the
    /// CPU has them) gives `b_c + dot(W[c, :], a_i)` bit for bit for every class count that
    /// exercises a block shape (1 … 5 class pairs, odd counts, more than one block) and image
    /// counts with a partial block of 4.
    #[test]
    fn dense_forward_is_bias_plus_dot_bit_for_bit() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        let mut next = || rng.random_range(-0.5f32..0.5);
        for &(classes, n, f) in &[
            (10, 20, 203),
            (7, 5, 64),
            (13, 6, 37),
            (1, 3, 9),
            (4, 4, 8),
            (21, 9, 100),
        ] {
            let w: Vec<f32> = (0..classes * f).map(|_| next()).collect();
            let b: Vec<f32> = (0..classes).map(|_| next()).collect();
            let a: Vec<f32> = (0..n * f).map(|_| next()).collect();
            let mut out = vec![0.0f32; n * classes];
            dense_forward_batch(&w, &b, &a, f, &mut out);
            for i in 0..n {
                for c in 0..classes {
                    let want = b[c] + dot(&w[c * f..(c + 1) * f], &a[i * f..(i + 1) * f]);
                    assert_eq!(
                        out[i * classes + c].to_bits(),
                        want.to_bits(),
                        "classes {classes}, image {i}, class {c}"
                    );
                }
            }
        }
    }
}
