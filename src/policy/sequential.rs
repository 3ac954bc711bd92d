//! Running the policy over a sequence of decisions whose previous-allocation input depends on the
//! previous decision (a back-test: `w_{n}` is the drift of the action `a_n`).
//!
//! The encoder does not see the previous allocation, so the embeddings `e_{n,i}` of all steps are
//! computed in one batched pass; only the cheap score head and softmax run step by step. The
//! result equals calling [`EquivariantPolicy::forward`] once per step (up to the last bits where
//! the batched pass uses fused multiply-add).

use super::{head, EquivariantPolicy, Input, Scalar, Shape, Workspace};
use crate::error::{Error, Result};

impl<T: Scalar> EquivariantPolicy<T> {
    /// Allocations for `steps = shape.batch` consecutive decisions over `shape.entities` entities.
    ///
    /// `x` holds every step's features (`[step][entity][window][features]`); the previous
    /// allocation of step 0 is `initial_prev`; after each step `n`, `next_prev(n, a_n, prev)` must
    /// write the previous allocation of step `n + 1` into `prev` (for a portfolio: the drift of
    /// `a_n`). Returns all allocations, `[step][entity]`.
    ///
    /// # Errors
    /// The errors of [`forward`](Self::forward); a policy without previous-allocation input (use
    /// `forward` directly); `initial_prev` of the wrong length; errors returned by `next_prev`;
    /// a non-finite previous allocation written by `next_prev`.
    pub fn forward_sequential(
        &self,
        x: &[T],
        shape: Shape,
        initial_prev: &[T],
        mut next_prev: impl FnMut(usize, &[T], &mut [T]) -> Result<()>,
    ) -> Result<Vec<T>> {
        if !self.config.previous_allocation {
            return Err(Error::param(
                "previous_allocation",
                false,
                "forward_sequential needs a policy that reads previous allocations",
            ));
        }
        let m = shape.entities;
        if initial_prev.len() != m {
            return Err(Error::shape("initial previous allocation", m, initial_prev.len()));
        }
        let zeros = vec![T::zero(); shape.rows()];
        let mut batched = Workspace::new();
        self.forward(&Input::new(x, Some(&zeros), shape), &mut batched)?;
        let h = self.config.embedding_dim();
        let one = Shape::new(1, m, shape.window);
        let mut ws = Workspace::new();
        let mut prev = initial_prev.to_vec();
        crate::error::check_finite("initial previous allocation", &prev)?;
        let mut out = Vec::with_capacity(shape.rows());
        for n in 0..shape.batch {
            ws.emb.clear();
            ws.emb.extend_from_slice(&batched.emb[n * m * h..(n + 1) * m * h]);
            ws.prev.clear();
            ws.prev.extend_from_slice(&prev);
            head::forward::<T, false>(&self.params, &self.layout, &self.config, &mut ws, one);
            out.extend_from_slice(&ws.alloc);
            if n + 1 < shape.batch {
                next_prev(n, &ws.alloc, &mut prev)?;
                crate::error::check_finite("previous allocation from next_prev", &prev)?;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::PolicyConfig;

    /// Same allocations as one `forward` per step, with the previous allocation fed back.
    #[test]
    fn matches_step_by_step_forward() {
        let mut cfg = PolicyConfig::paper_portfolio(2);
        cfg.score_hidden = 3;
        cfg.pooled_context = true;
        let p = EquivariantPolicy::<f64>::new(cfg, 4).unwrap();
        let (steps, m, w) = (6, 4, 5);
        let x: Vec<f64> = (0..steps * m * w * 2)
            .map(|i| ((i as f64) * 0.37).sin())
            .collect();
        let feed = |_: usize, a: &[f64], prev: &mut [f64]| -> Result<()> {
            for (p, a) in prev.iter_mut().zip(a) {
                *p = 0.5 * a + 0.5 / 4.0;
            }
            Ok(())
        };
        let seq = p
            .forward_sequential(&x, Shape::new(steps, m, w), &[0.25; 4], feed)
            .unwrap();
        let mut prev = vec![0.25; 4];
        for n in 0..steps {
            let xn = &x[n * m * w * 2..(n + 1) * m * w * 2];
            let a = p
                .allocate(&Input::new(xn, Some(&prev), Shape::new(1, m, w)))
                .unwrap();
            for (u, v) in a.iter().zip(&seq[n * m..(n + 1) * m]) {
                assert!((u - v).abs() < 1e-12, "step {n}: {u} vs {v}");
            }
            let mut next = vec![0.0; 4];
            feed(n, &a, &mut next).unwrap();
            prev = next;
        }
        assert!(p
            .forward_sequential(&x, Shape::new(steps, m, w), &[0.25; 3], feed)
            .is_err());
    }
}
