"""pimtl.EquivariantPolicy: equivariance, gradients, persistence, bad input."""

import json
import subprocess
import sys

import numpy as np
import pytest

import pimtl


def paper_input(rng, batch=3, m=6, window=7, features=3):
    x = rng.normal(scale=0.05, size=(batch, m, window, features))
    prev = rng.dirichlet(np.ones(m), size=batch)
    return x, prev


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_permuting_entities_permutes_allocations(dtype):
    # Equal up to the rounding of the softmax's sum, whose order the permutation changes.
    tol = 1e-6 if dtype == "float32" else 1e-14
    rng = np.random.default_rng(0)
    p = pimtl.EquivariantPolicy.paper_portfolio(3, seed=4, dtype=dtype)
    x, prev = paper_input(rng)
    x, prev = x.astype(dtype), prev.astype(dtype)
    a = p.forward(x, prev)
    assert a.shape == (3, 6) and a.dtype == np.dtype(dtype)
    np.testing.assert_allclose(a.sum(axis=1), 1.0, rtol=1e-6)
    perm = rng.permutation(6)
    b = p.forward(x[:, perm], prev[:, perm])
    np.testing.assert_allclose(b, a[:, perm], rtol=tol, atol=0)
    # A wrong entity order (a bug that mixes up rows) is far outside that tolerance.
    assert not np.allclose(p.forward(x[:, perm], prev), a[:, perm], rtol=1e-3, atol=0)
    np.testing.assert_array_equal(p.infer(x, prev), a)


def test_backward_matches_finite_differences():
    rng = np.random.default_rng(1)
    cfg = {
        "encoder": {"Recurrent": {"cell": "Gru", "features": 2, "hidden": 5}},
        "previous_allocation": True,
        "pooled_context": True,
        "score_hidden": 4,
        "output_init_scale": 1.0,
    }
    p = pimtl.EquivariantPolicy(cfg, seed=2, dtype="float64")
    x, prev = paper_input(rng, batch=2, m=4, window=3, features=2)
    g_out = rng.normal(size=(2, 4))
    p.forward(x, prev)
    grads = p.backward(g_out, want_dx=True)
    theta = p.params()

    def loss(th):
        p.set_params(th)
        return float(np.sum(g_out * p.infer(x, prev)))

    h = 1e-6
    for i in rng.choice(theta.size, size=25, replace=False):
        e = np.zeros_like(theta)
        e[i] = h
        fd = (loss(theta + e) - loss(theta - e)) / (2 * h)
        assert grads["params"][i] == pytest.approx(fd, rel=1e-5, abs=1e-8)
    p.set_params(theta)
    # dL/dx through the input.
    dx = grads["x"]
    idx = (1, 2, 0, 1)
    e = np.zeros_like(x)
    e[idx] = h
    fd = (np.sum(g_out * p.infer(x + e, prev)) - np.sum(g_out * p.infer(x - e, prev))) / (2 * h)
    assert dx[idx] == pytest.approx(fd, rel=1e-5, abs=1e-8)
    assert grads["prev"].shape == (2, 4)


def test_save_load_and_json_round_trip(tmp_path):
    p = pimtl.EquivariantPolicy.paper_portfolio(1, seed=9, dtype="float64")
    path = tmp_path / "policy.json"
    p.save(path)
    q = pimtl.EquivariantPolicy.load(path, dtype="float64")
    np.testing.assert_array_equal(p.params(), q.params())
    assert q.config == p.config
    r = pimtl.EquivariantPolicy.from_json(p.to_json(), dtype="float64")
    np.testing.assert_array_equal(r.params(), p.params())
    saved = json.loads(path.read_text())
    assert saved["format"] == "pimtl-policy" and len(saved["params"]) == p.num_params


def test_loads_the_policy_the_command_line_trained(tmp_path):
    out = tmp_path / "demo"
    pimtl.cli(["demo", "--quick", "--steps", "20", "--out", str(out)])
    p = pimtl.EquivariantPolicy.load(out / "policy.json")
    m = p.config["encoder"]["Mlp"]["features"] if "Mlp" in p.config["encoder"] else None
    assert p.num_params > 0 and m is not None
    x = np.linspace(0, 1, 10 * m).reshape(1, 10, 1, m).astype(np.float32)
    a = p.infer(x)
    assert a.shape == (1, 10) and abs(float(a.sum()) - 1) < 1e-5


def test_bad_inputs_are_python_errors():
    p = pimtl.EquivariantPolicy.paper_portfolio(3)
    with pytest.raises(ValueError, match="x: expected shape"):
        p.forward(np.zeros((2, 5, 4, 2), np.float32), np.full((2, 5), 0.2, np.float32))
    with pytest.raises(ValueError, match="prev"):
        p.forward(np.zeros((2, 5, 4, 3), np.float32), np.full((2, 4), 0.25, np.float32))
    with pytest.raises(ValueError):
        p.forward(np.zeros((2, 5, 4, 3), np.float32))  # the paper's network needs prev
    with pytest.raises(ValueError, match="non-finite"):
        x = np.zeros((1, 5, 4, 3), np.float32)
        x[0, 1, 2, 0] = np.nan
        p.forward(x, np.full((1, 5), 0.2, np.float32))
    with pytest.raises(TypeError, match="x"):
        p.forward(np.array([["a"]]), None)
    with pytest.raises(TypeError, match="x"):
        p.forward("not an array")
    with pytest.raises(ValueError, match="forward"):
        pimtl.EquivariantPolicy.paper_portfolio(3).backward(np.ones((1, 5)))
    with pytest.raises(ValueError, match="dtype"):
        pimtl.EquivariantPolicy.paper_portfolio(3, dtype="float16")
    with pytest.raises(ValueError, match="config"):
        pimtl.EquivariantPolicy({"encoder": "nonsense"})
    with pytest.raises(TypeError, match="config"):
        pimtl.EquivariantPolicy(42)
    with pytest.raises(ValueError):
        pimtl.EquivariantPolicy.from_json('{"format": "pimtl-policy"}')


def test_a_broken_policy_file_is_an_error_naming_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"format": "pimtl-policy", "version": 1, "config": ')
    with pytest.raises(ValueError, match="broken.json"):
        pimtl.EquivariantPolicy.load(path)
    with pytest.raises(OSError, match="missing.json"):
        pimtl.EquivariantPolicy.load(tmp_path / "missing.json")


def test_no_panic_reaches_the_interpreter():
    # A process that feeds every entry point garbage must end normally.
    code = (
        "import numpy as np, pimtl\n"
        "for bad in [None, 'x', [[1, 2]], np.zeros((0, 0, 0, 0)), np.zeros((1, 0, 1, 3))]:\n"
        "    try: pimtl.EquivariantPolicy.paper_portfolio(3).forward(bad, None)\n"
        "    except (ValueError, TypeError): pass\n"
        "print('ok')\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "ok"
