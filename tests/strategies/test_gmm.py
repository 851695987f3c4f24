"""The Gaussian mixture fits, NumPy and compiled, against scikit-learn's GaussianMixture."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from stepladder.strategies._gmm import (
    _seeding_draws,
    best_mixture,
    compiled_fits,
    fit_mixture,
    fit_mixtures,
    kmeans_labels,
)

_HAS_NUMBA = compiled_fits("auto") is not None
#: every fit test runs on both engines (the compiled one where numba is installed)
ENGINES = ["numpy", pytest.param("numba", marks=pytest.mark.skipif(not _HAS_NUMBA, reason="numba"))]


def _alp_like(seed: int, n: int = 250) -> np.ndarray:
    """Points like ALP-GMM's: task parameters in [0, 1]^2 and an ALP with progress on the left."""
    rng = np.random.default_rng(seed)
    tasks = rng.random((n, 2))
    alps = np.where(tasks[:, 0] < 0.3, rng.random(n), 0.0) * rng.random(n)
    return np.column_stack([tasks, alps])


def _sklearn_fit(x: np.ndarray, k: int, seed: int):
    mixture = pytest.importorskip("sklearn.mixture")
    from sklearn.exceptions import ConvergenceWarning

    model = mixture.GaussianMixture(k, covariance_type="full", random_state=seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return model.fit(x)


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_fits_match_scikit_learn_and_pick_the_same_k(seed: int, engine: str) -> None:
    x = _alp_like(seed)
    ours, theirs = [], []
    for k in range(2, 11):
        fit = fit_mixture(x, k, seed=100 * seed + k, engine=engine)
        reference = _sklearn_fit(x, k, 100 * seed + k)
        assert fit.iterations == reference.n_iter_ and fit.converged == reference.converged_
        assert fit.log_likelihood == pytest.approx(reference.score(x), abs=1e-9)
        np.testing.assert_allclose(fit.weights, reference.weights_, atol=1e-9)
        np.testing.assert_allclose(fit.means, reference.means_, atol=1e-9)
        np.testing.assert_allclose(fit.covariances, reference.covariances_, atol=1e-9)
        assert fit.aic() == pytest.approx(reference.aic(x), abs=1e-6)
        assert fit.bic() == pytest.approx(reference.bic(x), abs=1e-6)
        ours.append(fit.aic())
        theirs.append(reference.aic(x))
    assert np.argmin(ours) == np.argmin(theirs)


def _kmeans(x: np.ndarray, k: int, seed: int, engine: str) -> np.ndarray:
    """Labels of the NumPy path's k-means (:func:`kmeans_labels`) or the compiled one."""
    if engine == "numpy":
        return kmeans_labels(x, k, np.random.RandomState(seed))
    centred = np.ascontiguousarray((x - x.mean(axis=0)).T)
    tolerance = np.var(x, axis=0).mean() * 1e-4
    draws = _seeding_draws(k, np.random.RandomState(seed))
    return compiled_fits("numba").kmeans(centred, k, draws, tolerance, 300)


@pytest.mark.parametrize("engine", ENGINES)
def test_kmeans_labels_match_scikit_learn(engine: str) -> None:
    cluster = pytest.importorskip("sklearn.cluster")
    for seed in range(5):
        x = _alp_like(seed)
        for k in (2, 5, 10):
            reference = cluster.KMeans(k, n_init=1, random_state=seed).fit(x).labels_
            np.testing.assert_array_equal(_kmeans(x, k, seed, engine), reference)


@pytest.mark.parametrize("engine", ENGINES)
def test_kmeans_on_duplicate_points_matches_scikit_learn(engine: str) -> None:
    cluster = pytest.importorskip("sklearn.cluster")
    x = np.r_[np.zeros((5, 2)), np.ones((3, 2)), [[0.5, 0.2], [0.5, 0.2]]]  # 3 distinct
    for seed in range(4):
        for k in (2, 3):
            reference = cluster.KMeans(k, n_init=1, random_state=seed).fit(x).labels_
            np.testing.assert_array_equal(_kmeans(x, k, seed, engine), reference)


def test_mixture_counts_parameters_and_scores() -> None:
    x = _alp_like(7)
    fit = fit_mixture(x, 3, seed=0)
    assert fit.parameters == 3 * 6 + 3 * 3 + 2  # covariances, means, weights
    assert fit.samples == 250 and fit.weights.sum() == pytest.approx(1.0)
    assert fit.aic() == pytest.approx(-2 * 250 * fit.log_likelihood + 2 * 29)
    assert fit.bic() == pytest.approx(-2 * 250 * fit.log_likelihood + 29 * np.log(250))
    np.testing.assert_array_equal(fit.means, fit_mixture(x, 3, seed=0).means)  # seeded


@pytest.mark.parametrize("engine", ENGINES)
def test_fit_stops_at_max_iter_unconverged(engine: str) -> None:
    fit = fit_mixture(_alp_like(1), 6, seed=0, max_iter=2, engine=engine)
    assert fit.iterations == 2 and not fit.converged


def _covar_like(seed: int, n: int = 250) -> np.ndarray:
    """Points like Covar-GMM's: task parameters, time and a reward that grows with time."""
    rng = np.random.default_rng(seed)
    tasks, times = rng.random((n, 2)), np.arange(n) / n
    rewards = np.clip(times * (tasks[:, 0] < 0.5) + rng.normal(0, 0.1, n), 0, 1)
    return np.column_stack([tasks, times, rewards])


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("data", [_alp_like, _covar_like])
def test_fits_run_side_by_side_match_scikit_learn(data, engine: str) -> None:
    # all nine candidates in one run (stacked in NumPy), each as scikit-learn fits it alone
    x = data(5)
    seeds = [11 * k + 3 for k in range(2, 11)]
    fits = fit_mixtures(x, range(2, 11), seeds, engine=engine)
    for k, fit in zip(range(2, 11), fits, strict=True):
        reference = _sklearn_fit(x, k, 11 * k + 3)
        assert fit.iterations == reference.n_iter_ and fit.converged == reference.converged_
        assert fit.log_likelihood == pytest.approx(reference.score(x), abs=1e-9)
        np.testing.assert_allclose(fit.weights, reference.weights_, atol=1e-9)
        np.testing.assert_allclose(fit.means, reference.means_, atol=1e-9)
        np.testing.assert_allclose(fit.covariances, reference.covariances_, atol=1e-9)


@pytest.mark.parametrize("engine", ENGINES)
def test_best_mixture_picks_scikit_learns_lowest_aic(engine: str) -> None:
    x = _covar_like(2)
    rng = np.random.default_rng(4)
    seeds = np.random.default_rng(4).integers(0, 2**31 - 1, size=9)  # as best_mixture draws
    scores = [_sklearn_fit(x, k, int(s)).aic(x) for k, s in zip(range(2, 11), seeds, strict=True)]
    best = best_mixture(x, range(2, 11), rng, engine=engine)
    assert len(best.weights) == 2 + int(np.argmin(scores))
    assert best.aic() == pytest.approx(min(scores), abs=1e-6)


@pytest.mark.parametrize("engine", ENGINES)
def test_a_singular_fit_is_skipped_and_the_others_kept(engine: str) -> None:
    # 3 distinct points: a 4-component fit has a covariance of rank 0 plus reg_covar
    # (positive definite), but with reg_covar=0 a cluster of one point is singular
    x = np.r_[np.zeros((5, 2)), np.ones((3, 2)), [[0.5, 0.2], [0.5, 0.9]]]
    fits = fit_mixtures(x, [1, 4], [0, 0], reg_covar=0.0, engine=engine)
    assert fits[0] is not None and fits[1] is None
    np.testing.assert_allclose(fits[0].means, [x.mean(axis=0)])
    with pytest.raises(np.linalg.LinAlgError):
        fit_mixture(x, 4, seed=0, reg_covar=0.0, engine=engine)


def test_e_step_equals_logsumexp_also_far_from_every_component() -> None:
    """Without the shift where totals are ordinary, with it where a point's total underflows:
    both agree with scipy's logsumexp (log density) and its softmax (responsibilities)."""
    from scipy.special import logsumexp

    from stepladder.strategies._gmm import _e_step

    rng = np.random.default_rng(0)
    features = np.vstack([np.ones(6), rng.normal(size=(2, 6))])
    for offset in (0.0, -900.0):  # -900: every term of every point below e^-700
        coefficients = rng.normal(size=(2 * 3, 3)) + np.array([offset, 0.0, 0.0])
        density, resp = _e_step(coefficients, features, 2)
        joint = (coefficients @ features).reshape(2, 3, 6)
        np.testing.assert_allclose(density, logsumexp(joint, axis=1), rtol=1e-13)
        np.testing.assert_allclose(
            resp, np.exp(joint - logsumexp(joint, axis=1)[:, None]), rtol=1e-12
        )


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("data", [_alp_like, _covar_like])
def test_warm_started_fits_match_scikit_learns_warm_start(data, engine: str) -> None:
    # scikit-learn's GaussianMixture(warm_start=True), refitted on 4 windows of new points;
    # before the third, every other count starts afresh (a new estimator, no start here)
    mixture = pytest.importorskip("sklearn.mixture")
    from sklearn.exceptions import ConvergenceWarning

    ks, seeds = range(2, 11), [7 * k + 1 for k in range(2, 11)]

    def estimator(k: int, seed: int):
        return mixture.GaussianMixture(
            k, covariance_type="full", random_state=seed, warm_start=True
        )

    models = [estimator(k, s) for k, s in zip(ks, seeds, strict=True)]
    starts: list = [None] * len(ks)
    for window, seed in enumerate((10, 11, 12, 13)):
        x = data(seed)
        if window == 2:
            starts = [None if c % 2 else start for c, start in enumerate(starts)]
            models = [estimator(k, s) if c % 2 else m for c, (k, s, m) in
                      enumerate(zip(ks, seeds, models, strict=True))]  # fmt: skip
        fits = fit_mixtures(x, ks, seeds, warm_start=starts, engine=engine)
        for fit, model in zip(fits, models, strict=True):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(x)
            assert fit.iterations == model.n_iter_ and fit.converged == model.converged_
            assert fit.lower_bound == pytest.approx(model.lower_bound_, abs=1e-9)
            assert fit.log_likelihood == pytest.approx(model.score(x), abs=1e-9)
            np.testing.assert_allclose(fit.weights, model.weights_, atol=1e-9)
            np.testing.assert_allclose(fit.means, model.means_, atol=1e-9)
            np.testing.assert_allclose(fit.covariances, model.covariances_, atol=1e-9)
        starts = fits


def test_warm_starts_save_and_load_exactly_and_reject_bad_state() -> None:
    from stepladder.strategies._gmm import WarmStarts

    warm = WarmStarts(dimensions=3)
    best = best_mixture(_alp_like(0), range(2, 6), np.random.default_rng(0), warm_start=warm)
    state = warm.state_dict()
    loaded = WarmStarts(dimensions=3)
    loaded.load_state_dict(state)
    assert sorted(loaded.fits) == [2, 3, 4, 5] and best is warm.fits[len(best.weights)]
    for k, fit in warm.fits.items():
        for name in fit.__dataclass_fields__:
            assert np.array_equal(getattr(loaded.fits[k], name), getattr(fit, name)), name
    # the loaded starts refit exactly as the originals
    x, seeds = _alp_like(1), [0] * 4
    ours = fit_mixtures(x, range(2, 6), seeds, warm_start=warm.starts(range(2, 6)))
    again = fit_mixtures(x, range(2, 6), seeds, warm_start=loaded.starts(range(2, 6)))
    for a, b in zip(ours, again, strict=True):
        np.testing.assert_array_equal(a.covariances, b.covariances)
    with pytest.raises(ValueError, match="dimension 2"):
        WarmStarts(dimensions=2).load_state_dict(state)
    with pytest.raises(ValueError, match="distinct"):
        WarmStarts(dimensions=3).load_state_dict({**state, "counts": state["counts"] * 0})
    with pytest.raises(ValueError, match="cannot start the 3-component"):
        fit_mixtures(x, [3], [0], warm_start=[warm.fits[2]])


@pytest.mark.skipif(not _HAS_NUMBA, reason="numba")
def test_compiled_exp_is_within_an_ulp_of_numpys() -> None:
    shifted_exp = compiled_fits("numba")._shifted_exp
    rng = np.random.default_rng(0)
    values = np.r_[-rng.random(20_000) * 700, 0.0, -1e-300, -np.log(2) / 2, -708.0, -800.0]
    top = rng.normal(size=len(values))
    total = np.ones(len(values))
    found = values + top
    expected = np.exp(np.maximum(found - top, -708.0))
    shifted_exp(found, top, total, np.empty(len(values), dtype=np.int64))
    assert (np.abs(found - expected) <= np.spacing(expected)).all()
    np.testing.assert_array_equal(total, 1.0 + found)


@pytest.mark.skipif(not _HAS_NUMBA, reason="numba")
def test_engines_agree_on_points_with_ties_and_empty_clusters() -> None:
    # ALP-like data with many equal ALPs (rewards in eighths) and repeated tasks: the
    # compiled fits take the NumPy path's steps (same iterations, same failures)
    rng = np.random.default_rng(3)
    for trial in range(6):
        tasks = rng.integers(0, 40, 250)
        x = np.column_stack([rng.random((40, 2))[tasks], rng.integers(0, 9, 250) / 8])
        seeds = [trial * 10 + k for k in range(2, 11)]
        numpy_fits = fit_mixtures(x, range(2, 11), seeds, engine="numpy")
        numba_fits = fit_mixtures(x, range(2, 11), seeds, engine="numba")
        for ours, theirs in zip(numba_fits, numpy_fits, strict=True):
            assert (ours is None) == (theirs is None)
            if ours is not None:
                assert ours.iterations == theirs.iterations
                assert ours.log_likelihood == pytest.approx(theirs.log_likelihood, abs=1e-9)
                np.testing.assert_allclose(ours.means, theirs.means, atol=1e-9)
                np.testing.assert_allclose(ours.covariances, theirs.covariances, atol=1e-9)


def test_engine_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    from stepladder.strategies import _engines

    assert compiled_fits("numpy") is None
    with pytest.raises(ValueError, match="engine must be one of auto, numba, numpy, got 'c'"):
        compiled_fits("c")
    monkeypatch.setattr(_engines, "numba_installed", lambda: False)  # as without numba
    assert compiled_fits("auto") is None
    with pytest.raises(ImportError, match=r"pip install 'stepladder\[fast\]'"):
        compiled_fits("numba")


@pytest.mark.parametrize("name", ["alp_gmm", "covar_gmm"])
def test_strategies_fit_on_the_engine_asked_for(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    from stepladder import Curriculum, ItemPool, Outcomes
    from stepladder.strategies import _engines

    pool = ItemPool(size=500, features=np.random.default_rng(0).random((500, 2)))
    with pytest.raises(ValueError, match="engine must be one of auto, numba, numpy"):
        Curriculum(pool, name, engine="fortran")
    means = {}
    for engine in ["numpy", "numba"] if _HAS_NUMBA else ["numpy"]:
        cur = Curriculum(pool, name, seed=1, engine=engine, fit_every=100)
        assert cur.strategy.engine == engine
        rng = np.random.default_rng(2)  # the same rewards on both engines
        for _ in range(3):
            tasks = cur.propose(64).indices
            rewards = (rng.random((64, 4)) < pool.features[tasks, :1]).astype(float)
            cur.observe(Outcomes(tasks, rewards=rewards))
        means[engine] = cur.strategy.means
        assert len(means[engine]) >= 2  # fitted
    if _HAS_NUMBA:
        np.testing.assert_allclose(means["numba"], means["numpy"], atol=1e-9)
    monkeypatch.setattr(_engines, "numba_installed", lambda: False)  # as without numba
    with pytest.raises(ImportError, match="needs numba"):
        Curriculum(pool, name, engine="numba")
