import numpy as np
import pytest

from stepladder.sim import compare, get_scenario, run


def test_run_is_deterministic_and_metrics_are_consistent():
    a = run("grpo-math", "uniform", seed=3, steps=40)
    b = run("grpo-math", "uniform", seed=3, steps=40)
    assert a.accuracy == b.accuracy and a.rollouts == b.rollouts
    assert a.rollouts_used == 40 * 64 * 8 == a.rollouts[-1]
    assert 0.0 <= a.effective_ratio <= 1.0
    assert a.eval_steps[-1] == 40 and a.final_accuracy == a.accuracy[-1]


def test_steps_to_target_matches_the_curve():
    result = run("grpo-math", "easy_to_hard", seed=0)
    target = get_scenario("grpo-math").target
    if result.steps_to_target is None:
        assert max(result.accuracy) < target
    else:
        first = next(
            s for s, acc in zip(result.eval_steps, result.accuracy, strict=True) if acc >= target
        )
        assert result.steps_to_target == first


def test_strategies_face_the_same_world():
    a = run("multi-source", "uniform", seed=1, steps=5)
    b = run("multi-source", "hard_to_easy", seed=1, steps=5)
    assert a.accuracy[0] == b.accuracy[0]


def test_sft_has_no_effective_ratio():
    assert run("sft", "uniform", steps=5).effective_ratio is None


def test_training_improves_the_learner():
    result = run("grpo-math", "uniform", seed=0)
    assert result.final_accuracy > result.accuracy[0] + 0.1


def test_compare_builds_the_results_document():
    results = compare("grpo-math", ["uniform", "easy_to_hard"], seed=0, repeats=2, steps=15)
    assert results["repeats"] == 2 and results["steps"] == 15
    row = results["strategies"]["uniform"]
    for key in (
        "steps_to_target",
        "final_accuracy",
        "effective_ratio",
        "rollouts_used",
        "wall_seconds",
    ):
        assert {"mean", "std", "min", "max", "values"} <= set(row[key])
    assert len(row["curves"]["accuracy"]) == 2
    assert row["params"] == {"replace": False}
    assert np.isclose(row["final_accuracy"]["mean"], np.mean(row["final_accuracy"]["values"]))


@pytest.mark.parametrize("name", ["difficulty-shift", "forgetting"])
def test_every_scenario_runs(name):
    assert run(name, "uniform", steps=5).rollouts_used == 5 * 64 * 8


@pytest.mark.parametrize("scenario", ["sft", "grpo-math"])
def test_loss_weights_change_the_run(scenario):
    # reweight chooses the same items whatever its floor; only the loss weights differ, and
    # the simulator trains with them (floor 1: every weight 1, as if the weights were ignored).
    ones = run(scenario, "reweight", seed=0, steps=10, params={"floor": 1.0})
    weighted = run(scenario, "reweight", seed=0, steps=10, params={"floor": 0.1})
    assert weighted.accuracy[0] == ones.accuracy[0]
    assert weighted.accuracy[-1] < ones.accuracy[-1]  # hard items' updates scaled down


def test_strategies_whose_output_a_scenario_ignores_are_refused():
    with pytest.raises(ValueError, match="allocates rollouts per prompt"):
        run("sft", "knapsack", seed=0, steps=2)


def test_safety_net_settings_reach_the_curriculum():
    plain = run("grpo-math", "dump", seed=0, steps=6)
    netted = run(
        "grpo-math", "dump", seed=0, steps=6, params={"uniform_mix": 0.5, "cover_groups": 2}
    )
    again = run(
        "grpo-math", "dump", seed=0, steps=6, params={"uniform_mix": 0.5, "cover_groups": 2}
    )
    assert netted.accuracy == again.accuracy
    assert netted.accuracy != plain.accuracy
