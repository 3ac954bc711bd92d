"""Single-core sgemm peak through torch.mm (MKL/oneDNN), the yardstick of the policy's GFLOP/s.

ids: sgemm/<n> in milliseconds per n×n×n product (2n³ FLOP).
"""

import argparse

import torch
from _timing import measure, report, set_one_thread


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", default="1024,2048")
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    set_one_thread()
    for n in [int(s) for s in args.sizes.split(",")]:
        a, b = torch.rand(n, n), torch.rand(n, n)
        report(f"sgemm/{n}", measure(lambda: torch.mm(a, b), args.seconds))


if __name__ == "__main__":
    main()
