import math
import time

import numpy as np
import pytest
from scipy.stats import spearmanr

from stepladder.difficulty.ratings import GLICKO2_SCALE, Elo, Glicko2
from stepladder.difficulty.responses import Responses


def rasch_log(n_learners: int, n_items: int, seed: int = 0):
    """A full Rasch response matrix in random time order, with the true parameters."""
    rng = np.random.default_rng(seed)
    theta, b = rng.normal(size=n_learners), rng.normal(size=n_items)
    learner, item = np.meshgrid(np.arange(n_learners), np.arange(n_items), indexing="ij")
    learner, item = learner.ravel(), item.ravel()
    order = rng.permutation(len(learner))
    learner, item = learner[order], item[order]
    correct = rng.random(len(learner)) < 1 / (1 + np.exp(-(theta[learner] - b[item])))
    r = Responses.from_long(learner, item, correct.astype(float))
    # Dense indices follow first appearance: reorder the truth to match them.
    return r, theta[r.learner_ids.to_numpy()], b[r.item_ids.to_numpy()]


def test_glicko2_reproduces_glickmans_worked_example():
    # "Example of the Glicko-2 system": 1500/200/0.06 against 1400/30, 1550/100, 1700/300.
    g = Glicko2(tau=0.5)
    g.reset(1, 3)
    state = g.state_dict()
    state["learner_phi"][:] = 200 / GLICKO2_SCALE
    state["item_mu"][:] = (np.array([1400.0, 1550.0, 1700.0]) - 1500) / GLICKO2_SCALE
    state["item_phi"][:] = np.array([30.0, 100.0, 300.0]) / GLICKO2_SCALE
    g.load_state_dict(state)
    g.update(0, [0, 1, 2], [1, 0, 0])
    assert g.learner_rating[0] == pytest.approx(1464.06, abs=0.01)
    assert g.learner_rd[0] == pytest.approx(151.52, abs=0.01)
    assert g.learner_volatility[0] == pytest.approx(0.05999, abs=1e-5)
    assert g.periods_ == 1


def test_elo_update_by_hand():
    elo = Elo(k=32)
    elo.reset(1, 1)
    state = elo.state_dict()
    state["learner_rating"][:] = 1600.0
    state["item_rating"][:] = 1400.0
    elo.load_state_dict(state)
    elo.update([0], [0], [0.0])
    expected = 1 / (1 + 10 ** (-200 / 400))  # 0.7597...
    assert elo.learner_rating[0] == pytest.approx(1600 - 32 * expected)
    assert elo.item_rating[0] == pytest.approx(1400 + 32 * expected)
    assert elo.learner_rating[0] == pytest.approx(1575.688, abs=1e-3)


def test_sequential_elo_uses_the_ratings_left_by_earlier_rows():
    r = Responses.from_long(["ann", "bob"], ["q1", "q1"], [1.0, 0.0])
    elo = Elo(k=32).fit(r)
    # ann beats q1 at 1500 vs 1500: q1 -> 1484; bob (1500) then loses to q1 at 1484.
    bob_expected = 1 / (1 + 10 ** ((1484 - 1500) / 400))
    assert elo.learner_rating.tolist() == pytest.approx([1516.0, 1500 - 32 * bob_expected])
    assert elo.item_rating[0] == pytest.approx(1484 + 32 * bob_expected)
    assert elo.summary()["periods"] == 2


def test_elo_is_order_dependent_but_a_period_is_not():
    r = Responses.from_long(["ann", "ann", "bob"], ["q1", "q2", "q1"], [1.0, 0.0, 0.0])
    order = [2, 0, 1]
    shuffled = Responses.from_long(
        np.array(["ann", "ann", "bob"])[order],
        np.array(["q1", "q2", "q1"])[order],
        np.array([1.0, 0.0, 0.0])[order],
    )
    # Same ids in the same dense order either way (ann, bob; q1, q2).
    assert shuffled.learner_ids.to_pylist() == ["bob", "ann"]
    a, b = Elo().fit(r), Elo().fit(shuffled)
    assert a.item_rating[0] != pytest.approx(b.item_rating[0])
    one = Elo(period_size=3)
    assert one.fit(r).item_rating.tolist() == pytest.approx(one.fit(shuffled).item_rating.tolist())


def test_elo_period_scores_all_games_against_the_start_of_the_period():
    r = Responses.from_long(["ann", "bob"], ["q1", "q1"], [1.0, 0.0])
    elo = Elo(k=32, period_size=2).fit(r)
    assert elo.learner_rating.tolist() == [1516.0, 1484.0]
    assert elo.item_rating.tolist() == [1500.0]  # +16 and -16 cancel
    assert elo.summary()["periods"] == 1


@pytest.mark.parametrize("grader", [Elo(), Elo(period_size=5_000), Glicko2()])
def test_item_ratings_recover_rasch_difficulty(grader):
    r, theta, b = rasch_log(300, 200)
    grader.fit(r)
    assert spearmanr(grader.item_rating, b)[0] > 0.9
    assert spearmanr(grader.learner_rating, theta)[0] > 0.8


@pytest.mark.parametrize("make", [lambda: Elo(period_size=10), lambda: Glicko2()])
def test_k_of_n_row_equals_its_games_within_a_period(make):
    grouped = Responses.from_long(["a", "a"], ["q", "r"], [3, 1], trials=[4, 2])
    split = Responses.from_long(["a"] * 6, ["q"] * 4 + ["r"] * 2, [1, 1, 0, 1, 0, 1])
    one, other = make().fit(grouped), make().fit(split)
    np.testing.assert_allclose(one.item_rating, other.item_rating)
    np.testing.assert_allclose(one.learner_rating, other.learner_rating)


def test_fractional_scores_are_draws():
    r = Responses.from_long(["a"], ["q"], [0.5])
    assert Elo().fit(r).item_rating.tolist() == [1500.0]
    g = Glicko2().fit(r)
    assert g.item_rating[0] == pytest.approx(1500.0)
    assert g.item_rd[0] < 350


@pytest.mark.parametrize("make", [Elo, lambda: Elo(period_size=4), Glicko2])
def test_state_round_trip_resumes_exactly(make):
    rng = np.random.default_rng(3)
    batches = [
        (rng.integers(0, 5, 20), rng.integers(0, 30, 20), rng.random(20), rng.integers(1, 4, 20))
        for _ in range(4)
    ]
    straight = make()
    for batch in batches:
        straight.update(*batch)
    first = make()
    for batch in batches[:2]:
        first.update(*batch)
    resumed = make()
    resumed.load_state_dict(first.state_dict())
    for batch in batches[2:]:
        resumed.update(*batch)
    for name, values in straight.state_dict().items():
        if isinstance(values, np.ndarray):
            np.testing.assert_array_equal(resumed.state_dict()[name], values)
    assert resumed.periods_ == straight.periods_ == 4


def test_state_from_another_configuration_is_refused():
    with pytest.raises(ValueError, match="k="):
        Elo(k=16).load_state_dict(Elo(k=32).state_dict())
    with pytest.raises(ValueError, match="model"):
        Elo().load_state_dict(Glicko2().state_dict())


@pytest.mark.parametrize("make", [Elo, Glicko2])
@pytest.mark.parametrize(
    ("learners", "items"), [(["a"], ["q"]), (["a"] * 3, ["q", "r", "s"]), (["a", "b"], ["q"] * 2)]
)
def test_single_learner_or_item_works(make, learners, items):
    r = Responses.from_long(learners, items, [1.0] * len(items))
    grader = make().fit(r)
    items_table, learners_table = grader.item_table(), grader.learner_table()
    assert items_table.num_rows == r.n_items and learners_table.num_rows == r.n_learners
    assert np.isfinite(items_table.column("difficulty").to_numpy()).all()
    assert np.isfinite(learners_table.column("ability").to_numpy()).all()


def test_tables_and_summary():
    r, _, _ = rasch_log(20, 10)
    g = Glicko2(period_size=50).fit(r)
    items = g.item_table()
    assert items.column_names == [
        "item_id",
        "difficulty",
        "n_responses",
        "p_correct",
        "se_difficulty",
        "volatility",
    ]
    assert g.learner_table().column_names == [
        "learner_id",
        "ability",
        "n_responses",
        "se_ability",
        "volatility",
    ]
    assert (items.column("se_difficulty").to_numpy() < 350).all()
    summary = g.summary()
    assert summary["model"] == "glicko2" and summary["periods"] == 4  # 200 rows / 50
    assert summary["n_responses"] == 200 and summary["params"]["tau"] == 0.5
    elo = Elo().fit(r)
    assert np.isnan(elo.item_table().column("se_difficulty").to_numpy()).all()
    assert np.isnan(elo.learner_table().column("se_ability").to_numpy()).all()
    assert elo.summary()["periods"] == 200


def test_period_labels_define_rating_periods():
    r = Responses.from_long(["a", "b", "a", "b"], ["q"] * 4, [1.0, 0.0, 1.0, 1.0])
    g = Glicko2().fit(r, periods=[3, 3, 7, 7])
    assert g.summary()["periods"] == 2
    with pytest.raises(ValueError, match="non-decreasing"):
        Glicko2().fit(r, periods=[1, 0, 2, 2])
    with pytest.raises(ValueError, match="periods"):
        Elo().fit(r, periods=[1, 2])


def test_idle_players_gain_deviation_per_period():
    g = Glicko2(max_rd=math.inf)
    g.update(0, 0, 1.0)
    rd, sigma = g.item_rd[0], g.item_volatility[0]
    for _ in range(3):
        g.update(0, 1, 1.0)  # item 0 sits out three periods
    assert g.item_rd[0] == pytest.approx(math.sqrt(rd**2 + 3 * (sigma * GLICKO2_SCALE) ** 2))
    capped = Glicko2(initial_rd=100.0)
    capped.update(0, 0, 1.0)
    for _ in range(1_000):
        capped.update(0, 1, 1.0)
    assert capped.item_rd[0] == pytest.approx(100.0)


def test_online_update_grows_and_predicts():
    elo = Elo()
    elo.update(2, [0, 4], [1.0, 0.0])
    assert len(elo.learner_rating) == 3 and len(elo.item_rating) == 5
    assert elo.learner_rating[0] == 1500.0
    assert elo.expected(2, [0, 4])[0] > 0.5 > elo.expected(2, [0, 4])[1]
    g = Glicko2()
    g.update([0, 0], [0, 1], [1.0, 0.0], trials=[3, 3])
    assert g.expected(0, [0, 1]).tolist()[0] > 0.5
    assert g.expected([0], [2])[0] == pytest.approx(0.5)  # an unseen item


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0], [0], [1.5]), "scores"),
        (([-1], [0], [1.0]), "learners"),
        (([0], [0, 1], [1.0, 0.0, 1.0]), "differ in length"),
        (([0], [0], [1.0], [0]), "trials"),
    ],
)
def test_bad_updates_are_refused(args, match):
    with pytest.raises(ValueError, match=match):
        Glicko2().update(*args)


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda: Elo(k=0), "k"),
        (lambda: Elo(period_size=0), "period_size"),
        (lambda: Glicko2(tau=-1), "tau"),
        (lambda: Glicko2(initial_rd=float("nan")), "initial_rd"),
    ],
)
def test_bad_parameters_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_throughput():
    n, n_learners, n_items = 400_000, 1_000, 20_000
    rng = np.random.default_rng(0)
    theta, b = rng.normal(size=n_learners), rng.normal(size=n_items)
    learner, item = rng.integers(0, n_learners, n), rng.integers(0, n_items, n)
    correct = rng.random(n) < 1 / (1 + np.exp(-(theta[learner] - b[item])))
    r = Responses.from_long(learner, item, correct.astype(float))
    for grader in (Elo(), Elo(period_size=10_000), Glicko2()):
        start = time.perf_counter()
        grader.fit(r)
        rate = n / (time.perf_counter() - start)
        print(f"{grader.model} period_size={grader.period_size}: {rate / 1e6:.1f}M rows/s")
        assert rate > 300_000  # measured: about 3M (Elo), 90M (Elo periods), 5M (Glicko-2)
