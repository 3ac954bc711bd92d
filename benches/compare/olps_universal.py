"""Reference figures of universal-portfolios 0.4.17 for the online-portfolio-selection (OLPS) family.

What it computes
----------------
For every (data set, strategy) pair it runs universal-portfolios' own implementation with the
class's DEFAULT parameters and records, in one JSON file (set -> strategy -> fields, plus `meta`):

* `wealth`: final wealth at fee 0, 0.001 and 0.0025, the fee applied the way the package does it
  (`result.fee = f` recomputes the returns of the same weights: linear, per side, charged against
  the drifted weights, first purchase free);
* `wealth_at`: the wealth after days 10, 100, 1000 and the last day (where the set is that long),
  for each of the three fees;
* `weights_first12`: the weights B of the first 12 days (B[t] is fixed before x_t is seen);
* `turnover`: the package's `result.turnover` at fee 0;
* `seconds`: wall time (time.perf_counter) of `algo.run(S)` alone (data loading, the fee
  recomputations and the JSON are not timed), one core (taskset -c 0), nice 5, one BLAS thread;
* `params`: the constructor defaults, read from the signatures along the class's MRO, and
  `attributes`: the scalar attributes of the constructed object (e.g. min_history, CWMR's theta);
* `days`, `assets`, `full_days`: rows used (a prefix when `days` < `full_days`), columns, rows of
  the whole file; `timed_out`: true when the whole-set run hit the per-run timeout (the entry is then
  a prefix run and `full_run` says what timed out);
* `versions`: Python and package versions of the interpreter that made the entry.

Strategies: UP, EG, ONS, Anticor, CORN, RMR, WMAMR, CWMR, RPRT, TCO1, TCO2, BCRP, OLMAR, PAMR,
CRP (uniform), BAH.  Special cases:

* UP is Monte Carlo (1e4 random CRPs drawn with numpy's global generator): it is run with
  `np.random.seed(s)` for s = 0..4; the top-level fields are those of seed 0 and `seeds` holds
  every seed's wealths and time (the spread).  Every other run is preceded by `np.random.seed(0)`
  too (BCRP/CORN's optimiser re-draws with numpy noise when SLSQP leaves the box).
* TCO1/TCO2 are the only fee-aware strategies.  `wealth` is the run with the default
  `trx_fee_pct=0` (the fees then only recomputed, like any other strategy).  `own_cost_model`
  holds the runs with the strategy's own cost model switched on: the constructor gets
  `trx_fee_pct=f` (a fraction, despite the docstring's "percent": the soft threshold is 10*f) and
  the result gets `fee = f`; f = 0.001 and 0.0025.  That is the setting that reproduces the figures
  quoted in pimtl's issue #14 (TCO1 on NYSE(O): 2.307e11 / 2.804e7).

Conventions
-----------
* Data: each CSV is universal-portfolios' own `universal/data/<name>.csv` (pimtl's
  `scripts/fetch-data.sh` puts them in `data/`): prices normalised to 1 on the day *before* the
  first row.  `--convention universal` (default) hands the file to `algo.run` as it is, exactly as
  `universal.tools.dataset(name)` does: the package turns prices into relatives with
  X[0] = (1, ..., 1) and X[t] = row_t / row_{t-1}, so the first real relative (row 0 itself) is
  lost and the strategies take one step on a day of ones.  This is the convention of the figures in
  issue #14.  `--convention prepend-ones` puts a row of ones in front (pimtl's reading of the files:
  every published relative is kept, plus the same leading day of ones).
* Timing convention of the package: B[t] = last_b, then last_b = step(x_t, ...), so the weights
  of day t only use relatives up to t-1.
* Fee: r_t = 1 + sum_i B[t,i] (X[t,i] - 1) - fee * sum_i |B[t,i] - Btilde[t-1,i]|, with
  Btilde[t-1] = B[t-1] * X[t-1] / (1 + B[t-1].(X[t-1] - 1)); the row for t = 0 is NaN and dropped
  by the sum, so the first purchase is free; r is floored at 1e-10.

Running
-------
    python3.11 -m venv /work/runs/olps-venv
    /work/runs/olps-venv/bin/pip install -r benches/compare/requirements-olps.txt
    /work/runs/olps-venv/bin/python benches/compare/olps_universal.py \\
        --sets nyse_o --strategies ONS,PAMR --out tests/data/olps_reference.json

Each run is a child process of this driver, started as `taskset -c 0 nice -n 5 python ...`
(core 1 is kept free for other benchmarks) with OPENBLAS/OMP/MKL threads = 1, killed after
`--timeout-per-run` seconds (default 1500).  A whole-set run that times out is recorded with
`timed_out: true` and replaced by a run on the first `--prefix-on-timeout` rows (default 500).
`--days N` runs a prefix of N rows directly (with `--prefix-note TEXT`, recorded as
`full_run: {skipped: true, reason: TEXT}` for runs whose whole-set time is known to be far over
the timeout).  `--out` is read, updated and rewritten (atomically)
after every run, so it always holds a complete valid JSON of what is done.  Each run prints one line

    olps <set> <strategy> days=<n> seconds=<s> wealth0=<w> wealth0.001=<w> wealth0.0025=<w> [...]

`--label-suffix S` stores entries under "<strategy>S" (used for CWMR under numpy 1.26:
`--label-suffix @numpy1`).  `--seeds` sets UP's seeds (default 0,1,2,3,4).
"""

import argparse
import inspect
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time

STRATEGIES = [
    "UP", "EG", "ONS", "Anticor", "CORN", "RMR", "WMAMR", "CWMR", "RPRT", "TCO1", "TCO2",
    "BCRP", "OLMAR", "PAMR", "CRP", "BAH",
]
SETS = ["nyse_o", "djia", "tse", "msci", "sp500", "nyse_n"]
FEES = [0.0, 0.001, 0.0025]
CHECKPOINTS = [10, 100, 1000]
REPO = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def fee_key(f):
    return repr(float(f))


# ----------------------------------------------------------------------------------------------
# worker side (one strategy on one set, in a child process)


def versions():
    from importlib import metadata

    out = {"python": platform.python_version()}
    for pkg in ["universal-portfolios", "numpy", "pandas", "scipy", "cvxopt", "scikit-learn",
                "statsmodels"]:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = None
    try:
        import numpy as np

        cfg = np.show_config(mode="dicts")
        blas = cfg.get("Build Dependencies", {}).get("blas", {})
        out["numpy_blas"] = "%s %s" % (blas.get("name"), blas.get("version"))
    except Exception:  # older numpy without mode="dicts"
        pass
    return out


def jsonable(v):
    import numpy as np

    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        v = float(v)
        return v if v == v and abs(v) != float("inf") else repr(v)
    if isinstance(v, str) or v is None:
        return v
    return None


def default_params(cls):
    """Constructor defaults along the MRO (the most derived class wins)."""
    out = {}
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        for name, p in inspect.signature(init).parameters.items():
            if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                continue
            if name not in out and p.default is not inspect.Parameter.empty:
                out[name] = jsonable(p.default)
    return out


def scalar_attributes(obj):
    out = {}
    for k, v in sorted(vars(obj).items()):
        j = jsonable(v)
        if j is not None or v is None:
            out[k] = j
    return out


def load_prices(data_dir, name, convention, days):
    import pandas as pd

    S = pd.read_csv(os.path.join(data_dir, name + ".csv"))
    full = len(S)
    if convention == "prepend-ones":
        ones = pd.DataFrame([[1.0] * S.shape[1]], columns=S.columns)
        S = pd.concat([ones, S], ignore_index=True)
    if days is not None and days < len(S):
        S = S.iloc[:days].copy()
    return S, full


def summarise(result, columns):
    """Wealths, checkpoints and first weights of an AlgoResult (its fee is left at 0)."""
    import numpy as np

    out = {"wealth": {}, "wealth_at": {}}
    n = len(result.r)
    for f in FEES:
        result.fee = f
        eq = result.equity.values
        out["wealth"][fee_key(f)] = float(result.total_wealth)
        at = {str(d): float(eq[d - 1]) for d in CHECKPOINTS if d <= n}
        at["last"] = float(eq[-1])
        out["wealth_at"][fee_key(f)] = at
    result.fee = 0.0
    B = result.B
    B = B[list(columns)] if hasattr(B, "columns") else B
    out["weights_first12"] = [[float(v) for v in row] for row in np.asarray(B)[:12]]
    try:
        out["turnover"] = float(result.turnover)
    except Exception:
        out["turnover"] = None
    return out


def make_algo(strategy, **kwargs):
    from universal import algos

    return getattr(algos, strategy)(**kwargs)


def timed_run(strategy, S, seed, **kwargs):
    import numpy as np

    algo = make_algo(strategy, **kwargs)
    np.random.seed(seed)
    t0 = time.perf_counter()
    result = algo.run(S)
    seconds = time.perf_counter() - t0
    return algo, result, seconds


def worker(args):
    import warnings

    warnings.simplefilter("ignore")
    import logging

    logging.disable(logging.WARNING)
    S, full = load_prices(args.data_dir, args.set, args.convention, args.days)
    strategy = args.strategy
    from universal import algos

    cls = getattr(algos, strategy)
    entry = {
        "class": "universal.algos." + strategy,
        "params": default_params(cls),
        "convention": args.convention,
        "days": int(len(S)),
        "assets": int(S.shape[1]),
        "full_days": int(full),
        "numpy_seed": 0,
        "versions": versions(),
    }
    seeds = [int(s) for s in args.seeds.split(",")] if strategy == "UP" else [0]
    per_seed = []
    for seed in seeds:
        algo, result, seconds = timed_run(strategy, S, seed)
        summ = summarise(result, S.columns)
        if not per_seed:
            entry["attributes"] = scalar_attributes(algo)
            entry["seconds"] = seconds
            entry.update(summ)
        per_seed.append({"seed": seed, "seconds": seconds, "wealth": summ["wealth"]})
    if strategy == "UP":
        entry["numpy_seed"] = seeds[0]
        entry["seeds"] = per_seed
        entry["note"] = ("Monte Carlo over eval_points random CRPs from numpy's global generator; "
                         "top-level fields are seed %d, 'seeds' lists all" % seeds[0])
    if strategy in ("TCO1", "TCO2"):
        own = {}
        for f in FEES[1:]:
            algo, result, seconds = timed_run(strategy, S, 0, trx_fee_pct=f)
            summ = summarise(result, S.columns)
            result.fee = f
            own[fee_key(f)] = {
                "trx_fee_pct": f,
                "result_fee": f,
                "wealth": float(result.total_wealth),
                "seconds": seconds,
                "wealth_at_fee0": summ["wealth"][fee_key(0.0)],
                "wealth_at": summ["wealth_at"][fee_key(f)],
                "weights_first12": summ["weights_first12"],
            }
        entry["own_cost_model"] = own
        entry["own_cost_model_note"] = (
            "constructor trx_fee_pct=f (fraction; soft threshold 10*f on the step) and "
            "result.fee=f; 'wealth' above is trx_fee_pct=0 with the fee only recomputed")
    with open(args.worker_out, "w") as fh:
        json.dump(entry, fh)


# ----------------------------------------------------------------------------------------------
# driver side


def load_json(path):
    if path and os.path.exists(path):
        with open(path) as fh:
            return json.load(fh)
    return {}


def save_json(path, doc):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".olps-", suffix=".tmp")
    with os.fdopen(fd, "w") as fh:
        json.dump(doc, fh, indent=1, sort_keys=False, allow_nan=False)
        fh.write("\n")
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        info = {}
        for line in out.splitlines():
            if ":" in line:
                k, v = line.split(":", 1)
                info[k.strip()] = v.strip()
        return "%s (family %s, model %s, %s CPUs)" % (
            info.get("Model name"), info.get("CPU family"), info.get("Model"), info.get("CPU(s)"))
    except OSError:
        return platform.processor()


def run_child(args, set_name, strategy, days, timeout):
    fd, out_path = tempfile.mkstemp(prefix="olps-run-", suffix=".json")
    os.close(fd)
    cmd = ["taskset", "-c", args.cpu, "nice", "-n", "5", sys.executable, os.path.abspath(__file__),
           "--worker", "--set", set_name, "--strategy", strategy, "--data-dir", args.data_dir,
           "--convention", args.convention, "--seeds", args.seeds, "--worker-out", out_path]
    if days is not None:
        cmd += ["--days", str(days)]
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.Popen(cmd, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    t0 = time.perf_counter()
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        os.unlink(out_path)
        return None, time.perf_counter() - t0, "timeout"
    if proc.returncode != 0:
        os.unlink(out_path)
        return None, time.perf_counter() - t0, (err or "")[-2000:]
    with open(out_path) as fh:
        entry = json.load(fh)
    os.unlink(out_path)
    return entry, time.perf_counter() - t0, None


def line_for(set_name, label, entry):
    w = entry["wealth"]
    parts = ["olps", set_name, label, "days=%d" % entry["days"], "seconds=%.3f" % entry["seconds"],
             "wealth0=%r" % w[fee_key(0.0)], "wealth0.001=%r" % w[fee_key(0.001)],
             "wealth0.0025=%r" % w[fee_key(0.0025)]]
    if "own_cost_model" in entry:
        for f, o in entry["own_cost_model"].items():
            parts.append("own%s=%r" % (f, o["wealth"]))
    if "seeds" in entry:
        parts.append("seed_wealth0=" + ",".join(repr(s["wealth"][fee_key(0.0)])
                                                for s in entry["seeds"]))
    if entry.get("timed_out"):
        parts.append("timed_out=1 full_timeout=%g" % entry["full_run"]["timeout_seconds"])
    return " ".join(parts)


def driver(args):
    sets = args.sets.split(",")
    strategies = args.strategies.split(",")
    for s in strategies:
        if s not in STRATEGIES:
            sys.exit("unknown strategy %s (known: %s)" % (s, ",".join(STRATEGIES)))
    doc = load_json(args.out)
    meta = doc.setdefault("meta", {})
    meta.update({
        "what": "universal-portfolios 0.4.17 reference figures for pimtl's OLPS family "
                "(benches/compare/olps_universal.py; see benches/compare/OLPS.md)",
        "cpu": cpu_model(),
        "pinning": "taskset -c %s, nice -n 5, OPENBLAS/OMP/MKL threads 1" % args.cpu,
        "fees": FEES,
        "fee_convention": "result.fee = f: linear, per side, against the drifted weights, "
                          "first purchase free",
        "data_convention": args.convention,
        "timeout_per_run_seconds": args.timeout_per_run,
    })
    meta["versions"] = versions()
    meta.setdefault("commands", [])
    cmd = " ".join(["python"] + [a for a in sys.argv])
    meta["commands"].append({"date": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "command": cmd})
    if args.out:
        save_json(args.out, doc)
    for set_name in sets:
        for strategy in strategies:
            label = strategy + args.label_suffix
            entry, wall, err = run_child(args, set_name, strategy, args.days, args.timeout_per_run)
            if err == "timeout":
                print("olps %s %s timed_out=1 timeout=%g (whole set); rerunning on the first %d rows"
                      % (set_name, label, args.timeout_per_run, args.prefix_on_timeout), flush=True)
                entry, wall, err = run_child(args, set_name, strategy, args.prefix_on_timeout,
                                             args.timeout_per_run)
                if entry is not None:
                    entry["timed_out"] = True
                    entry["full_run"] = {"timeout_seconds": args.timeout_per_run,
                                         "days": None if args.days is None else args.days}
            if entry is not None and args.days is not None and args.prefix_note:
                entry["full_run"] = {"skipped": True, "reason": args.prefix_note}
            if entry is None:
                print("olps %s %s FAILED %s" % (set_name, label, err.strip().replace("\n", " | ")
                                               [-600:]), flush=True)
                doc.setdefault(set_name, {})[label] = {"failed": True, "error": err[-2000:]}
            else:
                entry.setdefault("timed_out", False)
                entry["date"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
                doc.setdefault(set_name, {})[label] = entry
                print(line_for(set_name, label, entry), flush=True)
            if args.out:
                update_json(args.out, set_name, label, doc[set_name][label])


def update_json(path, set_name, label, entry):
    """Re-read the file and set one entry, so that other writers' entries are kept."""
    doc = load_json(path)
    doc.setdefault(set_name, {})[label] = entry
    save_json(path, doc)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sets", default=",".join(SETS))
    p.add_argument("--strategies", default=",".join(STRATEGIES))
    p.add_argument("--data-dir", default=os.path.join(REPO, "data"))
    p.add_argument("--convention", choices=["universal", "prepend-ones"], default="universal")
    p.add_argument("--timeout-per-run", type=float, default=1500.0)
    p.add_argument("--prefix-on-timeout", type=int, default=500)
    p.add_argument("--days", type=int, default=None, help="run only the first N rows")
    p.add_argument("--prefix-note", default=None,
                   help="with --days: record that the whole-set run was not attempted, and why")
    p.add_argument("--seeds", default="0,1,2,3,4", help="UP's numpy seeds")
    p.add_argument("--label-suffix", default="")
    p.add_argument("--cpu", default="0", help="taskset CPU list for the runs")
    p.add_argument("--out", default=None)
    # worker mode (internal)
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--set", help=argparse.SUPPRESS)
    p.add_argument("--strategy", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args)
    else:
        driver(args)


if __name__ == "__main__":
    main()
