"""Theorem 1 and Corollaries 1-2 from Python, against the independent reference values."""

import json
import math

import pytest

import pimtl

from conftest import REPO

KEYS = ["prefactor", "approximation", "estimation_sample", "estimation_e1", "estimation", "iteration", "transfer", "total", "trivial"]


def cases():
    return json.loads((REPO / "tests" / "data" / "theorem1_reference.json").read_text())["bound_cases"]


@pytest.mark.parametrize("case", cases(), ids=lambda c: c["name"])
def test_theorem1_and_corollary1_match_the_reference(case):
    inputs = {k: math.inf if v is None else v for k, v in case["inputs"].items()}
    got = pimtl.theorem1(**inputs)
    ref = case["theorem1"]
    for k in KEYS:
        if ref[k] is None:  # the reference writes +inf as null
            assert got["terms"][k] == math.inf, k
        else:
            assert got["terms"][k] == pytest.approx(ref[k], rel=1e-12, abs=1e-300), k
    assert sorted(got["failures"]) == sorted(ref["failures"])
    assert got["applicable"] == (not ref["failures"])
    assert (got["value"] is None) == bool(ref["failures"])
    for c1 in case.get("corollary1", []):
        got1 = pimtl.corollary1(c1["tasks"], **inputs)
        want = math.inf if c1["total"] is None else c1["total"]
        assert got1["terms"]["total"] == pytest.approx(want, rel=1e-12)


def test_the_transfer_term_grows_with_epsilon_and_the_estimation_term_shrinks_with_tasks():
    inputs = cases()[0]["inputs"]
    eps = [pimtl.theorem1(**{**inputs, "epsilon": e})["terms"]["transfer"] for e in (0.0, 0.01, 0.1)]
    assert eps[0] == 0.0 and eps[0] < eps[1] < eps[2]
    est = [pimtl.corollary1(t, **inputs)["terms"]["estimation_sample"] for t in (1, 10, 100)]
    assert est[0] > est[1] > est[2]


def test_corollary2_counts_tasks():
    c = pimtl.corollary2(30, 10)
    assert c["tasks"] == math.comb(30, 10)
    assert c["lower_bound"] == pytest.approx(3.0**10)
    assert pimtl.corollary2(1000, 500)["tasks"] is None  # beyond u128
    with pytest.raises(ValueError, match="m"):
        pimtl.corollary2(5, 6)


def test_out_of_range_inputs_name_the_input():
    inputs = dict(cases()[0]["inputs"])
    with pytest.raises(ValueError, match="gamma"):
        pimtl.theorem1(**{**inputs, "gamma": 1.0})
    with pytest.raises(ValueError, match="delta"):
        pimtl.theorem1(**{**inputs, "delta": 0.0})
    with pytest.raises(TypeError):
        pimtl.theorem1(**{**inputs, "d": "three"})
    with pytest.raises(TypeError):
        pimtl.theorem1(0.9)  # keyword-only
    with pytest.raises(TypeError, match="missing required keyword argument 'nu_mu'"):
        pimtl.theorem1(**{k: v for k, v in inputs.items() if k != "nu_mu"})
    with pytest.raises(TypeError, match="unexpected keyword argument 'eps'"):
        pimtl.theorem1(**inputs, eps=0.1)
    with pytest.raises(TypeError, match="d"):
        pimtl.corollary1(3, **{**inputs, "d": 2.5})
