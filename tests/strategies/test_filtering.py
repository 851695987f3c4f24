import numpy as np
import pytest

from stepladder import Curriculum, Outcomes, load_state, save_state, strategies
from stepladder.batching import fill_batch
from stepladder.strategies.filtering import vcrl_score

FILTERS = ["dynamic_sampling", "range_filter", "balanced_filter", "vcrl"]


def binary_groups(successes, size):
    """One 0/1 reward group of ``size`` per entry, with that many leading successes."""
    return [[1.0] * k + [0.0] * (size - k) for k in successes]


def test_filters_are_registered_as_filtering_strategies():
    for name in FILTERS:
        assert name in strategies.available()
        assert strategies.get(name).filters is True


# --- keep masks on crafted outcomes -------------------------------------------------------

CRAFTED = Outcomes.from_groups(
    [0, 1, 2, 3, 4, 5, 6, 7],
    [
        [0, 0, 0, 0, 0, 0, 0, 0],  # p = 0
        [1, 0, 0, 0, 0, 0, 0, 0],  # p = 1/8
        [1, 1, 0, 0, 0, 0, 0, 0],  # p = 2/8
        [1, 1, 1, 1, 0, 0, 0, 0],  # p = 4/8
        [1, 1, 1, 1, 1, 1, 0, 0],  # p = 6/8
        [1, 1, 1, 1, 1, 1, 1, 0],  # p = 7/8
        [1, 1, 1, 1, 1, 1, 1, 1],  # p = 1
        [1],  # a single rollout
    ],
)


@pytest.mark.parametrize(
    ("name", "params", "expected"),
    [
        ("dynamic_sampling", {}, [0, 1, 1, 1, 1, 1, 0, 0]),
        ("range_filter", {}, [0, 1, 1, 1, 1, 1, 0, 0]),
        ("range_filter", {"low": 0.25, "high": 0.75}, [0, 0, 0, 1, 0, 0, 0, 0]),
        ("balanced_filter", {}, [0, 0, 1, 1, 1, 0, 0, 0]),
        ("balanced_filter", {"low": 0.0, "high": 1.0}, [1, 1, 1, 1, 1, 1, 1, 0]),
        ("vcrl", {}, [0, 0, 1, 1, 1, 0, 0, 0]),  # 1/8 scores 0.4375 < 0.5
        ("vcrl", {"threshold": 0.4}, [0, 1, 1, 1, 1, 1, 0, 0]),
        ("vcrl", {"threshold": 1.0}, [0, 0, 0, 1, 0, 0, 0, 0]),
    ],
)
def test_keep_masks_by_hand(name, params, expected):
    cur = Curriculum(10, name, **params)
    assert cur.keep(CRAFTED).tolist() == [bool(e) for e in expected]


def test_dynamic_sampling_uses_std_for_graded_rewards():
    out = Outcomes([0, 1, 2], rewards=[[0.5, 0.5, 0.5], [0.2, 0.3, 0.3], [1.0, 1.0, 1.0]])
    assert Curriculum(5, "dynamic_sampling").keep(out).tolist() == [False, True, False]
    # OpenRLHF's rule looks at the mean only: a constant 0.5 group lies inside (0, 1)
    assert Curriculum(5, "range_filter").keep(out).tolist() == [True, True, False]


def test_range_filter_bounds_are_exclusive_and_balanced_bounds_inclusive():
    out = Outcomes.from_groups([0, 1, 2], binary_groups([1, 2, 3], 4))  # p = .25, .5, .75
    assert Curriculum(5, "range_filter", low=0.25, high=0.75).keep(out).tolist() == [
        False,
        True,
        False,
    ]
    assert Curriculum(5, "balanced_filter").keep(out).tolist() == [True, True, True]
    # exclusive bounds would keep only the 2-of-4 group; ragged groups use their own G
    ragged = Outcomes.from_groups([0, 1, 2], [[1, 0, 0, 0], [1, 0, 0, 0, 0], [1, 0, 0]])
    assert Curriculum(5, "balanced_filter").keep(ragged).tolist() == [True, False, True]


@pytest.mark.parametrize("name", FILTERS)
def test_degenerate_batches_are_never_kept(name):
    cur = Curriculum(10, name)
    assert cur.keep(Outcomes.empty()).shape == (0,)
    scalar = Outcomes([0, 1, 2], rewards=[0.0, 0.5, 1.0])  # treated as G = 1
    assert not cur.keep(scalar).any()
    assert not cur.keep(Outcomes([0, 1], rewards=[[1.0], [0.0]])).any()
    assert not cur.keep(Outcomes([0, 1], losses=[0.3, 0.1])).any()
    cur.observe(Outcomes.empty())
    cur.observe(scalar)
    assert cur.metrics()[f"{name}/kept_fraction"] == 0.0


@pytest.mark.parametrize("name", FILTERS)
def test_pool_of_one_item(name):
    cur = Curriculum(1, name, seed=0)
    for _ in range(4):
        proposal = cur.propose(3)
        assert proposal.indices.tolist() == [0, 0, 0]
        cur.observe(Outcomes(proposal.indices, rewards=[[1, 0]] * 3))
    assert all(np.isfinite(v) for v in cur.metrics().values())


# --- VCRL score ---------------------------------------------------------------------------


def test_vcrl_formula_even_group():
    # G = 8: s2 = k(8-k)/56, s2_max = 8/28
    scores = vcrl_score(Outcomes.from_groups(range(9), binary_groups(range(9), 8)))
    expected = [k * (8 - k) / 56 / (8 / 28) for k in range(9)]
    np.testing.assert_allclose(scores, expected, rtol=1e-12)
    assert scores[4] == pytest.approx(1.0)
    assert scores[2] == pytest.approx(0.75)  # (2*6/(8*7)) / (8/(4*7))
    assert scores[1] == pytest.approx(0.4375)
    assert scores[0] == scores[8] == 0.0


def test_vcrl_formula_odd_group():
    # G = 5: s2 = k(5-k)/20, s2_max = 6/20
    scores = vcrl_score(Outcomes.from_groups(range(6), binary_groups(range(6), 5)))
    np.testing.assert_allclose(scores, [0.0, 4 / 6, 1.0, 1.0, 4 / 6, 0.0], rtol=1e-12)
    # G = 3: s2_max = 4/12; k = 1 gives s2 = 2/6, the maximum
    assert vcrl_score(Outcomes([0], rewards=[[1, 0, 0]]))[0] == pytest.approx(1.0)


def test_vcrl_score_on_ragged_scalar_and_graded_rewards():
    ragged = Outcomes.from_groups([0, 1, 2, 3], [[1, 0], [1, 0, 0, 0], [1, 1, 0], [1]])
    # G=2,k=1: (1/2)/(2/4) = 1; G=4,k=1: (3/12)/(4/12) = 0.75; G=3,k=2: (2/6)/(4/12) = 1
    np.testing.assert_allclose(vcrl_score(ragged), [1.0, 0.75, 1.0, 0.0], rtol=1e-12)
    assert vcrl_score(Outcomes([0, 1], rewards=[1.0, 0.0])).tolist() == [0.0, 0.0]
    assert vcrl_score(Outcomes.empty()).shape == (0,)
    assert vcrl_score(Outcomes([0], losses=[1.0])).tolist() == [0.0]
    graded = vcrl_score(Outcomes([0, 1], rewards=[[0.5, 0.5, 0.5, 0.5], [0.25, 0.75, 0.25, 0.75]]))
    # sample variance of the rewards: 0, and 4 * 0.0625 / 3 over the G = 4 maximum 1/3
    np.testing.assert_allclose(graded, [0.0, 0.25], rtol=1e-12)


# --- VCRL memory bank ---------------------------------------------------------------------


def banked_curriculum(items, **params):
    params.setdefault("cooldown", 0)  # replayable at once: these tests pin the replay rules
    cur = Curriculum(1000, "vcrl", seed=4, **params)
    cur.observe(Outcomes.from_groups(items, binary_groups([4] * len(items), 8)))
    return cur


def test_replay_draws_about_the_replay_fraction_from_the_bank():
    bank = list(range(500, 600))
    cur = banked_curriculum(bank, replay_fraction=0.25)
    assert cur.metrics()["vcrl/bank_size"] == 100.0
    proposal = cur.propose(40).indices
    assert len(set(proposal.tolist())) == 40  # no item twice
    from_bank = np.isin(proposal, bank).sum()
    assert 10 <= from_bank <= 14  # exactly 10 replayed, a few more by uniform chance
    assert cur.metrics()["vcrl/replay_fraction"] == 0.25
    assert cur.metrics()["vcrl/bank_size"] == 90.0  # replayed prompts leave the bank


def test_fractional_replay_counts_are_rounded_at_random_with_the_right_mean():
    cur = banked_curriculum(list(range(300)), replay_fraction=0.3, bank_size=300)
    replayed = []
    for _ in range(100):
        before = cur.metrics()["vcrl/bank_size"]
        cur.propose(3)  # expected 0.9 replays each
        replayed.append(before - cur.metrics()["vcrl/bank_size"])
    assert set(replayed) <= {0.0, 1.0}
    assert 75 <= sum(replayed) <= 100


def test_bank_prioritises_scores_and_evicts_the_lowest():
    cur = Curriculum(100, "vcrl", seed=0, bank_size=2, replay_fraction=1.0, cooldown=0)
    # scores: item 1 -> 0.75 (2 of 8), item 2 -> 1.0 (4 of 8), item 3 -> 0.9375 (3 of 8)
    cur.observe(Outcomes.from_groups([1, 2, 3], binary_groups([2, 4, 3], 8)))
    assert cur.metrics()["vcrl/bank_size"] == 2.0
    assert sorted(cur.propose(2).indices.tolist()) == [2, 3]  # 1 was evicted
    cur.observe(Outcomes.from_groups([5, 6], binary_groups([4, 4], 8)))
    assert cur.propose(1).indices.tolist() == [6]  # equal scores: the newest first


def test_bank_entries_are_refreshed_or_dropped_by_new_observations():
    cur = banked_curriculum([10, 11, 12])
    cur.observe(Outcomes.from_groups([10, 11], [[1] * 8, [1, 0, 0, 0, 0, 0, 0, 0]]))
    assert cur.metrics()["vcrl/bank_size"] == 1.0
    cur.observe(Outcomes([12], rewards=[1.0]))  # one rollout scores 0: dropped too
    assert cur.metrics()["vcrl/bank_size"] == 0.0


def test_replay_skips_bank_items_already_in_the_uniform_part():
    cur = Curriculum(3, "vcrl", seed=0, replay_fraction=0.5, cooldown=0)
    cur.observe(Outcomes([0, 1, 2], rewards=[[1, 0]] * 3))
    proposal = cur.propose(3).indices.tolist()
    assert sorted(proposal) == [0, 1, 2]


def test_bank_size_zero_disables_replay():
    cur = Curriculum(50, "vcrl", seed=1, bank_size=0)
    reference = Curriculum(50, "uniform", seed=1)
    cur.observe(Outcomes([3, 4], rewards=[[1, 0], [0, 1]]))
    assert cur.metrics()["vcrl/bank_size"] == 0.0
    assert cur.propose(10).indices.tolist() == reference.propose(10).indices.tolist()


def test_vcrl_state_round_trips_the_bank(tmp_path):
    cur = banked_curriculum([5, 6, 7])
    cur.observe(Outcomes.from_groups([8], binary_groups([3], 8)))
    save_state(tmp_path / "s.npz", cur.state_dict())
    fresh = Curriculum(1000, "vcrl", seed=99, cooldown=0)
    fresh.load_state_dict(load_state(tmp_path / "s.npz"))
    assert fresh.metrics() == cur.metrics()
    for _ in range(3):
        assert fresh.propose(6).indices.tolist() == cur.propose(6).indices.tolist()


def test_proposals_without_bank_match_uniform():
    for name in FILTERS:
        ours = Curriculum(30, name, seed=5).propose(12).indices.tolist()
        assert ours == Curriculum(30, "uniform", seed=5).propose(12).indices.tolist()


# --- end to end with fill_batch -----------------------------------------------------------


def half_solved_generate(proposal):
    """Items below 50 are always solved; the others are solved by half of their 8 rollouts."""
    idx = proposal.indices
    rewards = np.where(idx[:, None] < 50, 1.0, (np.arange(8) % 2).astype(float))
    return Outcomes(idx, rewards)


@pytest.mark.parametrize("name", FILTERS)
def test_fill_batch_keeps_only_mixed_groups_and_fills_the_batch(name):
    cur = Curriculum(100, name, seed=0)
    for _ in range(5):
        batch = fill_batch(cur, half_solved_generate, 16, max_rounds=20)
        assert len(batch.kept) == 16
        assert batch.kept.mixed.all() and (batch.kept.indices >= 50).all()
        assert batch.generated_groups >= 16
    metrics = cur.metrics()
    assert 0.0 < metrics[f"{name}/kept_fraction_mean"] < 1.0


def test_vcrl_replays_a_prompt_only_after_the_cooldown():
    cur = Curriculum(1000, "vcrl", seed=0, replay_fraction=1.0, cooldown=2)
    cur.observe(Outcomes.from_groups([7], binary_groups([4], 8)))  # banked, score 1
    first, second = cur.propose(1).indices.tolist(), cur.propose(1).indices.tolist()
    assert 7 not in first + second  # the next two proposals draw uniformly
    assert cur.metrics()["vcrl/bank_size"] == 1.0 and cur.metrics()["vcrl/replay_fraction"] == 0.0
    assert cur.propose(1).indices.tolist() == [7]  # the third replays it
    # A new observation restarts the wait.
    cur.observe(Outcomes.from_groups([7], binary_groups([4], 8)))
    cur.propose(1)
    cur.observe(Outcomes.from_groups([7], binary_groups([3], 8)))  # refreshed: wait again
    assert [7 in cur.propose(1).indices.tolist() for _ in range(3)] == [False, False, True]


def test_vcrl_never_puts_a_prompt_twice_into_one_filled_batch():
    # Before the cooldown, fill_batch's refill rounds replayed the prompts banked by its own
    # earlier rounds (the newest top scores come first), so a kept batch held duplicates.
    def duplicates(cooldown):
        cur = Curriculum(2000, "vcrl", seed=0, cooldown=cooldown)  # no uniform repeats
        count = 0
        for _ in range(30):
            kept = fill_batch(cur, half_solved_generate, 16, max_rounds=3).kept.indices
            count += len(kept) - len(np.unique(kept))
        return count

    assert duplicates(2) == 0
    assert duplicates(0) > 0


def test_vcrl_replay_raises_the_kept_fraction():
    def kept_fraction(replay_fraction):
        cur = Curriculum(100, "vcrl", seed=0, replay_fraction=replay_fraction)
        for _ in range(20):
            fill_batch(cur, half_solved_generate, 16, max_rounds=20)
        return cur.metrics()["vcrl/kept_fraction_mean"]

    assert kept_fraction(0.5) > kept_fraction(0.0) + 0.1


# --- parameter validation -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("range_filter", {"low": -0.1}, "low must lie in"),
        ("range_filter", {"high": 1.5}, "high must lie in"),
        ("range_filter", {"low": 0.6, "high": 0.4}, "low must be below high"),
        ("range_filter", {"low": 0.5, "high": 0.5}, "low must be below high"),
        ("balanced_filter", {"low": 0.8, "high": 0.7}, "low must not exceed high"),
        ("balanced_filter", {"high": "x"}, "high must be a number"),
        ("balanced_filter", {"low": float("nan")}, "low must lie in"),
        ("vcrl", {"threshold": 0.0}, "threshold must lie in"),
        ("vcrl", {"threshold": 1.2}, "threshold must lie in"),
        ("vcrl", {"bank_size": -1}, "bank_size must be non-negative"),
        ("vcrl", {"bank_size": 2.5}, "bank_size must be an integer"),
        ("vcrl", {"replay_fraction": 1.5}, "replay_fraction must lie in"),
        ("vcrl", {"replay_fraction": True}, "replay_fraction must be a number"),
        ("vcrl", {"cooldown": -1}, "cooldown must be non-negative"),
    ],
)
def test_parameter_validation_names_the_parameter(name, params, message):
    with pytest.raises(ValueError, match=message):
        strategies.create(name, **params)


def test_dynamic_sampling_takes_no_parameters():
    with pytest.raises(ValueError, match="dynamic_sampling"):
        strategies.create("dynamic_sampling", low=0.1)


# --- feedback, checkpoints and cost -------------------------------------------------------


@pytest.mark.parametrize("name", FILTERS)
def test_filters_learn_from_rewards_only(name):
    assert strategies.get(name).feedback == ("rewards",)
    cur = Curriculum(10, name)
    with pytest.raises(ValueError, match="learns from rewards"):
        cur.observe(Outcomes([0, 1], losses=[0.3, 0.1]))


def test_vcrl_resumed_bank_evicts_like_the_original(tmp_path):
    cur = Curriculum(1000, "vcrl", seed=0, bank_size=3, replay_fraction=1.0, cooldown=0)
    # scores 0.75, 1.0, 0.9375: the bank is full
    cur.observe(Outcomes.from_groups([1, 2, 3], binary_groups([2, 4, 3], 8)))
    save_state(tmp_path / "s.npz", cur.state_dict())
    fresh = Curriculum(1000, "vcrl", seed=0, bank_size=3, replay_fraction=1.0, cooldown=0)
    fresh.load_state_dict(load_state(tmp_path / "s.npz"))
    for c in (cur, fresh):  # 4 scores 0.9375 >= 0.75: item 1 is evicted, 5 scores 0.75 < 0.9375
        c.observe(Outcomes.from_groups([4, 5], binary_groups([3, 2], 8)))
        assert c.propose(3).indices.tolist() == [2, 4, 3]


def test_vcrl_rejects_a_corrupt_bank_and_keeps_its_state():
    cur = banked_curriculum([5, 6, 7])
    state = cur.state_dict()["strategy_state"]
    before = cur.metrics()
    for key, value in [
        ("bank_items", np.array([5, 5, 6])),
        ("bank_items", np.array([5, 6, 1000])),
        ("bank_scores", np.array([1.0, np.nan, 1.0])),
        ("bank_ticks", np.array([1, 2])),
    ]:
        with pytest.raises(ValueError, match="bank"):
            cur.strategy.load_state_dict({**state, key: value})
    assert cur.metrics() == before


@pytest.mark.parametrize("name", FILTERS)
def test_checkpoints_grow_with_the_items_touched_not_the_pool(name, tmp_path):
    cur = Curriculum(10**6, name, seed=0)
    rewards = (np.random.default_rng(0).random((64, 8)) < 0.5).astype(float)
    for _ in range(3):
        cur.observe(Outcomes(cur.propose(64).indices, rewards))
    save_state(tmp_path / "s.npz", cur.strategy.state_dict())
    assert (tmp_path / "s.npz").stat().st_size < 10_000  # a few counters and the bank
