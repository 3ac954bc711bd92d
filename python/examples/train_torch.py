"""Train a small permutation-equivariant PyTorch policy on pimtl's Gymnasium portfolio envs.

The policy scores every instrument with one shared MLP over its price window and previous
weight (so it is permutation-equivariant, Definition 1 of the paper) and draws the allocation
from a Dirichlet distribution whose concentrations are those scores; it is trained with
REINFORCE (a moving-average baseline) on the environment's reward ln(mu * a.y).

With ``--multitask`` every episode is a task drawn by pimtl's prioritised TaskSampler
(``pimtl/MultiTaskPortfolio-v0``) and the loss of each episode is weighted by the importance
weight ``info["importance_weight"]`` that the environment returns, as in Algorithm 1.

    pip install ./python torch
    python python/examples/train_torch.py --steps 300            # one task (NYSE(O), 5 assets)
    python python/examples/train_torch.py --steps 300 --multitask

Prints the average reward of the first and last tenth of training and the test-period wealth
of the learned policy (its mean allocation) beside equal weights.
"""

import argparse
import math

import gymnasium as gym
import numpy as np
import torch

import pimtl  # noqa: F401  (registers the environments)


class EquivariantScorer(torch.nn.Module):
    """score_i = MLP([window_i, w_i]) for every entity i, with one MLP shared by all of them."""

    def __init__(self, window: int, features: int, hidden: int = 32):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(window * features + 1, hidden),
            torch.nn.Tanh(),
            torch.nn.Linear(hidden, 1),
        )

    def forward(self, window: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
        m = window.shape[0]
        x = torch.cat([window.reshape(m, -1) * 10.0, weights[:, None]], dim=1)
        # Concentrations in (0.5, 50): a Dirichlet of these is on the simplex by construction.
        return 0.5 + 49.5 * torch.sigmoid(self.net(x).squeeze(-1))


def to_tensors(obs):
    return torch.as_tensor(obs["window"], dtype=torch.float32), torch.as_tensor(obs["weights"], dtype=torch.float32)


def as_action(a: torch.Tensor) -> np.ndarray:
    """A float64 point of the simplex (a float32 sample sums to 1 only to about 1e-7)."""
    a = a.detach().double().clamp_min(0.0)
    return (a / a.sum()).numpy()


def evaluate(policy, env, start: int, end: int) -> float:
    obs, _ = env.reset(options={"start": start, "end": end})
    done = False
    info = {"wealth": 1.0}
    while not done:
        with torch.no_grad():
            conc = policy(*to_tensors(obs))
        obs, _, term, trunc, info = env.step(as_action(conc / conc.sum()))
        done = term or trunc
    return info["wealth"]


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="nyse_o", help="a known data set or a CSV file")
    ap.add_argument("--data-dir", default=None, help="folder of the known data sets")
    ap.add_argument("--steps", type=int, default=300, help="policy-gradient updates (one episode each)")
    ap.add_argument("--episode", type=int, default=20, help="days per training episode")
    ap.add_argument("--window", type=int, default=10)
    ap.add_argument("--assets", type=int, default=5, help="instruments per task")
    ap.add_argument("--multitask", action="store_true", help="draw tasks with the prioritised sampler")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    torch.manual_seed(args.seed)
    prices = pimtl.PriceSet(args.data, args.data_dir)
    split = int(prices.days * 0.8)  # train on the first 80 % of days, test on the rest
    common = dict(window=args.window, fee=0.0025, episode_length=args.episode, random_start=True)
    train_prices = pimtl.PriceSet.from_relatives(prices.relatives()[:split], names=prices.assets)
    if args.multitask:
        env = gym.make("pimtl/MultiTaskPortfolio-v0", data=train_prices, task_size=args.assets, num_tasks=30, **common)
    else:
        env = gym.make("pimtl/Portfolio-v0", data=train_prices, assets=list(range(args.assets)), **common)
    policy = EquivariantScorer(args.window, prices.features)
    opt = torch.optim.Adam(policy.parameters(), lr=3e-3)

    baseline, history = 0.0, []
    obs, info = env.reset(seed=args.seed)
    for step in range(args.steps):
        logps, rewards, done = [], [], False
        weight = float(info.get("importance_weight", 1.0))
        while not done:
            dist = torch.distributions.Dirichlet(policy(*to_tensors(obs)))
            a = dist.sample()
            logps.append(dist.log_prob(a))
            obs, r, term, trunc, info = env.step(as_action(a))
            rewards.append(r)
            done = term or trunc
        ret = float(np.sum(rewards))
        loss = -weight * (ret - baseline) * torch.stack(logps).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
        baseline = 0.9 * baseline + 0.1 * ret
        history.append(ret / len(rewards))
        obs, info = env.reset()

    tenth = max(1, len(history) // 10)
    print(f"mean daily reward: first tenth {np.mean(history[:tenth]):+.5f}, last tenth {np.mean(history[-tenth:]):+.5f}")
    test = gym.make("pimtl/Portfolio-v0", data=prices, assets=list(range(args.assets)), window=args.window, fee=0.0025).unwrapped
    learned = evaluate(policy, test, split, prices.days)
    equal = pimtl.run_strategy("ucrp", prices.relatives()[split:, : args.assets], fee=0.0025)["final_wealth"]
    print(f"test days {split}..{prices.days}: learned policy wealth {learned:.4f}, equal weights {equal:.4f}")
    assert math.isfinite(learned)


if __name__ == "__main__":
    main()
