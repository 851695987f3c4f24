import numpy as np
from scipy.special import expit

from stepladder.sim import ItemBank, Learner


def bank(n=2, **overrides):
    fields = {
        "difficulty": np.zeros(n),
        "discrimination": np.ones(n),
        "skill": np.zeros(n, np.int64),
        "guessing": np.zeros(n),
        "learnable": np.ones(n, bool),
    }
    fields.update(overrides)
    return ItemBank(**fields)


def test_answer_probability_follows_the_irt_formula():
    items = bank(
        difficulty=np.array([0.5, 1.0]),
        discrimination=np.array([2.0, 1.0]),
        guessing=np.array([0.25, 0.0]),
    )
    learner = Learner(1, ability=1.0, learning_rate=0.1)
    expected = [0.25 + 0.75 * expit(2.0 * 0.5), expit(0.0)]
    np.testing.assert_allclose(learner.p_correct(items, np.array([0, 1])), expected)


def test_unlearnable_items_answer_at_their_floor_and_teach_nothing():
    items = bank(guessing=np.array([0.3, 0.0]), learnable=np.array([False, False]))
    learner = Learner(1, ability=5.0, learning_rate=1.0)
    np.testing.assert_allclose(learner.p_correct(items, np.array([0, 1])), [0.3, 0.0])
    learner.train_rl(items, np.array([0, 1]), np.array([[1.0, 0.0], [1.0, 0.0]]))
    assert learner.ability_of(0) == 5.0


def test_grpo_update_is_sqrt_of_group_variance_and_zero_for_uniform_groups():
    items = bank(n=3, discrimination=np.array([1.0, 2.0, 1.0]))
    learner = Learner(1, ability=0.0, learning_rate=0.3, batch_size=3)
    rewards = np.array([[1, 1, 0, 0], [1, 0, 0, 0], [1, 1, 1, 1]], dtype=float)
    learner.train_rl(items, np.arange(3), rewards)
    expected = 0.3 * (np.sqrt(0.25) + 2.0 * np.sqrt(0.25 * 0.75) + 0.0) / 3
    assert np.isclose(learner.ability_of(0), expected)


def test_ragged_groups_use_only_present_rollouts():
    learner = Learner(1, ability=0.0, learning_rate=1.0, batch_size=1)
    learner.train_rl(bank(n=1), np.array([0]), np.array([[1.0, 0.0, np.nan, np.nan]]))
    assert np.isclose(learner.ability_of(0), 0.5)


def test_sft_update_follows_cross_entropy_and_noisy_labels_hurt():
    learner = Learner(1, ability=0.0, learning_rate=1.0, batch_size=1)
    learner.train_sft(bank(n=1), np.array([0]), np.array([True]))
    assert np.isclose(learner.ability_of(0), 0.5)  # (1 - p) with p = 0.5
    learner.train_sft(bank(n=1), np.array([0]), np.array([False]))
    assert np.isclose(learner.ability_of(0), 0.5 - expit(0.5))  # -p


def test_transfer_splits_updates_between_global_and_skill():
    items = bank(n=2, skill=np.array([0, 1]))
    learner = Learner(2, ability=0.0, learning_rate=1.0, transfer=0.25, batch_size=1)
    learner.train_sft(items, np.array([0]), np.array([True]))
    assert np.isclose(learner.ability_of(0), 0.5)
    assert np.isclose(learner.ability_of(1), 0.125)


def test_decay_pulls_skill_offsets_back():
    items = bank(n=2, skill=np.array([0, 1]))
    learner = Learner(2, ability=0.0, learning_rate=1.0, transfer=0.0, decay=0.5, batch_size=1)
    learner.train_sft(items, np.array([0]), np.array([True]))
    assert np.isclose(learner.ability_of(0), 0.25)
    learner.train_sft(items, np.array([1]), np.array([True]))
    assert np.isclose(learner.ability_of(0), 0.125)


def test_drift_moves_difficulty_with_progress():
    items = bank(n=2, drift=np.array([1.0, -1.0]))
    learner = Learner(1, ability=0.0, learning_rate=1.0, batch_size=1)
    before = learner.p_correct(items, np.arange(2))
    learner.global_ability = 1.0
    after = learner.p_correct(items, np.arange(2))
    np.testing.assert_allclose(before, [0.5, 0.5])
    np.testing.assert_allclose(after, [0.5, expit(2.0)])


def test_loss_weights_scale_each_items_update():
    rewards = np.array([[1.0, 0.0], [1.0, 0.0]])
    learner = Learner(1, ability=0.0, learning_rate=1.0, batch_size=2)
    learner.train_rl(bank(), np.array([0, 1]), rewards, weights=np.array([1.0, 0.0]))
    assert learner.ability_of(0) == 0.5 * 0.5  # sqrt(.25) x weight 1 / batch 2; item 1 zero
    sft = Learner(1, ability=0.0, learning_rate=1.0, batch_size=2)
    sft.train_sft(bank(), np.array([0, 1]), np.array([True, True]), weights=np.array([2.0, 0.5]))
    assert sft.ability_of(0) == (2.0 * 0.5 + 0.5 * 0.5) / 2  # (1 - p) = 0.5 at ability 0


def test_interference_erodes_the_skills_not_trained():
    items = bank(n=2, skill=np.array([0, 1]))
    learner = Learner(2, ability=0.0, learning_rate=1.0, transfer=0.2, interference=0.5)
    learner.train_sft(items, np.array([0]), np.array([True]))  # step 0.5
    assert np.isclose(learner.ability_of(0), 0.5)  # 0.2 * 0.5 global + 0.8 * 0.5 own
    assert np.isclose(learner.ability_of(1), 0.1 - 0.5 * 0.4)  # transfer minus interference


def test_memorisation_generalises_less_with_every_use_of_an_item():
    items = bank(n=2)
    learner = Learner(1, ability=0.0, learning_rate=1.0, memorisation=0.25)
    mixed = np.array([[1.0, 0.0]])  # gradient sqrt(0.5 * 0.5) = 0.5 each time
    gains = []
    for _ in range(3):
        before = learner.ability_of(0)
        learner.train_rl(items, np.array([0]), mixed)
        gains.append(learner.ability_of(0) - before)
    np.testing.assert_allclose(gains, [0.5, 0.375, 0.28125])  # 0.5 * 0.75 ** n
    memorised = 1.5 - sum(gains)
    logits = learner.logits(items, np.array([0, 1]))
    np.testing.assert_allclose(logits, [sum(gains) + memorised, sum(gains)])
    # A different bank (held-out items) sees only what generalised.
    assert learner.logits(bank(n=2), np.array([0]))[0] == sum(gains)


def test_memorisation_counts_uses_per_item():
    learner = Learner(1, ability=0.0, learning_rate=1.0, memorisation=0.5)
    items = bank(n=2)
    learner.train_rl(items, np.array([0]), np.array([[1.0, 0.0]]))
    learner.train_rl(items, np.array([1]), np.array([[1.0, 0.0]]))  # a fresh item: all of it
    assert learner.ability_of(0) == 1.0


def test_learner_rejects_bad_mechanism_settings():
    import pytest

    with pytest.raises(ValueError, match="memorisation must be in"):
        Learner(1, ability=0.0, learning_rate=1.0, memorisation=1.0)
    with pytest.raises(ValueError, match="interference must be >= 0"):
        Learner(1, ability=0.0, learning_rate=1.0, interference=-0.1)
