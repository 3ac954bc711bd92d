//! The scalar type the network is generic over, and the dense kernels it is built from.
//!
//! The forward pass is written once, generic over [`Scalar`], and runs on `f32` and `f64` for
//! speed and on `autodiff::F1` dual numbers to check the hand-written backward pass exactly.
//!
//! Every kernel is in "axpy form": the innermost loop runs over a contiguous output row,
//! `out[j] += x_k * w[k, j]`, which the compiler vectorises without reassociating a floating-point
//! reduction. A `const FMA: bool` selects fused multiply-add (`x.mul_add(w, out)`), used only inside
//! the AVX2+FMA code path chosen at run time (see `forward` in the parent module); elsewhere
//! `mul_add` would be a slow library call, so the plain `out + x * w` is used.

use num_traits::Float;
use std::fmt::Debug;
use std::ops::{AddAssign, MulAssign, SubAssign};

/// A real scalar the policy network can run on: `f32`, `f64` or `autodiff::F1`.
///
/// Beyond `num_traits::Float`, it names the activation used by the network, so that `f32` can use
/// a vectorisable rational approximation of `tanh` while `f64` and dual numbers use the exact one.
pub trait Scalar: Float + AddAssign + SubAssign + MulAssign + Debug + Send + Sync + 'static {
    /// `tanh(x)` as used by the network's layers.
    ///
    /// Exact for `f64` and dual numbers; for `f32` a rational approximation with absolute error
    /// below 1e-6 on all of ℝ (checked in the tests), which vectorises where `tanhf` does not.
    fn act_tanh(self) -> Self {
        self.tanh()
    }

    /// Converts an `f64` constant into this type.
    fn of(x: f64) -> Self;

    /// The value as `f64` (the real part of a dual number).
    fn value_f64(self) -> f64;

    /// `v` viewed as `f32` values when `Self` is `f32`, `None` otherwise.
    ///
    /// Routes `f32` (and, with [`as_f64_slice`](Self::as_f64_slice), `f64`) work to the AVX2
    /// kernels of the encoder while the generic code keeps running for other types (dual numbers);
    /// after monomorphisation the test is a constant.
    #[doc(hidden)]
    fn as_f32_slice(v: &[Self]) -> Option<&[f32]> {
        let _ = v;
        None
    }

    /// Mutable version of [`as_f32_slice`](Self::as_f32_slice).
    #[doc(hidden)]
    fn as_f32_slice_mut(v: &mut [Self]) -> Option<&mut [f32]> {
        let _ = v;
        None
    }

    /// `v` viewed as `f64` values when `Self` is `f64`, `None` otherwise (see
    /// [`as_f32_slice`](Self::as_f32_slice)).
    #[doc(hidden)]
    fn as_f64_slice(v: &[Self]) -> Option<&[f64]> {
        let _ = v;
        None
    }

    /// Mutable version of [`as_f64_slice`](Self::as_f64_slice).
    #[doc(hidden)]
    fn as_f64_slice_mut(v: &mut [Self]) -> Option<&mut [f64]> {
        let _ = v;
        None
    }
}

impl Scalar for f64 {
    #[inline(always)]
    fn of(x: f64) -> Self {
        x
    }
    #[inline(always)]
    fn value_f64(self) -> f64 {
        self
    }
    #[inline(always)]
    fn as_f64_slice(v: &[Self]) -> Option<&[f64]> {
        Some(v)
    }
    #[inline(always)]
    fn as_f64_slice_mut(v: &mut [Self]) -> Option<&mut [f64]> {
        Some(v)
    }
}

impl Scalar for f32 {
    #[inline(always)]
    fn act_tanh(self) -> Self {
        fast_tanh_f32(self)
    }
    #[inline(always)]
    fn of(x: f64) -> Self {
        x as f32
    }
    #[inline(always)]
    fn value_f64(self) -> f64 {
        self as f64
    }
    #[inline(always)]
    fn as_f32_slice(v: &[Self]) -> Option<&[f32]> {
        Some(v)
    }
    #[inline(always)]
    fn as_f32_slice_mut(v: &mut [Self]) -> Option<&mut [f32]> {
        Some(v)
    }
}

impl Scalar for autodiff::F1 {
    fn of(x: f64) -> Self {
        autodiff::F1::cst(x)
    }
    fn value_f64(self) -> f64 {
        self.value()
    }
}

/// `tanh` for `f32`: a rational function for |x| < 4, `1 − 2/(1 + e^{2|x|})` beyond.
///
/// * |x| < 4: tanh(x) ≈ x·P(x²)/Q(x²) with P of degree 6 and Q of degree 3 in x², a
///   minimax-style fit.
/// * |x| ≥ 4: the rational's relative rounding noise (~1e-7) is larger than the change of tanh
///   between nearby inputs once tanh is within a few ulps of ±1, which made it non-monotone
///   there. Instead the small tail `t = 2/(1 + e^{2|x|})` is computed (its own rounding noise is
///   relative to `t`, i.e. tiny) and `sign(x)·(1 − t)` is rounded once. `e^{2|x|} = v¹⁶` with
///   `v ≈ e^{|x|/8}` a degree-5 Taylor polynomial about |x| = 6.5 (relative error < 4e-6 on
///   [4, 9.5]); |x| is clamped at 9.5, where `1 − t` rounds to 1.
///
/// Absolute error below 1e-6 on all of ℝ (2.4e-7 worst on a 1e-3 grid over [−20, 20]); odd;
/// monotone on that grid; NaN in, NaN out. Both branches are computed and
/// one selected, sharing a single division, so a loop of it vectorises. The Horner steps are
/// fused multiply-adds (one rounding each): with separate multiplies and adds the polynomials
/// were half the cost of an Elman step's `tanh`, and the lane kernels, which compute exactly
/// these operations, ran the paper network's inference pass about 25 % slower.
#[inline(always)]
pub fn fast_tanh_f32(x: f32) -> f32 {
    const SWITCH: f32 = 4.0;
    const A1: f32 = 4.893_524_6e-3;
    const A3: f32 = 6.372_619_3e-4;
    const A5: f32 = 1.485_722_4e-5;
    const A7: f32 = 5.122_297e-8;
    const A9: f32 = -8.604_672e-11;
    const A11: f32 = 2.000_188e-13;
    const A13: f32 = -2.760_768_5e-16;
    const B0: f32 = 4.893_525e-3;
    const B2: f32 = 2.268_434_6e-3;
    const B4: f32 = 1.185_347_1e-4;
    const B6: f32 = 1.198_258_4e-6;
    /// Expansion point of `v ≈ e^{|x|/8}`, and `e^{CENTER/8}`.
    const CENTER: f32 = 6.5;
    const E_CENTER: f32 = 2.253_534_8;
    // Rational branch (on x clamped to its range, so it stays finite). Horner steps are fused
    // multiply-adds, one rounding each, as the lane kernels compute them.
    let xs = x.clamp(-SWITCH, SWITCH);
    let x2 = xs * xs;
    let p = x2.mul_add(A13, A11);
    let p = x2.mul_add(p, A9);
    let p = x2.mul_add(p, A7);
    let p = x2.mul_add(p, A5);
    let p = x2.mul_add(p, A3);
    let p = x2.mul_add(p, A1);
    let p = xs * p;
    let q = x2.mul_add(B6, B4);
    let q = x2.mul_add(q, B2);
    let q = x2.mul_add(q, B0);
    // Tail branch: v = e^{CENTER/8} · Σ_{n≤5} d^n/n!, d = (|x| − CENTER)/8; then v¹⁶ = e^{2|x|}.
    let ax = x.abs().clamp(0.0, 9.5);
    let d = (ax - CENTER) * 0.125;
    let v = d.mul_add(1.0 / 120.0, 1.0 / 24.0);
    let v = d.mul_add(v, 1.0 / 6.0);
    let v = d.mul_add(v, 0.5);
    let v = d.mul_add(v, 1.0);
    let v = d.mul_add(v, 1.0);
    let v = v * E_CENTER;
    let v2 = v * v;
    let v4 = v2 * v2;
    let v8 = v4 * v4;
    let v16 = v8 * v8;
    // NaN compares false, so it takes the rational branch and propagates.
    let tail = ax >= SWITCH;
    let r = if tail { 2.0 } else { p } / if tail { 1.0 + v16 } else { q };
    if tail {
        (1.0 - r).copysign(x)
    } else {
        r
    }
}

/// `o += x * w`, fused when `FMA`.
#[inline(always)]
pub(crate) fn madd<T: Scalar, const FMA: bool>(o: T, x: T, w: T) -> T {
    if FMA {
        x.mul_add(w, o)
    } else {
        o + x * w
    }
}

/// `out[r, :] += Σ_k x[r, k] · w[k, :]` for `rows` rows: `x` is rows×`i`, `w` is `i`×`o`, `out` is
/// rows×`o`, all row-major. `x` rows may be strided: row `r` starts at `x[r * x_stride]`.
#[inline(always)]
pub(crate) fn matmul_acc<T: Scalar, const FMA: bool>(
    x: &[T],
    x_stride: usize,
    w: &[T],
    out: &mut [T],
    rows: usize,
    i: usize,
    o: usize,
) {
    for r in 0..rows {
        let xr = &x[r * x_stride..r * x_stride + i];
        let or = &mut out[r * o..(r + 1) * o];
        for (k, &xk) in xr.iter().enumerate() {
            let wk = &w[k * o..(k + 1) * o];
            for (oj, &wj) in or.iter_mut().zip(wk) {
                *oj = madd::<T, FMA>(*oj, xk, wj);
            }
        }
    }
}

/// `dw[k, :] += Σ_r x[r, k] · d[r, :]` (the weight gradient `Xᵀ D`): `x` rows×`i` (row stride
/// `x_stride`), `d` rows×`o`, `dw` `i`×`o`.
#[inline(always)]
pub(crate) fn matmul_at_b_acc<T: Scalar, const FMA: bool>(
    x: &[T],
    x_stride: usize,
    d: &[T],
    dw: &mut [T],
    rows: usize,
    i: usize,
    o: usize,
) {
    for r in 0..rows {
        let xr = &x[r * x_stride..r * x_stride + i];
        let dr = &d[r * o..(r + 1) * o];
        for (k, &xk) in xr.iter().enumerate() {
            let dwk = &mut dw[k * o..(k + 1) * o];
            for (g, &dj) in dwk.iter_mut().zip(dr) {
                *g = madd::<T, FMA>(*g, xk, dj);
            }
        }
    }
}

/// `acc[:] += Σ_r d[r, :]` (a bias gradient).
#[inline(always)]
pub(crate) fn col_sum_acc<T: Scalar>(d: &[T], acc: &mut [T], rows: usize, o: usize) {
    for r in 0..rows {
        for (a, &v) in acc.iter_mut().zip(&d[r * o..(r + 1) * o]) {
            *a += v;
        }
    }
}

/// Transposes the `i`×`o` row-major matrix `w` into `wt` (`o`×`i`).
pub(crate) fn transpose_into<T: Scalar>(w: &[T], i: usize, o: usize, wt: &mut Vec<T>) {
    wt.clear();
    wt.resize(i * o, T::zero());
    for k in 0..i {
        for j in 0..o {
            wt[j * i + k] = w[k * o + j];
        }
    }
}

/// Resizes `v` to `n` zeros, reusing its allocation.
#[inline]
pub(crate) fn zeroed<T: Scalar>(v: &mut Vec<T>, n: usize) {
    v.clear();
    v.resize(n, T::zero());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fast_tanh_is_accurate_everywhere() {
        let mut worst = 0.0f64;
        let mut x = -20.0f64;
        while x <= 20.0 {
            let err = (fast_tanh_f32(x as f32) as f64 - x.tanh()).abs();
            worst = worst.max(err);
            x += 1e-3;
        }
        assert!(worst < 1e-6, "max |fast_tanh - tanh| = {worst}");
        assert_eq!(fast_tanh_f32(0.0), 0.0);
        assert!(fast_tanh_f32(f32::INFINITY) <= 1.0);
        assert!(fast_tanh_f32(-1e30) >= -1.0);
    }

    #[test]
    fn fast_tanh_is_odd_and_monotone() {
        let mut prev = -1.0f32;
        for i in -8000..=8000 {
            let x = i as f32 * 1e-3;
            let y = fast_tanh_f32(x);
            assert_eq!(y, -fast_tanh_f32(-x));
            assert!(y >= prev, "not monotone at {x}");
            prev = y;
        }
    }

    #[test]
    fn matmul_kernels_agree_with_naive() {
        let (rows, i, o) = (3, 4, 5);
        let x: Vec<f64> = (0..rows * i).map(|v| v as f64 * 0.1 - 0.3).collect();
        let w: Vec<f64> = (0..i * o).map(|v| (v as f64 * 0.37).sin()).collect();
        let mut out = vec![1.0; rows * o];
        matmul_acc::<f64, false>(&x, i, &w, &mut out, rows, i, o);
        for r in 0..rows {
            for j in 0..o {
                let naive: f64 = 1.0 + (0..i).map(|k| x[r * i + k] * w[k * o + j]).sum::<f64>();
                assert!((out[r * o + j] - naive).abs() < 1e-12);
            }
        }
        let d: Vec<f64> = (0..rows * o).map(|v| (v as f64).cos()).collect();
        let mut dw = vec![0.0; i * o];
        matmul_at_b_acc::<f64, true>(&x, i, &d, &mut dw, rows, i, o);
        for k in 0..i {
            for j in 0..o {
                let naive: f64 = (0..rows).map(|r| x[r * i + k] * d[r * o + j]).sum();
                assert!((dw[k * o + j] - naive).abs() < 1e-12);
            }
        }
        let mut wt = Vec::new();
        transpose_into(&w, i, o, &mut wt);
        assert_eq!(wt[2 * i + 3], w[3 * o + 2]);
    }
}
