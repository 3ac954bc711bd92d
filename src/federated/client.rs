//! Client models of the federated-learning application (§A.2): forward passes generic over
//! [`Scalar`], hand-written backward passes, local SGD and weighted aggregation.
//!
//! # Parameter layout
//! Every model keeps its parameters in one flat vector `θ` (so that aggregation is a weighted
//! average of vectors). Dense layers are stored **class-major**: `W[c, f]` at `c · F + f`, so the
//! logits of a feature vector `a ∈ ℝ^F` are
//!
//! `z_c = b_c + Σ_f W[c, f] a_f`  (i.e. `z = a Wᵀ + b`),
//!
//! and both backward products (`∂W[c, :] += g_c a`, `∂a += g_c W[c, :]`) are contiguous axpy loops.
//!
//! * [`SoftmaxRegression`]: `θ = [W (classes × inputs), b (classes)]`.
//! * [`ConvNet`]: `θ = [K (k·k·c_in × C), b_K (C), W (classes × F), b (classes)]` with
//!   `F = (h − k + 1)(w − k + 1) C`. Images are row-major `h × w × c_in` (channels last); the
//!   feature map is row-major `(h − k + 1) × (w − k + 1) × C`; the kernel row index is
//!   `(dy · k + dx) · c_in + ci`.
//!
//! # Loss
//! The mean cross-entropy over a batch of `n` samples with labels `y_i`,
//!
//! `L(θ) = (1/n) Σ_i [ log Σ_c e^{z_{i,c}} − z_{i,y_i} ]`,
//!
//! with the log-sum-exp taken after subtracting `max_c z_{i,c}`. Its gradient with respect to the
//! logits is `∂L/∂z_{i,c} = (softmax(z_i)_c − [c = y_i]) / n`.
//!
//! # Convolution (valid padding, stride 1)
//! `u[p, o] = b_K[o] + Σ_{dy,dx,ci} x[py + dy, px + dx, ci] K[(dy k + dx) c_in + ci, o]`, computed
//! as an im2col product `U = P K` (one row of `P` per output position), then `a = max(u, 0)`. The
//! backward pass is `∂u = ∂a ⊙ [u > 0]`, `∂K = Pᵀ ∂u`, `∂b_K = Σ_p ∂u[p, :]`; the input gradient
//! is not needed. All inner loops run over a contiguous row (output channels or features), which
//! the compiler vectorises; the two convolution products keep the running sums of 32 channels in
//! registers across the reduction (`conv_matmul`, `conv_weight_grad`), and the CNN's passes are
//! compiled a second time for AVX2 and chosen at run time. Neither changes the order of any
//! addition, so both builds return the same bits (a unit test checks it).
//!
//! # Precision
//! The same code runs on `f32` (the [`ClientModel::loss_and_grad`] training path), `f64` and
//! `autodiff::F1` dual numbers via [`ClientModel::loss_and_grad_with`] and [`ClientModel::logits`];
//! the tests check the `f64` hand-written gradient against forward-mode autodiff to 1e-9 and the
//! `f32` one against the `f64` one.

use super::conv::{self, dot};
use crate::error::{check_finite, Error, Result};
#[cfg(target_arch = "x86_64")]
use crate::policy::lanes::{Avx2F32, Avx512F32};
use crate::policy::lanes::{Lanes, Port};
#[cfg(target_arch = "x86_64")]
use crate::policy::Isa;
use crate::policy::Scalar;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Reusable buffers for the forward/backward passes of a client model (no allocation per step).
#[derive(Debug, Clone, Default)]
pub struct Workspace<T> {
    /// im2col patches of one image (ConvNet only).
    patches: Vec<T>,
    /// Features after the hidden layer (ConvNet only).
    features: Vec<T>,
    /// Gradient with respect to the features (ConvNet only).
    dfeatures: Vec<T>,
    /// Logits of one sample.
    logits: Vec<T>,
    /// Gradient with respect to the logits of one sample.
    dlogits: Vec<T>,
}

impl<T: Scalar> Workspace<T> {
    /// An empty workspace; buffers grow on first use.
    pub fn new() -> Self {
        Self {
            patches: Vec::new(),
            features: Vec::new(),
            dfeatures: Vec::new(),
            logits: Vec::new(),
            dlogits: Vec::new(),
        }
    }
}

/// A client model of the federated application: a classifier with a flat parameter vector.
///
/// The generic methods ([`logits`](Self::logits), [`loss_and_grad_with`](Self::loss_and_grad_with))
/// run on `f32`, `f64` and `autodiff::F1`; the others are the `f32` training interface.
pub trait ClientModel: Send + Sync {
    /// Length of the flat parameter vector `θ`.
    fn num_params(&self) -> usize;

    /// Values per input sample (`h · w · c_in` for images).
    fn input_len(&self) -> usize;

    /// Number of classes; labels must lie in `0..classes`.
    fn classes(&self) -> usize;

    /// Initial parameters, deterministic in `seed` (`ChaCha8Rng`).
    fn init(&self, seed: u64) -> Vec<f32>;

    /// Logits `z` (row-major `n × classes`) of the `n = images.len() / input_len` samples.
    ///
    /// # Errors
    /// `θ`, `images` or `out` of the wrong length, an empty batch, non-finite inputs.
    fn logits<T: Scalar>(&self, theta: &[T], images: &[T], out: &mut [T]) -> Result<()>;

    /// Mean cross-entropy `L(θ)` over the batch; writes `∂L/∂θ` into `grad` (overwritten), using
    /// the buffers of `ws`.
    ///
    /// # Errors
    /// Wrong lengths, an empty batch, labels `≥ classes`, non-finite inputs.
    fn loss_and_grad_with<T: Scalar>(
        &self,
        theta: &[T],
        images: &[T],
        labels: &[u8],
        grad: &mut [T],
        ws: &mut Workspace<T>,
    ) -> Result<f64>;

    /// [`loss_and_grad_with`](Self::loss_and_grad_with) in `f32` with a fresh workspace.
    ///
    /// # Errors
    /// As [`loss_and_grad_with`](Self::loss_and_grad_with).
    fn loss_and_grad(&self, theta: &[f32], images: &[f32], labels: &[u8], grad: &mut [f32]) -> Result<f64> {
        self.loss_and_grad_with(theta, images, labels, grad, &mut Workspace::new())
    }

    /// The predicted class `argmax_c z_c` of each sample (`out_classes.len()` samples).
    ///
    /// # Errors
    /// Wrong lengths, an empty batch, non-finite inputs.
    fn predict(&self, theta: &[f32], images: &[f32], out_classes: &mut [u8]) -> Result<()> {
        let c = self.classes();
        check_images(images, out_classes.len(), self.input_len())?;
        let mut z = vec![0.0f32; out_classes.len() * c];
        self.logits(theta, images, &mut z)?;
        for (o, row) in out_classes.iter_mut().zip(z.chunks_exact(c)) {
            *o = argmax(row) as u8;
        }
        Ok(())
    }

    /// Fraction of samples whose predicted class equals the label.
    ///
    /// # Errors
    /// Wrong lengths, an empty batch, labels `≥ classes`, non-finite inputs.
    fn accuracy(&self, theta: &[f32], images: &[f32], labels: &[u8]) -> Result<f64> {
        check_labels(labels, self.classes())?;
        let mut pred = vec![0u8; labels.len()];
        self.predict(theta, images, &mut pred)?;
        let hits = pred.iter().zip(labels).filter(|(p, y)| p == y).count();
        Ok(hits as f64 / labels.len() as f64)
    }
}

/// Index of the first maximum (NaN-free input).
fn argmax<T: Scalar>(row: &[T]) -> usize {
    let mut best = 0;
    for (c, &v) in row.iter().enumerate() {
        if v > row[best] {
            best = c;
        }
    }
    best
}

fn check_labels(labels: &[u8], classes: usize) -> Result<()> {
    if labels.is_empty() {
        return Err(Error::param("labels", 0, "the batch is empty"));
    }
    if let Some(i) = labels.iter().position(|&y| y as usize >= classes) {
        return Err(Error::param(
            "labels",
            format!("{} at index {i}", labels[i]),
            format!("labels must lie in 0..{classes}"),
        ));
    }
    Ok(())
}

fn check_images<T: Scalar>(images: &[T], n: usize, input_len: usize) -> Result<()> {
    if n == 0 {
        return Err(Error::param("batch", 0, "the batch is empty"));
    }
    let expected = n.checked_mul(input_len).ok_or_else(|| Error::Overflow {
        what: format!("{n} samples × {input_len} values"),
    })?;
    if images.len() != expected {
        return Err(Error::shape(
            "images (samples × values per sample)",
            expected,
            images.len(),
        ));
    }
    Ok(())
}

/// Validates a batch: `θ` length and finiteness, images length and finiteness, labels.
fn check_batch<T: Scalar>(
    num_params: usize,
    input_len: usize,
    theta: &[T],
    images: &[T],
    n: usize,
) -> Result<()> {
    if theta.len() != num_params {
        return Err(Error::shape("theta (parameters)", num_params, theta.len()));
    }
    check_images(images, n, input_len)?;
    check_finite("theta", theta)?;
    check_finite("images", images)
}

/// Mean cross-entropy `(1/n) Σ_i [logsumexp(z_i) − z_{i,y_i}]` of row-major logits
/// (`n × classes`, `n = labels.len()`), generic so that it runs on dual numbers.
///
/// # Errors
/// Empty batch, labels `≥ classes`, `logits.len() ≠ n · classes`.
pub fn mean_cross_entropy<T: Scalar>(logits: &[T], labels: &[u8], classes: usize) -> Result<T> {
    check_labels(labels, classes)?;
    if logits.len() != labels.len() * classes {
        return Err(Error::shape("logits", labels.len() * classes, logits.len()));
    }
    let mut sum = T::zero();
    for (z, &y) in logits.chunks_exact(classes).zip(labels) {
        sum += log_sum_exp(z) - z[y as usize];
    }
    Ok(sum / T::of(labels.len() as f64))
}

/// `log Σ_c e^{z_c}` with the maximum subtracted.
#[inline(always)]
fn log_sum_exp<T: Scalar>(z: &[T]) -> T {
    let m = z[argmax(z)];
    let s = z.iter().fold(T::zero(), |s, &v| s + (v - m).exp());
    m + s.ln()
}

/// Cross-entropy of one sample and `g = scale · (softmax(z) − e_y)`.
#[inline(always)]
fn xent_grad<T: Scalar>(z: &[T], y: usize, scale: T, g: &mut [T]) -> T {
    let m = z[argmax(z)];
    let mut s = T::zero();
    for (gc, &zc) in g.iter_mut().zip(z) {
        *gc = (zc - m).exp();
        s += *gc;
    }
    let k = scale / s;
    for gc in g.iter_mut() {
        *gc *= k;
    }
    g[y] -= scale;
    m + s.ln() - z[y]
}

/// `out[c] = b[c] + Σ_f w[c, f] x[f]` (class-major `w`).
#[inline(always)]
fn dense_forward<T: Scalar>(w: &[T], b: &[T], x: &[T], out: &mut [T]) {
    let f = x.len();
    for (c, o) in out.iter_mut().enumerate() {
        *o = b[c] + dot(&w[c * f..(c + 1) * f], x);
    }
}

/// `dw[c, :] += g_c x`, `db += g`, and (if given) `dx = Σ_c g_c w[c, :]` (overwritten).
#[inline(always)]
fn dense_backward<T: Scalar>(w: &[T], x: &[T], g: &[T], dw: &mut [T], db: &mut [T], dx: Option<&mut [T]>) {
    let f = x.len();
    for (c, &gc) in g.iter().enumerate() {
        db[c] += gc;
        for (d, &xv) in dw[c * f..(c + 1) * f].iter_mut().zip(x) {
            *d += gc * xv;
        }
    }
    if let Some(dx) = dx {
        dx.fill(T::zero());
        for (c, &gc) in g.iter().enumerate() {
            for (d, &wv) in dx.iter_mut().zip(&w[c * f..(c + 1) * f]) {
                *d += gc * wv;
            }
        }
    }
}

/// Uniform `U(−bound, bound)` values.
fn uniform(rng: &mut ChaCha8Rng, n: usize, bound: f32) -> impl Iterator<Item = f32> + '_ {
    (0..n).map(move |_| rng.random_range(-bound..bound))
}

// ---------------------------------------------------------------------------------------------
// Softmax regression
// ---------------------------------------------------------------------------------------------

/// Multinomial logistic regression `z = x Wᵀ + b` (class-major `W`, see the module docs): the
/// quick client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SoftmaxRegression {
    inputs: usize,
    classes: usize,
}

impl SoftmaxRegression {
    /// A model over `inputs` values per sample and `classes` classes (`2 ≤ classes ≤ 256`).
    ///
    /// # Errors
    /// `inputs = 0`, `classes` outside `2..=256`, a parameter count that overflows.
    pub fn new(inputs: usize, classes: usize) -> Result<Self> {
        if inputs == 0 {
            return Err(Error::param("inputs", inputs, "must be at least 1"));
        }
        check_classes(classes)?;
        inputs
            .checked_add(1)
            .and_then(|v| v.checked_mul(classes))
            .ok_or_else(|| Error::Overflow {
                what: "softmax-regression parameter count".into(),
            })?;
        Ok(Self { inputs, classes })
    }
}

fn check_classes(classes: usize) -> Result<()> {
    if !(2..=256).contains(&classes) {
        return Err(Error::param(
            "classes",
            classes,
            "must lie in 2..=256 (labels are u8)",
        ));
    }
    Ok(())
}

impl ClientModel for SoftmaxRegression {
    fn num_params(&self) -> usize {
        (self.inputs + 1) * self.classes
    }

    fn input_len(&self) -> usize {
        self.inputs
    }

    fn classes(&self) -> usize {
        self.classes
    }

    /// `W ~ U(±1/√inputs)`, `b = 0`.
    fn init(&self, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let bound = 1.0 / (self.inputs as f32).sqrt();
        let mut theta: Vec<f32> = uniform(&mut rng, self.inputs * self.classes, bound).collect();
        theta.resize(self.num_params(), 0.0);
        theta
    }

    fn logits<T: Scalar>(&self, theta: &[T], images: &[T], out: &mut [T]) -> Result<()> {
        let (d, c) = (self.inputs, self.classes);
        let n = out.len() / c;
        if !out.len().is_multiple_of(c) {
            return Err(Error::shape("logits (samples × classes)", (n + 1) * c, out.len()));
        }
        check_batch(self.num_params(), d, theta, images, n)?;
        let (w, b) = theta.split_at(d * c);
        for (x, z) in images.chunks_exact(d).zip(out.chunks_exact_mut(c)) {
            dense_forward(w, b, x, z);
        }
        Ok(())
    }

    fn loss_and_grad_with<T: Scalar>(
        &self,
        theta: &[T],
        images: &[T],
        labels: &[u8],
        grad: &mut [T],
        ws: &mut Workspace<T>,
    ) -> Result<f64> {
        let (d, c) = (self.inputs, self.classes);
        let n = labels.len();
        check_labels(labels, c)?;
        check_batch(self.num_params(), d, theta, images, n)?;
        if grad.len() != theta.len() {
            return Err(Error::shape("grad", theta.len(), grad.len()));
        }
        grad.fill(T::zero());
        ws.logits.resize(c, T::zero());
        ws.dlogits.resize(c, T::zero());
        let (w, b) = theta.split_at(d * c);
        let (dw, db) = grad.split_at_mut(d * c);
        let scale = T::of(1.0 / n as f64);
        let mut loss = 0.0;
        for (x, &y) in images.chunks_exact(d).zip(labels) {
            dense_forward(w, b, x, &mut ws.logits);
            loss += xent_grad(&ws.logits, y as usize, scale, &mut ws.dlogits).value_f64();
            dense_backward(w, x, &ws.dlogits, dw, db, None);
        }
        Ok(loss / n as f64)
    }
}

// ---------------------------------------------------------------------------------------------
// Convolutional network
// ---------------------------------------------------------------------------------------------

/// The paper's client (§A.2): one `k × k` convolution with `C` output channels (valid padding,
/// stride 1), ReLU, then a dense softmax output layer over the flattened feature map.
///
/// [`ConvNet::paper`]`(28, 28)`: 5×5 kernel, 32 channels, 10 classes, single-channel input —
/// `F = 24 · 24 · 32 = 18432` features, `832 + 184 330 = 185 162` parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConvNet {
    height: usize,
    width: usize,
    in_channels: usize,
    channels: usize,
    kernel: usize,
    classes: usize,
}

impl ConvNet {
    /// A network for `height × width × in_channels` images.
    ///
    /// # Errors
    /// A zero dimension, `kernel` larger than the image, `classes` outside `2..=256`, sizes that
    /// overflow.
    pub fn new(
        height: usize,
        width: usize,
        in_channels: usize,
        channels: usize,
        kernel: usize,
        classes: usize,
    ) -> Result<Self> {
        for (name, v) in [
            ("height", height),
            ("width", width),
            ("in_channels", in_channels),
            ("channels", channels),
            ("kernel", kernel),
        ] {
            if v == 0 {
                return Err(Error::param(name, v, "must be at least 1"));
            }
        }
        if kernel > height || kernel > width {
            return Err(Error::param(
                "kernel",
                kernel,
                format!("larger than the {height}×{width} image (valid padding)"),
            ));
        }
        check_classes(classes)?;
        let net = Self {
            height,
            width,
            in_channels,
            channels,
            kernel,
            classes,
        };
        // All sizes used later, checked once here.
        let kk = kernel
            .checked_mul(kernel)
            .and_then(|v| v.checked_mul(in_channels));
        let f = (height - kernel + 1)
            .checked_mul(width - kernel + 1)
            .and_then(|v| v.checked_mul(channels));
        let total = kk
            .and_then(|kk| kk.checked_add(1)?.checked_mul(channels))
            .zip(f.and_then(|f| f.checked_add(1)?.checked_mul(classes)))
            .and_then(|(a, b)| a.checked_add(b));
        let input = height.checked_mul(width).and_then(|v| v.checked_mul(in_channels));
        let patches = f.zip(kk).and_then(|(f, kk)| (f / channels).checked_mul(kk));
        if total.is_none() || input.is_none() || patches.is_none() {
            return Err(Error::Overflow {
                what: "ConvNet sizes".into(),
            });
        }
        Ok(net)
    }

    /// The paper's client for single-channel `height × width` images: 5×5 kernel, 32 channels,
    /// 10 classes.
    ///
    /// # Errors
    /// Images smaller than 5×5.
    pub fn paper(height: usize, width: usize) -> Result<Self> {
        Self::new(height, width, 1, 32, 5, 10)
    }

    /// `(h − k + 1, w − k + 1)`.
    fn out_hw(&self) -> (usize, usize) {
        (self.height - self.kernel + 1, self.width - self.kernel + 1)
    }

    /// Length of one im2col row, `k · k · c_in`.
    fn patch_len(&self) -> usize {
        self.kernel * self.kernel * self.in_channels
    }

    /// Number of features `F` feeding the dense layer.
    pub fn features(&self) -> usize {
        let (oh, ow) = self.out_hw();
        oh * ow * self.channels
    }

    /// Splits `θ` into `(K, b_K, W, b)`.
    fn split<'a, T>(&self, theta: &'a [T]) -> (&'a [T], &'a [T], &'a [T], &'a [T]) {
        let kk = self.patch_len() * self.channels;
        let (k, rest) = theta.split_at(kk);
        let (kb, rest) = rest.split_at(self.channels);
        let (w, b) = rest.split_at(self.features() * self.classes);
        (k, kb, w, b)
    }

    /// The windows of the convolution, for the direct kernels.
    fn window(&self) -> conv::Window {
        let (oh, ow) = self.out_hw();
        conv::Window {
            width: self.width,
            cin: self.in_channels,
            ks: self.kernel,
            oh,
            ow,
        }
    }

    /// Whether the convolution's passes on `T` read their windows from the image
    /// ([`conv::conv_forward_direct`], [`conv::conv_weight_grad_direct`]: `f32`, a multiple of 32
    /// channels, at most [`conv::DIRECT_MAX_KK`] values per window) instead of im2col patches.
    fn direct<T: Scalar>(&self) -> bool {
        T::as_f32_slice(&[] as &[T]).is_some() && self.window().direct(self.channels)
    }

    /// `∂K += Pᵀ ∂u` of one image (`KB` kernel rows per register block), from the image's
    /// windows when [`direct`](Self::direct), otherwise from its im2col `patches`.
    ///
    /// # Safety
    /// `V`'s instruction set must be available.
    #[inline(always)]
    unsafe fn conv_weight_grad<T: Scalar, V: Lanes<E = f32>, const KB: usize>(
        &self,
        img: &[T],
        patches: &[T],
        du: &[T],
        dk: &mut [T],
    ) {
        let (oh, ow) = self.out_hw();
        let (c, kk) = (self.channels, self.patch_len());
        if let (true, Some(img), Some(du32), Some(dk32)) = (
            self.direct::<T>(),
            T::as_f32_slice(img),
            T::as_f32_slice(du),
            T::as_f32_slice_mut(dk),
        ) {
            conv::conv_weight_grad_direct::<V, KB>(img, self.window(), du32, dk32, c);
            return;
        }
        conv::conv_weight_grad::<T, V, KB>(patches, kk, du, dk, oh * ow, c);
    }

    /// Convolution + ReLU of one image into `act` (overwritten), keeping its im2col patches in
    /// `patches` unless [`direct`](Self::direct) (`R` output positions per register block).
    #[inline(always)]
    ///
    /// # Safety
    /// `V`'s instruction set must be available.
    unsafe fn conv_forward<T: Scalar, V: Lanes<E = f32>, const R: usize>(
        &self,
        k: &[T],
        kb: &[T],
        img: &[T],
        patches: &mut [T],
        act: &mut [T],
    ) {
        let (oh, ow) = self.out_hw();
        let (c, kk) = (self.channels, self.patch_len());
        if let (true, Some(img), Some(k), Some(kb), Some(act)) = (
            self.direct::<T>(),
            T::as_f32_slice(img),
            T::as_f32_slice(k),
            T::as_f32_slice(kb),
            T::as_f32_slice_mut(act),
        ) {
            // Windows read from the image: no patches, the bias and the ReLU in the kernel.
            conv::conv_forward_direct::<V, R>(img, self.window(), (k, kb), act, c);
            return;
        }
        self.im2col(img, patches);
        for a in act.chunks_exact_mut(c) {
            a.copy_from_slice(kb);
        }
        conv::conv_matmul::<T, V, R>(patches, kk, k, act, oh * ow, c);
        for v in act.iter_mut() {
            if *v < T::zero() {
                *v = T::zero();
            }
        }
    }

    /// The im2col rows of one image: row `(oy, ox)` holds the `k × k × c_in` window at `(oy, ox)`.
    #[inline(always)]
    fn im2col<T: Scalar>(&self, img: &[T], patches: &mut [T]) {
        let (oh, ow) = self.out_hw();
        let (w, cin, ks) = (self.width, self.in_channels, self.kernel);
        let kk = self.patch_len();
        let seg = ks * cin;
        // A window row of known length is copied by moves, not by a `memcpy` call per row (which
        // took an eighth of the client's training step for the paper's 5 × 5 × 1 kernel).
        match seg {
            5 => im2col_rows::<T, 5>(img, patches, (oh, ow, w, cin, ks)),
            3 => im2col_rows::<T, 3>(img, patches, (oh, ow, w, cin, ks)),
            _ => {
                for oy in 0..oh {
                    for ox in 0..ow {
                        let row = &mut patches[(oy * ow + ox) * kk..(oy * ow + ox + 1) * kk];
                        for dy in 0..ks {
                            let src = ((oy + dy) * w + ox) * cin;
                            row[dy * seg..(dy + 1) * seg].copy_from_slice(&img[src..src + seg]);
                        }
                    }
                }
            }
        }
    }

    /// Sizes the workspace for `n` images.
    fn prepare<T: Scalar>(&self, ws: &mut Workspace<T>, n: usize) {
        let (oh, ow) = self.out_hw();
        let per = if self.direct::<T>() {
            0
        } else {
            oh * ow * self.patch_len()
        };
        ws.patches.resize(n * per, T::zero());
        ws.features.resize(n * self.features(), T::zero());
        ws.logits.resize(n * self.classes, T::zero());
    }
}

/// [`ConvNet::im2col`] for window rows of `SEG = k · c_in` values: the same copies.
#[inline(always)]
fn im2col_rows<T: Scalar, const SEG: usize>(
    img: &[T],
    patches: &mut [T],
    (oh, ow, w, cin, ks): (usize, usize, usize, usize, usize),
) {
    let kk = ks * SEG;
    for (r, row) in patches.chunks_exact_mut(kk).take(oh * ow).enumerate() {
        let (oy, ox) = (r / ow, r % ow);
        for (dy, dst) in row.chunks_exact_mut(SEG).enumerate() {
            let src = ((oy + dy) * w + ox) * cin;
            let dst: &mut [T; SEG] = dst.try_into().expect("a window row of SEG values");
            let src: &[T; SEG] = img[src..src + SEG]
                .try_into()
                .expect("a window row of SEG values");
            *dst = *src;
        }
    }
}

/// Images whose patches and features a pass keeps at once (bounds the workspace; the results do
/// not depend on it).
const IMAGES_PER_PASS: usize = 32;

impl ClientModel for ConvNet {
    fn num_params(&self) -> usize {
        (self.patch_len() + 1) * self.channels + (self.features() + 1) * self.classes
    }

    fn input_len(&self) -> usize {
        self.height * self.width * self.in_channels
    }

    fn classes(&self) -> usize {
        self.classes
    }

    /// `K ~ U(±1/√(k² c_in))`, `W ~ U(±1/√F)` (PyTorch's default bounds), biases 0.
    fn init(&self, seed: u64) -> Vec<f32> {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let kk = self.patch_len();
        let mut theta: Vec<f32> = uniform(&mut rng, kk * self.channels, 1.0 / (kk as f32).sqrt()).collect();
        theta.resize(theta.len() + self.channels, 0.0);
        let f = self.features();
        theta.extend(uniform(&mut rng, f * self.classes, 1.0 / (f as f32).sqrt()));
        theta.resize(self.num_params(), 0.0);
        theta
    }

    fn logits<T: Scalar>(&self, theta: &[T], images: &[T], out: &mut [T]) -> Result<()> {
        // The path of the policy's kernels (`PIMTL_ISA` forces one); `Isa::selected` only
        // yields paths this CPU has.
        #[cfg(target_arch = "x86_64")]
        match Isa::selected() {
            // SAFETY: AVX-512F, AVX2 and FMA are available (the Avx512 path's requirement).
            Isa::Avx512 => return unsafe { self.logits_avx512(theta, images, out) },
            // SAFETY: AVX2 and FMA are available (the Avx2 path's requirement).
            Isa::Avx2 => return unsafe { self.logits_avx2(theta, images, out) },
            Isa::Portable => {}
        }
        // SAFETY: the portable vectors need nothing.
        unsafe { self.logits_impl::<T, Port<f32, 16>, 2>(theta, images, out) }
    }

    fn loss_and_grad_with<T: Scalar>(
        &self,
        theta: &[T],
        images: &[T],
        labels: &[u8],
        grad: &mut [T],
        ws: &mut Workspace<T>,
    ) -> Result<f64> {
        // The path of the policy's kernels (`PIMTL_ISA` forces one); `Isa::selected` only
        // yields paths this CPU has.
        #[cfg(target_arch = "x86_64")]
        match Isa::selected() {
            // SAFETY: AVX-512F, AVX2 and FMA are available (the Avx512 path's requirement).
            Isa::Avx512 => return unsafe { self.loss_and_grad_avx512(theta, images, labels, grad, ws) },
            // SAFETY: AVX2 and FMA are available (the Avx2 path's requirement).
            Isa::Avx2 => return unsafe { self.loss_and_grad_avx2(theta, images, labels, grad, ws) },
            Isa::Portable => {}
        }
        // SAFETY: the portable vectors need nothing.
        unsafe { self.loss_and_grad_impl::<T, Port<f32, 16>, 2, 2>(theta, images, labels, grad, ws) }
    }
}

impl ConvNet {
    /// [`ClientModel::logits`] compiled for AVX2 and FMA (so the lane operations, which need both,
    /// inline). It uses no fused multiply-add and the same order of operations, so it returns
    /// exactly what the baseline build returns.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn logits_avx2<T: Scalar>(&self, theta: &[T], images: &[T], out: &mut [T]) -> Result<()> {
        self.logits_impl::<T, Avx2F32, 2>(theta, images, out)
    }

    /// [`ClientModel::logits`] compiled for AVX-512F, 4 positions per register block (bitwise
    /// the same results).
    ///
    /// # Safety
    /// The CPU must support AVX-512F, AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn logits_avx512<T: Scalar>(&self, theta: &[T], images: &[T], out: &mut [T]) -> Result<()> {
        self.logits_impl::<T, Avx512F32, 4>(theta, images, out)
    }

    /// [`ClientModel::loss_and_grad_with`] compiled for AVX-512F (bitwise the same results).
    ///
    /// # Safety
    /// The CPU must support AVX-512F, AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx512f,avx2,fma")]
    unsafe fn loss_and_grad_avx512<T: Scalar>(
        &self,
        theta: &[T],
        images: &[T],
        labels: &[u8],
        grad: &mut [T],
        ws: &mut Workspace<T>,
    ) -> Result<f64> {
        self.loss_and_grad_impl::<T, Avx512F32, 4, 4>(theta, images, labels, grad, ws)
    }

    /// [`ClientModel::loss_and_grad_with`] compiled for AVX2 (bitwise the same results).
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA.
    #[cfg(target_arch = "x86_64")]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn loss_and_grad_avx2<T: Scalar>(
        &self,
        theta: &[T],
        images: &[T],
        labels: &[u8],
        grad: &mut [T],
        ws: &mut Workspace<T>,
    ) -> Result<f64> {
        self.loss_and_grad_impl::<T, Avx2F32, 2, 2>(theta, images, labels, grad, ws)
    }

    /// The logits of every image, [`IMAGES_PER_PASS`] images at a time (`R` positions per
    /// convolution block).
    #[inline(always)]
    unsafe fn logits_impl<T: Scalar, V: Lanes<E = f32>, const R: usize>(
        &self,
        theta: &[T],
        images: &[T],
        out: &mut [T],
    ) -> Result<()> {
        let c = self.classes;
        let n = out.len() / c;
        if !out.len().is_multiple_of(c) {
            return Err(Error::shape("logits (samples × classes)", (n + 1) * c, out.len()));
        }
        check_batch(self.num_params(), self.input_len(), theta, images, n)?;
        let (k, kb, w, b) = self.split(theta);
        let (f, input) = (self.features(), self.input_len());
        let per = self.patches_per_image::<T>();
        let mut ws = Workspace::new();
        self.prepare(&mut ws, IMAGES_PER_PASS.min(n));
        for (imgs, z) in images
            .chunks(IMAGES_PER_PASS * input)
            .zip(out.chunks_mut(IMAGES_PER_PASS * c))
        {
            let m = imgs.len() / input;
            for (i, img) in imgs.chunks_exact(input).enumerate() {
                let (p, a) = (
                    &mut ws.patches[i * per..(i + 1) * per],
                    &mut ws.features[i * f..(i + 1) * f],
                );
                self.conv_forward::<T, V, R>(k, kb, img, p, a);
            }
            conv::dense_forward_batch(w, b, &ws.features[..m * f], f, z);
        }
        Ok(())
    }

    /// `oh · ow · k · k · c_in`: the im2col values of one image (0 when the passes are
    /// [`direct`](Self::direct)).
    fn patches_per_image<T: Scalar>(&self) -> usize {
        let (oh, ow) = self.out_hw();
        if self.direct::<T>() {
            0
        } else {
            oh * ow * self.patch_len()
        }
    }

    /// Loss and gradient of a batch, [`IMAGES_PER_PASS`] images at a time: every image's
    /// convolution, the batched dense layer forward and backward, then every image's convolution
    /// backward, in image order (`R` positions per convolution block, `KB` kernel rows per
    /// weight-gradient block). Each gradient element sums its terms in the order of the per-image
    /// loop (images in order; positions in order within an image).
    #[inline(always)]
    unsafe fn loss_and_grad_impl<T: Scalar, V: Lanes<E = f32>, const R: usize, const KB: usize>(
        &self,
        theta: &[T],
        images: &[T],
        labels: &[u8],
        grad: &mut [T],
        ws: &mut Workspace<T>,
    ) -> Result<f64> {
        let (c, ch) = (self.classes, self.channels);
        let n = labels.len();
        check_labels(labels, c)?;
        check_batch(self.num_params(), self.input_len(), theta, images, n)?;
        if grad.len() != theta.len() {
            return Err(Error::shape("grad", theta.len(), grad.len()));
        }
        let per_pass = IMAGES_PER_PASS.min(n);
        self.prepare(ws, per_pass);
        let (f, input, per) = (self.features(), self.input_len(), self.patches_per_image::<T>());
        ws.dfeatures.resize(per_pass * f, T::zero());
        ws.dlogits.resize(per_pass * c, T::zero());
        let (k, kb, w, b) = self.split(theta);
        let kk = self.patch_len();
        let (dk, rest) = grad.split_at_mut(kk * ch);
        let (dkb, rest) = rest.split_at_mut(ch);
        let (dw, db) = rest.split_at_mut(f * c);
        // `dW` (all but 1 % of θ) is written by the first pass's dense backward, not cleared.
        dk.fill(T::zero());
        dkb.fill(T::zero());
        db.fill(T::zero());
        let rows = f / ch;
        let scale = T::of(1.0 / n as f64);
        let mut loss = 0.0;
        for (pass, (imgs, ys)) in images
            .chunks(IMAGES_PER_PASS * input)
            .zip(labels.chunks(IMAGES_PER_PASS))
            .enumerate()
        {
            let m = ys.len();
            for (i, img) in imgs.chunks_exact(input).enumerate() {
                let (p, a) = (
                    &mut ws.patches[i * per..(i + 1) * per],
                    &mut ws.features[i * f..(i + 1) * f],
                );
                self.conv_forward::<T, V, R>(k, kb, img, p, a);
            }
            let (feats, logits, dlogits) = (
                &ws.features[..m * f],
                &mut ws.logits[..m * c],
                &mut ws.dlogits[..m * c],
            );
            conv::dense_forward_batch(w, b, feats, f, logits);
            for (i, &y) in ys.iter().enumerate() {
                let (z, g) = (&logits[i * c..(i + 1) * c], &mut dlogits[i * c..(i + 1) * c]);
                loss += xent_grad(z, y as usize, scale, g).value_f64();
            }
            // ∂u = ∂a where a > 0 (the ReLU mask is applied inside).
            conv::dense_backward_batch::<T, V>(
                w,
                feats,
                dlogits,
                (&mut *dw, &mut *db),
                &mut ws.dfeatures[..m * f],
                (f, pass == 0),
            );
            for (i, img) in imgs.chunks_exact(input).enumerate() {
                let du = &ws.dfeatures[i * f..(i + 1) * f];
                conv::bias_grad::<T, V>(du, dkb, rows, ch);
                self.conv_weight_grad::<T, V, KB>(img, &ws.patches[i * per..(i + 1) * per], du, dk);
            }
        }
        Ok(loss / n as f64)
    }
}

// ---------------------------------------------------------------------------------------------
// Local training and aggregation
// ---------------------------------------------------------------------------------------------

/// One local epoch of minibatch SGD: the samples are shuffled with `rng` (Fisher–Yates), cut into
/// batches of `batch` (the last one may be smaller), and for each batch `B`
///
/// `θ ← θ − lr · ∇_θ L_B(θ)`.
///
/// Returns the mean loss over the epoch, `Σ_B |B| L_B(θ_B) / n`, each batch's loss taken at the
/// parameters before its step.
///
/// # Errors
/// Invalid inputs (as [`ClientModel::loss_and_grad`]), `batch = 0`, `lr` not finite and positive,
/// [`Error::Diverged`] on a non-finite loss or parameter.
pub fn sgd_epoch<M: ClientModel>(
    model: &M,
    theta: &mut [f32],
    images: &[f32],
    labels: &[u8],
    batch: usize,
    lr: f32,
    rng: &mut ChaCha8Rng,
) -> Result<f64> {
    if batch == 0 {
        return Err(Error::param("batch", batch, "must be at least 1"));
    }
    if !(lr.is_finite() && lr > 0.0) {
        return Err(Error::param("lr", lr, "must be finite and positive"));
    }
    let d = model.input_len();
    check_labels(labels, model.classes())?;
    check_batch(model.num_params(), d, theta, images, labels.len())?;
    let n = labels.len();
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
    let b = batch.min(n);
    let mut xb = Vec::with_capacity(b * d);
    let mut yb = Vec::with_capacity(b);
    let mut grad = vec![0.0f32; theta.len()];
    let mut ws = Workspace::new();
    let mut total = 0.0;
    for (step, idx) in order.chunks(b).enumerate() {
        xb.clear();
        yb.clear();
        for &i in idx {
            xb.extend_from_slice(&images[i * d..(i + 1) * d]);
            yb.push(labels[i]);
        }
        let loss = model.loss_and_grad_with(theta, &xb, &yb, &mut grad, &mut ws)?;
        if !loss.is_finite() {
            return Err(Error::Diverged {
                step,
                reason: format!("loss = {loss}"),
            });
        }
        total += loss * idx.len() as f64;
        for (t, g) in theta.iter_mut().zip(&grad) {
            *t -= lr * g;
        }
        if let Some(j) = theta.iter().position(|t| !t.is_finite()) {
            return Err(Error::Diverged {
                step,
                reason: format!("parameter {j} = {}", theta[j]),
            });
        }
    }
    Ok(total / n as f64)
}

/// Aggregation: `out = Σ_k w_k θ_k / Σ_k w_k`, accumulated in `f64` per entry.
///
/// The weights must be a point of the simplex (finite, `≥ 0`, summing to 1 within 1e-6 —
/// [`crate::simplex::validate_allocation`]); dividing by their sum makes the average of identical
/// models exactly that model.
///
/// # Errors
/// No models, `weights.len() ≠ params.len()`, invalid weights, models of different lengths.
pub fn weighted_average(params: &[Vec<f32>], weights: &[f64], out: &mut Vec<f32>) -> Result<()> {
    if params.is_empty() {
        return Err(Error::param("params", 0, "no models to average"));
    }
    if weights.len() != params.len() {
        return Err(Error::shape(
            "weights (one per model)",
            params.len(),
            weights.len(),
        ));
    }
    crate::simplex::validate_allocation(weights, 1e-6)?;
    if let Some(i) = weights.iter().position(|&w| w < 0.0) {
        return Err(Error::InvalidAllocation {
            reason: format!("weight w[{i}] = {} is negative", weights[i]),
        });
    }
    let p = params[0].len();
    if let Some(k) = params.iter().position(|t| t.len() != p) {
        return Err(Error::shape(
            "params (all models must have the same length)",
            p,
            params[k].len(),
        ));
    }
    for t in params {
        check_finite("params", t)?;
    }
    let total: f64 = weights.iter().sum();
    out.clear();
    out.extend((0..p).map(|j| {
        let s: f64 = params.iter().zip(weights).map(|(t, &w)| w * t[j] as f64).sum();
        (s / total) as f32
    }));
    Ok(())
}

/// Local training of the clients of one round, in parallel (rayon): client `i` starts from
/// `global`, runs `epochs` epochs of [`sgd_epoch`] on `clients[i] = (images, labels)` with its own
/// generator `ChaCha8Rng::seed_from_u64(seed)` on stream `i`, and returns its parameters and the
/// mean loss of its last epoch. Each client's result depends only on `(global, data, seed, i)`, so
/// it is the same for any number of threads.
///
/// # Errors
/// No clients, `epochs = 0`, or any client's data invalid (all checked before training starts);
/// a diverging client.
pub fn local_training<M: ClientModel>(
    model: &M,
    global: &[f32],
    clients: &[(&[f32], &[u8])],
    epochs: usize,
    batch: usize,
    lr: f32,
    seed: u64,
) -> Result<Vec<(Vec<f32>, f64)>> {
    use rayon::prelude::*;
    if clients.is_empty() {
        return Err(Error::param("clients", 0, "no clients to train"));
    }
    if epochs == 0 {
        return Err(Error::param("epochs", epochs, "must be at least 1"));
    }
    if batch == 0 {
        return Err(Error::param("batch", batch, "must be at least 1"));
    }
    if !(lr.is_finite() && lr > 0.0) {
        return Err(Error::param("lr", lr, "must be finite and positive"));
    }
    for (images, labels) in clients {
        check_labels(labels, model.classes())?;
        check_batch(
            model.num_params(),
            model.input_len(),
            global,
            images,
            labels.len(),
        )?;
    }
    clients
        .par_iter()
        .enumerate()
        .map(|(i, (images, labels))| {
            let mut rng = ChaCha8Rng::seed_from_u64(seed);
            rng.set_stream(i as u64);
            let mut theta = global.to_vec();
            let mut loss = 0.0;
            for _ in 0..epochs {
                loss = sgd_epoch(model, &mut theta, images, labels, batch, lr, &mut rng)?;
            }
            Ok((theta, loss))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // The per-image loops the batched passes replaced, kept as the reference they must match.
    /// Output channels whose running sums the convolution kernels keep in registers.
    const CONV_BLOCK: usize = 32;

    /// `act[r, :] += Σ_k p[r, k] K[k, :]` for `rows` output positions (`p` rows×`kk`, `K` kk×`c`):
    /// the sums of a block of [`CONV_BLOCK`] channels stay in registers while `k` runs, instead of
    /// being loaded and stored once per `k`. Each sum adds its terms in the order `k = 0, 1, …`, as a
    /// plain triple loop does, so the result is the same bit for bit.
    fn ref_conv_matmul<T: Scalar>(p: &[T], kk: usize, k: &[T], act: &mut [T], rows: usize, c: usize) {
        for r in 0..rows {
            let pr = &p[r * kk..(r + 1) * kk];
            let or = &mut act[r * c..(r + 1) * c];
            let mut j0 = 0;
            while j0 + CONV_BLOCK <= c {
                let mut acc = [T::zero(); CONV_BLOCK];
                acc.copy_from_slice(&or[j0..j0 + CONV_BLOCK]);
                for (kx, &x) in pr.iter().enumerate() {
                    let w = &k[kx * c + j0..kx * c + j0 + CONV_BLOCK];
                    for (a, &wv) in acc.iter_mut().zip(w) {
                        *a += x * wv;
                    }
                }
                or[j0..j0 + CONV_BLOCK].copy_from_slice(&acc);
                j0 += CONV_BLOCK;
            }
            for j in j0..c {
                let mut a = or[j];
                for (kx, &x) in pr.iter().enumerate() {
                    a += x * k[kx * c + j];
                }
                or[j] = a;
            }
        }
    }

    /// `∂K[k, :] += Σ_r p[r, k] ∂u[r, :]` (`∂K = Pᵀ ∂u`), the sums of a block of channels kept in
    /// registers while `r` runs; each sum adds its terms in the order `r = 0, 1, …`.
    fn ref_conv_weight_grad<T: Scalar>(p: &[T], kk: usize, du: &[T], dk: &mut [T], rows: usize, c: usize) {
        for kx in 0..kk {
            let dkr = &mut dk[kx * c..(kx + 1) * c];
            let mut j0 = 0;
            while j0 + CONV_BLOCK <= c {
                let mut acc = [T::zero(); CONV_BLOCK];
                acc.copy_from_slice(&dkr[j0..j0 + CONV_BLOCK]);
                for r in 0..rows {
                    let x = p[r * kk + kx];
                    let d = &du[r * c + j0..r * c + j0 + CONV_BLOCK];
                    for (a, &dv) in acc.iter_mut().zip(d) {
                        *a += x * dv;
                    }
                }
                dkr[j0..j0 + CONV_BLOCK].copy_from_slice(&acc);
                j0 += CONV_BLOCK;
            }
            for j in j0..c {
                let mut a = dkr[j];
                for r in 0..rows {
                    a += p[r * kk + kx] * du[r * c + j];
                }
                dkr[j] = a;
            }
        }
    }

    /// Convolution + ReLU of one image, per position, into `feats` (patches into `patches`).
    fn reference_features(
        net: &ConvNet,
        (k, kb): (&[f32], &[f32]),
        img: &[f32],
        patches: &mut [f32],
        feats: &mut [f32],
    ) {
        let (oh, ow) = net.out_hw();
        net.im2col(img, patches);
        for a in feats.chunks_exact_mut(net.channels) {
            a.copy_from_slice(kb);
        }
        ref_conv_matmul(patches, net.patch_len(), k, feats, oh * ow, net.channels);
        for v in feats.iter_mut() {
            if *v < 0.0 {
                *v = 0.0;
            }
        }
    }

    fn reference_loss_and_grad(
        net: &ConvNet,
        theta: &[f32],
        images: &[f32],
        labels: &[u8],
        grad: &mut [f32],
    ) -> f64 {
        let (c, ch, kk, f) = (net.classes, net.channels, net.patch_len(), net.features());
        let n = labels.len();
        grad.fill(0.0);
        let (k, kb, w, b) = net.split(theta);
        let (dk, rest) = grad.split_at_mut(kk * ch);
        let (dkb, rest) = rest.split_at_mut(ch);
        let (dw, db) = rest.split_at_mut(f * c);
        let rows = f / ch;
        let scale = 1.0 / n as f32;
        let (oh, ow) = net.out_hw();
        let mut patches = vec![0.0f32; oh * ow * kk];
        let (mut feats, mut dfeats) = (vec![0.0f32; f], vec![0.0f32; f]);
        let (mut z, mut dz) = (vec![0.0f32; c], vec![0.0f32; c]);
        let mut loss = 0.0;
        for (img, &y) in images.chunks_exact(net.input_len()).zip(labels) {
            reference_features(net, (k, kb), img, &mut patches, &mut feats);
            dense_forward(w, b, &feats, &mut z);
            loss += xent_grad(&z, y as usize, scale, &mut dz).value_f64();
            dense_backward(w, &feats, &dz, dw, db, Some(&mut dfeats));
            for (d, &a) in dfeats.iter_mut().zip(&feats) {
                if a <= 0.0 {
                    *d = 0.0;
                }
            }
            for du in dfeats.chunks_exact(ch) {
                for (g, &v) in dkb.iter_mut().zip(du) {
                    *g += v;
                }
            }
            ref_conv_weight_grad(&patches, kk, &dfeats, dk, rows, ch);
        }
        loss / n as f64
    }

    /// The batched, register-blocked passes return exactly what the per-image loops return, on
    /// every build this CPU runs (the dispatching entry point and the baseline body), for channel
    /// counts with and without a remainder block, feature counts that are not whole chunks, and
    /// batches that are not whole blocks of images or passes.
    #[test]
    fn batched_passes_match_the_per_image_loops_bit_for_bit() -> Result<()> {
        let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
        for (net, n) in [
            (ConvNet::new(9, 8, 2, 37, 3, 4)?, 6),
            (ConvNet::paper(12, 11)?, 37),
            (ConvNet::new(7, 7, 1, 32, 4, 10)?, 3),
            (ConvNet::new(6, 9, 3, 5, 2, 3)?, 9),
            // Direct kernels with 2 input channels, 35 positions and 18 window values: the
            // position blocks cross output rows and leave a tail, so do the kernel-row blocks.
            (ConvNet::new(7, 9, 2, 32, 3, 3)?, 5),
            // 64 channels: two register blocks of the direct kernels.
            (ConvNet::new(8, 6, 1, 64, 3, 4)?, 3),
        ] {
            let theta = net.init(5);
            let mut rng = ChaCha8Rng::seed_from_u64(n as u64);
            let images: Vec<f32> = (0..n * net.input_len())
                .map(|_| rng.random_range(0.0..1.0))
                .collect();
            let labels: Vec<u8> = (0..n).map(|i| (i % net.classes) as u8).collect();
            let mut want = vec![0.0f32; theta.len()];
            let l0 = reference_loss_and_grad(&net, &theta, &images, &labels, &mut want);
            // The gradient is overwritten whatever it held (the dense `dW` is not cleared first).
            let (mut g1, mut g2) = (vec![3.5f32; theta.len()], vec![-0.5f32; theta.len()]);
            let l1 = net.loss_and_grad_with(&theta, &images, &labels, &mut g1, &mut Workspace::new())?;
            // SAFETY: the portable vectors need nothing.
            let l2 = unsafe {
                net.loss_and_grad_impl::<f32, Port<f32, 16>, 2, 2>(
                    &theta,
                    &images,
                    &labels,
                    &mut g2,
                    &mut Workspace::new(),
                )?
            };
            assert_eq!(
                (l1.to_bits(), l2.to_bits()),
                (l0.to_bits(), l0.to_bits()),
                "loss, n = {n}"
            );
            assert_eq!(bits(&g1), bits(&want), "gradient (dispatched), n = {n}");
            assert_eq!(bits(&g2), bits(&want), "gradient (baseline), n = {n}");
            #[cfg(target_arch = "x86_64")]
            if Isa::Avx2.is_available() {
                let mut g3 = vec![f32::NAN; theta.len()];
                // SAFETY: the CPU supports AVX2 and FMA (checked just above).
                let l3 = unsafe {
                    net.loss_and_grad_avx2(&theta, &images, &labels, &mut g3, &mut Workspace::new())?
                };
                assert_eq!(l3.to_bits(), l0.to_bits(), "loss (AVX2), n = {n}");
                assert_eq!(bits(&g3), bits(&want), "gradient (AVX2), n = {n}");
                let mut z3 = vec![0.0f32; n * net.classes];
                // SAFETY: as above.
                unsafe { net.logits_avx2(&theta, &images, &mut z3)? };
                let mut z0 = vec![0.0f32; n * net.classes];
                net.logits(&theta, &images, &mut z0)?;
                assert_eq!(bits(&z3), bits(&z0), "logits (AVX2), n = {n}");
            }
            let mut z0 = vec![0.0f32; n * net.classes];
            let (k, kb, w, b) = net.split(&theta);
            let (oh, ow) = net.out_hw();
            let mut patches = vec![0.0f32; oh * ow * net.patch_len()];
            let mut feats = vec![0.0f32; net.features()];
            for (img, z) in images
                .chunks_exact(net.input_len())
                .zip(z0.chunks_exact_mut(net.classes))
            {
                reference_features(&net, (k, kb), img, &mut patches, &mut feats);
                dense_forward(w, b, &feats, z);
            }
            let (mut z1, mut z2) = (vec![0.0f32; z0.len()], vec![0.0f32; z0.len()]);
            net.logits(&theta, &images, &mut z1)?;
            // SAFETY: the portable vectors need nothing.
            unsafe { net.logits_impl::<f32, Port<f32, 16>, 2>(&theta, &images, &mut z2)? };
            assert_eq!(bits(&z1), bits(&z0), "logits (dispatched), n = {n}");
            assert_eq!(bits(&z2), bits(&z0), "logits (baseline), n = {n}");
        }
        Ok(())
    }

    /// The AVX2 build of the CNN's passes returns exactly what the baseline build returns (the
    /// dispatching entry points against the bodies compiled without AVX2).
    #[test]
    fn avx2_and_baseline_builds_agree_bit_for_bit() -> Result<()> {
        // 37 channels: one register block of 32 and a remainder of 5.
        let net = ConvNet::new(9, 8, 2, 37, 3, 4)?;
        let theta = net.init(5);
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let n = 6;
        let images: Vec<f32> = (0..n * net.input_len())
            .map(|_| rng.random_range(0.0..1.0))
            .collect();
        let labels: Vec<u8> = (0..n).map(|i| (i % 4) as u8).collect();
        let (mut g1, mut g2) = (vec![0.0f32; theta.len()], vec![0.0f32; theta.len()]);
        let l1 = net.loss_and_grad_with(&theta, &images, &labels, &mut g1, &mut Workspace::new())?;
        // SAFETY: the portable vectors need nothing.
        let l2 = unsafe {
            net.loss_and_grad_impl::<f32, Port<f32, 16>, 2, 2>(
                &theta,
                &images,
                &labels,
                &mut g2,
                &mut Workspace::new(),
            )?
        };
        assert_eq!(l1.to_bits(), l2.to_bits());
        assert!(g1.iter().zip(&g2).all(|(a, b)| a.to_bits() == b.to_bits()));
        let (mut z1, mut z2) = (vec![0.0f32; n * 4], vec![0.0f32; n * 4]);
        net.logits(&theta, &images, &mut z1)?;
        // SAFETY: the portable vectors need nothing.
        unsafe { net.logits_impl::<f32, Port<f32, 16>, 2>(&theta, &images, &mut z2)? };
        assert!(z1.iter().zip(&z2).all(|(a, b)| a.to_bits() == b.to_bits()));
        Ok(())
    }
}
