"""Shared timing helper of the comparison scripts: one thread, warm-up, median of rounds.

Every script prints one line per measurement,

    RESULT <id> <milliseconds per call>

which scripts/compare.sh parses. <id> names the same workload as the pimtl criterion bench it is
compared with (see each script's docstring).
"""

import statistics
import time


def set_one_thread():
    """One intra-op and one inter-op thread, as the pimtl benches run."""
    import torch

    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass  # already set in this process


def measure(fn, min_seconds=1.0, rounds=7, warmup=3):
    """Median milliseconds per call of `fn` over `rounds` rounds of at least `min_seconds / rounds` each."""
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    per_round = max(1, int(min_seconds / rounds / once))
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for _ in range(per_round):
            fn()
        times.append((time.perf_counter() - t0) / per_round)
    return 1e3 * statistics.median(times)


def report(ident, ms):
    print(f"RESULT {ident} {ms:.6f}", flush=True)
