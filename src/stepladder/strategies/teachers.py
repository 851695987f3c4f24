"""Teacher algorithms for deep RL: choose the next tasks (levels, environment parameters).

Items of the pool are tasks (see :mod:`stepladder.tasks`); feedback is one episode per
item: ``Outcomes(indices, rewards)`` with the normalised episode return or success in
``[0, 1]`` (several rollouts per task are averaged into one episode score), and optionally
``signals`` (a per-episode scalar such as mean |GAE|, used by ``plr``).

- ``domain_randomization``: uniform over tasks (the baseline).
- ``learning_progress``: Teacher-Student Curriculum Learning (Matiisen et al.).
- ``mastering_rate``: Mastering Rate based Curriculum Learning (Willems et al.), simplified.
- ``alp_gmm``: absolute learning progress + Gaussian mixtures (Portelas et al., 2019).
- ``plr``: Prioritized Level Replay (Jiang et al., 2021).
- ``sequential``: stages in order, advanced by a stopping condition.

Example:
    >>> from stepladder import Curriculum, Outcomes
    >>> cur = Curriculum(5, "plr", seed=0)
    >>> batch = cur.propose(3)
    >>> cur.observe(Outcomes(batch.indices, rewards=[1.0, 0.0, 0.5]))
    >>> cur.metrics()["plr/seen_fraction"]
    0.6
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np

from stepladder._checks import choice, positive_int
from stepladder.outcomes import Outcomes
from stepladder.strategies._registry import register
from stepladder.strategies.base import Proposal, Strategy

__all__ = [
    "ALPGMM",
    "DomainRandomization",
    "LearningProgress",
    "MasteringRate",
    "PrioritizedLevelReplay",
    "Sequential",
    "plr_distribution",
]


def _number(name: str, value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not (math.isfinite(value) and low <= value <= high):
        raise ValueError(f"{name} must lie in [{low}, {high}], got {value}")
    return value


def _episode_scores(outcomes: Outcomes) -> tuple[np.ndarray, np.ndarray]:
    """(indices, score) of the items that carry rewards: the mean reward over rollouts."""
    if len(outcomes) == 0 or outcomes.rewards is None:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    scores = outcomes.pass_rate
    keep = ~np.isnan(scores)
    return outcomes.indices[keep], scores[keep]


def _empty() -> Proposal:
    return Proposal(np.zeros(0, dtype=np.int64))


@register("domain_randomization")
class DomainRandomization(Strategy):
    """Uniform over the task space: every task drawn with probability 1 / size (with replacement).

    The baseline of the teacher literature. Over a :class:`~stepladder.tasks.BoxTasks` pool
    of candidates it is uniform sampling of the box.

    Example:
        >>> from stepladder import Curriculum
        >>> Curriculum(10, "domain_randomization", seed=0).propose(4).indices.shape
        (4,)
    """

    def __init__(self) -> None:
        pass

    def propose(self, n: int) -> Proposal:
        return Proposal(self.rng.integers(0, self.pool.size, size=n).astype(np.int64))


class _Arms:
    """Arms = tasks or pool groups; items of an arm drawn uniformly."""

    def __init__(self, strategy: Strategy, arms: str) -> None:
        pool = strategy.pool
        self.by_group = arms == "groups"
        if self.by_group and pool.groups is None:
            raise ValueError(f"{strategy.name}: arms='groups' needs a pool with group labels")
        self.count = pool.n_groups if self.by_group else pool.size
        self.pool = pool
        self.sizes = pool.group_sizes() if self.by_group else np.ones(pool.size, dtype=np.int64)

    def of(self, indices: np.ndarray) -> np.ndarray:
        if not self.by_group:
            return indices
        return self.pool.groups[indices].astype(np.int64)

    def items(self, arms: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if not self.by_group:
            return arms.astype(np.int64)
        out = np.empty(len(arms), dtype=np.int64)
        for arm in np.unique(arms):
            slots = np.flatnonzero(arms == arm)
            members = self.pool.members(int(arm))
            out[slots] = members[rng.integers(0, len(members), size=len(slots))]
        return out


class _ScoreHistory:
    """The last ``window`` scores per arm in a ring buffer, oldest first on read."""

    def __init__(self, arms: int, window: int) -> None:
        self.buffer = np.zeros((arms, window))
        self.count = np.zeros(arms, dtype=np.int64)

    def push(self, arm: int, score: float) -> None:
        window = self.buffer.shape[1]
        self.buffer[arm, self.count[arm] % window] = score
        self.count[arm] += 1

    def recent(self, arm: int) -> np.ndarray:
        window = self.buffer.shape[1]
        m = min(int(self.count[arm]), window)
        start = int(self.count[arm]) - m
        return self.buffer[arm, np.arange(start, start + m) % window]

    def slopes(self) -> np.ndarray:
        """Least-squares slope of each arm's recent scores against 0, 1, ..., m-1 (0 if m < 2)."""
        out = np.zeros(len(self.count))
        for arm in np.flatnonzero(self.count >= 2):
            y = self.recent(int(arm))
            t = np.arange(len(y), dtype=np.float64)
            t -= t.mean()
            out[arm] = float(t @ (y - y.mean()) / (t @ t))
        return out

    def means(self) -> np.ndarray:
        out = np.zeros(len(self.count))
        for arm in np.flatnonzero(self.count > 0):
            out[arm] = float(self.recent(int(arm)).mean())
        return out

    def state_dict(self) -> dict[str, Any]:
        return {"buffer": self.buffer.copy(), "count": self.count.copy()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.buffer = np.array(state["buffer"], dtype=np.float64)
        self.count = np.array(state["count"], dtype=np.int64)


@register("learning_progress")
class LearningProgress(Strategy):
    """Teacher-Student Curriculum Learning: sample the arm whose score changes fastest.

    From "Teacher-Student Curriculum Learning" (Matiisen, Oliver, Cohen and Schulman, 2017).
    Arms are tasks (``arms="tasks"``) or pool groups (``arms="groups"``; a task is then
    drawn uniformly in the group). After an episode of arm ``a`` with score ``x_t``:

    - ``mode="online"``: ``Q_a <- alpha * (x_t - x_prev_a) + (1 - alpha) * Q_a``
      (exponential moving average of score differences);
    - ``mode="window"``: ``Q_a`` = least-squares slope of the last ``window`` scores of ``a``
      against their order ``0 .. K-1``;
    - ``mode="sampling"``: at each proposal ``Q_a`` is one difference ``x_{i+1} - x_i`` drawn
      uniformly from the last ``window`` scores of ``a`` (a Thompson-like draw; 0 before
      two scores).

    Selection by ``|Q_a|`` (progress or forgetting): ``selection="epsilon"`` draws each slot
    uniformly with probability ``epsilon``, else the arm with the largest ``|Q|`` (ties at
    random); ``selection="boltzmann"`` draws arms with ``P(a) ∝ exp(|Q_a| / temperature)``.
    Decision: arms never played have ``Q = 0``, so exploration is what finds them (as in the
    paper); with ``arms="tasks"`` over very many tasks prefer ``arms="groups"``.

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(3, "learning_progress", seed=0, epsilon=0.0)
        >>> cur.observe(Outcomes([1, 1], rewards=[0.2, 0.6]))
        >>> cur.propose(2).indices.tolist(), round(float(cur.strategy.progress[1]), 3)
        ([1, 1], 0.04)
    """

    def __init__(
        self,
        *,
        mode: str = "online",
        alpha: float = 0.1,
        window: int = 10,
        selection: str = "epsilon",
        epsilon: float = 0.1,
        temperature: float = 0.1,
        arms: str = "tasks",
    ) -> None:
        self.mode = choice("mode", mode, ("online", "window", "sampling"))
        self.alpha = _number("alpha", alpha, 0.0, 1.0)
        self.window = positive_int("window", window)
        if self.window < 2:
            raise ValueError(f"window must be at least 2, got {window}")
        self.selection = choice("selection", selection, ("epsilon", "boltzmann"))
        self.epsilon = _number("epsilon", epsilon, 0.0, 1.0)
        self.temperature = _number("temperature", temperature, 1e-12, math.inf)
        self.arms = choice("arms", arms, ("tasks", "groups"))

    def _setup(self) -> None:
        self._arms = _Arms(self, self.arms)
        self.q = np.zeros(self._arms.count)
        self.last = np.full(self._arms.count, np.nan)
        self.history = _ScoreHistory(self._arms.count, self.window)

    @property
    def progress(self) -> np.ndarray:
        """Current learning progress ``Q`` per arm (online and window modes)."""
        return self.history.slopes() if self.mode == "window" else self.q

    def _scores(self) -> np.ndarray:
        if self.mode == "online":
            return np.abs(self.q)
        if self.mode == "window":
            return np.abs(self.history.slopes())
        draws = np.zeros(self._arms.count)
        for arm in np.flatnonzero(self.history.count >= 2):
            diffs = np.diff(self.history.recent(int(arm)))
            draws[arm] = abs(diffs[self.rng.integers(0, len(diffs))])
        return draws

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return _empty()
        valid = self._arms.sizes > 0
        scores = np.where(valid, self._scores(), -np.inf)
        if self.selection == "boltzmann":
            z = scores / self.temperature
            p = np.exp(z - z.max())
            arms = self.rng.choice(len(p), size=n, p=p / p.sum())
        else:
            best = np.flatnonzero(scores == scores.max())
            arms = best[self.rng.integers(0, len(best), size=n)]
            explore = self.rng.random(n) < self.epsilon
            candidates = np.flatnonzero(valid)
            arms[explore] = candidates[self.rng.integers(0, len(candidates), size=explore.sum())]
        return Proposal(self._arms.items(np.asarray(arms, dtype=np.int64), self.rng))

    def observe(self, outcomes: Outcomes) -> None:
        indices, scores = _episode_scores(outcomes)
        for arm, x in zip(self._arms.of(indices).tolist(), scores.tolist(), strict=True):
            if not math.isnan(self.last[arm]):
                self.q[arm] = self.alpha * (x - self.last[arm]) + (1 - self.alpha) * self.q[arm]
            self.last[arm] = x
            self.history.push(arm, x)

    def state_dict(self) -> dict[str, Any]:
        return {"q": self.q.copy(), "last": self.last.copy(), "history": self.history.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.q = np.array(state["q"], dtype=np.float64)
        self.last = np.array(state["last"], dtype=np.float64)
        self.history.load_state_dict(state["history"])

    def metrics(self) -> dict[str, float]:
        progress = np.abs(self.progress)
        return {"progress_max": float(progress.max()), "progress_mean": float(progress.mean())}


@register("mastering_rate")
class MasteringRate(Strategy):
    """Prefer arms that are learnable (prerequisites mastered) but not yet mastered.

    From "Mastering Rate based Curriculum Learning" (Willems, Lahlou and Bengio, 2020).
    Arms are the pool's groups (one arm without groups); prerequisites are the previous
    group in ``pool.group_names`` order (a chain), or ``prerequisites``, a dict mapping a
    group name to the names of the groups it requires (a DAG). Simplified form implemented:
    with ``M_c`` = mean of the last ``window`` episode scores of arm ``c`` (the mastering
    rate; scores are already normalised to ``[0, 1]``) and ``LP_c`` = slope of those scores,
    the attention of arm ``c`` is ::

        a_c = (min_{p in pre(c)} M_p) ** power  *  (delta + (1 - delta) * |LP_c| / max|LP|)
              * (1 - M_c)

    (``min`` over no prerequisites is 1), and ``P(c) = (1 - epsilon) a_c / sum a + epsilon /
    n_arms`` (uniform when every ``a_c = 0``). The paper's redistribution of attention to
    predecessors and successors is not implemented.

    Example:
        >>> from stepladder import Curriculum, ItemPool, Outcomes
        >>> pool = ItemPool(size=4, groups=["a", "a", "b", "b"])
        >>> cur = Curriculum(pool, "mastering_rate", seed=0, epsilon=0.0)
        >>> cur.strategy.arm_probabilities().tolist()  # b needs a, unmastered so far
        [1.0, 0.0]
        >>> cur.observe(Outcomes([0, 1], rewards=[1.0, 1.0]))
        >>> cur.strategy.arm_probabilities().tolist()  # a mastered: attention moves to b
        [0.0, 1.0]
    """

    def __init__(
        self,
        *,
        prerequisites: dict | None = None,
        window: int = 20,
        power: float = 6.0,
        delta: float = 0.6,
        epsilon: float = 0.05,
    ) -> None:
        self.prerequisites = prerequisites
        self.window = positive_int("window", window)
        self.power = _number("power", power, 0.0, math.inf)
        self.delta = _number("delta", delta, 0.0, 1.0)
        self.epsilon = _number("epsilon", epsilon, 0.0, 1.0)

    def _setup(self) -> None:
        arms = self.pool.n_groups
        self._requires: list[list[int]] = [[c - 1] if c > 0 else [] for c in range(arms)]
        if self.prerequisites is not None:
            if self.pool.groups is None:
                raise ValueError("mastering_rate: prerequisites need a pool with group labels")
            code = {name: i for i, name in enumerate(self.pool.group_names)}
            self._requires = [[] for _ in range(arms)]
            for name, required in self.prerequisites.items():
                try:
                    self._requires[code[name]] = [code[r] for r in required]
                except KeyError as error:
                    raise ValueError(
                        f"prerequisites name unknown group {error.args[0]!r}"
                    ) from None
        self.history = _ScoreHistory(arms, max(self.window, 2))
        self._arms = _Arms(self, "groups") if self.pool.groups is not None else None

    def arm_probabilities(self) -> np.ndarray:
        """Probability of each arm (pool group code order) at the next proposal."""
        mastery = self.history.means()
        lp = np.abs(self.history.slopes())
        lp = lp / lp.max() if lp.max() > 0 else lp
        learnable = np.array(
            [min((mastery[p] for p in req), default=1.0) for req in self._requires]
        )
        attention = learnable**self.power * (self.delta + (1 - self.delta) * lp) * (1 - mastery)
        n = len(attention)
        base = attention / attention.sum() if attention.sum() > 0 else np.full(n, 1.0 / n)
        return (1 - self.epsilon) * base + self.epsilon / n

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return _empty()
        if self._arms is None:
            return Proposal(self.rng.integers(0, self.pool.size, size=n).astype(np.int64))
        p = self.arm_probabilities()
        arms = self.rng.choice(len(p), size=n, p=p)
        return Proposal(self._arms.items(arms, self.rng))

    def observe(self, outcomes: Outcomes) -> None:
        indices, scores = _episode_scores(outcomes)
        arms = self._arms.of(indices) if self._arms is not None else np.zeros(len(indices), int)
        for arm, x in zip(arms.tolist(), scores.tolist(), strict=True):
            self.history.push(arm, x)

    def state_dict(self) -> dict[str, Any]:
        return {"history": self.history.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history.load_state_dict(state["history"])

    def metrics(self) -> dict[str, float]:
        return {"mastery_mean": float(self.history.means().mean())}


def _task_features(strategy: Strategy) -> np.ndarray:
    features = strategy.pool.features
    if features is None:
        raise ValueError(
            f"{strategy.name} needs task parameters: build the pool with features "
            "(e.g. stepladder.tasks.BoxTasks(...).pool())"
        )
    features = features.reshape(strategy.pool.size, -1)
    if np.isnan(features).any():
        raise ValueError(f"{strategy.name}: pool features (task parameters) must not be NaN")
    return features


@register("alp_gmm")
class ALPGMM(Strategy):
    """Absolute learning progress with Gaussian mixtures over (task parameters, ALP).

    From "Teacher algorithms for curriculum learning of Deep RL in continuously parameterized
    environments" (Portelas, Colas, Hofmann and Oudeyer, CoRL 2019). Task parameters are the
    pool's ``features``, rescaled to ``[0, 1]`` per dimension by the pool's min and max.

    - ALP of an episode on task ``x`` with reward ``r``: ``alp = |r - r_nn|`` where ``r_nn``
      is the reward of the nearest previously seen task (Euclidean, kd-tree; 0 for the first
      episode); (x, r) then joins the history. Decision: for a task played before (distance
      0) ``r_nn`` is its own latest reward, and a task's latest reward is the one its
      neighbours compare with; a kd-tree over the distinct played tasks is rebuilt when they
      grow by a quarter, the ones added since are searched by brute force (exact).
    - Every ``fit_every`` episodes, fit ``GaussianMixture(k)`` (scikit-learn, full
      covariances) for ``k`` in ``min_components .. max_components`` on the last
      ``fit_every`` points ``(x, alp)`` (then dropped) and keep the lowest AIC
      (``criterion="bic"``: BIC).
    - Proposal: before the first fit, uniform; else with probability ``random_fraction``
      uniform, otherwise pick Gaussian ``i`` with ``P(i) ∝ mean ALP of i`` (its mean's last
      coordinate), draw ``(x, alp) ~ N(mu_i, Sigma_i)``, clip ``x`` to ``[0, 1]^d`` and snap it
      to the nearest candidate task of the pool (kd-tree).

    Decisions: the mixture's random_state comes from the shared generator, so runs are
    deterministic; several rollouts per task count as one episode (their mean reward).

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> from stepladder.tasks import BoxTasks
        >>> cur = Curriculum(BoxTasks([0.0], [1.0]).pool(64), "alp_gmm", seed=0)
        >>> cur.observe(Outcomes([0, 1], rewards=[0.0, 1.0]))
        >>> cur.strategy.alps.tolist()
        [0.0, 1.0]
    """

    def __init__(
        self,
        *,
        fit_every: int = 250,
        min_components: int = 2,
        max_components: int = 10,
        criterion: str = "aic",
        random_fraction: float = 0.2,
    ) -> None:
        self.fit_every = positive_int("fit_every", fit_every)
        self.min_components = positive_int("min_components", min_components)
        self.max_components = positive_int("max_components", max_components)
        if self.max_components < self.min_components:
            raise ValueError("max_components must be >= min_components")
        self.criterion = choice("criterion", criterion, ("aic", "bic"))
        self.random_fraction = _number("random_fraction", random_fraction, 0.0, 1.0)

    def _setup(self) -> None:
        from scipy.spatial import cKDTree

        try:  # fail at bind time, not at the first fit hundreds of episodes later
            import sklearn.mixture  # noqa: F401
        except ImportError as error:
            raise ImportError(
                "alp_gmm needs scikit-learn: pip install 'scikit-learn>=1.3'"
            ) from error
        features = _task_features(self)
        low, high = features.min(axis=0), features.max(axis=0)
        self._unit = (features - low) / np.where(high > low, high - low, 1.0)
        self._candidates = cKDTree(self._unit)
        self._reset()

    def _reset(self) -> None:
        self.episodes = 0
        self._tasks: list[int] = []  # the episodes since the last fit (at most fit_every)
        self._alps: list[float] = []
        self.latest = np.full(self.pool.size, np.nan)  # latest reward of each task
        self._distinct: list[int] = []  # tasks in order of first play
        self.means = np.zeros((0, self._unit.shape[1] + 1))
        self.covariances = np.zeros((0, self._unit.shape[1] + 1, self._unit.shape[1] + 1))
        self._tree: Any = None
        self._tree_size = 0

    @property
    def tasks(self) -> np.ndarray:
        """Tasks of the episodes kept for the next fit (the last ``fit_every`` at most)."""
        return np.array(self._tasks, dtype=np.int64)

    @property
    def alps(self) -> np.ndarray:
        """ALP of the episodes kept for the next fit."""
        return np.array(self._alps, dtype=np.float64)

    def _nearest_seen(self, point: np.ndarray) -> int:
        """The previously played task nearest to ``point`` (kd-tree + brute force on the rest)."""
        best, best_d = -1, math.inf
        if self._tree is not None:
            d, i = self._tree.query(point)
            best, best_d = self._distinct[int(i)], float(d)
        rest = np.array(self._distinct[self._tree_size :], dtype=np.int64)
        if len(rest):
            d = np.sqrt(((self._unit[rest] - point) ** 2).sum(axis=1))
            j = int(np.argmin(d))
            if d[j] < best_d:
                best = int(rest[j])
        return best

    def _rebuild_tree(self) -> None:
        from scipy.spatial import cKDTree

        self._tree = cKDTree(self._unit[np.array(self._distinct[: self._tree_size])])

    def observe(self, outcomes: Outcomes) -> None:
        indices, scores = _episode_scores(outcomes)
        for task, reward in zip(indices.tolist(), scores.tolist(), strict=True):
            if not math.isnan(self.latest[task]):  # played before: distance 0, latest reward
                alp = abs(reward - float(self.latest[task]))
            else:
                nearest = self._nearest_seen(self._unit[task]) if self._distinct else -1
                alp = 0.0 if nearest < 0 else abs(reward - float(self.latest[nearest]))
                self._distinct.append(task)
                if len(self._distinct) - self._tree_size >= max(64, self._tree_size // 4):
                    self._tree_size = len(self._distinct)
                    self._rebuild_tree()
            self.latest[task] = reward
            self._tasks.append(task)
            self._alps.append(alp)
            self.episodes += 1
            if self.episodes % self.fit_every == 0:
                self._fit()
                self._tasks, self._alps = [], []

    def _fit(self) -> None:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.mixture import GaussianMixture
        from threadpoolctl import threadpool_limits  # a scikit-learn dependency

        data = np.column_stack([self._unit[self.tasks], self.alps])
        best, best_score = None, math.inf
        for k in range(self.min_components, min(self.max_components, len(data)) + 1):
            gmm = GaussianMixture(
                k, covariance_type="full", random_state=int(self.rng.integers(0, 2**31 - 1))
            )
            # one thread: BLAS/OpenMP threads on tiny matrices cost 10x more than they save
            with warnings.catch_warnings(), threadpool_limits(1):
                warnings.simplefilter("ignore", ConvergenceWarning)
                gmm.fit(data)
            score = gmm.aic(data) if self.criterion == "aic" else gmm.bic(data)
            if score < best_score:
                best, best_score = gmm, score
        if best is not None:
            self.means = np.array(best.means_, dtype=np.float64)
            self.covariances = np.array(best.covariances_, dtype=np.float64)

    def propose(self, n: int) -> Proposal:
        out = self.rng.integers(0, self.pool.size, size=n).astype(np.int64)
        if len(self.means) == 0 or n == 0:
            return Proposal(out)
        guided = np.flatnonzero(self.rng.random(n) >= self.random_fraction)
        weights = np.maximum(self.means[:, -1], 0.0)
        p = (
            weights / weights.sum()
            if weights.sum() > 0
            else np.full(len(weights), 1 / len(weights))
        )
        d = self._unit.shape[1]
        points = np.empty((len(guided), d))
        for row, component in enumerate(self.rng.choice(len(p), size=len(guided), p=p)):
            sample = self.rng.multivariate_normal(
                self.means[component], self.covariances[component], method="cholesky"
            )
            points[row] = np.clip(sample[:d], 0.0, 1.0)
        if len(guided):
            _, nearest = self._candidates.query(points)
            out[guided] = np.asarray(nearest, dtype=np.int64)
        return Proposal(out)

    def state_dict(self) -> dict[str, Any]:
        return {
            "episodes": self.episodes,
            "tasks": self.tasks,
            "alps": self.alps,
            "latest": self.latest.copy(),
            "distinct": np.array(self._distinct, dtype=np.int64),
            "tree_size": self._tree_size,
            "means": self.means.copy(),
            "covariances": self.covariances.copy(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.episodes = int(state["episodes"])
        self._tasks = np.asarray(state["tasks"], dtype=np.int64).reshape(-1).tolist()
        self._alps = np.asarray(state["alps"], dtype=np.float64).reshape(-1).tolist()
        self.latest = np.array(state["latest"], dtype=np.float64)
        self._distinct = np.asarray(state["distinct"], dtype=np.int64).reshape(-1).tolist()
        self._tree_size = int(state["tree_size"])
        d = self._unit.shape[1] + 1
        self.means = np.array(state["means"], dtype=np.float64).reshape(-1, d)
        self.covariances = np.array(state["covariances"], dtype=np.float64).reshape(-1, d, d)
        self._tree = None
        if self._tree_size:
            self._rebuild_tree()

    def metrics(self) -> dict[str, float]:
        recent = self.alps
        return {
            "episodes": float(self.episodes),
            "components": float(len(self.means)),
            "alp_mean": float(recent.mean()) if len(recent) else 0.0,
        }


def plr_distribution(
    scores: np.ndarray,
    staleness: np.ndarray,
    *,
    rho: float = 0.1,
    beta: float = 0.1,
    transform: str = "rank",
) -> np.ndarray:
    """PLR's replay distribution over seen levels: ``(1 - rho) P_S + rho P_C``.

    ``P_S = h(S) / sum h(S)`` with ``h`` = ``rank``: ``1 / rank(S_i)^(1/beta)`` (rank 1 =
    highest score, ties by position), ``power``: ``S_i^(1/beta)``, or ``softmax``:
    ``exp(S_i / beta)``; ``P_C = c_i / sum c`` with ``c_i`` the staleness (episodes since
    level ``i`` was last played), as in the paper (uniform when every ``c_i = 0``).

    Example:
        >>> p = plr_distribution(np.array([0.5, 0.2, 0.9]), np.array([2.0, 0.0, 1.0]),
        ...                      rho=0.5, beta=1.0)
        >>> np.round(p * 66, 6).tolist()  # P_S = (3, 2, 6)/11, P_C = (2, 0, 1)/3
        [31.0, 6.0, 29.0]
    """
    scores = np.asarray(scores, dtype=np.float64)
    if transform == "rank":
        order = np.argsort(-scores, kind="stable")
        ranks = np.empty(len(scores))
        ranks[order] = np.arange(1, len(scores) + 1)
        h = 1.0 / ranks ** (1.0 / beta)
    elif transform == "power":
        h = np.maximum(scores, 0.0) ** (1.0 / beta)
    elif transform == "softmax":
        z = scores / beta
        h = np.exp(z - z.max())
    else:
        raise ValueError(f"transform must be 'rank', 'power' or 'softmax', got {transform!r}")
    n = len(scores)
    p_score = h / h.sum() if h.sum() > 0 else np.full(n, 1.0 / n)
    stale = np.asarray(staleness, dtype=np.float64)
    p_stale = stale / stale.sum() if stale.sum() > 0 else np.full(n, 1.0 / n)
    return (1 - rho) * p_score + rho * p_stale


@register("plr")
class PrioritizedLevelReplay(Strategy):
    """Prioritized Level Replay: replay high-scoring, stale levels; try new ones as needed.

    From "Prioritized Level Replay" (Jiang, Grefenstette and Rocktäschel, ICML 2021). Each
    seen level ``i`` keeps a score ``S_i <- (1 - alpha) S_i + alpha * score`` (the first
    score is taken as is) and the episode count ``C_i`` at its last play; a proposal slot
    draws a new (never seen) level uniformly with probability ``1 - seen / size``, else a
    seen level from :func:`plr_distribution` with staleness ``c - C_i``.

    The episode score: ``score="auto"`` uses ``|signals|`` when the feedback carries signals
    (pass the mean |GAE| or the value loss there, as in the paper), else ``"value_gap"``:
    the mean over rollouts of ``|r - V_i|`` with ``V_i`` the level's running mean reward
    before this episode (the global mean for an unseen level; 0.5 before any reward) — the
    L1 value error of a per-level constant baseline; ``"failure"`` uses ``1 - mean reward``.

    Example:
        >>> from stepladder import Curriculum, Outcomes
        >>> cur = Curriculum(4, "plr", seed=0)
        >>> cur.observe(Outcomes([0, 1], rewards=[1.0, 0.0], signals=[0.3, -0.6]))
        >>> cur.strategy.scores[:2].tolist(), cur.strategy.staleness()[:2].tolist()
        ([0.3, 0.6], [1.0, 0.0])
    """

    def __init__(
        self,
        *,
        rho: float = 0.1,
        beta: float = 0.1,
        transform: str = "rank",
        alpha: float = 1.0,
        score: str = "auto",
    ) -> None:
        self.rho = _number("rho", rho, 0.0, 1.0)
        self.beta = _number("beta", beta, 1e-12, math.inf)
        self.transform = choice("transform", transform, ("rank", "power", "softmax"))
        self.alpha = _number("alpha", alpha, 0.0, 1.0)
        self.score = choice("score", score, ("auto", "signal", "value_gap", "failure"))

    def _setup(self) -> None:
        size = self.pool.size
        self.scores = np.zeros(size)
        self.seen = np.zeros(size, dtype=bool)
        self.last_played = np.zeros(size, dtype=np.int64)
        self.value = np.zeros(size)
        self.plays = np.zeros(size, dtype=np.int64)
        self.episodes = 0
        self.reward_total = 0.0
        self.reward_count = 0

    def staleness(self) -> np.ndarray:
        """Episodes since each level was last played (0 for unseen levels)."""
        return np.where(self.seen, self.episodes - self.last_played, 0).astype(np.float64)

    def replay_distribution(self) -> np.ndarray:
        """Replay probability of each level (0 for unseen levels)."""
        p = np.zeros(self.pool.size)
        seen = np.flatnonzero(self.seen)
        if len(seen):
            p[seen] = plr_distribution(
                self.scores[seen],
                self.staleness()[seen],
                rho=self.rho,
                beta=self.beta,
                transform=self.transform,
            )
        return p

    def propose(self, n: int) -> Proposal:
        if n == 0:
            return _empty()
        seen = np.flatnonzero(self.seen)
        p_new = 1.0 - len(seen) / self.pool.size
        new = self.rng.random(n) < p_new
        out = np.empty(n, dtype=np.int64)
        if new.any():
            unseen = np.flatnonzero(~self.seen)
            k = int(new.sum())
            out[new] = self.rng.choice(unseen, size=k, replace=k > len(unseen))
        if (~new).any():
            p = self.replay_distribution()[seen]
            out[~new] = seen[self.rng.choice(len(seen), size=int((~new).sum()), p=p / p.sum())]
        return Proposal(out)

    def _episode_score(self, outcomes: Outcomes, row: int, level: int) -> float | None:
        mode = self.score
        if mode in ("auto", "signal") and outcomes.signals is not None:
            return abs(float(outcomes.signals[row]))
        if outcomes.rewards is None:
            return None
        rewards = np.atleast_1d(outcomes.rewards[row])
        rewards = rewards[~np.isnan(rewards)]
        if rewards.size == 0:
            return None
        if mode == "failure":
            return 1.0 - float(rewards.mean())
        if self.plays[level]:
            baseline = self.value[level]
        else:
            baseline = self.reward_total / self.reward_count if self.reward_count else 0.5
        return float(np.abs(rewards - baseline).mean())

    def observe(self, outcomes: Outcomes) -> None:
        for row, level in enumerate(outcomes.indices.tolist()):
            score = self._episode_score(outcomes, row, level)
            if score is None:
                continue
            if self.seen[level]:
                self.scores[level] = (1 - self.alpha) * self.scores[level] + self.alpha * score
            else:
                self.scores[level] = score
            self.seen[level] = True
            self.episodes += 1
            self.last_played[level] = self.episodes
            if outcomes.rewards is not None:
                rewards = np.atleast_1d(outcomes.rewards[row])
                mean = float(np.nanmean(rewards)) if (~np.isnan(rewards)).any() else None
                if mean is not None:
                    self.plays[level] += 1
                    self.value[level] += (mean - self.value[level]) / self.plays[level]
                    self.reward_total += mean
                    self.reward_count += 1

    def state_dict(self) -> dict[str, Any]:
        return {
            "scores": self.scores.copy(),
            "seen": self.seen.copy(),
            "last_played": self.last_played.copy(),
            "value": self.value.copy(),
            "plays": self.plays.copy(),
            "episodes": self.episodes,
            "reward_total": self.reward_total,
            "reward_count": self.reward_count,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.scores = np.array(state["scores"], dtype=np.float64)
        self.seen = np.array(state["seen"], dtype=bool)
        self.last_played = np.array(state["last_played"], dtype=np.int64)
        self.value = np.array(state["value"], dtype=np.float64)
        self.plays = np.array(state["plays"], dtype=np.int64)
        self.episodes = int(state["episodes"])
        self.reward_total = float(state["reward_total"])
        self.reward_count = int(state["reward_count"])

    def metrics(self) -> dict[str, float]:
        seen = self.seen.sum()
        return {
            "seen_fraction": float(seen / self.pool.size),
            "score_mean": float(self.scores[self.seen].mean()) if seen else 0.0,
        }


@register("sequential")
class Sequential(Strategy):
    """Stages in a fixed order, each trained until a stopping condition holds.

    Stages are the pool's groups in ``pool.group_names`` order (``stages="groups"``), or
    ``n_stages`` quantile bands of ``pool.difficulty`` (``stages="difficulty"``; easiest
    first); ``"auto"`` uses groups when the pool has them, else difficulty. Tasks are drawn
    uniformly within the current stage; it advances (the last stage stays) when:

    - ``until="steps"``: ``threshold`` observe calls were made in the stage;
    - ``until="episodes"``: ``threshold`` episodes were observed in the stage;
    - ``until="mean_return"``: the mean score of the stage's last ``window`` episodes
      reaches ``threshold`` (with at least ``window`` episodes).

    Example:
        >>> from stepladder import Curriculum, ItemPool, Outcomes
        >>> pool = ItemPool(size=4, groups=["easy", "easy", "hard", "hard"])
        >>> cur = Curriculum(pool, "sequential", seed=0, until="episodes", threshold=2)
        >>> sorted(set(cur.propose(6).indices.tolist()))
        [0, 1]
        >>> cur.observe(Outcomes([0, 1], rewards=[0.0, 1.0]))
        >>> cur.strategy.stage, sorted(set(cur.propose(6).indices.tolist()))
        (1, [2, 3])
    """

    def __init__(
        self,
        *,
        stages: str = "auto",
        n_stages: int = 4,
        until: str = "mean_return",
        threshold: float = 0.8,
        window: int = 50,
    ) -> None:
        self.stages = choice("stages", stages, ("auto", "groups", "difficulty"))
        self.n_stages = positive_int("n_stages", n_stages)
        self.until = choice("until", until, ("steps", "episodes", "mean_return"))
        self.threshold = _number("threshold", threshold, 0.0, math.inf)
        self.window = positive_int("window", window)

    def _setup(self) -> None:
        kind = self.stages
        if kind == "auto":
            kind = "groups" if self.pool.groups is not None else "difficulty"
        if kind == "groups":
            if self.pool.groups is None:
                raise ValueError("sequential: stages='groups' needs a pool with group labels")
            self._members = [self.pool.members(g) for g in range(self.pool.n_groups)]
        else:
            difficulty = self.pool.difficulty
            if difficulty is None:
                raise ValueError(
                    "sequential needs stages: a pool with group labels or a difficulty column"
                )
            known = np.where(np.isnan(difficulty), np.nanmax(difficulty, initial=0.0), difficulty)
            edges = np.quantile(known, np.linspace(0, 1, self.n_stages + 1)[1:-1])
            band = np.searchsorted(edges, known, side="right")
            self._members = [np.flatnonzero(band == b) for b in range(self.n_stages)]
        self._members = [m.astype(np.int64) for m in self._members if len(m)]
        self.stage = 0
        self.stage_steps = 0
        self.recent = _ScoreHistory(1, self.window)

    def propose(self, n: int) -> Proposal:
        members = self._members[self.stage]
        return Proposal(members[self.rng.integers(0, len(members), size=n)])

    def _done(self) -> bool:
        if self.until == "steps":
            return self.stage_steps >= self.threshold
        if self.until == "episodes":
            return self.recent.count[0] >= self.threshold
        return self.recent.count[0] >= self.window and self.recent.means()[0] >= self.threshold

    def observe(self, outcomes: Outcomes) -> None:
        _, scores = _episode_scores(outcomes)
        for x in scores.tolist():
            self.recent.push(0, x)
        self.stage_steps += 1
        if self.stage < len(self._members) - 1 and self._done():
            self.stage += 1
            self.stage_steps = 0
            self.recent = _ScoreHistory(1, self.window)

    def state_dict(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "stage_steps": self.stage_steps,
            "recent": self.recent.state_dict(),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stage = int(state["stage"])
        self.stage_steps = int(state["stage_steps"])
        self.recent.load_state_dict(state["recent"])

    def metrics(self) -> dict[str, float]:
        return {"stage": float(self.stage), "stages": float(len(self._members))}
