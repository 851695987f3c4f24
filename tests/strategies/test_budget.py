import itertools
import math
import time

import numpy as np
import pytest

from stepladder import Curriculum, Outcomes
from stepladder.strategies import create
from stepladder.strategies.budget import (
    allocate_proportional,
    knapsack_allocate,
    knapsack_dp,
    knapsack_gain,
    knapsack_greedy,
    knapsack_value,
)


def bound(name: str, size: int, seed: int = 0, **params) -> Curriculum:
    """A curriculum over ``size`` items: its statistics (``cur.stats``) feed the strategy."""
    return Curriculum(size, name, seed=seed, **params)


def by_item(proposal) -> dict[int, int]:
    return dict(zip(proposal.indices.tolist(), proposal.rollouts.tolist(), strict=True))


# --------------------------------------------------------------------------- value function


@pytest.mark.parametrize(
    ("p", "n", "expected"),
    [
        (0.5, 2, (1 - 0.25 - 0.25) * 0.5 * 0.25),  # 0.0625
        (0.5, 8, (1 - 2 / 256) * 0.125),  # 0.1240234375
        (0.1, 8, (1 - 0.1**8 - 0.9**8) * 0.1 * 0.81),  # 0.0461321...
        (1 / 3, 3, 72 / 729),  # (1 - 1/27 - 8/27) * (1/3) * (4/9)
        (0.0, 8, 0.0),
        (1.0, 8, 0.0),
    ],
)
def test_knapsack_value_by_hand(p, n, expected):
    assert math.isclose(float(knapsack_value(p, n)), expected, rel_tol=1e-12, abs_tol=1e-15)


def test_knapsack_gains_are_value_increments_and_non_increasing():
    p = np.linspace(0, 1, 41)[:, None]
    n = np.arange(1, 60)[None, :]
    gains = knapsack_gain(p, n)
    np.testing.assert_allclose(gains, knapsack_value(p, n + 1) - knapsack_value(p, n), atol=1e-15)
    assert (gains >= 0).all() and (np.diff(gains, axis=1) <= 1e-18).all()  # concave in N


# --------------------------------------------------------------------------- exact solvers


def brute_force(p, budget, low, high):
    best = 0.0
    for counts in itertools.product(range(low, high + 1), repeat=len(p)):
        if sum(counts) <= budget:
            best = max(best, float(knapsack_value(np.asarray(p), np.asarray(counts)).sum()))
    return best


def total_value(p, counts):
    return float(knapsack_value(np.asarray(p), counts).sum())


@pytest.mark.parametrize("seed", range(40))
def test_greedy_equals_dp_equals_brute_force(seed):
    rng = np.random.default_rng(seed)
    k = int(rng.integers(1, 4))
    low, high = int(rng.integers(1, 3)), int(rng.integers(3, 8))
    pool = [0.0, 1.0, 0.5, 0.2, 0.2, 1 / 3]  # exact 0 and 1, repeated values (ties)
    p = [pool[i] if rng.random() < 0.5 else float(rng.random()) for i in rng.integers(0, 6, k)]
    budget = int(rng.integers(k * low, k * high + 3))
    greedy = knapsack_greedy(p, budget, min_rollouts=low, max_rollouts=high)
    dp = knapsack_dp(p, budget, min_rollouts=low, max_rollouts=high)
    best = brute_force(p, budget, low, high)
    for counts in (greedy, dp):
        assert counts.sum() <= budget and counts.min() >= low and counts.max() <= high
        assert math.isclose(total_value(p, counts), best, rel_tol=1e-12, abs_tol=1e-15)


def test_greedy_equals_dp_on_larger_random_cases():
    rng = np.random.default_rng(7)
    for _ in range(5):
        p = rng.random(40)
        p[:5] = [0.0, 1.0, 0.5, 0.5, 0.5]
        greedy = knapsack_greedy(p, 400, min_rollouts=2, max_rollouts=30)
        dp = knapsack_dp(p, 400, min_rollouts=2, max_rollouts=30)
        assert math.isclose(total_value(p, greedy), total_value(p, dp), rel_tol=1e-12)
        assert greedy.sum() == 400  # every p in (0, 1) still has positive gains


def test_greedy_leaves_budget_only_when_gains_are_zero():
    counts = knapsack_greedy([0.0, 1.0, 0.0], 30, min_rollouts=2, max_rollouts=20)
    assert counts.tolist() == [2, 2, 2]
    assert knapsack_greedy([0.5, 0.5], 100, max_rollouts=10).tolist() == [10, 10]
    assert knapsack_greedy([], 0).tolist() == []


def test_greedy_breaks_ties_towards_lower_positions():
    assert knapsack_greedy([0.5, 0.5, 0.5], 7, min_rollouts=2, max_rollouts=9).tolist() == [
        3,
        2,
        2,
    ]


def test_knapsack_solvers_reject_bad_input():
    with pytest.raises(ValueError, match="below"):
        knapsack_greedy([0.5, 0.5], 3)
    with pytest.raises(ValueError, match="lie in"):
        knapsack_dp([1.5], 8)
    with pytest.raises(ValueError, match="max_rollouts"):
        knapsack_greedy([0.5], 8, min_rollouts=4, max_rollouts=3)


def test_greedy_is_fast_for_512_prompts_and_4096_rollouts():
    p = np.random.default_rng(0).random(512)
    times = []
    for _ in range(5):
        start = time.perf_counter()
        counts = knapsack_greedy(p, 4096)
        times.append(time.perf_counter() - start)
    assert counts.sum() == 4096
    assert min(times) < 0.05  # generous; benchmarks/knapsack_speed.py reports the real figure
    cur = Curriculum(20_000, "knapsack", seed=0)
    start = time.perf_counter()
    proposal = cur.propose(512)
    assert time.perf_counter() - start < 0.05 and int(proposal.rollouts.sum()) == 4096


# --------------------------------------------------------------------------- knapsack strategy


def test_knapsack_strategy_spends_exactly_the_budget_within_bounds():
    rng = np.random.default_rng(1)
    cur = Curriculum(60, "knapsack", seed=0, max_rollouts=40)
    true_p = rng.random(60) ** 3
    for _ in range(10):
        batch = cur.propose(16)
        assert int(batch.rollouts.sum()) == 16 * 8
        assert batch.rollouts.min() >= 2
        groups = [
            (rng.random(k) < true_p[i]).astype(float)
            for i, k in zip(batch.indices, batch.rollouts, strict=True)
        ]
        cur.observe(Outcomes.from_groups(batch.indices, groups))


# Expected values below were produced by running the authors' allocation,
# sampling_budget_by_knapsack(reward_states, n=8, min_n=2, max_n=128) from liziniu/KnapsackRL,
# verl/trainer/ppo/exploration_utils.py (reward_states rows [valid, success_rate, count]; our
# NaN = their valid 0).
AUTHORS_64 = [10] * 14 + [9, 9] + [10, 8, 6, 7, 6] * 6 + [10, 8, 6, 6, 6] * 3 + [10, 8, 6]
NAN = float("nan")
AUTHORS_40_P = [
    0.5625, NAN, 1.0, 0.875, 0.1875, NAN, 0.9375, NAN, 0.75, 0.625, 0.0, 0.75, 0.5, 0.0625,
    0.25, 0.5625, NAN, 0.5, 0.625, NAN, 0.6875, 0.375, 0.625, 0.625, 0.0625, 0.0625, 0.6875,
    NAN, 0.625, 0.3125, 0.1875, 0.125, 0.375, 0.8125, 0.375, 0.375, 0.5625, 1.0, NAN, 0.625,
]  # fmt: skip
AUTHORS_40 = [
    7, 8, 2, 3, 14, 8, 2, 8, 8, 7, 2, 8, 7, 13, 12, 7, 8, 7, 7, 8,
    8, 8, 7, 7, 13, 13, 8, 8, 7, 10, 14, 16, 8, 7, 8, 8, 7, 2, 8, 7,
]  # fmt: skip


def test_knapsack_allocate_matches_the_authors_code():
    # 16 never-solved prompts, 48 at 2..6 successes of 8: the effective prompts need
    # 258 rollouts (floor(ln 0.1 / ln max(p, 1-p)) each), 384 are left after the floor of 2,
    # so 126 go to the never-solved prompts before the solver: 16 x 2 + 126 = 158.
    k = np.array([0] * 16 + [2 + (i % 5) for i in range(48)])
    counts = knapsack_allocate(k / 8, 512)
    assert counts.tolist() == AUTHORS_64
    assert int(counts[:16].sum()) == 158
    assert knapsack_allocate(AUTHORS_40_P, 320).tolist() == AUTHORS_40
    assert knapsack_allocate(AUTHORS_40_P, 320, solver="dp").tolist() == AUTHORS_40
    # No effective prompt: the rest is shared by the zero and unestimated prompts.
    assert knapsack_allocate([0.0, 1.0, NAN, 0.0], 32).tolist() == [8, 2, 14, 8]
    # No zero prompt: the surplus goes to the prompts at p = 1.
    assert knapsack_allocate([0.5, 1.0], 16).tolist() == [5, 11]
    # Nothing to give the surplus to: the solver gets it all (the authors' code would fail).
    assert knapsack_allocate([0.5, 0.5], 16).tolist() == [8, 8]
    # Nothing effective, zero or unestimated: equal shares of the total.
    assert knapsack_allocate([1.0, 1.0, 1.0], 24).tolist() == [8, 8, 8]


def test_knapsack_allocate_rejects_bad_input():
    with pytest.raises(ValueError, match="pass rates"):
        knapsack_allocate([1.5], 8)
    with pytest.raises(ValueError, match="below"):
        knapsack_allocate([NAN, NAN], 10)
    with pytest.raises(ValueError, match="confidence"):
        knapsack_allocate([0.5], 8, confidence=1.0)


def test_knapsack_surplus_goes_to_never_solved_prompts_before_the_solver():
    cur = bound("knapsack", 4, estimate="observed", max_rollouts=10)
    cur.observe(Outcomes([0, 1, 2, 3], [[0.0] * 4, [0.0] * 4, [1.0] * 4, [1.0] * 4]))
    # Every observed p is 0 or 1: 2 each, the 24 left split equally by the zero prompts
    # (not capped by max_rollouts, as in the authors' code).
    assert by_item(cur.propose(4)) == {0: 14, 1: 14, 2: 2, 3: 2}


def test_knapsack_recent_estimate_follows_the_authors_window():
    # rl_dataset.update_sample_state (liziniu/KnapsackRL) with reward_buffer_length=16,
    # min_buffer_length=8: mean of the latest group if it holds >= 16 rewards, else of the
    # last 16 rewards; fewer than 8 rewards in all: no estimate.
    cur = bound("knapsack", 3)
    strategy = cur.strategy
    cur.observe(Outcomes.from_groups([0, 1], [[1.0] + [0.0] * 7, [1.0, 0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(strategy.pass_estimates([0, 1, 2]), [0.125, NAN, NAN])
    cur.observe(Outcomes.from_groups([0, 1], [[0.0] * 8, [1.0] * 4]))
    np.testing.assert_allclose(strategy.pass_estimates([0, 1]), [1 / 16, 5 / 8])
    cur.observe(Outcomes.from_groups([0, 0], [[1.0] * 4, [1.0] * 2]))  # repeated item
    np.testing.assert_allclose(strategy.pass_estimates([0]), [6 / 16])  # 6 ones, 10 zeros
    cur.observe(Outcomes([0], [[1.0] * 3 + [0.0] * 17]))  # a group of 20 >= 16
    np.testing.assert_allclose(strategy.pass_estimates([0]), [3 / 20])
    cur.observe(Outcomes([0], [[1.0] * 2]))
    np.testing.assert_allclose(strategy.pass_estimates([0]), [2 / 16])  # 2 ones, 14 zeros


def test_knapsack_other_estimates():
    cur = bound("knapsack", 3, estimate="posterior")
    cur.observe(Outcomes([0, 1], [[0.0] * 8, [1.0, 0.0] * 4]))
    np.testing.assert_allclose(cur.strategy.pass_estimates([0, 1, 2]), [0.1, 0.5, 0.5])
    cur = bound("knapsack", 3, estimate="observed")
    cur.observe(Outcomes.from_groups([0, 1], [[0.0] * 8, [1.0, 1.0, 1.0, 0.0]]))
    np.testing.assert_allclose(cur.strategy.pass_estimates([0, 1, 2]), [0.0, 0.75, 0.5])
    # Both read the curriculum's statistics: the strategy saves no posterior of its own.
    assert cur.strategy.posterior is None and "posterior" not in cur.strategy.state_dict()


def test_knapsack_recent_state_resumes_exactly():
    rng = np.random.default_rng(2)
    a = bound("knapsack", 50, seed=4)
    for _ in range(3):
        batch = a.propose(20)
        groups = [rng.random(k) < 0.4 for k in batch.rollouts]
        a.observe(Outcomes.from_groups(batch.indices, groups))
    b = bound("knapsack", 50, seed=9)
    b.load_state_dict(a.state_dict())
    x, y = a.propose(20), b.propose(20)
    assert x.indices.tolist() == y.indices.tolist() and x.rollouts.tolist() == y.rollouts.tolist()
    assert len(a.state_dict()["strategy_state"]["_recent"]["__state__"]["items"]) <= 50


def test_knapsack_dp_solver_reaches_the_same_value_as_greedy():
    greedy = bound("knapsack", 30, seed=3, estimate="posterior")
    dp = bound("knapsack", 30, seed=3, solver="dp", estimate="posterior")
    rng = np.random.default_rng(0)
    for _ in range(4):
        a, b = greedy.propose(10), dp.propose(10)
        assert a.indices.tolist() == b.indices.tolist()
        p = greedy.strategy.pass_estimates(a.indices)
        assert math.isclose(total_value(p, a.rollouts), total_value(p, b.rollouts), rel_tol=1e-12)
        rewards = (rng.random((10, 6)) < 0.3).astype(float)
        greedy.observe(Outcomes(a.indices, rewards))
        dp.observe(Outcomes(b.indices, rewards))


# --------------------------------------------------------------------------- GFPO


def test_gfpo_group_sizes_by_difficulty_quartile():
    cur = bound("gfpo", 8)
    strategy = cur.strategy
    cur.observe(Outcomes(range(8), [[1.0] * k + [0.0] * (8 - k) for k in range(8)]))
    # posterior means .1 .. .8, quartiles .275, .45, .625: items 0-1 very hard, 2-3 hard,
    # 4-5 medium, 6-7 easy -> weights 8, 8, 8, 8, 6, 6, 4, 4 (sum 52) of 64 rollouts:
    # 9.85 x 4, 7.38 x 2, 4.92 x 2 -> floors 9, 9, 9, 9, 7, 7, 4, 4 (58); the 6 left go to
    # the largest fractional parts (.92 twice, .85 four times).
    assert strategy.buckets(range(8)).tolist() == [3, 3, 2, 2, 1, 1, 0, 0]
    np.testing.assert_allclose(strategy.quartiles(), [0.275, 0.45, 0.625])
    proposal = cur.propose(8)
    assert by_item(proposal) == {0: 10, 1: 10, 2: 10, 3: 10, 4: 7, 5: 7, 6: 5, 7: 5}


def test_gfpo_unseen_prompts_get_the_mean_and_bounds_hold():
    cur = bound("gfpo", 20, min_rollouts=4, max_rollouts=9)
    assert cur.propose(5).rollouts.tolist() == [8] * 5  # nothing seen: all neutral
    cur.observe(Outcomes(range(10), [[1.0] * k + [0.0] * (9 - k) for k in range(10)]))
    assert (cur.strategy.buckets(range(10, 20)) == -1).all()
    for n in (1, 3, 20, 33):
        proposal = cur.propose(n)
        assert int(proposal.rollouts.sum()) == 8 * n
        assert proposal.rollouts.min() >= 4 and proposal.rollouts.max() <= 9


def test_gfpo_rejects_bad_parameters():
    with pytest.raises(ValueError, match="group_weights"):
        create("gfpo", group_weights=(1.0, 2.0))
    with pytest.raises(ValueError):
        create("gfpo", rollouts=40, max_rollouts=32)


# --------------------------------------------------------------------------- DART


def observed_dart(**params):
    cur = bound("dart", 4, **params)
    # posterior means: item 0 Beta(1, 9) .1; item 1 Beta(9, 1) .9; item 2 Beta(2, 3) .4;
    # item 3 unseen .5
    cur.observe(Outcomes.from_groups([0, 1, 2], [[0.0] * 8, [1.0] * 8, [1.0, 0, 0]]))
    return cur


def test_dart_uniform_trials_reach_k_correct_in_expectation():
    cur = observed_dart(k=4)
    # ceil(4 / .1) = 40, ceil(4 / .9) = 5, ceil(4 / .4) = 10, ceil(4 / .5) = 8
    assert cur.strategy.trials([0, 1, 2, 3]).tolist() == [40, 5, 10, 8]
    assert by_item(cur.propose(4)) == {0: 40, 1: 5, 2: 10, 3: 8}
    capped = observed_dart(k=4, max_trials=20).strategy
    assert capped.trials([0, 1, 2, 3]).tolist() == [20, 5, 10, 8]


def test_dart_prop2diff_keeps_correct_responses_in_proportion_to_difficulty():
    strategy = observed_dart(mode="prop2diff", k=8).strategy
    # fail rates .9, .1, .6, .5; hardest .9 gets k = 8:
    # k_i = ceil(8 * fail / .9) = 8, 1 (0.89), 6 (5.33), 5 (4.44)
    assert strategy.targets([0, 1, 2, 3]).tolist() == [8, 1, 6, 5]
    # trials = ceil(k_i / p_i) = 80 -> capped at 64, ceil(1.11) = 2, 15, 10
    assert strategy.trials([0, 1, 2, 3]).tolist() == [64, 2, 15, 10]


def test_dart_exact_quotients_do_not_round_up():
    cur = bound("dart", 2, k=4)
    cur.observe(Outcomes([0], [[1.0, 0.0, 0.0, 0.0]]))  # Beta(2, 4): p = 1/3
    assert cur.strategy.trials([0]).tolist() == [12]


def test_dart_rejects_bad_parameters():
    with pytest.raises(ValueError, match="mode"):
        create("dart", mode="proportional")
    with pytest.raises(ValueError):
        create("dart", k=0)


# --------------------------------------------------------------------------- proportional split


def test_allocate_proportional_is_exact_and_bounded():
    rng = np.random.default_rng(0)
    for _ in range(200):
        k = int(rng.integers(1, 30))
        low, high = int(rng.integers(0, 4)), int(rng.integers(4, 20))
        total = int(rng.integers(k * low, k * high + 1))
        weights = rng.random(k) * (rng.random(k) < 0.8)
        counts = allocate_proportional(weights, total, low=low, high=high)
        assert counts.sum() == total and counts.min() >= low and counts.max() <= high
        assert counts.dtype == np.int64


def test_allocate_proportional_by_hand():
    assert allocate_proportional([3.0, 1.0], 8).tolist() == [6, 2]
    assert allocate_proportional([0.0, 0.0, 0.0], 7, low=2).tolist() == [3, 2, 2]
    assert allocate_proportional([1.0, 0.0], 9, low=1, high=5).tolist() == [5, 4]
    assert allocate_proportional([], 0).tolist() == []
    with pytest.raises(ValueError, match="cannot split"):
        allocate_proportional([1.0, 1.0], 3, low=2)
    with pytest.raises(ValueError, match="non-negative"):
        allocate_proportional([1.0, -1.0], 3)


def test_gfpo_quartiles_follow_numpy_as_items_are_observed():
    cur = bound("gfpo", 200)
    rng = np.random.default_rng(5)
    for _ in range(30):
        items = rng.choice(200, 16, replace=True)
        cur.observe(Outcomes(items, (rng.random((16, 4)) < rng.random()).astype(float)))
        observed = cur.stats.attempts > 0
        mean = (cur.stats.successes + 1.0) / (cur.stats.attempts + 2.0)
        expected = np.quantile(mean[observed], [0.25, 0.5, 0.75])
        assert cur.strategy.quartiles().tolist() == expected.tolist()
    fresh = bound("gfpo", 200)
    fresh.load_state_dict(cur.state_dict())
    assert fresh.strategy.quartiles().tolist() == cur.strategy.quartiles().tolist()


def test_dart_prop2diff_tracks_the_hardest_item_of_the_pool():
    cur = bound("dart", 3000, mode="prop2diff", k=8)
    strategy = cur.strategy
    rng = np.random.default_rng(2)
    for _ in range(20):
        items = rng.choice(3000, 50)
        cur.observe(Outcomes(items, (rng.random((50, 8)) < 0.7).astype(float)))
        assert strategy._fail.max == float((1.0 - strategy.pass_mean()).max())
    cur.observe(Outcomes(np.arange(3000), np.ones((3000, 8))))  # the 0-success ones leave
    assert strategy._fail.max == float((1.0 - strategy.pass_mean()).max())
