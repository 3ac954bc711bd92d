"""Overheads of the Python bindings (issue #15 targets), one parseable line per figure.

    taskset -c 1 python python/benches/bench_bindings.py [--data-dir data]

* ``step_overhead_us``: the Gymnasium portfolio env's ``step`` (unwrapped, the paper's task of
  10 NYSE(O) instruments, window 50) minus the core alone doing the same day
  (``PortfolioEpisode.time_core_steps``: observe + step in a Rust loop); target <= 5 us.
* ``sampler_draws_per_s``: ``TaskSampler.sample(n)`` at T = 10^5 with n = 10^6; target >= 5 M/s.

Each figure is the best of ``--repeats`` runs (the machine's noise only adds time).
"""

import argparse
import platform
import time

import numpy as np

import pimtl
from pimtl.envs import PortfolioEnv


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data-dir", default=None)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--steps", type=int, default=20000)
    args = ap.parse_args()
    print(f"cpu: {cpu_model()}; python {platform.python_version()}; numpy {np.__version__}")

    env = PortfolioEnv("nyse_o", data_dir=args.data_dir, window=50)
    a = np.full(env.entities, 1.0 / env.entities)
    best_py, best_core = float("inf"), float("inf")
    for _ in range(args.repeats):
        env.reset()
        n, t0 = 0, time.perf_counter()
        while n < args.steps:
            _, _, term, trunc, _ = env.step(a)
            n += 1
            if term or trunc:
                env.reset()
        best_py = min(best_py, (time.perf_counter() - t0) / n)
        best_core = min(best_core, env._core.time_core_steps(args.steps))
    print(f"step_python_us {best_py * 1e6:.3f}")
    print(f"step_core_us {best_core * 1e6:.3f}")
    print(f"step_overhead_us {(best_py - best_core) * 1e6:.3f}")

    s = pimtl.TaskSampler(100_000, seed=1)
    s.update(np.arange(100_000), np.random.default_rng(0).uniform(0.1, 10.0, 100_000))
    best = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        s.sample(1_000_000)
        best = min(best, time.perf_counter() - t0)
    print(f"sampler_draws_per_s {1e6 / best:.4g}")


if __name__ == "__main__":
    main()
