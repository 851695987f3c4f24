"""Self-paced learning (hard, linear, logarithmic weights) and SPDCL."""

from __future__ import annotations

import math

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes, strategies
from stepladder.strategies.self_paced import self_paced_weights

LOSSES = np.array([0.0, 0.1, 0.3, 0.6, 2.0, np.nan])


def test_hard_weights() -> None:
    weights = self_paced_weights(LOSSES, 0.3, "hard")
    assert weights.tolist() == [1.0, 1.0, 0.0, 0.0, 0.0, 1.0]  # loss < lambda strictly


def test_linear_weights() -> None:
    weights = self_paced_weights(LOSSES, 0.4, "linear")
    np.testing.assert_allclose(weights, [1.0, 0.75, 0.25, 0.0, 0.0, 1.0])


def test_logarithmic_weights() -> None:
    lam = 0.4
    zeta = 1 - lam
    weights = self_paced_weights(LOSSES, lam, "logarithmic")
    expected = [1.0, math.log(0.1 + zeta) / math.log(zeta), math.log(0.3 + zeta) / math.log(zeta)]
    np.testing.assert_allclose(weights, [*expected, 0.0, 0.0, 1.0])
    assert 0 < weights[2] < weights[1] < 1  # decreasing in the loss
    assert self_paced_weights(LOSSES, 1.2, "logarithmic").tolist() == [1.0] * 6  # all in


def test_weights_without_threshold_and_negative_losses() -> None:
    assert self_paced_weights(LOSSES, None, "hard").tolist() == [1.0] * 6
    assert self_paced_weights([-1.0], 0.5, "linear").tolist() == [1.0]
    with pytest.raises(ValueError, match="regime"):
        self_paced_weights(LOSSES, 0.5, "soft")


def test_threshold_grows_by_factor_every_epoch() -> None:
    cur = Curriculum(4, "self_paced", lam=0.5, growth=2.0, epoch_steps=3)
    thresholds = []
    for _ in range(7):
        thresholds.append(cur.strategy.threshold())
        cur.propose(2)
    assert thresholds == [0.5, 0.5, 0.5, 1.0, 1.0, 1.0, 2.0]
    assert cur.metrics()["self_paced/lambda"] == 2.0


def test_proposal_weights_follow_last_observed_loss() -> None:
    cur = Curriculum(4, "self_paced", regime="linear", lam=1.0, epoch_steps=100)
    cur.observe(Outcomes([0, 1, 1], losses=[0.5, 0.2, 0.8]))  # item 1: last value wins
    proposal = cur.propose(4)
    weights = dict(zip(proposal.indices.tolist(), proposal.weights.tolist(), strict=True))
    assert weights[0] == pytest.approx(0.5)
    assert weights[1] == pytest.approx(0.2)
    assert weights[2] == weights[3] == 1.0  # never observed
    assert cur.metrics()["self_paced/included"] == 1.0


def test_initial_threshold_is_the_first_positive_median_loss() -> None:
    cur = Curriculum(6, "self_paced")
    assert cur.strategy.threshold() is None
    cur.observe(Outcomes([0, 1], losses=[0.0, 0.0]))  # median 0: not yet
    assert cur.strategy.threshold() is None
    cur.observe(Outcomes([2, 3, 4], losses=[0.2, 0.4, 3.0]))
    assert cur.strategy.threshold() == pytest.approx(0.4)
    cur.observe(Outcomes([5], losses=[9.0]))  # later batches do not move lambda0
    weights = cur.strategy.weights()
    assert weights.tolist() == [1.0, 1.0, 1.0, 0.0, 0.0, 0.0]


def test_rewards_only_feedback_uses_the_error_rate() -> None:
    cur = Curriculum(3, "self_paced", lam=0.5)
    cur.observe(Outcomes([0, 1, 2], rewards=[[1, 1, 1, 0], [0, 0, 0, 1], [1, 1, 0, 0]]))
    assert cur.strategy.weights().tolist() == [1.0, 0.0, 0.0]  # errors 0.25, 0.75, 0.5


def test_select_mode_samples_only_included_items() -> None:
    cur = Curriculum(10, "self_paced", lam=0.5, select=True, seed=0)
    cur.observe(Outcomes(np.arange(6), losses=[0.1, 0.9, 0.2, 0.8, 0.7, 0.6]))
    for _ in range(5):
        proposal = cur.propose(4)
        assert set(proposal.indices.tolist()) <= {0, 2, 6, 7, 8, 9}
        assert (proposal.weights == 1.0).all()
    cur.observe(Outcomes(np.arange(10), losses=np.full(10, 5.0)))
    assert len(cur.propose(3)) == 3  # nothing qualifies: fall back to every item


def test_self_paced_validation() -> None:
    with pytest.raises(ValueError, match="regime"):
        strategies.create("self_paced", regime="mixture")
    with pytest.raises(ValueError, match="lam"):
        strategies.create("self_paced", regime="logarithmic", lam=1.5)
    with pytest.raises(ValueError, match="lam"):
        strategies.create("self_paced", lam=0.0)
    with pytest.raises(ValueError, match="growth"):
        strategies.create("self_paced", growth=0.9)
    with pytest.raises(ValueError, match="epoch_steps"):
        strategies.create("self_paced", epoch_steps=0)


# ----------------------------------------------------------------------- SPDCL


def spdcl_pool() -> ItemPool:
    return ItemPool(size=10, difficulty=np.arange(10.0))


def test_spdcl_static_only_is_a_linear_pacing_without_feedback() -> None:
    cur = Curriculum(spdcl_pool(), "spdcl", mix=1.0, start=0.2, total_steps=8, seed=0)
    for t in range(10):
        fraction = 0.2 + 0.8 * min(1.0, t / 8)
        assert cur.strategy.fraction() == pytest.approx(fraction)
        limit = math.ceil(fraction * 10 - 1e-9)
        assert (cur.propose(3).indices < limit).all()  # item i has difficulty i


def test_spdcl_model_difficulty_reorders_items() -> None:
    cur = Curriculum(spdcl_pool(), "spdcl", mix=0.1, start=0.2, seed=0)
    # the model finds items 8 and 9 easiest; static ranks put them last
    losses = np.array([5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0, 12.0, 0.1, 0.2])
    cur.observe(Outcomes(np.arange(10), losses=losses))
    scores = cur.strategy.scores()
    static = np.arange(10) / 9
    model = np.array([2, 3, 4, 5, 6, 7, 8, 9, 0, 1]) / 9
    np.testing.assert_allclose(scores, 0.1 * static + 0.9 * model)
    # d = 0.089 (item 8), then 0.2 for items 0 and 9, tied; ties go to the statically easier
    assert set(cur.propose(2).indices.tolist()) == {0, 8}


def test_spdcl_unseen_items_fall_back_to_static_difficulty() -> None:
    cur = Curriculum(spdcl_pool(), "spdcl", mix=0.0)
    cur.observe(Outcomes([9], losses=[0.0]))
    scores = cur.strategy.scores()
    assert scores[9] == 0.0 and scores[0] == 0.0 and scores[5] == pytest.approx(5 / 9)


def test_spdcl_pace_speeds_up_when_loss_falls_and_slows_when_it_rises() -> None:
    falling = Curriculum(spdcl_pool(), "spdcl", total_steps=100)
    rising = Curriculum(spdcl_pool(), "spdcl", total_steps=100)
    for step in range(20):
        falling.observe(Outcomes([0], losses=[1.0 * 0.9**step]))
        rising.observe(Outcomes([0], losses=[1.0 * 1.1**step]))
    assert 1.0 < falling.strategy.speed() <= 2.0
    assert 0.5 <= rising.strategy.speed() < 1.0
    falling.propose(1)
    rising.propose(1)
    assert falling.strategy.fraction() > 0.1 + 0.9 / 100 > rising.strategy.fraction()
    assert falling.metrics()["spdcl/speed"] == falling.strategy.speed()


def test_spdcl_validation() -> None:
    with pytest.raises(ValueError, match="mix"):
        strategies.create("spdcl", mix=2.0)
    with pytest.raises(ValueError, match="start"):
        strategies.create("spdcl", start=0.0)
    with pytest.raises(ValueError, match="gain"):
        strategies.create("spdcl", gain=-1.0)
    with pytest.raises(ValueError, match="smoothing"):
        strategies.create("spdcl", smoothing=0.0)
    with pytest.raises(ValueError, match="difficulty"):
        Curriculum(ItemPool(size=3), "spdcl")


@pytest.mark.parametrize("regime", ["hard", "linear", "logarithmic"])
def test_select_bag_and_included_match_the_weights(regime: str) -> None:
    rng = np.random.default_rng(1)
    lam = 0.3 if regime == "logarithmic" else None
    cur = Curriculum(30, "self_paced", regime=regime, lam=lam, select=True, epoch_steps=2, seed=0)
    strategy = cur.strategy
    for _ in range(12):
        proposal = cur.propose(5)
        assert (proposal.weights > 0).all() or (strategy.weights() == 0).all()
        items = rng.integers(0, 30, 6)
        cur.observe(Outcomes(items, losses=rng.exponential(size=6)))
        strategy._release()
        eligible = np.flatnonzero(strategy.weights() > 0)
        bag = np.sort(strategy._bag[: strategy._bag_size])
        assert bag.tolist() == eligible.tolist()
        seen = ~np.isnan(strategy._loss)
        included = np.mean(strategy.weights(np.flatnonzero(seen)) > 0)
        assert cur.metrics()["self_paced/included"] == pytest.approx(included)


def test_self_paced_checkpoint_grows_with_items_observed() -> None:
    cur = Curriculum(100_000, "self_paced", lam=0.5, select=True, seed=0)
    cur.observe(Outcomes(np.arange(10), losses=np.linspace(0, 1, 10)))
    state = cur.strategy.state_dict()
    assert state["_loss"]["__rows__"].tolist() == list(range(10))
    fresh = Curriculum(100_000, "self_paced", lam=0.5, select=True, seed=3)
    fresh.load_state_dict(cur.state_dict())
    assert fresh.propose(8).indices.tolist() == cur.propose(8).indices.tolist()


@pytest.mark.parametrize("mix", [0.0, 0.4, 1.0])
def test_spdcl_draws_follow_the_exact_order_by_combined_difficulty(mix: float) -> None:
    rng = np.random.default_rng(2)
    difficulty = rng.integers(0, 4, 25).astype(float)  # many ties
    difficulty[[3, 11]] = np.nan
    cur = Curriculum(ItemPool(size=25, difficulty=difficulty), "spdcl", mix=mix, seed=0)
    strategy = cur.strategy
    for _ in range(10):
        cur.propose(4)
        items = rng.integers(0, 25, 5)
        cur.observe(Outcomes(items, losses=rng.integers(0, 3, 5).astype(float)))
        expected = np.lexsort((np.arange(25), strategy._static, strategy.scores()))
        ranked = strategy._resolve(*strategy._counts.find(np.arange(25)))
        assert ranked.tolist() == expected.tolist()
        size = math.ceil(strategy.fraction() * 25 - 1e-9)
        assert set(cur.propose(size).indices.tolist()) == set(expected[:size].tolist())


def test_spdcl_model_rank_is_taken_against_recent_losses() -> None:
    cur = Curriculum(spdcl_pool(), "spdcl", mix=0.0)
    cur.observe(Outcomes([0, 1, 2], losses=[0.1, 0.2, 0.3]))
    cur.observe(Outcomes([3], losses=[0.25]))  # ranked 3rd of 0.1, 0.2, 0.25, 0.3
    scores = cur.strategy.scores()
    assert scores[:4].tolist() == [0.0, 0.5, 1.0, pytest.approx(2 / 3)]  # earlier ones kept


def test_spdcl_checkpoint_grows_with_items_observed() -> None:
    pool = ItemPool(size=100_000, difficulty=np.arange(100_000.0))
    cur = Curriculum(pool, "spdcl", seed=0)
    cur.observe(Outcomes(np.arange(5), losses=[0.5, 0.1, 0.3, 0.2, 0.4]))
    state = cur.strategy.state_dict()
    assert state["_model"]["__rows__"].tolist() == [0, 1, 2, 3, 4]
    fresh = Curriculum(pool, "spdcl", seed=9)
    fresh.load_state_dict(cur.state_dict())
    assert fresh.propose(50).indices.tolist() == cur.propose(50).indices.tolist()
