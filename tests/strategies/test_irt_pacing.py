"""PUDF DDS-MAE (ability-paced selection) and ADCL (re-sort only the next batch)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from stepladder import Curriculum, ItemPool, Outcomes, strategies
from stepladder.strategies.irt_pacing import dds_ability


def card_objective(theta: np.ndarray, r: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The reference card's objective on a grid: log N(theta; 0, 1) + sum log(1 + r(2s - 1))."""
    prior = -0.5 * theta**2 - 0.5 * np.log(2 * np.pi)
    s = expit(theta[:, None] - b[None, :])
    return prior + np.log1p(r[None, :] * (2 * s - 1)).sum(axis=1)


@pytest.mark.parametrize("seed", range(6))
def test_ability_matches_a_brute_force_argmax_of_the_card_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    b = rng.normal(size=rng.integers(1, 40))
    correct = (rng.random(len(b)) < expit(rng.normal() - b)).astype(float)
    grid = np.linspace(-6, 6, 600_001)
    best = grid[np.argmax(card_objective(grid, 2 * correct - 1, b))]
    assert dds_ability(correct, b) == pytest.approx(best, abs=5e-5)


def test_card_formula_is_the_bernoulli_likelihood_plus_a_constant() -> None:
    rng = np.random.default_rng(1)
    b = rng.normal(size=12)
    correct = (rng.random(12) < 0.5).astype(float)
    theta = np.linspace(-3, 3, 7)
    p = expit(theta[:, None] - b[None, :])
    bernoulli = (correct * np.log(p) + (1 - correct) * np.log1p(-p)).sum(axis=1)
    prior = -0.5 * theta**2 - 0.5 * np.log(2 * np.pi)
    card = card_objective(theta, 2 * correct - 1, b)
    np.testing.assert_allclose(card - (prior + bernoulli), 12 * np.log(2))


def test_ability_inputs() -> None:
    b = [-1.0, 0.0, 1.0]
    assert dds_ability([True, True, False], b) == dds_ability([1, 1, -1], b)
    assert dds_ability([], []) == 0.0  # no responses: the prior mean
    assert np.isfinite(dds_ability([1, 1, 1], b))  # perfect score stays finite (prior)
    with pytest.raises(ValueError, match="correct"):
        dds_ability([1, 0], b)
    with pytest.raises(ValueError, match="correct"):
        dds_ability([2, 0, 1], b)
    with pytest.raises(ValueError, match="difficulty"):
        dds_ability([1, 0, 1], [0.0, np.nan, 1.0])


# ----------------------------------------------------------------------- DDS-MAE

PROBE_B = np.linspace(-2, 2, 9)


def responses_for(theta: float) -> tuple[list[int], np.ndarray]:
    """Probe answers of a learner of ability ``theta`` (correct where b < theta)."""
    return (theta > PROBE_B).astype(int).tolist(), PROBE_B


def grid_pool(size: int = 200) -> ItemPool:
    return ItemPool(size=size, difficulty=np.linspace(-3, 3, size))


def test_capacity_rule_theta_then_plus_increment() -> None:
    cur = Curriculum(grid_pool(), "dds_mae", min_items=10)
    strategy = cur.strategy
    first = strategy.update_ability(*responses_for(0.6))
    assert strategy.capacity == first == strategy.best  # first estimate sets the capacity
    lower = strategy.update_ability(*responses_for(-1.0))
    assert lower < first
    assert strategy.capacity == pytest.approx(first + 0.1)  # not better: +0.1
    assert strategy.best == first
    again = strategy.update_ability(*responses_for(-1.0))
    assert again == lower and strategy.capacity == pytest.approx(first + 0.2)
    higher = strategy.update_ability(*responses_for(2.0))
    assert higher > first and strategy.capacity == higher  # a new best resets it to theta
    assert cur.metrics()["dds_mae/estimates"] == 4.0


def test_training_set_is_items_with_difficulty_at_most_capacity() -> None:
    pool = grid_pool()
    cur = Curriculum(pool, "dds_mae", min_items=10, seed=0)
    theta = cur.strategy.update_ability(*responses_for(1.0))
    allowed = np.flatnonzero(pool.difficulty <= theta)
    assert cur.strategy.epoch_size == len(allowed)
    epoch = np.concatenate([cur.propose(7).indices for _ in range(len(allowed) // 7)])
    assert set(epoch.tolist()) <= set(allowed.tolist())
    assert len(set(epoch.tolist())) == len(epoch)  # one pass: no repeats inside an epoch


def test_min_items_backfill_takes_the_easiest() -> None:
    pool = grid_pool()
    cur = Curriculum(pool, "dds_mae")  # min_items = 100
    cur.strategy.update_ability(*responses_for(-2.5))  # few items have b <= theta
    assert cur.strategy.epoch_size == 100
    assert sorted(cur.strategy.training_items().tolist()) == list(range(100))
    small = Curriculum(ItemPool(size=5, difficulty=[0, 1, 2, 3, 4.0]), "dds_mae")
    assert small.strategy.epoch_size == 5  # min_items capped at the pool size


def test_epochs_advance_by_increment_without_probe_feedback() -> None:
    pool = ItemPool(size=20, difficulty=np.arange(20) / 10 - 0.5)  # -0.5 .. 1.4
    cur = Curriculum(pool, "dds_mae", min_items=1, seed=0)
    assert cur.strategy.capacity == 0.0 and cur.strategy.epoch_size == 6  # b <= 0
    cur.propose(6)  # one full pass
    assert cur.strategy.capacity == 0.0  # the epoch ends lazily, at the next proposal
    cur.propose(1)
    assert cur.strategy.capacity == pytest.approx(0.1)
    assert cur.strategy.epoch_size == 7
    assert cur.metrics()["dds_mae/epoch"] == 1.0


def test_update_after_a_pass_replaces_the_automatic_step() -> None:
    pool = ItemPool(size=20, difficulty=np.arange(20) / 10 - 0.5)
    cur = Curriculum(pool, "dds_mae", min_items=1, seed=0)
    cur.propose(6)
    theta = cur.strategy.update_ability(*responses_for(0.45))
    cur.propose(3)
    assert cur.strategy.capacity == theta  # no extra +0.1 on top
    assert cur.metrics()["dds_mae/epoch"] == 1.0


def test_theta_hard_variant_keeps_items_at_least_as_hard_as_theta() -> None:
    difficulty = np.linspace(-2, 2, 41)
    difficulty[0] = np.nan  # unknown counts as hardest
    pool = ItemPool(size=41, difficulty=difficulty)
    cur = Curriculum(pool, "dds_mae", variant="theta_hard", min_items=1)
    theta = cur.strategy.update_ability(*responses_for(1.2))
    expected = set(np.flatnonzero(difficulty >= theta).tolist()) | {0}
    assert set(cur.strategy.training_items().tolist()) == expected
    backfilled = Curriculum(pool, "dds_mae", variant="theta_hard", min_items=30)
    backfilled.strategy.update_ability(*responses_for(1.2))
    hardest = {0, *range(40, 11, -1)}
    assert set(backfilled.strategy.training_items().tolist()) == hardest


def test_dds_mae_validation() -> None:
    with pytest.raises(ValueError, match="min_items"):
        strategies.create("dds_mae", min_items=0)
    with pytest.raises(ValueError, match="increment"):
        strategies.create("dds_mae", increment=-0.1)
    with pytest.raises(ValueError, match="variant"):
        strategies.create("dds_mae", variant="theta_easy")
    with pytest.raises(ValueError, match="difficulty"):
        Curriculum(ItemPool(size=4), "dds_mae")


# ----------------------------------------------------------------------- ADCL


def test_adcl_walks_the_sorted_order_in_batches() -> None:
    pool = ItemPool(size=9, difficulty=[8.0, 7, 6, 5, 4, 3, 2, 1, 0])
    cur = Curriculum(pool, "adcl", n_batches=3)
    walked = [cur.propose(4).indices.tolist() for _ in range(3)]
    assert walked == [[8, 7, 6, 5], [4, 3, 2, 1], [0, 8, 7, 6]]  # and round again
    assert cur.metrics()["adcl/sweep"] == 2.0


def test_adcl_resorts_only_the_next_batch() -> None:
    pool = ItemPool(size=9, difficulty=np.arange(9.0))
    cur = Curriculum(pool, "adcl", n_batches=3)
    assert cur.propose(2).indices.tolist() == [0, 1]
    assert cur.strategy.next_batch_indices().tolist() == [3, 4, 5]
    # fresh estimates for the next batch and for the one after it
    cur.strategy.reestimate([3, 4, 5, 6, 7, 8], [0.9, 0.5, 0.1, 0.9, 0.5, 0.1])
    assert cur.propose(4).indices.tolist() == [2, 5, 4, 3]  # only batch 1 re-sorted
    assert cur.metrics()["adcl/resorted"] == 2.0
    assert cur.strategy.next_batch_indices().tolist() == [6, 7, 8]  # not re-sorted yet
    assert cur.propose(3).indices.tolist() == [8, 7, 6]  # re-sorted when entered


def test_adcl_items_without_estimates_keep_their_slots() -> None:
    pool = ItemPool(size=4, difficulty=np.arange(4.0))
    cur = Curriculum(pool, "adcl", n_batches=1)
    cur.strategy.reestimate([0, 3], [5.0, -5.0])
    assert cur.propose(4).indices.tolist() == [3, 1, 2, 0]


def test_adcl_falls_back_to_observed_losses_on_the_next_sweep() -> None:
    pool = ItemPool(size=4, difficulty=np.arange(4.0))
    cur = Curriculum(pool, "adcl", n_batches=2)
    batch = cur.propose(4).indices
    assert batch.tolist() == [0, 1, 2, 3]
    cur.observe(Outcomes(batch, losses=[0.9, 0.1, 0.2, 0.8]))
    assert cur.propose(4).indices.tolist() == [1, 0, 2, 3]
    cur.observe(Outcomes([0, 1], rewards=[[1.0, 1.0], [0.0, 0.0]]))  # error rate 0 and 1
    assert cur.propose(2).indices.tolist() == [0, 1]


def test_fresh_estimates_are_used_once() -> None:
    pool = ItemPool(size=2, difficulty=[0.0, 1.0])
    cur = Curriculum(pool, "adcl", n_batches=1)
    cur.strategy.reestimate([0, 1], [1.0, 0.0])
    assert cur.propose(2).indices.tolist() == [1, 0]
    assert cur.propose(2).indices.tolist() == [1, 0]  # kept order, no estimates left


def test_adcl_validation() -> None:
    cur = Curriculum(ItemPool(size=3, difficulty=[0.0, 1, 2]), "adcl")
    with pytest.raises(ValueError, match="difficulties"):
        cur.strategy.reestimate([0, 1], [0.5])
    with pytest.raises(ValueError, match="indices"):
        cur.strategy.reestimate([5], [0.5])
    with pytest.raises(ValueError, match="difficulties"):
        cur.strategy.reestimate([0], [np.inf])
    with pytest.raises(ValueError, match="n_batches"):
        strategies.create("adcl", n_batches=0)
    with pytest.raises(ValueError, match="difficulty"):
        Curriculum(ItemPool(size=3), "adcl")


def test_adcl_checkpoint_holds_moved_positions_and_touched_items_only() -> None:
    pool = ItemPool(size=1000, difficulty=np.arange(1000.0))
    cur = Curriculum(pool, "adcl", n_batches=10, seed=0)
    cur.strategy.reestimate([0, 1, 2], [3.0, 2.0, 1.0])
    cur.propose(5)
    cur.observe(Outcomes([5, 6], losses=[0.1, 0.2]))
    state = cur.strategy.state_dict()
    assert state["moved_at"].tolist() == [0, 2] and state["moved_items"].tolist() == [2, 0]
    assert state["_loss"]["__rows__"].tolist() == [5, 6]
    assert state["_fresh"]["__rows__"].tolist() == []  # used by the re-sort
    fresh = Curriculum(pool, "adcl", n_batches=10, seed=1)
    fresh.load_state_dict(cur.state_dict())
    assert fresh.propose(250).indices.tolist() == cur.propose(250).indices.tolist()
    state["moved_items"] = np.array([2, 500])  # item 500 belongs to another ADCL batch
    with pytest.raises(ValueError, match="re-sort within ADCL batches"):
        fresh.strategy.load_state_dict(state)
