"""The paper's federated client CNN in PyTorch, to compare with `cargo bench --bench federated -- client`.

Network (§A.2, pimtl's ConvNet::paper(28, 28)): 28×28×1 images, a 5×5 convolution with 32 output
channels (valid padding, stride 1, bias), ReLU, a dense layer of the 18 432 features to 10 classes,
mean cross-entropy. 185 162 parameters, as pimtl's.

ids: cnn/fwd_bwd_b20 (loss and gradient of a batch of 20, no optimiser; pimtl's
client/cnn_fwd_bwd_b20), cnn/fwd_bwd_sgd_b20 (the same plus an SGD step), cnn/fwd_b1000 (logits of
1 000 images without autograd; pimtl's client/cnn_fwd_b1000).
"""

import argparse

import torch
from _timing import measure, report, set_one_thread


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seconds", type=float, default=2.0)
    args = ap.parse_args()
    set_one_thread()
    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 32, 5),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(24 * 24 * 32, 10),
    )
    assert sum(p.numel() for p in net.parameters()) == 185162
    opt = torch.optim.SGD(net.parameters(), lr=0.05)
    x = torch.rand(20, 1, 28, 28)
    y = torch.randint(0, 10, (20,))
    ev = torch.rand(1000, 1, 28, 28)
    loss_fn = torch.nn.CrossEntropyLoss()

    def fwd_bwd():
        net.zero_grad(set_to_none=True)
        loss_fn(net(x), y).backward()

    def fwd_bwd_sgd():
        fwd_bwd()
        opt.step()

    def fwd_eval():
        with torch.no_grad():
            net(ev)

    report("cnn/fwd_bwd_b20", measure(fwd_bwd, args.seconds))
    report("cnn/fwd_bwd_sgd_b20", measure(fwd_bwd_sgd, args.seconds))
    report("cnn/fwd_b1000", measure(fwd_eval, args.seconds))


if __name__ == "__main__":
    main()
