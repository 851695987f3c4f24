"""Anchor selection, full-benchmark score estimates and adaptive tests."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import expit

from stepladder.evaluation import (
    AdaptiveTest,
    Anchors,
    Benchmark,
    estimate_score,
    evaluate_adaptively,
    select_anchors,
)


def two_pl(n: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        "item_id": np.arange(n),
        "difficulty": rng.normal(size=n) * 1.2,
        "discrimination": rng.lognormal(0.0, 0.3, size=n),
    }


def answers_of(items: dict[str, np.ndarray], theta: float, rng: np.random.Generator):
    p = expit(items["discrimination"] * (theta - items["difficulty"]))
    return (rng.random(len(p)) < p).astype(float)


# --------------------------------------------------------------------------- anchors


@pytest.mark.parametrize("method", ["random", "stratified", "irt_clusters", "information"])
def test_anchors_are_distinct_seeded_and_weighted(method):
    items = two_pl(300)
    first = select_anchors(items, 20, method=method, seed=3)
    again = select_anchors(items, 20, method=method, seed=3)
    assert first.positions.tolist() == again.positions.tolist()
    assert len(set(first.positions.tolist())) == 20
    assert first.weights.sum() == pytest.approx(1.0)
    assert first.item_ids.tolist() == first.positions.tolist()  # ids are 0..n-1 here


def test_stratified_anchors_take_one_item_per_difficulty_band():
    items = {"item_id": list("abcdef"), "difficulty": [3.0, -3.0, 0.1, -0.1, 2.0, -2.0]}
    anchors = select_anchors(items, 3, method="stratified", seed=0)
    # Sorted by difficulty: b f d | c e a -> bands {b, f}, {d, c}, {e, a}.
    bands = [{"b", "f"}, {"d", "c"}, {"e", "a"}]
    assert all(item in band for item, band in zip(anchors.item_ids, bands, strict=True))
    assert anchors.weights.tolist() == [pytest.approx(1 / 3)] * 3
    assert anchors.strata.tolist() == [2, 0, 1, 1, 2, 0]


def test_information_anchors_sit_where_the_target_abilities_are():
    items = {"item_id": np.arange(5), "difficulty": [-4.0, -1.0, 0.0, 1.0, 4.0]}
    anchors = select_anchors(items, 3, method="information", ability_range=(-1.0, 1.0))
    assert sorted(anchors.positions.tolist()) == [1, 2, 3]


def test_cluster_anchors_survive_many_identical_items():
    # A 1PL on few models has one difficulty per sum score: k-means sees few distinct points.
    items = {"item_id": np.arange(400), "difficulty": np.repeat(np.linspace(-2, 2, 8), 50)}
    anchors = select_anchors(items, 40, method="irt_clusters", seed=0)
    assert len(set(anchors.positions.tolist())) == 40
    assert np.bincount(anchors.strata, minlength=40).min() > 0
    assert anchors.weights == pytest.approx(np.bincount(anchors.strata) / 400)


def test_anchors_round_trip_through_a_table_and_refuse_another_benchmark():
    items = two_pl(100)
    anchors = select_anchors(items, 10, method="irt_clusters", seed=1)
    loaded = Anchors.from_table(anchors.to_table(), items)
    assert loaded.positions.tolist() == anchors.positions.tolist()
    assert loaded.strata.tolist() == anchors.strata.tolist()
    other = {**items, "item_id": np.arange(100) + 1000}
    with pytest.raises(ValueError, match="another benchmark"):
        Anchors.from_table(anchors.to_table(), other)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"k": 0}, "k must be positive"), ({"k": 11}, "from a benchmark of 10 items"),
     ({"k": 2, "method": "best"}, "method must be one of")],
)  # fmt: skip
def test_bad_anchor_requests_are_one_line_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        select_anchors(two_pl(10), **kwargs)


def test_item_tables_without_irt_are_refused():
    with pytest.raises(ValueError, match="no 'difficulty' column"):
        Benchmark.from_items({"item_id": [1, 2], "rating": [1500.0, 1400.0]})
    with pytest.raises(ValueError, match="repeats an item_id"):
        Benchmark.from_items({"item_id": [1, 1], "difficulty": [0.0, 1.0]})


# --------------------------------------------------------------------------- estimates


def test_naive_estimate_is_the_weighted_anchor_accuracy():
    items = {"item_id": np.arange(6), "difficulty": [-2.0, -1.0, 0.0, 0.5, 1.0, 2.0]}
    anchors = select_anchors(items, 3, method="stratified", seed=0)
    answers = dict(zip(anchors.item_ids.tolist(), [1.0, 0.0, 1.0], strict=True))
    estimate = estimate_score(answers, items, anchors, method="naive")
    assert estimate.score == pytest.approx(2 / 3)
    assert estimate.n_items == 3


def test_p_irt_uses_answers_where_asked_and_fixed_rates_elsewhere():
    # Unanswered items with no IRT curve count at their observed pass rate, so p-IRT is
    # (answered + sum of rates) / n and its variance sum p(1-p) / n^2, by hand.
    items = {
        "item_id": ["q0", "q1", "q2", "q3"],
        "difficulty": [0.0, np.nan, np.nan, np.nan],
        "p_correct": [0.5, 1.0, 0.25, 0.5],
    }
    estimate = estimate_score({"q0": 1.0}, items, method="irt")
    assert estimate.score == pytest.approx((1.0 + 1.0 + 0.25 + 0.5) / 4)
    assert estimate.se == pytest.approx(np.sqrt(0.25 * 0.75 + 0.25) / 4)


def test_irt_estimate_is_exact_when_every_item_is_answered():
    items = two_pl(50)
    answers = dict(enumerate(answers_of(items, 0.3, np.random.default_rng(0))))
    estimate = estimate_score(answers, items, method="irt")
    assert estimate.score == pytest.approx(np.mean(list(answers.values())))
    assert estimate.se == pytest.approx(0.0, abs=1e-12)


@pytest.mark.parametrize("selection", ["random", "stratified", "irt_clusters"])
def test_intervals_cover_the_true_score_on_simulated_models(selection):
    """When the 2PL holds, 95% intervals cover the model's full-benchmark accuracy."""
    items = two_pl(1000, seed=1)
    benchmark = Benchmark.from_items(items)  # one object: its probability grid is cached
    rng = np.random.default_rng(2)
    anchors = select_anchors(benchmark, 40, method=selection, seed=0)
    covered = {"naive": [], "irt": [], "gp_irt": []}
    errors = {"naive": [], "irt": [], "gp_irt": []}
    for theta in rng.normal(size=100):
        correct = answers_of(items, theta, rng)
        truth = correct.mean()
        asked = dict(zip(anchors.item_ids.tolist(), correct[anchors.positions], strict=True))
        for method in covered:
            estimate = estimate_score(asked, benchmark, anchors, method=method)
            covered[method].append(estimate.low <= truth <= estimate.high)
            errors[method].append(abs(estimate.score - truth))
    for method, hits in covered.items():
        assert 0.85 <= np.mean(hits) <= 1.0, (method, np.mean(hits))
    # The model-based estimators use what the anchors say about ability.
    assert np.mean(errors["irt"]) < np.mean(errors["naive"])


@pytest.mark.parametrize(
    ("answers", "message"),
    [({"nope": 1.0}, "item 'nope' is not in the benchmark"),
     ({0: 1.5}, "outside \\[0, 1\\]"), ({0: float("nan")}, "outside \\[0, 1\\]")],
)  # fmt: skip
def test_bad_answers_are_one_line_errors(answers, message):
    with pytest.raises(ValueError, match=message):
        estimate_score(answers, two_pl(10), method="irt")


def test_naive_needs_every_anchor_answered():
    items = two_pl(20)
    anchors = select_anchors(items, 4, method="random", seed=0)
    partial = {int(anchors.item_ids[0]): 1.0}
    with pytest.raises(ValueError, match="is not answered"):
        estimate_score(partial, items, anchors, method="naive")


# --------------------------------------------------------------------------- adaptive tests


def run_test(items, truth: float, prior: tuple[float, float], seed: int = 0) -> AdaptiveTest:
    rng = np.random.default_rng(seed)
    test = AdaptiveTest(items, max_items=40, target_se=None, prior=prior, seed=seed)
    correct = answers_of(items, truth, rng)
    while not test.done:
        asked = test.next_items(4)
        test.record(asked, correct[asked])
    return test


@pytest.mark.parametrize(("truth", "prior_mean"), [(2.0, -3.0), (-2.0, 3.0), (0.0, 3.0)])
def test_adaptive_ability_moves_toward_the_truth_from_a_bad_start(truth, prior_mean):
    test = run_test(two_pl(600, seed=4), truth, (prior_mean, 1.0))
    first = test.history[0].ability
    assert abs(test.ability - truth) < 0.6
    assert abs(test.ability - truth) < abs(first - truth) or abs(first - truth) < 0.6


def test_adaptive_items_are_never_repeated_and_the_test_stops():
    items = two_pl(30)
    test = AdaptiveTest(items, max_items=25, target_se=None, seed=0)
    asked = []
    while not test.done:
        positions = test.next_items(7)
        asked.extend(positions.tolist())
        test.record(positions, np.ones(len(positions)))
    assert len(asked) == len(set(asked)) and test.n_asked >= 25
    with pytest.raises(ValueError, match="answered twice"):
        test.record([asked[0]], [1.0])


def test_adaptive_testing_stops_at_the_target_standard_error():
    test = AdaptiveTest(two_pl(800, seed=5), max_items=500, target_se=0.35, seed=0)
    rng = np.random.default_rng(0)
    correct = answers_of(two_pl(800, seed=5), 0.5, rng)
    while not test.done:
        asked = test.next_items(1)
        test.record(asked, correct[asked])
    assert test.ability_se <= 0.35 and test.n_asked < 60


def test_evaluate_adaptively_calls_the_answer_function_with_item_ids():
    items = {"item_id": [f"q{i}" for i in range(100)], "difficulty": np.linspace(-3, 3, 100)}
    seen: list[str] = []

    def answer(ids):
        seen.extend(ids.tolist())
        return [int(i[1:]) < 50 for i in ids]

    estimate = evaluate_adaptively(answer, items, max_items=30, target_se=None, batch_size=8)
    assert len(seen) == 30 == estimate.n_items and len(set(seen)) == 30
    assert abs(estimate.score - 0.5) < 0.1
