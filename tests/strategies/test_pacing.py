"""Pacing curricula: competence, baby_steps, cyclical, mixed, reweight."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes, strategies
from stepladder.strategies.pacing import (
    PACING_SHAPES,
    cycle_fractions,
    difficulty_rank,
    easy_order,
    pacing_fraction,
)


def shuffled_pool(size: int, seed: int = 0, **kwargs) -> tuple[ItemPool, np.ndarray]:
    """A pool with distinct random difficulties, and its items from easiest to hardest."""
    difficulty = np.random.default_rng(seed).permutation(size).astype(float)
    return ItemPool(size=size, difficulty=difficulty, **kwargs), np.argsort(difficulty)


# ----------------------------------------------------------------------- pacing functions

C0, T = 0.1, 100
HALF = {
    "linear": 0.55,
    "root": math.sqrt(0.01 + 0.99 * 0.5),
    "geometric": math.sqrt(0.1),
    "exponential": 0.1 + 0.9 * (math.exp(5) - 1) / (math.exp(10) - 1),
    "logarithmic": 0.1 + 0.9 * (1 + 0.1 * math.log(0.5 + math.exp(-10))),
    "step": 0.1,
}


@pytest.mark.parametrize("shape", PACING_SHAPES)
def test_pacing_values_at_start_middle_and_horizon(shape: str) -> None:
    assert pacing_fraction(shape, 0, T, start=C0) == pytest.approx(C0)
    assert pacing_fraction(shape, T / 2, T, start=C0) == pytest.approx(HALF[shape])
    assert pacing_fraction(shape, T, T, start=C0) == 1.0
    assert pacing_fraction(shape, 5 * T, T, start=C0) == 1.0  # stays at the full pool


def test_hand_computed_middle_values() -> None:
    assert HALF["root"] == pytest.approx(0.710633, abs=1e-6)
    assert HALF["exponential"] == pytest.approx(0.106024, abs=1e-6)
    assert HALF["logarithmic"] == pytest.approx(0.937625, abs=1e-6)


@pytest.mark.parametrize("shape", PACING_SHAPES)
def test_pacing_is_monotone_and_within_bounds(shape: str) -> None:
    values = [pacing_fraction(shape, t, T, start=0.2, stages=3) for t in range(0, 2 * T)]
    assert all(0.2 <= v <= 1.0 for v in values)
    assert all(a <= b + 1e-12 for a, b in itertools.pairwise(values))


def test_step_shape_stages_and_root_power() -> None:
    assert pacing_fraction("step", 49, 100, start=0.1, stages=2) == pytest.approx(0.1)
    assert pacing_fraction("step", 50, 100, start=0.1, stages=2) == pytest.approx(0.55)
    cube = pacing_fraction("root", 50, 100, start=0.1, power=3.0)
    assert cube == pytest.approx((0.001 + 0.999 * 0.5) ** (1 / 3))


def test_easy_order_and_rank_put_unknown_difficulty_last() -> None:
    difficulty = [1.0, np.nan, -1.0]
    assert easy_order(difficulty).tolist() == [2, 0, 1]
    assert easy_order(difficulty, hard_first=True).tolist() == [1, 0, 2]
    assert difficulty_rank(difficulty).tolist() == [1.0, 1.0, 0.0]
    assert difficulty_rank([np.nan, 5.0]).tolist() == [1.0, 0.0]


# ----------------------------------------------------------------------- competence


@pytest.mark.parametrize("shape", PACING_SHAPES)
def test_competence_samples_only_from_the_easiest_fraction(shape: str) -> None:
    pool, easy = shuffled_pool(200)
    cur = Curriculum(pool, "competence", pacing=shape, start=0.05, total_steps=30, seed=1)
    for t in range(40):
        g = pacing_fraction(shape, t, 30, start=0.05)
        allowed = set(easy[: math.ceil(g * 200 - 1e-9)].tolist())
        batch = cur.propose(8).indices.tolist()
        assert set(batch) <= allowed
    assert cur.metrics()["competence/competence"] == 1.0


def test_competence_anti_curriculum_draws_hardest_and_unknown_first() -> None:
    difficulty = np.arange(20.0)
    difficulty[[3, 7]] = np.nan
    pool = ItemPool(size=20, difficulty=difficulty)
    hard = Curriculum(pool, "competence", pacing="step", start=0.2, order="hard_first")
    seen = set()
    for _ in range(5):
        seen |= set(hard.propose(4).indices.tolist())
    assert seen == {3, 7, 19, 18}  # unknown difficulty counts as hardest
    easy = Curriculum(pool, "competence", pacing="step", start=0.2)
    seen = set()
    for _ in range(5):
        seen |= set(easy.propose(4).indices.tolist())
    assert seen == {0, 1, 2, 4}


def test_competence_passes_visit_each_prefix_item_once() -> None:
    pool, easy = shuffled_pool(50)
    cur = Curriculum(pool, "competence", pacing="step", start=0.2, total_steps=1000)
    batches = [cur.propose(5).indices for _ in range(4)]  # prefix of 10 items, 2 passes
    assert sorted(np.concatenate(batches[:2]).tolist()) == sorted(easy[:10].tolist())
    assert sorted(np.concatenate(batches[2:]).tolist()) == sorted(easy[:10].tolist())


def test_competence_clock_counts_non_empty_proposals_only() -> None:
    cur = Curriculum(shuffled_pool(10)[0], "competence", pacing="linear", total_steps=10)
    cur.propose(0)
    cur.observe(Outcomes.empty())
    assert cur.strategy.competence() == pytest.approx(0.1)
    cur.propose(1)
    assert cur.strategy.competence() == pytest.approx(0.19)


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"pacing": "cubic"}, "pacing"),
        ({"start": 0.0}, "start"),
        ({"start": 1.5}, "start"),
        ({"total_steps": 0}, "total_steps"),
        ({"power": -1.0}, "power"),
        ({"stages": 0}, "stages"),
        ({"order": "random"}, "order"),
    ],
)
def test_competence_parameter_errors_name_the_parameter(params: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        strategies.create("competence", **params)


@pytest.mark.parametrize("name", ["competence", "baby_steps", "cyclical", "mixed", "reweight"])
def test_pacing_strategies_need_difficulty(name: str) -> None:
    with pytest.raises(ValueError, match="difficulty"):
        Curriculum(ItemPool(size=5), name)


# ----------------------------------------------------------------------- baby steps


def test_baby_steps_unlock_one_bucket_at_a_time_and_keep_earlier_ones() -> None:
    pool, easy = shuffled_pool(20)
    cur = Curriculum(pool, "baby_steps", n_buckets=4, steps_per_bucket=2, seed=3)
    for unlocked in (1, 2, 3, 4, 4):
        assert cur.metrics()["baby_steps/buckets"] == unlocked
        allowed = easy[: 5 * unlocked]
        # two steps of 5 * unlocked / 2 items: one pass over all unlocked items
        first = cur.propose(5 * unlocked // 2 or 1).indices
        second = cur.propose(5 * unlocked - len(first)).indices
        union = np.concatenate([first, second])
        assert sorted(union.tolist()) == sorted(allowed.tolist())


def test_baby_steps_validation_and_tiny_pools() -> None:
    with pytest.raises(ValueError, match="n_buckets"):
        strategies.create("baby_steps", n_buckets=0)
    with pytest.raises(ValueError, match="steps_per_bucket"):
        strategies.create("baby_steps", steps_per_bucket=-1)
    cur = Curriculum(ItemPool(size=3, difficulty=[0.0, 1.0, 2.0]), "baby_steps")
    assert cur.propose(2).indices.tolist() == [0, 0]  # 10 buckets of 3 items: 1 unlocked


# ----------------------------------------------------------------------- cyclical


def test_cycle_fractions_follow_the_authors_schedule() -> None:
    assert cycle_fractions(0.25, 1.0, 0.5) == [0.25, 0.5, 1.0, 0.5]
    assert cycle_fractions(0.1, 0.8, 0.5) == [0.1, 0.2, 0.4, 0.8, 0.4, 0.2]
    assert cycle_fractions(0.5, 0.5, 0.5) == [0.5]


def test_cyclical_stages_are_one_pass_and_the_period_repeats() -> None:
    pool, easy = shuffled_pool(40)
    cur = Curriculum(pool, "cyclical", seed=2)  # sizes 10, 20, 40, 20 items
    steps_per_stage = [2, 4, 8, 4]  # with batches of 5
    for cycle in range(2):
        for stage, steps in enumerate(steps_per_stage):
            size = [10, 20, 40, 20][stage]
            assert cur.metrics()["cyclical/fraction"] == size / 40
            drawn = np.concatenate([cur.propose(5).indices for _ in range(steps)])
            assert sorted(drawn.tolist()) == sorted(easy[:size].tolist())
        assert cur.metrics()["cyclical/cycle"] == cycle + 1
    assert cur.metrics()["cyclical/stage"] == 8


def test_cyclical_fixed_stage_length() -> None:
    pool, easy = shuffled_pool(40)
    cur = Curriculum(pool, "cyclical", stage_steps=3, seed=0)
    fractions = []
    for _ in range(12):
        fractions.append(cur.metrics()["cyclical/fraction"])
        batch = cur.propose(7).indices
        assert set(batch.tolist()) <= set(easy[: int(fractions[-1] * 40)].tolist())
    assert fractions == [0.25] * 3 + [0.5] * 3 + [1.0] * 3 + [0.5] * 3


def test_cyclical_mccl_cycles_only_the_augmented_items() -> None:
    groups = ["real"] * 8 + ["aug"] * 8
    difficulty = np.concatenate([np.arange(8.0), np.arange(8.0) + 0.5])
    pool = ItemPool(size=16, groups=groups, difficulty=difficulty)
    cur = Curriculum(pool, "cyclical", augmented_group="aug", seed=0)
    # stage 0: 8 real + 2 easiest augmented (items 8, 9); one pass of 10 items
    first = np.concatenate([cur.propose(5).indices for _ in range(2)])
    assert sorted(first.tolist()) == list(range(10))
    # stage 1: 8 real + 4 augmented
    second = np.concatenate([cur.propose(6).indices for _ in range(2)])
    assert sorted(second.tolist()) == list(range(12))
    assert cur.metrics()["cyclical/fraction"] == 1.0  # stage 2: everything


def test_cyclical_validation() -> None:
    with pytest.raises(ValueError, match="multiplier"):
        strategies.create("cyclical", multiplier=1.0)
    with pytest.raises(ValueError, match="end"):
        strategies.create("cyclical", start=0.5, end=0.4)
    with pytest.raises(ValueError, match="stage_steps"):
        strategies.create("cyclical", stage_steps=0)
    pool = ItemPool(size=4, groups=["a", "a", "b", "b"], difficulty=[0.0, 1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="augmented_group"):
        Curriculum(pool, "cyclical", augmented_group="synthetic")


# ----------------------------------------------------------------------- mixed


def test_mixed_stages_with_replay_from_earlier_stages() -> None:
    pool, easy = shuffled_pool(40)
    cur = Curriculum(pool, "mixed", n_stages=4, steps_per_stage=2, replay=0.3, seed=4)
    stage_of = {int(item): rank // 10 for rank, item in enumerate(easy)}
    for step in range(10):
        batch = cur.propose(10).indices.tolist()
        stages = [stage_of[i] for i in batch]
        stage = step // 2
        if stage == 0:
            assert set(stages) == {0}
        elif stage < 4:
            assert stages.count(stage) == 7  # 0.3 * 10 = 3 replayed items
            assert all(s < stage for s in stages if s != stage)
        else:
            assert len(set(batch)) == 10  # uniform over the whole pool after the last stage
    assert cur.metrics()["mixed/stage"] == 4


def test_mixed_replay_share_is_exact_on_average() -> None:
    pool, easy = shuffled_pool(40)
    cur = Curriculum(pool, "mixed", n_stages=2, steps_per_stage=400, replay=0.25, seed=0)
    earlier = set(easy[:20].tolist())
    cur.propose(1)  # jump to stage 1 after 400 steps
    for _ in range(399):
        cur.propose(1)
    count = sum(int(cur.propose(1).indices[0]) in earlier for _ in range(400))
    assert 70 <= count <= 130  # binomial(400, 0.25): mean 100, sd 8.7


def test_mixed_without_replay_is_sequential() -> None:
    pool, easy = shuffled_pool(20)
    cur = Curriculum(pool, "mixed", n_stages=2, steps_per_stage=1, replay=0.0)
    assert set(cur.propose(10).indices.tolist()) == set(easy[:10].tolist())
    assert set(cur.propose(10).indices.tolist()) == set(easy[10:].tolist())
    with pytest.raises(ValueError, match="replay"):
        strategies.create("mixed", replay=1.5)


# ----------------------------------------------------------------------- reweight


def test_reweight_weights_ramp_from_ease_to_one() -> None:
    difficulty = np.array([0.0, 1.0, 2.0, 3.0, np.nan])
    pool = ItemPool(size=5, difficulty=difficulty)
    cur = Curriculum(pool, "reweight", floor=0.2, total_steps=4, seed=0)
    ease = 0.2 + 0.8 * (1 - np.array([0.0, 1 / 3, 2 / 3, 1.0, 1.0]))
    for t in range(6):
        proposal = cur.propose(5)
        assert sorted(proposal.indices.tolist()) == [0, 1, 2, 3, 4]  # one uniform pass
        expected = ease + min(1.0, t / 4) * (1 - ease)
        np.testing.assert_allclose(proposal.weights, expected[proposal.indices])
    assert cur.metrics()["reweight/min_weight"] == 1.0


def test_reweight_hardest_item_starts_at_floor() -> None:
    pool, easy = shuffled_pool(30)
    cur = Curriculum(pool, "reweight", floor=0.1, total_steps=10)
    proposal = cur.propose(30)
    weights = dict(zip(proposal.indices.tolist(), proposal.weights.tolist(), strict=True))
    assert weights[int(easy[-1])] == pytest.approx(0.1)
    assert weights[int(easy[0])] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="floor"):
        strategies.create("reweight", floor=-0.1)
