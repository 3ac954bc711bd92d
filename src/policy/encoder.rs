//! The shared per-entity encoders (§5, §A.1): forward and hand-written reverse-mode backward.
//!
//! All `R = B·m` entity rows of a batch go through the same weights at once. Notation: `x_t` is
//! the R×F matrix of step `t`'s features, `h_t` the R×H hidden states, `⊙` the element-wise
//! product. The derivations are in `papers/policy.md`.

use super::config::{DenseOffsets, EncoderLayout};
use super::elman::{self, ElmanDims, LaneScalar};
use super::gru::{self, GruLanes};
use super::isa::Isa;
use super::scalar::{col_sum_acc, matmul_acc, matmul_at_b_acc, transpose_into, zeroed, Scalar};
use super::Workspace;

/// Dimensions of one encoder call.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Dims {
    /// Entity rows `R = B·m`.
    pub rows: usize,
    /// Window length `W`.
    pub window: usize,
    /// Features per step `F`.
    pub features: usize,
    /// Hidden units `H` (RNN).
    pub hidden: usize,
}

/// `σ(x) = (1 + tanh(x/2)) / 2`, through the network's `tanh` so `f32` stays vectorisable.
#[inline(always)]
fn sigmoid<T: Scalar>(x: T) -> T {
    let half = T::of(0.5);
    half + half * (x * half).act_tanh()
}

/// Applies `tanh` in place.
#[inline(always)]
pub(crate) fn tanh_in_place<T: Scalar>(v: &mut [T]) {
    for a in v.iter_mut() {
        *a = a.act_tanh();
    }
}

/// Fills each of `rows` rows of `out` (width `o`) with the bias `b`.
#[inline(always)]
pub(crate) fn fill_rows<T: Scalar>(out: &mut [T], b: &[T], rows: usize, o: usize) {
    for r in 0..rows {
        out[r * o..(r + 1) * o].copy_from_slice(&b[..o]);
    }
}

// ---------------------------------------------------------------------------------------------
// MLP: a_0 = x, a_{l+1} = tanh(a_l W_l + b_l)

#[inline(always)]
pub(crate) fn mlp_forward<T: Scalar, const FMA: bool>(
    theta: &[T],
    layers: &[DenseOffsets],
    ws: &mut Workspace<T>,
    rows: usize,
) {
    ws.acts.resize_with(layers.len(), Vec::new);
    for (l, layer) in layers.iter().enumerate() {
        let (before, after) = ws.acts.split_at_mut(l);
        let input: &[T] = if l == 0 { &ws.x } else { &before[l - 1] };
        let out = &mut after[0];
        zeroed(out, rows * layer.output);
        fill_rows(out, &theta[layer.b..layer.b + layer.output], rows, layer.output);
        let w = &theta[layer.w..layer.w + layer.input * layer.output];
        matmul_acc::<T, FMA>(input, layer.input, w, out, rows, layer.input, layer.output);
        tanh_in_place(out);
    }
}

/// Given `ws.de = dL/de` (R×H), accumulates dL/dθ into `grad` and, when `want_dx`, writes dL/dx
/// into `ws.dx`.
///
/// Per layer, from the last: `dpre = d ⊙ (1 − a_{l+1}²)`, `dW_l += a_lᵀ dpre`,
/// `db_l += Σ_rows dpre`, `d ← dpre W_lᵀ`.
#[inline(always)]
pub(crate) fn mlp_backward<T: Scalar, const FMA: bool>(
    theta: &[T],
    layers: &[DenseOffsets],
    ws: &mut Workspace<T>,
    grad: &mut [T],
    rows: usize,
    want_dx: bool,
) {
    let mut d = std::mem::take(&mut ws.de);
    let mut next = std::mem::take(&mut ws.tmp);
    let one = T::one();
    for (l, layer) in layers.iter().enumerate().rev() {
        let a_out = &ws.acts[l];
        for (dv, &a) in d.iter_mut().zip(a_out.iter()) {
            *dv *= one - a * a;
        }
        let input: &[T] = if l == 0 { &ws.x } else { &ws.acts[l - 1] };
        let (i, o) = (layer.input, layer.output);
        matmul_at_b_acc::<T, FMA>(input, i, &d, &mut grad[layer.w..layer.w + i * o], rows, i, o);
        col_sum_acc(&d, &mut grad[layer.b..layer.b + o], rows, o);
        if l > 0 || want_dx {
            transpose_into(&theta[layer.w..layer.w + i * o], i, o, &mut ws.wt);
            zeroed(&mut next, rows * i);
            matmul_acc::<T, FMA>(&d, o, &ws.wt, &mut next, rows, o, i);
            std::mem::swap(&mut d, &mut next);
        }
    }
    if want_dx {
        ws.dx.clear();
        ws.dx.extend_from_slice(&d);
    }
    ws.de = d;
    ws.tmp = next;
}

// ---------------------------------------------------------------------------------------------
// Elman RNN: h_t = tanh(x_t Wx + h_{t−1} Wh + b), h_0 = 0.
//
// `f32` and `f64` run the lane kernels of `elman` on the workspace's instruction set (the same
// bits on every path, and bitwise the loops below for the states and dL/dx); dual numbers run the
// loops.

/// `T` viewed as the kernel's lane type `E` (`Some` exactly when they are the same type).
type Cast<T, E> = for<'a> fn(&'a [T]) -> Option<&'a [E]>;
/// Mutable [`Cast`].
type CastMut<T, E> = for<'a> fn(&'a mut [T]) -> Option<&'a mut [E]>;

/// `$f::<T, f32>(args, casts) || $f::<T, f64>(args, casts)`: runs the lane-kernel wrapper `$f`
/// for whichever of `f32`, `f64` the scalar type `$t` is; `false` for any other type.
macro_rules! on_lane_type {
    ($f:ident::<$t:ty>($($arg:expr),* $(,)?)) => {
        $f::<$t, f32>($($arg,)* (<$t>::as_f32_slice, <$t>::as_f32_slice_mut))
            || $f::<$t, f64>($($arg,)* (<$t>::as_f64_slice, <$t>::as_f64_slice_mut))
    };
}

fn lane_dims(d: Dims) -> ElmanDims {
    ElmanDims {
        rows: d.rows,
        window: d.window,
        features: d.features,
        hidden: d.hidden,
    }
}

/// The Elman forward pass on the lane kernels when `T` is `E`; returns whether it ran. Leaves
/// the embedding in `ws.emb` and, when `ws.record`, the lane-layout inputs and states in `ws.xl`,
/// `ws.hl` (otherwise those are scratch of a few kilobytes, see `elman::Forward::record`).
#[inline(always)]
fn elman_forward_lanes<T: Scalar, E: LaneScalar>(
    theta: &[T],
    (wx, wh, b): (usize, usize, usize),
    ws: &mut Workspace<T>,
    (x, dims, isa): (&[T], Dims, Isa),
    (cast, cast_mut): (Cast<T, E>, CastMut<T, E>),
) -> bool {
    let Some(th) = cast(theta) else {
        return false;
    };
    let (f, h) = (dims.features, dims.hidden);
    let kd = lane_dims(dims);
    let record = ws.record;
    let (xl_len, hl_len) = if record {
        (elman::x_lanes_len(kd, E::N), elman::h_lanes_len(kd, E::N))
    } else {
        (
            elman::infer_x_lanes_len(kd, E::N),
            elman::infer_h_lanes_len(kd, E::N),
        )
    };
    ws.xl.resize(xl_len, T::zero());
    ws.hl.resize(hl_len, T::zero());
    ws.emb.resize(dims.rows * h, T::zero());
    let (Some(x), Some(xl), Some(hl), Some(emb)) = (
        cast(x),
        cast_mut(&mut ws.xl),
        cast_mut(&mut ws.hl),
        cast_mut(&mut ws.emb),
    ) else {
        return false;
    };
    let weights = (&th[wx..wx + f * h], &th[wh..wh + h * h], &th[b..b + h]);
    // SAFETY: `isa` comes from `Workspace::isa`, which only yields available paths.
    unsafe {
        E::forward_on(
            isa,
            elman::Forward {
                x,
                weights,
                xl,
                hl,
                emb,
                record,
                dims: kd,
            },
        )
    };
    true
}

/// The Elman backward pass on the lane kernels when `T` is `E` (after [`elman_forward_lanes`]);
/// returns whether it ran.
#[inline(always)]
fn elman_backward_lanes<T: Scalar, E: LaneScalar>(
    theta: &[T],
    (wx, wh, b): (usize, usize, usize),
    ws: &mut Workspace<T>,
    grad: &mut [T],
    (dims, isa, want_dx): (Dims, Isa, bool),
    (cast, cast_mut): (Cast<T, E>, CastMut<T, E>),
) -> bool {
    let Some(th) = cast(theta) else {
        return false;
    };
    let (f, h) = (dims.features, dims.hidden);
    let kd = lane_dims(dims);
    ws.tmp.resize(elman::backward_scratch_len(kd, E::N), T::zero());
    if want_dx {
        ws.dx.resize(dims.rows * dims.window * f, T::zero());
    }
    let (Some(xl), Some(hl), Some(de), Some(g), Some(scratch)) = (
        cast(&ws.xl),
        cast(&ws.hl),
        cast(&ws.de),
        cast_mut(grad),
        cast_mut(&mut ws.tmp),
    ) else {
        return false;
    };
    let dx = if want_dx { cast_mut(&mut ws.dx) } else { None };
    // SAFETY: `isa` comes from `Workspace::isa`, which only yields available paths.
    unsafe {
        E::backward_on(
            isa,
            elman::Backward {
                weights: (&th[wx..wx + f * h], &th[wh..wh + h * h]),
                xl,
                hl,
                de,
                grad: g,
                offsets: (wx, wh, b),
                dx,
                scratch,
                dims: kd,
            },
        )
    };
    true
}

#[inline(always)]
pub(crate) fn elman_forward<T: Scalar, const FMA: bool>(
    theta: &[T],
    (wx, wh, b): (usize, usize, usize),
    ws: &mut Workspace<T>,
    dims: Dims,
) {
    let Dims {
        rows,
        window,
        features: f,
        hidden: h,
    } = dims;
    let stride = window * f;
    zeroed(&mut ws.hs, (window + 1) * rows * h);
    let wx = &theta[wx..wx + f * h];
    let wh = &theta[wh..wh + h * h];
    let b = &theta[b..b + h];
    for t in 0..window {
        let (past, future) = ws.hs.split_at_mut((t + 1) * rows * h);
        let h_prev = &past[t * rows * h..];
        let h_next = &mut future[..rows * h];
        fill_rows(h_next, b, rows, h);
        matmul_acc::<T, FMA>(&ws.x[t * f..], stride, wx, h_next, rows, f, h);
        if t > 0 {
            matmul_acc::<T, FMA>(h_prev, h, wh, h_next, rows, h, h);
        }
        tanh_in_place(h_next);
    }
}

/// Backpropagation through time. With `dh = dL/dh_W` in `ws.de`, for t = W … 1:
/// `dpre = dh ⊙ (1 − h_t²)`, `dWx += x_tᵀ dpre`, `dWh += h_{t−1}ᵀ dpre`, `db += Σ dpre`,
/// `dx_t = dpre Wxᵀ`, `dh ← dpre Whᵀ`.
#[inline(always)]
pub(crate) fn elman_backward<T: Scalar, const FMA: bool>(
    theta: &[T],
    (wx, wh, b): (usize, usize, usize),
    ws: &mut Workspace<T>,
    grad: &mut [T],
    dims: Dims,
    want_dx: bool,
) {
    let Dims {
        rows,
        window,
        features: f,
        hidden: h,
    } = dims;
    let stride = window * f;
    let mut dh = std::mem::take(&mut ws.de);
    let mut next = std::mem::take(&mut ws.tmp);
    let mut wh_t = std::mem::take(&mut ws.wt);
    let mut wx_t = std::mem::take(&mut ws.wt2);
    transpose_into(&theta[wh..wh + h * h], h, h, &mut wh_t);
    transpose_into(&theta[wx..wx + f * h], f, h, &mut wx_t);
    if want_dx {
        zeroed(&mut ws.dx, rows * stride);
    }
    let one = T::one();
    for t in (0..window).rev() {
        let h_t = &ws.hs[(t + 1) * rows * h..(t + 2) * rows * h];
        for (d, &hv) in dh.iter_mut().zip(h_t) {
            *d *= one - hv * hv;
        }
        matmul_at_b_acc::<T, FMA>(&ws.x[t * f..], stride, &dh, &mut grad[wx..wx + f * h], rows, f, h);
        col_sum_acc(&dh, &mut grad[b..b + h], rows, h);
        if want_dx {
            // dx rows are strided like x: accumulate row by row into step t's slot.
            for r in 0..rows {
                let dxr = &mut ws.dx[r * stride + t * f..r * stride + (t + 1) * f];
                let dr = &dh[r * h..(r + 1) * h];
                for (j, &dj) in dr.iter().enumerate() {
                    let wrow = &wx_t[j * f..(j + 1) * f];
                    for (o, &w) in dxr.iter_mut().zip(wrow) {
                        *o = super::scalar::madd::<T, FMA>(*o, dj, w);
                    }
                }
            }
        }
        if t > 0 {
            let h_prev = &ws.hs[t * rows * h..(t + 1) * rows * h];
            matmul_at_b_acc::<T, FMA>(h_prev, h, &dh, &mut grad[wh..wh + h * h], rows, h, h);
            zeroed(&mut next, rows * h);
            matmul_acc::<T, FMA>(&dh, h, &wh_t, &mut next, rows, h, h);
            std::mem::swap(&mut dh, &mut next);
        }
    }
    ws.de = dh;
    ws.tmp = next;
    ws.wt = wh_t;
    ws.wt2 = wx_t;
}

// ---------------------------------------------------------------------------------------------
// GRU (gate columns [r | z | n]):
// gx = x_t Wx + bx, gh = h Wh + bh, r = σ(gx_r + gh_r), z = σ(gx_z + gh_z),
// n = tanh(gx_n + r ⊙ gh_n), h' = (1 − z) ⊙ n + z ⊙ h.

/// The GRU forward pass on the lane kernels of `gru` when `T` is `E`; returns whether it ran.
/// Leaves the embedding in `ws.emb` and, when `ws.record`, the lane-layout record that
/// [`gru_backward_lanes`] reads: inputs in `ws.xl`, states in `ws.hl`, gates in `ws.gates`,
/// `gh_n` in `ws.ghn` (otherwise those are scratch of a few kilobytes, see `gru::Forward::record`).
#[inline(always)]
fn gru_forward_lanes<T: Scalar, E: GruLanes>(
    theta: &[T],
    (wx, wh, bx, bh): (usize, usize, usize, usize),
    ws: &mut Workspace<T>,
    (x, dims, isa): (&[T], Dims, Isa),
    (cast, cast_mut): (Cast<T, E>, CastMut<T, E>),
) -> bool {
    let Some(th) = cast(theta) else {
        return false;
    };
    let (f, h) = (dims.features, dims.hidden);
    let g3 = 3 * h;
    let kd = lane_dims(dims);
    let record = ws.record;
    let len = gru::lens(kd, E::N, record);
    ws.xl.resize(len.xl, T::zero());
    ws.hl.resize(len.hl, T::zero());
    ws.gates.resize(len.gl, T::zero());
    ws.ghn.resize(len.nl, T::zero());
    ws.tmp.resize(len.scratch, T::zero());
    ws.emb.resize(dims.rows * h, T::zero());
    let (Some(xs), Some(xl), Some(hl), Some(gl), Some(nl), Some(scratch), Some(emb)) = (
        cast(x),
        cast_mut(&mut ws.xl),
        cast_mut(&mut ws.hl),
        cast_mut(&mut ws.gates),
        cast_mut(&mut ws.ghn),
        cast_mut(&mut ws.tmp),
        cast_mut(&mut ws.emb),
    ) else {
        return false;
    };
    let weights = (
        &th[wx..wx + f * g3],
        &th[wh..wh + h * g3],
        &th[bx..bx + g3],
        &th[bh..bh + g3],
    );
    // SAFETY: `isa` comes from `Workspace::isa`, which only yields available paths.
    unsafe {
        E::gru_forward_on(
            isa,
            gru::Forward {
                x: xs,
                weights,
                xl,
                hl,
                gl,
                nl,
                scratch,
                emb,
                record,
                dims: kd,
            },
        )
    };
    true
}

/// The GRU backward pass on the lane kernels when `T` is `E` (after a recording
/// [`gru_forward_lanes`]); returns whether it ran.
#[inline(always)]
fn gru_backward_lanes<T: Scalar, E: GruLanes>(
    theta: &[T],
    (wx, wh, bx, bh): (usize, usize, usize, usize),
    ws: &mut Workspace<T>,
    grad: &mut [T],
    (dims, isa, want_dx): (Dims, Isa, bool),
    (cast, cast_mut): (Cast<T, E>, CastMut<T, E>),
) -> bool {
    let Some(th) = cast(theta) else {
        return false;
    };
    let (f, h) = (dims.features, dims.hidden);
    let g3 = 3 * h;
    let kd = lane_dims(dims);
    ws.tmp.resize(gru::backward_scratch_len(kd, E::N), T::zero());
    if want_dx {
        ws.dx.resize(dims.rows * dims.window * f, T::zero());
    }
    let (Some(xl), Some(hl), Some(gl), Some(nl), Some(de), Some(g), Some(scratch)) = (
        cast(&ws.xl),
        cast(&ws.hl),
        cast(&ws.gates),
        cast(&ws.ghn),
        cast(&ws.de),
        cast_mut(grad),
        cast_mut(&mut ws.tmp),
    ) else {
        return false;
    };
    let dx = if want_dx { cast_mut(&mut ws.dx) } else { None };
    // SAFETY: `isa` comes from `Workspace::isa`, which only yields available paths.
    unsafe {
        E::gru_backward_on(
            isa,
            gru::Backward {
                weights: (&th[wx..wx + f * g3], &th[wh..wh + h * g3]),
                record: (xl, hl, gl, nl),
                de,
                grad: g,
                offsets: (wx, wh, bx, bh),
                dx,
                scratch,
                dims: kd,
            },
        )
    };
    true
}

#[inline(always)]
pub(crate) fn gru_forward<T: Scalar, const FMA: bool>(
    theta: &[T],
    (wx, wh, bx, bh): (usize, usize, usize, usize),
    ws: &mut Workspace<T>,
    dims: Dims,
) {
    let Dims {
        rows,
        window,
        features: f,
        hidden: h,
    } = dims;
    let g = 3 * h;
    let stride = window * f;
    zeroed(&mut ws.hs, (window + 1) * rows * h);
    zeroed(&mut ws.gates, window * rows * g);
    zeroed(&mut ws.ghn, window * rows * h);
    zeroed(&mut ws.gx, rows * g);
    zeroed(&mut ws.gh, rows * g);
    let wx = &theta[wx..wx + f * g];
    let wh = &theta[wh..wh + h * g];
    let bx = &theta[bx..bx + g];
    let bh = &theta[bh..bh + g];
    for t in 0..window {
        fill_rows(&mut ws.gx, bx, rows, g);
        matmul_acc::<T, FMA>(&ws.x[t * f..], stride, wx, &mut ws.gx, rows, f, g);
        fill_rows(&mut ws.gh, bh, rows, g);
        let (past, future) = ws.hs.split_at_mut((t + 1) * rows * h);
        let h_prev = &past[t * rows * h..];
        if t > 0 {
            matmul_acc::<T, FMA>(h_prev, h, wh, &mut ws.gh, rows, h, g);
        }
        let h_next = &mut future[..rows * h];
        let gates = &mut ws.gates[t * rows * g..(t + 1) * rows * g];
        let ghn = &mut ws.ghn[t * rows * h..(t + 1) * rows * h];
        for r in 0..rows {
            let gx = &ws.gx[r * g..(r + 1) * g];
            let gh = &ws.gh[r * g..(r + 1) * g];
            let gt = &mut gates[r * g..(r + 1) * g];
            for j in 0..h {
                let rg = sigmoid(gx[j] + gh[j]);
                let zg = sigmoid(gx[h + j] + gh[h + j]);
                let ng = (gx[2 * h + j] + rg * gh[2 * h + j]).act_tanh();
                gt[j] = rg;
                gt[h + j] = zg;
                gt[2 * h + j] = ng;
                ghn[r * h + j] = gh[2 * h + j];
                let hp = h_prev[r * h + j];
                h_next[r * h + j] = (T::one() - zg) * ng + zg * hp;
            }
        }
    }
}

/// GRU backpropagation through time; see `papers/policy.md` for the derivation. Per step, with
/// `dh' = dL/dh_t`: `dn = dh' ⊙ (1 − z)`, `dz = dh' ⊙ (h − n)`, `dpre_n = dn ⊙ (1 − n²)`,
/// `dr = dpre_n ⊙ gh_n`, `dpre_r = dr ⊙ r(1 − r)`, `dpre_z = dz ⊙ z(1 − z)`;
/// `dgx = [dpre_r, dpre_z, dpre_n]`, `dgh = [dpre_r, dpre_z, dpre_n ⊙ r]`;
/// `dWx += x_tᵀ dgx`, `dbx += Σ dgx`, `dWh += hᵀ dgh`, `dbh += Σ dgh`,
/// `dh ← dh' ⊙ z + dgh Whᵀ`, `dx_t = dgx Wxᵀ`.
#[inline(always)]
pub(crate) fn gru_backward<T: Scalar, const FMA: bool>(
    theta: &[T],
    (wx, wh, bx, bh): (usize, usize, usize, usize),
    ws: &mut Workspace<T>,
    grad: &mut [T],
    dims: Dims,
    want_dx: bool,
) {
    let Dims {
        rows,
        window,
        features: f,
        hidden: h,
    } = dims;
    let g = 3 * h;
    let stride = window * f;
    let mut dh = std::mem::take(&mut ws.de);
    let mut next = std::mem::take(&mut ws.tmp);
    let mut wh_t = std::mem::take(&mut ws.wt);
    let mut wx_t = std::mem::take(&mut ws.wt2);
    transpose_into(&theta[wh..wh + h * g], h, g, &mut wh_t);
    transpose_into(&theta[wx..wx + f * g], f, g, &mut wx_t);
    if want_dx {
        zeroed(&mut ws.dx, rows * stride);
    }
    let one = T::one();
    for t in (0..window).rev() {
        let gates = &ws.gates[t * rows * g..(t + 1) * rows * g];
        let ghn = &ws.ghn[t * rows * h..(t + 1) * rows * h];
        let h_prev = &ws.hs[t * rows * h..(t + 1) * rows * h];
        // dgx in ws.gx, dgh in ws.gh (rows × 3H); dh ⊙ z into `next`.
        zeroed(&mut next, rows * h);
        for r in 0..rows {
            let gt = &gates[r * g..(r + 1) * g];
            let dgx = &mut ws.gx[r * g..(r + 1) * g];
            let dgh = &mut ws.gh[r * g..(r + 1) * g];
            for j in 0..h {
                let (rg, zg, ng) = (gt[j], gt[h + j], gt[2 * h + j]);
                let d = dh[r * h + j];
                let dn = d * (one - zg);
                let dz = d * (h_prev[r * h + j] - ng);
                let dpre_n = dn * (one - ng * ng);
                let dr = dpre_n * ghn[r * h + j];
                let dpre_r = dr * rg * (one - rg);
                let dpre_z = dz * zg * (one - zg);
                dgx[j] = dpre_r;
                dgx[h + j] = dpre_z;
                dgx[2 * h + j] = dpre_n;
                dgh[j] = dpre_r;
                dgh[h + j] = dpre_z;
                dgh[2 * h + j] = dpre_n * rg;
                next[r * h + j] = d * zg;
            }
        }
        matmul_at_b_acc::<T, FMA>(
            &ws.x[t * f..],
            stride,
            &ws.gx,
            &mut grad[wx..wx + f * g],
            rows,
            f,
            g,
        );
        col_sum_acc(&ws.gx, &mut grad[bx..bx + g], rows, g);
        col_sum_acc(&ws.gh, &mut grad[bh..bh + g], rows, g);
        if want_dx {
            for r in 0..rows {
                let dxr = &mut ws.dx[r * stride + t * f..r * stride + (t + 1) * f];
                let dr = &ws.gx[r * g..(r + 1) * g];
                for (j, &dj) in dr.iter().enumerate() {
                    let wrow = &wx_t[j * f..(j + 1) * f];
                    for (o, &w) in dxr.iter_mut().zip(wrow) {
                        *o = super::scalar::madd::<T, FMA>(*o, dj, w);
                    }
                }
            }
        }
        if t > 0 {
            matmul_at_b_acc::<T, FMA>(h_prev, h, &ws.gh, &mut grad[wh..wh + h * g], rows, h, g);
            matmul_acc::<T, FMA>(&ws.gh, g, &wh_t, &mut next, rows, g, h);
        }
        std::mem::swap(&mut dh, &mut next);
    }
    ws.de = dh;
    ws.tmp = next;
    ws.wt = wh_t;
    ws.wt2 = wx_t;
}

/// Forward pass of whichever encoder `layout` describes on the path `isa`. Returns whether the
/// embedding is already in `ws.emb` (the lane kernels write it); otherwise it is the last layer's
/// activations (MLP) or the last block of `ws.hs` (RNN).
#[inline(always)]
pub(crate) fn forward<T: Scalar, const FMA: bool>(
    theta: &[T],
    layout: &EncoderLayout,
    ws: &mut Workspace<T>,
    x: &[T],
    dims: Dims,
    isa: Isa,
) -> bool {
    // The lane kernels read `x` where it is and keep their own copy in lane layout.
    let on_lanes = match layout {
        EncoderLayout::Elman { wx, wh, b } => {
            on_lane_type!(elman_forward_lanes::<T>(
                theta,
                (*wx, *wh, *b),
                ws,
                (x, dims, isa)
            ))
        }
        EncoderLayout::Gru { wx, wh, bx, bh } => {
            on_lane_type!(gru_forward_lanes::<T>(
                theta,
                (*wx, *wh, *bx, *bh),
                ws,
                (x, dims, isa)
            ))
        }
        _ => false,
    };
    ws.on_lanes = on_lanes;
    if on_lanes {
        return true;
    }
    // The row-major kernels read (and their backward passes re-read) the inputs in `ws.x`.
    ws.x.clear();
    ws.x.extend_from_slice(x);
    match layout {
        EncoderLayout::Mlp(layers) => mlp_forward::<T, FMA>(theta, layers, ws, dims.rows),
        EncoderLayout::Elman { wx, wh, b } => elman_forward::<T, FMA>(theta, (*wx, *wh, *b), ws, dims),
        EncoderLayout::Gru { wx, wh, bx, bh } => gru_forward::<T, FMA>(theta, (*wx, *wh, *bx, *bh), ws, dims),
    }
    false
}

/// Backward pass of the encoder from `ws.de = dL/de` on the path `isa`.
#[inline(always)]
pub(crate) fn backward<T: Scalar, const FMA: bool>(
    theta: &[T],
    layout: &EncoderLayout,
    ws: &mut Workspace<T>,
    grad: &mut [T],
    (dims, isa): (Dims, Isa),
    want_dx: bool,
) {
    match layout {
        EncoderLayout::Mlp(layers) => mlp_backward::<T, FMA>(theta, layers, ws, grad, dims.rows, want_dx),
        EncoderLayout::Elman { wx, wh, b } => {
            let offsets = (*wx, *wh, *b);
            let run = (dims, isa, want_dx);
            if !(ws.on_lanes && on_lane_type!(elman_backward_lanes::<T>(theta, offsets, ws, grad, run))) {
                elman_backward::<T, FMA>(theta, offsets, ws, grad, dims, want_dx)
            }
        }
        EncoderLayout::Gru { wx, wh, bx, bh } => {
            // The record is in lane layout exactly when the forward pass ran on the lanes.
            let offsets = (*wx, *wh, *bx, *bh);
            let run = (dims, isa, want_dx);
            if !(ws.on_lanes && on_lane_type!(gru_backward_lanes::<T>(theta, offsets, ws, grad, run))) {
                gru_backward::<T, FMA>(theta, offsets, ws, grad, dims, want_dx)
            }
        }
    }
}
