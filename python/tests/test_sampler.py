"""pimtl.TaskSampler: the prioritised sampler of Section 5 from Python."""

import numpy as np
import pytest

import pimtl


def test_same_seed_same_draws_and_batches_equal_single_draws():
    a = pimtl.TaskSampler(1000, seed=5)
    b = pimtl.TaskSampler(1000, seed=5)
    for t in range(0, 1000, 7):
        a.update(t, 1.0 + t)
        b.update(t, 1.0 + t)
    batch = a.sample(500)
    singles = np.array([b.sample() for _ in range(500)])
    assert batch.dtype == np.int64
    np.testing.assert_array_equal(batch, singles)
    # After the batch both generators are in the same state.
    assert a.sample() == b.sample()
    c = pimtl.TaskSampler(1000, seed=6)
    assert not np.array_equal(c.sample(500), pimtl.TaskSampler(1000, seed=5).sample(500))


def test_probabilities_and_weights_follow_the_formulas():
    alpha, beta, gamma = 0.5, 0.7, 0.2
    s = pimtl.TaskSampler(4, alpha=alpha, beta=beta, smoothing=gamma)
    raw = np.array([4.0, 1.0, 9.0, 0.25])
    new = s.update(np.arange(4), raw)
    smoothed = gamma * 1.0 + (1 - gamma) * raw
    np.testing.assert_allclose(new, smoothed, rtol=1e-15)
    np.testing.assert_allclose(s.scores(), smoothed, rtol=1e-15)
    p = smoothed**alpha / np.sum(smoothed**alpha)
    np.testing.assert_allclose(s.probabilities(), p, rtol=1e-12)
    w = (4 * p) ** -beta
    np.testing.assert_allclose(s.weights(), w / w.max(), rtol=1e-12)
    assert s.weight(2) == pytest.approx(w[2] / w.max(), rel=1e-12)
    assert s.probability(1) == pytest.approx(p[1], rel=1e-12)


def test_draw_frequencies_match_probabilities():
    s = pimtl.TaskSampler(8, alpha=1.0, seed=11)
    s.update(np.arange(8), np.arange(1.0, 9.0))
    draws = s.sample(400_000)
    freq = np.bincount(draws, minlength=8) / draws.size
    p = s.probabilities()
    # Binomial standard error is below 8e-4 for every task; 5 sigma.
    np.testing.assert_allclose(freq, p, atol=4e-3)
    tasks, w = s.sample_with_weights(1000)
    np.testing.assert_allclose(w, s.weights()[tasks], rtol=0)


def test_bad_arguments_are_errors_and_leave_the_sampler_unchanged():
    with pytest.raises(ValueError, match="alpha"):
        pimtl.TaskSampler(10, alpha=-1.0)
    with pytest.raises(ValueError, match="beta"):
        pimtl.TaskSampler(10, beta=1.5)
    with pytest.raises(ValueError):
        pimtl.TaskSampler(0)
    with pytest.raises(TypeError):
        pimtl.TaskSampler("ten")
    s = pimtl.TaskSampler(5)
    before = s.scores().copy()
    with pytest.raises(ValueError, match="out of range"):
        s.update(np.array([0, 7]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="non-finite"):
        s.update(np.array([0, 1]), np.array([1.0, np.nan]))
    with pytest.raises(ValueError, match="scores"):
        s.update(np.array([0, 1]), np.array([1.0, 2.0, 3.0]))
    with pytest.raises(TypeError):
        s.update(np.array(["a", "b"]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError):
        s.update(-1, 1.0)
    np.testing.assert_array_equal(s.scores(), before)
    with pytest.raises(ValueError):
        s.set_score(0, 0.0)


def test_a_batch_whose_total_overflows_changes_nothing():
    # alpha = 2: each score 1e154 alone gives a finite priority 1e308, two overflow the total.
    s = pimtl.TaskSampler(4, alpha=2.0, smoothing=0.0, seed=1)
    s.update(np.array([0, 3]), np.array([2.0, 3.0]))
    before_scores, before_p = s.scores().copy(), s.probabilities().copy()
    with pytest.raises(ArithmeticError, match="overflow"):
        s.update(np.array([1, 2]), np.array([1e154, 1e154]))
    np.testing.assert_array_equal(s.scores(), before_scores)
    np.testing.assert_array_equal(s.probabilities(), before_p)
    # The same sampler then accepts one of them (its total stays finite).
    assert s.update(1, 1e154) == 1e154


def test_draw_tasks_gives_distinct_subsets_reproducibly():
    t = pimtl.draw_tasks(12, 4, 30, seed=3)
    assert t == pimtl.draw_tasks(12, 4, 30, seed=3)
    assert len({tuple(x) for x in t}) == 30
    assert all(len(x) == 4 and len(set(x)) == 4 and max(x) < 12 for x in t)
    with pytest.raises(ValueError, match="m"):
        pimtl.draw_tasks(3, 5, 1)


def test_impossible_sizes_are_memory_errors_not_crashes():
    with pytest.raises((MemoryError, ArithmeticError)):
        pimtl.TaskSampler(2**40)
    s = pimtl.TaskSampler(10)
    with pytest.raises(MemoryError):
        s.sample(2**50)
    with pytest.raises(MemoryError):
        s.sample_with_weights(2**50)
    with pytest.raises(MemoryError):
        pimtl.draw_tasks(10**9, 5, 10**9)
    with pytest.raises(MemoryError):
        pimtl.SyntheticAllocation.with_spread(10**10, 0.1)
    c = pimtl.corollary2(2**63, 2**62)  # immediate, not a loop of 2^62 steps
    assert c["tasks"] is None and c["log_tasks"] > 6e18
