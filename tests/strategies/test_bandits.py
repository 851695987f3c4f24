import math

import numpy as np
import pyarrow as pa
import pytest

from stepladder import Curriculum, ItemPool, Outcomes, load_state, save_state

# The methods as published; the default safety net is tested in tests/test_safety.py.
pytestmark = pytest.mark.usefixtures("without_default_net")

TWO_ARMS = ["a", "a", "a", "a", "b", "b", "b", "b"]


def two_arm_pool() -> ItemPool:
    return ItemPool(size=8, groups=TWO_ARMS)


def softmax(scores, temperature):
    weights = np.exp(np.asarray(scores) / temperature)
    return weights / weights.sum()


# ---------------------------------------------------------------- DUMP


def test_dump_ucb_and_softmax_hand_computed_two_arms():
    cur = Curriculum(two_arm_pool(), "dump", seed=0)
    # Arm a: |A| = 1, 1 (two responses); arm b: |A| = 0.5, 0.5, 0.5 (three responses).
    cur.observe(
        Outcomes.from_groups(
            [0, 4], [[1, 0], [1, 1, 0]], advantages=[[1.0, -1.0], [0.5, 0.5, -0.5]]
        )
    )
    dump = cur.strategy
    total = 5  # N = n_a + n_b, responses
    ucb_a = 1.0 + math.sqrt(2 * math.log(total + 1) / (2 + 1))
    ucb_b = 0.5 + math.sqrt(2 * math.log(total + 1) / (3 + 1))
    np.testing.assert_allclose(dump.window_means(), [1.0, 0.5])
    np.testing.assert_allclose(dump.ucb_scores(), [ucb_a, ucb_b])
    p_a = 1.0 / (1.0 + math.exp(-(ucb_a - ucb_b) / 0.1))
    np.testing.assert_allclose(dump.arm_probabilities(), [p_a, 1.0 - p_a])
    assert cur.metrics()["dump/responses"] == 5.0


def test_dump_before_feedback_is_uniform_over_arms():
    dump = Curriculum(two_arm_pool(), "dump", seed=0).strategy
    np.testing.assert_allclose(dump.ucb_scores(), [0.0, 0.0])  # ln(1) = 0, empty windows
    np.testing.assert_allclose(dump.arm_probabilities(), [0.5, 0.5])


def test_dump_unseen_arm_has_window_mean_zero_and_full_bonus():
    cur = Curriculum(two_arm_pool(), "dump", seed=0, c=2.0)
    cur.observe(Outcomes([0, 1], rewards=[[1.0, 0.0], [0.0, 1.0]], advantages=[[0.2] * 2] * 2))
    scores = cur.strategy.ucb_scores()
    assert scores[1] == pytest.approx(2.0 * math.sqrt(2 * math.log(5) / 1))
    assert scores[0] == pytest.approx(0.2 + 2.0 * math.sqrt(2 * math.log(5) / 5))


def test_dump_window_keeps_the_last_values_and_counts_all():
    cur = Curriculum(two_arm_pool(), "dump", seed=0, window=3)
    dump = cur.strategy
    cur.observe(Outcomes([0], rewards=[[1, 0]], advantages=[[1.0, 2.0]]))
    assert dump.window_means()[0] == pytest.approx(1.5)
    cur.observe(Outcomes([1], rewards=[[1, 0]], advantages=[[3.0, 4.0]]))  # wraps: 2, 3, 4
    assert dump.window_means()[0] == pytest.approx(3.0)
    cur.observe(Outcomes([2], rewards=[[1, 0, 1, 1, 0]], advantages=[[5.0, 6, 7, 8, 9]]))
    assert dump.window_means()[0] == pytest.approx(8.0)  # 7, 8, 9
    assert dump.state_dict()["_counts"].tolist() == [9, 0]


def test_dump_counts_scalar_rewards_as_one_response_with_zero_advantage():
    cur = Curriculum(two_arm_pool(), "dump", seed=0)
    cur.observe(Outcomes([0, 5], rewards=[1.0, 0.0]))
    assert cur.strategy.state_dict()["_counts"].tolist() == [1, 1]
    np.testing.assert_allclose(cur.strategy.window_means(), [0.0, 0.0])


def test_dump_rejects_batches_without_rewards_and_ignores_empty_ones():
    cur = Curriculum(two_arm_pool(), "dump", seed=0)
    before = cur.strategy.state_dict()
    with pytest.raises(ValueError, match="'dump' learns from rewards"):
        cur.observe(Outcomes([0, 4], losses=[1.0, 2.0]))
    cur.observe(Outcomes.empty())
    after = cur.strategy.state_dict()
    np.testing.assert_array_equal(before["_counts"], after["_counts"])
    for key in ("values", "filled", "head"):
        window_before, window_after = (
            before["_windows"]["__state__"],
            after["_windows"]["__state__"],
        )
        np.testing.assert_array_equal(window_before[key], window_after[key])


def test_dump_shifts_probability_toward_the_arm_with_larger_advantages():
    cur = Curriculum(ItemPool(size=200, groups=["a"] * 100 + ["b"] * 100), "dump", seed=1)
    rng = np.random.default_rng(0)
    for _ in range(20):
        batch = cur.propose(16).indices
        arm_b = batch >= 100
        # Arm b's prompts get mixed rewards (|A| ~ 1), arm a's are always solved (|A| = 0).
        rewards = np.where(arm_b[:, None], rng.random((16, 8)) < 0.5, 1.0).astype(float)
        rewards[arm_b, 0], rewards[arm_b, 1] = 1.0, 0.0
        cur.observe(Outcomes(batch, rewards))
    probabilities = cur.strategy.arm_probabilities()
    assert probabilities[1] > 0.99
    assert np.mean(cur.propose(100).indices >= 100) > 0.9


def test_dump_draws_items_within_an_arm_without_repeats_per_pass():
    cur = Curriculum(ItemPool(size=10, groups=["a"] * 5 + ["b"] * 5), "dump", seed=0)
    drawn = np.concatenate([cur.propose(2).indices for _ in range(20)])
    for arm in (drawn[drawn < 5], drawn[drawn >= 5]):
        first = arm[: 5 * (len(arm) // 5)]
        for start in range(0, len(first), 5):
            assert len(set(first[start : start + 5].tolist())) == 5


def test_dump_without_groups_is_one_arm():
    cur = Curriculum(12, "dump", seed=0)
    np.testing.assert_allclose(cur.strategy.arm_probabilities(), [1.0])
    assert sorted(cur.propose(12).indices.tolist()) == list(range(12))


def test_dump_gives_empty_arms_zero_probability():
    groups = pa.DictionaryArray.from_arrays(
        pa.array([0, 0, 2, 2], pa.int32()), pa.array(["a", "unused", "c"])
    )
    cur = Curriculum(ItemPool(size=4, groups=groups), "dump", seed=0)
    probabilities = cur.strategy.arm_probabilities()
    assert probabilities[1] == 0.0 and probabilities.sum() == pytest.approx(1.0)
    assert set(cur.propose(50).indices.tolist()) <= {0, 1, 2, 3}
    assert cur.metrics()["dump/prob_min"] == pytest.approx(0.5)


def test_dump_state_holds_windows_as_arrays_and_resumes(tmp_path):
    cur = Curriculum(two_arm_pool(), "dump", seed=0, window=4)
    cur.observe(Outcomes([0, 5], rewards=[[1, 0, 1], [0, 0, 1]]))
    state = cur.strategy.state_dict()
    windows = state["_windows"]["__state__"]["values"]
    assert isinstance(windows, np.ndarray) and windows.shape == (2, 4)
    save_state(tmp_path / "s.npz", cur.state_dict())
    fresh = Curriculum(two_arm_pool(), "dump", seed=9, window=4)
    fresh.load_state_dict(load_state(tmp_path / "s.npz"))
    np.testing.assert_array_equal(fresh.strategy.ucb_scores(), cur.strategy.ucb_scores())
    assert fresh.propose(6).indices.tolist() == cur.propose(6).indices.tolist()


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"window": 0}, "window"),
        ({"window": 2.5}, "window"),
        ({"c": -1.0}, "c"),
        ({"c": float("nan")}, "c"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": "hot"}, "temperature"),
    ],
)
def test_dump_rejects_bad_parameters(params, name):
    with pytest.raises(ValueError, match=f"^{name} must"):
        Curriculum(4, "dump", **params)


# ---------------------------------------------------------------- SEC


def test_sec_q_update_without_decay_hand_computed():
    cur = Curriculum(two_arm_pool(), "sec", seed=0)
    sec = cur.strategy
    cur.observe(Outcomes([0], rewards=[[1, 0]], advantages=[[1.0, -1.0]]))  # r_a = 1
    np.testing.assert_allclose(sec.q_values(), [0.5, 0.0])  # 0.5 * 1 + 0.5 * 0
    cur.observe(Outcomes([4], rewards=[[1, 0]], advantages=[[0.8, -0.8]]))  # r_b = 0.8
    np.testing.assert_allclose(sec.q_values(), [0.5, 0.4])  # arm a untouched
    np.testing.assert_allclose(sec.arm_probabilities(), softmax([0.5, 0.4], 1.0))


def test_sec_q_update_with_decay_of_unsampled_arms():
    cur = Curriculum(two_arm_pool(), "sec", seed=0, decay_unsampled=True, alpha=0.25)
    sec = cur.strategy
    cur.observe(Outcomes([0], rewards=[[1, 0]], advantages=[[1.0, -1.0]]))
    np.testing.assert_allclose(sec.q_values(), [0.25, 0.0])  # 0.25 * 1
    cur.observe(Outcomes([4], rewards=[[1, 0]], advantages=[[0.8, -0.8]]))
    # a decays: 0.75 * 0.25; b: 0.25 * 0.8 + 0.75 * 0
    np.testing.assert_allclose(sec.q_values(), [0.1875, 0.2])


def test_sec_reward_is_mean_abs_advantage_over_the_arms_responses():
    cur = Curriculum(two_arm_pool(), "sec", seed=0, tau=0.5)
    cur.observe(
        Outcomes.from_groups(
            [0, 1], [[1, 0], [1, 0, 1, 0]], advantages=[[1.0, -1.0], [0.5, -0.5, 0.5, -0.5]]
        )
    )
    r_a = (1 + 1 + 0.5 * 4) / 6
    np.testing.assert_allclose(cur.strategy.q_values(), [0.5 * r_a, 0.0])
    np.testing.assert_allclose(cur.strategy.arm_probabilities(), softmax([0.5 * r_a, 0.0], 0.5))


def test_sec_uses_grpo_advantages_when_none_are_given():
    cur = Curriculum(two_arm_pool(), "sec", seed=0)
    cur.observe(Outcomes([0, 4], rewards=[[1, 0], [1, 1]]))  # |A| ~ 1 and 0
    np.testing.assert_allclose(cur.strategy.q_values(), [0.5, 0.0], atol=1e-5)


def test_sec_empty_or_rewardless_batches_change_nothing_even_with_decay():
    cur = Curriculum(two_arm_pool(), "sec", seed=0, decay_unsampled=True)
    cur.observe(Outcomes([0], rewards=[[1, 0]], advantages=[[1.0, -1.0]]))
    cur.observe(Outcomes.empty())
    with pytest.raises(ValueError, match="'sec' learns from rewards"):
        cur.observe(Outcomes([4], losses=[0.3]))
    np.testing.assert_allclose(cur.strategy.q_values(), [0.5, 0.0])


def test_sec_shifts_probability_toward_the_arm_with_larger_advantages():
    cur = Curriculum(ItemPool(size=200, groups=["a"] * 100 + ["b"] * 100), "sec", seed=0, tau=0.2)
    for _ in range(15):
        batch = cur.propose(16).indices
        arm_b = batch >= 100
        rewards = np.ones((16, 4))
        rewards[arm_b, :2] = 0.0  # arm b: half right (|A| = 1); arm a: all right (|A| = 0)
        cur.observe(Outcomes(batch, rewards))
    q = cur.strategy.q_values()
    assert q[1] > 0.9 and q[0] == 0.0
    assert cur.strategy.arm_probabilities()[1] > 0.98
    assert cur.metrics()["sec/prob_max"] > 0.98


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"tau": -1.0}, "tau"),
        ({"tau": float("inf")}, "tau"),
        ({"decay_unsampled": "yes"}, "decay_unsampled"),
    ],
)
def test_sec_rejects_bad_parameters(params, name):
    with pytest.raises(ValueError, match=f"^{name} must"):
        Curriculum(4, "sec", **params)
