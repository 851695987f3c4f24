import numpy as np
import pytest
from scipy.stats import beta as beta_dist

from stepladder.difficulty.passrate import BetaPassRate, PassRateGrader
from stepladder.difficulty.responses import Responses


def test_posterior_without_decay():
    rates = BetaPassRate(3)
    rates.update([1], [3], [4])
    assert rates.alpha.tolist() == [1.0, 4.0, 1.0]
    assert rates.beta.tolist() == [1.0, 2.0, 1.0]
    assert rates.mean([1])[0] == pytest.approx(4 / 6)
    rates.update([1, 1], [1, 0.5], [1, 2])  # fractional successes count too
    assert rates.mean([1])[0] == pytest.approx(5.5 / 9)


def test_posterior_with_decay():
    rates = BetaPassRate(2, decay=0.8)
    rates.update([0], [3], [4])
    assert (rates.alpha[0], rates.beta[0]) == pytest.approx((4.0, 2.0))  # 0.8 + 0.2 + 3
    rates.update([0], [1], [4])
    assert (rates.alpha[0], rates.beta[0]) == pytest.approx((0.8 * 4 + 0.2 + 1, 0.8 * 2 + 0.2 + 3))
    assert rates.mean([0])[0] == pytest.approx(4.4 / 9.2)


def test_repeated_items_in_one_call_are_summed_then_decayed_once():
    rates = BetaPassRate(1, decay=0.8)
    rates.update([0, 0], [3, 1], [4, 4])
    assert (rates.alpha[0], rates.beta[0]) == pytest.approx((5.0, 5.0))


def test_unobserved_items_keep_the_prior():
    rates = BetaPassRate(4, alpha0=2.0, beta0=3.0, decay=0.5)
    for _ in range(5):
        rates.update([1, 2], [1, 0], [1, 1])
    assert rates.alpha[[0, 3]].tolist() == [2.0, 2.0]
    assert rates.beta[[0, 3]].tolist() == [3.0, 3.0]


def test_decay_keeps_the_evidence_bounded():
    # Fixed point of alpha = lam alpha + (1 - lam) alpha0 + s: alpha0 + s / (1 - lam).
    lam, alpha0, beta0 = 0.9, 1.0, 2.0
    rates = BetaPassRate(1, alpha0=alpha0, beta0=beta0, decay=lam)
    for _ in range(500):
        rates.update([0], [3], [4])
    assert rates.alpha[0] == pytest.approx(alpha0 + 3 / (1 - lam))
    assert rates.beta[0] == pytest.approx(beta0 + 1 / (1 - lam))
    assert rates.alpha[0] + rates.beta[0] < alpha0 + beta0 + 4 / (1 - lam) + 1e-9


def test_interval_contains_the_mean_and_narrows_with_data():
    rates = BetaPassRate(2)
    rates.update([0, 1], [7, 700], [10, 1000])
    low, high = rates.interval(0.9)
    mean = rates.mean()
    assert (low < mean).all() and (mean < high).all()
    assert high[1] - low[1] < (high[0] - low[0]) / 5
    np.testing.assert_allclose(low, beta_dist.ppf(0.05, rates.alpha, rates.beta))
    np.testing.assert_allclose(high, beta_dist.ppf(0.95, rates.alpha, rates.beta))
    wide_low, wide_high = rates.interval(0.99)
    assert (wide_low < low).all() and (wide_high > high).all()


def test_thompson_samples():
    rates = BetaPassRate(2)
    rates.update([0], [3], [4])
    draws = rates.sample(np.random.default_rng(0), np.zeros(20_000, dtype=np.int64))
    assert ((draws >= 0) & (draws <= 1)).all()
    assert draws.mean() == pytest.approx(4 / 6, abs=0.01)
    assert rates.sample(np.random.default_rng(1)).shape == (2,)


def test_state_round_trip_stores_touched_items_only():
    rates = BetaPassRate(1_000, decay=0.7)
    rates.update([5, 900, 5], [1, 0, 2], [2, 3, 2])
    state = rates.state_dict()
    assert state["touched"].tolist() == [5, 900]
    fresh = BetaPassRate(1_000, decay=0.7)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.alpha, rates.alpha)
    np.testing.assert_array_equal(fresh.beta, rates.beta)
    with pytest.raises(ValueError, match="decay"):
        BetaPassRate(1_000, decay=0.9).load_state_dict(state)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"decay": 0.4}, "decay"),
        ({"decay": 1.1}, "decay"),
        ({"alpha0": 0.0}, "alpha0"),
        ({"beta0": -1.0}, "beta0"),
        ({"alpha0": float("inf")}, "alpha0"),
    ],
)
def test_invalid_parameters_name_themselves(kwargs, name):
    with pytest.raises(ValueError, match=name):
        BetaPassRate(3, **kwargs)
    grader_kwargs = {k: v for k, v in kwargs.items() if k != "decay"}
    if grader_kwargs:
        with pytest.raises(ValueError, match=name):
            PassRateGrader(**grader_kwargs)


def test_invalid_updates_are_refused():
    rates = BetaPassRate(3)
    with pytest.raises(ValueError, match="successes"):
        rates.update([0], [5], [4])
    with pytest.raises(ValueError, match="out of range"):
        rates.update([3], [1], [1])
    with pytest.raises(ValueError, match="trials"):
        rates.update([0, 1], [1, 1], [1, 1, 1])
    with pytest.raises(ValueError, match="level"):
        rates.interval(1.0)
    with pytest.raises(ValueError, match="level"):
        PassRateGrader(level=0)


def test_grader_on_a_tiny_log():
    r = Responses.from_long(["a", "b", "a"], ["q1", "q1", "q2"], [3, 1, 2], trials=[4, 4, 2])
    grader = PassRateGrader().fit(r)
    items = grader.item_table()
    assert items.column_names == [
        "item_id",
        "difficulty",
        "n_responses",
        "p_correct",
        "se_difficulty",
        "posterior_mean",
        "ci_low",
        "ci_high",
        "cv",
    ]
    column = {name: items.column(name).to_pylist() for name in items.column_names}
    assert column["item_id"] == ["q1", "q2"]
    # q1: 4 of 8 -> Beta(5, 5); q2: 2 of 2 -> Beta(3, 1).
    assert column["posterior_mean"] == pytest.approx([0.5, 0.75])
    assert column["difficulty"] == pytest.approx([0.5, 0.25])
    assert column["se_difficulty"] == pytest.approx([np.sqrt(25 / (100 * 11)), np.sqrt(3 / 80)])
    assert column["p_correct"] == pytest.approx([0.5, 1.0])
    assert column["n_responses"] == [8, 2] and items.schema.field("n_responses").type == "int64"
    assert column["ci_low"] == pytest.approx(beta_dist.ppf(0.05, [5, 3], [5, 1]))
    assert column["ci_high"] == pytest.approx(beta_dist.ppf(0.95, [5, 3], [5, 1]))
    # q1 row scores 0.75 and 0.25: std 0.25 / mean 0.5; q2 has a single row.
    assert column["cv"][0] == pytest.approx(0.5)
    assert np.isnan(column["cv"][1])
    learners = grader.learner_table()
    assert learners.column_names == ["learner_id", "ability", "n_responses", "se_ability"]
    assert learners.column("ability").to_pylist() == pytest.approx([5 / 6, 0.25])
    assert learners.column("se_ability").to_pylist() == pytest.approx(
        [np.sqrt(5 / 6 * 1 / 6 / 6), np.sqrt(0.25 * 0.75 / 4)]
    )
    summary = grader.summary()
    assert summary["model"] == "passrate" and summary["n_items"] == 2
    assert summary["n_responses"] == 3


def test_cv_is_nan_when_every_pass_fails():
    r = Responses.from_long(["a", "b"], ["q", "q"], [0.0, 0.0])
    assert np.isnan(PassRateGrader().fit(r).item_table().column("cv").to_pylist()[0])


def test_grader_needs_fit():
    with pytest.raises(RuntimeError, match="fit"):
        PassRateGrader().item_table()
