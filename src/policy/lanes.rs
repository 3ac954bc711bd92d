//! Logical vectors of a fixed number of lanes, one type per instruction set.
//!
//! A logical vector holds [`N`](Lanes::N) values — 16 `f32` or 8 `f64` — on every path: one
//! 512-bit register with AVX-512, two 256-bit registers with AVX2, a plain array on the portable
//! path. Because the width is fixed, a kernel written once over [`Lanes`] performs the same
//! operations in the same order on every path; each lane does exactly what scalar code would do
//! for its value, so results are bitwise equal across paths (see [`isa`](super::isa)).
//!
//! Every operation rounds once, as its scalar counterpart: `fma(a, b, c) = round(a·b + c)`;
//! `tanh` is [`fast_tanh_f32`] operation for operation for `f32` and the library `tanh` lane by
//! lane for `f64` (as [`Scalar::act_tanh`]).
//!
//! # Safety
//! The methods are `unsafe`: the AVX2 and AVX-512 types need their instruction sets (callers go
//! through [`Isa::is_available`](super::Isa::is_available) first) and pointers must be valid for
//! `N` values.
// Lane loops are indexed over two arrays at once.
#![allow(clippy::needless_range_loop)]

use super::scalar::{fast_tanh_f32, Scalar};

/// A logical vector of `N` lanes of `E`.
pub(crate) trait Lanes: Copy {
    /// The lane type.
    type E: Scalar;
    /// Lanes per logical vector: 16 for `f32`, 8 for `f64`, on every path.
    const N: usize;
    /// Largest register block of outputs a kernel should keep per group (accumulators).
    const BLOCK: usize;
    /// Groups of lanes a kernel should process side by side.
    const GROUPS: usize;
    /// Columns per weight-gradient block (at most 6).
    const GRAD_BLOCK: usize;
    /// Source rows per weight-gradient block (at most 4).
    const GRAD_ROWS: usize;
    /// All lanes 0.
    unsafe fn zero() -> Self;
    /// All lanes `x`.
    unsafe fn splat(x: Self::E) -> Self;
    /// Loads `N` values.
    unsafe fn load(p: *const Self::E) -> Self;
    /// Stores `N` values.
    unsafe fn store(p: *mut Self::E, v: Self);
    /// `a · b + c`, rounded once.
    unsafe fn fma(a: Self, b: Self, c: Self) -> Self;
    /// `a · b`.
    unsafe fn mul(a: Self, b: Self) -> Self;
    /// `a + b`.
    unsafe fn add(a: Self, b: Self) -> Self;
    /// `a − b`.
    unsafe fn sub(a: Self, b: Self) -> Self;
    /// The network's `tanh` lane by lane ([`Scalar::act_tanh`]), bitwise.
    unsafe fn tanh(v: Self) -> Self;
    /// `d` with the lanes where `a ≤ 0` set to `+0` (a NaN in `a` keeps `d`): the ReLU mask of a
    /// backward pass, as `if a <= 0 { 0 } else { d }` lane by lane.
    unsafe fn zero_where_nonpositive(a: Self, d: Self) -> Self;
    /// `v` with the lanes where `v < 0` set to `+0` (`−0` and NaN kept): the ReLU of a forward
    /// pass, as `if v < 0 { 0 } else { v }` lane by lane.
    unsafe fn relu(v: Self) -> Self;
    /// Asks for the cache line holding `p` to be brought into the second-level cache (`prefetcht1`
    /// on x86-64, nothing elsewhere). It changes no value; `p` need not be dereferenceable.
    #[inline(always)]
    unsafe fn prefetch(p: *const Self::E) {
        #[cfg(target_arch = "x86_64")]
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T1 }>(p.cast());
        #[cfg(not(target_arch = "x86_64"))]
        let _ = p;
    }
}

// ---------------------------------------------------------------------------------------------
// Portable: arrays.

/// `N` lanes as a plain array (the portable path).
#[derive(Clone, Copy)]
pub(crate) struct Port<E, const N: usize>(pub [E; N]);

macro_rules! portable {
    ($e:ty, $n:literal, $tanh:expr) => {
        impl Lanes for Port<$e, $n> {
            type E = $e;
            const N: usize = $n;
            const BLOCK: usize = 6;
            const GROUPS: usize = 1;
            const GRAD_BLOCK: usize = 2;
            const GRAD_ROWS: usize = 2;
            #[inline(always)]
            unsafe fn zero() -> Self {
                Port([0.0; $n])
            }
            #[inline(always)]
            unsafe fn splat(x: $e) -> Self {
                Port([x; $n])
            }
            #[inline(always)]
            unsafe fn load(p: *const $e) -> Self {
                Port(std::ptr::read_unaligned(p as *const [$e; $n]))
            }
            #[inline(always)]
            unsafe fn store(p: *mut $e, v: Self) {
                std::ptr::write_unaligned(p as *mut [$e; $n], v.0)
            }
            #[inline(always)]
            unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
                let mut o = c.0;
                for i in 0..$n {
                    o[i] = a.0[i].mul_add(b.0[i], c.0[i]);
                }
                Port(o)
            }
            #[inline(always)]
            unsafe fn mul(a: Self, b: Self) -> Self {
                let mut o = a.0;
                for i in 0..$n {
                    o[i] = a.0[i] * b.0[i];
                }
                Port(o)
            }
            #[inline(always)]
            unsafe fn add(a: Self, b: Self) -> Self {
                let mut o = a.0;
                for i in 0..$n {
                    o[i] = a.0[i] + b.0[i];
                }
                Port(o)
            }
            #[inline(always)]
            unsafe fn sub(a: Self, b: Self) -> Self {
                let mut o = a.0;
                for i in 0..$n {
                    o[i] = a.0[i] - b.0[i];
                }
                Port(o)
            }
            #[inline(always)]
            unsafe fn zero_where_nonpositive(a: Self, d: Self) -> Self {
                let mut o = d.0;
                for (x, &av) in o.iter_mut().zip(&a.0) {
                    if av <= 0.0 {
                        *x = 0.0;
                    }
                }
                Port(o)
            }
            #[inline(always)]
            unsafe fn relu(v: Self) -> Self {
                let mut o = v.0;
                for x in o.iter_mut() {
                    if *x < 0.0 {
                        *x = 0.0;
                    }
                }
                Port(o)
            }
            #[inline(always)]
            unsafe fn tanh(v: Self) -> Self {
                let f: fn($e) -> $e = $tanh;
                let mut o = v.0;
                for x in o.iter_mut() {
                    *x = f(*x);
                }
                Port(o)
            }
        }
    };
}

portable!(f32, 16, fast_tanh_f32);
portable!(f64, 8, |x: f64| x.act_tanh());

// ---------------------------------------------------------------------------------------------
// x86-64: AVX2 (two 256-bit registers) and AVX-512F (one 512-bit register).

#[cfg(target_arch = "x86_64")]
pub(crate) use x86::{Avx2F32, Avx2F64, Avx512F32, Avx512F64};

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::super::scalar::Scalar;
    use super::Lanes;
    use std::arch::x86_64::*;

    /// 16 `f32` lanes in two AVX2 registers.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2F32(pub [__m256; 2]);
    /// 8 `f64` lanes in two AVX2 registers.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx2F64(pub [__m256d; 2]);
    /// 16 `f32` lanes in one AVX-512 register.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx512F32(pub __m512);
    /// 8 `f64` lanes in one AVX-512 register.
    #[derive(Clone, Copy)]
    pub(crate) struct Avx512F64(pub __m512d);

    /// Applies the scalar `f64` activation lane by lane through memory.
    #[inline(always)]
    unsafe fn tanh_f64_lanes<const N: usize>(v: [f64; N]) -> [f64; N] {
        let mut o = v;
        for x in o.iter_mut() {
            *x = x.act_tanh();
        }
        o
    }

    /// [`fast_tanh_f32`] on 8 lanes, operation for operation (its Horner steps as fused
    /// multiply-adds, every other operation rounded alone), so the result is bitwise the scalar
    /// function's. The tail branch (|x| ≥ 4) is
    /// evaluated only when some lane needs it; the selected values are the same either way.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    pub(crate) unsafe fn tanh8(x: __m256) -> __m256 {
        let c = _mm256_set1_ps;
        let (mul, fma) = (_mm256_mul_ps, _mm256_fmadd_ps);
        // `clamp` as f32::clamp does it: max/min return their second operand when one is NaN, so
        // NaN passes through.
        let xs = _mm256_min_ps(c(4.0), _mm256_max_ps(c(-4.0), x));
        let x2 = mul(xs, xs);
        let p = fma(x2, c(-2.760_768_5e-16), c(2.000_188e-13));
        let p = fma(x2, p, c(-8.604_672e-11));
        let p = fma(x2, p, c(5.122_297e-8));
        let p = fma(x2, p, c(1.485_722_4e-5));
        let p = fma(x2, p, c(6.372_619_3e-4));
        let p = fma(x2, p, c(4.893_524_6e-3));
        let p = mul(xs, p);
        let q = fma(x2, c(1.198_258_4e-6), c(1.185_347_1e-4));
        let q = fma(x2, q, c(2.268_434_6e-3));
        let q = fma(x2, q, c(4.893_525e-3));
        // |x| ≥ 4 exactly when the clamped square is 16 (the largest f32 below 4 squares to
        // 16 − 2 ulp); NaN compares false, as in the scalar code.
        let tail = _mm256_cmp_ps::<_CMP_GE_OQ>(x2, c(16.0));
        if _mm256_movemask_ps(tail) == 0 {
            return _mm256_div_ps(p, q);
        }
        let sign = c(-0.0);
        let ax = _mm256_andnot_ps(sign, x);
        let ax = _mm256_min_ps(c(9.5), _mm256_max_ps(c(0.0), ax));
        let d = mul(_mm256_sub_ps(ax, c(6.5)), c(0.125));
        let v = fma(d, c(1.0 / 120.0), c(1.0 / 24.0));
        let v = fma(d, v, c(1.0 / 6.0));
        let v = fma(d, v, c(0.5));
        let v = fma(d, v, c(1.0));
        let v = fma(d, v, c(1.0));
        let v = mul(v, c(2.253_534_8));
        let v2 = mul(v, v);
        let v4 = mul(v2, v2);
        let v8 = mul(v4, v4);
        let v16 = mul(v8, v8);
        let num = _mm256_blendv_ps(p, c(2.0), tail);
        let den = _mm256_blendv_ps(q, _mm256_add_ps(c(1.0), v16), tail);
        let r = _mm256_div_ps(num, den);
        let t = _mm256_or_ps(
            _mm256_andnot_ps(sign, _mm256_sub_ps(c(1.0), r)),
            _mm256_and_ps(sign, x),
        );
        _mm256_blendv_ps(r, t, tail)
    }

    /// [`fast_tanh_f32`] on 16 lanes, operation for operation (see [`tanh8`]).
    #[target_feature(enable = "avx512f")]
    #[inline]
    pub(crate) unsafe fn tanh16(x: __m512) -> __m512 {
        let c = _mm512_set1_ps;
        let (mul, fma) = (_mm512_mul_ps, _mm512_fmadd_ps);
        let xs = _mm512_min_ps(c(4.0), _mm512_max_ps(c(-4.0), x));
        let x2 = mul(xs, xs);
        let p = fma(x2, c(-2.760_768_5e-16), c(2.000_188e-13));
        let p = fma(x2, p, c(-8.604_672e-11));
        let p = fma(x2, p, c(5.122_297e-8));
        let p = fma(x2, p, c(1.485_722_4e-5));
        let p = fma(x2, p, c(6.372_619_3e-4));
        let p = fma(x2, p, c(4.893_524_6e-3));
        let p = mul(xs, p);
        let q = fma(x2, c(1.198_258_4e-6), c(1.185_347_1e-4));
        let q = fma(x2, q, c(2.268_434_6e-3));
        let q = fma(x2, q, c(4.893_525e-3));
        // |x| ≥ 4 exactly when the clamped square is 16 (see `tanh8`).
        let tail = _mm512_cmp_ps_mask::<_CMP_GE_OQ>(x2, c(16.0));
        if tail == 0 {
            return _mm512_div_ps(p, q);
        }
        let sign = _mm512_set1_epi32(i32::MIN);
        let xi = _mm512_castps_si512(x);
        let ax = _mm512_castsi512_ps(_mm512_andnot_si512(sign, xi));
        let ax = _mm512_min_ps(c(9.5), _mm512_max_ps(c(0.0), ax));
        let d = mul(_mm512_sub_ps(ax, c(6.5)), c(0.125));
        let v = fma(d, c(1.0 / 120.0), c(1.0 / 24.0));
        let v = fma(d, v, c(1.0 / 6.0));
        let v = fma(d, v, c(0.5));
        let v = fma(d, v, c(1.0));
        let v = fma(d, v, c(1.0));
        let v = mul(v, c(2.253_534_8));
        let v2 = mul(v, v);
        let v4 = mul(v2, v2);
        let v8 = mul(v4, v4);
        let v16 = mul(v8, v8);
        let add = _mm512_add_ps;
        let num = _mm512_mask_blend_ps(tail, p, c(2.0));
        let den = _mm512_mask_blend_ps(tail, q, add(c(1.0), v16));
        let r = _mm512_div_ps(num, den);
        let one_minus = _mm512_castps_si512(_mm512_sub_ps(c(1.0), r));
        let t = _mm512_or_si512(_mm512_andnot_si512(sign, one_minus), _mm512_and_si512(sign, xi));
        _mm512_mask_blend_ps(tail, r, _mm512_castsi512_ps(t))
    }

    /// `impl Lanes` for a pair of 256-bit registers (`$half` lanes each) from the register type's
    /// intrinsics; the type's `tanh` and `zero_where_nonpositive` follow as `$extra`.
    macro_rules! avx2_pair {
        ($t:ident, $e:ty, $half:literal, $grad_block:literal,
         [$setzero:ident, $set1:ident, $loadu:ident, $storeu:ident, $fmadd:ident, $mulv:ident, $addv:ident, $subv:ident],
         $($extra:tt)*) => {
            impl Lanes for $t {
                type E = $e;
                const N: usize = 2 * $half;
                const BLOCK: usize = 6;
                const GROUPS: usize = 1;
                const GRAD_BLOCK: usize = $grad_block;
                const GRAD_ROWS: usize = 2;
                #[target_feature(enable = "avx2,fma")]
                #[inline]
                unsafe fn zero() -> Self {
                    $t([$setzero(); 2])
                }
                #[target_feature(enable = "avx2,fma")]
                #[inline]
                unsafe fn splat(x: $e) -> Self {
                    $t([$set1(x); 2])
                }
                #[target_feature(enable = "avx2,fma")]
                #[inline]
                unsafe fn load(p: *const $e) -> Self {
                    $t([$loadu(p), $loadu(p.add($half))])
                }
                #[target_feature(enable = "avx2,fma")]
                #[inline]
                unsafe fn store(p: *mut $e, v: Self) {
                    $storeu(p, v.0[0]);
                    $storeu(p.add($half), v.0[1]);
                }
                #[target_feature(enable = "avx2,fma")]
                #[inline]
                unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
                    $t([$fmadd(a.0[0], b.0[0], c.0[0]), $fmadd(a.0[1], b.0[1], c.0[1])])
                }
                #[target_feature(enable = "avx2,fma")]
                #[inline]
                unsafe fn mul(a: Self, b: Self) -> Self {
                    $t([$mulv(a.0[0], b.0[0]), $mulv(a.0[1], b.0[1])])
                }
                #[target_feature(enable = "avx2,fma")]
                #[inline]
                unsafe fn add(a: Self, b: Self) -> Self {
                    $t([$addv(a.0[0], b.0[0]), $addv(a.0[1], b.0[1])])
                }
                #[target_feature(enable = "avx2,fma")]
                #[inline]
                unsafe fn sub(a: Self, b: Self) -> Self {
                    $t([$subv(a.0[0], b.0[0]), $subv(a.0[1], b.0[1])])
                }
                $($extra)*
            }
        };
    }

    /// `impl Lanes` for one 512-bit register from its intrinsics; `tanh` and
    /// `zero_where_nonpositive` follow as `$extra`.
    macro_rules! avx512_one {
        ($t:ident, $e:ty,
         [$setzero:ident, $set1:ident, $loadu:ident, $storeu:ident, $fmadd:ident, $mulv:ident, $addv:ident, $subv:ident],
         $($extra:tt)*) => {
            impl Lanes for $t {
                type E = $e;
                const N: usize = 64 / std::mem::size_of::<$e>();
                const BLOCK: usize = 12;
                const GROUPS: usize = 2;
                const GRAD_BLOCK: usize = 6;
                const GRAD_ROWS: usize = 4;
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn zero() -> Self {
                    $t($setzero())
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn splat(x: $e) -> Self {
                    $t($set1(x))
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn load(p: *const $e) -> Self {
                    $t($loadu(p))
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn store(p: *mut $e, v: Self) {
                    $storeu(p, v.0)
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn fma(a: Self, b: Self, c: Self) -> Self {
                    $t($fmadd(a.0, b.0, c.0))
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn mul(a: Self, b: Self) -> Self {
                    $t($mulv(a.0, b.0))
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn add(a: Self, b: Self) -> Self {
                    $t($addv(a.0, b.0))
                }
                #[target_feature(enable = "avx512f")]
                #[inline]
                unsafe fn sub(a: Self, b: Self) -> Self {
                    $t($subv(a.0, b.0))
                }
                $($extra)*
            }
        };
    }

    /// The scalar `f64` activation on the lanes of `v`, through memory.
    #[inline(always)]
    unsafe fn tanh_through_memory<V: Lanes<E = f64>>(v: V) -> V {
        let mut a = [0.0f64; 8];
        V::store(a.as_mut_ptr(), v);
        let o = tanh_f64_lanes(a);
        V::load(o.as_ptr())
    }

    avx2_pair! {
        Avx2F32,
        f32,
        8,
        2,
        [
            _mm256_setzero_ps,
            _mm256_set1_ps,
            _mm256_loadu_ps,
            _mm256_storeu_ps,
            _mm256_fmadd_ps,
            _mm256_mul_ps,
            _mm256_add_ps,
            _mm256_sub_ps
        ],
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn tanh(v: Self) -> Self {
            Avx2F32([tanh8(v.0[0]), tanh8(v.0[1])])
        }
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn zero_where_nonpositive(a: Self, d: Self) -> Self {
            let z = _mm256_setzero_ps();
            let m0 = _mm256_cmp_ps::<_CMP_LE_OQ>(a.0[0], z);
            let m1 = _mm256_cmp_ps::<_CMP_LE_OQ>(a.0[1], z);
            Avx2F32([_mm256_andnot_ps(m0, d.0[0]), _mm256_andnot_ps(m1, d.0[1])])
        }
        /// `max(0, v)` in this operand order returns `v` unless `0 > v`: NaN and `−0` kept.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn relu(v: Self) -> Self {
            let z = _mm256_setzero_ps();
            Avx2F32([_mm256_max_ps(z, v.0[0]), _mm256_max_ps(z, v.0[1])])
        }
    }

    avx2_pair! {
        Avx2F64,
        f64,
        4,
        2,
        [
            _mm256_setzero_pd,
            _mm256_set1_pd,
            _mm256_loadu_pd,
            _mm256_storeu_pd,
            _mm256_fmadd_pd,
            _mm256_mul_pd,
            _mm256_add_pd,
            _mm256_sub_pd
        ],
        /// The exact `tanh` (a library call per value), as the generic code uses for `f64`.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn tanh(v: Self) -> Self {
            tanh_through_memory(v)
        }
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn zero_where_nonpositive(a: Self, d: Self) -> Self {
            let z = _mm256_setzero_pd();
            let m0 = _mm256_cmp_pd::<_CMP_LE_OQ>(a.0[0], z);
            let m1 = _mm256_cmp_pd::<_CMP_LE_OQ>(a.0[1], z);
            Avx2F64([_mm256_andnot_pd(m0, d.0[0]), _mm256_andnot_pd(m1, d.0[1])])
        }
        /// `max(0, v)` in this operand order returns `v` unless `0 > v`: NaN and `−0` kept.
        #[target_feature(enable = "avx2,fma")]
        #[inline]
        unsafe fn relu(v: Self) -> Self {
            let z = _mm256_setzero_pd();
            Avx2F64([_mm256_max_pd(z, v.0[0]), _mm256_max_pd(z, v.0[1])])
        }
    }

    avx512_one! {
        Avx512F32,
        f32,
        [
            _mm512_setzero_ps,
            _mm512_set1_ps,
            _mm512_loadu_ps,
            _mm512_storeu_ps,
            _mm512_fmadd_ps,
            _mm512_mul_ps,
            _mm512_add_ps,
            _mm512_sub_ps
        ],
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn tanh(v: Self) -> Self {
            Avx512F32(tanh16(v.0))
        }
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn zero_where_nonpositive(a: Self, d: Self) -> Self {
            let le = _mm512_cmp_ps_mask::<_CMP_LE_OQ>(a.0, _mm512_setzero_ps());
            Avx512F32(_mm512_maskz_mov_ps(!le, d.0))
        }
        /// `max(0, v)` in this operand order returns `v` unless `0 > v`: NaN and `−0` kept.
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn relu(v: Self) -> Self {
            Avx512F32(_mm512_max_ps(_mm512_setzero_ps(), v.0))
        }
    }

    avx512_one! {
        Avx512F64,
        f64,
        [
            _mm512_setzero_pd,
            _mm512_set1_pd,
            _mm512_loadu_pd,
            _mm512_storeu_pd,
            _mm512_fmadd_pd,
            _mm512_mul_pd,
            _mm512_add_pd,
            _mm512_sub_pd
        ],
        /// The exact `tanh` (a library call per value), as the generic code uses for `f64`.
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn tanh(v: Self) -> Self {
            tanh_through_memory(v)
        }
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn zero_where_nonpositive(a: Self, d: Self) -> Self {
            let le = _mm512_cmp_pd_mask::<_CMP_LE_OQ>(a.0, _mm512_setzero_pd());
            Avx512F64(_mm512_maskz_mov_pd(!le, d.0))
        }
        /// `max(0, v)` in this operand order returns `v` unless `0 > v`: NaN and `−0` kept.
        #[target_feature(enable = "avx512f")]
        #[inline]
        unsafe fn relu(v: Self) -> Self {
            Avx512F64(_mm512_max_pd(_mm512_setzero_pd(), v.0))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::super::super::scalar::fast_tanh_f32;
        use super::*;

        fn inputs() -> Vec<f32> {
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
            while !xs.len().is_multiple_of(16) {
                xs.push(0.5);
            }
            xs
        }

        #[test]
        fn vector_tanh_is_fast_tanh_bit_for_bit() {
            let xs = inputs();
            // Chunks that are all below the switch as well as mixed ones (the early return).
            let mut out = [0.0f32; 16];
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                for chunk in xs.chunks_exact(8) {
                    // SAFETY: AVX2 and FMA are available (checked above); 8 values each side.
                    unsafe { _mm256_storeu_ps(out.as_mut_ptr(), tanh8(_mm256_loadu_ps(chunk.as_ptr()))) };
                    for (&x, &y) in chunk.iter().zip(&out) {
                        assert_eq!(y.to_bits(), fast_tanh_f32(x).to_bits(), "tanh8({x})");
                    }
                }
            }
            if std::is_x86_feature_detected!("avx512f") {
                for chunk in xs.chunks_exact(16) {
                    // SAFETY: AVX-512F is available (checked above); 16 values each side.
                    unsafe { _mm512_storeu_ps(out.as_mut_ptr(), tanh16(_mm512_loadu_ps(chunk.as_ptr()))) };
                    for (&x, &y) in chunk.iter().zip(&out) {
                        assert_eq!(y.to_bits(), fast_tanh_f32(x).to_bits(), "tanh16({x})");
                    }
                }
            }
        }

        /// `relu` is `if v < 0 { 0 } else { v }` bit for bit on every path (−0 and NaN kept,
        /// lanes in place; swapping the operands of `max` or two lanes fails it).
        #[test]
        fn vector_relu_is_the_scalar_relu_bit_for_bit() {
            let mut xs = inputs();
            xs.extend([
                -0.0,
                0.0,
                f32::NAN,
                -f32::NAN,
                -1.0,
                2.0,
                -f32::MIN_POSITIVE,
                1e-45,
            ]);
            while !xs.len().is_multiple_of(16) {
                xs.push(-0.25);
            }
            let want: Vec<u32> = xs
                .iter()
                .map(|&x| if x < 0.0 { 0.0f32 } else { x }.to_bits())
                .collect();
            fn run<V: Lanes<E = f32>>(xs: &[f32]) -> Vec<u32> {
                let mut out = vec![0.0f32; xs.len()];
                for (o, x) in out.chunks_exact_mut(16).zip(xs.chunks_exact(16)) {
                    // SAFETY: the caller checked V's instruction set; 16 values each side.
                    unsafe { V::store(o.as_mut_ptr(), V::relu(V::load(x.as_ptr()))) };
                }
                out.iter().map(|v| v.to_bits()).collect()
            }
            assert_eq!(run::<super::super::Port<f32, 16>>(&xs), want, "portable");
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                assert_eq!(run::<Avx2F32>(&xs), want, "AVX2");
            }
            if std::is_x86_feature_detected!("avx512f") {
                assert_eq!(run::<Avx512F32>(&xs), want, "AVX-512");
            }
            let xd: Vec<f64> = xs.iter().map(|&x| x as f64).collect();
            let wantd: Vec<u64> = xd
                .iter()
                .map(|&x| if x < 0.0 { 0.0f64 } else { x }.to_bits())
                .collect();
            fn rund<V: Lanes<E = f64>>(xs: &[f64]) -> Vec<u64> {
                let mut out = vec![0.0f64; xs.len()];
                for (o, x) in out.chunks_exact_mut(8).zip(xs.chunks_exact(8)) {
                    // SAFETY: the caller checked V's instruction set; 8 values each side.
                    unsafe { V::store(o.as_mut_ptr(), V::relu(V::load(x.as_ptr()))) };
                }
                out.iter().map(|v| v.to_bits()).collect()
            }
            assert_eq!(rund::<super::super::Port<f64, 8>>(&xd), wantd, "portable f64");
            if std::is_x86_feature_detected!("avx2") && std::is_x86_feature_detected!("fma") {
                assert_eq!(rund::<Avx2F64>(&xd), wantd, "AVX2 f64");
            }
            if std::is_x86_feature_detected!("avx512f") {
                assert_eq!(rund::<Avx512F64>(&xd), wantd, "AVX-512 f64");
            }
        }
    }
}
