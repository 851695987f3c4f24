import numpy as np
import pytest
from scipy.stats import pearsonr

from stepladder.ability import OnlineAbility, estimate_ability
from stepladder.difficulty import ItemParameters


@pytest.fixture(scope="module")
def log():
    rng = np.random.default_rng(0)
    items = ItemParameters.two_pl(
        discrimination=rng.lognormal(0, 0.3, 60), difficulty=rng.normal(size=60)
    )
    theta = rng.normal(size=300)
    learner = np.repeat(np.arange(300), 60)
    item = np.tile(np.arange(60), 300)
    p = items.probability(theta)[learner, item]
    return items, theta, learner, item, (rng.random(len(p)) < p).astype(float)


@pytest.mark.parametrize("method", ["eap", "map", "mle"])
def test_recovers_abilities(log, method):
    items, theta, learner, item, y = log
    est = estimate_ability(items, learner, item, y, method=method)
    assert pearsonr(est.ability, theta)[0] > 0.9
    assert np.isfinite(est.se).all() and (est.se > 0).all()


def test_mle_perfect_score_hits_the_bound_and_map_stays_inside():
    items = ItemParameters.two_pl(discrimination=1.0, difficulty=[0.0, 1.0])
    mle = estimate_ability(items, [0, 0], [0, 1], [1, 1], method="mle", bound=5.0)
    mapped = estimate_ability(items, [0, 0], [0, 1], [1, 1], method="map")
    assert mle.ability[0] == 5.0 and -5.0 < mapped.ability[0] < 5.0


def test_more_items_shrink_the_standard_error(log):
    items, _, learner, item, y = log
    few = estimate_ability(items, learner[item < 10], item[item < 10], y[item < 10])
    many = estimate_ability(items, learner, item, y)
    assert np.median(many.se) < np.median(few.se)


def test_map_with_known_closed_form():
    # One item with a = 1, b = 0 answered correctly: MAP solves theta = sigmoid(-theta).
    items = ItemParameters.two_pl(discrimination=1.0, difficulty=[0.0])
    est = estimate_ability(items, [0], [0], [1.0], method="map")
    assert est.ability[0] == pytest.approx(1 / (1 + np.exp(est.ability[0])), abs=1e-6)


def test_online_matches_batch_eap(log):
    items, _, learner, item, y = log
    mine = learner < 3
    tracker = OnlineAbility(items, n_learners=3)
    for chunk in np.array_split(np.flatnonzero(mine), 4):
        tracker.update(item=item[chunk], successes=y[chunk], learner=learner[chunk])
    batch = estimate_ability(items, learner[mine], item[mine], y[mine], n_learners=3)
    np.testing.assert_allclose(tracker.estimate().ability, batch.ability, atol=1e-9)
    restored = OnlineAbility(items, n_learners=3)
    restored.load_state_dict(tracker.state_dict())
    np.testing.assert_array_equal(restored.estimate().ability, tracker.estimate().ability)


def test_bad_input():
    items = ItemParameters.two_pl(discrimination=1.0, difficulty=[0.0])
    with pytest.raises(ValueError, match="method must be one of"):
        estimate_ability(items, [0], [0], [1.0], method="wle")
    with pytest.raises(ValueError, match="item indices must lie in"):
        estimate_ability(items, [0], [3], [1.0])
    with pytest.raises(ValueError, match="same length"):
        estimate_ability(items, [0, 1], [0], [1.0])


@pytest.mark.parametrize("method", ["eap", "map", "mle"])
def test_learners_without_responses_get_the_prior(method):
    items = ItemParameters.two_pl(discrimination=1.0, difficulty=[0.0])
    est = estimate_ability(items, [], [], [], method=method, n_learners=2)
    np.testing.assert_allclose(est.ability, 0.0, atol=1e-9)
    assert np.isfinite(est.se).all()
