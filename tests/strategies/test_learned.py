import warnings

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes, load_state, save_state
from stepladder.strategies.learned import PCL, OnlineRegressor, OnlineRidge, selection_cost

# The methods as published; the default safety net is tested in tests/test_safety.py.
pytestmark = pytest.mark.usefixtures("without_default_net")

# ---------------------------------------------------------------- OnlineRidge


def batch_ridge(X, y, alpha, weights=None, standardize=True):
    """Weighted ridge with an unpenalised intercept, solved in one go (the reference)."""
    w = np.ones(len(y)) if weights is None else np.asarray(weights, float)
    mean_x, mean_y = w @ X / w.sum(), w @ y / w.sum()
    Xc, yc = X - mean_x, y - mean_y
    scale = np.sqrt(w @ Xc**2 / w.sum()) if standardize else np.ones(X.shape[1])
    Z = Xc / scale
    beta = np.linalg.solve(
        (Z * w[:, None]).T @ Z + alpha * np.eye(X.shape[1]), (Z * w[:, None]).T @ yc
    )
    coef = beta / scale
    return coef, mean_y - mean_x @ coef


def data(n=240, d=3, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(loc=[5.0, -2.0, 0.0][:d], scale=[3.0, 0.5, 1.0][:d], size=(n, d))
    y = 0.3 + X @ np.array([0.05, -0.2, 0.1][:d]) + rng.normal(scale=0.1, size=n)
    return X, y


@pytest.mark.parametrize("standardize", [True, False])
@pytest.mark.parametrize("alpha", [0.0, 1.0, 50.0])
def test_online_ridge_equals_batch_ridge(alpha, standardize):
    X, y = data()
    model = OnlineRidge(alpha=alpha, standardize=standardize)
    for rows in np.array_split(np.arange(len(y)), [1, 7, 40, 41, 200]):  # uneven batches
        model.partial_fit(X[rows], y[rows])
    coef, intercept = batch_ridge(X, y, alpha, standardize=standardize)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-9, atol=1e-12)
    assert model.intercept_ == pytest.approx(intercept, rel=1e-9)
    np.testing.assert_allclose(model.predict(X[:5]), X[:5] @ coef + intercept, rtol=1e-9)
    assert model.weight_ == len(y) and model.n_features_in_ == 3


def test_online_ridge_matches_scikit_learn():
    sklearn = pytest.importorskip("sklearn")
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    assert sklearn
    X, y = data(seed=3)
    model = OnlineRidge(alpha=5.0)
    for rows in np.array_split(np.arange(len(y)), 4):
        model.partial_fit(X[rows], y[rows])
    reference = make_pipeline(StandardScaler(), Ridge(alpha=5.0)).fit(X, y)
    np.testing.assert_allclose(model.predict(X), reference.predict(X), rtol=1e-9, atol=1e-12)


def test_forgetting_and_sample_weights_equal_weighted_batch_ridge():
    X, y = data(n=90)
    batches = np.array_split(np.arange(90), 3)
    lam = 0.5
    sample_weight = np.linspace(0.5, 2.0, 90)
    model = OnlineRidge(alpha=2.0, forgetting=lam)
    for rows in batches:
        model.partial_fit(X[rows], y[rows], sample_weight=sample_weight[rows])
    # A sample of batch j (0-based, of 3) is discounted once per later call: lam^(2 - j).
    age = np.concatenate([np.full(len(rows), 2 - j) for j, rows in enumerate(batches)])
    coef, intercept = batch_ridge(X, y, 2.0, weights=sample_weight * lam**age)
    np.testing.assert_allclose(model.coef_, coef, rtol=1e-9)
    assert model.intercept_ == pytest.approx(intercept, rel=1e-9)
    assert model.weight_ == pytest.approx((sample_weight * lam**age).sum())


def test_online_ridge_missing_features_and_constant_columns():
    model = OnlineRidge()
    X = np.array(
        [[1.0, 3.0, np.nan], [2.0, 3.0, np.nan], [3.0, 3.0, np.nan], [np.nan, 3.0, np.nan]]
    )
    model.partial_fit(X, [0.1, 0.2, 0.3, 0.2])
    assert np.isfinite(model.coef_).all()
    assert model.coef_[1] == 0.0 and model.coef_[2] == 0.0  # constant and never-seen columns
    # A missing feature counts as its column's mean: item 3 was imputed with x0 = 2.
    assert model.predict([[np.nan, 3.0, np.nan]])[0] == pytest.approx(
        model.predict([[2.0, 3.0, 7.0]])[0]
    )


def test_online_ridge_validates_and_ignores_empty_batches():
    model = OnlineRidge(forgetting=0.5)
    with pytest.raises(ValueError, match="no data"):
        model.predict([[1.0]])
    model.partial_fit(np.zeros((0, 2)), [])
    assert model.n_features_in_ is None
    model.partial_fit([[1.0, 2.0], [2.0, 0.0]], [0.0, 1.0])
    model.partial_fit([[1.0, 2.0]], [0.5], sample_weight=[0.0])  # zero weight: no forgetting
    assert model.weight_ == 2.0
    with pytest.raises(ValueError, match="features"):
        model.partial_fit([[1.0, 2.0, 3.0]], [0.5])
    with pytest.raises(ValueError, match="rows"):
        model.partial_fit([[1.0, 2.0]], [0.5, 0.1])
    with pytest.raises(ValueError, match="finite"):
        model.partial_fit([[1.0, 2.0]], [np.nan])
    for bad in ({"alpha": -1.0}, {"forgetting": 0.0}, {"forgetting": 1.5}):
        with pytest.raises(ValueError):
            OnlineRidge(**bad)


def test_online_ridge_state_round_trips_exactly(tmp_path):
    X, y = data()
    model = OnlineRidge(alpha=0.3, forgetting=0.9)
    model.partial_fit(X[:100], y[:100])
    save_state(tmp_path / "ridge.npz", {"model": model.state_dict()})
    fresh = OnlineRidge(alpha=0.3, forgetting=0.9)
    fresh.load_state_dict(load_state(tmp_path / "ridge.npz")["model"])
    for m in (model, fresh):
        m.partial_fit(X[100:], y[100:])
    np.testing.assert_array_equal(fresh.coef_, model.coef_)
    np.testing.assert_array_equal(fresh.predict(X), model.predict(X))
    empty = OnlineRidge()
    empty.load_state_dict(OnlineRidge().state_dict())
    assert empty.n_features_in_ is None


def test_protocol_is_structural():
    class Mean:
        def partial_fit(self, X, y):
            return self

        def predict(self, X):
            return np.zeros(len(X))

    assert isinstance(Mean(), OnlineRegressor)
    assert not isinstance(object(), OnlineRegressor)


# ---------------------------------------------------------------- PCL


class Echo:
    """A value model whose prediction is the first feature; records what it was asked."""

    def __init__(self):
        self.predicted, self.fitted = [], []

    def partial_fit(self, X, y):
        self.fitted.append((np.array(X), np.array(y)))
        return self

    def predict(self, X):
        self.predicted.append(np.array(X))
        return np.asarray(X)[:, 0]


def make_pool(size=100):
    values = np.linspace(0.0, 1.0, size)  # feature = the value the Echo model predicts
    return ItemPool(size=size, features=np.column_stack([values, np.arange(size)]))


@pytest.mark.parametrize(("k", "n"), [(4, 10), (2, 7), (1, 5)])
def test_pcl_scores_k_n_candidates_and_keeps_the_n_closest_to_tau(k, n):
    cur = Curriculum(make_pool(), "pcl", seed=0, k=k, tau=0.3, model=Echo())
    first = cur.propose(n)
    cur.observe(Outcomes(first.indices, np.full(n, 0.5)))
    chosen = cur.propose(n).indices
    model = cur.strategy.model_
    candidates = model.predicted[-1][:, 1].astype(int)  # the second feature is the index
    assert len(candidates) == k * n
    value = np.linspace(0.0, 1.0, 100)
    expected = candidates[np.argsort(np.abs(value[candidates] - 0.3), kind="stable")[:n]]
    assert chosen.tolist() == expected.tolist()
    gap = np.abs(value[chosen] - 0.3).mean()
    assert cur.strategy.metrics()["chosen_gap"] == pytest.approx(gap)


def test_pcl_is_uniform_before_the_value_model_has_data():
    pool = make_pool()
    pcl = Curriculum(pool, "pcl", seed=4, k=4).propose(12).indices
    uniform = Curriculum(pool, "uniform", seed=4).propose(48).indices
    assert pcl.tolist() == uniform[:12].tolist()


def test_pcl_trains_on_observed_pass_rates_and_reports_mse_before_the_update():
    cur = Curriculum(make_pool(), "pcl", seed=0, model=Echo())
    assert "value_mse" not in cur.strategy.metrics()
    cur.observe(Outcomes([10, 20], rewards=[[1, 0, 1, 1], [0, 0, 0, 0]]))
    X, y = cur.strategy.model_.fitted[-1]
    assert X[:, 1].tolist() == [10, 20] and y.tolist() == [0.75, 0.0]
    with pytest.raises(ValueError, match="learns from rewards"):  # losses alone: rejected
        cur.observe(Outcomes([30, 40, 50], losses=[1.0, 2.0, 3.0]))
    cur.observe(Outcomes([30, 40], rewards=np.full((2, 2), np.nan), counts=[0, 0]))  # no rewards
    assert len(cur.strategy.model_.fitted) == 1
    cur.observe(Outcomes([99, 0], rewards=[[1.0, 1.0], [1.0, 0.0]]))
    # Echo predicts the feature: 1.0 for item 99 (observed 1.0), 0.0 for item 0 (observed 0.5).
    assert cur.strategy.metrics()["value_mse"] == pytest.approx((0.0 + 0.25) / 2)
    assert cur.strategy.metrics()["observed"] == 4.0


def test_pcl_fixed_rollouts_and_parameter_validation():
    proposal = Curriculum(make_pool(), "pcl", seed=0, rollouts=16).propose(5)
    assert proposal.rollouts.tolist() == [16] * 5
    assert Curriculum(make_pool(), "pcl", seed=0).propose(5).rollouts is None
    for bad in ({"k": 0}, {"tau": 1.5}, {"rollouts": 0}, {"model": object()}):
        with pytest.raises(ValueError):
            PCL(**bad)


def test_pcl_needs_features():
    with pytest.raises(ValueError, match="feature"):
        Curriculum(ItemPool(size=10), "pcl")


def test_pcl_handles_missing_features_with_the_default_model():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(50, 2))
    features[rng.random((50, 2)) < 0.3] = np.nan
    cur = Curriculum(ItemPool(size=50, features=features), "pcl", seed=0)
    for _ in range(5):
        proposal = cur.propose(8)
        cur.observe(Outcomes(proposal.indices, (rng.random((8, 4)) < 0.5).astype(float)))
    assert np.isfinite(cur.strategy.predict(np.arange(50))).all()


def test_pcl_default_model_learns_the_direction_of_difficulty():
    x = np.linspace(-3, 3, 400)
    pool = ItemPool(size=400, features=x)
    cur = Curriculum(pool, "pcl", seed=0)
    rng = np.random.default_rng(0)
    for _ in range(10):
        idx = cur.propose(32).indices
        p = 1 / (1 + np.exp(2 * x[idx]))
        cur.observe(Outcomes(idx, (rng.random((32, 16)) < p[:, None]).astype(float)))
    chosen = cur.propose(32).indices
    assert np.abs(x[chosen]).mean() < 0.6  # best of 128 candidates: ~0.38; uniform: 1.5
    predicted = cur.strategy.predict([0, 399])
    assert predicted[0] == 1.0 and predicted[1] == 0.0  # clipped to [0, 1]


def test_pcl_with_a_model_without_state_warns_and_restarts_on_resume(tmp_path):
    cur = Curriculum(make_pool(), "pcl", seed=0, model=Echo())
    cur.observe(Outcomes([1, 2], rewards=[1.0, 0.0]))
    with pytest.warns(UserWarning, match="not saved"):
        state = cur.state_dict()
    fresh = Curriculum(make_pool(), "pcl", seed=0, model=Echo())
    fresh.load_state_dict(state)
    assert fresh.strategy.metrics()["observed"] == 0.0
    assert fresh.strategy.predict([0, 99]).tolist() == [0.5, 0.5]


def test_pcl_with_scikit_learn_sgd_regressor():
    pytest.importorskip("sklearn")
    from sklearn.linear_model import SGDRegressor

    template = SGDRegressor(random_state=0)
    cur = Curriculum(make_pool(), "pcl", seed=0, model=template)
    for _ in range(3):
        proposal = cur.propose(10)
        cur.observe(Outcomes(proposal.indices, np.full(10, 0.5)))
    assert not hasattr(template, "coef_")  # the template was copied, not trained
    assert cur.strategy.model_.coef_.shape == (2,)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        cur.state_dict()


def test_pcl_state_round_trips_through_save_state(tmp_path):
    rng = np.random.default_rng(2)
    cur = Curriculum(make_pool(), "pcl", seed=1)
    for _ in range(4):
        proposal = cur.propose(9)
        cur.observe(Outcomes(proposal.indices, rng.random((9, 4))))
    save_state(tmp_path / "pcl.npz", cur.state_dict())
    fresh = Curriculum(make_pool(), "pcl", seed=99)
    fresh.load_state_dict(load_state(tmp_path / "pcl.npz"))
    assert fresh.metrics() == cur.metrics()
    np.testing.assert_array_equal(
        fresh.strategy.predict(np.arange(100)), cur.strategy.predict(np.arange(100))
    )
    assert fresh.propose(9).indices.tolist() == cur.propose(9).indices.tolist()


def test_pcl_finds_more_mixed_groups_than_uniform_on_the_simulator():
    from stepladder.sim import get_scenario

    world = get_scenario("grpo-math").make_world(0)
    cur = Curriculum(world.pool, "pcl", seed=0)
    everything = np.arange(world.pool.size)
    pcl_rates, pool_rates = [], []
    for _ in range(15):
        proposal = cur.propose(64)
        p = world.learner.p_correct(world.train_items, everything)
        pcl_rates.append(selection_cost(p[proposal.indices])["mixed_rate"])
        pool_rates.append(selection_cost(p)["mixed_rate"])
        outcomes = world.generate(proposal)
        cur.observe(outcomes)
        world.train(outcomes)
    assert np.mean(pcl_rates[5:]) > np.mean(pool_rates[5:]) + 0.05


# ---------------------------------------------------------------- selection_cost


def test_selection_cost_formulas():
    p = np.array([0.0, 0.1, 0.5, 0.9, 1.0])
    cost = selection_cost(p, rollouts=4, band=(0.2, 0.8))
    mixed = 1 - p**4 - (1 - p) ** 4
    assert cost["mixed_rate"] == pytest.approx(mixed.mean())
    assert cost["rollouts_per_mixed"] == pytest.approx(4 / mixed.mean())
    assert cost["intermediate_rate"] == pytest.approx(0.2)
    assert cost["rollouts_per_intermediate"] == pytest.approx(4 / (mixed[2] / 5))
    assert selection_cost([0.0, 1.0])["rollouts_per_mixed"] == float("inf")
    with pytest.raises(ValueError):
        selection_cost([1.5])
    with pytest.raises(ValueError):
        selection_cost([0.5], band=(0.9, 0.1))


def test_pcl_declares_rewards_feedback_and_rejects_a_corrupt_model_state():
    assert PCL.feedback == ("rewards",)
    cur = Curriculum(make_pool(), "pcl", seed=0)
    proposal = cur.propose(8)
    cur.observe(Outcomes(proposal.indices, np.linspace(0, 1, 8)))
    state = cur.strategy.state_dict()
    bad = {**state, "model": {**state["model"], "scatter": np.zeros((2, 2))}}
    with pytest.raises(ValueError, match="scatter"):
        cur.strategy.load_state_dict(bad)
    with pytest.raises(ValueError, match="lacks model"):
        cur.strategy.load_state_dict({k: v for k, v in state.items() if k != "model"})
    assert cur.strategy.metrics()["observed"] == 8.0
    np.testing.assert_array_equal(
        cur.strategy.model_.state_dict()["scatter"], state["model"]["scatter"]
    )
