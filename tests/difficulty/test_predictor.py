import numpy as np
import pyarrow as pa
import pytest

from stepladder.difficulty.predictor import DifficultyPredictor


@pytest.fixture(autouse=True)
def _one_thread():
    """Gradient boosting's OpenMP threads crawl on a busy machine; the data here are tiny."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):
        yield


EASY = ["add", "sum", "cat", "dog", "red", "one", "big", "run", "sit", "top", "car", "sun"]
HARD = [
    "integral",
    "eigenvalue",
    "homomorphism",
    "asymptotic",
    "manifold",
    "topology",
    "differential",
    "isomorphism",
    "convergence",
    "stochastic",
    "martingale",
    "polynomial",
    "combinatorial",
    "diophantine",
]


def word_problems(n, seed):
    """Texts whose difficulty is set by their share of hard words (plus a little length)."""
    rng = np.random.default_rng(seed)
    texts, difficulty = [], []
    for _ in range(n):
        length = int(rng.integers(6, 20))
        share = rng.uniform()
        hard = rng.uniform(size=length) < share
        words = [rng.choice(HARD) if h else rng.choice(EASY) for h in hard]
        texts.append(" ".join(words) + ".")
        difficulty.append(4.0 * hard.mean() + 0.05 * length + rng.normal(scale=0.1))
    return texts, np.array(difficulty)


def linear_items(n, seed, weights=(1.0, -2.0, 0.5, 0.0)):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, len(weights)))
    return X, X @ np.array(weights) + rng.normal(scale=0.2, size=n)


@pytest.mark.parametrize("text_features", ["hashed", "hashed+char"])
def test_held_out_spearman_on_texts(text_features):
    texts, y = word_problems(400, seed=0)
    scores = DifficultyPredictor(text_features=text_features).evaluate(texts=texts, y=y)
    assert scores["spearman"] > 0.8 and scores["pearson"] > 0.8
    assert (scores["n_train"], scores["n_test"]) == (320, 80)
    assert scores["mae"] < 0.5


def test_heuristic_text_features_alone_carry_signal():
    texts, y = word_problems(400, seed=1)
    scores = DifficultyPredictor(text_features="heuristic").evaluate(texts=texts, y=y)
    assert scores["spearman"] > 0.6  # hard words are longer and have more syllables


@pytest.mark.parametrize("model", [None, "ridge", "hgb"])
def test_held_out_spearman_on_numeric_features(model):
    X, y = linear_items(500, seed=0)
    scores = DifficultyPredictor(model=model).evaluate(X, y, seed=3)
    assert scores["spearman"] > 0.8


def test_predicts_unseen_texts():
    texts, y = word_problems(300, seed=2)
    predictor = DifficultyPredictor().fit(y=y, texts=texts)
    unseen = [
        "cat dog sun hat pen cup red box top map",
        "eigenvalue manifold martingale supremum bijection topology integral stochastic",
        "",
    ]
    predicted = predictor.predict(texts=unseen)
    assert predicted.shape == (3,) and np.isfinite(predicted).all()
    assert predicted[1] > predicted[0] + 2.0
    assert predictor.readability_ in {"builtin", "textstat"}


def test_numeric_features_and_texts_together():
    texts, y_text = word_problems(300, seed=4)
    X, y_num = linear_items(300, seed=4)
    y = y_text + y_num
    both = DifficultyPredictor().evaluate(X, y, texts=texts)
    only_text = DifficultyPredictor().evaluate(texts=texts, y=y)
    assert both["spearman"] > 0.8 > only_text["spearman"]
    predictor = DifficultyPredictor().fit(X, y, texts=texts)
    assert predictor.predict(X[:5], texts=texts[:5]).shape == (5,)
    assert predictor.n_inputs_ == 4 and predictor.uses_texts_
    assert predictor.feature_names_[:5] == ["x0", "x1", "x2", "x3", "n_chars"]


def test_arrow_tables_are_matched_by_column_name():
    X, y = linear_items(200, seed=5)
    table = pa.table({"a": X[:, 0], "b": X[:, 1], "c": X[:, 2], "d": X[:, 3]})
    predictor = DifficultyPredictor().fit(table, y)
    reordered = table.select(["d", "c", "b", "a"])
    np.testing.assert_allclose(predictor.predict(reordered), predictor.predict(table))
    np.testing.assert_allclose(
        predictor.predict({k: table[k] for k in "abcd"}), predictor.predict(table)
    )
    with pytest.raises(ValueError, match="no column 'd'"):
        predictor.predict(table.select(["a", "b", "c"]))
    with pytest.raises(ValueError, match="pass a table"):
        predictor.predict(X)
    with pytest.raises(ValueError, match="'s' is not numeric"):
        DifficultyPredictor().fit(pa.table({"s": ["x", "y"]}), [1.0, 2.0])


class CountingModel:
    """A model with only fit and predict: predicts the training mean."""

    def __init__(self):
        self.fit_calls = 0
        self.predict_calls = 0

    def fit(self, X, y):
        self.fit_calls += 1
        self.mean = float(np.mean(y))
        self.n_columns = X.shape[1]
        return self

    def predict(self, X):
        self.predict_calls += 1
        return np.full(X.shape[0], self.mean)


def test_custom_model_is_copied_fitted_and_called():
    template = CountingModel()
    X, y = linear_items(50, seed=6)
    predictor = DifficultyPredictor(model=template).fit(X, y)
    np.testing.assert_allclose(predictor.predict(X[:3]), y.mean())
    fitted = predictor.model_
    assert isinstance(fitted, CountingModel) and fitted is not template
    assert (fitted.fit_calls, fitted.predict_calls, fitted.n_columns) == (1, 1, 4)
    assert template.fit_calls == 0
    scores = predictor.evaluate(X, y)
    assert np.isnan(scores["spearman"])  # constant predictions have no correlation
    assert predictor.model_ is fitted and fitted.fit_calls == 1  # evaluate leaves self alone


def test_sklearn_estimators_are_cloned():
    from sklearn.linear_model import Lasso

    template = Lasso(alpha=0.01)
    X, y = linear_items(100, seed=7)
    predictor = DifficultyPredictor(model=template).fit(X, y)
    assert isinstance(predictor.model_, Lasso) and predictor.model_ is not template
    assert not hasattr(template, "coef_")


def test_partial_fit_learns_online_with_sgd():
    rng = np.random.default_rng(8)
    predictor = DifficultyPredictor(model="sgd")
    for _ in range(30):
        X = rng.normal(size=(40, 2))
        predictor.partial_fit(X, 2 * X[:, 0] - X[:, 1])
    np.testing.assert_allclose(predictor.predict([[1.0, 1.0], [0.0, -1.0]]), [1.0, 1.0], atol=0.1)
    texts, y = word_problems(200, seed=8)
    online = DifficultyPredictor(model="sgd")
    for start in range(0, 200, 50):
        online.partial_fit(y=y[start : start + 50], texts=texts[start : start + 50])
    assert online.predict(texts=texts[:3]).shape == (3,)
    with pytest.raises(TypeError, match="partial_fit"):
        DifficultyPredictor().partial_fit([[1.0]], [1.0])


def test_nan_features_are_refused_by_ridge_and_accepted_by_hgb():
    X, y = linear_items(200, seed=9)
    X[7, 2] = np.nan
    with pytest.raises(ValueError, match=r"X\[7, 2\] is NaN"):
        DifficultyPredictor().fit(X, y)
    predictor = DifficultyPredictor(model="hgb").fit(X, y)
    assert np.isfinite(predictor.predict(X)).all()
    X[3, 0] = np.inf
    with pytest.raises(ValueError, match=r"X\[3, 0\] is infinite"):
        DifficultyPredictor(model="hgb").fit(X, y)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"X": np.zeros((5, 2)), "y": np.zeros(4)}, "X has 5 rows but y has 4"),
        ({"y": np.zeros(3), "texts": ["a", "b"]}, "texts has 2 items but y has 3"),
        ({"X": np.zeros((2, 1)), "y": np.zeros(2), "texts": ["a"]}, "texts has 1 items but X"),
        ({"X": np.zeros((4, 1)), "y": [0.0, 1.0, 2.0, np.nan]}, r"y\[3\] is nan"),
        ({"X": np.zeros((2, 1)), "y": [0.0, np.inf]}, r"y\[1\] is inf"),
        ({"y": np.zeros(3)}, "no features given"),
        ({"X": np.zeros((3, 1))}, "y .* is required"),
        ({"X": np.zeros((2, 1)), "y": ["a", "b"]}, "y must be numeric"),
        ({"X": np.zeros((2, 2, 2)), "y": np.zeros(2)}, "1-D or 2-D"),
        ({"X": np.zeros((2, 0)), "y": np.zeros(2)}, "no columns"),
        ({"y": np.zeros(2), "texts": ["ok", None]}, r"texts\[1\] is missing"),
    ],
)
def test_bad_fit_inputs_raise_value_errors_naming_the_problem(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DifficultyPredictor().fit(**kwargs)


def test_predict_needs_a_fit_and_the_same_inputs():
    with pytest.raises(RuntimeError, match="not fitted"):
        DifficultyPredictor().predict([[1.0]])
    X, y = linear_items(30, seed=10)
    predictor = DifficultyPredictor().fit(X, y)
    with pytest.raises(ValueError, match="was fitted without texts"):
        predictor.predict(X, texts=["a"] * 30)
    with pytest.raises(ValueError, match="3 columns, the fit had 4"):
        predictor.predict(X[:, :3])
    text_only = DifficultyPredictor().fit(y=[0.0, 1.0], texts=["a", "b c"])
    with pytest.raises(ValueError, match="was fitted without X"):
        text_only.predict(X[:2], texts=["a", "b"])
    with pytest.raises(ValueError, match="no features given"):
        text_only.predict()
    both = DifficultyPredictor().fit(X[:2], [0.0, 1.0], texts=["a", "b c"])
    with pytest.raises(ValueError, match="needs texts"):
        both.predict(X[:2])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"text_features": "bag"}, "text_features"),
        ({"n_features": 0}, "n_features"),
        ({"alpha": -1.0}, "alpha"),
        ({"model": "forest"}, "model must be one of"),
        ({"model": object()}, "no fit or predict"),
    ],
)
def test_bad_options_raise_value_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DifficultyPredictor(**kwargs)


def test_hgb_refuses_sparse_hashed_text_features():
    with pytest.raises(ValueError, match="dense features"):
        DifficultyPredictor(model="hgb").fit(y=[0.0, 1.0], texts=["a", "b"])
    predictor = DifficultyPredictor(model="hgb", text_features="heuristic")
    assert predictor.fit(y=np.arange(20.0), texts=["a " * i for i in range(20)]).model_


def test_evaluate_checks_its_split():
    X, y = linear_items(6, seed=11)
    with pytest.raises(ValueError, match="test_size"):
        DifficultyPredictor().evaluate(X, y, test_size=1.5)
    with pytest.raises(ValueError, match="at least 2 train and 2 test"):
        DifficultyPredictor().evaluate(X, y, test_size=0.1)
    with pytest.raises(ValueError, match="texts has 2 items but y has 20"):
        DifficultyPredictor().evaluate(y=np.zeros(20), texts=["a", "b"])
    with pytest.raises(ValueError, match="X has 6 rows but y has 20"):
        DifficultyPredictor().evaluate(X, np.zeros(20))
    predictor = DifficultyPredictor()
    predictor.evaluate(X, y, test_size=0.5)
    assert not hasattr(predictor, "model_")


def test_evaluate_is_reproducible_for_a_seed():
    X, y = linear_items(100, seed=12)
    first = DifficultyPredictor().evaluate(X, y, seed=5)
    assert first == DifficultyPredictor().evaluate(X, y, seed=5)
    assert first != DifficultyPredictor().evaluate(X, y, seed=6)
