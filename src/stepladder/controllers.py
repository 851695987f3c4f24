"""Controllers for training knobs other than item choice: hint length and token budget.

- :class:`HintController` sets, per problem, how much of a reference solution to reveal as a
  hint so that rollout accuracy stays near a target (SEELE).
- :class:`BudgetSchedule` moves a scalar knob such as the generation token budget from a
  generous to a tight value over training ("Train Long, Think Short").

Neither is a registered strategy: they decide how a chosen item is presented, not which
item is chosen, and combine with any strategy.
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np
from scipy.optimize import least_squares
from scipy.special import expit, logit

from stepladder._checks import choice, index_array, number, positive_int

__all__ = [
    "BudgetSchedule",
    "HintController",
    "fit_hint_curve",
    "hint_curve",
    "hint_length",
    "invert_hint_curve",
]

#: Bounds of the fitted curve parameters: floor b, slope k, shift mu.
_B_MAX = 1.0 - 1e-6
_K_BOUNDS = (1e-3, 100.0)
_MU_BOUNDS = (-10.0, 10.0)


def hint_length(h: Any, solution_length: Any) -> Any:
    """Tokens of the reference solution to reveal: ``round(h * |solution|)`` (halves round up).

    Vectorised over ``h`` and ``solution_length``; ``h`` must lie in ``[0, 1]``.

    Example:
        >>> hint_length(0.25, 10), hint_length([0.0, 0.5, 1.0], 7).tolist()
        (3, [0, 4, 7])
    """
    rate = np.asarray(h, dtype=np.float64)
    length = np.asarray(solution_length)
    if not np.issubdtype(length.dtype, np.integer) or (length < 0).any():
        raise ValueError(f"solution_length must be non-negative integers, got {solution_length!r}")
    if np.isnan(rate).any() or (rate < 0).any() or (rate > 1).any():
        raise ValueError(f"hint rate h must lie in [0, 1], got {h!r}")
    tokens = np.floor(rate * length + 0.5).astype(np.int64)
    return int(tokens) if tokens.ndim == 0 else tokens


def hint_curve(h: Any, b: Any, k: Any, mu: Any) -> np.ndarray:
    """Accuracy at hint rate ``h``: ``acc(h) = b + (1 - b) * sigmoid(k * (h + mu))``.

    SEELE's three-parameter item-response curve over the hint rate: ``b`` is the accuracy
    floor, ``k > 0`` the slope, and ``-mu`` the hint rate halfway between ``b`` and 1.

    Example:
        >>> hint_curve([0.0, 0.4, 1.0], b=0.2, k=10.0, mu=-0.4).round(3).tolist()
        [0.214, 0.6, 0.998]
    """
    b = np.asarray(b, dtype=np.float64)
    return b + (1.0 - b) * expit(np.asarray(k) * (np.asarray(h, dtype=np.float64) + mu))


def invert_hint_curve(b: Any, k: Any, mu: Any, target: float = 0.5) -> np.ndarray:
    """The hint rate at which the curve reaches ``target``, clipped to ``[0, 1]``.

    ``h = logit((target - b) / (1 - b)) / k - mu``. A target at or below the floor ``b``
    needs no hint (``h = 0``); a target the curve reaches only beyond ``h = 1`` gets the
    whole solution (``h = 1``). Vectorised over the parameters.

    Example:
        >>> invert_hint_curve(b=0.2, k=10.0, mu=-0.4, target=0.6).round(6).tolist()
        0.4
        >>> invert_hint_curve([0.7, 0.0], [5.0, 1.0], [0.0, -5.0]).tolist()  # floor, unreachable
        [0.0, 1.0]
    """
    b = np.asarray(b, dtype=np.float64)
    k = np.asarray(k, dtype=np.float64)
    mu = np.asarray(mu, dtype=np.float64)
    target = number("target", target, low=0.0, high=1.0, open_low=True, open_high=True)
    share = (target - b) / (1.0 - b)
    with np.errstate(divide="ignore", invalid="ignore"):
        h = logit(np.clip(share, 1e-12, 1.0 - 1e-12)) / k - mu
    return np.clip(np.where(share <= 0.0, 0.0, h), 0.0, 1.0)


_GRID_K = np.geomspace(0.5, 100.0, 25)
_GRID_MU = np.linspace(-2.0, 1.0, 61)


def _grid_start(h: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Best (b, k, mu) on a (k, mu) grid, with the floor b solved in closed form per point.

    For fixed ``(k, mu)`` the curve is linear in ``b``: ``acc = s + b (1 - s)`` with
    ``s = sigmoid(k (h + mu))``, so ``b = sum (acc - s)(1 - s) / sum (1 - s)^2``, clipped.
    """
    s = expit(_GRID_K[:, None, None] * (h[None, None, :] + _GRID_MU[None, :, None]))
    free = 1.0 - s
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.sum((acc - s) * free, axis=2) / np.sum(free**2, axis=2)
    b = np.clip(np.nan_to_num(b, nan=0.0), 0.0, _B_MAX)
    cost = np.sum((s + b[:, :, None] * free - acc) ** 2, axis=2)
    i, j = np.unravel_index(np.argmin(cost), cost.shape)
    return np.array([b[i, j], _GRID_K[i], _GRID_MU[j]])


def _fit_one(h: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Bounded least-squares fit of (b, k, mu) to one problem's pairs (at least 3 rates)."""

    def residuals(theta: np.ndarray) -> np.ndarray:
        b, k, mu = theta
        return b + (1.0 - b) * expit(k * (h + mu)) - acc

    def jacobian(theta: np.ndarray) -> np.ndarray:
        b, k, mu = theta
        s = expit(k * (h + mu))
        slope = (1.0 - b) * s * (1.0 - s)
        return np.column_stack([1.0 - s, slope * (h + mu), slope * k])

    lower = np.array([0.0, _K_BOUNDS[0], _MU_BOUNDS[0]])
    upper = np.array([_B_MAX, _K_BOUNDS[1], _MU_BOUNDS[1]])
    start = np.clip(_grid_start(h, acc), lower, upper)
    fit = least_squares(
        residuals,
        start,
        jac=jacobian,
        bounds=(lower, upper),
        method="trf",
        x_scale=np.array([0.1, 10.0, 0.5]),
        xtol=1e-8,
        ftol=1e-10,
        gtol=1e-10,
        max_nfev=50,
    )
    return fit.x


def fit_hint_curve(h: Any, acc: Any) -> np.ndarray:
    """Fit ``acc(h) = b + (1 - b) * sigmoid(k * (h + mu))`` by bounded least squares.

    Minimises ``sum_j (acc(h_j) - acc_j)^2`` over ``b in [0, 1)``, ``k in [0.001, 100]`` and
    ``mu in [-10, 10]`` with SciPy's trust-region reflective solver (at most 50 evaluations),
    started from the best point of a (k, mu) grid with ``b`` solved exactly at each point.
    ``h`` and ``acc`` are one problem's pairs ``(R,)`` or many problems' ``(P, R)``,
    NaN-padded on the right; each problem needs at least three distinct hint rates (three
    parameters), else its row is NaN.

    Returns:
        ``(3,)`` or ``(P, 3)`` array of ``(b, k, mu)``.

    Example:
        >>> h = np.array([0.0, 0.25, 0.5, 0.75])
        >>> fit_hint_curve(h, hint_curve(h, 0.1, 8.0, -0.5)).round(4).tolist()
        [0.1, 8.0, -0.5]
    """
    rates = np.asarray(h, dtype=np.float64)
    accuracy = np.asarray(acc, dtype=np.float64)
    if rates.shape != accuracy.shape or rates.ndim not in (1, 2):
        raise ValueError(f"h and acc must have the same shape (R,) or (P, R), got {rates.shape}")
    single = rates.ndim == 1
    rates, accuracy = np.atleast_2d(rates), np.atleast_2d(accuracy)
    out = np.full((len(rates), 3), np.nan)
    for row, (hr, ar) in enumerate(zip(rates, accuracy, strict=True)):
        keep = ~(np.isnan(hr) | np.isnan(ar))
        if len(np.unique(hr[keep])) >= 3:
            out[row] = _fit_one(hr[keep], ar[keep])
    return out[0] if single else out


class HintController:
    """SEELE's hint scaffolding: per problem, the hint rate that keeps accuracy near a target.

    From "Staying in the Sweet Spot: Responsive Reasoning Evolution via Capability-Adaptive
    Hint Scaffolding" (Li et al., 2025). A problem is shown with the first
    ``round(h * |solution|)`` tokens of its reference solution (:func:`hint_length`). Each
    time a problem is trained, it gets ``rounds`` (m = 4) rounds of ``rollouts`` (n = 8)
    rollouts; after each round the (hint rate, accuracy) pairs of this visit are fitted with
    the curve ``acc(h) = b + (1 - b) * sigmoid(k * (h + mu))`` (:func:`fit_hint_curve`) and
    the next round's ``h`` solves ``acc(h) = target`` (:func:`invert_hint_curve`). The last
    ``h`` carries over to the problem's next visit (next epoch).

    The paper does not say how the first rounds of a visit choose ``h`` before three
    parameters can be fitted; this class uses the following, documented rule (the round
    schedule):

    - round 1 uses the carried-over ``h`` (``initial``, 0 = no hint, on a first visit);
    - while fewer than three distinct hint rates have been tried, or every accuracy of the
      visit is 0 (or every one is 1), nothing can be fitted: ``h`` takes a logistic step of
      fixed slope from the pair whose accuracy is closest to the target (ties: the latest),
      ``h' = h_j + (logit(target) - logit(acc_j)) / slope`` with ``acc_j`` clipped to
      ``[1/(2n), 1 - 1/(2n)]``. With ``slope = 8`` and ``n = 8`` a problem never solved is
      retried at ``h`` = 0, 0.34, 0.68, 1 and one always solved keeps ``h = 0``;
    - otherwise the full bounded fit is inverted: a target below the fitted floor gives
      ``h = 0``, an unreachable one ``h = 1``. When all accuracies of the visit lie below the
      target the result is at least the largest rate tried (at most the smallest when all
      lie above), so extrapolation never walks back into explored ground.

    All rates are clipped to ``[0, 1]``. Pairs from earlier visits are not reused (the policy
    has changed since); a visit ends after ``rounds`` observations or at :meth:`end_visit`.

    Args:
        size: number of problems (indices ``0 .. size-1``, like a pool's).
        target: accuracy to aim for, in ``(0, 1)`` (the paper's sweet spot, 0.5).
        rounds: rounds per visit (m).
        rollouts: rollouts per round (n), used to clip observed accuracies.
        initial: hint rate of a problem's first round on its first visit.
        slope: slope ``k`` of the fixed-slope steps.

    Example:
        >>> ctl = HintController(3)
        >>> ctl.rates([0, 1, 2]).tolist()                   # first visit, round 1: no hint
        [0.0, 0.0, 0.0]
        >>> ctl.observe([0, 1, 2], [1.0, 0.5, 0.0]).round(3).tolist()  # round 1's accuracy
        [0.0, 0.0, 0.339]
        >>> for _ in range(2):                              # problem 2: acc(h) with mu = -0.6
        ...     h = ctl.rates([2])
        ...     _ = ctl.observe([2], hint_curve(h, b=0.0, k=10.0, mu=-0.6))
        >>> ctl.rates([2]).round(6).tolist()                # the fit solves acc(h) = 0.5
        [0.6]
    """

    def __init__(
        self,
        size: int,
        *,
        target: float = 0.5,
        rounds: int = 4,
        rollouts: int = 8,
        initial: float = 0.0,
        slope: float = 8.0,
    ) -> None:
        self.size = positive_int("size", size)
        self.target = number("target", target, low=0.0, high=1.0, open_low=True, open_high=True)
        self.rounds = positive_int("rounds", rounds)
        self.rollouts = positive_int("rollouts", rollouts)
        self.initial = number("initial", initial, low=0.0, high=1.0)
        self.slope = number("slope", slope, low=0.0, open_low=True)
        self._rate = np.full(self.size, self.initial)
        self._h = np.zeros((self.size, self.rounds))
        self._acc = np.zeros((self.size, self.rounds))
        self._count = np.zeros(self.size, dtype=np.int64)
        self._last_mean = math.nan
        self._last_fitted = math.nan

    def __repr__(self) -> str:
        return (
            f"HintController(size={self.size}, target={self.target}, rounds={self.rounds}, "
            f"rollouts={self.rollouts})"
        )

    def rates(self, problems: Any) -> np.ndarray:
        """Hint rate ``h`` to use for each problem's next round."""
        return self._rate[index_array("problems", problems, self.size)].copy()

    def observe(self, problems: Any, accuracy: Any, hint_rates: Any = None) -> np.ndarray:
        """Record one round: each problem's accuracy at the hint rate it was shown.

        Args:
            problems: problem indices, each at most once.
            accuracy: mean reward of the round's rollouts per problem, in ``[0, 1]``.
            hint_rates: the rates actually shown (for example ``tokens / |solution|`` after
                rounding); default: :meth:`rates`.

        Returns:
            the hint rates for the next round (also what :meth:`rates` returns now).
        """
        idx = index_array("problems", problems, self.size)
        if len(np.unique(idx)) != len(idx):
            raise ValueError("problems must be distinct within one round")
        acc = np.asarray(accuracy, dtype=np.float64).reshape(-1)
        shown = self._rate[idx] if hint_rates is None else np.asarray(hint_rates, float).ravel()
        for name, values in (("accuracy", acc), ("hint_rates", shown)):
            if values.shape != idx.shape:
                raise ValueError(f"{name} must have one value per problem ({len(idx)})")
            if np.isnan(values).any() or (values < 0).any() or (values > 1).any():
                raise ValueError(f"{name} must lie in [0, 1]")
        if len(idx) == 0:
            return np.zeros(0)
        self._count[idx[self._count[idx] >= self.rounds]] = 0  # a full visit: start a new one
        position = self._count[idx]
        self._h[idx, position] = shown
        self._acc[idx, position] = acc
        self._count[idx] = position + 1
        rates, fitted = self._next_rates(idx)
        self._rate[idx] = rates
        self._last_mean, self._last_fitted = float(rates.mean()), float(fitted.mean())
        return rates.copy()

    def end_visit(self, problems: Any = None) -> None:
        """Forget the pairs of the current visit (all problems when omitted); ``h`` stays."""
        if problems is None:
            self._count[:] = 0
        else:
            self._count[index_array("problems", problems, self.size)] = 0

    def _next_rates(self, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        count = self._count[idx]
        used = np.arange(self.rounds)[None, :] < count[:, None]
        h = np.where(used, self._h[idx], np.nan)
        acc = np.where(used, self._acc[idx], np.nan)
        # Distinct hint rates per problem (NaN sorts last and is not counted).
        ordered = np.sort(h, axis=1)
        distinct = 1 + np.sum(np.diff(ordered, axis=1) > 1e-9, axis=1)
        saturated = np.all(np.where(used, acc == 0.0, True), axis=1) | np.all(
            np.where(used, acc == 1.0, True), axis=1
        )
        full = (distinct >= 3) & ~saturated
        # Fixed-slope step from the pair closest to the target (latest on ties).
        eps = 0.5 / self.rollouts
        gap = np.where(used, np.abs(acc - self.target), np.inf)
        flipped = np.argmin(gap[:, ::-1], axis=1)
        nearest = self.rounds - 1 - flipped
        rows = np.arange(len(idx))
        a_near = np.clip(acc[rows, nearest], eps, 1.0 - eps)
        step = (logit(self.target) - logit(a_near)) / self.slope
        rates = np.clip(h[rows, nearest] + step, 0.0, 1.0)
        if full.any():
            params = fit_hint_curve(h[full], acc[full])
            fitted = invert_hint_curve(params[:, 0], params[:, 1], params[:, 2], self.target)
            # One-sided evidence: stay on the side not yet explored.
            below = np.all(np.where(used, acc < self.target, True), axis=1)[full]
            above = np.all(np.where(used, acc > self.target, True), axis=1)[full]
            fitted = np.where(below, np.maximum(fitted, np.nanmax(h[full], axis=1)), fitted)
            fitted = np.where(above, np.minimum(fitted, np.nanmin(h[full], axis=1)), fitted)
            rates[full] = fitted
        return rates, full

    def state_dict(self) -> dict[str, Any]:
        """Changed hint rates and the pairs of open visits (sparse, for large pools)."""
        changed = np.flatnonzero(self._rate != self.initial)
        active = np.flatnonzero(self._count)
        return {
            "changed": changed,
            "rate": self._rate[changed],
            "active": active,
            "count": self._count[active],
            "h": self._h[active],
            "acc": self._acc[active],
            "last_mean": self._last_mean,
            "last_fitted": self._last_fitted,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._rate = np.full(self.size, self.initial)
        self._rate[np.asarray(state["changed"], dtype=np.int64)] = state["rate"]
        self._count = np.zeros(self.size, dtype=np.int64)
        self._h = np.zeros((self.size, self.rounds))
        self._acc = np.zeros((self.size, self.rounds))
        active = np.asarray(state["active"], dtype=np.int64)
        self._count[active] = state["count"]
        self._h[active] = state["h"]
        self._acc[active] = state["acc"]
        self._last_mean = float(state["last_mean"])
        self._last_fitted = float(state["last_fitted"])

    def metrics(self) -> dict[str, float]:
        """``mean_hint_rate`` of the last observed round and ``fitted_share``, the share of
        its problems whose next rate came from a full curve fit."""
        if math.isnan(self._last_mean):
            return {}
        return {"mean_hint_rate": self._last_mean, "fitted_share": self._last_fitted}


Shape = Literal["linear", "exponential", "cosine", "step"]
_SHAPES = ("linear", "exponential", "cosine", "step")


class BudgetSchedule:
    """A scalar knob (a token budget) scheduled from ``start`` to ``end`` over training.

    From "Train Long, Think Short: Curriculum Learning for Efficient Reasoning" (Hammoud et
    al., 2025): GRPO starts with a generous token budget and tightens it, so the model first
    finds solutions and then learns to shorten them; the paper compares linear and
    exponential decay, ``B(t) = B0 * gamma^floor(t / T)``. With progress
    ``t = clip(step / total_steps, 0, 1)``:

    - ``"linear"``: ``start + (end - start) * t``
    - ``"exponential"``: ``start * (end / start)^t`` (geometric; both ends > 0)
    - ``"cosine"``: ``end + (start - end) * (1 + cos(pi * t)) / 2``
    - ``"step"``: linear levels held constant over ``stages`` equal stages (default 4)

    ``stages = n`` quantises any shape: stage ``s = min(floor(n * step / total_steps), n - 1)``
    and ``t = s / (n - 1)``, so ``"exponential"`` with ``stages`` is the paper's
    ``B0 * gamma^s`` with ``gamma = (end / start)^(1 / (n - 1))``. Every shape starts at
    ``start``, ends at ``end`` (and stays there after ``total_steps``) and is monotone between.
    ``start < end`` schedules an increasing knob the same way.

    The schedule is a pure function of the step and keeps no state: a resumed run passes its
    own step counter, so there is nothing to checkpoint.

    Args:
        start: value at step 0.
        end: value from ``total_steps`` on.
        total_steps: steps over which the value moves.
        shape: ``"linear"``, ``"exponential"``, ``"cosine"`` or ``"step"``.
        stages: number of constant stages (``>= 2``), or None for a continuous schedule
            (``"step"`` then uses 4).
        integer: round values to the nearest integer (token counts).

    Example:
        >>> budget = BudgetSchedule(start=1024, end=256, total_steps=100, shape="exponential")
        >>> budget.value([0, 50, 100, 200]).round(1).tolist()
        [1024.0, 512.0, 256.0, 256.0]
        >>> BudgetSchedule(start=4, end=1, total_steps=8, shape="step").value(range(9)).tolist()
        [4.0, 4.0, 3.0, 3.0, 2.0, 2.0, 1.0, 1.0, 1.0]
        >>> BudgetSchedule(start=512, end=128, total_steps=3, integer=True)(1)
        384
    """

    def __init__(
        self,
        *,
        start: float,
        end: float,
        total_steps: int,
        shape: Shape = "linear",
        stages: int | None = None,
        integer: bool = False,
    ) -> None:
        self.shape = choice("shape", shape, _SHAPES)
        self.start = number("start", start)
        self.end = number("end", end)
        if shape == "exponential" and not (self.start > 0 and self.end > 0):
            raise ValueError("an exponential schedule needs start > 0 and end > 0")
        self.total_steps = positive_int("total_steps", total_steps)
        if stages is not None and positive_int("stages", stages) < 2:
            raise ValueError(f"stages must be at least 2, got {stages}")
        self.stages = stages
        self.integer = bool(integer)

    def __repr__(self) -> str:
        return (
            f"BudgetSchedule(start={self.start:g}, end={self.end:g}, "
            f"total_steps={self.total_steps}, shape={self.shape!r}, stages={self.stages})"
        )

    def progress(self, step: Any) -> np.ndarray:
        """Progress ``t`` in ``[0, 1]`` at ``step`` (quantised when there are stages)."""
        steps = np.asarray(step, dtype=np.float64)
        stages = self.stages if self.stages is not None else (4 if self.shape == "step" else None)
        if stages is None:
            return np.clip(steps / self.total_steps, 0.0, 1.0)
        stage = np.clip(np.floor(stages * steps / self.total_steps), 0, stages - 1)
        return stage / (stages - 1)

    def value(self, step: Any) -> Any:
        """The knob's value at ``step`` (a number, or an array for an array of steps)."""
        t = self.progress(step)
        if self.shape == "exponential":
            values = self.start * (self.end / self.start) ** t
        elif self.shape == "cosine":
            values = self.end + (self.start - self.end) * (1.0 + np.cos(np.pi * t)) / 2.0
        else:  # linear, and the levels of "step"
            values = self.start + (self.end - self.start) * t
        values = np.where(t >= 1.0, self.end, np.where(t <= 0.0, self.start, values))
        if self.integer:
            values = np.rint(values).astype(np.int64)
        if values.ndim == 0:
            return int(values) if self.integer else float(values)
        return values

    __call__ = value
