"""Gymnasium environments on pimtl's core (registered when ``pimtl`` is imported).

``pimtl/Portfolio-v0`` (:class:`PortfolioEnv`)
    One task of Section 6.2: a subset of the instruments of a data set (a known set by name, a
    CSV file, or a :class:`pimtl.PriceSet`), traded one day at a time. Observation, deciding day
    ``n``: ``{"window": (m, H, F) float64, "weights": (m,) float64}`` -- each instrument's
    window of ``H`` days of prices over its latest close, centred (``kappa * (v_d / v_{n-1} - 1)``;
    ``F = 1`` close, or ``F = 3`` close, high, low), and the previous weights ``w'_{n-1}``
    (drifted by the last day's prices). Action: an allocation on the simplex (:class:`Simplex`;
    one off it, or with NaN, is a ``ValueError`` naming the day; never renormalised). Reward:
    ``ln r_n`` with ``r_n = mu_n * a_n . y_n``, where ``mu_n`` is the transaction remainder of
    rebalancing ``w'_{n-1} -> a_n`` under the fee model: ``"exact"`` (Jiang et al. 2017 eq. 14,
    default, rate 0.25 %), ``"linear"`` (``1 - c * sum |a - w'|``), ``"additive"``
    (universal-portfolios' ``max(a.y - c * sum |a - w'|, 0)``), ``"per_side"`` (``fee=(buy,
    sell)``) or ``"none"``. The first trade of an episode is free and starts from the uniform
    weights, as the crate's back-test of a learned policy. The episode ends (``truncated``) after
    its last decision day; it ``terminated`` only if the wealth reaches 0.

``pimtl/Allocation-v0`` (:class:`AllocationEnv`)
    The synthetic entropy-regularised allocation of Section 6.1: state ``x ~ U[0, 1]^m``, reward
    ``sum_i x_i a_i - beta_i a_i ln a_i`` (+ ``N(0, sigma^2)``), optimum ``softmax(x / beta)``
    for equal weights; ``epsilon = max beta - min beta`` measures how far the task is from
    permutation-invariant.

``pimtl/MultiTaskPortfolio-v0`` (:func:`make_multitask_portfolio`) and :class:`MultiTaskEnv`
    Every ``reset`` draws a task through :class:`pimtl.TaskSampler` (``p_t ~ s_t^alpha``) and
    ``info`` carries its index, probability and importance weight
    ``w_t = (T p_t)^-beta / max w``; at the end of each episode the task's score is updated
    (by default the variance of the episode's rewards, the core's ``RewardVariance``).
"""

from __future__ import annotations

import os
from typing import Any, Callable, Optional, Sequence, Union

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from ._core import PortfolioEpisode, PriceSet, SyntheticAllocation, TaskSampler, draw_tasks

__all__ = [
    "AllocationEnv",
    "MultiTaskEnv",
    "PortfolioEnv",
    "Simplex",
    "make_multitask_portfolio",
]


class Simplex(spaces.Box):
    """The probability simplex ``{a in [0, 1]^m : sum a = 1}`` as a Gymnasium space.

    A :class:`gymnasium.spaces.Box` on ``[0, 1]^m`` whose ``sample`` draws uniformly from the
    simplex (Dirichlet(1, ..., 1)) and whose ``contains`` also asks ``|sum a - 1| <= tol``.
    """

    def __init__(self, n: int, tol: float = 1e-6, dtype=np.float64, seed=None):
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 1:
            raise ValueError(f"n: the simplex needs at least 1 coordinate, got {n!r}")
        super().__init__(low=0.0, high=1.0, shape=(int(n),), dtype=dtype, seed=seed)
        self.tol = float(tol)

    def sample(self, mask=None, probability=None):  # noqa: D102 (Space API)
        if mask is not None or probability is not None:
            raise gym.error.Error("Simplex.sample does not support masks")
        a = self.np_random.dirichlet(np.ones(self.shape[0]))
        return a.astype(self.dtype)

    def contains(self, x) -> bool:  # noqa: D102 (Space API)
        if not super().contains(x):
            return False
        return bool(abs(float(np.sum(x, dtype=np.float64)) - 1.0) <= self.tol)

    def __repr__(self) -> str:
        return f"Simplex({self.shape[0]})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Simplex) and other.shape == self.shape and other.tol == self.tol


def _price_set(data: Union[str, os.PathLike, PriceSet], data_dir) -> PriceSet:
    if isinstance(data, PriceSet):
        return data
    if isinstance(data, (str, os.PathLike)):
        return PriceSet(os.fspath(data), None if data_dir is None else os.fspath(data_dir))
    raise TypeError(f"data: expected a data set name, a path or a PriceSet, got {type(data).__name__}")


def _asset_indices(prices: PriceSet, assets) -> list:
    names = prices.assets
    if assets is None:
        return list(range(min(10, len(names))))
    if isinstance(assets, (str, bytes)) or not hasattr(assets, "__iter__"):
        raise TypeError(f"assets: expected a sequence of indices or names, got {type(assets).__name__}")
    out = []
    for a in assets:
        if isinstance(a, str):
            if a not in names:
                raise ValueError(f"assets: no instrument named {a!r} in the data ({len(names)} instruments)")
            out.append(names.index(a))
        elif isinstance(a, (int, np.integer)) and not isinstance(a, bool):
            out.append(int(a))
        else:
            raise TypeError(f"assets: expected instrument indices or names, got {a!r}")
    return out


def _check_seed(seed) -> None:
    if seed is not None and (not isinstance(seed, (int, np.integer)) or isinstance(seed, bool)):
        raise TypeError(f"seed: expected an int or None, got {type(seed).__name__}")


class PortfolioEnv(gym.Env):
    """``pimtl/Portfolio-v0``: one portfolio task traded day by day (see the module doc).

    Args:
        data: a known data set's name (``"nyse_o"``, ...; ``bash scripts/fetch-data.sh`` fetches
            them), a CSV path (any format ``pimtl --data`` reads), or a :class:`pimtl.PriceSet`.
        assets: the task's instruments, as indices or names (default: the first 10).
        window: days of history ``H`` per observation.
        fee, fee_model: the transaction costs (see the module doc); default exact, 0.25 %.
        cash: add a cash entity (price relative 1, zero window) as the last entity.
        feature_scale: ``kappa`` of the centred window features.
        start, end: the decision days ``[start, end)`` of an episode (default ``[H, days)``).
        episode_length: with ``random_start``, episodes of this many days starting at a day drawn
            uniformly with the environment's seeded generator.
        random_start: draw each episode's start day (needs ``episode_length``).
        tolerance: the simplex tolerance of the action check (``1e-6``; allow ``m * 1e-7`` more
            for float32 softmax outputs).
        render_mode: ``None``, ``"ansi"`` (``render`` returns a line) or ``"human"`` (prints it).

    ``reset(options={"start": s, "end": e})`` overrides the episode's range once.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(
        self,
        data: Union[str, os.PathLike, PriceSet] = "nyse_o",
        assets: Optional[Sequence[Union[int, str]]] = None,
        window: int = 50,
        fee: Union[float, tuple, None] = 0.0025,
        fee_model: str = "exact",
        cash: bool = False,
        feature_scale: float = 1.0,
        start: Optional[int] = None,
        end: Optional[int] = None,
        episode_length: Optional[int] = None,
        random_start: bool = False,
        tolerance: float = 1e-6,
        data_dir: Optional[Union[str, os.PathLike]] = None,
        render_mode: Optional[str] = None,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode: expected one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        self.render_mode = render_mode
        self.prices = _price_set(data, data_dir)
        self.asset_indices = _asset_indices(self.prices, assets)
        self._core = PortfolioEpisode(
            self.prices,
            self.asset_indices,
            window=window,
            fee=fee,
            fee_model=fee_model,
            cash=cash,
            feature_scale=feature_scale,
            tolerance=tolerance,
        )
        days = self.prices.days
        self.start = window if start is None else int(start)
        self.end = days if end is None else int(end)
        if random_start and episode_length is None:
            raise ValueError("episode_length: random_start needs an episode length")
        if episode_length is not None and not (1 <= episode_length <= days - window):
            raise ValueError(f"episode_length: must be in [1, {days - window}] (days after the first window), got {episode_length}")
        self.episode_length = episode_length
        self.random_start = bool(random_start)
        self._core.reset(self.start, self.end if episode_length is None else self.start + episode_length)
        m, h, f = self._core.entities, self._core.window, self._core.features
        self.observation_space = spaces.Dict(
            {
                "window": spaces.Box(-np.inf, np.inf, shape=(m, h, f), dtype=np.float64),
                "weights": spaces.Box(0.0, 1.0, shape=(m,), dtype=np.float64),
            }
        )
        self.action_space = Simplex(m, tol=tolerance)
        names = self.prices.assets
        self.entity_names = [names[i] for i in self.asset_indices] + (["cash"] if cash else [])
        self._last = None

    @property
    def entities(self) -> int:
        """Entities ``m`` of the task (instruments, plus cash)."""
        return self._core.entities

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        """Starts an episode; returns ``(observation, info)``."""
        _check_seed(seed)
        super().reset(seed=seed)
        options = options or {}
        start, end = self.start, self.end
        if self.episode_length is not None:
            if self.random_start:
                start = int(self.np_random.integers(self._core.window, self.prices.days - self.episode_length + 1))
            end = start + self.episode_length
        start = int(options.get("start", start))
        end = int(options.get("end", end))
        self._core.reset(start, end)
        window, weights = self._core.observe()
        self._last = (start, 1.0, weights)
        return {"window": window, "weights": weights}, {"day": start, "wealth": 1.0}

    def step(self, action):
        """Trades the next day; returns ``(observation, reward, terminated, truncated, info)``."""
        reward, wealth, done, turnover, window, weights = self._core.step_observe(action)
        day = self._core.day
        self._last = (day, wealth, weights)
        return (
            {"window": window, "weights": weights},
            reward,
            wealth <= 0.0,
            done and wealth > 0.0,
            {"day": day, "wealth": wealth, "turnover": turnover},
        )

    def render(self):
        """``"ansi"``: a line with the day, the wealth and the weights; ``"human"``: prints it."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode (give render_mode='ansi' or 'human')")
            return None
        if self._last is None:
            line = "(reset the environment first)"
        else:
            day, wealth, weights = self._last
            w = " ".join(f"{n}={x:.3f}" for n, x in zip(self.entity_names, weights))
            line = f"day {day}: wealth {wealth:.6g}; weights {w}"
        if self.render_mode == "ansi":
            return line
        print(line)
        return None


class AllocationEnv(gym.Env):
    """``pimtl/Allocation-v0``: the synthetic entropy-regularised allocation of Section 6.1.

    Args:
        m: entities.
        epsilon: spread of the weights, ``beta_i`` evenly on ``[0.5 - eps/2, 0.5 + eps/2]``
            (``epsilon = 0`` is the permutation-invariant task).
        betas: explicit weights instead (overrides ``m`` and ``epsilon``).
        noise_std: standard deviation ``sigma`` of the reward noise.
        horizon: steps per episode (each with a fresh state), then ``truncated``.
        with_optimum: put the optimal reward ``R(x, a*(x))`` of the step's state in ``info``.
        render_mode: ``None``, ``"ansi"`` or ``"human"``.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(
        self,
        m: int = 10,
        epsilon: float = 0.0,
        betas: Optional[Sequence[float]] = None,
        noise_std: float = 0.0,
        horizon: int = 16,
        with_optimum: bool = False,
        render_mode: Optional[str] = None,
    ):
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode: expected one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        if not isinstance(horizon, (int, np.integer)) or horizon < 1:
            raise ValueError(f"horizon: must be an int >= 1, got {horizon!r}")
        self.render_mode = render_mode
        if betas is not None:
            self._core = SyntheticAllocation([float(b) for b in betas], noise_std)
        else:
            self._core = SyntheticAllocation.with_spread(m, epsilon, noise_std)
        self.m = self._core.entities
        self.horizon = int(horizon)
        self.with_optimum = bool(with_optimum)
        self.observation_space = spaces.Box(0.0, 1.0, shape=(self.m,), dtype=np.float64)
        self.action_space = Simplex(self.m)
        self._x = None
        self._t = 0
        self._last_reward = None

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        """Starts an episode with a fresh state; returns ``(observation, info)``."""
        _check_seed(seed)
        super().reset(seed=seed)
        self._t = 0
        self._x = self.np_random.random(self.m)
        self._last_reward = None
        return self._x.copy(), {}

    def step(self, action):
        """Rewards ``action`` in the current state and moves to a fresh one."""
        if self._x is None:
            raise gym.error.ResetNeeded("call reset before step")
        x = self._x
        reward = self._core.mean_reward(x, action)
        if self._core.noise_std > 0.0:
            reward += self._core.noise_std * float(self.np_random.standard_normal())
        info = {"mean_reward": reward}
        if self.with_optimum:
            info["optimal_reward"] = self._core.mean_reward(x, self._core.optimal_allocation(x))
        self._t += 1
        self._x = self.np_random.random(self.m)
        self._last_reward = reward
        return self._x.copy(), reward, False, self._t >= self.horizon, info

    def optimal_allocation(self, x) -> np.ndarray:
        """The maximiser ``a*(x)`` of the noiseless reward."""
        return self._core.optimal_allocation(x)

    def render(self):
        """``"ansi"``: a line with the step and the last reward; ``"human"``: prints it."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode (give render_mode='ansi' or 'human')")
            return None
        line = f"step {self._t}: last reward {self._last_reward}"
        if self.render_mode == "ansi":
            return line
        print(line)
        return None


def _reward_variance(rewards: Sequence[float]) -> float:
    """The population variance of an episode's rewards (the core's ``RewardVariance`` scorer)."""
    r = np.asarray(rewards, dtype=np.float64)
    return float(np.mean((r - r.mean()) ** 2)) if r.size else 0.0


class MultiTaskEnv(gym.Env):
    """Tasks drawn by the prioritised sampler of Section 5 at every ``reset``.

    Args:
        make_task: ``make_task(t)`` builds task ``t``'s environment (built once, then reused);
            every task must have the same observation and action spaces.
        num_tasks: ``T``.
        alpha, beta, smoothing, initial_score: the sampler's settings (``TaskSampler``).
        score: what updates the task's score at the end of each episode: ``"reward_variance"``
            (default), a callable ``score(rewards) -> float``, or ``None`` (call
            :meth:`update` yourself).
        seed: the sampler's seed (``reset(seed=...)`` reseeds it too).

    ``info`` of ``reset`` and ``step`` has ``task``, ``probability`` (``p_t``) and
    ``importance_weight`` (``w_t``) of the current task.
    """

    metadata = {"render_modes": ["ansi", "human"], "render_fps": 4}

    def __init__(
        self,
        make_task: Callable[[int], gym.Env],
        num_tasks: int,
        alpha: float = 0.5,
        beta: float = 1.0,
        smoothing: float = 0.2,
        initial_score: float = 1.0,
        score: Union[str, Callable[[Sequence[float]], float], None] = "reward_variance",
        seed: int = 0,
        render_mode: Optional[str] = None,
    ):
        if not callable(make_task):
            raise TypeError("make_task: expected a callable task index -> environment")
        self.sampler = TaskSampler(num_tasks, alpha=alpha, beta=beta, smoothing=smoothing, initial_score=initial_score, seed=seed)
        if score == "reward_variance":
            self._score = _reward_variance
        elif score is None or callable(score):
            self._score = score
        else:
            raise ValueError(f"score: expected 'reward_variance', a callable or None, got {score!r}")
        self._make_task = make_task
        self._envs: dict = {}
        first = self._task_env(0)
        self.observation_space = first.observation_space
        self.action_space = first.action_space
        self.render_mode = render_mode
        self.task: Optional[int] = None
        self._rewards: list = []

    @property
    def num_tasks(self) -> int:
        """``T``."""
        return len(self.sampler)

    def _task_env(self, t: int) -> gym.Env:
        env = self._envs.get(t)
        if env is None:
            env = self._make_task(t)
            if self._envs and (env.observation_space != self.observation_space or env.action_space != self.action_space):
                raise ValueError(f"make_task: task {t}'s spaces differ from task 0's")
            if render_mode := getattr(self, "render_mode", None):
                env.render_mode = render_mode
            self._envs[t] = env
        return env

    def _info(self, info: dict) -> dict:
        t = self.task
        info = dict(info)
        info["task"] = t
        info["probability"] = self.sampler.probability(t)
        info["importance_weight"] = self.sampler.weight(t)
        return info

    def reset(self, *, seed: Optional[int] = None, options: Optional[dict] = None):
        """Draws a task ``t ~ p_t`` and resets its environment; returns ``(observation, info)``."""
        _check_seed(seed)
        super().reset(seed=seed)
        if seed is not None:
            self.sampler.seed(int(seed))
        self.task = int(self.sampler.sample())
        env = self._task_env(self.task)
        task_seed = int(self.np_random.integers(0, 2**63 - 1))
        obs, info = env.reset(seed=task_seed, options=options)
        self._rewards = []
        return obs, self._info(info)

    def step(self, action):
        """Steps the current task; at the episode's end updates its score."""
        if self.task is None:
            raise gym.error.ResetNeeded("call reset before step")
        obs, reward, terminated, truncated, info = self._envs[self.task].step(action)
        self._rewards.append(reward)
        if (terminated or truncated) and self._score is not None:
            self.sampler.update(self.task, float(self._score(self._rewards)))
        return obs, reward, terminated, truncated, self._info(info)

    def update(self, score: float, task: Optional[int] = None) -> float:
        """Smooths ``score`` into the current (or the given) task's score; returns the new score."""
        t = self.task if task is None else task
        if t is None:
            raise gym.error.ResetNeeded("no current task: call reset or give task=")
        return float(self.sampler.update(int(t), float(score)))

    def render(self):
        """Renders the current task's environment."""
        if self.task is None:
            return None
        return self._envs[self.task].render()

    def close(self):
        """Closes every task environment built so far."""
        for env in self._envs.values():
            env.close()
        super().close()


def make_multitask_portfolio(
    data: Union[str, os.PathLike, PriceSet] = "nyse_o",
    universe: Optional[Sequence[Union[int, str]]] = None,
    task_size: int = 10,
    num_tasks: int = 100,
    task_seed: int = 0,
    alpha: float = 0.5,
    beta: float = 1.0,
    smoothing: float = 0.2,
    score: Union[str, Callable, None] = "reward_variance",
    seed: int = 0,
    data_dir=None,
    **portfolio: Any,
) -> MultiTaskEnv:
    """``pimtl/MultiTaskPortfolio-v0``: ``num_tasks`` distinct subsets of ``task_size``
    instruments of ``universe`` (default: every instrument of ``data``), drawn reproducibly from
    ``task_seed``, each a :class:`PortfolioEnv` with the keyword arguments ``portfolio``, behind a
    :class:`MultiTaskEnv`. The tasks are in ``env.tasks`` (instrument indices)."""
    prices = _price_set(data, data_dir)
    pool = list(range(len(prices))) if universe is None else _asset_indices(prices, universe)
    chosen = draw_tasks(len(pool), task_size, num_tasks, task_seed)
    tasks = [[pool[i] for i in t] for t in chosen]

    def make(t: int) -> PortfolioEnv:
        return PortfolioEnv(prices, tasks[t], **portfolio)

    env = MultiTaskEnv(make, len(tasks), alpha=alpha, beta=beta, smoothing=smoothing, score=score, seed=seed)
    env.tasks = tasks
    return env


def _register() -> None:
    for env_id, entry in [
        ("pimtl/Portfolio-v0", "pimtl.envs:PortfolioEnv"),
        ("pimtl/Allocation-v0", "pimtl.envs:AllocationEnv"),
        ("pimtl/MultiTaskPortfolio-v0", "pimtl.envs:make_multitask_portfolio"),
    ]:
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point=entry)


_register()
