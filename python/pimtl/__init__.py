"""pimtl: permutation-invariant multi-task reinforcement learning for sequential resource
allocation (Cai, Lim & Wynter, arXiv 2102.09361), on the Rust core of the ``pimtl`` crate.

* ``pimtl.TaskSampler`` -- the prioritised task sampler of Section 5 (sum tree; scores smoothed
  exponentially, ``p_t = s_t^alpha / sum s^alpha``, importance weights
  ``w_t = (T p_t)^-beta / max w``);
* ``pimtl.EquivariantPolicy`` -- the permutation-equivariant policy (shared per-entity encoder,
  score head, softmax), forward and hand-written backward to numpy gradients, the CLI's JSON;
* ``pimtl.envs`` -- Gymnasium environments ``pimtl/Portfolio-v0``, ``pimtl/Allocation-v0`` and
  ``pimtl/MultiTaskPortfolio-v0`` (registered on import) and the generic ``MultiTaskEnv``;
* ``pimtl.backtest``, ``pimtl.run_strategy``, ``pimtl.strategies`` -- back-tests through the
  crate's one simulator, every classic online-portfolio strategy by name;
* ``pimtl.theorem1``, ``pimtl.corollary1``, ``pimtl.corollary2`` -- the bound's calculator;
* ``pimtl.cli`` -- the command line in-process; ``pimtl.sweep`` -- its seed sweeps on Ray.

Errors raised by the core are ``ValueError`` (bad arguments, data, allocations), ``OSError``
(files) or ``ArithmeticError`` (overflow), with the core's message.
"""

from ._core import (
    EquivariantPolicy,
    PortfolioEpisode,
    PriceSet,
    SyntheticAllocation,
    TaskSampler,
    __version__,
    backtest,
    cli,
    corollary1,
    corollary2,
    draw_tasks,
    run_strategy,
    strategies,
    theorem1,
)
from . import envs  # noqa: E402  (registers the Gymnasium environments)


def price_relatives(prices):
    """The ``(days, assets)`` relatives ``v_n / v_{n-1}`` of a ``(days + 1, assets)`` price array
    (every price finite and > 0, else a ``ValueError`` naming the row and column): the input of
    :func:`backtest` and :func:`run_strategy` when what you have are prices."""
    return PriceSet.from_prices(prices).relatives()

__all__ = [
    "EquivariantPolicy",
    "PortfolioEpisode",
    "PriceSet",
    "SyntheticAllocation",
    "TaskSampler",
    "__version__",
    "backtest",
    "cli",
    "corollary1",
    "corollary2",
    "draw_tasks",
    "envs",
    "price_relatives",
    "run_strategy",
    "strategies",
    "theorem1",
]
