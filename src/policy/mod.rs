//! The permutation-equivariant allocation policy of §5 and §A.1.
//!
//! For a task with entities `i = 1 … m`, every entity's input `x_i` (a feature vector, or a window
//! of per-step features) goes through the **same** encoder to an embedding `e_i`; the same score
//! head maps `u_i = [e_i, w_i, c]` to a score `s_i`; the allocation is `a = softmax(s)`. Because
//! every entity is processed by the same function and the softmax is symmetric,
//! `π(σx) = σπ(x)` for every permutation `σ` (Definition 1), and the network runs on any number of
//! entities without retraining.
//!
//! * [`config`]: architecture ([`PolicyConfig`]) and the flat parameter layout.
//! * `encoder`, `head`: forward and hand-written backward passes (derived in `papers/policy.md`).
//! * [`scalar`]: the [`Scalar`] trait — `f32`, `f64`, `autodiff::F1` — and dense kernels.
//! * [`optim`]: SGD and Adam on the flat parameter vector.
//! * [`persist`]: saving and loading a policy (JSON, validated).
//! * [`check`]: gradient checks against forward-mode autodiff and finite differences.
//!
//! # Example
//! ```
//! use pimtl::policy::{EquivariantPolicy, Input, PolicyConfig, Shape, Workspace};
//! # fn main() -> pimtl::Result<()> {
//! let policy = EquivariantPolicy::<f64>::new(PolicyConfig::mlp(2, vec![8]), 7)?;
//! let x = [0.1, 0.2, 0.9, 0.5, 0.3, 0.3]; // one row, three entities, two features each
//! let mut ws = Workspace::new();
//! let a = policy.forward(&Input::new(&x, None, Shape::new(1, 3, 1)), &mut ws)?;
//! assert!((a.iter().sum::<f64>() - 1.0).abs() < 1e-12);
//! # Ok(())
//! # }
//! ```

pub mod check;
pub mod config;
mod elman;
mod encoder;
mod gru;
mod head;
pub mod isa;
pub(crate) mod lanes;
pub mod optim;
pub mod persist;
pub mod scalar;
mod sequential;

pub use config::{Cell, EncoderConfig, EncoderLayout, Layout, PolicyConfig, Shape};
pub use isa::Isa;
pub use optim::{Adam, Optimizer, Sgd};
pub use scalar::Scalar;

use crate::error::{check_finite, Error, Result};

use encoder::Dims;
use rand::{RngExt, SeedableRng};

/// One batch of inputs to the policy.
#[derive(Clone, Copy, Debug)]
pub struct Input<'a, T> {
    /// Features, `[batch][entities][window][features]` row-major.
    pub x: &'a [T],
    /// Previous allocations `w_{i,n−1}`, `[batch][entities]`; required exactly when the
    /// configuration has `previous_allocation`.
    pub prev: Option<&'a [T]>,
    /// The batch's shape.
    pub shape: Shape,
}

impl<'a, T> Input<'a, T> {
    /// Bundles features, optional previous allocations and the shape.
    pub fn new(x: &'a [T], prev: Option<&'a [T]>, shape: Shape) -> Self {
        Input { x, prev, shape }
    }
}

/// Buffers of one forward/backward pass, reused across calls so the hot loop does not allocate.
///
/// A forward pass records what the backward pass needs (inputs, hidden states, gates, scores,
/// allocations); [`EquivariantPolicy::backward`] must be called with the workspace of the
/// forward pass it differentiates.
#[derive(Clone, Debug, Default)]
pub struct Workspace<T> {
    shape: Option<Shape>,
    isa: Option<Isa>,
    /// Whether the current pass records what the backward pass needs (set by `forward` and
    /// `infer`).
    pub(crate) record: bool,
    /// Whether the last forward pass ran the RNN on the lane kernels (its record is then in lane
    /// layout: `xl`, `hl`, and for the GRU `gates`, `ghn`).
    pub(crate) on_lanes: bool,
    pub(crate) xl: Vec<T>,
    pub(crate) hl: Vec<T>,
    pub(crate) x: Vec<T>,
    pub(crate) prev: Vec<T>,
    pub(crate) acts: Vec<Vec<T>>,
    pub(crate) hs: Vec<T>,
    pub(crate) gates: Vec<T>,
    pub(crate) ghn: Vec<T>,
    pub(crate) gx: Vec<T>,
    pub(crate) gh: Vec<T>,
    pub(crate) emb: Vec<T>,
    pub(crate) ctx: Vec<T>,
    pub(crate) hid: Vec<T>,
    pub(crate) scores: Vec<T>,
    pub(crate) alloc: Vec<T>,
    pub(crate) ds: Vec<T>,
    pub(crate) de: Vec<T>,
    pub(crate) dhid: Vec<T>,
    pub(crate) dctx: Vec<T>,
    pub(crate) dprev: Vec<T>,
    pub(crate) dx: Vec<T>,
    pub(crate) tmp: Vec<T>,
    pub(crate) wt: Vec<T>,
    pub(crate) wt2: Vec<T>,
}

impl<T: Scalar> Workspace<T> {
    /// An empty workspace; buffers grow on first use and are then reused.
    pub fn new() -> Self {
        Workspace {
            shape: None,
            isa: None,
            record: false,
            on_lanes: false,
            xl: Vec::new(),
            hl: Vec::new(),
            x: Vec::new(),
            prev: Vec::new(),
            acts: Vec::new(),
            hs: Vec::new(),
            gates: Vec::new(),
            ghn: Vec::new(),
            gx: Vec::new(),
            gh: Vec::new(),
            emb: Vec::new(),
            ctx: Vec::new(),
            hid: Vec::new(),
            scores: Vec::new(),
            alloc: Vec::new(),
            ds: Vec::new(),
            de: Vec::new(),
            dhid: Vec::new(),
            dctx: Vec::new(),
            dprev: Vec::new(),
            dx: Vec::new(),
            tmp: Vec::new(),
            wt: Vec::new(),
            wt2: Vec::new(),
        }
    }

    /// Runs this workspace's passes on the instruction set `isa` instead of the process-wide
    /// [`Isa::selected`]. Results are bitwise the same on every path (see [`isa`]); this exists to
    /// test that and to measure each path.
    ///
    /// # Errors
    /// The CPU cannot run `isa`.
    pub fn set_isa(&mut self, isa: Isa) -> Result<()> {
        isa.check()?;
        self.isa = Some(isa);
        Ok(())
    }

    /// The instruction set this workspace's passes run on.
    pub fn isa(&self) -> Isa {
        self.isa.unwrap_or_else(Isa::selected)
    }

    /// Allocations of the last forward pass, `[batch][entities]`.
    pub fn allocations(&self) -> &[T] {
        &self.alloc
    }

    /// Scores `s` of the last forward pass, `[batch][entities]`.
    pub fn scores(&self) -> &[T] {
        &self.scores
    }

    /// Embeddings `e_i` of the last forward pass, `[batch][entities][H]`.
    pub fn embeddings(&self) -> &[T] {
        &self.emb
    }

    /// dL/dx of the last backward pass that asked for it (same layout as `x`).
    pub fn input_gradient(&self) -> &[T] {
        &self.dx
    }

    /// dL/dw (previous allocations) of the last backward pass, `[batch][entities]`; zeros when
    /// the configuration does not use previous allocations.
    pub fn prev_gradient(&self) -> &[T] {
        &self.dprev
    }

    /// Shape of the last forward pass.
    pub fn shape(&self) -> Option<Shape> {
        self.shape
    }
}

/// The permutation-equivariant policy: configuration, parameter layout and the flat parameter
/// vector θ.
#[derive(Clone, Debug, PartialEq)]
pub struct EquivariantPolicy<T> {
    config: PolicyConfig,
    layout: Layout,
    params: Vec<T>,
}

impl<T: Scalar> EquivariantPolicy<T> {
    /// A freshly initialised policy, reproducible from `seed`.
    ///
    /// Initialisation: every weight matrix uniform in `[−1/√fan_in, 1/√fan_in]` (`fan_in = H` for
    /// recurrent matrices, as PyTorch does), biases 0, output weights `v` additionally scaled by
    /// `output_init_scale`.
    ///
    /// # Errors
    /// An invalid configuration ([`PolicyConfig::validate`]).
    pub fn new(config: PolicyConfig, seed: u64) -> Result<Self> {
        config.validate()?;
        let layout = Layout::new(&config);
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut params = vec![T::zero(); layout.total];
        let mut fill = |range: std::ops::Range<usize>, bound: f64, rng: &mut rand_chacha::ChaCha8Rng| {
            for p in &mut params[range] {
                *p = T::of(rng.random_range(-bound..=bound));
            }
        };
        let f = config.features();
        match &layout.encoder {
            EncoderLayout::Mlp(layers) => {
                for l in layers {
                    fill(
                        l.w..l.w + l.input * l.output,
                        1.0 / (l.input as f64).sqrt(),
                        &mut rng,
                    );
                }
            }
            EncoderLayout::Elman { wx, wh, .. } => {
                let h = config.embedding_dim();
                let k = 1.0 / (h as f64).sqrt();
                fill(*wx..*wx + f * h, k, &mut rng);
                fill(*wh..*wh + h * h, k, &mut rng);
            }
            EncoderLayout::Gru { wx, wh, .. } => {
                let h = config.embedding_dim();
                let k = 1.0 / (h as f64).sqrt();
                fill(*wx..*wx + f * 3 * h, k, &mut rng);
                fill(*wh..*wh + h * 3 * h, k, &mut rng);
            }
        }
        let d = config.head_input_dim();
        let k = config.score_hidden;
        let scale = config.output_init_scale;
        if k == 0 {
            fill(
                layout.head_v..layout.head_v + d,
                scale / (d as f64).sqrt(),
                &mut rng,
            );
        } else {
            fill(
                layout.head_a..layout.head_a + d * k,
                1.0 / (d as f64).sqrt(),
                &mut rng,
            );
            fill(
                layout.head_v..layout.head_v + k,
                scale / (k as f64).sqrt(),
                &mut rng,
            );
        }
        Ok(EquivariantPolicy {
            config,
            layout,
            params,
        })
    }

    /// A policy with the given parameters.
    ///
    /// # Errors
    /// An invalid configuration, a parameter vector of the wrong length, or a non-finite parameter.
    pub fn from_params(config: PolicyConfig, params: Vec<T>) -> Result<Self> {
        config.validate()?;
        let layout = Layout::new(&config);
        if params.len() != layout.total {
            return Err(Error::shape("parameter vector", layout.total, params.len()));
        }
        check_finite("parameters", &params)?;
        Ok(EquivariantPolicy {
            config,
            layout,
            params,
        })
    }

    /// The architecture.
    pub fn config(&self) -> &PolicyConfig {
        &self.config
    }

    /// Where each weight lives in θ.
    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// θ, the flat parameter vector.
    pub fn params(&self) -> &[T] {
        &self.params
    }

    /// θ, mutable (an optimiser step writes here).
    pub fn params_mut(&mut self) -> &mut [T] {
        &mut self.params
    }

    /// Number of parameters `|θ|`.
    pub fn num_params(&self) -> usize {
        self.params.len()
    }

    /// The same policy with parameters converted to another scalar type (e.g. `f64` → `f32` for a
    /// fast forward pass, or `f64` → `autodiff::F1` for a gradient check).
    pub fn cast<U: Scalar>(&self) -> EquivariantPolicy<U> {
        EquivariantPolicy {
            config: self.config.clone(),
            layout: self.layout.clone(),
            params: self.params.iter().map(|&p| U::of(p.value_f64())).collect(),
        }
    }

    /// Checks an input against the configuration before any work is done.
    ///
    /// # Errors
    /// A zero batch, zero entities or zero window; a window other than 1 for an MLP encoder;
    /// `x` or `prev` of the wrong length; `prev` missing or given when not configured; NaN or
    /// infinite values in `x` or `prev`.
    pub fn validate_input(&self, input: &Input<'_, T>) -> Result<()> {
        let s = input.shape;
        if s.batch == 0 {
            return Err(Error::param("batch", 0, "must be at least 1"));
        }
        if s.entities == 0 {
            return Err(Error::param(
                "entities",
                0,
                "a task needs at least one entity (m >= 1)",
            ));
        }
        if s.window == 0 {
            return Err(Error::param("window", 0, "must be at least 1"));
        }
        if matches!(self.config.encoder, EncoderConfig::Mlp { .. }) && s.window != 1 {
            return Err(Error::param(
                "window",
                s.window,
                "an MLP encoder takes window length 1",
            ));
        }
        let expected = s
            .rows()
            .checked_mul(s.window)
            .and_then(|v| v.checked_mul(self.config.features()))
            .ok_or_else(|| Error::Overflow {
                what: "input size B·m·W·F".into(),
            })?;
        if input.x.len() != expected {
            return Err(Error::shape("features x (B·m·W·F)", expected, input.x.len()));
        }
        check_finite("features x", input.x)?;
        match (self.config.previous_allocation, input.prev) {
            (true, None) => {
                return Err(Error::param(
                    "prev",
                    "none",
                    "this policy needs previous allocations",
                ))
            }
            (false, Some(_)) => {
                return Err(Error::param(
                    "prev",
                    "given",
                    "this policy does not use previous allocations",
                ))
            }
            (true, Some(p)) => {
                if p.len() != s.rows() {
                    return Err(Error::shape("previous allocations (B·m)", s.rows(), p.len()));
                }
                check_finite("previous allocations", p)?;
            }
            (false, None) => {}
        }
        Ok(())
    }

    /// The forward pass: allocations `a = π_θ(x)`, `[batch][entities]`, each row on the simplex.
    ///
    /// Records what [`backward`](Self::backward) needs in `ws`.
    ///
    /// # Errors
    /// See [`validate_input`](Self::validate_input).
    pub fn forward<'w>(&self, input: &Input<'_, T>, ws: &'w mut Workspace<T>) -> Result<&'w [T]> {
        self.run_forward(input, ws, true)
    }

    /// The forward pass for inference: the same allocations as [`forward`](Self::forward), bit for
    /// bit, without recording the hidden states for a backward pass.
    ///
    /// With the Elman or GRU encoder on the lane kernels (`f32`, `f64`) the states of each group
    /// of rows live in a ring of two steps that stays in L1 (and the GRU's gates in one step),
    /// instead of the `W·R·H` values `forward` writes (128 MB for B = 256, m = 100, W = 50,
    /// H = 25 in `f32`); the MLP encoder records as `forward` does. A [`backward`](Self::backward) after `infer` is an error.
    ///
    /// # Errors
    /// See [`validate_input`](Self::validate_input).
    pub fn infer<'w>(&self, input: &Input<'_, T>, ws: &'w mut Workspace<T>) -> Result<&'w [T]> {
        self.run_forward(input, ws, false)
    }

    fn run_forward<'w>(
        &self,
        input: &Input<'_, T>,
        ws: &'w mut Workspace<T>,
        record: bool,
    ) -> Result<&'w [T]> {
        self.validate_input(input)?;
        ws.shape = Some(input.shape);
        ws.record = record;
        ws.prev.clear();
        if let Some(p) = input.prev {
            ws.prev.extend_from_slice(p);
        }
        let isa = ws.isa();
        match isa {
            // SAFETY (both arms): `Workspace::isa` only yields paths the CPU supports.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { forward_avx512(self, ws, (input.x, input.shape)) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { forward_avx2(self, ws, (input.x, input.shape)) },
            _ => forward_impl::<T, true>(self, ws, (input.x, input.shape), Isa::Portable),
        }
        Ok(&ws.alloc)
    }

    /// Convenience: allocations in a new vector, with a temporary workspace.
    ///
    /// # Errors
    /// See [`validate_input`](Self::validate_input).
    pub fn allocate(&self, input: &Input<'_, T>) -> Result<Vec<T>> {
        let mut ws = Workspace::new();
        Ok(self.infer(input, &mut ws)?.to_vec())
    }

    /// The backward pass (reverse mode, whole batch at once).
    ///
    /// Given `dl_da = dL/da` for the allocations of the forward pass recorded in `ws`, **adds**
    /// dL/dθ to `grad` (so gradients of several batches can be accumulated; zero it first for a
    /// fresh gradient). When `want_dx`, dL/dx is left in [`Workspace::input_gradient`]; dL/dw for
    /// previous allocations is always left in [`Workspace::prev_gradient`].
    ///
    /// # Errors
    /// No forward pass recorded (none yet, or the last one was [`infer`](Self::infer)), `dl_da`
    /// or `grad` of the wrong length, non-finite `dl_da`.
    pub fn backward(&self, ws: &mut Workspace<T>, dl_da: &[T], grad: &mut [T], want_dx: bool) -> Result<()> {
        let shape = ws
            .shape
            .ok_or_else(|| Error::param("workspace", "empty", "call forward before backward"))?;
        if !ws.record {
            return Err(Error::param(
                "workspace",
                "inference pass",
                "the last pass was infer, which keeps no states: call forward before backward",
            ));
        }
        if dl_da.len() != shape.rows() {
            return Err(Error::shape("dL/da (B·m)", shape.rows(), dl_da.len()));
        }
        if grad.len() != self.params.len() {
            return Err(Error::shape("gradient buffer", self.params.len(), grad.len()));
        }
        check_finite("dL/da", dl_da)?;
        let isa = ws.isa();
        match isa {
            // SAFETY (both arms): `Workspace::isa` only yields paths the CPU supports.
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => unsafe { backward_avx512(self, ws, shape, dl_da, grad, want_dx) },
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => unsafe { backward_avx2(self, ws, shape, dl_da, grad, want_dx) },
            _ => backward_impl::<T, true>(self, ws, shape, (dl_da, grad), want_dx, Isa::Portable),
        }
        Ok(())
    }

    fn dims(&self, shape: Shape) -> Dims {
        Dims {
            rows: shape.rows(),
            window: shape.window,
            features: self.config.features(),
            hidden: self.config.embedding_dim(),
        }
    }
}

/// The whole forward pass. `FMA` is true on every path for `f32` and `f64` (a library call where
/// the CPU has no FMA), so every path rounds the same way.
#[inline(always)]
fn forward_impl<T: Scalar, const FMA: bool>(
    p: &EquivariantPolicy<T>,
    ws: &mut Workspace<T>,
    (x, shape): (&[T], Shape),
    isa: Isa,
) {
    let dims = p.dims(shape);
    let emb_written = encoder::forward::<T, FMA>(&p.params, &p.layout.encoder, ws, x, dims, isa);
    let h = dims.hidden;
    let rows = dims.rows;
    if !emb_written {
        ws.emb.clear();
        match &p.layout.encoder {
            EncoderLayout::Mlp(_) => {
                let last = ws.acts.last().map(|a| &a[..rows * h]).unwrap_or(&[]);
                ws.emb.extend_from_slice(last);
            }
            _ => {
                let start = dims.window * rows * h;
                ws.emb.extend_from_slice(&ws.hs[start..start + rows * h]);
            }
        }
    }
    head::forward::<T, FMA>(&p.params, &p.layout, &p.config, ws, shape);
}

/// The whole backward pass (see [`forward_impl`]).
#[inline(always)]
fn backward_impl<T: Scalar, const FMA: bool>(
    p: &EquivariantPolicy<T>,
    ws: &mut Workspace<T>,
    shape: Shape,
    (dl_da, grad): (&[T], &mut [T]),
    want_dx: bool,
    isa: Isa,
) {
    head::backward::<T, FMA>(&p.params, &p.layout, &p.config, ws, grad, shape, dl_da);
    encoder::backward::<T, FMA>(
        &p.params,
        &p.layout.encoder,
        ws,
        grad,
        (p.dims(shape), isa),
        want_dx,
    );
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn forward_avx2<T: Scalar>(p: &EquivariantPolicy<T>, ws: &mut Workspace<T>, x: (&[T], Shape)) {
    forward_impl::<T, true>(p, ws, x, Isa::Avx2)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn backward_avx2<T: Scalar>(
    p: &EquivariantPolicy<T>,
    ws: &mut Workspace<T>,
    shape: Shape,
    dl_da: &[T],
    grad: &mut [T],
    want_dx: bool,
) {
    backward_impl::<T, true>(p, ws, shape, (dl_da, grad), want_dx, Isa::Avx2)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn forward_avx512<T: Scalar>(p: &EquivariantPolicy<T>, ws: &mut Workspace<T>, x: (&[T], Shape)) {
    forward_impl::<T, true>(p, ws, x, Isa::Avx512)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx2,fma")]
unsafe fn backward_avx512<T: Scalar>(
    p: &EquivariantPolicy<T>,
    ws: &mut Workspace<T>,
    shape: Shape,
    dl_da: &[T],
    grad: &mut [T],
    want_dx: bool,
) {
    backward_impl::<T, true>(p, ws, shape, (dl_da, grad), want_dx, Isa::Avx512)
}
