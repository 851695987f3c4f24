import numpy as np
import pytest

from stepladder import Proposal
from stepladder.sim import SCENARIOS, get_scenario, scenario_names
from stepladder.sim.scenarios import calibration, sample_real_difficulties


def test_calibration_comes_from_the_real_matrix():
    cal = calibration()
    assert cal["n_items"] == 2854 and cal["n_models"] == 22
    quantiles = np.asarray(cal["difficulty_quantiles"])
    assert np.all(np.diff(quantiles) >= 0)
    draws = sample_real_difficulties(np.random.default_rng(0), 50_000)
    assert abs(np.median(draws) - quantiles[50]) < 0.15


@pytest.mark.parametrize("name", scenario_names())
def test_worlds_are_reproducible_and_learnable(name):
    scenario = get_scenario(name)
    a, b = scenario.make_world(7), scenario.make_world(7)
    np.testing.assert_array_equal(a.pool.difficulty, b.pool.difficulty)
    assert a.accuracy() == b.accuracy() < scenario.target
    proposal = Proposal(np.arange(scenario.batch_size, dtype=np.int64))
    out_a, out_b = a.step(proposal), b.step(proposal)
    np.testing.assert_array_equal(out_a.rewards, out_b.rewards)
    assert a.pool.n_groups >= 2


def test_rl_world_honours_per_item_rollouts():
    world = get_scenario("grpo-math").make_world(0)
    out = world.step(Proposal(np.array([0, 1, 2]), rollouts=np.array([2, 5, 1])))
    assert out.rollouts.tolist() == [2, 5, 1]


def test_sft_world_reports_losses_of_the_given_labels():
    world = get_scenario("sft").make_world(0)
    out = world.step(Proposal(np.arange(200, dtype=np.int64)))
    assert out.losses.shape == (200,) and (out.losses > 0).all()
    noisy = world.label_noise[:200]
    assert out.losses[noisy].mean() != out.losses[~noisy].mean()


def test_multi_source_has_a_mostly_unlearnable_source():
    world = get_scenario("multi-source").make_world(0)
    groups = np.asarray(world.pool.group_names)[world.pool.groups]
    learnable = world.train_items.learnable
    assert learnable[groups == "scraped"].mean() < 0.2
    assert learnable[groups == "arithmetic"].mean() == 1.0


def test_unknown_scenario():
    with pytest.raises(ValueError, match="unknown scenario 'nope'; available: grpo-math"):
        get_scenario("nope")


def test_scenarios_have_descriptions():
    assert all(len(s.description) > 40 for s in SCENARIOS.values())


def test_worlds_apply_loss_weights():
    plain, weighted = (get_scenario("sft").make_world(0) for _ in range(2))
    items = np.arange(64, dtype=np.int64)
    plain.step(Proposal(items))
    weighted.step(Proposal(items, weights=np.zeros(64)))
    assert weighted.learner.progress == 0.0 and plain.learner.progress != 0.0


def test_sft_world_refuses_rollout_counts_it_would_ignore():
    world = get_scenario("sft").make_world(0)
    with pytest.raises(ValueError, match="would ignore the proposal's rollout counts"):
        world.step(Proposal(np.arange(4, dtype=np.int64), rollouts=np.full(4, 8)))


@pytest.mark.parametrize(("name", "forgets"), [("grpo-math", True), ("grpo-math-v1", False)])
def test_grpo_math_forgets_a_level_it_does_not_practise(name, forgets):
    level = get_scenario("grpo-math").make_world(0).heldout.skill  # same items in both
    practised = np.flatnonzero(get_scenario("grpo-math").make_world(0).train_items.skill == 2)
    world = get_scenario(name).make_world(0)
    easiest = np.flatnonzero(level == 0)
    start = float(world.learner.p_correct(world.heldout, easiest).mean())
    for step in range(40):
        world.step(Proposal(practised[64 * step : 64 * (step + 1)]))
    end = float(world.learner.p_correct(world.heldout, easiest).mean())
    assert (end < start) == forgets and end != start


def test_grpo_math_replay_teaches_less_than_fresh_prompts():
    replay, fresh = (get_scenario("grpo-math").make_world(0) for _ in range(2))
    start = replay.accuracy()
    for step in range(20):
        replay.step(Proposal(np.arange(64, dtype=np.int64)))
        fresh.step(Proposal(np.arange(64 * step, 64 * (step + 1), dtype=np.int64)))
    assert start < replay.accuracy() < fresh.accuracy()
