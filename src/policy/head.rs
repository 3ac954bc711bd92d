//! The shared score head and the softmax over a task's entities (§5, §A.1).
//!
//! Each entity's score input is `u_i = [e_i, w_i, c]`: its embedding, optionally its previous
//! allocation `w_i`, optionally the pooled context `c = (1/m) Σ_j e_j`. The score is
//! `s_i = v · u_i` (the paper's dense layer; no bias, since the softmax cancels it) or, with a
//! hidden layer of `K` units, `s_i = v · tanh(u_i A + a)`. The allocation of each batch row is
//! `a = softmax(s)` over the row's `m` entities.

use super::config::{Layout, PolicyConfig};
use super::encoder::{fill_rows, tanh_in_place};
use super::scalar::{col_sum_acc, madd, matmul_acc, matmul_at_b_acc, transpose_into, zeroed, Scalar};
use super::{Shape, Workspace};

/// Scores and allocations from `ws.emb` (R×H) and `ws.prev`.
#[inline(always)]
pub(crate) fn forward<T: Scalar, const FMA: bool>(
    theta: &[T],
    layout: &Layout,
    config: &PolicyConfig,
    ws: &mut Workspace<T>,
    shape: Shape,
) {
    let (b_n, m, rows) = (shape.batch, shape.entities, shape.rows());
    let h = config.embedding_dim();
    let k = config.score_hidden;
    let inv_m = T::one() / T::of(m as f64);
    if config.pooled_context {
        zeroed(&mut ws.ctx, b_n * h);
        for b in 0..b_n {
            let c = &mut ws.ctx[b * h..(b + 1) * h];
            for i in 0..m {
                for (cj, &ej) in c.iter_mut().zip(&ws.emb[(b * m + i) * h..(b * m + i + 1) * h]) {
                    *cj += ej;
                }
            }
            for cj in c.iter_mut() {
                *cj *= inv_m;
            }
        }
    }
    zeroed(&mut ws.scores, rows);
    if k == 0 {
        let v = &theta[layout.head_v..layout.head_v + h];
        for r in 0..rows {
            let mut s = T::zero();
            for (&vj, &ej) in v.iter().zip(&ws.emb[r * h..(r + 1) * h]) {
                s = madd::<T, FMA>(s, vj, ej);
            }
            if config.previous_allocation {
                s = madd::<T, FMA>(s, theta[layout.head_v + h], ws.prev[r]);
            }
            ws.scores[r] = s;
        }
    } else {
        let a_e = &theta[layout.head_a..layout.head_a + h * k];
        let mut next_row = layout.head_a + h * k;
        zeroed(&mut ws.hid, rows * k);
        fill_rows(
            &mut ws.hid,
            &theta[layout.head_bias..layout.head_bias + k],
            rows,
            k,
        );
        matmul_acc::<T, FMA>(&ws.emb, h, a_e, &mut ws.hid, rows, h, k);
        if config.previous_allocation {
            let a_p = &theta[next_row..next_row + k];
            next_row += k;
            for r in 0..rows {
                let p = ws.prev[r];
                for (o, &w) in ws.hid[r * k..(r + 1) * k].iter_mut().zip(a_p) {
                    *o = madd::<T, FMA>(*o, p, w);
                }
            }
        }
        if config.pooled_context {
            let a_c = &theta[next_row..next_row + h * k];
            zeroed(&mut ws.tmp, b_n * k);
            matmul_acc::<T, FMA>(&ws.ctx, h, a_c, &mut ws.tmp, b_n, h, k);
            for r in 0..rows {
                let b = r / m;
                for (o, &c) in ws.hid[r * k..(r + 1) * k]
                    .iter_mut()
                    .zip(&ws.tmp[b * k..(b + 1) * k])
                {
                    *o += c;
                }
            }
        }
        tanh_in_place(&mut ws.hid);
        let v = &theta[layout.head_v..layout.head_v + k];
        for r in 0..rows {
            let mut s = T::zero();
            for (&vj, &zj) in v.iter().zip(&ws.hid[r * k..(r + 1) * k]) {
                s = madd::<T, FMA>(s, vj, zj);
            }
            ws.scores[r] = s;
        }
    }
    zeroed(&mut ws.alloc, rows);
    for b in 0..b_n {
        crate::simplex::softmax_into(&ws.scores[b * m..(b + 1) * m], &mut ws.alloc[b * m..(b + 1) * m]);
    }
}

/// From `dl_da` (R), accumulates the head's parameter gradient into `grad` and writes
/// `ws.de = dL/de` (R×H) and `ws.dprev = dL/dw` (R).
///
/// Softmax: `ds = a ⊙ (g − Σ_j a_j g_j)` per row. Linear head: `dv += Σ_r ds_r u_r`,
/// `du_r = ds_r v`. Hidden head: `dpre_r = ds_r v ⊙ (1 − z_r²)`, `dv += Σ_r ds_r z_r`,
/// `dA += Σ_r u_rᵀ dpre_r`, `da += Σ_r dpre_r`, `du_r = dpre_r Aᵀ`. The context's share
/// `dc_b = Σ_i du_{b,i}[c]` flows back to every embedding of the row as `dc_b / m`.
#[inline(always)]
pub(crate) fn backward<T: Scalar, const FMA: bool>(
    theta: &[T],
    layout: &Layout,
    config: &PolicyConfig,
    ws: &mut Workspace<T>,
    grad: &mut [T],
    shape: Shape,
    dl_da: &[T],
) {
    let (b_n, m, rows) = (shape.batch, shape.entities, shape.rows());
    let h = config.embedding_dim();
    let k = config.score_hidden;
    zeroed(&mut ws.ds, rows);
    for b in 0..b_n {
        crate::simplex::softmax_vjp(
            &ws.alloc[b * m..(b + 1) * m],
            &dl_da[b * m..(b + 1) * m],
            &mut ws.ds[b * m..(b + 1) * m],
        );
    }
    zeroed(&mut ws.de, rows * h);
    zeroed(&mut ws.dprev, rows);
    if k == 0 {
        let (v, gv) = (layout.head_v, layout.head_v);
        for r in 0..rows {
            let ds = ws.ds[r];
            let e = &ws.emb[r * h..(r + 1) * h];
            for (g, &ej) in grad[gv..gv + h].iter_mut().zip(e) {
                *g = madd::<T, FMA>(*g, ds, ej);
            }
            for (d, &vj) in ws.de[r * h..(r + 1) * h].iter_mut().zip(&theta[v..v + h]) {
                *d = ds * vj;
            }
            if config.previous_allocation {
                grad[gv + h] = madd::<T, FMA>(grad[gv + h], ds, ws.prev[r]);
                ws.dprev[r] = ds * theta[v + h];
            }
        }
        return;
    }
    // Hidden head. dpre lives in ws.hid's twin ws.dhid.
    let one = T::one();
    zeroed(&mut ws.dhid, rows * k);
    let v = &theta[layout.head_v..layout.head_v + k];
    for r in 0..rows {
        let ds = ws.ds[r];
        let z = &ws.hid[r * k..(r + 1) * k];
        for (g, &zj) in grad[layout.head_v..layout.head_v + k].iter_mut().zip(z) {
            *g = madd::<T, FMA>(*g, ds, zj);
        }
        for ((d, &vj), &zj) in ws.dhid[r * k..(r + 1) * k].iter_mut().zip(v).zip(z) {
            *d = ds * vj * (one - zj * zj);
        }
    }
    let a_e = layout.head_a;
    matmul_at_b_acc::<T, FMA>(&ws.emb, h, &ws.dhid, &mut grad[a_e..a_e + h * k], rows, h, k);
    col_sum_acc(
        &ws.dhid,
        &mut grad[layout.head_bias..layout.head_bias + k],
        rows,
        k,
    );
    transpose_into(&theta[a_e..a_e + h * k], h, k, &mut ws.wt);
    matmul_acc::<T, FMA>(&ws.dhid, k, &ws.wt, &mut ws.de, rows, k, h);
    let mut next_row = a_e + h * k;
    if config.previous_allocation {
        let a_p = next_row;
        next_row += k;
        for r in 0..rows {
            let d = &ws.dhid[r * k..(r + 1) * k];
            let p = ws.prev[r];
            let mut dp = T::zero();
            for (j, &dj) in d.iter().enumerate() {
                grad[a_p + j] = madd::<T, FMA>(grad[a_p + j], p, dj);
                dp = madd::<T, FMA>(dp, dj, theta[a_p + j]);
            }
            ws.dprev[r] = dp;
        }
    }
    if config.pooled_context {
        let a_c = next_row;
        // dsum_b = Σ_i dpre_{b,i}  (B×K)
        zeroed(&mut ws.tmp, b_n * k);
        for r in 0..rows {
            let b = r / m;
            for (o, &d) in ws.tmp[b * k..(b + 1) * k]
                .iter_mut()
                .zip(&ws.dhid[r * k..(r + 1) * k])
            {
                *o += d;
            }
        }
        matmul_at_b_acc::<T, FMA>(&ws.ctx, h, &ws.tmp, &mut grad[a_c..a_c + h * k], b_n, h, k);
        // dc_b = dsum_b A_cᵀ (B×H), spread as dc_b / m to each entity of row b.
        transpose_into(&theta[a_c..a_c + h * k], h, k, &mut ws.wt);
        zeroed(&mut ws.dctx, b_n * h);
        matmul_acc::<T, FMA>(&ws.tmp, k, &ws.wt, &mut ws.dctx, b_n, k, h);
        let inv_m = one / T::of(m as f64);
        for r in 0..rows {
            let b = r / m;
            for (d, &c) in ws.de[r * h..(r + 1) * h]
                .iter_mut()
                .zip(&ws.dctx[b * h..(b + 1) * h])
            {
                *d = madd::<T, FMA>(*d, c, inv_m);
            }
        }
    }
}
