"""Learned (amortised) prompt selection: an online value model predicts pass rates from features.

Rolling a prompt out to learn whether it is of intermediate difficulty costs as much as training
on it. An amortised predictor learns ``V(x) ~ p(x)``, the current learner's pass rate, from item
features and the pass rates already observed, and scores candidate prompts without any
rollouts. This module holds:

- :class:`OnlineRegressor`, the protocol a value model satisfies (``partial_fit``/``predict``);
- :class:`OnlineRidge`, the default model: ridge regression updated from sufficient statistics;
- :class:`PCL` (registered as ``"pcl"``), Prompt Curriculum Learning's selection rule;
- :func:`selection_cost`, the expected rollouts spent per useful prompt for a selection rule.
"""

from __future__ import annotations

import copy
import math
import warnings
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

import numpy as np

from stepladder._checks import in_range, number, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._registry import register
from stepladder.strategies.base import PROMPT_SELECTION_NET, Proposal, Strategy
from stepladder.strategies.baselines import Uniform

__all__ = ["PCL", "OnlineRegressor", "OnlineRidge", "selection_cost"]


@runtime_checkable
class OnlineRegressor(Protocol):
    """What a value model must offer: incremental fitting and prediction.

    ``partial_fit(X, y)`` takes features ``(n, d)`` and targets ``(n,)`` (one call per observed
    batch); ``predict(X)`` returns ``(n,)`` predictions. :class:`OnlineRidge` implements it;
    so do scikit-learn's ``SGDRegressor`` and ``PassiveAggressiveRegressor``.

    Optional: ``state_dict()`` returning nested dicts with string keys, lists, NumPy arrays and
    scalars, and ``load_state_dict(state)``. Only models that offer both are checkpointed by
    the strategies that hold them; any other model starts from scratch after a resume.

    Example:
        >>> isinstance(OnlineRidge(), OnlineRegressor)
        True
    """

    def partial_fit(self, X: Any, y: Any) -> Any: ...

    def predict(self, X: Any) -> np.ndarray: ...


class OnlineRidge:
    """Ridge regression with an intercept, updated batch by batch from sufficient statistics.

    The model keeps, for the joint vector ``z = [x, y]``, the total sample weight ``W``, the
    weighted mean ``m`` and the centred scatter matrix ``S = sum_i w_i (z_i - m)(z_i - m)^T``.
    A new batch (weight ``W_b``, mean ``m_b``, scatter ``S_b``) is merged exactly (the
    parallel-variance update of Chan, Golub and LeVeque):

        W' = lambda W + W_b,   delta = m_b - m,   m' = m + delta W_b / W',
        S' = lambda S + S_b + delta delta^T (lambda W) W_b / W'

    where ``lambda = forgetting`` discounts all earlier batches once per call (recursive least
    squares with exponential forgetting; ``1`` keeps everything). With ``s_j`` the standard
    deviation of feature ``j`` (``sqrt(S_jj / W)``; 1 for constant features or with
    ``standardize=False``), the coefficients solve the ridge normal equations on standardised
    features, with the intercept unpenalised:

        (D^-1 S_xx D^-1 + alpha I) beta_s = D^-1 S_xy,   coef = D^-1 beta_s,
        intercept = m_y - m_x . coef,                    D = diag(s)

    which is exactly the batch ridge solution (``StandardScaler`` + ``Ridge(alpha)``) on all
    the data seen, each sample weighted by ``lambda`` to the number of later calls. The
    solve costs ``O(d^3)`` once after each update; an update costs ``O(n d^2)``.

    Missing features (NaN) are replaced by the running mean of their column (the batch's own
    mean on the first call, 0 for a column that has never been observed), so they contribute
    nothing after standardisation. An empty batch, or one of zero total weight, changes
    nothing, not even the forgetting.

    Args:
        alpha: L2 penalty on the standardised coefficients (``>= 0``).
        forgetting: factor ``lambda`` in ``(0, 1]`` applied to earlier data at each
            :meth:`partial_fit` call.
        standardize: scale features to unit variance before penalising (as above).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(300, 2))
        >>> y = 0.5 + X @ [0.2, -0.1]
        >>> model = OnlineRidge(alpha=1e-9)
        >>> for rows in np.array_split(np.arange(300), 6):  # six batches, one at a time
        ...     _ = model.partial_fit(X[rows], y[rows])
        >>> model.coef_.round(6).tolist(), round(model.intercept_, 6)
        ([0.2, -0.1], 0.5)
        >>> model.predict([[1.0, 1.0]]).round(6).tolist()
        [0.6]
    """

    def __init__(
        self, *, alpha: float = 1.0, forgetting: float = 1.0, standardize: bool = True
    ) -> None:
        self.alpha = number("alpha", alpha, low=0.0)
        self.forgetting = number("forgetting", forgetting, low=0.0, high=1.0, open_low=True)
        self.standardize = bool(standardize)
        self._weight = 0.0
        self._mean: np.ndarray | None = None  # (d + 1,): feature means, then the target mean
        self._scatter: np.ndarray | None = None  # (d + 1, d + 1) centred cross-products
        self._solution: tuple[np.ndarray, float] | None = None

    def __repr__(self) -> str:
        return (
            f"OnlineRidge(alpha={self.alpha!r}, forgetting={self.forgetting!r}, "
            f"standardize={self.standardize!r})"
        )

    @property
    def n_features_in_(self) -> int | None:
        """Number of features, fixed by the first non-empty batch (None before)."""
        return None if self._mean is None else len(self._mean) - 1

    @property
    def weight_(self) -> float:
        """Effective number of samples (total weight after forgetting)."""
        return self._weight

    @property
    def coef_(self) -> np.ndarray:
        """Coefficients on the original (unstandardised) features."""
        return self._solve()[0].copy()

    @property
    def intercept_(self) -> float:
        return self._solve()[1]

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        """Merge one batch into the sufficient statistics."""
        X = _features(X)
        y = np.asarray(y, dtype=np.float64).reshape(-1)
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} rows but y has {len(y)} values")
        if not np.isfinite(y).all():
            raise ValueError("y must be finite")
        weights = np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, float)
        if weights.shape != y.shape or not (np.isfinite(weights).all() and (weights >= 0).all()):
            raise ValueError("sample_weight must hold one finite weight >= 0 per row")
        batch_weight = float(weights.sum())
        if len(y) == 0 or batch_weight <= 0.0:
            return self
        if self._mean is not None and X.shape[1] != len(self._mean) - 1:
            raise ValueError(
                f"X has {X.shape[1]} features, the model was fitted on {len(self._mean) - 1}"
            )
        joint = np.column_stack([self._impute(X, weights), y])
        batch_mean = weights @ joint / batch_weight
        centred = joint - batch_mean
        batch_scatter = (centred * weights[:, None]).T @ centred
        if self._mean is None or self._scatter is None:
            self._weight, self._mean, self._scatter = batch_weight, batch_mean, batch_scatter
        else:
            old_weight = self._weight * self.forgetting
            total = old_weight + batch_weight
            delta = batch_mean - self._mean
            self._mean = self._mean + delta * (batch_weight / total)
            self._scatter = (
                self._scatter * self.forgetting
                + batch_scatter
                + np.outer(delta, delta) * (old_weight * batch_weight / total)
            )
            self._weight = total
        self._solution = None
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predictions ``X . coef + intercept`` (NaN features count as the running mean)."""
        coef, intercept = self._solve()
        X = _features(X)
        if X.shape[1] != len(coef):
            raise ValueError(f"X has {X.shape[1]} features, the model was fitted on {len(coef)}")
        return self._impute(X, None) @ coef + intercept

    def state_dict(self) -> dict[str, Any]:
        """The sufficient statistics (parameters are not state)."""
        return {"weight": self._weight, "mean": self._mean, "scatter": self._scatter}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict`'s statistics; checks them all before assigning any."""
        weight = number("OnlineRidge weight", state["weight"], low=0.0)
        mean, scatter = state["mean"], state["scatter"]
        if (mean is None) != (scatter is None):
            raise ValueError("OnlineRidge state must hold both mean and scatter, or neither")
        if mean is not None:
            mean = np.array(mean, dtype=np.float64).reshape(-1)
            scatter = np.array(scatter, dtype=np.float64)
            if scatter.shape != (len(mean), len(mean)) or len(mean) < 2:
                raise ValueError(
                    f"OnlineRidge state: mean of shape {mean.shape} and scatter of shape "
                    f"{scatter.shape} do not describe d features and a target"
                )
            if not (np.isfinite(mean).all() and np.isfinite(scatter).all()):
                raise ValueError("OnlineRidge state must be finite")
        self._weight, self._mean, self._scatter = weight, mean, scatter
        self._solution = None

    def _impute(self, X: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
        missing = np.isnan(X)
        if not missing.any():
            return X
        if self._mean is not None:
            fill = self._mean[:-1]
        else:  # first batch: the batch's own weighted column means
            present = ~missing
            w = np.ones(len(X)) if weights is None else weights
            totals = (np.where(present, X, 0.0) * w[:, None]).sum(axis=0)
            counts = (present * w[:, None]).sum(axis=0)
            fill = np.divide(totals, counts, out=np.zeros(X.shape[1]), where=counts > 0)
        return np.where(missing, fill, X)

    def _solve(self) -> tuple[np.ndarray, float]:
        if self._mean is None or self._scatter is None:
            raise ValueError("OnlineRidge has seen no data yet: call partial_fit first")
        if self._solution is None:
            d = len(self._mean) - 1
            sxx, sxy = self._scatter[:d, :d], self._scatter[:d, d]
            scale = np.ones(d)
            if self.standardize:
                variance = np.clip(np.diag(sxx) / self._weight, 0.0, None)
                constant = variance <= 1e-12 * (1.0 + self._mean[:d] ** 2)
                scale = np.where(constant, 1.0, np.sqrt(variance))
            lhs = sxx / np.outer(scale, scale) + self.alpha * np.eye(d)
            rhs = sxy / scale
            try:
                beta = np.linalg.solve(lhs, rhs)
            except np.linalg.LinAlgError:  # alpha = 0 with collinear features
                beta = np.linalg.lstsq(lhs, rhs, rcond=None)[0]
            coef = beta / scale
            self._solution = (coef, float(self._mean[d] - self._mean[:d] @ coef))
        return self._solution


def _features(X: Any) -> np.ndarray:
    array = np.asarray(X, dtype=np.float64)
    if array.ndim == 1:
        array = array[:, None]
    if array.ndim != 2:
        raise ValueError(f"X must have shape (n,) or (n, d), got {array.shape}")
    if np.isinf(array).any():
        raise ValueError("X must not contain infinity (NaN marks a missing feature)")
    return array


@register("pcl")
class PCL(Strategy):
    """Prompt Curriculum Learning: pick prompts whose predicted pass rate is closest to ``tau``.

    Simplified: the value model is a small online regressor on ``pool.features``, where the
    paper trains an LLM value head on the prompts.

    From "Prompt Curriculum Learning for Efficient LLM Post-Training" (Gao et al., 2025). A
    value model ``V(x)`` predicts the current learner's pass rate from the pool's features.
    Each ``propose(n)``:

    1. draws ``k * n`` candidates uniformly (without replacement within an epoch, through
       the ``uniform`` strategy),
    2. scores them, ``v = clip(V(x), 0, 1)``, with no rollouts,
    3. keeps the ``n`` with the smallest ``|v - tau|`` (ties keep the uniform order).

    ``observe`` trains ``V`` by one ``partial_fit`` on the observed pass rates of the batch
    (mean reward per item; items without rewards are skipped): the paper's MSE objective.
    Before ``V`` has seen any pass rate every prediction is 0.5, so the first batch is
    uniform. The paper uses ``k = 4``, ``tau = 0.5`` and 16 rollouts per prompt, and an
    LLM as ``V``; here ``V`` is any :class:`OnlineRegressor` on ``pool.features``.

    Args:
        k: candidates scored per proposed prompt (``k = 1`` is uniform sampling).
        tau: target pass rate.
        model: the value model: None for ``OnlineRidge(alpha=1.0, forgetting=0.95)`` (old
            pass rates fade, as the learner they describe changes), or any object with
            ``partial_fit(X, y)`` and ``predict(X)``, copied at ``bind`` so the object passed
            stays a template. Its learned state is checkpointed only if it has
            ``state_dict``/``load_state_dict`` (see :class:`OnlineRegressor`). The model must
            accept NaN features if the pool has any (``OnlineRidge`` does).
        rollouts: rollouts per proposed prompt (the paper's 16), or None to leave the group
            size to the trainer.

    Metrics: ``value_mse``, the mean squared error of ``V`` on the last observed batch,
    measured before training on it; ``chosen_gap``, the mean ``|v - tau|`` of the last
    proposal; ``observed``, the number of pass rates ``V`` was trained on.

    Needs ``pool.features``: a pool without them raises ``ValueError``.

    A step costs O(k * batch) whatever the pool size (candidates come from ``uniform``'s keyed
    permutation and only they are scored); a checkpoint holds the value model's statistics
    and a few numbers.

    Example:
        >>> from stepladder import Curriculum, ItemPool, Outcomes
        >>> x = np.linspace(-3, 3, 200)
        >>> pool = ItemPool(size=200, features=x)          # one feature; pass rate falls with x
        >>> cur = Curriculum(pool, "pcl", seed=0, uniform_mix=0)  # the method alone: no net
        >>> first = cur.propose(20)                         # nothing learned: uniform
        >>> cur.observe(Outcomes(first.indices, 1 / (1 + np.exp(x[first.indices]))))
        >>> cur.strategy.predict([0, 100, 199]).round(1).tolist()  # V at x = -3, 0, 3
        [1.0, 0.5, 0.0]
        >>> chosen = cur.propose(20).indices                # 20 of 80 candidates, nearest p = 0.5
        >>> bool(np.abs(x[chosen]).max() < 1.0)
        True
    """

    default_safety_net = PROMPT_SELECTION_NET

    feedback: ClassVar[tuple[str, ...]] = ("rewards",)
    # The value model is saved by state_dict below: only models with a state_dict can be.
    learned: ClassVar[tuple[str, ...]] = ("_candidates", "_observed", "_value_mse", "_chosen_gap")

    def __init__(
        self, *, k: int = 4, tau: float = 0.5, model: Any = None, rollouts: int | None = None
    ) -> None:
        self.k = positive_int("k", k)
        self.tau = in_range("tau", tau, 0.0, 1.0)
        if model is not None:
            missing = [
                m for m in ("partial_fit", "predict") if not callable(getattr(model, m, None))
            ]
            if missing:
                raise ValueError(f"model {model!r} has no {' or '.join(missing)} method")
        self.model = model
        self.rollouts = None if rollouts is None else positive_int("rollouts", rollouts)

    def _setup(self) -> None:
        features = self.pool.features
        if features is None:
            raise ValueError(
                "strategy 'pcl' needs item features for its value model: "
                "build the pool with ItemPool(..., features=...)"
            )
        self._X = features.reshape(self.pool.size, -1)
        self.model_ = self._new_model()
        self._candidates = Uniform()
        self._candidates.bind(self.pool, self.stats, self.rng)
        self._observed = 0
        self._value_mse = math.nan  # NaN until measured
        self._chosen_gap = math.nan

    def _new_model(self) -> Any:
        """An untrained value model: the default, or a copy of the template passed."""
        if self.model is None:
            return OnlineRidge(alpha=1.0, forgetting=0.95)
        return copy.deepcopy(self.model)

    def predict(self, indices: Any) -> np.ndarray:
        """``clip(V(x), 0, 1)`` for the items at ``indices``; 0.5 before any training."""
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if self._observed == 0 or len(idx) == 0:
            return np.full(len(idx), 0.5)
        return np.clip(np.asarray(self.model_.predict(self._X[idx]), float).reshape(-1), 0, 1)

    def propose(self, n: int) -> Proposal:
        candidates = self._candidates.propose(self.k * n).indices
        gap = np.abs(self.predict(candidates) - self.tau)
        keep = np.argsort(gap, kind="stable")[:n]
        if n > 0:
            self._chosen_gap = float(gap[keep].mean())
        rollouts = None if self.rollouts is None else np.full(n, self.rollouts, dtype=np.int64)
        return Proposal(candidates[keep], rollouts=rollouts)

    def observe(self, outcomes: Outcomes) -> None:
        rate = outcomes.pass_rate
        present = ~np.isnan(rate)
        if not present.any():
            return
        idx, target = outcomes.indices[present], rate[present]
        if self._observed:
            self._value_mse = float(np.mean((self.predict(idx) - target) ** 2))
        self.model_.partial_fit(self._X[idx], target)
        self._observed += len(idx)

    def state_dict(self) -> dict[str, Any]:
        """The learned attributes plus the value model's own state (None if it has none)."""
        model_state = None
        if callable(getattr(self.model_, "state_dict", None)):
            model_state = self.model_.state_dict()
        elif self._observed:
            warnings.warn(
                f"pcl: value model {type(self.model_).__name__} has no state_dict; "
                "its learned state is not saved and restarts on resume",
                stacklevel=2,
            )
        return {**super().state_dict(), "model": model_state}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if "model" not in state:
            raise ValueError("strategy 'pcl' state lacks model")
        model = self._new_model()  # loaded while self is untouched, assigned after every check
        restorable = callable(getattr(model, "load_state_dict", None))
        restorable = restorable and state["model"] is not None
        if restorable:
            model.load_state_dict(state["model"])
        super().load_state_dict(state)
        self.model_ = model
        if not restorable:
            self._observed = 0  # a fresh model: predictions are 0.5 until it is trained again

    def metrics(self) -> dict[str, float]:
        values = {"observed": float(self._observed)}
        if not math.isnan(self._value_mse):
            values["value_mse"] = self._value_mse
        if not math.isnan(self._chosen_gap):
            values["chosen_gap"] = self._chosen_gap
        return values


def selection_cost(
    pass_rates: Any, rollouts: int = 8, *, band: tuple[float, float] = (0.2, 0.8)
) -> dict[str, float]:
    """Expected rollouts spent per useful prompt when the prompts rolled out have these pass rates.

    A group of ``G = rollouts`` 0/1 rewards on a prompt with true pass rate ``p`` is *mixed*
    (not all equal, so GRPO gets a non-zero gradient) with probability

        P(mixed | p) = 1 - p^G - (1 - p)^G.

    A prompt is *intermediate* when ``band[0] <= p <= band[1]``. For a selection rule that
    rolls out the given prompts (``G`` rollouts each) and keeps or trains on the mixed ones,
    the expected cost is ``G / mean P(mixed)`` rollouts per mixed group and
    ``G / mean(P(mixed) * intermediate)`` per mixed group of an intermediate prompt. Rollout
    filtering (DAPO's dynamic sampling) pays this on uniformly drawn prompts; a predictor
    such as PCL's value model pays it on the prompts it chose. Infinite costs mean no prompt
    qualifies.

    Returns:
        ``mixed_rate``, ``intermediate_rate`` (share of prompts in the band),
        ``rollouts_per_mixed`` and ``rollouts_per_intermediate``.

    Example:
        >>> cost = selection_cost([0.0, 0.5, 1.0, 0.5], rollouts=2)
        >>> cost["mixed_rate"], cost["rollouts_per_mixed"], cost["intermediate_rate"]
        (0.25, 8.0, 0.5)
    """
    p = np.asarray(pass_rates, dtype=np.float64).reshape(-1)
    group = positive_int("rollouts", rollouts)
    low, high = band
    if not 0.0 <= low <= high <= 1.0:
        raise ValueError(f"band must satisfy 0 <= low <= high <= 1, got {band}")
    if len(p) == 0 or np.isnan(p).any() or (p < 0).any() or (p > 1).any():
        raise ValueError("pass_rates must be a non-empty array of values in [0, 1]")
    mixed = 1.0 - p**group - (1.0 - p) ** group
    inside = (p >= low) & (p <= high)
    mixed_rate = float(mixed.mean())
    mixed_inside = float((mixed * inside).mean())
    return {
        "mixed_rate": mixed_rate,
        "intermediate_rate": float(inside.mean()),
        "rollouts_per_mixed": group / mixed_rate if mixed_rate > 0 else math.inf,
        "rollouts_per_intermediate": group / mixed_inside if mixed_inside > 0 else math.inf,
    }
