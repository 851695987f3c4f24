"""Pass rates with a Beta posterior per item: online with forgetting, or graded from a log.

Each item's pass rate ``p_i`` has a ``Beta(alpha0, beta0)`` prior, ``(1, 1)`` by default as
in CurES ("CurES: From Gradient Analysis to Efficient Curriculum Learning for Reasoning
LLMs", 2025) and MoPPS (Qu et al., "Can Prompt Difficulty be Online Predicted for
Accelerating RL Finetuning of Reasoning Models?", 2025). Without forgetting the posterior is
``Beta(alpha0 + successes, beta0 + failures)`` with mean
``(successes + alpha0) / (trials + alpha0 + beta0)``. MoPPS forgets old evidence as the model
trains, with ``lambda`` in ``[0.5, 1]`` (1 = no forgetting)::

    alpha <- lambda * alpha + (1 - lambda) * alpha0 + successes
    beta  <- lambda * beta  + (1 - lambda) * beta0  + failures

MoPPS applies this rule at each training step to the prompts of that step's batch, so here
each :meth:`BetaPassRate.update` call decays only the items it observes, once, after
summing their repeated rows; unobserved items keep their posterior. Scores may be
fractional (``successes`` is a sum of scores in ``[0, 1]``).
"""

from __future__ import annotations

import time
from typing import Any, Self

import numpy as np
import pyarrow as pa
from scipy.special import betaincinv

from stepladder._checks import finite_array, in_range, index_array, number, positive_int
from stepladder.difficulty.base import Grader, item_table, learner_table
from stepladder.difficulty.responses import Responses

__all__ = ["BetaPassRate", "PassRateGrader"]


class BetaPassRate:
    """Beta posterior of every item's pass rate, updated online (MoPPS-style decay).

    Example:
        >>> rates = BetaPassRate(2)
        >>> rates.update([0, 0], [2, 1], [2, 2])  # item 0: 3 of 4; item 1 unseen
        >>> rates.mean().round(4).tolist()
        [0.6667, 0.5]
        >>> low, high = rates.interval(0.9)
        >>> bool(low[0] < 4 / 6 < high[0])
        True
    """

    def __init__(
        self, n_items: int, *, alpha0: float = 1.0, beta0: float = 1.0, decay: float = 1.0
    ) -> None:
        self.n_items = positive_int("n_items", n_items)
        self.alpha0 = number("alpha0", alpha0, low=0, open_low=True)
        self.beta0 = number("beta0", beta0, low=0, open_low=True)
        self.decay = in_range("decay", decay, 0.5, 1.0)
        self.alpha = np.full(self.n_items, self.alpha0)
        self.beta = np.full(self.n_items, self.beta0)

    def __repr__(self) -> str:
        return (
            f"BetaPassRate({self.n_items} items, prior=({self.alpha0:g}, {self.beta0:g}), "
            f"decay={self.decay:g})"
        )

    def update(self, items: Any, successes: Any, trials: Any) -> None:
        """Add one step's results: ``successes[j]`` of ``trials[j]`` attempts on ``items[j]``.

        Repeated items are summed first; each observed item then decays once (see module).
        """
        item = index_array("items", items, self.n_items)
        won = _column("successes", successes, len(item))
        tried = _column("trials", trials, len(item))
        bad = (won < 0) | (won > tried)
        if bad.any():
            j = int(np.argmax(bad))
            raise ValueError(f"successes[{j}] = {won[j]} is not within [0, trials={tried[j]}]")
        seen, where = np.unique(item, return_inverse=True)
        self._absorb(
            seen,
            np.bincount(where, won, len(seen)),
            np.bincount(where, tried, len(seen)),
        )

    def _absorb(self, seen: np.ndarray, won: np.ndarray, tried: np.ndarray) -> None:
        """Decayed update of the distinct items ``seen`` with summed successes and trials."""
        keep = tried > 0
        seen, won, lost = seen[keep], won[keep], tried[keep] - won[keep]
        lam = self.decay
        self.alpha[seen] = lam * self.alpha[seen] + (1 - lam) * self.alpha0 + won
        self.beta[seen] = lam * self.beta[seen] + (1 - lam) * self.beta0 + lost

    def mean(self, items: Any = None) -> np.ndarray:
        """Posterior mean ``alpha / (alpha + beta)``."""
        a, b = self._pick(items)
        return a / (a + b)

    def std(self, items: Any = None) -> np.ndarray:
        """Posterior sd, ``sqrt(alpha beta / ((alpha + beta)^2 (alpha + beta + 1)))``.

        Example:
            >>> BetaPassRate(1, alpha0=2, beta0=2).std().round(4).tolist()
            [0.2236]
        """
        a, b = self._pick(items)
        return np.sqrt(a * b / ((a + b) ** 2 * (a + b + 1)))

    def interval(self, level: float = 0.9, items: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """Equal-tailed credible interval: Beta quantiles at ``(1 -+ level) / 2``.

        ``betaincinv`` is the Beta quantile function, the same as ``scipy.stats.beta.ppf``.
        """
        level = number("level", level, low=0, high=1, open_low=True, open_high=True)
        a, b = self._pick(items)
        return betaincinv(a, b, (1 - level) / 2), betaincinv(a, b, (1 + level) / 2)

    def sample(self, rng: np.random.Generator, items: Any = None) -> np.ndarray:
        """One Thompson draw of the pass rate per item (all items, or ``items``).

        Example:
            >>> draws = BetaPassRate(3).sample(np.random.default_rng(0), [2, 2])
            >>> draws.shape, bool(((draws > 0) & (draws < 1)).all())
            ((2,), True)
        """
        a, b = self._pick(items)
        return rng.beta(a, b)

    def _pick(self, items: Any) -> tuple[np.ndarray, np.ndarray]:
        if items is None:
            return self.alpha.copy(), self.beta.copy()
        index = index_array("items", items, self.n_items)
        return self.alpha[index], self.beta[index]

    def state_dict(self) -> dict[str, Any]:
        """Configuration plus the items whose posterior differs from the prior."""
        touched = np.flatnonzero((self.alpha != self.alpha0) | (self.beta != self.beta0))
        return {
            **self._config(),
            "touched": touched,
            "alpha": self.alpha[touched],
            "beta": self.beta[touched],
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume exactly from :meth:`state_dict`; the configuration must match."""
        for name, value in self._config().items():
            if state[name] != value:
                raise ValueError(f"state has {name}={state[name]!r}, this one {value!r}")
        touched = index_array("touched", state["touched"], self.n_items)
        self.alpha[:] = self.alpha0
        self.beta[:] = self.beta0
        self.alpha[touched] = state["alpha"]
        self.beta[touched] = state["beta"]

    def _config(self) -> dict[str, Any]:
        return {
            "n_items": self.n_items,
            "alpha0": self.alpha0,
            "beta0": self.beta0,
            "decay": self.decay,
        }


class PassRateGrader(Grader):
    """Grade items by their Beta-posterior pass rate over a whole response log.

    ``difficulty = 1 - posterior mean`` lies in ``[0, 1]`` (larger = harder) with
    ``se_difficulty`` the posterior standard deviation. All rows count equally (no decay;
    use :class:`BetaPassRate` online for that). The item table also has ``p_correct`` (raw
    mean score), ``posterior_mean``, ``ci_low``/``ci_high`` (equal-tailed credible interval
    at ``level``) and ``cv``, the coefficient of variation across passes used by DeepDistill
    ("DeepDistill: Enhancing LLM Reasoning Capabilities via Large-Scale Difficulty-Graded
    Data Training", 2025): with ``x`` the per-row mean scores of an item (one row = one
    pass, unweighted), ``cv = std(x) / mean(x)`` with the population standard deviation;
    NaN for items with fewer than two rows or a mean of 0.

    Pass-rate grading has no ability model: a learner's ``ability`` is its mean score and
    ``se_ability = sqrt(p (1 - p) / n)`` the binomial standard error over its ``n`` attempts.

    Example:
        >>> r = Responses.from_long(["a", "b", "a"], ["q1", "q1", "q2"], [1, 0, 1])
        >>> t = PassRateGrader().fit(r).item_table()
        >>> t.column("difficulty").to_pylist(), t.column("cv").to_pylist()
        ([0.5, 0.333], [1.0, nan])
    """

    model = "passrate"

    def __init__(self, *, alpha0: float = 1.0, beta0: float = 1.0, level: float = 0.9) -> None:
        self.alpha0 = number("alpha0", alpha0, low=0, open_low=True)
        self.beta0 = number("beta0", beta0, low=0, open_low=True)
        self.level = number("level", level, low=0, high=1, open_low=True, open_high=True)
        self.responses_: Responses | None = None

    def fit(self, responses: Responses) -> Self:
        """Sum every item's successes and trials into its posterior; compute the CV."""
        start = time.perf_counter()
        r = responses
        self.posterior_ = BetaPassRate(r.n_items, alpha0=self.alpha0, beta0=self.beta0)
        won = np.bincount(r.item, r.successes, r.n_items)
        tried = np.bincount(r.item, r.trials, r.n_items)
        self.posterior_._absorb(np.arange(r.n_items), won, tried)
        self.cv_ = _coefficient_of_variation(r.item, r.scores, r.n_items)
        self.responses_ = responses
        self.seconds_ = time.perf_counter() - start
        return self

    def item_table(self) -> pa.Table:
        """item_id, difficulty, n_responses, p_correct, se_difficulty, posterior, ci, cv."""
        responses = self._require_fit()
        posterior = self.posterior_
        mean = posterior.mean()
        low, high = posterior.interval(self.level)
        return item_table(responses, 1.0 - mean, se_difficulty=posterior.std(),
                          posterior_mean=mean, ci_low=low, ci_high=high, cv=self.cv_)  # fmt: skip

    def learner_table(self) -> pa.Table:
        """learner_id, ability (mean score), n_responses, se_ability (binomial)."""
        responses = self._require_fit()
        p = responses.learner_p_correct()
        n = responses.learner_attempts()
        return learner_table(responses, p, se_ability=np.sqrt(p * (1 - p) / n))

    def summary(self) -> dict[str, Any]:
        """Model, sizes, seconds and the prior."""
        return {
            **self._summary_basics(),
            "seconds": self.seconds_,
            "params": {"alpha0": self.alpha0, "beta0": self.beta0, "level": self.level},
        }


def _coefficient_of_variation(item: np.ndarray, scores: np.ndarray, n_items: int) -> np.ndarray:
    """Per item ``std / mean`` of the row scores (population std); NaN if undefined."""
    rows = np.bincount(item, minlength=n_items)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(item, scores, n_items) / rows
        spread = np.bincount(item, (scores - mean[item]) ** 2, n_items) / rows
        cv = np.sqrt(spread) / mean
    return np.where((rows >= 2) & (mean > 0), cv, np.nan)


def _column(name: str, values: Any, size: int) -> np.ndarray:
    """A finite float column of length ``size`` (scalars broadcast)."""
    column = finite_array(name, values, ndim=(0, 1))
    if column.ndim == 1 and len(column) != size:
        raise ValueError(f"{name} has {len(column)} entries for {size} items")
    return np.broadcast_to(column, (size,))
