//! Batched descents of the sum tree: the kernels behind [`TaskSampler::sample_many`]
//! (paper §5, "Select a task t ~ p"), one per instruction-set path ([`Isa`]).
//!
//! A descent takes `u ∈ [0, Σ q)` from the root to the task whose interval of the cumulative
//! priorities holds it. At a node with children `c` (left) and `c + 1` (right):
//!
//! ```text
//! go right  ⇔  u ≥ sum(c)  and  the right subtree holds a real task
//! u ← u − sum(c)   if go right (else u − 0, which is u bit for bit)
//! ```
//!
//! **Structural right test.** [`TaskSampler::find`] asks `sum(c + 1) > 0`. Every real task has
//! a priority that is finite and `> 0` (the sampler's invariant), padding leaves are 0, and a
//! rounded sum of non-negative numbers is at least their largest term; so `sum(c + 1) > 0`
//! exactly when the subtree of `c + 1` holds a real task, i.e. when `c + 1` is at most the last
//! node of its depth whose subtree starts before task `T` ([`Tree::last_real`]). The kernels
//! test that index instead of loading the sibling: one load per level instead of two, and the
//! same go-right decisions, hence the same task, as `find`.
//!
//! **Same bits on every path.** Each lane performs exactly the comparisons, additions and
//! subtractions of the scalar descent ([`descend_one`]) in the same order; the SIMD paths only
//! run 8 (AVX-512) or 4 (AVX2) lanes per register and several registers side by side, so their
//! loads overlap. `tests/sampler.rs` forces every available path and compares the tasks with
//! repeated [`TaskSampler::sample`] calls.
//!
//! # Safety
//! The AVX2 and AVX-512 kernels are `unsafe fn`s that need their instruction sets (the caller
//! checks [`Isa::is_available`]) and a [`Tree`] whose invariants hold (checked by
//! [`Tree::check`] in debug builds): every gathered index is then in bounds.
//!
//! [`TaskSampler::sample_many`]: super::TaskSampler::sample_many
//! [`TaskSampler::find`]: super::TaskSampler::find
//! [`TaskSampler::sample`]: super::TaskSampler::sample
// Lane loops index several arrays at once.
#![allow(clippy::needless_range_loop)]

use crate::policy::Isa;

/// A read-only view of the sampler's trees, as the kernels need it.
///
/// Invariants (established by `TaskSampler`): `blocks = 2^depth ≥ 1`; `sum.len() = 2·blocks`
/// (node 1 the root, node `i` with children `2i` and `2i + 1`, block `b` at node `blocks + b`);
/// `q.len() = 8·⌈tasks / 8⌉ ≤ 8·blocks` (priorities, then 0 padding); `last_real.len() =
/// depth + 1`, and `last_real[d] = 2^d + ((⌈tasks/8⌉ − 1) >> (depth − d))`, the last node at
/// depth `d` whose subtree holds a task `< tasks`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Tree<'a> {
    /// Stored nodes of the sum tree, down to the blocks.
    pub sum: &'a [f64],
    /// The priorities `q_t`, padded with zeros to whole blocks of 8.
    pub q: &'a [f64],
    /// `L / 8`, a power of two.
    pub blocks: usize,
    /// `T`.
    pub tasks: usize,
    /// `log2(blocks)`: the stored levels below the root.
    pub depth: usize,
    /// Per depth, the last node whose subtree holds a real task.
    pub last_real: &'a [usize],
}

/// `last_real` of a tree over `tasks` tasks with `blocks = 2^depth` blocks (see [`Tree`]).
pub(super) fn last_real_nodes(tasks: usize, blocks: usize) -> Vec<usize> {
    let depth = blocks.trailing_zeros() as usize;
    let last_block = tasks.div_ceil(8) - 1;
    (0..=depth)
        .map(|d| (1usize << d) + (last_block >> (depth - d)))
        .collect()
}

impl Tree<'_> {
    /// Whether the invariants the kernels rely on hold.
    pub fn check(&self) -> bool {
        self.blocks.is_power_of_two()
            && self.blocks == 1 << self.depth
            && self.sum.len() == 2 * self.blocks
            && self.tasks >= 1
            && self.q.len() == 8 * self.tasks.div_ceil(8)
            && self.q.len() <= 8 * self.blocks
            && self.last_real == last_real_nodes(self.tasks, self.blocks).as_slice()
    }
}

/// `v` if `go`, else `+0.0`, without a branch.
#[inline(always)]
fn take(go: bool, v: f64) -> f64 {
    f64::from_bits(v.to_bits() & u64::from(go).wrapping_neg())
}

/// One descent from the root, scalar: the reference every path reproduces.
#[inline]
pub(super) fn descend_one(t: &Tree, mut u: f64) -> usize {
    let mut node = 1usize;
    for d in 0..t.depth {
        let c = 2 * node;
        let go = (u >= t.sum[c]) & (c < t.last_real[d + 1]);
        u -= take(go, t.sum[c]);
        node = c + usize::from(go);
    }
    finish_in_block(t, node, u)
}

/// The three levels inside the block of stored node `node`, from its eight priorities summed in
/// the binary tree's order: `((q0 + q1) + (q2 + q3))` on the left of the block, then a pair
/// `q_o + q_{o+1}`, then a leaf; a right side is taken only if it starts before task `T`.
#[inline(always)]
fn finish_in_block(t: &Tree, node: usize, mut u: f64) -> usize {
    let base = (node - t.blocks) * 8;
    let q = &t.q[base..base + 8];
    let left = (q[0] + q[1]) + (q[2] + q[3]);
    let go = (u >= left) & (base + 4 < t.tasks);
    u -= take(go, left);
    let mut o = 4 * usize::from(go);
    let left = q[o] + q[o + 1];
    let go = (u >= left) & (base + o + 2 < t.tasks);
    u -= take(go, left);
    o += 2 * usize::from(go);
    o += usize::from((u >= q[o]) & (base + o + 1 < t.tasks));
    (base + o).min(t.tasks - 1)
}

/// Portable lanes side by side: the tasks of `u.len()` descents (`u.len() = out.len()`).
fn descend_portable(t: &Tree, u: &[f64], out: &mut [usize]) {
    const N: usize = 8;
    let mut chunks = u.chunks_exact(N);
    let mut outs = out.chunks_exact_mut(N);
    for (uc, oc) in (&mut chunks).zip(&mut outs) {
        let mut v = [0.0; N];
        v.copy_from_slice(uc);
        let mut node = [1usize; N];
        for d in 0..t.depth {
            let last = t.last_real[d + 1];
            for k in 0..N {
                let c = 2 * node[k];
                let left = t.sum[c];
                let go = (v[k] >= left) & (c < last);
                v[k] -= take(go, left);
                node[k] = c + usize::from(go);
            }
        }
        for k in 0..N {
            oc[k] = finish_in_block(t, node[k], v[k]);
        }
    }
    for (o, &uk) in outs.into_remainder().iter_mut().zip(chunks.remainder()) {
        *o = descend_one(t, uk);
    }
}

/// Draws per call of the widest kernel: the batch is processed in chunks of this many, the
/// rest by [`descend_one`].
#[cfg(target_arch = "x86_64")]
const CHUNK: usize = 32;

/// The tasks of the descents of `u` (`out[k]` for `u[k]`), on path `isa`.
///
/// # Panics
/// If `u.len() != out.len()`, or (debug builds) if `tree` breaks its invariants.
pub(super) fn descend_batch(isa: Isa, t: &Tree, u: &[f64], out: &mut [usize]) {
    assert_eq!(u.len(), out.len(), "one residual per output");
    debug_assert!(t.check(), "sum-tree invariants");
    match isa {
        #[cfg(target_arch = "x86_64")]
        Isa::Avx512 if isa.is_available() => {
            let mut chunks = u.chunks_exact(CHUNK);
            let mut outs = out.chunks_exact_mut(CHUNK);
            for (uc, oc) in (&mut chunks).zip(&mut outs) {
                // SAFETY: AVX-512F is available (checked above); the tree's invariants hold
                // (established by TaskSampler, checked in debug builds); both chunks hold
                // CHUNK = 32 values.
                unsafe { x86::descend_avx512(t, uc, oc) };
            }
            descend_portable(t, chunks.remainder(), outs.into_remainder());
        }
        #[cfg(target_arch = "x86_64")]
        Isa::Avx2 | Isa::Avx512 if Isa::Avx2.is_available() => {
            let mut chunks = u.chunks_exact(x86::AVX2_CHUNK);
            let mut outs = out.chunks_exact_mut(x86::AVX2_CHUNK);
            for (uc, oc) in (&mut chunks).zip(&mut outs) {
                // SAFETY: AVX2 is available (checked above); the tree's invariants hold; both
                // chunks hold AVX2_CHUNK = 16 values.
                unsafe { x86::descend_avx2(t, uc, oc) };
            }
            descend_portable(t, chunks.remainder(), outs.into_remainder());
        }
        _ => descend_portable(t, u, out),
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use super::{Tree, CHUNK};
    use std::arch::x86_64::*;

    /// Draws per call of the AVX2 kernel.
    pub(super) const AVX2_CHUNK: usize = 16;

    /// [`super::descend_one`] for 32 draws: four registers of 8 lanes, side by side.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `t` must satisfy [`Tree`]'s invariants; `u` and `out`
    /// must hold 32 values each.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn descend_avx512(t: &Tree, u: &[f64], out: &mut [usize]) {
        const G: usize = CHUNK / 8;
        debug_assert!(u.len() == CHUNK && out.len() == CHUNK);
        let sum = t.sum.as_ptr();
        let q = t.q.as_ptr();
        let one = _mm512_set1_epi64(1);
        let mut v = [_mm512_setzero_pd(); G];
        let mut node = [one; G];
        for g in 0..G {
            v[g] = _mm512_loadu_pd(u.as_ptr().add(8 * g));
        }
        for d in 0..t.depth {
            let last = _mm512_set1_epi64(t.last_real[d + 1] as i64);
            for g in 0..G {
                let c = _mm512_add_epi64(node[g], node[g]);
                // In bounds: c < 2·blocks = sum.len() (c is a node at depth ≤ depth).
                let left = _mm512_i64gather_pd::<8>(c, sum);
                let real = _mm512_cmplt_epi64_mask(c, last);
                let go = _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>(real, v[g], left);
                v[g] = _mm512_mask_sub_pd(v[g], go, v[g], left);
                node[g] = _mm512_mask_add_epi64(c, go, c, one);
            }
        }
        let blocks = _mm512_set1_epi64(t.blocks as i64);
        let tasks = _mm512_set1_epi64(t.tasks as i64);
        let last_task = _mm512_set1_epi64(t.tasks as i64 - 1);
        let (two, four) = (_mm512_set1_epi64(2), _mm512_set1_epi64(4));
        for g in 0..G {
            // The node is a block holding a real task, so base + 7 < q.len().
            let base = _mm512_slli_epi64::<3>(_mm512_sub_epi64(node[g], blocks));
            let q0 = _mm512_i64gather_pd::<8>(base, q);
            let q1 = _mm512_i64gather_pd::<8>(base, q.add(1));
            let q2 = _mm512_i64gather_pd::<8>(base, q.add(2));
            let q3 = _mm512_i64gather_pd::<8>(base, q.add(3));
            let left = _mm512_add_pd(_mm512_add_pd(q0, q1), _mm512_add_pd(q2, q3));
            let real = _mm512_cmplt_epi64_mask(_mm512_add_epi64(base, four), tasks);
            let go = _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>(real, v[g], left);
            let mut x = _mm512_mask_sub_pd(v[g], go, v[g], left);
            let mut i = _mm512_mask_add_epi64(base, go, base, four);
            let qa = _mm512_i64gather_pd::<8>(i, q);
            let qb = _mm512_i64gather_pd::<8>(i, q.add(1));
            let left = _mm512_add_pd(qa, qb);
            let real = _mm512_cmplt_epi64_mask(_mm512_add_epi64(i, two), tasks);
            let go = _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>(real, x, left);
            x = _mm512_mask_sub_pd(x, go, x, left);
            i = _mm512_mask_add_epi64(i, go, i, two);
            let qc = _mm512_i64gather_pd::<8>(i, q);
            let real = _mm512_cmplt_epi64_mask(_mm512_add_epi64(i, one), tasks);
            let go = _mm512_mask_cmp_pd_mask::<_CMP_GE_OQ>(real, x, qc);
            i = _mm512_mask_add_epi64(i, go, i, one);
            i = _mm512_min_epu64(i, last_task);
            _mm512_storeu_si512(out.as_mut_ptr().add(8 * g).cast(), i);
        }
    }

    /// `v` where `mask` is all ones, `+0.0` where it is zero.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn take4(mask: __m256d, v: __m256d) -> __m256d {
        _mm256_and_pd(mask, v)
    }

    /// All ones where `a ≥ b` (ordered: false for NaN), as Rust's `>=`.
    #[target_feature(enable = "avx2")]
    #[inline]
    fn ge(a: __m256d, b: __m256d) -> __m256d {
        _mm256_cmp_pd::<_CMP_GE_OQ>(a, b)
    }

    /// All ones where `a < b` (signed 64-bit; indices are below 2^63).
    #[target_feature(enable = "avx2")]
    #[inline]
    fn lt(a: __m256i, b: __m256i) -> __m256d {
        _mm256_castsi256_pd(_mm256_cmpgt_epi64(b, a))
    }

    /// [`super::descend_one`] for 16 draws: four registers of 4 lanes, side by side.
    ///
    /// # Safety
    /// The CPU must support AVX2; `t` must satisfy [`Tree`]'s invariants; `u` and `out` must
    /// hold 16 values each.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn descend_avx2(t: &Tree, u: &[f64], out: &mut [usize]) {
        const G: usize = AVX2_CHUNK / 4;
        debug_assert!(u.len() == AVX2_CHUNK && out.len() == AVX2_CHUNK);
        let sum = t.sum.as_ptr();
        let q = t.q.as_ptr();
        let one = _mm256_set1_epi64x(1);
        let mut v = [_mm256_setzero_pd(); G];
        let mut node = [one; G];
        for g in 0..G {
            v[g] = _mm256_loadu_pd(u.as_ptr().add(4 * g));
        }
        // Masks are all-ones lanes (−1 as an integer): `node = c − mask` adds 1 where set.
        for d in 0..t.depth {
            let last = _mm256_set1_epi64x(t.last_real[d + 1] as i64);
            for g in 0..G {
                let c = _mm256_add_epi64(node[g], node[g]);
                let left = _mm256_i64gather_pd::<8>(sum, c);
                let go = _mm256_and_pd(ge(v[g], left), lt(c, last));
                v[g] = _mm256_sub_pd(v[g], take4(go, left));
                node[g] = _mm256_sub_epi64(c, _mm256_castpd_si256(go));
            }
        }
        let blocks = _mm256_set1_epi64x(t.blocks as i64);
        let tasks = _mm256_set1_epi64x(t.tasks as i64);
        let last_task = _mm256_set1_epi64x(t.tasks as i64 - 1);
        let (two, four) = (_mm256_set1_epi64x(2), _mm256_set1_epi64x(4));
        for g in 0..G {
            let base = _mm256_slli_epi64::<3>(_mm256_sub_epi64(node[g], blocks));
            let q0 = _mm256_i64gather_pd::<8>(q, base);
            let q1 = _mm256_i64gather_pd::<8>(q.add(1), base);
            let q2 = _mm256_i64gather_pd::<8>(q.add(2), base);
            let q3 = _mm256_i64gather_pd::<8>(q.add(3), base);
            let left = _mm256_add_pd(_mm256_add_pd(q0, q1), _mm256_add_pd(q2, q3));
            let go = _mm256_and_pd(ge(v[g], left), lt(_mm256_add_epi64(base, four), tasks));
            let mut x = _mm256_sub_pd(v[g], take4(go, left));
            let mut i = _mm256_add_epi64(base, _mm256_and_si256(_mm256_castpd_si256(go), four));
            let qa = _mm256_i64gather_pd::<8>(q, i);
            let qb = _mm256_i64gather_pd::<8>(q.add(1), i);
            let left = _mm256_add_pd(qa, qb);
            let go = _mm256_and_pd(ge(x, left), lt(_mm256_add_epi64(i, two), tasks));
            x = _mm256_sub_pd(x, take4(go, left));
            i = _mm256_add_epi64(i, _mm256_and_si256(_mm256_castpd_si256(go), two));
            let qc = _mm256_i64gather_pd::<8>(q, i);
            let go = _mm256_and_pd(ge(x, qc), lt(_mm256_add_epi64(i, one), tasks));
            i = _mm256_sub_epi64(i, _mm256_castpd_si256(go));
            // min(i, T − 1): indices are < 2^63, so the signed comparison is the unsigned one.
            let over = _mm256_cmpgt_epi64(i, last_task);
            i = _mm256_blendv_epi8(i, last_task, over);
            _mm256_storeu_si256(out.as_mut_ptr().add(4 * g).cast(), i);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SamplerConfig, TaskSampler};
    use super::*;
    use rand::{RngExt, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    /// Residuals that probe every boundary: the cumulative sums themselves and one ulp either
    /// side, the total and past it, zero, negatives, infinities and NaN, plus random ones.
    fn probes(s: &TaskSampler, rng: &mut ChaCha8Rng) -> Vec<f64> {
        let total = s.total_priority();
        let mut u = vec![
            0.0,
            -0.0,
            -1.0,
            f64::NEG_INFINITY,
            f64::INFINITY,
            f64::NAN,
            total,
            total.next_up(),
            total.next_down(),
            f64::MAX,
        ];
        let mut c = 0.0;
        for &q in s.priorities().iter().take(300) {
            c += q;
            u.extend([c, c.next_up(), c.next_down()]);
        }
        u.extend((0..400).map(|_| rng.random::<f64>() * total));
        u
    }

    #[test]
    fn every_path_lands_where_find_lands() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        for tasks in [1usize, 2, 7, 8, 9, 15, 16, 17, 63, 64, 65, 1000, 4097] {
            for spread in [0.0, 3.0, 150.0] {
                let scores: Vec<f64> = (0..tasks)
                    .map(|_| 10f64.powf(rng.random_range(-1.0..=1.0) * spread))
                    .collect();
                let config = SamplerConfig {
                    alpha: 1.0,
                    ..SamplerConfig::default()
                };
                let s = TaskSampler::from_scores(&scores, config).unwrap();
                let tree = s.tree();
                assert!(tree.check());
                let u = probes(&s, &mut rng);
                let want: Vec<usize> = u.iter().map(|&x| s.find(x)).collect();
                assert_eq!(
                    u.iter().map(|&x| descend_one(&tree, x)).collect::<Vec<_>>(),
                    want,
                    "scalar descent, T = {tasks}"
                );
                for isa in Isa::ALL {
                    let mut got = vec![usize::MAX; u.len()];
                    descend_batch(isa, &tree, &u, &mut got);
                    assert_eq!(got, want, "T = {tasks}, spread {spread}, {isa:?}");
                }
            }
        }
    }

    #[test]
    fn last_real_nodes_mark_the_subtrees_that_hold_tasks() {
        for tasks in 1..200usize {
            let blocks = tasks.max(8).next_power_of_two() / 8;
            let last = last_real_nodes(tasks, blocks);
            let depth = blocks.trailing_zeros() as usize;
            for (d, &l) in last.iter().enumerate() {
                // Node i at depth d covers blocks (i − 2^d)·2^(depth − d) onwards; it holds a
                // task iff its first leaf is < T.
                for i in (1usize << d)..(2usize << d) {
                    let first_leaf = (i - (1 << d)) << (depth - d) << 3;
                    assert_eq!(i <= l, first_leaf < tasks, "T = {tasks}, depth {d}, node {i}");
                }
            }
        }
    }
}
