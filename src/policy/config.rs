//! Architecture of the equivariant policy (§5, §A.1) and the layout of its flat parameter vector.

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Largest supported parameter count (2^30): a guard against absurd sizes in untrusted files.
pub const MAX_PARAMS: usize = 1 << 30;

/// The recurrent cell of a [`EncoderConfig::Recurrent`] encoder.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Cell {
    /// Elman RNN, the paper's cell (§A.1): `h_t = tanh(x_t Wx + h_{t−1} Wh + b)`.
    Elman,
    /// Gated recurrent unit (PyTorch's convention):
    /// `r = σ(x Wx_r + bx_r + h Wh_r + bh_r)`, `z = σ(x Wx_z + bx_z + h Wh_z + bh_z)`,
    /// `n = tanh(x Wx_n + bx_n + r ⊙ (h Wh_n + bh_n))`, `h' = (1 − z) ⊙ n + z ⊙ h`.
    Gru,
}

/// The per-entity encoder, shared by all entities (this sharing is what makes the policy
/// permutation-equivariant, Definition 1).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EncoderConfig {
    /// A tanh MLP over one feature vector per entity: `e = tanh(… tanh(x W_1 + b_1) … W_L + b_L)`.
    /// Inputs must have window length 1.
    Mlp {
        /// Features per entity.
        features: usize,
        /// Width of each hidden layer, first to last (at least one layer).
        hidden: Vec<usize>,
    },
    /// A recurrent encoder over a window of `window` steps of `features` values per entity; the
    /// embedding is the last hidden state `h_W`, with `h_0 = 0`.
    Recurrent {
        /// Elman (tanh) or GRU.
        cell: Cell,
        /// Features per step.
        features: usize,
        /// Hidden units.
        hidden: usize,
    },
}

/// Everything that determines the network's shape. Serialised with every saved policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PolicyConfig {
    /// The shared per-entity encoder.
    pub encoder: EncoderConfig,
    /// Append each entity's previous allocation `w_{i,n−1}` to its embedding before scoring (§A.1).
    pub previous_allocation: bool,
    /// Append the pooled context `c = (1/m) Σ_i e_i` (mean of the task's embeddings) to every
    /// entity's score input. Keeps equivariance while letting entities interact. Needs
    /// `score_hidden > 0`: a term linear in `c` is the same for every entity of a row and the
    /// softmax cancels it.
    pub pooled_context: bool,
    /// Hidden units of the score head. 0 is the paper's single dense layer `s_i = v · u_i`;
    /// `K > 0` gives `s_i = v · tanh(u_i A + a)`.
    pub score_hidden: usize,
    /// Scale of the initial output weights `v`. Small values start the policy near the equal
    /// allocation (the paper's "weights initialised close to zero behave like Equal CRP").
    pub output_init_scale: f64,
}

impl PolicyConfig {
    /// The paper's portfolio network (§A.1): Elman RNN with 25 hidden units over `features`
    /// values per day, previous allocation appended, one dense layer to a score, softmax.
    pub fn paper_portfolio(features: usize) -> Self {
        PolicyConfig {
            encoder: EncoderConfig::Recurrent {
                cell: Cell::Elman,
                features,
                hidden: 25,
            },
            previous_allocation: true,
            pooled_context: false,
            score_hidden: 0,
            output_init_scale: 1.0,
        }
    }

    /// An MLP policy over `features` values per entity with the given hidden widths and a linear
    /// score head, no previous allocation.
    pub fn mlp(features: usize, hidden: Vec<usize>) -> Self {
        PolicyConfig {
            encoder: EncoderConfig::Mlp { features, hidden },
            previous_allocation: false,
            pooled_context: false,
            score_hidden: 0,
            output_init_scale: 1.0,
        }
    }

    /// Checks every size and flag combination.
    ///
    /// # Errors
    /// [`Error::InvalidParameter`] for zero features or hidden units, an MLP without layers,
    /// pooled context without a hidden score layer, or a non-finite or negative init scale.
    pub fn validate(&self) -> Result<()> {
        match &self.encoder {
            EncoderConfig::Mlp { features, hidden } => {
                if *features == 0 {
                    return Err(Error::param("features", features, "must be at least 1"));
                }
                if hidden.is_empty() {
                    return Err(Error::param(
                        "hidden",
                        "[]",
                        "an MLP encoder needs at least one layer",
                    ));
                }
                if let Some(h) = hidden.iter().find(|&&h| h == 0) {
                    return Err(Error::param("hidden", h, "every layer needs at least 1 unit"));
                }
            }
            EncoderConfig::Recurrent { features, hidden, .. } => {
                if *features == 0 {
                    return Err(Error::param("features", features, "must be at least 1"));
                }
                if *hidden == 0 {
                    return Err(Error::param("hidden", hidden, "must be at least 1"));
                }
            }
        }
        if self.pooled_context && self.score_hidden == 0 {
            return Err(Error::param(
                "pooled_context",
                true,
                "needs score_hidden > 0: with a linear score head the context adds the same \
                 amount to every entity's score and the softmax cancels it",
            ));
        }
        let n = self.checked_num_params().ok_or_else(|| Error::Overflow {
            what: "the number of parameters of this configuration overflows usize".into(),
        })?;
        if n > MAX_PARAMS {
            return Err(Error::param(
                "config",
                n,
                format!("needs {n} parameters; at most {MAX_PARAMS} are supported"),
            ));
        }
        if !self.output_init_scale.is_finite() || self.output_init_scale < 0.0 {
            return Err(Error::param(
                "output_init_scale",
                self.output_init_scale,
                "must be finite and >= 0",
            ));
        }
        Ok(())
    }

    /// `|θ|` computed with checked arithmetic (`None` on overflow), so that absurd sizes from an
    /// untrusted file are rejected before [`Layout::new`] multiplies them.
    fn checked_num_params(&self) -> Option<usize> {
        let f = self.features();
        let enc = match &self.encoder {
            EncoderConfig::Mlp { hidden, .. } => {
                let mut total = 0usize;
                let mut input = f;
                for &o in hidden {
                    total = total.checked_add(input.checked_mul(o)?.checked_add(o)?)?;
                    input = o;
                }
                total
            }
            EncoderConfig::Recurrent { cell, hidden: h, .. } => {
                let g = match cell {
                    Cell::Elman => *h,
                    Cell::Gru => h.checked_mul(3)?,
                };
                let w = f.checked_add(*h)?.checked_mul(g)?;
                w.checked_add(if matches!(cell, Cell::Gru) {
                    g.checked_mul(2)?
                } else {
                    g
                })?
            }
        };
        let h = self.embedding_dim();
        let d = h
            .checked_add(usize::from(self.previous_allocation))?
            .checked_add(if self.pooled_context { h } else { 0 })?;
        let k = self.score_hidden;
        let head = if k == 0 {
            d
        } else {
            d.checked_mul(k)?.checked_add(k.checked_mul(2)?)?
        };
        enc.checked_add(head)
    }

    /// Features per step (RNN) or per entity (MLP).
    pub fn features(&self) -> usize {
        match &self.encoder {
            EncoderConfig::Mlp { features, .. } | EncoderConfig::Recurrent { features, .. } => *features,
        }
    }

    /// Size `H` of the per-entity embedding `e_i`.
    pub fn embedding_dim(&self) -> usize {
        match &self.encoder {
            EncoderConfig::Mlp { hidden, .. } => hidden.last().copied().unwrap_or(0),
            EncoderConfig::Recurrent { hidden, .. } => *hidden,
        }
    }

    /// Size `D` of the score head's input `u_i = [e_i, w_i (optional), c (optional)]`.
    pub fn head_input_dim(&self) -> usize {
        let h = self.embedding_dim();
        h + usize::from(self.previous_allocation) + if self.pooled_context { h } else { 0 }
    }
}

/// Offsets of one dense layer `y = x W + b` (`W` is `input`×`output`, row-major).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DenseOffsets {
    /// Offset of `W`.
    pub w: usize,
    /// Offset of `b`.
    pub b: usize,
    /// Input width.
    pub input: usize,
    /// Output width.
    pub output: usize,
}

/// Where each weight lives in the flat parameter vector θ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncoderLayout {
    /// MLP layers in order.
    Mlp(Vec<DenseOffsets>),
    /// Elman: `Wx` (F×H), `Wh` (H×H), `b` (H).
    Elman {
        /// Offset of `Wx`.
        wx: usize,
        /// Offset of `Wh`.
        wh: usize,
        /// Offset of `b`.
        b: usize,
    },
    /// GRU: `Wx` (F×3H), `Wh` (H×3H), `bx` (3H), `bh` (3H); gate columns ordered `[r | z | n]`.
    Gru {
        /// Offset of `Wx`.
        wx: usize,
        /// Offset of `Wh`.
        wh: usize,
        /// Offset of `bx`.
        bx: usize,
        /// Offset of `bh`.
        bh: usize,
    },
}

/// The complete parameter layout: encoder first, then the score head.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// Encoder weights.
    pub encoder: EncoderLayout,
    /// Head, linear case: `v` (D). Hidden case: `A` (D×K).
    pub head_a: usize,
    /// Hidden case: `a` (K); linear case: unused (equals `head_v`).
    pub head_bias: usize,
    /// Output weights `v`: D (linear head) or K (hidden head).
    pub head_v: usize,
    /// Total number of parameters.
    pub total: usize,
}

impl Layout {
    /// Computes the layout of a validated configuration.
    pub fn new(config: &PolicyConfig) -> Self {
        let mut off = 0usize;
        let mut take = |n: usize| {
            let o = off;
            off += n;
            o
        };
        let f = config.features();
        let encoder = match &config.encoder {
            EncoderConfig::Mlp { hidden, .. } => {
                let mut layers = Vec::with_capacity(hidden.len());
                let mut input = f;
                for &output in hidden {
                    let w = take(input * output);
                    let b = take(output);
                    layers.push(DenseOffsets { w, b, input, output });
                    input = output;
                }
                EncoderLayout::Mlp(layers)
            }
            EncoderConfig::Recurrent {
                cell: Cell::Elman,
                hidden: h,
                ..
            } => {
                let wx = take(f * h);
                let wh = take(h * h);
                let b = take(*h);
                EncoderLayout::Elman { wx, wh, b }
            }
            EncoderConfig::Recurrent {
                cell: Cell::Gru,
                hidden: h,
                ..
            } => {
                let wx = take(f * 3 * h);
                let wh = take(h * 3 * h);
                let bx = take(3 * h);
                let bh = take(3 * h);
                EncoderLayout::Gru { wx, wh, bx, bh }
            }
        };
        let d = config.head_input_dim();
        let k = config.score_hidden;
        let (head_a, head_bias, head_v) = if k == 0 {
            let v = take(d);
            (v, v, v)
        } else {
            let a = take(d * k);
            let bias = take(k);
            let v = take(k);
            (a, bias, v)
        };
        Layout {
            encoder,
            head_a,
            head_bias,
            head_v,
            total: off,
        }
    }
}

/// The shape of one batch of inputs: `batch` rows of `entities` entities, each with a window of
/// `window` steps (1 for an MLP encoder) of `features` values.
///
/// The input `x` is laid out `[batch][entities][window][features]`, row-major; the previous
/// allocation `[batch][entities]`; the output allocation `[batch][entities]`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shape {
    /// Batch size `B`.
    pub batch: usize,
    /// Entities `m` of the task (any number at run time).
    pub entities: usize,
    /// Window length `W`.
    pub window: usize,
}

impl Shape {
    /// A batch of `batch` rows of `entities` entities with a window of `window` steps.
    pub fn new(batch: usize, entities: usize, window: usize) -> Self {
        Shape {
            batch,
            entities,
            window,
        }
    }

    /// `B · m`, the number of entity rows the shared encoder processes.
    pub fn rows(&self) -> usize {
        self.batch * self.entities
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checked_count_agrees_with_layout() {
        let configs = [
            PolicyConfig::paper_portfolio(3),
            PolicyConfig::mlp(4, vec![7, 3]),
            PolicyConfig {
                encoder: EncoderConfig::Recurrent {
                    cell: Cell::Gru,
                    features: 2,
                    hidden: 5,
                },
                previous_allocation: true,
                pooled_context: true,
                score_hidden: 4,
                output_init_scale: 0.1,
            },
        ];
        for c in configs {
            c.validate().unwrap();
            assert_eq!(c.checked_num_params(), Some(Layout::new(&c).total));
        }
        // The paper's network: RNN 3·25 + 25·25 + 25 = 725, head 26.
        assert_eq!(Layout::new(&PolicyConfig::paper_portfolio(3)).total, 751);
    }

    #[test]
    fn absurd_sizes_are_rejected() {
        let mut c = PolicyConfig::paper_portfolio(3);
        c.encoder = EncoderConfig::Recurrent {
            cell: Cell::Gru,
            features: usize::MAX,
            hidden: 2,
        };
        assert!(c.validate().is_err());
        c.encoder = EncoderConfig::Recurrent {
            cell: Cell::Elman,
            features: 2,
            hidden: 1 << 20,
        };
        assert!(c.validate().is_err());
    }
}
