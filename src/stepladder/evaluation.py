"""Evaluate a new model on a small, well-chosen part of a graded benchmark.

From the item table that ``stepladder grade`` writes (IRT difficulty and discrimination on
the ability scale), this module:

- picks anchor items (:func:`select_anchors`): ``random``, ``stratified`` by difficulty,
  ``irt_clusters`` (the anchor points of *tinyBenchmarks: evaluating LLMs with fewer
  examples*: k-means on the items' IRT parameters, the item nearest each centre, weighted
  by its cluster's share) or ``information`` (largest Fisher information averaged over a
  target ability range);
- estimates a new model's accuracy on the whole benchmark from its answers on the anchors
  (:func:`estimate_score`): ``naive`` (weighted anchor accuracy), ``irt`` (the p-IRT
  estimator: observed answers on the anchors, the IRT prediction at the model's ability on
  every other item) and ``gp_irt`` (their blend);
- tests adaptively (:class:`AdaptiveTest`, :func:`evaluate_adaptively`): the next item is
  the most informative at the current ability estimate, drawn at random among the top
  few (randomesque exposure control); ability is the EAP posterior of
  :class:`stepladder.ability.OnlineAbility`, which moves the right way from any start.

Every estimate comes with a standard error and a 95% interval. Uncertainty is the
posterior predictive one: over the model's ability (its EAP posterior) and over the
answers it would give to the items not asked, assuming the IRT model holds. Coverage is
checked on simulated data in the tests; on real data, where the model is misspecified,
see the benchmark tables in docs/benchmarks.md.

Simplifications, said plainly: tinyBenchmarks fits a multidimensional IRT and chooses the
gp-IRT blend weight on held-out training models; here the IRT is unidimensional (the
table ``stepladder grade`` writes) and the blend weight is the inverse-variance weight of
the two estimators, which needs no training models.

Example:
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> items = {"item_id": np.arange(500), "difficulty": rng.normal(size=500),
    ...          "discrimination": rng.uniform(0.8, 2.0, size=500)}
    >>> anchors = select_anchors(items, 30, method="irt_clusters", seed=0)
    >>> answers = dict(zip(anchors.item_ids.tolist(), rng.random(30) < 0.6))
    >>> estimate = estimate_score(answers, items, anchors, method="gp_irt")
    >>> bool(0.0 < estimate.score < 1.0 and estimate.low < estimate.score < estimate.high)
    True
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import expit

from stepladder._checks import choice, positive_int
from stepladder.ability import OnlineAbility
from stepladder.difficulty.irt import ItemParameters

__all__ = [
    "ANCHOR_METHODS",
    "SCORE_METHODS",
    "AdaptiveTest",
    "Anchors",
    "Benchmark",
    "ScoreEstimate",
    "evaluate_adaptively",
    "estimate_score",
    "predicted_items",
    "select_anchors",
]

ANCHOR_METHODS = ("random", "stratified", "irt_clusters", "information")
SCORE_METHODS = ("naive", "irt", "gp_irt")
_Z95 = 1.959963984540054
_GRID_POINTS = 161  # ability grid over [-6, 6]: 961 points change estimates by < 1e-12


# --------------------------------------------------------------------------- the benchmark


@dataclass(frozen=True, eq=False)
class Benchmark:
    """A graded benchmark: item ids, their IRT parameters, and fixed rates where IRT has none.

    Items whose difficulty is not finite (for example everyone-right or everyone-wrong
    items that grading flags) have no IRT curve; they count with their observed pass rate
    ``p_correct`` as a fixed probability.

    Attributes:
        item_ids: item ids, in table order.
        parameters: IRT parameters (NaN rows where ``fixed`` is set).
        fixed: per item, the fixed probability of a correct answer, NaN where IRT applies.
        fingerprint: a hash of the item ids, stored with anchors to detect a mix-up.
    """

    item_ids: np.ndarray
    parameters: ItemParameters
    fixed: np.ndarray
    fingerprint: str

    @classmethod
    def from_items(cls, items: Any) -> Benchmark:
        """Read an item table: a ``stepladder grade`` result (Arrow table, Parquet path,
        pandas/polars DataFrame) or a mapping of columns.

        Needs ``item_id`` and ``difficulty`` on the ability scale (an IRT model);
        ``discrimination`` (default 1), ``guessing``, ``slipping`` and ``p_correct`` are
        used when present.
        """
        if isinstance(items, Benchmark):
            return items
        columns = _columns(items)
        for name in ("item_id", "difficulty"):
            if name not in columns:
                raise ValueError(
                    f"the item table has no {name!r} column; grade the benchmark with an IRT "
                    "model first (stepladder grade ... --model 2pl)"
                )
        ids = np.asarray(columns["item_id"])
        n = len(ids)
        if n == 0:
            raise ValueError("the item table is empty")
        if len(np.unique(ids)) != n:
            raise ValueError("the item table repeats an item_id")

        def numeric(name: str, default: float) -> np.ndarray:
            if name not in columns:
                return np.full(n, default)
            return np.asarray(columns[name], dtype=np.float64)

        difficulty = numeric("difficulty", math.nan)
        discrimination = numeric("discrimination", 1.0)
        guessing = np.nan_to_num(numeric("guessing", 0.0))
        slipping = np.nan_to_num(numeric("slipping", 0.0))
        irt = np.isfinite(difficulty) & np.isfinite(discrimination)
        p_correct = numeric("p_correct", math.nan)
        fixed = np.where(irt, np.nan, p_correct)
        unusable = ~irt & ~np.isfinite(p_correct)
        if unusable.any():
            where = int(np.argmax(unusable))
            raise ValueError(f"item {ids[where]!r} has no finite IRT parameters and no p_correct")
        if irt.sum() == 0:
            raise ValueError("no item in the table has finite IRT parameters")
        parameters = ItemParameters(discrimination, difficulty, guessing, slipping)
        digest = hashlib.blake2b(digest_size=8)
        for item in ids.tolist():
            digest.update(repr(item).encode() + b"\0")
        return cls(ids, parameters, fixed, digest.hexdigest())

    def __len__(self) -> int:
        return len(self.item_ids)

    def probability(self, theta: np.ndarray) -> np.ndarray:
        """P(correct) of every item at each ability in ``theta``: shape (len(theta), items).

        The last result is cached (estimates ask for the same ability grid every time);
        pass the same :class:`Benchmark` object to reuse it.
        """
        theta = np.atleast_1d(np.asarray(theta, dtype=np.float64))
        cached = self.__dict__.get("_cache")
        if cached is not None and np.array_equal(cached[0], theta):
            return cached[1]
        result = self._probability(theta)
        object.__setattr__(self, "_cache", (theta.copy(), result))
        return result

    def _probability(self, theta: np.ndarray) -> np.ndarray:
        p = self.parameters
        irt = np.isnan(self.fixed)
        a = np.where(irt, p.discrimination, 0.0)
        b = np.where(irt, p.difficulty, 0.0)
        curve = p.guessing + (1.0 - p.slipping - p.guessing) * expit(a * (theta[:, None] - b))
        return np.where(irt, curve, self.fixed)

    def information(self, theta: np.ndarray) -> np.ndarray:
        """Fisher information of every item at each ability: shape (len(theta), items)."""
        theta = np.atleast_1d(np.asarray(theta, dtype=np.float64))
        p = self.parameters
        irt = np.isnan(self.fixed)
        a = np.where(irt, p.discrimination, 0.0)
        c, d = p.guessing, 1.0 - p.slipping
        f = expit(a * (theta[:, None] - np.where(irt, p.difficulty, 0.0)))
        prob = np.clip(c + (d - c) * f, 1e-12, 1 - 1e-12)
        slope = (d - c) * a * f * (1.0 - f)
        return np.where(irt, slope**2 / (prob * (1.0 - prob)), 0.0)

    def positions(self, item_ids: Sequence[Any], *, what: str = "answers") -> np.ndarray:
        """Row positions of ``item_ids``; ``ValueError`` naming the first unknown id."""
        index = self.__dict__.get("_index")
        if index is None:  # built once: estimates for many models look up the same table
            index = {item: row for row, item in enumerate(self.item_ids.tolist())}
            object.__setattr__(self, "_index", index)
        rows = np.empty(len(item_ids), dtype=np.int64)
        for k, item in enumerate(item_ids):
            key = item.item() if isinstance(item, np.generic) else item
            if key not in index:
                raise ValueError(f"{what}: item {key!r} is not in the benchmark's item table")
            rows[k] = index[key]
        return rows


def _columns(items: Any) -> dict[str, Any]:
    """Columns of an Arrow table, Parquet path, DataFrame or mapping, as NumPy-able values."""
    import os

    if isinstance(items, str | os.PathLike):
        import pyarrow.parquet as pq

        items = pq.read_table(items)
    if hasattr(items, "column_names") and hasattr(items, "column"):  # pyarrow.Table
        return {name: items.column(name).to_numpy() for name in items.column_names}
    if hasattr(items, "to_dict") and hasattr(items, "columns"):  # pandas / polars
        return {str(name): np.asarray(items[name]) for name in items.columns}
    if isinstance(items, Mapping):
        return {str(k): v for k, v in items.items()}
    raise ValueError(f"cannot read an item table from {type(items).__name__}")


def predicted_items(
    item_ids: Sequence[Any],
    predictor: Any,
    X: Any = None,
    *,
    texts: Any = None,
    discrimination: float = 1.0,
) -> dict[str, np.ndarray]:
    """An item table for items no model has answered yet, with difficulty predicted from content.

    ``predictor`` is a fitted :class:`~stepladder.difficulty.DifficultyPredictor` (or any
    object with ``predict(X, texts=...)``) trained to predict IRT difficulty on the ability
    scale, for example on an earlier benchmark's graded items. Every item gets the same
    ``discrimination``. The table feeds :class:`AdaptiveTest` and :func:`select_anchors`,
    so a new benchmark can be tested adaptively before any model has answered it.

    Example:
        >>> class Linear:                       # any object with predict(X, texts=...)
        ...     def predict(self, X=None, texts=None):
        ...         return np.asarray(X)[:, 0] * 2.0
        >>> table = predicted_items(["a", "b"], Linear(), X=np.array([[0.5], [-1.0]]))
        >>> table["difficulty"].tolist(), table["predicted"].tolist()
        ([1.0, -2.0], [True, True])
    """
    ids = np.asarray(list(item_ids))
    difficulty = np.asarray(predictor.predict(X, texts=texts), dtype=np.float64).reshape(-1)
    if difficulty.shape != (len(ids),):
        raise ValueError(
            f"the predictor returned {len(difficulty)} difficulties for {len(ids)} items"
        )
    if not np.isfinite(difficulty).all():
        raise ValueError("the predictor returned a difficulty that is not finite")
    return {
        "item_id": ids,
        "difficulty": difficulty,
        "discrimination": np.full(len(ids), float(discrimination)),
        "predicted": np.ones(len(ids), dtype=bool),
    }


# --------------------------------------------------------------------------- anchors


@dataclass(frozen=True, eq=False)
class Anchors:
    """Anchor items and what the estimators need to know about how they were chosen.

    Attributes:
        item_ids: the anchor items' ids.
        positions: their rows in the benchmark's item table.
        weights: each anchor's share of the benchmark (sums to 1): the naive estimate is
            the weighted anchor accuracy.
        strata: per benchmark item, the anchor (0..k-1) whose stratum or cluster holds it;
            -1 where the anchors are not a stratified sample (``information``).
        method: how they were chosen.
        fingerprint: the benchmark's fingerprint (see :class:`Benchmark`).
    """

    item_ids: np.ndarray
    positions: np.ndarray
    weights: np.ndarray
    strata: np.ndarray
    method: str
    fingerprint: str

    def __len__(self) -> int:
        return len(self.positions)

    def to_table(self) -> Any:
        """A ``pyarrow.Table``: item_id, weight; method and fingerprint in its metadata."""
        import json

        import pyarrow as pa

        table = pa.table({"item_id": self.item_ids, "weight": self.weights})
        facts = {
            "method": self.method,
            "fingerprint": self.fingerprint,
            "strata": self.strata.tolist(),
        }
        return table.replace_schema_metadata({b"stepladder_anchors": json.dumps(facts)})

    @classmethod
    def from_table(cls, table: Any, items: Any) -> Anchors:
        """Anchors saved by :meth:`to_table`, checked against the benchmark ``items``."""
        import json

        benchmark = Benchmark.from_items(items)
        if isinstance(table, str) or hasattr(table, "__fspath__"):
            import pyarrow.parquet as pq

            table = pq.read_table(table)
        raw = (table.schema.metadata or {}).get(b"stepladder_anchors")
        if raw is None:
            raise ValueError("the anchors table has no stepladder_anchors metadata")
        facts = json.loads(raw)
        if facts["fingerprint"] != benchmark.fingerprint:
            raise ValueError(
                "the anchors were chosen from another benchmark (their item ids differ "
                "from this item table's)"
            )
        ids = table.column("item_id").to_numpy(zero_copy_only=False)
        positions = benchmark.positions(list(ids), what="anchors")
        weights = np.asarray(table.column("weight").to_numpy(), dtype=np.float64)
        strata = np.asarray(facts["strata"], dtype=np.int64)
        if strata.shape != (len(benchmark),) or strata.max(initial=-1) >= len(positions):
            raise ValueError("the anchors table's strata do not fit this benchmark")
        return cls(ids, positions, weights, strata, facts["method"], benchmark.fingerprint)


def select_anchors(
    items: Any,
    k: int,
    *,
    method: str = "irt_clusters",
    seed: int = 0,
    ability_range: tuple[float, float] = (-2.0, 2.0),
) -> Anchors:
    """Choose ``k`` anchor items of a graded benchmark.

    Args:
        items: the item table (see :meth:`Benchmark.from_items`).
        k: number of anchors (at most the number of items).
        method: ``random`` (uniform, equal weights), ``stratified`` (k strata of equal
            size by difficulty, one random item each, weighted by stratum size),
            ``irt_clusters`` (k-means on (discrimination, difficulty), the item nearest each
            centre, weighted by cluster size: tinyBenchmarks' anchor points) or
            ``information`` (the k items of largest Fisher information averaged over
            ``ability_range``, equal weights; not a representative sample, so use it with
            the ``irt`` estimator).
        seed: seeds every random choice; the same seed gives the same anchors.
        ability_range: target abilities for ``information``.

    Example:
        >>> items = {"item_id": ["a", "b", "c", "d"], "difficulty": [-2.0, -1.0, 1.0, 2.0]}
        >>> anchors = select_anchors(items, 2, method="stratified", seed=0)
        >>> anchors.weights.tolist(), anchors.strata.tolist()
        ([0.5, 0.5], [0, 0, 1, 1])
    """
    benchmark = Benchmark.from_items(items)
    method = choice("method", method, ANCHOR_METHODS)
    k = positive_int("k", k)
    n = len(benchmark)
    if k > n:
        raise ValueError(f"k = {k} anchors asked from a benchmark of {n} items")
    rng = np.random.default_rng(seed)
    if method == "random":
        positions = np.sort(rng.choice(n, size=k, replace=False))
        strata = np.full(n, -1)
        weights = np.full(k, 1.0 / k)
    elif method == "stratified":
        order = np.argsort(_sort_key(benchmark), kind="stable")
        groups = np.array_split(order, k)
        positions = np.array([rng.choice(group) for group in groups])
        strata = np.empty(n, dtype=np.int64)
        for label, group in enumerate(groups):
            strata[group] = label
        weights = np.array([len(group) / n for group in groups])
    elif method == "irt_clusters":
        positions, strata = _cluster_anchors(benchmark, k, rng)
        weights = np.bincount(strata, minlength=k) / n
    else:
        grid = np.linspace(ability_range[0], ability_range[1], 41)
        score = benchmark.information(grid).mean(axis=0)
        positions = np.sort(np.argsort(-score, kind="stable")[:k])
        strata = np.full(n, -1)
        weights = np.full(k, 1.0 / k)
    ids = benchmark.item_ids[positions]
    return Anchors(ids, positions, weights, strata, method, benchmark.fingerprint)


def _sort_key(benchmark: Benchmark) -> np.ndarray:
    """Difficulty on the ability scale; fixed-rate items sorted by their rate's logit."""
    rate = np.clip(benchmark.fixed, 1e-3, 1 - 1e-3)
    return np.where(
        np.isnan(benchmark.fixed), benchmark.parameters.difficulty, -np.log(rate / (1 - rate))
    )


def _embedding(benchmark: Benchmark) -> np.ndarray:
    """Items as (discrimination, difficulty) points, fixed-rate items placed by their rate."""
    a = np.where(np.isnan(benchmark.fixed), benchmark.parameters.discrimination, 0.0)
    return np.column_stack([a, _sort_key(benchmark)])


def _cluster_anchors(
    benchmark: Benchmark, k: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """k-means (scipy's kmeans2, k-means++ start); each cluster's item nearest its centre.

    When k-means leaves a cluster empty (items with identical parameters are common: a
    1PL fitted on few models has one difficulty per sum score), the largest cluster is
    split at random in two until every cluster has members, so the weights (cluster
    shares) and the strata stay consistent.
    """
    import warnings

    from scipy.cluster.vq import kmeans2

    points = _embedding(benchmark)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # empty-cluster and degenerate-start warnings
        _, labels = kmeans2(points, k, minit="++", seed=rng, iter=50)
    labels = np.asarray(labels, dtype=np.int64)
    sizes = np.bincount(labels, minlength=k)
    for empty in np.flatnonzero(sizes == 0):
        largest = int(np.argmax(sizes))
        members = np.flatnonzero(labels == largest)
        moved = rng.choice(members, size=len(members) // 2, replace=False)
        labels[moved] = empty
        sizes = np.bincount(labels, minlength=k)
    positions = np.empty(k, dtype=np.int64)
    for label in range(k):
        members = np.flatnonzero(labels == label)
        centre = points[members].mean(axis=0)
        distance = np.sum((points[members] - centre) ** 2, axis=1)
        positions[label] = members[np.argmin(distance)]
    return positions, labels


# --------------------------------------------------------------------------- estimates


@dataclass(frozen=True)
class ScoreEstimate:
    """An estimated full-benchmark accuracy with its uncertainty.

    Attributes:
        score: estimated accuracy on the whole benchmark, in [0, 1].
        se: its standard error.
        low, high: the 95% interval (normal, clipped to [0, 1]).
        method: the estimator.
        ability, ability_se: the model's ability (EAP) and its posterior sd.
        n_items: items answered.
    """

    score: float
    se: float
    low: float
    high: float
    method: str
    ability: float
    ability_se: float
    n_items: int

    def as_dict(self) -> dict[str, Any]:
        """Plain values, for JSON."""
        return dict(self.__dict__)


def _estimate(score: float, se: float, method: str, posterior: _Posterior, n: int) -> ScoreEstimate:
    low = float(max(0.0, score - _Z95 * se))
    high = float(min(1.0, score + _Z95 * se))
    return ScoreEstimate(
        float(score), float(se), low, high, method, posterior.mean, posterior.sd, n
    )


@dataclass
class _Posterior:
    """The EAP posterior of one model's ability on a grid."""

    grid: np.ndarray
    weights: np.ndarray
    mean: float = field(init=False)
    sd: float = field(init=False)

    def __post_init__(self) -> None:
        self.mean = float(self.weights @ self.grid)
        self.sd = float(math.sqrt(max(self.weights @ self.grid**2 - self.mean**2, 0.0)))

    def expect(self, values: np.ndarray) -> tuple[float, float]:
        """Posterior mean and variance of a function of ability given on the grid."""
        mean = float(self.weights @ values)
        return mean, float(max(self.weights @ values**2 - mean**2, 0.0))


def _posterior(tracker: OnlineAbility) -> _Posterior:
    return _Posterior(tracker.grid, np.exp(tracker.log_posterior[0]))


def _answers(
    answers: Any, benchmark: Benchmark, anchors: Anchors | None
) -> tuple[np.ndarray, np.ndarray]:
    """(positions, scores in [0, 1]) from a mapping id -> score or a sequence aligned with
    ``anchors``; one-line errors for unknown ids and out-of-range scores."""
    if isinstance(answers, Mapping):
        ids = list(answers)
        values = np.asarray([answers[i] for i in ids], dtype=np.float64)
        positions = benchmark.positions(ids)
    else:
        if anchors is None:
            raise ValueError("answers without item ids need the anchors they answer")
        values = np.asarray(answers, dtype=np.float64).reshape(-1)
        if len(values) != len(anchors):
            raise ValueError(f"{len(values)} answers for {len(anchors)} anchors")
        positions = anchors.positions
    bad = ~np.isfinite(values) | (values < 0) | (values > 1)
    if bad.any():
        where = int(np.argmax(bad))
        raise ValueError(
            f"answers: the score of item {benchmark.item_ids[positions[where]]!r} is "
            f"{values[where]}, outside [0, 1]"
        )
    if len(np.unique(positions)) != len(positions):
        raise ValueError("answers: an item is answered twice")
    return positions, values


def estimate_score(
    answers: Any,
    items: Any,
    anchors: Anchors | None = None,
    *,
    method: str = "gp_irt",
    prior: tuple[float, float] = (0.0, 1.0),
) -> ScoreEstimate:
    """Estimate a model's accuracy on the whole benchmark from its answers on a few items.

    Args:
        answers: a mapping item id -> score in [0, 1], or scores aligned with ``anchors``.
        items: the benchmark's item table (see :meth:`Benchmark.from_items`).
        anchors: the anchors answered; needed by ``naive`` and ``gp_irt`` (for the weights
            and strata), and to check they come from this benchmark.
        method: ``naive``, ``irt`` or ``gp_irt`` (see the module docstring).
        prior: normal prior (mean, sd) of the model's ability.

    The standard errors: ``irt``'s is the posterior predictive sd of the accuracy over the
    unanswered items (ability uncertainty plus their Bernoulli answers). ``naive``'s is
    the stratified-sampling sd: per stratum, the spread of the model's predicted
    correctness over the stratum's items, weighted by the stratum's share (for random
    anchors, simple random sampling without replacement). ``gp_irt`` weights the two by
    inverse variance; its sd is the same blend of their sds, the bound for two estimators
    that read the same answers (perfectly correlated errors).

    Example:
        >>> items = {"item_id": list(range(6)), "difficulty": [-2, -1, 0, 0, 1, 2]}
        >>> anchors = select_anchors(items, 3, method="stratified", seed=1)
        >>> est = estimate_score([1, 1, 0], items, anchors, method="naive")
        >>> round(est.score, 3)
        0.667
    """
    benchmark = Benchmark.from_items(items)
    method = choice("method", method, SCORE_METHODS)
    if anchors is not None and anchors.fingerprint != benchmark.fingerprint:
        raise ValueError("the anchors were chosen from another benchmark")
    if method != "irt" and anchors is None:
        raise ValueError(f"method {method!r} needs the anchors (their weights)")
    positions, values = _answers(answers, benchmark, anchors)
    tracker = OnlineAbility(benchmark.parameters, prior=prior, grid_points=_GRID_POINTS)
    irt_rows = np.isnan(benchmark.fixed[positions])
    if irt_rows.any():
        tracker.update(item=positions[irt_rows], successes=values[irt_rows])
    posterior = _posterior(tracker)
    n = len(positions)
    if method == "irt":
        score, variance = _p_irt(benchmark, positions, values, posterior)
        return _estimate(score, math.sqrt(variance), method, posterior, n)
    naive, naive_var = _naive(benchmark, anchors, positions, values, posterior)
    if method == "naive":
        return _estimate(naive, math.sqrt(naive_var), method, posterior, n)
    pirt, pirt_var = _p_irt(benchmark, positions, values, posterior)
    weight = pirt_var / (pirt_var + naive_var) if pirt_var + naive_var > 0 else 0.5
    score = weight * naive + (1.0 - weight) * pirt
    # Both estimators read the same anchors, so their errors are positively correlated;
    # the sd of the blend is bounded by the blend of the sds (correlation 1).
    se = weight * math.sqrt(naive_var) + (1.0 - weight) * math.sqrt(pirt_var)
    return _estimate(score, se, method, posterior, n)


def _p_irt(
    benchmark: Benchmark, positions: np.ndarray, values: np.ndarray, posterior: _Posterior
) -> tuple[float, float]:
    """p-IRT: observed answers where asked, IRT predictions elsewhere; predictive variance."""
    n = len(benchmark)
    unseen = np.ones(n, dtype=bool)
    unseen[positions] = False
    p = benchmark.probability(posterior.grid)[:, unseen]  # grid x unseen items
    expected_unseen = p.sum(axis=1)
    mean_unseen, var_unseen = posterior.expect(expected_unseen)
    bernoulli = float(posterior.weights @ (p * (1.0 - p)).sum(axis=1))
    score = (values.sum() + mean_unseen) / n
    return score, (var_unseen + bernoulli) / n**2


def _naive(
    benchmark: Benchmark,
    anchors: Anchors,
    positions: np.ndarray,
    values: np.ndarray,
    posterior: _Posterior,
) -> tuple[float, float]:
    """Weighted anchor accuracy and its sampling variance (model-based, see estimate_score)."""
    by_position = dict(zip(positions.tolist(), values.tolist(), strict=True))
    missing = [int(p) for p in anchors.positions if int(p) not in by_position]
    if missing:
        raise ValueError(f"answers: anchor {benchmark.item_ids[missing[0]]!r} is not answered")
    anchor_values = np.array([by_position[int(p)] for p in anchors.positions])
    score = float(anchors.weights @ anchor_values)
    p = posterior.weights @ benchmark.probability(posterior.grid)  # predicted rate per item
    n, k = len(benchmark), len(anchors)
    if (anchors.strata < 0).all():
        # Simple random sampling without replacement of k items from n.
        spread = float(np.mean(p * (1 - p)) + np.var(p))
        correction = (n - k) / max(n - 1, 1)
        return score, spread / k * correction
    variance = 0.0
    for label, weight in enumerate(anchors.weights):
        members = p[anchors.strata == label]
        if members.size > 1:
            spread = float(np.mean(members * (1 - members)) + np.var(members))
            variance += weight**2 * spread * (members.size - 1) / members.size
    return score, variance


# --------------------------------------------------------------------------- adaptive tests


class AdaptiveTest:
    """Computerized adaptive testing of one model on a graded benchmark.

    Each :meth:`next_items` returns the items of largest Fisher information at the current
    ability estimate, each drawn at random among the ``randomesque`` best not yet asked
    (exposure control). :meth:`record` updates the EAP posterior of the ability
    (:class:`~stepladder.ability.OnlineAbility`). The test is :attr:`done` once the
    ability's posterior sd is at most ``target_se``, the predicted score's standard error
    at most ``target_score_se``, or ``max_items`` have been asked.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> items = {"item_id": np.arange(400), "difficulty": rng.normal(size=400) * 1.5}
        >>> test = AdaptiveTest(items, max_items=60, target_se=0.35, seed=0)
        >>> truth = 1.5                                   # a strong model
        >>> while not test.done:
        ...     asked = test.next_items(5)
        ...     p = 1 / (1 + np.exp(-(truth - np.asarray(items["difficulty"])[asked])))
        ...     _ = test.record(asked, rng.random(len(asked)) < p)
        >>> test.ability > 0.8 and test.n_asked <= 60
        True
    """

    def __init__(
        self,
        items: Any,
        *,
        max_items: int = 100,
        target_se: float | None = 0.3,
        target_score_se: float | None = None,
        randomesque: int = 5,
        prior: tuple[float, float] = (0.0, 1.0),
        seed: int = 0,
    ) -> None:
        self.benchmark = Benchmark.from_items(items)
        self.max_items = positive_int("max_items", max_items)
        self.target_se = target_se
        self.target_score_se = target_score_se
        self.randomesque = positive_int("randomesque", randomesque)
        self.rng = np.random.default_rng(seed)
        self._tracker = OnlineAbility(
            self.benchmark.parameters, prior=prior, grid_points=_GRID_POINTS
        )
        self._asked = np.zeros(len(self.benchmark), dtype=bool)
        self._positions: list[int] = []
        self._values: list[float] = []
        self.history: list[ScoreEstimate] = []

    @property
    def n_asked(self) -> int:
        """Items answered so far."""
        return len(self._positions)

    @property
    def ability(self) -> float:
        """Current EAP ability."""
        return _posterior(self._tracker).mean

    @property
    def ability_se(self) -> float:
        """Current posterior sd of the ability."""
        return _posterior(self._tracker).sd

    @property
    def done(self) -> bool:
        """Whether a stopping rule is met."""
        if self.n_asked >= min(self.max_items, len(self.benchmark)):
            return True
        if self.n_asked == 0:
            return False
        if self.target_se is not None and self.ability_se <= self.target_se:
            return True
        return self.target_score_se is not None and self.score().se <= self.target_score_se

    def next_items(self, count: int = 1) -> np.ndarray:
        """Positions (rows of the item table) of the next ``count`` items to ask."""
        count = min(positive_int("count", count), len(self.benchmark) - self.n_asked)
        posterior = _posterior(self._tracker)
        information = posterior.weights @ self.benchmark.information(posterior.grid)
        information = np.where(self._asked, -np.inf, information)
        top = np.argsort(-information, kind="stable")[: max(count, self.randomesque)]
        top = top[np.isfinite(information[top])]
        return self.rng.choice(top, size=count, replace=False)

    def next_item_ids(self, count: int = 1) -> np.ndarray:
        """Like :meth:`next_items`, as item ids."""
        return self.benchmark.item_ids[self.next_items(count)]

    def record(self, positions: Any, correct: Any) -> ScoreEstimate:
        """Add answers (scores in [0, 1]) to items given by position; returns the new estimate."""
        positions = np.atleast_1d(np.asarray(positions, dtype=np.int64))
        values = np.atleast_1d(np.asarray(correct, dtype=np.float64))
        if positions.shape != values.shape:
            raise ValueError(f"{len(positions)} items but {len(values)} answers")
        if ((values < 0) | (values > 1) | ~np.isfinite(values)).any():
            raise ValueError("answers must be scores in [0, 1]")
        if (positions < 0).any() or (positions >= len(self.benchmark)).any():
            raise ValueError("an item position is outside the benchmark")
        if self._asked[positions].any() or len(np.unique(positions)) != len(positions):
            raise ValueError("an item was answered twice")
        self._asked[positions] = True
        self._positions.extend(positions.tolist())
        self._values.extend(values.tolist())
        irt = np.isnan(self.benchmark.fixed[positions])
        if irt.any():
            self._tracker.update(item=positions[irt], successes=values[irt])
        estimate = self.score()
        self.history.append(estimate)
        return estimate

    def record_ids(self, item_ids: Sequence[Any], correct: Any) -> ScoreEstimate:
        """Like :meth:`record`, with item ids."""
        return self.record(self.benchmark.positions(list(item_ids)), correct)

    def score(self) -> ScoreEstimate:
        """The predicted full-benchmark accuracy now (p-IRT over the items asked)."""
        posterior = _posterior(self._tracker)
        positions = np.asarray(self._positions, dtype=np.int64)
        values = np.asarray(self._values, dtype=np.float64)
        score, variance = _p_irt(self.benchmark, positions, values, posterior)
        return _estimate(score, math.sqrt(variance), "adaptive", posterior, len(positions))


def evaluate_adaptively(
    answer: Callable[[np.ndarray], Any],
    items: Any,
    *,
    batch_size: int = 10,
    **test_options: Any,
) -> ScoreEstimate:
    """Run an :class:`AdaptiveTest` with ``answer(item_ids) -> scores`` until it stops.

    Use it during training to log an estimated benchmark score every N steps at a fraction
    of the cost of the full benchmark: ``answer`` runs the checkpoint on the given items.

    Example:
        >>> items = {"item_id": [f"q{i}" for i in range(200)],
        ...          "difficulty": np.linspace(-3, 3, 200)}
        >>> def answer(ids):   # a model that solves the first 120 items (difficulty < 0.6)
        ...     return [int(i[1:]) < 120 for i in ids]
        >>> est = evaluate_adaptively(answer, items, max_items=40, target_se=None, seed=0)
        >>> est.n_items, abs(est.score - 0.6) < 0.1
        (40, True)
    """
    test = AdaptiveTest(items, **test_options)
    batch_size = positive_int("batch_size", batch_size)
    estimate = test.score()
    while not test.done:
        positions = test.next_items(min(batch_size, test.max_items - test.n_asked))
        scores = np.asarray(answer(test.benchmark.item_ids[positions]), dtype=np.float64)
        estimate = test.record(positions, scores.reshape(-1))
    return estimate
