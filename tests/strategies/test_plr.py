"""PLR: formulas against hand-computed values, sampler distributions, sparse checkpoints."""

from __future__ import annotations

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes, save_state
from stepladder.strategies.plr import plr_distribution


def test_plr_replay_distribution_matches_hand_computation() -> None:
    # Levels 0, 1, 2 played in that order with scores 0.5, 0.2, 0.9; level 3 never played.
    cur = Curriculum(4, "plr", seed=0)
    cur.observe(Outcomes([0, 1, 2], rewards=[0.0, 0.0, 0.0], signals=[0.5, 0.2, 0.9]))
    plr = cur.strategy
    assert plr.staleness()[:3].tolist() == [2.0, 1.0, 0.0]  # c = 3, C_i = 1, 2, 3
    # rank h = 1 / rank^(1/0.1): ranks (2, 3, 1) -> (2^-10, 3^-10, 1)
    h = np.array([2.0**-10, 3.0**-10, 1.0])
    p_score = h / h.sum()
    p_stale = np.array([2.0, 1.0, 0.0]) / 3.0
    expected = 0.9 * p_score + 0.1 * p_stale
    np.testing.assert_allclose(plr.replay_distribution(), [*expected, 0.0], rtol=1e-12)
    assert expected[0] == pytest.approx(0.9 * (1 / 1024) / (1 + 1 / 1024 + 1 / 59049) + 0.1 * 2 / 3)


def test_plr_power_and_softmax_transforms() -> None:
    scores, stale = np.array([0.5, 0.2, 0.9]), np.array([2.0, 0.0, 1.0])
    power = plr_distribution(scores, stale, rho=0.0, beta=0.5, transform="power")
    np.testing.assert_allclose(power, np.array([0.25, 0.04, 0.81]) / 1.1)
    soft = plr_distribution(scores, stale, rho=1.0, beta=1.0, transform="softmax")
    np.testing.assert_allclose(soft, [2 / 3, 0.0, 1 / 3])
    soft = plr_distribution(scores, stale, rho=0.0, beta=0.5, transform="softmax")
    e = np.exp(scores / 0.5)
    np.testing.assert_allclose(soft, e / e.sum())
    with pytest.raises(ValueError, match="transform"):
        plr_distribution(scores, stale, transform="nope")


def test_plr_score_update_and_default_scores() -> None:
    cur = Curriculum(3, "plr", seed=0, alpha=0.5)
    cur.observe(Outcomes([0], rewards=[1.0], signals=[0.4]))
    cur.observe(Outcomes([0], rewards=[1.0], signals=[-0.8]))
    assert cur.strategy.scores[0] == pytest.approx(0.5 * 0.4 + 0.5 * 0.8)
    # value_gap: |r - V_i|, V_i = running mean reward of the level (0.5 before any reward)
    cur = Curriculum(3, "plr", seed=0)
    cur.observe(Outcomes([0], rewards=[1.0]))
    assert cur.strategy.scores[0] == pytest.approx(0.5)
    cur.observe(Outcomes([0], rewards=[0.0]))
    assert cur.strategy.scores[0] == pytest.approx(1.0)  # V_0 = 1.0
    cur.observe(Outcomes([1], rewards=[[1.0, 0.0]]))  # unseen level: global mean 0.5
    assert cur.strategy.scores[1] == pytest.approx(0.5)
    cur = Curriculum(3, "plr", seed=0, score="failure")
    cur.observe(Outcomes([2], rewards=[[1.0, 0.0, 0.0, 0.0]]))
    assert cur.strategy.scores[2] == pytest.approx(0.75)


def test_plr_draws_new_levels_with_probability_of_unseen_fraction() -> None:
    cur = Curriculum(4, "plr", seed=0, min_seen=0.0)
    cur.observe(Outcomes([0, 1, 2], rewards=[0.1, 0.5, 0.9]))
    draws = cur.propose(20_000).indices
    assert np.mean(draws == 3) == pytest.approx(0.25, abs=0.02)
    cur.observe(Outcomes([3], rewards=[0.3]))
    assert cur.metrics()["plr/seen_fraction"] == 1.0


@pytest.mark.parametrize(
    ("min_seen", "unseen_share"), [(1.0, 1.0), (0.6, 1.0), (0.5, 0.5), (0.0, 0.5)]
)
def test_plr_cold_start_sweeps_unseen_levels_until_min_seen(
    min_seen: float, unseen_share: float
) -> None:
    # facebookresearch/level-replay, level_replay/level_sampler.py, LevelSampler.sample with
    # replay_schedule="proportionate": with 2 of 4 levels seen (proportion_seen = 0.5) it
    # replays only if proportion_seen >= rho, then with probability proportion_seen; else it
    # draws an unseen level. Their default (arguments.py) is level_replay_rho = 1.0.
    cur = Curriculum(4, "plr", seed=0, min_seen=min_seen)
    cur.observe(Outcomes([0, 1], rewards=[0.2, 0.9]))
    draws = cur.propose(20_000).indices
    assert np.mean(draws >= 2) == pytest.approx(unseen_share, abs=0.02)


def test_plr_default_cold_start_is_the_authors() -> None:
    cur = Curriculum(6, "plr", seed=0)
    assert cur.strategy.min_seen == 1.0
    played = []
    for _ in range(3):  # a sweep without replacement: every level once, then replays
        batch = cur.propose(2).indices
        played += batch.tolist()
        cur.observe(Outcomes(batch, rewards=[0.5, 0.5]))
    assert sorted(played) == list(range(6))
    assert cur.metrics()["plr/seen_fraction"] == 1.0
    with pytest.raises(ValueError, match="min_seen"):
        Curriculum(6, "plr", min_seen=1.5)


@pytest.mark.parametrize("transform", ["rank", "power", "softmax"])
@pytest.mark.parametrize("rho", [0.1, 0.7])
def test_plr_replays_follow_the_replay_distribution(transform: str, rho: float) -> None:
    # every level seen, with repeats and uneven scores: draws must match the formula
    rng = np.random.default_rng(3)
    cur = Curriculum(12, "plr", seed=0, transform=transform, rho=rho, beta=0.5, alpha=0.5)
    for _ in range(4):
        levels = rng.integers(0, 12, size=20)
        cur.observe(Outcomes(levels, rewards=rng.random(20), signals=rng.normal(size=20)))
    cur.observe(Outcomes(np.arange(12), rewards=rng.random(12), signals=rng.normal(size=12)))
    expected = cur.strategy.replay_distribution()
    draws = cur.propose(200_000).indices
    np.testing.assert_allclose(np.bincount(draws, minlength=12) / 200_000, expected, atol=0.004)


def test_plr_scores_match_one_episode_at_a_time() -> None:
    # a batch with repeated levels updates S, V and staleness as if fed episode by episode
    rng = np.random.default_rng(0)
    levels = np.array([3, 1, 3, 3, 0, 1, 5, 3])
    rewards = rng.random((8, 4))
    rewards[2, 1:] = np.nan  # ragged: one rollout only
    batched = Curriculum(6, "plr", seed=0, alpha=0.3)
    single = Curriculum(6, "plr", seed=0, alpha=0.3)
    batched.observe(Outcomes([2], rewards=[[1.0, 0.0]]))
    single.observe(Outcomes([2], rewards=[[1.0, 0.0]]))
    counts = (~np.isnan(rewards)).sum(axis=1)
    batched.observe(Outcomes(levels, rewards, counts=counts))
    for level, row, count in zip(levels, rewards, counts, strict=True):
        single.observe(Outcomes([level], rewards=row[None, :], counts=[count]))
    a, b = batched.strategy, single.strategy
    for name in ("scores", "value", "plays", "last_played", "seen"):
        np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=1e-12, err_msg=name)
    assert (a.episodes, a.reward_count) == (b.episodes, b.reward_count) == (9, 9)
    assert a.reward_total == pytest.approx(b.reward_total)


def test_plr_new_levels_are_distinct_and_unseen() -> None:
    cur = Curriculum(10**6, "plr", seed=0)
    first = cur.propose(3000).indices  # nothing seen: all new, without replacement
    assert len(np.unique(first)) == 3000
    cur.observe(Outcomes(first, rewards=np.ones(3000)))
    second = cur.propose(3000).indices
    assert not np.isin(second, first).all()
    new = second[~np.isin(second, first)]
    assert len(np.unique(new)) == len(new)
    # few levels left: listed explicitly; more slots than unseen levels: with replacement
    small = Curriculum(50, "plr", seed=0)
    small.observe(Outcomes(np.arange(47), rewards=np.zeros(47)))
    assert small.strategy.metrics()["seen_fraction"] == pytest.approx(0.94)
    draws = small.propose(2000).indices  # about 120 new slots for 3 unseen levels
    assert set(draws[draws >= 47].tolist()) == {47, 48, 49}


def test_plr_checkpoint_grows_with_levels_played(tmp_path) -> None:
    sizes = {}
    for size in (10**4, 10**6):
        cur = Curriculum(size, "plr", seed=0)
        for _ in range(3):
            batch = cur.propose(256)
            cur.observe(Outcomes(batch.indices, rewards=np.ones(256)))
        save_state(tmp_path / f"{size}.npz", cur.strategy.state_dict())
        sizes[size] = (tmp_path / f"{size}.npz").stat().st_size
    assert sizes[10**6] < 200_000  # one pool-sized float array alone would be 8 MB


def test_plr_staleness_drawn_in_proportion_after_compaction() -> None:
    # many replays of few levels force the slot compaction of the staleness sampler
    cur = Curriculum(ItemPool(size=5), "plr", seed=0, rho=1.0)
    rng = np.random.default_rng(1)
    for _ in range(300):
        cur.observe(Outcomes(rng.integers(0, 4, size=8), rewards=rng.random(8)))
    cur.observe(Outcomes([4], rewards=[0.5]))
    staleness = cur.strategy.staleness()
    draws = cur.propose(100_000).indices
    np.testing.assert_allclose(
        np.bincount(draws, minlength=5) / 1e5, staleness / staleness.sum(), atol=0.005
    )
