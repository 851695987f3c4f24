import numpy as np
import pytest

from stepladder import load_state, save_state
from stepladder.controllers import (
    BudgetSchedule,
    HintController,
    fit_hint_curve,
    hint_curve,
    hint_length,
    invert_hint_curve,
)

# ---------------------------------------------------------------- hint curve and its inverse


def test_hint_length_rounds_half_up_and_is_vectorised():
    assert hint_length(0.5, 5) == 3  # 2.5 rounds up
    assert hint_length(np.array([0.0, 0.1, 1.0]), np.array([10, 10, 10])).tolist() == [0, 1, 10]
    with pytest.raises(ValueError, match="hint rate"):
        hint_length(1.5, 10)


@pytest.mark.parametrize(
    ("b", "k", "mu"),
    [(0.0, 10.0, -0.5), (0.2, 6.0, -0.3), (0.05, 15.0, -0.7), (0.3, 4.0, -0.2)],
)
def test_fit_recovers_parameters_and_inverse_hits_the_target(b, k, mu):
    h = np.array([0.0, 0.25, 0.5, 0.75, 1.0])
    fitted = fit_hint_curve(h, hint_curve(h, b, k, mu))
    np.testing.assert_allclose(fitted, [b, k, mu], atol=1e-4)
    for target in (0.4, 0.5, 0.7):
        rate = invert_hint_curve(*fitted, target=target)
        if 0.0 < rate < 1.0:
            assert hint_curve(rate, b, k, mu) == pytest.approx(target, abs=1e-4)


def test_fit_is_vectorised_over_problems_with_nan_padding():
    h = np.array([[0.0, 0.3, 0.6, 0.9], [0.0, 0.5, 1.0, np.nan], [0.0, 0.5, np.nan, np.nan]])
    truth = [(0.1, 8.0, -0.4), (0.0, 5.0, -0.5)]
    acc = np.full_like(h, np.nan)
    for row, params in enumerate(truth):
        keep = ~np.isnan(h[row])
        acc[row, keep] = hint_curve(h[row, keep], *params)
    acc[2, :2] = [0.1, 0.6]
    fitted = fit_hint_curve(h, acc)
    np.testing.assert_allclose(fitted[:2], truth, atol=1e-4)
    assert np.isnan(fitted[2]).all()  # two distinct rates cannot fix three parameters


def test_inverse_edge_cases():
    # Target below the floor: no hint needed; unreachable within the solution: full hint.
    assert invert_hint_curve(0.6, 5.0, -0.5, target=0.5) == 0.0
    assert invert_hint_curve(0.0, 2.0, -3.0, target=0.5) == 1.0
    assert invert_hint_curve(0.0, 10.0, 1.0, target=0.5) == 0.0  # already above at h = 0
    assert invert_hint_curve(0.0, 10.0, -0.25, target=0.5) == pytest.approx(0.25)


# ---------------------------------------------------------------- the controller


def run_rounds(ctl: HintController, problems, accuracy_of, rounds=None):
    """Play rounds where problem p at rate h succeeds with probability accuracy_of(p, h)."""
    shown = []
    for _ in range(rounds or ctl.rounds):
        h = ctl.rates(problems)
        shown.append(h)
        ctl.observe(problems, accuracy_of(np.asarray(problems), h))
    return np.array(shown)


def test_all_correct_keeps_no_hint_and_all_wrong_ends_with_the_full_solution():
    ctl = HintController(2)
    shown = run_rounds(ctl, [0, 1], lambda p, h: np.where(p == 0, 1.0, 0.0))
    assert shown[:, 0].tolist() == [0.0, 0.0, 0.0, 0.0]
    assert shown[:, 1].tolist() == pytest.approx([0.0, 0.3386, 0.6772, 1.0], abs=1e-3)
    assert ctl.rates([0, 1]).tolist() == [0.0, 1.0]  # carried to the next epoch


def test_controller_reaches_the_target_of_a_noiseless_learner():
    params = np.array([[0.0, 10.0, -0.6], [0.1, 6.0, -0.2], [0.0, 12.0, -0.9], [0.3, 8.0, 0.0]])

    def accuracy(p, h):
        return hint_curve(h, params[p, 0], params[p, 1], params[p, 2])

    ctl = HintController(4, target=0.5)
    run_rounds(ctl, [0, 1, 2, 3], accuracy)
    expected = invert_hint_curve(params[:, 0], params[:, 1], params[:, 2], 0.5)
    np.testing.assert_allclose(ctl.rates([0, 1, 2, 3]), expected, atol=1e-3)
    assert expected[3] == 0.0  # floor 0.3 and mu = 0: accuracy is 0.65 without a hint
    assert set(ctl.metrics()) == {"mean_hint_rate", "fitted_share"}


def test_final_rate_carries_over_and_a_new_visit_starts_from_it():
    ctl = HintController(1, rounds=2)

    def accuracy(p, h):
        return hint_curve(h, 0.0, 10.0, -0.5)

    run_rounds(ctl, [0], accuracy)
    carried = ctl.rates([0])[0]
    assert carried > 0.0
    second = run_rounds(ctl, [0], accuracy, rounds=1)  # next epoch's first round
    assert second[0, 0] == carried


def test_noisy_rollouts_stay_near_the_target():
    rng = np.random.default_rng(0)
    params = np.column_stack(
        [rng.uniform(0, 0.2, 100), rng.uniform(4, 15, 100), rng.uniform(-0.9, -0.1, 100)]
    )

    def accuracy(p, h):
        true = hint_curve(h, params[p, 0], params[p, 1], params[p, 2])
        return rng.binomial(8, true) / 8

    ctl = HintController(100)
    for _epoch in range(3):
        run_rounds(ctl, np.arange(100), accuracy)
    h = ctl.rates(np.arange(100))
    true_acc = hint_curve(h, params[:, 0], params[:, 1], params[:, 2])
    assert abs(np.median(true_acc) - 0.5) < 0.1
    assert np.mean(np.abs(true_acc - 0.5) < 0.25) > 0.75


def test_observe_validates_input():
    ctl = HintController(3)
    with pytest.raises(ValueError, match="distinct"):
        ctl.observe([1, 1], [0.5, 0.5])
    with pytest.raises(ValueError, match="accuracy"):
        ctl.observe([0], [1.5])
    with pytest.raises(ValueError, match="out of range"):
        ctl.observe([3], [0.5])
    assert ctl.observe([], []).shape == (0,)


def test_end_visit_forgets_pairs_but_keeps_the_rate():
    ctl = HintController(2)
    ctl.observe([0], [0.0])
    rate = ctl.rates([0])[0]
    ctl.end_visit([0])
    assert ctl.rates([0])[0] == rate
    assert ctl.state_dict()["active"].tolist() == []


def test_controller_state_round_trips(tmp_path):
    rng = np.random.default_rng(1)
    ctl = HintController(50, rounds=4)
    for _ in range(6):
        batch = rng.choice(50, 10, replace=False)
        ctl.observe(batch, rng.integers(0, 9, 10) / 8)
    save_state(tmp_path / "hints.npz", ctl.state_dict())
    fresh = HintController(50, rounds=4)
    fresh.load_state_dict(load_state(tmp_path / "hints.npz"))
    np.testing.assert_array_equal(fresh.rates(np.arange(50)), ctl.rates(np.arange(50)))
    assert fresh.metrics() == ctl.metrics()
    batch, acc = np.arange(10), rng.integers(0, 9, 10) / 8
    np.testing.assert_array_equal(fresh.observe(batch, acc), ctl.observe(batch, acc))


# ---------------------------------------------------------------- budget schedule

SHAPES = ["linear", "exponential", "cosine", "step"]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize(("start", "end"), [(1024.0, 128.0), (100.0, 400.0)])
def test_schedule_endpoints_and_monotonicity(shape, start, end):
    schedule = BudgetSchedule(start=start, end=end, total_steps=50, shape=shape)
    values = schedule.value(np.arange(-5, 80))
    assert schedule.value(0) == start and schedule.value(50) == end
    assert schedule.value(-3) == start and schedule.value(1000) == end
    steps = np.diff(values)
    assert (steps <= 1e-9).all() if start > end else (steps >= -1e-9).all()


def test_schedule_formulas():
    linear = BudgetSchedule(start=1000, end=200, total_steps=100)
    assert linear.value(25) == pytest.approx(800)
    expo = BudgetSchedule(start=1000, end=10, total_steps=100, shape="exponential")
    assert expo.value(50) == pytest.approx(100)
    cosine = BudgetSchedule(start=1000, end=200, total_steps=100, shape="cosine")
    assert cosine.value(50) == pytest.approx(600)
    assert cosine.value(25) == pytest.approx(200 + 800 * (1 + np.cos(np.pi / 4)) / 2)
    # The paper's B0 * gamma^floor(t / T): 4 stages of 25 steps, gamma = 0.5.
    paper = BudgetSchedule(start=800, end=100, total_steps=100, shape="exponential", stages=4)
    assert paper.value([0, 24, 25, 49, 50, 75, 100]).tolist() == pytest.approx(
        [800, 800, 400, 400, 200, 100, 100]
    )


def test_schedule_step_stages_and_integer_output():
    step = BudgetSchedule(start=900, end=300, total_steps=90, shape="step", stages=3)
    assert step.value([0, 29, 30, 59, 60, 89, 90]).tolist() == [900, 900, 600, 600, 300, 300, 300]
    rounded = BudgetSchedule(start=1000, end=1, total_steps=7, shape="cosine", integer=True)
    values = rounded.value(np.arange(8))
    assert values.dtype == np.int64 and values[0] == 1000 and values[-1] == 1
    assert isinstance(rounded(3), int) and isinstance(
        BudgetSchedule(start=2, end=1, total_steps=2)(1), float
    )


def test_schedule_validates_parameters():
    with pytest.raises(ValueError, match="shape"):
        BudgetSchedule(start=1, end=2, total_steps=3, shape="sigmoid")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="exponential"):
        BudgetSchedule(start=0, end=2, total_steps=3, shape="exponential")
    with pytest.raises(ValueError, match="stages"):
        BudgetSchedule(start=1, end=2, total_steps=3, stages=1)
    with pytest.raises(ValueError, match="total_steps"):
        BudgetSchedule(start=1, end=2, total_steps=0)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"target": 1.0}, r"target must lie in \(0, 1\), got 1.0"),
        ({"initial": 1.5}, r"initial must lie in \[0, 1\], got 1.5"),
        ({"slope": 0.0}, r"slope must lie in \(0, inf\], got 0.0"),
        ({"slope": "steep"}, "slope must be a number"),
    ],
)
def test_hint_controller_validates_parameters(params, message):
    with pytest.raises(ValueError, match=message):
        HintController(4, **params)


def test_schedule_and_inversion_reject_non_finite_or_out_of_range_numbers():
    with pytest.raises(ValueError, match="start must lie in"):
        BudgetSchedule(start=float("nan"), end=2, total_steps=3)
    with pytest.raises(ValueError, match="end must be a number"):
        BudgetSchedule(start=1, end=None, total_steps=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"target must lie in \(0, 1\)"):
        invert_hint_curve(0.2, 10.0, -0.4, target=0.0)
