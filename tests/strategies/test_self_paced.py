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
