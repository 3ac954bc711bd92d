"""CORN (universal-portfolios 0.4.17 defaults: window 5, rho 0.1) re-evaluated with the package's
own algorithm but a configurable SLSQP tolerance, to separate solver noise from algorithm.

The loop mirrors universal.algos.CORN (fast version) and universal.tools.opt_weights (metric
"return", Σb ≤ 1, bounds [0, 1], x0 = 1/m, retry with noise when SLSQP leaves the box); it is
written here so that only numpy, pandas and scipy are needed. With --ftol 1e-6 (SLSQP's default)
it reproduces the package's figures; --ftol 1e-12 gives the CORN@tight entries.

    python benches/compare/olps_corn_tight.py --data-dir data --sets djia,msci --ftol 1e-12
"""
import argparse, json, time
import numpy as np, pandas as pd
from scipy import optimize


def opt_weights(X, ftol):
    m = X.shape[1]
    x0 = np.ones(m) / m
    obj = lambda b: -np.sum(np.log(np.maximum(np.dot(X - 1, b) + 1, 0.0001)))
    cons = ({"type": "ineq", "fun": lambda b: 1 - sum(b)},)
    while True:
        res = optimize.minimize(obj, x0, bounds=[(0.0, 1)] * m, constraints=cons,
                                method="slsqp", options={"ftol": ftol, "maxiter": 1000})
        if (res.x < -1e-7).any() or (res.x > 1 + 1e-7).any():
            X = X + np.random.randn(1)[0] * 1e-5
            continue
        if not res.success and np.isnan(res.x).any():
            res.x = np.zeros(m)
        return res.x


def corn(X, ftol, window=5, rho=0.1):
    n, m = X.shape
    B = np.zeros((n, m))
    b = np.ones(m) / m
    flat = np.hstack([np.roll(X, i, axis=0) for i in range(window)])  # rows < window-1 unused
    for t in range(n):
        B[t] = b
        if t >= window:
            ft = flat[t]
            ks = [k for k in range(window - 1, t) if np.corrcoef(flat[k], ft)[0, 1] >= rho]
            if ks:
                b = opt_weights(X[[k + 1 for k in ks]], ftol)
            else:
                b = np.ones(m) / m
    return B


def wealth(B, X, fee):
    r = 1 + ((X - 1) * B).sum(axis=1)
    Bd = B * X / r[:, None]
    turn = np.abs(B[1:] - Bd[:-1]).sum(axis=1)
    r[1:] = np.maximum(r[1:], 0) - fee * turn
    return float(np.prod(np.maximum(r, 1e-10)))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default="data")
    ap.add_argument("--sets", default="djia")
    ap.add_argument("--ftol", type=float, default=1e-12)
    ap.add_argument("--out")
    a = ap.parse_args()
    out = {}
    for s in a.sets.split(","):
        np.random.seed(0)
        S = pd.read_csv(f"{a.data_dir}/{s}.csv")
        X = (S / S.shift(1)).fillna(1.0).values
        t0 = time.time()
        B = corn(X, a.ftol)
        out[s] = {"ftol": a.ftol, "seconds": time.time() - t0,
                  "wealth": {str(f): wealth(B, X, f) for f in (0.0, 0.001, 0.0025)},
                  "weights_first12": B[:12].tolist()}
        print(s, out[s]["wealth"], round(out[s]["seconds"], 1), flush=True)
    if a.out:
        json.dump(out, open(a.out, "w"), indent=1)
