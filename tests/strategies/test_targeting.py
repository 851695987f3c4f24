import math

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes, load_state, save_state
from stepladder.strategies.targeting import _nearest_sorted, scale_difficulty

# The methods as published; the default safety net is tested in tests/test_safety.py.
pytestmark = pytest.mark.usefixtures("without_default_net")


def solved(indices, value: float = 1.0, rollouts: int = 4) -> Outcomes:
    return Outcomes(indices, np.full((len(indices), rollouts), value))


# ---------------------------------------------------------------- helpers


def test_scale_difficulty_minmax_rank_and_unknown():
    values = [3.0, np.nan, 1.0, 5.0, 3.0]
    assert scale_difficulty(values).tolist() == [50.0, 50.0, 0.0, 100.0, 50.0]
    assert scale_difficulty(values, method="rank").tolist() == [50.0, 50.0, 0.0, 100.0, 50.0]
    assert scale_difficulty([1.0, 2.0, 4.0], method="rank").tolist() == [0.0, 50.0, 100.0]
    assert scale_difficulty([2.0, 2.0]).tolist() == [50.0, 50.0]
    assert scale_difficulty([np.nan, 7.0]).tolist() == [50.0, 50.0]
    with pytest.raises(ValueError, match="method"):
        scale_difficulty([1.0], method="log")


def test_nearest_sorted_matches_brute_force_with_ties():
    rng = np.random.default_rng(0)
    for trial in range(300):
        size = int(rng.integers(1, 40))
        values = np.sort(rng.integers(0, 8, size).astype(float))
        target = float(rng.choice([rng.uniform(-2, 10), rng.integers(0, 8) + 0.5]))
        k = int(rng.integers(1, size + 1))
        for random_ties in (True, False):
            got = _nearest_sorted(values, target, k, np.random.default_rng(trial), random_ties)
            assert len(got) == k == len(set(got.tolist()))
            distance = np.abs(values - target)
            kth = np.sort(distance)[k - 1]
            assert (distance[got] <= kth).all()
            assert np.sum(distance < kth) <= k  # every strictly closer item is included
            assert set(np.flatnonzero(distance < kth)) <= set(got.tolist())
            if not random_ties:
                expected = np.lexsort((np.arange(size), distance))[:k]
                assert got.tolist() == expected.tolist()


# ---------------------------------------------------------------- AdaRFT


def test_adarft_target_update_hand_computed():
    cur = Curriculum(ItemPool(size=5, difficulty=[0.0, 1, 2, 3, 4]), "adarft")
    cur.observe(solved([0, 1], 1.0))  # R = 1: T = 0 + 50 tanh(2 * 0.5)
    assert cur.strategy.target == pytest.approx(50 * math.tanh(1.0))
    assert cur.strategy.target == pytest.approx(38.0797, abs=1e-4)
    cur.observe(Outcomes([0], rewards=[[1.0, 0.0, 0.0, 0.0]]))  # R = 0.25
    assert cur.strategy.target == pytest.approx(50 * math.tanh(1.0) + 50 * math.tanh(-0.5))
    cur.observe(solved([0], 0.0))  # R = 0: falls below 0 and is clipped at dmin
    assert cur.strategy.target == 0.0
    assert cur.metrics()["adarft/target"] == 0.0


def test_adarft_target_is_clipped_at_dmax_and_uses_its_parameters():
    cur = Curriculum(
        ItemPool(size=3, difficulty=[0.0, 1, 2]), "adarft", start=90.0, eta=20.0, alpha=1.0
    )
    cur.observe(solved([0], 1.0))  # 90 + 20 tanh(0.5) = 99.24
    assert cur.strategy.target == pytest.approx(90 + 20 * math.tanh(0.5))
    cur.observe(solved([0], 1.0))
    assert cur.strategy.target == 100.0


def test_adarft_pools_all_rollouts_for_the_batch_mean_reward():
    cur = Curriculum(ItemPool(size=3, difficulty=[0.0, 1, 2]), "adarft")
    cur.observe(Outcomes.from_groups([0, 1], [[1.0], [0.0, 0.0, 0.0]]))  # R = 1/4
    assert cur.strategy.target == 0.0  # 50 tanh(-0.5) < 0, clipped
    cur.observe(Outcomes.from_groups([0, 1], [[0.0], [1.0, 1.0, 1.0]]))  # R = 3/4
    assert cur.strategy.target == pytest.approx(50 * math.tanh(0.5))


def test_adarft_proposes_the_items_nearest_the_target():
    rng = np.random.default_rng(3)
    difficulty = rng.normal(size=500)
    cur = Curriculum(ItemPool(size=500, difficulty=difficulty), "adarft", seed=0)
    scaled = scale_difficulty(difficulty)
    for target in (0.0, 37.5, 62.0, 100.0):
        cur.strategy.load_state_dict({"target": target})
        batch = cur.propose(20).indices
        expected = np.argsort(np.abs(scaled - target), kind="stable")[:20]
        assert sorted(batch.tolist()) == sorted(expected.tolist())
        assert len(set(batch.tolist())) == 20


def test_adarft_breaks_ties_among_equal_difficulties_at_random():
    levels = np.repeat([1.0, 2.0, 3.0, 4.0, 5.0], 100)  # like MATH levels
    cur = Curriculum(ItemPool(size=500, difficulty=levels), "adarft", seed=0)
    first, second = cur.propose(30).indices, cur.propose(30).indices
    assert (levels[first] == 1).all() and (levels[second] == 1).all()
    assert set(first.tolist()) != set(second.tolist())
    by_index = Curriculum(ItemPool(size=500, difficulty=levels), "adarft", ties="index")
    assert by_index.propose(30).indices.tolist() == list(range(30))


def test_adarft_ties_on_both_sides_of_the_target():
    difficulty = np.tile([0.0, 1.0, 3.0, 4.0], 50)  # scaled: 0, 25, 75, 100
    cur = Curriculum(ItemPool(size=200, difficulty=difficulty), "adarft", seed=1)
    cur.strategy.load_state_dict({"target": 50.0})  # equidistant from 25 and 75
    batch = cur.propose(40).indices
    assert set(difficulty[batch].tolist()) == {1.0, 3.0}
    assert len(set(batch.tolist())) == 40
    by_index = Curriculum(ItemPool(size=200, difficulty=difficulty), "adarft", ties="index")
    by_index.strategy.load_state_dict({"target": 50.0})
    expected = [*range(1, 200, 4), *range(2, 40, 4)]  # all of d = 25, then d = 75 by index
    assert by_index.propose(60).indices.tolist() == expected


def test_adarft_candidates_draws_from_a_wider_window():
    difficulty = np.arange(100.0)
    cur = Curriculum(ItemPool(size=100, difficulty=difficulty), "adarft", seed=0, candidates=3)
    batches = [set(cur.propose(10).indices.tolist()) for _ in range(3)]
    assert all(b <= set(range(30)) for b in batches)
    assert len(set.union(*batches)) > 10


def test_adarft_batch_larger_than_the_pool_repeats_it():
    cur = Curriculum(ItemPool(size=3, difficulty=[2.0, 0.0, 1.0]), "adarft")
    assert cur.propose(7).indices.tolist() == [1, 2, 0, 1, 2, 0, 1]


def test_adarft_rank_scale_and_missing_difficulty():
    pool = ItemPool(size=4, difficulty=[0.0, 1.0, 100.0, np.nan])
    cur = Curriculum(pool, "adarft", scale="rank")
    cur.strategy.load_state_dict({"target": 50.0})
    assert cur.propose(2).indices.tolist() == [1, 3]  # ranks 0, 50, 100; NaN -> 50
    with pytest.raises(ValueError, match="difficulty"):
        Curriculum(4, "adarft")


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"eta": -1.0}, "eta"),
        ({"alpha": float("nan")}, "alpha"),
        ({"beta": 1.5}, "beta"),
        ({"dmin": 50.0, "dmax": 10.0}, "dmax"),
        ({"start": 120.0}, "start"),
        ({"scale": "log"}, "scale"),
        ({"ties": "first"}, "ties"),
        ({"candidates": 0}, "candidates"),
    ],
)
def test_adarft_rejects_bad_parameters(params, name):
    with pytest.raises(ValueError, match=f"^{name} must"):
        Curriculum(ItemPool(size=3, difficulty=[0.0, 1, 2]), "adarft", **params)


# ---------------------------------------------------------------- CDAS


def test_cdas_matches_the_authors_code():
    # Expected values from running CDAS_System.update_ratings (DeyangKong/CDAS,
    # verl/utils/dataset/rl_cdas_dataset.py) on 4 problems with these results.
    cur = Curriculum(4, "cdas", seed=0)
    cdas = cur.strategy
    cur.observe(Outcomes([0], rewards=[[1, 0, 0, 0]]))  # d_0 = 0.5 * 0 + 0.5 * (0.5 - 0.25)
    np.testing.assert_allclose(cdas.item_difficulty(), [0.125, 0.0, 0.0, 0.0])
    assert cdas.ability == pytest.approx(-0.03125)
    cur.observe(Outcomes([0, 1], rewards=[[1, 0], [1, 1]]))
    expected = [0.07033892643743866, -0.2539059321396022, 0.0, 0.0]
    np.testing.assert_allclose(cdas.item_difficulty(), expected, rtol=1e-12)
    assert cdas.ability == pytest.approx(0.04589175142554089, rel=1e-12)


def test_cdas_one_update_hand_computed_paper_weighting():
    cur = Curriculum(4, "cdas", seed=0, weighting="paper")
    cdas = cur.strategy
    cur.observe(Outcomes([0, 1], rewards=[[1, 0, 0, 0], [1, 1, 1, 1]]))
    # p_exp = sigmoid(0 - 0) = 0.5, k = 1: d = p_exp - pr
    np.testing.assert_allclose(cdas.item_difficulty(), [0.25, -0.5, 0.0, 0.0])
    assert cdas.ability == pytest.approx(-(0.25 - 0.5) / 4)  # 0.0625
    # Second update of item 0 (k = 2) with pr = 0.5, using R = 0.0625 and d_0 = 0.25.
    cur.observe(Outcomes([0], rewards=[[1, 0]]))
    p_exp = 1 / (1 + math.exp(-(0.0625 - 0.25)))
    d_new = 0.5 * 0.25 + 0.5 * (p_exp - 0.5)
    assert cdas.item_difficulty()[0] == pytest.approx(d_new)
    assert cdas.ability == pytest.approx(0.0625 - (d_new - 0.25) / 4)
    assert cdas.ability == pytest.approx(-cdas.item_difficulty().mean())
    assert cur.metrics()["cdas/items_updated"] == 2.0


def test_cdas_pools_repeated_items_into_one_update():
    cur = Curriculum(4, "cdas", seed=0)
    cur.observe(Outcomes.from_groups([2, 2], [[1.0, 1.0], [0.0, 0.0, 0.0, 1.0]]))  # pr = 3/6
    assert cur.strategy.item_difficulty()[2] == pytest.approx(0.0)
    updates = cur.strategy.state_dict()["updates"]
    assert updates["__rows__"].tolist() == [2] and updates["values"].tolist() == [1]


def set_cdas_state(cur, difficulty, ability):
    difficulty = np.asarray(difficulty, dtype=float)
    cur.strategy.load_state_dict(
        {
            **cur.strategy.state_dict(),
            "ability": ability,
            "updated_difficulty": difficulty,
            "updates": np.ones(len(difficulty), dtype=np.int64),
        }
    )


def test_cdas_picks_half_below_and_half_above_the_ability():
    cur = Curriculum(6, "cdas", seed=0, warmup=False)
    set_cdas_state(cur, [-2.0, -1.0, -0.5, 0.2, 0.5, 3.0], 0.0)
    assert cur.propose(4).indices.tolist() == [2, 1, 3, 4]
    assert cur.propose(3).indices.tolist() == [2, 1, 3]  # odd: the extra one below
    assert sorted(cur.propose(6).indices.tolist()) == list(range(6))


def test_cdas_backfills_from_the_other_side():
    cur = Curriculum(6, "cdas", seed=0, warmup=False)
    set_cdas_state(cur, [-2.0, -1.0, -0.5, 0.2, 0.5, 3.0], 1.0)  # one item above
    assert cur.propose(4).indices.tolist() == [4, 3, 2, 5]
    set_cdas_state(cur, [-2.0, -1.0, -0.5, 0.2, 0.5, 3.0], -1.5)  # one item below
    assert cur.propose(4).indices.tolist() == [0, 1, 2, 3]
    assert cur.propose(8).indices.tolist() == [0, 1, 2, 3, 4, 5, 0, 1]


def test_cdas_breaks_ties_among_unvisited_items_at_random():
    cur = Curriculum(100, "cdas", seed=0, warmup=False)
    first, second = set(cur.propose(10).indices.tolist()), set(cur.propose(10).indices.tolist())
    assert first != second
    assert Curriculum(100, "cdas", ties="index", warmup=False).propose(5).indices.tolist() == [
        0,
        1,
        2,
        3,
        4,
    ]


def test_cdas_moves_toward_items_near_the_learners_level():
    # A learner who solves items 0-49 and fails 50-99 after everything was seen once:
    # solved items end below R, failed ones above; proposals straddle R.
    cur = Curriculum(100, "cdas", seed=0, warmup=False)
    items = np.arange(100)
    cur.observe(Outcomes(items, np.where(items[:, None] < 50, 1.0, 0.0) * np.ones((1, 4))))
    d, ability = cur.strategy.item_difficulty(), cur.strategy.ability
    assert (d[:50] < ability).all() and (d[50:] > ability).all()
    batch = cur.propose(10).indices
    assert np.sum(batch < 50) == 5 and np.sum(batch >= 50) == 5


def test_cdas_prior_initialisation():
    pool = ItemPool(size=4, difficulty=[1.0, 2.0, 3.0, np.nan])
    cur = Curriculum(pool, "cdas", init="prior", ties="index", warmup=False)
    d = cur.strategy.item_difficulty()
    np.testing.assert_allclose(d[:3], [-1.2247449, 0.0, 1.2247449])
    assert d[3] == 0.0
    assert cur.strategy.ability == pytest.approx(0.0)
    assert cur.propose(2).indices.tolist() == [1, 2]  # d = 0 (ties: item 1 before 3), 1.22
    with pytest.raises(ValueError, match="difficulty"):
        Curriculum(4, "cdas", init="prior")


def test_cdas_state_round_trip_stores_touched_items_only(tmp_path):
    cur = Curriculum(1000, "cdas", seed=0)
    cur.observe(Outcomes([3, 7], rewards=[[1, 0], [0, 0]]))
    state = cur.strategy.state_dict()
    assert state["updates"]["__rows__"].tolist() == [3, 7]
    assert state["updated_difficulty"]["__rows__"].tolist() == [7]  # d_3 = 0.5 - 0.5 = 0
    save_state(tmp_path / "s.npz", cur.state_dict())
    fresh = Curriculum(1000, "cdas", seed=5)
    fresh.load_state_dict(load_state(tmp_path / "s.npz"))
    np.testing.assert_array_equal(fresh.strategy.item_difficulty(), cur.strategy.item_difficulty())
    assert fresh.propose(8).indices.tolist() == cur.propose(8).indices.tolist()


def test_cdas_warms_up_with_one_uniform_epoch():
    # The paper's warm-up: the first epoch is sampled uniformly at random, every item once,
    # and observed as usual; alignment starts after it.
    cur = Curriculum(10, "cdas", seed=0)
    seen = []
    for _ in range(3):  # 4 + 4 + 2 of the 10 items
        batch = cur.propose(4 if len(seen) < 8 else 2).indices.tolist()
        seen += batch
        cur.observe(Outcomes(batch, rewards=[[1, 0, 0, 0]] * len(batch)))  # pr = 0.25
    assert sorted(seen) == list(range(10))
    assert cur.metrics()["cdas/warmup_left"] == 0.0
    assert cur.metrics()["cdas/items_updated"] == 10.0
    # Every item once at pr = 0.25 while R moved: d = (sigmoid(R - 0) - 0.25) / 2 with R the
    # ability before each batch (0, then -4 * 0.125 / 10 = -0.05, then about -0.0975).
    d = cur.strategy.item_difficulty()
    first, second, third = seen[:4], seen[4:8], seen[8:]
    sig = lambda r: 1 / (1 + math.exp(-r))  # noqa: E731
    np.testing.assert_allclose(d[first], 0.125)
    np.testing.assert_allclose(d[second], (sig(-0.05) - 0.25) / 2)
    np.testing.assert_allclose(d[third], (sig(-0.05 - 4 * (sig(-0.05) - 0.25) / 20) - 0.25) / 2)
    assert cur.strategy.ability == pytest.approx(-d.mean())
    # After the warm-up, the aligned rule: every item scored below p_exp, so every d lies above
    # R = -mean(d) and the batch is backfilled from above, nearest first: the last batch's two
    # items (d = 0.1128), then two of the second batch's four (d = 0.1188).
    batch = cur.propose(4).indices
    assert sorted(batch[:2].tolist()) == sorted(third)
    assert set(batch[2:].tolist()) <= set(second)


def test_cdas_warmup_resumes_exactly(tmp_path):
    cur = Curriculum(50, "cdas", seed=3)
    cur.observe(Outcomes(cur.propose(20).indices, rewards=np.ones((20, 2))))
    save_state(tmp_path / "s.npz", cur.state_dict())
    fresh = Curriculum(50, "cdas", seed=9)
    fresh.load_state_dict(load_state(tmp_path / "s.npz"))
    assert fresh.metrics()["cdas/warmup_left"] == 30.0
    for _ in range(3):
        assert fresh.propose(16).indices.tolist() == cur.propose(16).indices.tolist()


@pytest.mark.parametrize(
    ("params", "name"),
    [({"init": "prior_"}, "init"), ({"ties": 1}, "ties"), ({"warmup": 1}, "warmup")],
)
def test_cdas_rejects_bad_parameters(params, name):
    with pytest.raises(ValueError, match=f"^{name} must"):
        Curriculum(4, "cdas", **params)


# ---------------------------------------------------------------- GAIN-RL


def gain_pool(size: int = 20_000) -> ItemPool:
    return ItemPool(size=size, difficulty=np.arange(size, dtype=float))  # rank = index


def test_gain_mu_update_hand_computed():
    cur = Curriculum(gain_pool(), "gain", seed=0)
    cur.observe(solved([0, 1], 1.0))  # acc = 1, no signals
    assert cur.strategy.mu == pytest.approx(500 * math.tanh(1.0))
    cur.observe(Outcomes([0, 1], rewards=[[1, 0], [0, 1]], signals=[0.5, 0.0]))  # acc 0.5, s 0.25
    assert cur.strategy.mu == pytest.approx(500 * math.tanh(1.0) + 500 * math.tanh(0.5))
    before = cur.strategy.mu
    cur.observe(solved([0], 0.0))  # acc = 0: negative shift clamped to 0
    assert cur.strategy.mu == before
    assert cur.metrics()["gain/mu"] == before


def test_gain_moves_mu_once_per_loop_on_the_loop_accuracy():
    # The authors' cadence: a subset of 256 is trained over 4 batches of 64, then mu moves
    # once by the loop's accuracy. Accuracies 1, 1, 0, 0 pool to 0.5: no move (a move after
    # every step would have reached 2 x 500 tanh(1) = 761.6).
    cur = Curriculum(gain_pool(), "gain", seed=0)
    loop = []
    for acc in (1.0, 1.0, 0.0, 0.0):
        batch = cur.propose(64).indices
        loop.append(batch)
        assert cur.strategy.mu == 0.0
        cur.observe(solved(batch, acc))
    assert cur.strategy.mu == 0.0 and len(np.unique(np.concatenate(loop))) == 256
    for acc in (1.0, 1.0, 1.0, 0.5):  # loop accuracy 0.875: 500 tanh(0.75)
        cur.observe(solved(cur.propose(64).indices, acc))
    assert cur.strategy.mu == pytest.approx(500 * math.tanh(0.75))
    per_step = Curriculum(gain_pool(), "gain", seed=0, subset=None)
    for acc in (1.0, 0.0):
        per_step.observe(solved(per_step.propose(64).indices, acc))
    assert per_step.strategy.mu == pytest.approx(500 * math.tanh(1.0))
    big = Curriculum(gain_pool(), "gain", seed=0)  # a batch larger than the subset: one loop
    assert len(np.unique(big.propose(300).indices)) == 300
    big.observe(solved(np.arange(300), 1.0))
    assert big.strategy.mu == pytest.approx(500 * math.tanh(1.0))


def test_gain_mu_matches_the_authors_code():
    # Expected values: update_dataset (float32 torch arithmetic) run on loops with mean
    # accuracy 1.5 of their 2.0/0.0 rewards (pass rate 0.75) and mean angle 0.1, then 2.0
    # (pass rate 1) and angle 0, then 0.5 (pass rate 0.25), from github.com/wangqinsi1/GAINRL,
    # commit 20279caf241990c09d24b30dc2f8f2a0d707ca64, trl_gainrl/gainrl_trainer.py.
    cur = Curriculum(gain_pool(5000), "gain", seed=0)  # subset 256: loops of 4 x 64
    loops = [([1.0, 1.0, 1.0, 0.0], 0.1, 329.7462463378906),
             ([1.0, 1.0, 1.0, 1.0], 0.0, 710.5433349609375),
             ([1.0, 0.0, 0.0, 0.0], 0.0, 710.5433349609375)]  # fmt: skip
    for rewards, angle, authors_mu in loops:
        for _ in range(4):
            batch = cur.propose(64).indices
            cur.observe(Outcomes(batch, rewards=[rewards] * 64, signals=[angle] * 64))
        assert cur.strategy.mu == pytest.approx(authors_mu, rel=1e-6)


def test_gain_window_matches_the_authors_code():
    # Expected values: the `probs` of gaussian_sample_list(list(range(6)), 3, 2.5, 2.0), run
    # from github.com/wangqinsi1/GAINRL, commit 20279caf241990c09d24b30dc2f8f2a0d707ca64,
    # trl_gainrl/gainrl_trainer.py.
    cur = Curriculum(gain_pool(6), "gain", seed=0, sigma=2.0, start=2.5, subset=3)
    authors = [0.10491591300798242, 0.1729770974111849, 0.22210698958083272,
               0.22210698958083272, 0.1729770974111849, 0.10491591300798242]  # fmt: skip
    np.testing.assert_allclose(cur.strategy.probabilities(), authors, rtol=1e-12)
    subset = cur.propose(3).indices  # proposed in rank order, as their sorted draw
    assert subset.tolist() == sorted(subset.tolist()) and len(set(subset.tolist())) == 3


def test_gain_shift_is_clamped_to_max_shift_and_mu_to_the_pool():
    cur = Curriculum(gain_pool(), "gain", seed=0, gain=1000.0)
    cur.observe(Outcomes([0], rewards=[[1.0, 1.0]], signals=[1.0]))  # 2000 tanh(1) > 1000
    assert cur.strategy.mu == 1000.0
    small = Curriculum(gain_pool(50), "gain", seed=0)
    small.observe(solved([0], 1.0))
    assert small.strategy.mu == 49.0
    assert small.metrics()["gain/progress"] == 1.0


def test_gain_samples_without_replacement_around_mu():
    cur = Curriculum(gain_pool(), "gain", seed=0, start=10_000.0)
    batch = cur.propose(256).indices
    assert len(set(batch.tolist())) == 256
    assert np.abs(batch - 10_000).max() < 6_000
    assert abs(batch.mean() - 10_000) < 250  # sd of the mean ~ 1000 / 16
    assert 700 < batch.std() < 1300


def test_gain_weights_follow_the_gaussian():
    cur = Curriculum(gain_pool(30), "gain", seed=0, sigma=2.0, start=10.0, subset=None)
    counts = np.bincount(np.concatenate([cur.propose(1).indices for _ in range(20_000)]), None, 30)
    weights = np.exp(-0.5 * ((np.arange(30) - 10.0) / 2.0) ** 2)
    np.testing.assert_allclose(counts / 20_000, weights / weights.sum(), atol=0.01)


def test_gain_orders_by_score_descending_or_difficulty_ascending():
    difficulty = np.array([5.0, 1.0, np.nan, 3.0])
    cur = Curriculum(ItemPool(size=4, difficulty=difficulty), "gain", sigma=0.1)
    assert cur.propose(1).indices.tolist() == [1]  # rank 0: the easiest
    scored = Curriculum(4, "gain", sigma=0.1, score=[0.2, 0.9, 0.5, 0.1], subset=None)
    assert scored.propose(1).indices.tolist() == [1]  # rank 0: the highest score
    batch = scored.propose(6).indices.tolist()  # the whole pool, then its first items again
    assert sorted(batch[:4]) == [0, 1, 2, 3] and batch[4:] == batch[:2]


def test_gain_needs_a_score_or_difficulty_of_the_right_length():
    with pytest.raises(ValueError, match="difficulty"):
        Curriculum(4, "gain")
    with pytest.raises(ValueError, match="score has 3 values"):
        Curriculum(4, "gain", score=[1.0, 2.0, 3.0])


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"sigma": 0.0}, "sigma"),
        ({"gain": -1.0}, "gain"),
        ({"max_shift": float("inf")}, "max_shift"),
        ({"start": -5.0}, "start"),
        ({"score": [[1.0]]}, "score"),
        ({"score": ["high"]}, "score"),
    ],
)
def test_gain_rejects_bad_parameters(params, name):
    with pytest.raises(ValueError, match=f"^{name} must"):
        Curriculum(gain_pool(10), "gain", **params)


def cdas_reference(d: np.ndarray, ability: float, n: int) -> list[int]:
    """The selection rule written directly over the whole pool (ties by pool order)."""
    below, above = np.flatnonzero(d <= ability), np.flatnonzero(d > ability)
    batch = min(n, len(d))
    want_below, want_above = batch - batch // 2, batch // 2
    take_below = min(len(below), want_below + max(0, want_above - len(above)))
    low = below[np.lexsort((below, ability - d[below]))][:take_below]
    high = above[np.lexsort((above, d[above] - ability))][: batch - take_below]
    return np.resize(np.concatenate([low, high]), n).tolist()


@pytest.mark.parametrize("init", ["zero", "prior"])
def test_cdas_indexed_selection_matches_the_whole_pool_rule(init):
    rng = np.random.default_rng(4)
    prior = rng.integers(0, 5, 300).astype(float)  # many ties in the initial order
    by_index = Curriculum(
        ItemPool(size=300, difficulty=prior), "cdas", init=init, ties="index", warmup=False
    )
    at_random = Curriculum(
        ItemPool(size=300, difficulty=prior), "cdas", init=init, seed=3, warmup=False
    )
    for _ in range(40):
        n = int(rng.integers(1, 40))
        d, ability = by_index.strategy.item_difficulty(), by_index.strategy.ability
        assert by_index.propose(n).indices.tolist() == cdas_reference(d, ability, n)
        batch = at_random.propose(n).indices
        d, ability = at_random.strategy.item_difficulty(), at_random.strategy.ability
        distance = np.abs(d - ability)
        expected = cdas_reference(d, ability, n)
        assert len(set(batch.tolist())) == len(set(expected))
        side = d[batch] <= ability
        assert side.sum() == (d[expected] <= ability).sum()
        for mask, ref in ((side, d[expected] <= ability), (~side, d[expected] > ability)):
            assert (
                np.sort(distance[batch[mask]]).tolist() == np.sort(distance[expected][ref]).tolist()
            )
        for cur in (by_index, at_random):
            items = rng.choice(300, 12, replace=False)
            cur.observe(Outcomes(items, (rng.random((12, 4)) < 0.5).astype(float)))


def test_cdas_checkpoint_holds_only_the_updated_items():
    cur = Curriculum(1_000_000, "cdas", seed=0)
    batch = cur.propose(64)
    cur.observe(Outcomes(batch.indices, np.ones((64, 4))))
    state = cur.strategy.state_dict()
    assert len(state["updates"]["__rows__"]) == 64 == len(state["updated_difficulty"]["values"])
    assert cur.metrics()["cdas/items_updated"] == 64.0
