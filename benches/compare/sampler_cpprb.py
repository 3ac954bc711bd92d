"""cpprb's prioritised buffer (a sum tree and a min tree in C++), to compare with
`cargo bench --bench sampler -- task_sampler/draw_update`.

One "pair" is what Algorithm 1 asks of the task sampler per iteration: draw an index with
probability p_i ∝ s_i^α (α = 0.5) and its importance weight (β = 1), then set a new priority for
it. cpprb is used as prioritised experience replay uses it: `sample(k)` draws k indices with their
weights, `update_priorities` sets k new priorities. Batches of 256 amortise Python's per-call cost
(its best case); k = 1 is the one-at-a-time case.

ids: sampler/cpprb/<T>/batch<k>, in milliseconds per pair (so 1e-3 / value = M pairs/s); pimtl's
counterpart is task_sampler/draw_update/<T> (one pair per iteration).
"""

import argparse

import numpy as np
from cpprb import PrioritizedReplayBuffer
from _timing import measure, report


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tasks", type=int, default=100_000)
    ap.add_argument("--batches", default="256,1")
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    rng = np.random.default_rng(1)
    rb = PrioritizedReplayBuffer(args.tasks, {"t": {"dtype": np.int64}}, alpha=0.5)
    rb.add(t=np.arange(args.tasks), priorities=0.01 + 10.0 * rng.random(args.tasks))
    for k in [int(b) for b in args.batches.split(",")]:
        new = 10.0 * rng.random(k)

        def pair():
            s = rb.sample(k, beta=1.0)
            rb.update_priorities(s["indexes"], new)

        report(f"sampler/cpprb/{args.tasks}/batch{k}", measure(pair, args.seconds) / k)


if __name__ == "__main__":
    main()
