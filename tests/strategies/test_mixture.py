"""Mixture: source shares (ratios, schedules, bandits) with an item strategy inside each source."""

from __future__ import annotations

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes, load_state, save_state
from stepladder.strategies import create

LABELS = ["math"] * 12 + ["code"] * 6 + ["chat"] * 2


def pool(difficulty: bool = False) -> ItemPool:
    rng = np.random.default_rng(0)
    return ItemPool(
        size=len(LABELS),
        groups=LABELS,
        difficulty=rng.normal(size=len(LABELS)) if difficulty else None,
    )


def sources(cur: Curriculum, indices: np.ndarray) -> list[str]:
    return [cur.pool.group_names[g] for g in cur.pool.groups[indices]]


def test_fixed_ratios_give_exact_long_run_counts_and_uniform_passes_inside():
    cur = Curriculum(pool(), "mixture", ratios={"math": 2, "code": 1, "chat": 1}, seed=0)
    drawn = np.concatenate([cur.propose(3).indices for _ in range(40)])  # 120 items
    names = sources(cur, drawn)
    assert {n: names.count(n) for n in ("math", "code", "chat")} == {
        "math": 60, "code": 30, "chat": 30
    }  # fmt: skip
    # Inside a source, uniform visits every member once per pass: the first 12 math items
    # are the 12 math members.
    math = drawn[[n == "math" for n in names]]
    assert sorted(math[:12].tolist()) == list(range(12))
    # Batches of one alternate instead of always taking the largest share.
    single = Curriculum(pool(), "mixture", ratios={"math": 1, "code": 1}, seed=0)
    assert [sources(single, single.propose(1).indices)[0] for _ in range(4)] == [
        "math", "code", "math", "code"
    ]  # fmt: skip


def test_default_is_an_equal_share_per_source():
    cur = Curriculum(pool(), "mixture", seed=0)
    assert cur.strategy.shares().round(4).tolist() == [0.3333] * 3
    names = sources(cur, cur.propose(30).indices)
    assert names.count("math") == names.count("code") == names.count("chat") == 10
    assert cur.metrics()["mixture/share/chat"] == pytest.approx(1 / 3)


def test_schedule_interpolates_between_breakpoints():
    schedule = [(2, {"math": 1}), (6, {"math": 1, "code": 1}), (10, {"chat": 1})]
    cur = Curriculum(pool(), "mixture", schedule=schedule, seed=0)
    seen = []
    for _ in range(12):
        seen.append(cur.strategy.shares().round(3).tolist())
        cur.observe(Outcomes([0], rewards=[1.0]))
    # group code order: math, code, chat
    assert seen[0] == seen[2] == [1.0, 0.0, 0.0]
    assert seen[4] == [0.75, 0.25, 0.0]
    assert seen[6] == [0.5, 0.5, 0.0]
    assert seen[8] == [0.25, 0.25, 0.5]
    assert seen[10] == seen[11] == [0.0, 0.0, 1.0]
    assert set(sources(cur, cur.propose(5).indices)) == {"chat"}


def test_bandit_allocator_sets_the_shares_and_learns_from_feedback():
    cur = Curriculum(pool(), "mixture", allocator="sec", allocator_params={"tau": 0.1}, seed=0)
    sec = cur.strategy._allocator
    assert np.allclose(cur.strategy.shares(), sec.arm_probabilities())
    for _ in range(5):
        batch = cur.propose(6)
        names = sources(cur, batch.indices)
        rewards = [[1, 0, 1, 0] if n == "code" else [1, 1, 1, 1] for n in names]
        cur.observe(Outcomes(batch.indices, rewards))
    shares = dict(zip(cur.pool.group_names, cur.strategy.shares(), strict=True))
    assert shares["code"] > 0.99  # only code carries advantage
    assert set(sources(cur, cur.propose(6).indices)) == {"code"}
    assert "mixture/allocator/q_max" in cur.metrics()
    with pytest.raises(ValueError, match="learns from rewards"):
        cur.observe(Outcomes(batch.indices, losses=np.ones(6)))


def test_inner_strategy_runs_on_each_sources_sub_pool():
    cur = Curriculum(pool(difficulty=True), "mixture", inner="easy_to_hard", seed=0,
                     ratios={"math": 1, "code": 1})  # fmt: skip
    batch = cur.propose(8).indices
    names = sources(cur, batch)
    difficulty = cur.pool.difficulty
    for name in ("math", "code"):
        members = np.flatnonzero(np.array(LABELS) == name)
        easiest = members[np.argsort(difficulty[members], kind="stable")][:4]
        assert batch[[n == name for n in names]].tolist() == easiest.tolist()
    # Each source's statistics are the curriculum's restricted to it.
    cur.observe(Outcomes(batch, rewards=np.tile([1.0, 0.0, 1.0], (8, 1))))
    for group, members in enumerate(cur.strategy._sources.members):
        inner = cur.strategy._sources.strategies[group]
        assert inner.stats.attempts.tolist() == cur.stats.attempts[members].tolist()
        assert inner.stats.successes.tolist() == cur.stats.successes[members].tolist()


def test_filtering_inner_strategy_filters_each_source():
    cur = Curriculum(pool(), "mixture", inner="dynamic_sampling", seed=0)
    assert cur.strategy.filters and cur.strategy.feedback == ("rewards",)
    out = Outcomes([0, 12, 18, 1], rewards=[[1, 0], [1, 1], [0, 1], [0, 0]])
    cur.observe(out)
    assert cur.keep(out).tolist() == [True, False, True, False]
    plain = Curriculum(pool(), "mixture", seed=0)
    assert not plain.strategy.filters and plain.keep(out).tolist() == [True] * 4


def test_resume_is_exact_with_an_allocator_and_a_learning_inner_strategy(tmp_path):
    def make(seed: int) -> Curriculum:
        return Curriculum(pool(), "mixture", allocator="dump", inner="mopps", seed=seed)

    rng = np.random.default_rng(4)
    original = make(0)
    for _ in range(6):
        batch = original.propose(5)
        original.observe(Outcomes(batch.indices, (rng.random((5, 4)) < 0.4).astype(float)))
    save_state(tmp_path / "s.npz", original.state_dict())
    resumed = make(99)
    resumed.load_state_dict(load_state(tmp_path / "s.npz"))
    for _ in range(6):
        a, b = original.propose(5), resumed.propose(5)
        assert a.indices.tolist() == b.indices.tolist()
        rewards = (rng.random((5, 4)) < 0.4).astype(float)
        original.observe(Outcomes(a.indices, rewards))
        resumed.observe(Outcomes(b.indices, rewards))


def test_corrupt_state_is_rejected_before_anything_changes():
    cur = Curriculum(pool(), "mixture", inner="mopps", seed=0)
    cur.observe(Outcomes(cur.propose(4).indices, rewards=np.ones((4, 2))))
    state = cur.strategy.state_dict()
    before = [id(s) for s in cur.strategy._sources.strategies]
    broken = {**state, "_sources": {"__state__": {"0": state["_sources"]["__state__"]["0"]}}}
    with pytest.raises(ValueError, match="groups"):
        cur.strategy.load_state_dict(broken)
    assert [id(s) for s in cur.strategy._sources.strategies] == before


def test_checkpoints_stay_small_on_a_large_pool():
    size = 10**6
    big = ItemPool(size=size, groups=np.arange(size) % 4)
    cur = Curriculum(big, "mixture", seed=0, inner="mopps")
    for _ in range(3):
        batch = cur.propose(64)
        cur.observe(Outcomes(batch.indices, rewards=np.ones((64, 4))))
    state = cur.strategy.state_dict()

    def nbytes(value) -> int:
        if isinstance(value, dict):
            return sum(nbytes(v) for v in value.values())
        if isinstance(value, list | tuple):
            return sum(nbytes(v) for v in value)
        return value.nbytes if isinstance(value, np.ndarray) else 8

    assert nbytes(state) < 20_000  # 192 touched items over 4 sources, not 10^6


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"ratios": {"math": 1}, "allocator": "sec"}, "at most one"),
        ({"ratios": {"math": -1}}, "ratios"),
        ({"ratios": {}}, "non-empty"),
        ({"schedule": [(5, {"math": 1}), (5, {"code": 1})]}, "increase"),
        ({"schedule": [(0, {"math": 1}, 3)]}, "breakpoints"),
        ({"allocator": "uniform"}, "arm_probabilities"),
        ({"allocator_params": {"tau": 1.0}}, "without an allocator"),
        ({"inner": "no_such_strategy"}, "unknown strategy"),
    ],
)
def test_bad_parameters_fail_clearly(params, message):
    with pytest.raises(ValueError, match=message):
        create("mixture", **params)


def test_groups_the_pool_lacks_fail_at_bind():
    with pytest.raises(ValueError, match="'physics', not a group"):
        Curriculum(pool(), "mixture", ratios={"physics": 1})
    with pytest.raises(ValueError, match="no group labels"):
        Curriculum(ItemPool(size=5), "mixture", ratios={0: 1})
    with pytest.raises(ValueError, match="step 4 must give some group a positive weight"):
        Curriculum(pool(), "mixture", schedule=[(0, {"math": 1}), (4, {"math": 0, "chat": 0})])
