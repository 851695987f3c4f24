"""The safety net: uniform mix and group coverage, through the Curriculum."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pyarrow as pa
import pytest

import stepladder
from stepladder import Curriculum, ItemPool, Outcomes, Proposal, Strategy, strategies
from stepladder.safety import SafetyNet
from stepladder.testing import make_feedback, make_pool


class Fixed(Strategy):
    """Always proposes the same item, with rollouts 1..n and rising weights."""

    name = "fixed"

    def __init__(self, *, item: int = 0) -> None:
        self.item = item

    def propose(self, n: int) -> Proposal:
        return Proposal(
            np.full(n, self.item, dtype=np.int64),
            rollouts=np.arange(1, n + 1),
            weights=np.linspace(0.5, 1.5, n),
        )


def _rewards(indices: np.ndarray, step: int) -> np.ndarray:
    return ((indices[:, None] * 7 + step + np.arange(4)) % 5 < 2).astype(float)


def _play(cur: Curriculum, steps: int, n: int = 8) -> list[list[int]]:
    proposals = []
    for _ in range(steps):
        batch = cur.propose(n)
        proposals.append(batch.indices.tolist())
        cur.observe(Outcomes(batch.indices, _rewards(batch.indices, cur.step)))
    return proposals


# Proposals of the code before the safety net existed (commit 21e464d), same pool, seed and
# feedback as _play with n=8: the default Curriculum must reproduce them bit for bit.
BEFORE = {
    "dump": [
        [111, 190, 7, 12, 123, 155, 126, 33],
        [140, 179, 125, 68, 53, 128, 80, 152],
        [43, 1, 94, 199, 52, 133, 166, 148],
        [58, 2, 135, 78, 30, 102, 131, 144],
        [138, 49, 48, 26, 15, 6, 84, 106],
        [10, 101, 59, 193, 192, 117, 167, 121],
    ],
    "pcl": [
        [26, 44, 130, 106, 126, 1, 142, 188],
        [95, 175, 20, 149, 109, 184, 144, 13],
        [129, 119, 74, 93, 159, 38, 128, 29],
        [6, 89, 42, 27, 112, 104, 118, 10],
        [69, 54, 139, 101, 123, 147, 65, 170],
        [180, 63, 161, 194, 111, 2, 15, 189],
    ],
}


@pytest.mark.parametrize("name", sorted(BEFORE))
def test_off_when_set_to_0_and_bit_identical_to_the_strategy_alone(name):
    cur = Curriculum(make_pool(200, 0), name, seed=11, uniform_mix=0, cover_groups=0)
    assert not cur.safety.enabled
    assert _play(cur, 6) == BEFORE[name]
    # The bare strategy, driven as the Curriculum drove it before: same proposals, same rng.
    pool, rng = make_pool(200, 0), np.random.default_rng(11)
    stats = stepladder.ItemStats(pool.size)
    strategy = strategies.create(name)
    strategy.bind(pool, stats, rng)
    for step, expected in enumerate(BEFORE[name]):
        batch = strategy.propose(8)
        assert batch.indices.tolist() == expected
        outcomes = Outcomes(batch.indices, _rewards(batch.indices, step))
        stats.update(outcomes, step)
        strategy.observe(outcomes)
    assert rng.bit_generator.state == cur.rng.bit_generator.state
    assert not any(key.startswith("safety/") for key in cur.metrics())


def test_the_mixed_share_matches_uniform_mix_and_keeps_rollouts_and_weights():
    size, n, steps, mix = 100_000, 10, 3000, 0.33
    cur = Curriculum(size, Fixed(item=0), seed=0, uniform_mix=mix)
    replaced = np.zeros(n)
    shares = []
    for _ in range(steps):
        batch = cur.propose(n)
        changed = batch.indices != 0  # a uniform draw is item 0 with chance 1e-5
        replaced += changed
        shares.append(cur.metrics()["safety/mixed_share"])
        assert changed.sum() in (3, 4)  # 3.3 rounded stochastically
        assert batch.rollouts.tolist() == list(range(1, n + 1))
        np.testing.assert_array_equal(batch.weights, np.linspace(0.5, 1.5, n))
        assert len(set(batch.indices[changed].tolist())) == changed.sum()
    # Count per step is 3 + Bernoulli(0.3): the mean share's sd is sqrt(0.21 / 3000) / 10.
    share = replaced.sum() / (n * steps)
    assert abs(share - mix) < 4 * np.sqrt(0.21 / steps) / n
    assert np.mean(shares) == pytest.approx(share, abs=1e-4)  # the metric counts the same
    # Positions are chosen uniformly: each is replaced about 33% of the time (sd 0.86%).
    assert np.all(np.abs(replaced / steps - mix) < 0.04)


def test_uniform_draws_are_without_replacement_while_the_pool_allows():
    # 9 items, the strategy proposes item 8 sixteen times, half of each proposal is mixed:
    # 8 distinct draws from 9 items, so no item 0..7 can appear twice.
    cur = Curriculum(9, Fixed(item=8), seed=3, uniform_mix=0.5)
    counts = np.zeros(9)
    for _ in range(500):
        indices = cur.propose(16).indices
        assert np.bincount(indices, minlength=9)[:8].max() <= 1
        counts += np.bincount(indices, minlength=9)
    assert counts[:8].min() > 0.8 * 500 * 8 / 9  # each item drawn with chance 8/9 per step
    # More draws than items: all 4 items once, then with replacement.
    small = Curriculum(4, Fixed(item=0), seed=0, uniform_mix=0.9)
    batch = small.propose(10)  # 9 mixed draws
    assert set(batch.indices.tolist()) == {0, 1, 2, 3}


def _levels(size: int = 500, levels: int = 5) -> ItemPool:
    rng = np.random.default_rng(0)
    level = np.arange(size) % levels
    return ItemPool(size=size, groups=level, difficulty=level + 0.5 * rng.random(size))


def _groups_per_proposal(cur: Curriculum, steps: int, n: int) -> list[set[int]]:
    seen = []
    for _ in range(steps):
        batch = cur.propose(n)
        seen.append(set(cur.pool.groups[batch.indices].tolist()))
        cur.observe(Outcomes(batch.indices, _rewards(batch.indices, cur.step)))
        if cur.safety.cover_groups is not None:
            assert cur.metrics()["safety/max_absence"] <= cur.safety.cover_groups - 1
    return seen


@pytest.mark.parametrize("window", [1, 3, 7])
def test_coverage_holds_in_every_window_where_the_strategy_starves_a_group(window):
    alone = _groups_per_proposal(Curriculum(_levels(), "easy_to_hard", seed=0), 40, 8)
    assert not any(4 in groups for groups in alone)  # the hardest level is starved
    cur = Curriculum(_levels(), "easy_to_hard", seed=0, cover_groups=window)
    seen = _groups_per_proposal(cur, 60, 8)
    for start in range(len(seen) - window + 1):
        assert set().union(*seen[start : start + window]) == set(range(5)), start
    if window > 1:  # few draws: the strategy's own choice stays most of each proposal
        assert cur.metrics()["safety/groups_covered"] <= 4


def test_when_more_groups_are_due_than_items_the_longest_overdue_go_first():
    pool = ItemPool(size=12, groups=np.arange(12) % 6)  # group g: items g and g + 6
    cur = Curriculum(pool, Fixed(item=0), seed=0, cover_groups=1)
    seen = [sorted(set(pool.groups[cur.propose(2).indices].tolist())) for _ in range(4)]
    # All due at first, ties by group order; then whoever waited longest.
    assert seen == [[0, 1], [2, 3], [4, 5], [0, 1]]
    assert cur.metrics()["safety/groups_covered"] == 2.0
    assert cur.metrics()["safety/max_absence"] == 2.0  # groups 2..5 last seen 1 and 2 ago


def test_coverage_and_mix_together_and_empty_proposals():
    cur = Curriculum(_levels(), "easy_to_hard", seed=0, uniform_mix=0.25, cover_groups=2)
    assert cur.propose(0).indices.tolist() == []
    assert cur.safety.proposals == 0  # an empty proposal does not count
    seen = _groups_per_proposal(cur, 40, 8)
    assert all(a | b == set(range(5)) for a, b in itertools.pairwise(seen))
    assert set(cur.metrics()) >= {
        "safety/mixed_share",
        "safety/groups_covered",
        "safety/max_absence",
    }


def test_groups_without_items_are_never_due():
    labels = pa.DictionaryArray.from_arrays(pa.array([0, 0, 2, 2], pa.int32()), ["a", "b", "c"])
    cur = Curriculum(ItemPool(size=4, groups=labels), Fixed(item=0), seed=0, cover_groups=1)
    for _ in range(3):
        assert set(cur.pool.groups[cur.propose(2).indices].tolist()) == {0, 2}
    assert cur.metrics()["safety/max_absence"] == 0.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"uniform_mix": 1.0}, r"uniform_mix must lie in \[0, 1\), got 1.0"),
        ({"uniform_mix": -0.1}, r"uniform_mix must lie in \[0, 1\), got -0.1"),
        ({"uniform_mix": float("nan")}, r"uniform_mix must lie in \[0, 1\), got nan"),
        ({"uniform_mix": "0.1"}, r"uniform_mix must be a number, got '0.1'"),
        ({"uniform_mix": True}, r"uniform_mix must be a number"),
        ({"cover_groups": -1}, "cover_groups must be positive, got -1"),
        ({"cover_groups": 2.5}, "cover_groups must be an integer, got 2.5"),
        ({"cover_groups": True}, "cover_groups must be an integer"),
    ],
)
def test_bad_settings_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message) as error:
        Curriculum(make_pool(20), "dump", **kwargs)
    assert "\n" not in str(error.value)


def test_coverage_needs_groups():
    with pytest.raises(ValueError, match=r"cover_groups=3 needs a pool with groups") as error:
        Curriculum(20, "uniform", cover_groups=3)
    assert "\n" not in str(error.value)
    Curriculum(20, "uniform", uniform_mix=0.2)  # mixing needs none


def test_state_round_trips_exactly_through_a_file(tmp_path):
    settings = {"uniform_mix": 0.3, "cover_groups": 3}
    cur = Curriculum(_levels(), "easy_to_hard", seed=4, **settings)
    _play(cur, 5)
    stepladder.save_state(tmp_path / "s.npz", cur.state_dict())
    state = stepladder.load_state(tmp_path / "s.npz")
    assert state["safety"] == settings and state["safety_state"]["proposals"] == 5
    fresh = Curriculum(_levels(), "easy_to_hard", seed=0, **settings)
    fresh.load_state_dict(state)
    assert fresh.metrics() == cur.metrics()
    assert _play(fresh, 6) == _play(cur, 6)
    np.testing.assert_array_equal(fresh.safety.last_seen, cur.safety.last_seen)


def test_other_safety_settings_are_refused_unless_not_strict():
    state = Curriculum(_levels(), "dump", uniform_mix=0.1, cover_groups=4).state_dict()
    other = Curriculum(_levels(), "dump", uniform_mix=0.2, cover_groups=4)
    with pytest.raises(
        ValueError,
        match=r"state is for a safety net with uniform_mix=0.1, this curriculum has "
        r"uniform_mix=0.2 \(load_state_dict\(state, strict=False\)",
    ):
        other.load_state_dict(state)
    with pytest.raises(ValueError, match="cover_groups=4, this curriculum has cover_groups=None"):
        Curriculum(_levels(), "dump", uniform_mix=0.1, cover_groups=0).load_state_dict(state)
    other.load_state_dict(state, strict=False)  # a deliberate change: the settings stay
    assert other.safety.uniform_mix == 0.2


def test_coverage_turned_on_at_a_load_starts_every_window_there():
    plain = Curriculum(_levels(), "easy_to_hard", seed=0)
    _play(plain, 10)
    cur = Curriculum(_levels(), "easy_to_hard", seed=0, cover_groups=2)
    cur.load_state_dict(plain.state_dict(), strict=False)
    assert cur.safety.last_seen.tolist() == [-1] * 5 and cur.safety.proposals == 0
    seen = _groups_per_proposal(cur, 4, 8)
    assert 4 not in seen[0] and 4 in seen[1]  # due at the second proposal after the load


def test_a_bad_safety_state_changes_nothing():
    cur = Curriculum(_levels(), "dump", seed=0, cover_groups=2)
    _play(cur, 3)
    before = cur.state_dict()
    bad = {**before, "safety_state": {**before["safety_state"], "last_seen": np.zeros(3)}}
    with pytest.raises(ValueError, match=r"bad safety state .*expected 5 integers"):
        cur.load_state_dict(bad)
    bad = {**before, "rng": {"bit_generator": "PCG64", "state": "x"}}  # fails after safety
    later = Curriculum(_levels(), "dump", seed=0, cover_groups=2)
    _play(later, 6)
    with pytest.raises(ValueError, match="bad generator state"):
        later.load_state_dict(bad)
    assert later.safety.proposals == 6
    assert later.state_dict()["safety_state"]["proposals"] == 6


@pytest.mark.parametrize("name", strategies.available())
def test_every_strategy_learns_from_items_it_did_not_choose(name):
    def run() -> list[list[int]]:
        cur = Curriculum(make_pool(40), name, seed=2, uniform_mix=0.5, cover_groups=2)
        rng = np.random.default_rng(0)
        fields = ("rewards", *cur.strategy.feedback)
        proposals = []
        for _ in range(6):
            batch = cur.propose(5)
            proposals.append(batch.indices.tolist())
            cur.observe(make_feedback(batch, rng, fields))
            assert all(np.isfinite(v) for v in cur.metrics().values())
        state = cur.state_dict()
        twin = Curriculum(make_pool(40), name, seed=0, uniform_mix=0.5, cover_groups=2)
        twin.load_state_dict(state)
        assert twin.propose(5).indices.tolist() == cur.propose(5).indices.tolist()
        return proposals

    first = run()
    assert first == run()


def test_a_step_costs_o_batch_at_ten_million_items():
    """CPU time (time.process_time) of propose, median of 15, with and without the net."""
    size, n = 10**7, 1024
    codes = pa.array(np.arange(size, dtype=np.int32) % 8)
    pool = ItemPool(size=size, groups=pa.DictionaryArray.from_arrays(codes, list("abcdefgh")))
    plain = Curriculum(pool, "uniform", seed=0)
    net = Curriculum(pool, "uniform", seed=0, uniform_mix=0.25, cover_groups=2)

    def median_ms(cur: Curriculum) -> float:
        times = []
        for _ in range(15):
            started = time.process_time()
            cur.propose(n)
            times.append(time.process_time() - started)
        return float(np.median(times)) * 1e3

    median_ms(plain), median_ms(net)  # warm up
    extra = median_ms(net) - median_ms(plain)
    assert extra < 5.0, f"the safety net adds {extra:.2f} ms CPU per step at 10^7 items"


def test_safety_net_alone():
    net = SafetyNet(uniform_mix=0.0)
    assert not net.enabled and repr(net) == "SafetyNet(uniform_mix=0.0, cover_groups=None)"
    net.bind(ItemPool(size=3), np.random.default_rng(0))
    proposal = Proposal(np.array([1, 2]))
    assert net.apply(proposal) is proposal


def test_adapters_that_build_a_curriculum_pass_the_settings_through():
    pytest.importorskip("torch")
    from stepladder.integrations.torch import CurriculumSampler

    settings = {"uniform_mix": 0.25, "cover_groups": 2}
    sampler = CurriculumSampler(_levels(), "dump", batch_size=8, seed=0, **settings)
    assert sampler.curriculum.safety.get_params() == settings
    pytest.importorskip("ray")
    from stepladder.integrations.ray import CurriculumHost

    host = CurriculumHost(_levels(), "dump", seed=0, params=settings)
    assert host.curriculum.safety.get_params() == settings


NETTED = ("mopps", "cures", "pcl", "adarft", "cdas", "gain", "dump", "sec")


def test_the_prompt_selection_strategies_have_the_net_by_default():
    netted = [name for name in strategies.available() if strategies.get(name).default_safety_net]
    assert sorted(netted) == sorted(NETTED)
    for name in NETTED:
        cur = Curriculum(make_pool(200, 0), name, seed=0)
        assert cur.safety.get_params() == {"uniform_mix": 0.1, "cover_groups": 4}
        assert cur.state_dict()["safety"] == {"uniform_mix": 0.1, "cover_groups": 4}
    assert not Curriculum(_levels(), "uniform").safety.enabled
    assert not Curriculum(_levels(), "dynamic_sampling").safety.enabled


def test_default_coverage_needs_groups_and_each_setting_can_be_turned_off():
    ungrouped = ItemPool(size=50, features=np.ones((50, 2)))
    assert Curriculum(ungrouped, "pcl").safety.get_params() == {
        "uniform_mix": 0.1,
        "cover_groups": None,
    }
    assert Curriculum(make_pool(200, 0), "pcl", uniform_mix=0).safety.get_params() == {
        "uniform_mix": 0.0,
        "cover_groups": 4,
    }
    assert Curriculum(make_pool(200, 0), "pcl", cover_groups=0).safety.get_params() == {
        "uniform_mix": 0.1,
        "cover_groups": None,
    }
    assert not Curriculum(make_pool(200, 0), "pcl", uniform_mix=0, cover_groups=0).safety.enabled
    assert Curriculum(_levels(), "uniform", uniform_mix=0.2).safety.uniform_mix == 0.2


def test_the_default_net_draws_a_tenth_and_covers_every_level():
    cur = Curriculum(make_pool(200, 0), "pcl", seed=0)
    mixed = []
    for _ in range(400):
        cur.propose(20)
        mixed.append(cur.metrics()["safety/mixed_share"])
        assert cur.metrics()["safety/max_absence"] < 4
    assert abs(np.mean(mixed) - 0.1) < 0.01  # stochastic rounding: exactly 0.1 in expectation


def test_a_default_net_is_recovered_from_the_journal(tmp_path):
    cur = Curriculum(_levels(), "dump", seed=0, journal=tmp_path / "run.journal")
    twin = Curriculum(_levels(), "dump", seed=0)
    assert _play(cur, 3) == _play(twin, 3)
    cur.close()
    recovered = stepladder.recover(tmp_path / "run.journal", _levels())
    assert recovered.safety.get_params() == {"uniform_mix": 0.1, "cover_groups": 4}
    assert _play(recovered, 2) == _play(twin, 2)
    recovered.close()
    off = Curriculum(_levels(), "dump", seed=0, uniform_mix=0, cover_groups=0,
                     journal=tmp_path / "off.journal")  # fmt: skip
    _play(off, 2)
    off.close()
    assert not stepladder.recover(tmp_path / "off.journal", _levels()).safety.enabled
