"""How much of universal-portfolios' figures is solver tolerance: ONS and BCRP with tight solvers.

Two of the package's strategies end in a numerical solver run at its default tolerances:

* ONS projects onto the simplex in the A-norm with cvxopt's interior-point `solvers.qp`
  (defaults abstol 1e-7, reltol 1e-6, feastol 1e-7), so its weights are the solver's iterate, never
  exactly on the simplex's faces;
* BCRP maximises sum log(max((X-1) b + 1, 1e-4)) with scipy's SLSQP (defaults ftol 1e-6,
  maxiter 100, finite-difference gradient) subject to b in [0,1]^m, sum b <= 1.

A reimplementation that solves these problems exactly (or with other tolerances) lands near, not on,
the package's figures. This script reruns both with tight settings (cvxopt abstol = reltol =
feastol = 1e-12, maxiters 200; SLSQP ftol 1e-15, maxiter 1000) and records, per set, the entries
"ONS@tight" and "BCRP@tight" (same fields as olps_universal.py, plus `settings`) in the --out JSON.
The relative difference to the default run is the part of the figure a port need not reproduce.

Run:  /work/runs/olps-venv/bin/python benches/compare/olps_sensitivity.py --data-dir data \\
          --out tests/data/olps_reference.json
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import olps_universal as ou  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets", default=",".join(ou.SETS))
    p.add_argument("--strategies", default="ONS,BCRP")
    p.add_argument("--data-dir", default=os.path.join(ou.REPO, "data"))
    p.add_argument("--convention", choices=["universal", "prepend-ones"], default="universal")
    p.add_argument("--out", default=None)
    p.add_argument("--base", default=None, help="JSON with the default runs (default: --out)")
    args = p.parse_args()
    import warnings

    warnings.simplefilter("ignore")
    import numpy as np
    from cvxopt import solvers
    from universal import algos

    doc = ou.load_json(args.base or args.out)
    for set_name in args.sets.split(","):
        S, full = ou.load_prices(args.data_dir, set_name, args.convention, None)
        for strategy in args.strategies.split(","):
            if strategy == "ONS":
                settings = {"cvxopt.solvers.options": {"abstol": 1e-12, "reltol": 1e-12,
                                                       "feastol": 1e-12, "maxiters": 200}}
                old = dict(solvers.options)
                solvers.options.update(settings["cvxopt.solvers.options"])
                algo = algos.ONS()
            elif strategy == "BCRP":
                settings = {"scipy.optimize.minimize options": {"ftol": 1e-15, "maxiter": 1000}}
                algo = algos.BCRP(options=settings["scipy.optimize.minimize options"])
            else:
                sys.exit("only ONS and BCRP")
            np.random.seed(0)
            t0 = time.perf_counter()
            res = algo.run(S)
            seconds = time.perf_counter() - t0
            if strategy == "ONS":
                solvers.options.clear()
                solvers.options.update(old)
            entry = {"class": "universal.algos." + strategy + " with tight solver settings",
                     "settings": settings, "convention": args.convention, "days": len(S),
                     "assets": S.shape[1], "full_days": full, "versions": ou.versions(),
                     "seconds": seconds, "timed_out": False}
            entry.update(ou.summarise(res, S.columns))
            base = doc.get(set_name, {}).get(strategy)
            if base and "wealth" in base:
                w, b = entry["wealth"], base["wealth"]
                entry["rel_diff_vs_default"] = {k: (w[k] - b[k]) / b[k] for k in w}
            line = ou.line_for(set_name, strategy + "@tight", entry)
            if "rel_diff_vs_default" in entry:
                line += " rel_diff0=%.3g" % entry["rel_diff_vs_default"][ou.fee_key(0.0)]
            print(line, flush=True)
            if args.out:
                ou.update_json(args.out, set_name, strategy + "@tight", entry)


if __name__ == "__main__":
    main()
