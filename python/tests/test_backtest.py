"""pimtl.backtest / run_strategy: the crate's one simulator and its strategies on numpy arrays."""

import numpy as np
import pytest

import pimtl


def test_equal_weights_are_equal_crp(relatives):
    m = relatives.shape[1]
    w = np.full_like(relatives, 1.0 / m)
    a = pimtl.backtest(relatives, w, fee=0.002)
    b = pimtl.run_strategy("ucrp", relatives, fee=0.002)
    assert a["final_wealth"] == b["final_wealth"]
    np.testing.assert_array_equal(a["wealth"], b["wealth"])
    assert a["weights"].shape == relatives.shape
    assert a["turnover"][0] == 0.0  # the first purchase is free


def test_fee_models(relatives):
    w = np.random.default_rng(0).dirichlet(np.ones(5), size=60)
    exact = pimtl.backtest(relatives, w, fee=0.004, fee_model="exact")["final_wealth"]
    side = pimtl.backtest(relatives, w, fee=(0.004, 0.004), fee_model="per_side")["final_wealth"]
    assert exact == side
    none = pimtl.backtest(relatives, w, fee_model="none")["final_wealth"]
    linear = pimtl.backtest(relatives, w, fee=0.004, fee_model="linear")["final_wealth"]
    additive = pimtl.backtest(relatives, w, fee=0.004, fee_model="additive")["final_wealth"]
    assert none > exact and none > linear and none > additive
    # Without fees the wealth is the product of a . y.
    assert none == pytest.approx(np.prod(np.sum(w * relatives, axis=1)), rel=1e-12)
    with pytest.raises(ValueError, match="fee_model"):
        pimtl.backtest(relatives, w, fee_model="flat")
    with pytest.raises(ValueError, match="fee"):
        pimtl.backtest(relatives, w, fee=-0.1)
    with pytest.raises(TypeError, match="pair"):
        pimtl.backtest(relatives, w, fee=0.1, fee_model="per_side")


def test_strategies_by_name_and_their_errors(relatives):
    names = {s["name"] for s in pimtl.strategies()}
    assert {"ucrp", "bcrp", "olmar", "pamr", "up", "eg", "ons", "anticor", "corn", "rmr", "tco1"} <= names
    r = pimtl.run_strategy("olmar:window=4", relatives, fee=0.0, fee_model="none")
    assert "window=4" in r["label"] and r["final_wealth"] > 0
    np.testing.assert_allclose(r["weights"].sum(axis=1), 1.0, atol=1e-9)
    with pytest.raises(ValueError, match="nosuch"):
        pimtl.run_strategy("nosuch", relatives)
    with pytest.raises(ValueError, match="eta"):
        pimtl.run_strategy("eg:eta=-1", relatives)


def test_bad_arrays_name_the_argument(relatives):
    w = np.full_like(relatives, 0.2)
    with pytest.raises(ValueError, match="weights"):
        pimtl.backtest(relatives, w[:, :4])
    bad = relatives.copy()
    bad[3, 2] = -1.0
    with pytest.raises(ValueError, match="day 3"):
        pimtl.backtest(bad, w)
    bad[3, 2] = np.nan
    with pytest.raises(ValueError):
        pimtl.backtest(bad, w)
    off = w.copy()
    off[7] = 0.3
    with pytest.raises(ValueError, match="day 7"):
        pimtl.backtest(relatives, off)
    with pytest.raises(TypeError, match="relatives"):
        pimtl.backtest("prices", w)
    with pytest.raises(ValueError, match="relatives"):
        pimtl.backtest(relatives[0], w[0])


def test_arrays_in_any_memory_order_give_the_same_result(relatives):
    w = np.random.default_rng(1).dirichlet(np.ones(3), size=60)
    y = relatives[:, [4, 0, 2]]  # fancy indexing: a Fortran-ordered copy
    strided = relatives[:, ::2]  # a non-contiguous view
    assert y.flags["F_CONTIGUOUS"] and not y.flags["C_CONTIGUOUS"]
    a = pimtl.backtest(y, w)["final_wealth"]
    assert a == pimtl.backtest(np.ascontiguousarray(y), w)["final_wealth"]
    assert a == pimtl.backtest(y, np.asfortranarray(w))["final_wealth"]
    b = pimtl.backtest(strided, w)["final_wealth"]
    assert b == pimtl.backtest(np.ascontiguousarray(strided), w)["final_wealth"]


def test_price_relatives_feed_the_backtest():
    prices = np.array([[10.0, 5.0], [11.0, 5.0], [9.9, 6.0]])
    rel = pimtl.price_relatives(prices)
    np.testing.assert_allclose(rel, [[1.1, 1.0], [0.9, 1.2]], rtol=1e-15)
    r = pimtl.run_strategy("bah", rel, fee_model="none")
    assert r["final_wealth"] == pytest.approx(0.5 * 0.99 + 0.5 * 1.2, rel=1e-12)
    with pytest.raises(ValueError, match="row 1, column 1"):
        pimtl.price_relatives(np.array([[1.0, 1.0], [1.0, -2.0]]))
