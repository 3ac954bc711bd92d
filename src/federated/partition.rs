//! Client partitions of a labelled training split (issue 6, item 3).
//!
//! Every function here returns a [`Partition`]: for each client the indices of its samples in the
//! training split and its label histogram. Partitions are **disjoint**: no sample is given to two
//! clients, and no client holds a sample twice. All draws are deterministic in the `seed`
//! (`ChaCha8Rng`), and every request is validated before any sampling starts.
//!
//! # The paper's skew ([`skewed_universe`], [`paper_skew`], [`draw_skewed_task`])
//! The paper (§A.2) forms each task from 10 clients of 600 samples: 8 clients see only labels
//! 0–5 ("common" clients) and 2 see only labels 6–9 ("rare-label" clients). So that tasks can be
//! *drawn*, the crate builds a **universe** of `N` clients in which the fraction
//! `skewed / clients_per_task` (0.2 for the paper) are rare-label clients and the rest are common
//! clients; [`draw_skewed_task`] then picks `clients_per_task − skewed` common clients and `skewed`
//! rare ones without replacement. Clients `0..n_common` of the universe are the common ones,
//! `n_common..N` the rare ones (see [`SkewedUniverse::is_rare`]).
//!
//! A common client's samples are drawn without replacement from the pool of all training samples
//! with labels 0–5 (so its label mix is close to the pool's, each label about 1/6), a rare client's
//! from the pool of labels 6–9. The universe must fit: `n_common · samples` at most the size of the
//! 0–5 pool and `n_rare · samples` at most the 6–9 pool. On Fashion-MNIST (6 000 training images
//! per label) that allows up to 60 common and 40 rare clients of 600 samples — e.g. a universe of
//! 50 clients (40 + 10); 100 clients at the paper's ratio (80 common) do not fit.
//!
//! # Dirichlet label skew ([`dirichlet`])
//! The usual non-IID benchmark (Hsu et al., 2019): client `k` draws label proportions
//! `p_k ~ Dirichlet(α, …, α)` over the 10 labels, then each of its `samples` samples takes a label
//! `ℓ ~ p_k` restricted to labels whose pool still has unassigned samples (renormalised; uniform
//! over those labels if `p_k` gives them no mass), and the sample itself is the next one of that
//! label's shuffled pool. Small `α` (0.1) gives clients dominated by one or two labels, large `α`
//! (100) nearly IID clients.

use crate::error::{Error, Result};
use rand::seq::SliceRandom;
use rand::{RngExt, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::multi::Dirichlet;
use rand_distr::Distribution;

/// Number of labels (Fashion-MNIST and MNIST).
pub const NUM_LABELS: usize = 10;

/// Labels seen by the common clients of the paper's skew.
pub const COMMON_LABELS: std::ops::RangeInclusive<u8> = 0..=5;

/// Labels seen by the rare-label clients of the paper's skew.
pub const RARE_LABELS: std::ops::RangeInclusive<u8> = 6..=9;

/// Samples per client in the paper.
pub const PAPER_SAMPLES: usize = 600;

/// Sample indices and label histograms of a set of clients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// `clients[k]`: indices (into the training split) of client `k`'s samples.
    pub clients: Vec<Vec<usize>>,
    /// `histograms[k][ℓ]`: number of client `k`'s samples with label `ℓ`.
    pub histograms: Vec<[usize; NUM_LABELS]>,
}

impl Partition {
    fn from_clients(clients: Vec<Vec<usize>>, labels: &[u8]) -> Self {
        let histograms = clients
            .iter()
            .map(|idx| {
                let mut h = [0usize; NUM_LABELS];
                for &i in idx {
                    h[labels[i] as usize] += 1;
                }
                h
            })
            .collect();
        Self { clients, histograms }
    }

    /// Number of clients.
    pub fn len(&self) -> usize {
        self.clients.len()
    }

    /// Whether there are no clients.
    pub fn is_empty(&self) -> bool {
        self.clients.is_empty()
    }
}

/// A universe of clients with the paper's label skew (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkewedUniverse {
    /// Samples and histograms of every client of the universe.
    pub partition: Partition,
    /// `is_rare[k]`: client `k` sees only labels 6–9 (otherwise only labels 0–5). The common
    /// clients come first.
    pub is_rare: Vec<bool>,
    /// Clients per task (10 in the paper).
    pub clients_per_task: usize,
    /// Rare-label clients per task (2 in the paper).
    pub skewed: usize,
}

impl SkewedUniverse {
    /// Indices of the common (labels 0–5) clients.
    pub fn common_clients(&self) -> Vec<usize> {
        (0..self.is_rare.len()).filter(|&k| !self.is_rare[k]).collect()
    }

    /// Indices of the rare-label (labels 6–9) clients.
    pub fn rare_clients(&self) -> Vec<usize> {
        (0..self.is_rare.len()).filter(|&k| self.is_rare[k]).collect()
    }
}

/// Errors for labels outside `0..NUM_LABELS`.
fn check_labels(labels: &[u8]) -> Result<()> {
    if labels.is_empty() {
        return Err(Error::param("labels", 0, "the training split has no labels"));
    }
    if let Some(i) = labels.iter().position(|&y| y as usize >= NUM_LABELS) {
        return Err(Error::param(
            "labels",
            format!("{} at index {i}", labels[i]),
            format!("labels must lie in 0..{NUM_LABELS}"),
        ));
    }
    Ok(())
}

/// `a · b` or an overflow error.
fn product(a: usize, b: usize, what: &str) -> Result<usize> {
    a.checked_mul(b).ok_or_else(|| Error::Overflow {
        what: format!("{what}: {a} × {b}"),
    })
}

/// The paper's skew for a single task: a universe of exactly `clients_per_task` clients, the
/// first `clients_per_task − skewed` seeing only labels 0–5 and the last `skewed` only labels 6–9,
/// `samples` samples each (paper: 10, 2, 600).
///
/// # Errors
/// As [`skewed_universe`].
pub fn paper_skew(
    labels: &[u8],
    clients_per_task: usize,
    skewed: usize,
    samples: usize,
    seed: u64,
) -> Result<SkewedUniverse> {
    skewed_universe(labels, clients_per_task, clients_per_task, skewed, samples, seed)
}

/// A universe of `universe` clients with the paper's skew: `round(universe · skewed /
/// clients_per_task)` rare-label clients (labels 6–9), the rest common clients (labels 0–5), each
/// with `samples` distinct samples, no sample shared between clients (see the module docs).
///
/// # Errors
/// Labels outside 0–9; `clients_per_task`, `samples` or `universe` zero; `skewed = 0` or
/// `skewed ≥ clients_per_task`; a universe too small to draw a task from (fewer than `skewed` rare
/// or `clients_per_task − skewed` common clients); more samples asked of a label pool than it holds.
pub fn skewed_universe(
    labels: &[u8],
    universe: usize,
    clients_per_task: usize,
    skewed: usize,
    samples: usize,
    seed: u64,
) -> Result<SkewedUniverse> {
    check_labels(labels)?;
    for (name, v) in [
        ("clients_per_task", clients_per_task),
        ("universe", universe),
        ("samples", samples),
        ("skewed", skewed),
    ] {
        if v == 0 {
            return Err(Error::param(name, v, "must be at least 1"));
        }
    }
    if skewed >= clients_per_task {
        return Err(Error::param(
            "skewed",
            skewed,
            format!("must be less than clients_per_task = {clients_per_task} (a task needs common clients)"),
        ));
    }
    // Rounded share of rare clients, computed in integers: round(universe · skewed / cpt).
    let n_rare =
        (product(universe, skewed, "universe × skewed")? * 2 + clients_per_task) / (2 * clients_per_task);
    let n_common = universe - n_rare.min(universe);
    if n_rare < skewed || n_common < clients_per_task - skewed {
        return Err(Error::param(
            "universe",
            universe,
            format!(
                "{n_common} common + {n_rare} rare-label clients cannot fill a task of {} common + {skewed} rare",
                clients_per_task - skewed
            ),
        ));
    }
    let mut common_pool: Vec<usize> = (0..labels.len())
        .filter(|&i| COMMON_LABELS.contains(&labels[i]))
        .collect();
    let mut rare_pool: Vec<usize> = (0..labels.len())
        .filter(|&i| RARE_LABELS.contains(&labels[i]))
        .collect();
    for (what, n, pool) in [
        ("labels 0–5", n_common, &common_pool),
        ("labels 6–9", n_rare, &rare_pool),
    ] {
        let need = product(n, samples, "clients × samples")?;
        if need > pool.len() {
            return Err(Error::param(
                "samples",
                samples,
                format!(
                    "a universe of {universe} clients ({n_common} with labels 0–5, {n_rare} with labels 6–9) \
                     of {samples} samples each: its {n} clients with {what} need {need} distinct samples \
                     but the data has only {} with {what}; ask for fewer clients or fewer samples per \
                     client",
                    pool.len()
                ),
            ));
        }
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    common_pool.shuffle(&mut rng);
    rare_pool.shuffle(&mut rng);
    let mut clients: Vec<Vec<usize>> = common_pool
        .chunks_exact(samples)
        .take(n_common)
        .map(<[usize]>::to_vec)
        .collect();
    clients.extend(
        rare_pool
            .chunks_exact(samples)
            .take(n_rare)
            .map(<[usize]>::to_vec),
    );
    let is_rare = (0..universe).map(|k| k >= n_common).collect();
    Ok(SkewedUniverse {
        partition: Partition::from_clients(clients, labels),
        is_rare,
        clients_per_task,
        skewed,
    })
}

/// Draws one task from the universe: `clients_per_task − skewed` common clients and `skewed`
/// rare-label clients, without replacement, deterministic in `seed`. Returns the universe indices,
/// the common clients first (ascending), then the rare ones (ascending).
///
/// # Errors
/// A universe whose `is_rare` does not hold enough clients of either kind (a hand-built one).
pub fn draw_skewed_task(universe: &SkewedUniverse, seed: u64) -> Result<Vec<usize>> {
    let common = universe.common_clients();
    let rare = universe.rare_clients();
    let n_common = universe.clients_per_task.saturating_sub(universe.skewed);
    if common.len() < n_common || rare.len() < universe.skewed {
        return Err(Error::param(
            "universe",
            universe.is_rare.len(),
            format!(
                "{} common + {} rare-label clients cannot fill a task of {n_common} + {}",
                common.len(),
                rare.len(),
                universe.skewed
            ),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Ok(draw_from_pools(
        &common,
        &rare,
        n_common,
        universe.skewed,
        &mut rng,
    ))
}

/// Draws `n_common` clients of `common` and `n_rare` of `rare` without replacement: the common
/// ones first (ascending), then the rare ones (ascending).
///
/// # Panics
/// When a pool holds fewer clients than asked for (callers check the counts first).
pub fn draw_from_pools(
    common: &[usize],
    rare: &[usize],
    n_common: usize,
    n_rare: usize,
    rng: &mut ChaCha8Rng,
) -> Vec<usize> {
    let mut pick = |pool: &[usize], k: usize| {
        let mut v: Vec<usize> = rand::seq::index::sample(rng, pool.len(), k)
            .iter()
            .map(|j| pool[j])
            .collect();
        v.sort_unstable();
        v
    };
    let mut task = pick(common, n_common);
    task.extend(pick(rare, n_rare));
    task
}

/// A Dirichlet(α) label partition of `clients` clients with `samples` samples each (see the module
/// docs).
///
/// # Errors
/// Labels outside 0–9; `clients` or `samples` zero; `α` not finite and positive (or so small that
/// the Dirichlet sampler rejects it, below about 1e-300); `clients · samples` more than the split
/// holds.
pub fn dirichlet(labels: &[u8], clients: usize, samples: usize, alpha: f64, seed: u64) -> Result<Partition> {
    check_labels(labels)?;
    for (name, v) in [("clients", clients), ("samples", samples)] {
        if v == 0 {
            return Err(Error::param(name, v, "must be at least 1"));
        }
    }
    if !(alpha.is_finite() && alpha > 0.0) {
        return Err(Error::param("alpha", alpha, "must be finite and positive"));
    }
    let dist = Dirichlet::new(&[alpha; NUM_LABELS])
        .map_err(|e| Error::param("alpha", alpha, format!("invalid Dirichlet concentration: {e}")))?;
    let need = product(clients, samples, "clients × samples")?;
    if need > labels.len() {
        return Err(Error::param(
            "clients",
            clients,
            format!(
                "{clients} clients × {samples} samples need {need} distinct samples but the split has only {}",
                labels.len()
            ),
        ));
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut pools: Vec<Vec<usize>> = vec![Vec::new(); NUM_LABELS];
    for (i, &y) in labels.iter().enumerate() {
        pools[y as usize].push(i);
    }
    for pool in &mut pools {
        pool.shuffle(&mut rng);
    }
    let mut next = [0usize; NUM_LABELS];
    let mut out = Vec::with_capacity(clients);
    for _ in 0..clients {
        let p: Vec<f64> = dist.sample(&mut rng);
        let mut idx = Vec::with_capacity(samples);
        for _ in 0..samples {
            let avail = |l: usize| next[l] < pools[l].len();
            let mass: f64 = (0..NUM_LABELS).filter(|&l| avail(l)).map(|l| p[l]).sum();
            let label = if mass > 0.0 && mass.is_finite() {
                let mut u = rng.random::<f64>() * mass;
                let mut chosen = None;
                for l in (0..NUM_LABELS).filter(|&l| avail(l) && p[l] > 0.0) {
                    chosen = Some(l);
                    if u < p[l] {
                        break;
                    }
                    u -= p[l];
                }
                chosen
            } else {
                let open: Vec<usize> = (0..NUM_LABELS).filter(|&l| avail(l)).collect();
                (!open.is_empty()).then(|| open[rng.random_range(0..open.len())])
            };
            // Capacity was checked above, so some label always has samples left.
            let label = label.expect("capacity checked before sampling");
            idx.push(pools[label][next[label]]);
            next[label] += 1;
        }
        out.push(idx);
    }
    Ok(Partition::from_clients(out, labels))
}

/// The images (scaled to [0, 1]) and labels of the samples `indices` of a split, concatenated in
/// order — the `(images, labels)` pair of one client for [`super::local_training`].
///
/// # Errors
/// An index outside the split, or images and labels of different counts.
pub fn gather(
    images: &crate::data::Images,
    labels: &crate::data::Labels,
    indices: &[usize],
) -> Result<(Vec<f32>, Vec<u8>)> {
    if images.count != labels.len() {
        return Err(Error::shape("labels (one per image)", images.count, labels.len()));
    }
    let d = images.image_len();
    let mut x = Vec::with_capacity(indices.len() * d);
    let mut y = Vec::with_capacity(indices.len());
    for &i in indices {
        let px = images.image(i).ok_or_else(|| {
            Error::param(
                "indices",
                i,
                format!("outside the split of {} samples", images.count),
            )
        })?;
        x.extend(px.iter().map(|&p| f32::from(p) / 255.0));
        y.push(labels.labels[i]);
    }
    Ok((x, y))
}
