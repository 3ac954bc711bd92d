"""The Gymnasium environments: the API checker, the dynamics against the simulator, bad input."""

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import pimtl
from pimtl.envs import AllocationEnv, MultiTaskEnv, PortfolioEnv, Simplex


@pytest.fixture()
def prices(relatives):
    return pimtl.PriceSet.from_relatives(relatives, names=list("ABCDE"))


def test_registered_environments_pass_the_gymnasium_checker(data_dir):
    for env_id, kwargs in [
        ("pimtl/Portfolio-v0", dict(data="nyse_o", data_dir=data_dir, window=20)),
        ("pimtl/Portfolio-v0", dict(data="nyse_o", data_dir=data_dir, cash=True, episode_length=30, random_start=True)),
        ("pimtl/Allocation-v0", dict(m=6, epsilon=0.4, noise_std=0.1)),
        ("pimtl/MultiTaskPortfolio-v0", dict(data="nyse_o", data_dir=data_dir, task_size=4, num_tasks=12, window=5)),
    ]:
        env = gym.make(env_id, **kwargs)
        check_env(env.unwrapped, skip_render_check=True)
        env.close()


def test_stepping_is_the_simulators_backtest_bit_for_bit(relatives, prices):
    fee = 0.003
    env = PortfolioEnv(prices, assets=[4, 0, 2], window=10, fee=fee, fee_model="exact")
    obs, info = env.reset(seed=0)
    rng = np.random.default_rng(3)
    actions, rewards = [], []
    truncated = False
    while not truncated:
        a = rng.dirichlet(np.ones(3))
        obs, r, terminated, truncated, info = env.step(a)
        assert not terminated
        actions.append(a)
        rewards.append(r)
    assert len(actions) == 60 - 10
    ref = pimtl.backtest(relatives[10:, [4, 0, 2]], np.array(actions), fee=fee, fee_model="exact")
    assert info["wealth"] == ref["final_wealth"]
    np.testing.assert_array_equal(np.exp(rewards), ref["period_returns"])
    np.testing.assert_array_equal(obs["weights"], obs["weights"])
    assert sum(rewards) == pytest.approx(np.log(ref["final_wealth"]), rel=1e-12)


def test_observation_is_the_centred_price_window(relatives, prices):
    env = PortfolioEnv(prices, assets=["B", "D"], window=4, feature_scale=2.0)
    obs, _ = env.reset(options={"start": 9, "end": 20})
    price = np.vstack([np.ones(5), np.cumprod(relatives, axis=0)])  # price[k] = close after day k-1
    for j, asset in enumerate([1, 3]):
        # Days d = 5..8 end at closes price[6..9]; the latest close before day 9 is price[9].
        expected = 2.0 * (price[6:10, asset] / price[9, asset] - 1.0)
        np.testing.assert_allclose(obs["window"][j, :, 0], expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_array_equal(obs["weights"], [0.5, 0.5])
    obs, *_ = env.step(np.array([1.0, 0.0]))
    np.testing.assert_array_equal(obs["weights"], [1.0, 0.0])


def test_actions_off_the_simplex_are_refused_naming_the_day(prices):
    env = PortfolioEnv(prices, assets=[0, 1], window=5)
    env.reset()
    env.step(np.array([0.3, 0.7]))
    wealth = env._core.wealth
    for bad in ([0.6, 0.6], [np.nan, 1.0], [1.2, -0.2]):
        with pytest.raises(ValueError, match="decision day 6"):
            env.step(np.array(bad))
    with pytest.raises(ValueError, match="action"):
        env.step(np.array([1.0]))
    with pytest.raises(TypeError, match="action"):
        env.step("half and half")
    assert env._core.wealth == wealth and env._core.day == 6
    env.step(np.array([0.5, 0.5], dtype=np.float32))  # float32 actions convert


def test_seeds_make_episodes_reproducible(data_dir):
    a = PortfolioEnv("nyse_o", data_dir=data_dir, episode_length=15, random_start=True, window=8)
    b = PortfolioEnv("nyse_o", data_dir=data_dir, episode_length=15, random_start=True, window=8)
    starts = [a.reset(seed=s)[1]["day"] for s in range(5)]
    assert starts == [b.reset(seed=s)[1]["day"] for s in range(5)]
    assert len(set(starts)) > 1
    with pytest.raises(TypeError, match="seed"):
        a.reset(seed="1")
    with pytest.raises(TypeError, match="seed"):
        a.reset(seed=1.5)


def test_bad_construction_is_an_error(prices, tmp_path):
    with pytest.raises(ValueError, match="out of range"):
        PortfolioEnv(prices, assets=[0, 9], window=5)
    with pytest.raises(ValueError, match="twice"):
        PortfolioEnv(prices, assets=[1, 1], window=5)
    with pytest.raises(ValueError, match="no instrument named"):
        PortfolioEnv(prices, assets=["Z"], window=5)
    with pytest.raises(ValueError, match="fee"):
        PortfolioEnv(prices, assets=[0], window=5, fee=1.5)
    with pytest.raises(ValueError, match="fee_model"):
        PortfolioEnv(prices, assets=[0], window=5, fee_model="flat")
    with pytest.raises(ValueError, match="window"):
        PortfolioEnv(prices, assets=[0], window=60)
    with pytest.raises(ValueError, match="render_mode"):
        PortfolioEnv(prices, assets=[0], window=5, render_mode="rgb_array")
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n1,nan\n")
    with pytest.raises(ValueError, match="bad.csv"):
        PortfolioEnv(str(bad), window=1)
    neg = tmp_path / "neg.csv"
    neg.write_text("a,b\n1,2\n1,-3\n1,2\n")
    with pytest.raises(ValueError, match="neg.csv"):
        PortfolioEnv(str(neg), window=1)
    with pytest.raises(ValueError, match="prices"):
        pimtl.PriceSet.from_prices(np.array([[1.0, 2.0], [0.0, 2.0]]))
    with pytest.raises(OSError, match="missing.csv"):
        PortfolioEnv(str(tmp_path / "missing.csv"))


def test_render_modes(prices):
    env = PortfolioEnv(prices, assets=[0, 1], window=5, render_mode="ansi")
    env.reset()
    env.step(np.array([0.25, 0.75]))
    line = env.render()
    assert line.startswith("day 6: wealth") and "A=0.250" not in line  # drifted weights shown


def test_allocation_reward_and_optimum_follow_section_6_1():
    env = AllocationEnv(m=5, epsilon=0.0, with_optimum=True, horizon=3)
    x, _ = env.reset(seed=1)
    a = np.array([0.1, 0.2, 0.3, 0.2, 0.2])
    x2, r, term, trunc, info = env.step(a)
    assert r == pytest.approx(float(x @ a + 0.5 * -(a * np.log(a)).sum()), rel=1e-12)
    opt = env.optimal_allocation(x)
    np.testing.assert_allclose(opt, np.exp(x / 0.5) / np.exp(x / 0.5).sum(), rtol=1e-10)
    assert info["optimal_reward"] >= r
    env.step(a)
    assert env.step(a)[3] is True
    with pytest.raises(ValueError):
        env.step(np.array([0.5, 0.5, 0.5, 0.0, 0.0]))
    with pytest.raises(ValueError):
        AllocationEnv(m=3, epsilon=2.0)


def test_multitask_env_draws_through_the_sampler_and_scores_episodes(prices):
    tasks = [[0, 1], [2, 3], [1, 4]]

    def make(t):
        return PortfolioEnv(prices, assets=tasks[t], window=5, episode_length=4)

    env = MultiTaskEnv(make, 3, alpha=1.0, beta=1.0, seed=0)
    obs, info = env.reset(seed=2)
    t = info["task"]
    assert info["probability"] == pytest.approx(1 / 3) and info["importance_weight"] == 1.0
    done, rewards = False, []
    while not done:
        obs, r, te, tr, info = env.step(np.array([0.5, 0.5]))
        rewards.append(r)
        done = te or tr
    expected = 0.2 * 1.0 + 0.8 * max(float(np.var(rewards)), 1e-6)
    assert env.sampler.scores()[t] == pytest.approx(expected, rel=1e-12)
    assert info["importance_weight"] == pytest.approx(env.sampler.weight(t))
    assert info["probability"] < 1 / 3  # a small variance lowers the task's priority
    seq = [env.reset(seed=9)[1]["task"]] + [env.reset()[1]["task"] for _ in range(6)]
    again = [env.reset(seed=9)[1]["task"]] + [env.reset()[1]["task"] for _ in range(6)]
    assert seq == again
    with pytest.raises(TypeError):
        MultiTaskEnv(42, 3)


def test_simplex_space():
    s = Simplex(4, seed=0)
    for _ in range(20):
        a = s.sample()
        assert s.contains(a) and a.shape == (4,)
    assert not s.contains(np.array([0.5, 0.5, 0.5, 0.0]))
    assert not s.contains(np.array([1.5, -0.5, 0.0, 0.0]))
    with pytest.raises(ValueError):
        Simplex(0)
