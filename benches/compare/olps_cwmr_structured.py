"""A rounding-free evaluation of universal-portfolios 0.4.17's CWMR, the reference for pimtl's CWMR.

Why
---
universal's CWMR (class defaults eps = -0.5, confidence = 0.95) is numerically ill-posed as
written: on day 0 (the package's row of ones) the quadratic for lambda has a = 0, lambda becomes
+inf and is capped at 1e7, and the covariance update, which adds (theta*lambda/U) * x_0^2 to every
entry of Sigma^-1 (`np.diag` of an m x 1 matrix is its first entry, broadcast over the matrix;
the paper adds x_i^2 on the diagonal), leaves Sigma^-1 with a condition number of about 1e13.
From then on each `inv` loses about 13 digits, and the wealth depends on the LAPACK build: 5.41e15
with numpy 2.4.6 (OpenBLAS 0.3.31) vs 4.18e15 with numpy 1.26.4 (OpenBLAS 0.3.23) on NYSE(O).

What it computes
----------------
The same algorithm evaluated without that loss. Starting from Sigma = I/m^2, every update keeps
Sigma = p I + q 11^T (the added matrix is a multiple of 11^T and the normalisation is a scalar),
so the state is the weights mu and two scalars: p and s = p + m q = 1 / (1^T Sigma^-1 1 / m).
In these terms (xbar = mean(x), D = sum (x_i - xbar)^2, M = mu.x):
  x_upper = xbar;  V = x^T Sigma x = p D + s m xbar^2;  Sigma (x - x_upper) = p (x - xbar);
  foo = p D / M^2 + V theta^2 / 2,  a = (p D / M^2)(p D / M^2 + V theta^2)  (= foo^2 - V^2 theta^4 / 4),
  b = 2 (eps - ln M) foo,  c = (eps - ln M)^2 - V theta^2;
  lambda = min(1e7, max(0, r+, r-)) with Python's max (a NaN root never wins; a = 0 with b < 0
  gives +inf, hence 1e7, as the package gets on day 0);
  U = 2 V / (lambda theta V + sqrt(lambda^2 theta^2 V^2 + 4 V))   (the package's 0.5 (-l t V + sqrt(..)));
  mu <- simplex_proj(mu - lambda p (x - xbar) / M)  (old Sigma);
  1/s <- 1/s + m theta lambda x_0^2 / U  (p unchanged);  then p, s <- p, s / (m^2 trace),
  trace = (m - 1) p + s.
`--check-dense DAYS` also runs the package's literal dense-matrix recursion in mpmath at 60 digits
on the first DAYS rows of each set and prints the largest weight difference to the structured
float64 run (it validates the reduction). `--mp` reruns the structured recursion in mpmath (50
digits) on the whole set and prints the relative difference of the final wealth (it shows the
float64 value is stable).

Wealth and fees are computed by universal's own AlgoResult from these weights (the same fee
recomputation as olps_universal.py). The result is written into the --out JSON as the entry
"CWMR@structured" of each set (same fields as olps_universal.py's entries).

Run:  /work/runs/olps-venv/bin/python benches/compare/olps_cwmr_structured.py \\
          --data-dir data --out tests/data/olps_reference.json [--check-dense 60] [--mp]
"""

import argparse
import math
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import olps_universal as ou  # noqa: E402


def simplex_proj(y):
    """Euclidean projection onto the probability simplex (sort and threshold)."""
    m = len(y)
    s = sorted(y, reverse=True)
    tmpsum = 0
    tmax = None
    for i in range(m - 1):
        tmpsum = tmpsum + s[i]
        t = (tmpsum - 1) / (i + 1)
        if t >= s[i + 1]:
            tmax = t
            break
    if tmax is None:
        tmax = (tmpsum + s[m - 1] - 1) / m
    return [v - tmax if v - tmax > 0 else 0 * v for v in y]


def pymax(*vals):
    """Python's builtin max over (0, r+, r-): NaN never replaces the running maximum."""
    best = vals[0]
    for v in vals[1:]:
        if v > best:
            best = v
    return best


def cwmr_structured(X, eps=-0.5, theta=None, num=float, sqrt=math.sqrt, log=math.log):
    m = len(X[0])
    inf = num("inf")
    nan = num("nan")
    mu = [num(1) / m] * m
    p = num(1) / (m * m)
    s = num(1) / (m * m)
    B = []
    for row in X:
        x = [num(v) for v in row]
        B.append(list(mu))
        M = sum(mu[i] * x[i] for i in range(m))
        xbar = sum(x) / m
        D = sum((xi - xbar) ** 2 for xi in x)
        V = p * D + s * m * xbar * xbar
        d = p * D / (M * M)
        foo = d + V * theta * theta / 2
        a = d * (d + V * theta * theta)
        e = eps - log(M)
        b = 2 * e * foo
        c = e * e - V * theta * theta
        disc = b * b - 4 * a * c
        if disc < 0:
            r1 = r2 = nan
        elif a == 0:
            num1, num2 = -b + sqrt(disc), -b - sqrt(disc)
            r1 = inf if num1 > 0 else (-inf if num1 < 0 else nan)
            r2 = inf if num2 > 0 else (-inf if num2 < 0 else nan)
        else:
            r1 = (-b + sqrt(disc)) / (2 * a)
            r2 = (-b - sqrt(disc)) / (2 * a)
        lam = pymax(num(0), r1, r2)
        lam = min(lam, num(10) ** 7)
        ltv = lam * theta * V
        U = 2 * V / (ltv + sqrt(ltv * ltv + 4 * V))
        new_mu = [mu[i] - lam * p * (x[i] - xbar) / M for i in range(m)]
        kappa = theta * lam / U * x[0] * x[0]
        s = 1 / (1 / s + m * kappa)
        mu = simplex_proj(new_mu)
        trace = (m - 1) * p + s
        scale = 1 / (m * m * trace)
        p, s = p * scale, s * scale
    return B


def cwmr_dense_mp(X, eps, theta, mp):
    """The package's literal recursion (dense Sigma, the np.diag broadcast included) in mpmath."""
    m = len(X[0])
    mu = mp.matrix([mp.mpf(1) / m] * m)
    sigma = mp.eye(m) / (m * m)
    B = []
    for row in X:
        B.append([mu[i] for i in range(m)])
        x = mp.matrix([mp.mpf(v) for v in row])
        M = (mu.T * x)[0]
        V = (x.T * sigma * x)[0]
        tr = sum(sigma[i, i] for i in range(m))
        x_upper = sum(sigma[i, i] * x[i] for i in range(m)) / tr
        rows = mp.matrix([sum(sigma[i, j] for j in range(m)) for i in range(m)])
        foo = (V - x_upper * (x.T * rows)[0]) / M ** 2 + V * theta ** 2 / 2
        a = foo ** 2 - V ** 2 * theta ** 4 / 4
        b = 2 * (eps - mp.log(M)) * foo
        c = (eps - mp.log(M)) ** 2 - V * theta ** 2
        disc = b * b - 4 * a * c
        # a is exactly 0 only on the day of ones; the package then gets +inf -> 1e7 (b < 0)
        if abs(a) < mp.mpf(10) ** (-40):
            lam = mp.mpf(10) ** 7 if b < 0 else mp.mpf(0)
        elif disc < 0:
            lam = mp.mpf(0)
        else:
            lam = max(mp.mpf(0), (-b + mp.sqrt(disc)) / (2 * a), (-b - mp.sqrt(disc)) / (2 * a))
        lam = min(lam, mp.mpf(10) ** 7)
        U = 0.5 * (-lam * theta * V + mp.sqrt(lam ** 2 * theta ** 2 * V ** 2 + 4 * V))
        mu = mu - lam * sigma * (x - mp.matrix([x_upper] * m)) / M
        add = theta * lam / U * x[0] ** 2
        inv = sigma ** -1
        for i in range(m):
            for j in range(m):
                inv[i, j] += add
        sigma = inv ** -1
        mu = mp.matrix(simplex_proj([mu[i] for i in range(m)]))
        tr = sum(sigma[i, i] for i in range(m))
        sigma = sigma / (m * m * tr)
    return B


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets", default=",".join(ou.SETS))
    p.add_argument("--data-dir", default=os.path.join(ou.REPO, "data"))
    p.add_argument("--convention", choices=["universal", "prepend-ones"], default="universal")
    p.add_argument("--out", default=None)
    p.add_argument("--check-dense", type=int, default=0)
    p.add_argument("--mp", action="store_true")
    args = p.parse_args()
    import warnings

    warnings.simplefilter("ignore")
    import numpy as np
    import pandas as pd
    import scipy.stats
    from universal.algo import Algo
    from universal.result import AlgoResult

    theta = float(scipy.stats.norm.ppf(0.95))
    for set_name in args.sets.split(","):
        S, full = ou.load_prices(args.data_dir, set_name, args.convention, None)
        X = Algo._convert_prices(S, "ratio", True)
        rows = X.values.tolist()
        t0 = time.perf_counter()
        B = cwmr_structured(rows, eps=-0.5, theta=theta)
        seconds = time.perf_counter() - t0
        res = AlgoResult(X, pd.DataFrame(np.array(B), index=X.index, columns=X.columns))
        entry = {
            "class": "structured re-evaluation of universal.algos.CWMR "
                     "(benches/compare/olps_cwmr_structured.py)",
            "params": {"eps": -0.5, "confidence": 0.95},
            "attributes": {"theta": theta},
            "convention": args.convention,
            "days": len(rows), "assets": len(rows[0]), "full_days": full,
            "versions": ou.versions(), "seconds": seconds, "timed_out": False,
        }
        entry.update(ou.summarise(res, X.columns))
        line = ou.line_for(set_name, "CWMR@structured", entry)
        if args.check_dense:
            import mpmath

            mpmath.mp.dps = 60
            th = mpmath.sqrt(2) * mpmath.erfinv(2 * mpmath.mpf("0.95") - 1)
            n = min(args.check_dense, len(rows))
            Bd = cwmr_dense_mp(rows[:n], mpmath.mpf("-0.5"), th, mpmath.mp)
            diff = max(abs(float(Bd[t][i]) - B[t][i]) for t in range(n) for i in range(len(B[0])))
            entry["check_dense_mp60"] = {"days": n, "max_abs_weight_diff": diff}
            line += " dense_mp60_days=%d max_abs_weight_diff=%.3g" % (n, diff)
        if args.mp:
            import mpmath

            mpmath.mp.dps = 50
            th = mpmath.sqrt(2) * mpmath.erfinv(2 * mpmath.mpf("0.95") - 1)
            Bm = cwmr_structured(rows, eps=mpmath.mpf("-0.5"), theta=th, num=mpmath.mpf,
                                 sqrt=mpmath.sqrt, log=mpmath.log)
            wm = mpmath.mpf(1)
            for t, row in enumerate(rows):
                wm *= 1 + sum(Bm[t][i] * (mpmath.mpf(row[i]) - 1) for i in range(len(row)))
            w0 = entry["wealth"][ou.fee_key(0.0)]
            rel = float(abs(w0 - wm) / wm)
            entry["check_structured_mp50"] = {"wealth0": float(wm), "rel_diff_float64": rel}
            line += " mp50_wealth0=%r rel=%.3g" % (float(wm), rel)
        print(line, flush=True)
        if args.out:
            ou.update_json(args.out, set_name, "CWMR@structured", entry)


if __name__ == "__main__":
    main()
