"""Artificial-crowd difficulty on scikit-learn's bundled digits with real LogisticRegression."""

import warnings

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

import stepladder
from stepladder.difficulty.crowd import (
    ArtificialCrowd,
    artificial_crowd,
    crowd_difficulty,
    fold_ids,
)


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    x, y = load_digits(return_X_y=True)
    return x / 16.0, y


def _logistic(x: np.ndarray, y: np.ndarray):
    """A fit_predict that trains LogisticRegression for ``budget`` iterations."""

    def fit_predict(train_idx: np.ndarray, predict_idx: np.ndarray, budget: int, seed: int):
        model = LogisticRegression(max_iter=budget, random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(x[train_idx], y[train_idx])
        return model.predict(x[predict_idx]) == y[predict_idx]

    return fit_predict


def test_crowd_difficulty_tracks_the_held_out_loss_of_another_model(digits):
    x, y = digits
    difficulty = crowd_difficulty(
        _logistic(x, y), len(y), folds=5, budgets=(1, 2, 3, 5, 10), repeats=2, seed=0
    )
    assert difficulty.shape == (len(y),) and np.all(np.isfinite(difficulty))
    # The reference: per-item cross-entropy of a separately trained, converged model (another
    # regularisation, another fold split), scored only on items it did not train on.
    loss = np.empty(len(y))
    splits = StratifiedKFold(n_splits=5, shuffle=True, random_state=123).split(x, y)
    for train_idx, test_idx in splits:
        model = LogisticRegression(C=0.1, max_iter=1000).fit(x[train_idx], y[train_idx])
        proba = model.predict_proba(x[test_idx])
        loss[test_idx] = -np.log(proba[np.arange(len(test_idx)), y[test_idx]])
    rho = spearmanr(difficulty, loss).statistic
    assert rho > 0.3


def test_response_matrix_layouts(digits):
    x, y = digits
    n = 200
    fit_predict = _logistic(x[:n], y[:n])
    merged = artificial_crowd(fit_predict, n, folds=4, budgets=(1, 5), repeats=2, seed=3)
    assert isinstance(merged, ArtificialCrowd)
    assert merged.responses.shape == (n, 4) and not np.isnan(merged.responses).any()
    assert [m.budget for m in merged.members] == [1, 5, 1, 5]
    assert np.all(merged.accuracy()[[1, 3]] >= merged.accuracy()[[0, 2]])

    split = artificial_crowd(fit_predict, n, folds=4, budgets=(1, 5), merge_folds=False, seed=3)
    assert split.responses.shape == (n, 8)
    # each item is answered by exactly the members of its own fold: one per budget
    assert np.all((~np.isnan(split.responses)).sum(axis=1) == 2)
    folds = fold_ids(n, 4, seed=3)
    for j, member in enumerate(split.members):
        assert np.array_equal(~np.isnan(split.responses[:, j]), folds == member.fold)
    # the matrix goes straight into stepladder.grade
    items = stepladder.grade(split.responses, "1pl").items
    assert items.num_rows == n and "difficulty" in items.column_names


def test_same_seed_same_crowd_and_disjoint_training(digits):
    x, y = digits
    n = 120
    seen: list[tuple[np.ndarray, np.ndarray]] = []

    def fit_predict(train_idx, predict_idx, budget, seed):
        seen.append((train_idx, predict_idx))
        return _logistic(x[:n], y[:n])(train_idx, predict_idx, budget, seed)

    first = artificial_crowd(fit_predict, n, folds=3, budgets=(2,), seed=5)
    second = artificial_crowd(fit_predict, n, folds=3, budgets=(2,), seed=5)
    np.testing.assert_array_equal(first.responses, second.responses)
    for train_idx, predict_idx in seen:
        assert not np.intersect1d(train_idx, predict_idx).size
        assert len(train_idx) + len(predict_idx) == n


def test_unanswered_items_have_no_difficulty():
    crowd = ArtificialCrowd(np.array([[1.0, 0.0], [np.nan, np.nan], [0.0, 0.0], [1.0, 1.0]]))
    b = crowd.difficulty()
    assert np.isnan(b[1]) and b[2] > b[0] > b[3]


def test_bad_inputs_are_rejected():
    with pytest.raises(ValueError, match="2 results for 3"):
        artificial_crowd(lambda t, p, b, s: [True, False], 6, folds=2, budgets=(1,))
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        artificial_crowd(lambda t, p, b, s: np.full(len(p), 2.0), 6, folds=2, budgets=(1,))
    with pytest.raises(ValueError, match="folds"):
        fold_ids(5, 1, seed=0)
    with pytest.raises(ValueError, match="budgets"):
        artificial_crowd(lambda t, p, b, s: np.ones(len(p)), 6, folds=2, budgets=())
