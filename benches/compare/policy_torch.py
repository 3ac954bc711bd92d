"""The paper's portfolio policy in PyTorch, to compare with `cargo bench --bench policy`.

Network (§A.1, pimtl's PolicyConfig::paper_portfolio(3)): every entity's window of W steps of F
features goes through one tanh RNN with H hidden units (h_0 = 0); its last state and the entity's
previous allocation go through one dense layer without bias to a score; the allocation is the
softmax of the scores over the task's m entities. The loss is a = softmax(s) dotted with a fixed
random vector g (as the pimtl bench feeds dL/da = g), so forward + backward does the same work.

Variants: `rnn` (torch.nn.RNN), `unrolled` (a Python loop over the steps with matmuls, the fastest
eager form), `compile` (torch.compile of the unrolled loop). Modes: `forward` (no autograd),
`forward_backward` (loss.backward(), no optimiser, as pimtl's bench), `train` (+ zero_grad and an
Adam step).

ids: policy/<case>/<variant>/<mode>, case `paper_b50_m10` (B 50, m 10, W 50, F 3, H 25) or
`b256_m100` (B 256, m 100); pimtl's counterparts are policy_f32/infer/<case> (for `forward`) and
policy_f32/forward_backward/<case>.

`--cell gru` runs the same network with a GRU cell (pimtl's `Cell::Gru`, gate order r, z, n,
n = tanh(x Wx_n + bx_n + r * (h Wh_n + bh_n)), h' = (1 - z) n + z h: torch.nn.GRU's equations).
Variants: `gru` (torch.nn.GRU), `unrolled` (a loop over the steps with two matmuls per step),
`compile`. ids: policy/<case>_gru/<variant>/<mode>; pimtl's counterparts are
policy_f32_gru/infer/<case> and policy_f32_gru/forward_backward/<case>.
"""

import argparse

import torch
from _timing import measure, report, set_one_thread

CASES = {"paper_b50_m10": (50, 10), "b256_m100": (256, 100)}


class Policy(torch.nn.Module):
    def __init__(self, features, hidden, variant, cell="elman"):
        super().__init__()
        self.variant = variant
        self.cell = cell
        gates = 3 if cell == "gru" else 1
        if variant == "gru":
            self.rnn = torch.nn.GRU(features, hidden, batch_first=True)
        elif variant == "rnn":
            self.rnn = torch.nn.RNN(features, hidden, nonlinearity="tanh", batch_first=True)
        else:
            self.wx = torch.nn.Parameter(torch.randn(features, gates * hidden) * 0.5)
            self.wh = torch.nn.Parameter(torch.randn(hidden, gates * hidden) / hidden**0.5)
            self.b = torch.nn.Parameter(torch.zeros(gates * hidden))
            self.bh = torch.nn.Parameter(torch.zeros(gates * hidden))
        self.v = torch.nn.Linear(hidden + 1, 1, bias=False)

    def encode(self, x):
        if self.variant in ("rnn", "gru"):
            _, h = self.rnn(x)
            return h[0]
        if self.cell == "gru":
            return self.encode_gru(x)
        h = torch.tanh(x[:, 0] @ self.wx + self.b)
        for t in range(1, x.shape[1]):
            h = torch.tanh(torch.addmm(self.b, x[:, t], self.wx) + h @ self.wh)
        return h

    def encode_gru(self, x):
        hidden = self.wh.shape[0]
        # Step 1 with h_0 = 0: gh = bh.
        gx = torch.addmm(self.b, x[:, 0], self.wx)
        r, z, n = gx.split(hidden, dim=1)
        bhr, bhz, bhn = self.bh.split(hidden)
        r = torch.sigmoid(r + bhr)
        z = torch.sigmoid(z + bhz)
        h = (1 - z) * torch.tanh(n + r * bhn)
        for t in range(1, x.shape[1]):
            gx = torch.addmm(self.b, x[:, t], self.wx)
            gh = torch.addmm(self.bh, h, self.wh)
            xr, xz, xn = gx.split(hidden, dim=1)
            hr, hz, hn = gh.split(hidden, dim=1)
            r = torch.sigmoid(xr + hr)
            z = torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
            h = n + z * (h - n)
        return h

    def forward(self, x, prev, batch, entities):
        h = self.encode(x)
        s = self.v(torch.cat([h, prev[:, None]], dim=1)).view(batch, entities)
        return torch.softmax(s, dim=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--case", choices=sorted(CASES), default="paper_b50_m10")
    ap.add_argument("--cell", choices=["elman", "gru"], default="elman")
    ap.add_argument("--variants", default=None, help="default: rnn,unrolled,compile (gru,unrolled,compile for --cell gru)")
    ap.add_argument("--modes", default="forward,forward_backward,train")
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    set_one_thread()
    torch.manual_seed(0)
    batch, entities = CASES[args.case]
    window, features, hidden = 50, 3, 25
    rows = batch * entities
    x = 0.9 + 0.2 * torch.rand(rows, window, features)
    prev = torch.full((rows,), 1.0 / entities)
    g = torch.rand(batch, entities) * 2 - 1
    variants = args.variants or ("gru,unrolled,compile" if args.cell == "gru" else "rnn,unrolled,compile")
    label = f"{args.case}_gru" if args.cell == "gru" else args.case
    for variant in variants.split(","):
        library = "gru" if args.cell == "gru" else "rnn"
        if variant not in (library, "unrolled", "compile"):
            ap.error(f"variant {variant!r}: --cell {args.cell} has {library}, unrolled, compile")
        net = Policy(features, hidden, variant if variant in ("rnn", "gru") else "unrolled", args.cell)
        fwd = torch.compile(net) if variant == "compile" else net
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)

        def forward():
            with torch.no_grad():
                return fwd(x, prev, batch, entities)

        def forward_backward():
            loss = (fwd(x, prev, batch, entities) * g).sum()
            loss.backward()

        def train():
            opt.zero_grad(set_to_none=True)
            forward_backward()
            opt.step()

        for mode in args.modes.split(","):
            fn = {"forward": forward, "forward_backward": forward_backward, "train": train}[mode]
            report(f"policy/{label}/{variant}/{mode}", measure(fn, args.seconds))


if __name__ == "__main__":
    main()
