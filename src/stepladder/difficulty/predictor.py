"""Amortised difficulty: learn item difficulty from content, predict it for unseen items.

Once some items have a measured difficulty (an IRT ``b``, a pass rate), a regressor from item
content to that target grades new items without any new responses, as in PCL's value model
and amortised IRT evaluation. Needs scikit-learn: ``pip install 'stepladder[grading]'``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, Self

import numpy as np
import pyarrow as pa
from scipy import sparse

from stepladder.difficulty.text import TEXT_FEATURES, _as_text_array, _feature_matrix, text_features

__all__ = ["DifficultyPredictor"]

_TEXT_MODES = ("hashed", "hashed+char", "heuristic")
_MODELS = ("ridge", "hgb", "sgd")


def _sklearn() -> Any:
    try:
        import sklearn
    except ImportError:
        raise ImportError(
            "DifficultyPredictor needs scikit-learn: pip install 'stepladder[grading]'"
        ) from None
    return sklearn


class DifficultyPredictor:
    """Regress a difficulty target on item features and/or texts; predict for new items.

    Inputs: ``X``, numeric features (a NumPy array ``(n,)`` or ``(n, d)``, or an Arrow table or
    mapping of numeric columns, matched by name at predict time), and/or ``texts``. Texts
    become the heuristics of :func:`~stepladder.difficulty.text.text_features` (counts as
    ``log1p``), plus, for ``text_features="hashed"``, word 1- and 2-grams hashed into
    ``n_features`` columns with scikit-learn's ``HashingVectorizer`` (rows L2-normalised), and
    for ``"hashed+char"`` also character 2- to 4-grams within words (another ``n_features``
    columns); ``"heuristic"`` uses the heuristics alone. Dense columns are standardised
    (mean 0, variance 1 on the training items).

    Models (prefer the well-kept library: all are scikit-learn estimators):

    - ``None`` or ``"ridge"`` (default): ``Ridge(alpha=alpha)``, a linear least-squares fit
      with an L2 penalty; fast on the sparse hashed features and on dense ones.
    - ``"hgb"``: ``HistGradientBoostingRegressor``, for non-linear relations in dense
      features (``X`` or ``text_features="heuristic"``); NaN in ``X`` allowed.
    - ``"sgd"``: ``SGDRegressor`` with scikit-learn's defaults, which supports
      :meth:`partial_fit` (online updates as new difficulties arrive).
    - any object with ``fit(X, y)`` and ``predict(X)``: copied (``sklearn.base.clone`` or
      ``copy.deepcopy``) on each fit, so the object passed stays a template; the fitted copy is
      ``model_``.

    Args:
        model: see above.
        text_features: ``"hashed"``, ``"hashed+char"`` or ``"heuristic"``.
        n_features: hashed columns per n-gram kind (a power of two is customary).
        alpha: Ridge's L2 penalty (``"ridge"`` only).
        random_state: seed passed to models that take one.

    After a fit: ``model_`` (the fitted model), ``scaler_`` (the dense columns'
    ``StandardScaler``), ``feature_names_`` (dense column names: ``X``'s, then the text
    heuristics), ``n_inputs_`` (columns of ``X``, or None), ``uses_texts_`` and
    ``readability_`` (the readability backend used, reused at predict time).

    Example:
        >>> import numpy as np, pytest
        >>> _ = pytest.importorskip("sklearn")  # needs stepladder[grading]
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(200, 3))
        >>> y = X @ [1.0, -2.0, 0.5] + rng.normal(scale=0.1, size=200)
        >>> scores = DifficultyPredictor().evaluate(X, y)
        >>> scores["spearman"] > 0.95, scores["n_train"], scores["n_test"]
        (True, 160, 40)
        >>> texts = ["add two numbers", "prove the theorem rigorously"] * 20
        >>> p = DifficultyPredictor().fit(y=[0.0, 2.0] * 20, texts=texts)
        >>> p.predict(texts=["prove the lemma rigorously"]).round(1).tolist()
        [1.5]
    """

    def __init__(
        self,
        *,
        model: Any = None,
        text_features: str = "hashed",
        n_features: int = 2**18,
        alpha: float = 1.0,
        random_state: int | None = 0,
    ) -> None:
        if text_features not in _TEXT_MODES:
            raise ValueError(f"text_features must be one of {_TEXT_MODES}, got {text_features!r}")
        if isinstance(n_features, bool) or not isinstance(n_features, int) or n_features < 1:
            raise ValueError(f"n_features must be a positive integer, got {n_features!r}")
        if not (isinstance(alpha, int | float) and np.isfinite(alpha) and alpha >= 0):
            raise ValueError(f"alpha must be a finite number >= 0, got {alpha!r}")
        if isinstance(model, str) and model not in _MODELS:
            raise ValueError(f"model must be one of {_MODELS}, an estimator or None, got {model!r}")
        if model is not None and not isinstance(model, str):
            missing = [m for m in ("fit", "predict") if not callable(getattr(model, m, None))]
            if missing:
                raise ValueError(f"model {model!r} has no {' or '.join(missing)} method")
        self.model = model
        self.text_features = text_features
        self.n_features = n_features
        self.alpha = float(alpha)
        self.random_state = random_state

    def __repr__(self) -> str:
        name = self.model if isinstance(self.model, str | None) else type(self.model).__name__
        return f"DifficultyPredictor(model={name!r}, text_features={self.text_features!r})"

    # ---------------------------------------------------------------- fitting and prediction

    def fit(self, X: Any = None, y: Any = None, *, texts: Any = None) -> Self:
        """Fit the model to the difficulty targets ``y`` (one per item); returns ``self``.

        Example:
            >>> import pytest; _ = pytest.importorskip("sklearn")
            >>> p = DifficultyPredictor().fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])
            >>> p.n_inputs_, p.uses_texts_
            (1, False)
        """
        target = _target(y)
        dense, text_array, names = self._inputs(X, texts, len(target), fitting=True)
        self.model_ = self._new_model()
        self._check_model_input(dense)
        scaler = self._new_scaler()
        self.scaler_ = scaler.fit(dense) if dense.shape[1] else None
        design = self._design(dense, text_array)
        self.model_.fit(design, target)
        self.feature_names_ = names
        return self

    def partial_fit(self, X: Any = None, y: Any = None, *, texts: Any = None) -> Self:
        """Update an online model (``model="sgd"`` or any with ``partial_fit``) on new items.

        The first call fixes which inputs are used. The standardisation of dense columns is
        updated with each batch too, so early batches weigh slightly differently.

        Example:
            >>> import numpy as np, pytest; _ = pytest.importorskip("sklearn")
            >>> rng = np.random.default_rng(0)
            >>> p = DifficultyPredictor(model="sgd")
            >>> for _ in range(50):
            ...     X = rng.normal(size=(50, 2))
            ...     p = p.partial_fit(X, 2 * X[:, 0] - X[:, 1])
            >>> p.predict([[1.0, 0.0]]).round(1).tolist()
            [2.0]
        """
        target = _target(y)
        first = not hasattr(self, "model_")
        dense, text_array, names = self._inputs(X, texts, len(target), fitting=first)
        if first:
            model = self._new_model()
            if not callable(getattr(model, "partial_fit", None)):
                raise TypeError(
                    f"{type(model).__name__} has no partial_fit: use model='sgd' or fit()"
                )
            self.model_ = model
            self.scaler_ = self._new_scaler() if dense.shape[1] else None
            self.feature_names_ = names
        self._check_model_input(dense)
        if self.scaler_ is not None:
            self.scaler_.partial_fit(dense)
        self.model_.partial_fit(self._design(dense, text_array), target)
        return self

    def predict(self, X: Any = None, *, texts: Any = None) -> np.ndarray:
        """Predicted difficulty of each item, from the same kinds of input as at fit.

        Example:
            >>> import pytest; _ = pytest.importorskip("sklearn")
            >>> p = DifficultyPredictor(alpha=0.01).fit([[0.0], [1.0], [2.0]], [0.0, 1.0, 2.0])
            >>> p.predict([[3.0]]).round(1).tolist()
            [3.0]
        """
        if not hasattr(self, "model_"):
            raise RuntimeError("DifficultyPredictor is not fitted yet: call fit(X, y)")
        dense, text_array, _ = self._inputs(X, texts, None, fitting=False)
        self._check_model_input(dense)
        prediction = self.model_.predict(self._design(dense, text_array))
        return np.asarray(prediction, dtype=np.float64).reshape(-1)

    def evaluate(
        self,
        X: Any = None,
        y: Any = None,
        *,
        texts: Any = None,
        test_size: float = 0.2,
        seed: int = 0,
    ) -> dict[str, float | int]:
        """Held-out accuracy: fit a fresh copy on a random split, score the held-out items.

        Returns ``pearson`` and ``spearman`` correlations between predicted and true targets on
        the test items (NaN when either side is constant), ``mae`` and ``rmse``, ``n_train``
        and ``n_test``. ``self`` is left unchanged.

        Example:
            >>> import numpy as np, pytest; _ = pytest.importorskip("sklearn")
            >>> X = np.arange(50.0)[:, None]
            >>> scores = DifficultyPredictor().evaluate(X, 3 * X[:, 0], test_size=0.2)
            >>> scores["pearson"] > 0.99, scores["n_test"]
            (True, 10)
        """
        target = _target(y)
        n = len(target)
        if not 0.0 < test_size < 1.0:
            raise ValueError(f"test_size must lie strictly between 0 and 1, got {test_size}")
        n_test = round(test_size * n)
        if n_test < 2 or n - n_test < 2:
            raise ValueError(
                f"evaluate needs at least 2 train and 2 test items, got {n} items with "
                f"test_size={test_size}"
            )
        dense_X = None if X is None else _rows(X, np.arange(n), n, "X")
        text_array = None if texts is None else _as_text_array(texts)
        if text_array is not None and len(text_array) != n:
            raise ValueError(f"texts has {len(text_array)} items but y has {n}")
        order = np.random.default_rng(seed).permutation(n)
        test, train = np.sort(order[:n_test]), np.sort(order[n_test:])

        def part(rows: np.ndarray) -> tuple[Any, Any]:
            x = None if dense_X is None else _rows(dense_X, rows, n, "X")
            t = None if text_array is None else text_array.take(pa.array(rows))
            return x, t

        fresh = DifficultyPredictor(
            model=self.model,
            text_features=self.text_features,
            n_features=self.n_features,
            alpha=self.alpha,
            random_state=self.random_state,
        )
        x_train, t_train = part(train)
        x_test, t_test = part(test)
        fresh.fit(x_train, target[train], texts=t_train)
        predicted = fresh.predict(x_test, texts=t_test)
        truth = target[test]
        error = predicted - truth
        from scipy.stats import pearsonr, spearmanr  # lazily: scipy.stats is slow to import

        constant = np.ptp(predicted) == 0 or np.ptp(truth) == 0
        return {
            "pearson": np.nan if constant else float(pearsonr(predicted, truth)[0]),
            "spearman": np.nan if constant else float(spearmanr(predicted, truth)[0]),
            "mae": float(np.mean(np.abs(error))),
            "rmse": float(np.sqrt(np.mean(error**2))),
            "n_train": int(train.size),
            "n_test": int(test.size),
        }

    # ------------------------------------------------------------------------------ internals

    def _new_model(self) -> Any:
        _sklearn()
        if self.model is None or self.model == "ridge":
            from sklearn.linear_model import Ridge

            return Ridge(alpha=self.alpha, random_state=self.random_state)
        if self.model == "hgb":
            from sklearn.ensemble import HistGradientBoostingRegressor

            return HistGradientBoostingRegressor(random_state=self.random_state)
        if self.model == "sgd":
            from sklearn.linear_model import SGDRegressor

            return SGDRegressor(random_state=self.random_state)
        if callable(getattr(self.model, "get_params", None)):
            from sklearn.base import clone

            return clone(self.model)
        return copy.deepcopy(self.model)

    @staticmethod
    def _new_scaler() -> Any:
        from sklearn.preprocessing import StandardScaler

        return StandardScaler()

    def _inputs(
        self, X: Any, texts: Any, n: int | None, *, fitting: bool
    ) -> tuple[np.ndarray, pa.Array | None, list[str]]:
        """Dense numeric block (X columns, then text heuristics), the texts, column names."""
        if X is None and texts is None:
            raise ValueError("no features given: pass X (numeric features), texts, or both")
        if not fitting:
            if (X is None) != (self.n_inputs_ is None):
                need = "needs X" if self.n_inputs_ is not None else "was fitted without X"
                raise ValueError(f"the predictor {need}: pass the same inputs as at fit")
            if (texts is None) == self.uses_texts_:
                need = "needs texts" if self.uses_texts_ else "was fitted without texts"
                raise ValueError(f"the predictor {need}: pass the same inputs as at fit")
        names: list[str] = []
        blocks: list[np.ndarray] = []
        rows, source = n, "y"
        if X is not None:
            columns = None if fitting else self.x_columns_
            matrix, x_names = _numeric(X, columns)
            if rows is not None and matrix.shape[0] != rows:
                raise ValueError(f"X has {matrix.shape[0]} rows but y has {rows} items")
            if not fitting and matrix.shape[1] != self.n_inputs_:
                raise ValueError(f"X has {matrix.shape[1]} columns, the fit had {self.n_inputs_}")
            rows, source = matrix.shape[0], "X"
            blocks.append(matrix)
            names += x_names
        text_array = None
        if texts is not None:
            text_array = _as_text_array(texts)
            if rows is not None and len(text_array) != rows:
                raise ValueError(f"texts has {len(text_array)} items but {source} has {rows}")
            rows = len(text_array)
            readability = "auto" if fitting else self.readability_
            table = text_features(text_array, readability=readability)
            blocks.append(_feature_matrix(table))
            names += list(TEXT_FEATURES)
            if fitting:
                self.readability_ = table.schema.metadata[b"readability"].decode()
        if fitting:
            self.n_inputs_ = None if X is None else blocks[0].shape[1]
            self.x_columns_ = None if X is None else _column_names(X)
            self.uses_texts_ = texts is not None
        assert rows is not None
        dense = np.hstack(blocks) if blocks else np.zeros((rows, 0))
        return dense, text_array, names

    def _check_model_input(self, dense: np.ndarray) -> None:
        hashed = self.uses_texts_ and self.text_features != "heuristic"
        if self.model == "hgb" and hashed:
            raise ValueError(
                "model='hgb' needs dense features: use text_features='heuristic' or pass X only"
            )
        if np.isinf(dense).any():
            row, col = np.argwhere(np.isinf(dense))[0]
            raise ValueError(f"X[{row}, {col}] is infinite")
        nan_ok = self.model == "hgb" or not isinstance(self.model, str | None)
        if not nan_ok and np.isnan(dense).any():
            row, col = np.argwhere(np.isnan(dense))[0]
            raise ValueError(
                f"X[{row}, {col}] is NaN: impute it, or use model='hgb', which accepts NaN"
            )

    def _design(self, dense: np.ndarray, texts: pa.Array | None) -> Any:
        """Standardised dense block, then hashed n-grams (sparse) when configured."""
        scaled = self.scaler_.transform(dense) if self.scaler_ is not None else dense
        if texts is None or self.text_features == "heuristic":
            return scaled
        from sklearn.feature_extraction.text import HashingVectorizer

        documents = texts.to_pylist()
        word = HashingVectorizer(
            n_features=self.n_features, ngram_range=(1, 2), token_pattern=r"(?u)\b\w+\b"
        )
        blocks = [sparse.csr_matrix(scaled), word.transform(documents)]
        if self.text_features == "hashed+char":
            char = HashingVectorizer(
                n_features=self.n_features, analyzer="char_wb", ngram_range=(2, 4)
            )
            blocks.append(char.transform(documents))
        return sparse.hstack(blocks, format="csr")


def _target(y: Any) -> np.ndarray:
    if y is None:
        raise ValueError("y (the difficulty target, one per item) is required")
    if isinstance(y, pa.ChunkedArray | pa.Array):
        y = y.to_numpy(zero_copy_only=False)
    try:
        target = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"y must be numeric: {error}") from None
    if target.ndim != 1:
        raise ValueError(f"y must be 1-D, got shape {target.shape}")
    if target.size == 0:
        raise ValueError("y is empty: need at least one item with a difficulty")
    bad = ~np.isfinite(target)
    if bad.any():
        row = int(np.argmax(bad))
        raise ValueError(
            f"y[{row}] is {target[row]}: drop items without a finite difficulty before fitting"
        )
    return target


def _column_names(X: Any) -> list[str] | None:
    if isinstance(X, pa.Table):
        return list(X.column_names)
    if isinstance(X, Mapping):
        return [str(k) for k in X]
    return None


def _numeric(X: Any, columns: list[str] | None) -> tuple[np.ndarray, list[str]]:
    """``X`` as a float ``(n, d)`` matrix and its column names; tables matched by name."""
    if isinstance(X, Mapping):
        X = pa.table(dict(X))
    if isinstance(X, pa.Table):
        if columns is not None:
            missing = [c for c in columns if c not in X.column_names]
            if missing:
                raise ValueError(f"X has no column {missing[0]!r}; the fit used {columns}")
            X = X.select(columns)
        parts = []
        for name in X.column_names:
            column = X.column(name)
            if not (pa.types.is_integer(column.type) or pa.types.is_floating(column.type)):
                raise ValueError(f"X column {name!r} is not numeric ({column.type})")
            parts.append(column.to_numpy().astype(np.float64))
        if not parts:
            raise ValueError("X has no columns")
        return np.column_stack(parts), list(X.column_names)
    if columns is not None:
        raise ValueError(f"the fit used an X table with columns {columns}: pass a table")
    try:
        matrix = np.asarray(X, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"X must be numeric: {error}") from None
    if matrix.ndim == 1:
        matrix = matrix[:, None]
    if matrix.ndim != 2:
        raise ValueError(f"X must be 1-D or 2-D, got shape {matrix.shape}")
    if matrix.shape[1] == 0:
        raise ValueError("X has no columns")
    return matrix, [f"x{i}" for i in range(matrix.shape[1])]


def _rows(X: Any, rows: np.ndarray, n: int, name: str) -> Any:
    """Rows of ``X`` (array, table or mapping), checking that it has ``n`` rows."""
    if isinstance(X, Mapping):
        X = pa.table(dict(X))
    if isinstance(X, pa.Table):
        if X.num_rows != n:
            raise ValueError(f"{name} has {X.num_rows} rows but y has {n}")
        return X.take(pa.array(rows))
    matrix = np.asarray(X)
    if matrix.shape[:1] != (n,):
        raise ValueError(f"{name} has {matrix.shape[0] if matrix.ndim else 0} rows but y has {n}")
    return matrix[rows]
