"""Elo and Glicko-2 ratings: every response is a game between a learner and an item.

The item's rating is its difficulty (higher = harder) and the learner's rating its ability,
on the chess scale (a newcomer starts at 1500; a 400-point gap means 10:1 odds). The rows of
a :class:`Responses` log are taken to be in time order. A row with ``k`` successes out of
``n`` trials counts as ``n`` games played at once (within one rating period) with total
score ``k``, so each update is weighted by ``n``; a single attempt may score anywhere in
``[0, 1]`` (a draw scores 0.5).

Games are grouped into rating periods: all games of a period are scored against the ratings
at its start and their updates are summed, which is exact for Glicko-2 (Glickman, "Example
of the Glicko-2 system", 2013) and the FIDE rating-period form of Elo (Elo, "The Rating of
Chessplayers, Past and Present", 1978). Each period is vectorised with NumPy; ``Elo`` with
``period_size=1`` is classic game-by-game Elo.
"""

from __future__ import annotations

import math
import time
from typing import Any, Self

import numpy as np
import pyarrow as pa

from stepladder._checks import finite_array, index_array, number, positive_int
from stepladder.difficulty.base import Grader, item_table, learner_table
from stepladder.difficulty.responses import Responses

__all__ = ["GLICKO2_SCALE", "Elo", "Glicko2"]

#: Glicko-2 internal scale: mu = (rating - 1500) / 173.7178 (= 400 / ln 10), as in the paper.
GLICKO2_SCALE = 173.7178
_CHUNK = 1 << 18  # rows converted to Python lists at a time by sequential Elo


class _Ratings(Grader):
    """Shared plumbing: rating periods, growth on demand, tables, summary and state."""

    period_size: int

    def __init__(self) -> None:
        self.responses_: Responses | None = None
        self.seconds_ = 0.0
        self.reset()

    # Subclasses provide these.
    def params(self) -> dict[str, Any]:
        """The configuration, as passed to ``__init__``."""
        raise NotImplementedError

    def reset(self, n_learners: int = 0, n_items: int = 0) -> None:
        """Forget all games; ``n_learners`` learners and ``n_items`` items start unrated."""
        raise NotImplementedError

    def _period(
        self, learner: np.ndarray, item: np.ndarray, won: np.ndarray, n: np.ndarray
    ) -> None:
        raise NotImplementedError

    def _arrays(self) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def _columns(self, side: str, size: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def update(self, learners: Any, items: Any, scores: Any, trials: Any = None) -> None:
        """Play one rating period: row ``j`` is learner ``learners[j]`` against ``items[j]``.

        ``scores`` are mean scores in ``[0, 1]`` over ``trials`` attempts (default 1); scalars
        broadcast, so ``update(0, items, scores)`` rates one learner against a batch. Indices
        beyond the current players add new, unrated players.

        Example:
            >>> elo = Elo()
            >>> elo.update(0, [0, 1], [1.0, 0.5], trials=[1, 4])  # learner 0, two items
            >>> elo.item_rating.tolist()
            [1484.0, 1500.0]
        """
        self._period(*_games(learners, items, scores, trials))

    def fit(self, responses: Responses, *, periods: Any = None) -> Self:
        """Replay ``responses`` in row order from scratch, ``period_size`` rows a period.

        ``periods`` (one non-decreasing label per row, e.g. the training step) overrides
        ``period_size``: each distinct label is one rating period.
        """
        start = time.perf_counter()
        self.reset(responses.n_learners, responses.n_items)
        bounds = _period_bounds(len(responses), self.period_size, periods)
        self._replay(responses, bounds)
        self.responses_ = responses
        self.seconds_ = time.perf_counter() - start
        return self

    def _replay(self, responses: Responses, bounds: np.ndarray) -> None:
        r = responses
        for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
            self._period(r.learner[lo:hi], r.item[lo:hi], r.successes[lo:hi], r.trials[lo:hi])

    def item_table(self) -> pa.Table:
        """item_id, difficulty (rating), n_responses, p_correct, se_difficulty, extras."""
        responses = self._require_fit()
        columns = self._columns("item", responses.n_items)
        rating, se = columns.pop("rating"), columns.pop("se")
        return item_table(responses, rating, se_difficulty=se, **columns)

    def learner_table(self) -> pa.Table:
        """learner_id, ability (rating), n_responses, se_ability, extras."""
        responses = self._require_fit()
        columns = self._columns("learner", responses.n_learners)
        rating, se = columns.pop("rating"), columns.pop("se")
        return learner_table(responses, rating, se_ability=se, **columns)

    def summary(self) -> dict[str, Any]:
        """Model, sizes, number of rating periods, seconds and parameters."""
        return {
            **self._summary_basics(),
            "periods": self.periods_,
            "seconds": self.seconds_,
            "params": self.params(),
        }

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume exactly: parameters, period count, player arrays."""
        arrays = {name: values.copy() for name, values in self._arrays().items()}
        return {"model": self.model, "params": self.params(), "periods": self.periods_, **arrays}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from :meth:`state_dict`; the configuration must match."""
        if state.get("model") != self.model:
            raise ValueError(f"state is for model {state.get('model')!r}, not {self.model!r}")
        mine = self.params()
        for name, value in state["params"].items():
            if mine.get(name) != value:
                raise ValueError(f"state has {name}={value!r}, this grader {mine.get(name)!r}")
        for name, values in self._arrays().items():
            setattr(self, f"_{name}", np.array(state[name], dtype=values.dtype))
        self.periods_ = int(state["periods"])


class Elo(_Ratings):
    """Elo ratings of learners and items.

    Expected score of learner ``l`` against item ``i``, and the update after a row with ``k``
    successes out of ``n`` trials (A. E. Elo, "The Rating of Chessplayers, Past and
    Present", 1978)::

        E   = 1 / (1 + 10 ** ((R_i - R_l) / scale))
        R_l = R_l + K * (k - n * E)
        R_i = R_i - K * (k - n * E)

    ``K = 32`` is the classic chess default (the USCF's K below 2100). ``period_size=1``
    (default) is classic Elo: rows one at a time in log order, each scored against the
    ratings the previous rows left (a tight loop: 10 million rows in 2-5 seconds). Elo is
    order dependent: the same games in another order give other ratings. With
    ``period_size=m`` the log is cut into periods of ``m`` rows whose updates are computed
    from the ratings at the period's start and summed (vectorised, some 50 million rows a
    second); a player with many games in one period then moves by up to ``K`` per game at
    once and can overshoot, so keep periods short relative to each player's games. Elo has
    no standard error: ``se_difficulty`` and ``se_ability`` are NaN. Online, each
    :meth:`update` call is one rating period whatever ``period_size`` says.

    Example:
        >>> r = Responses.from_long(["ann"], ["q1"], [1])
        >>> elo = Elo(k=32).fit(r)
        >>> elo.learner_rating.tolist(), elo.item_rating.tolist()
        ([1516.0], [1484.0])
    """

    model = "elo"

    def __init__(
        self,
        *,
        k: float = 32.0,
        initial_rating: float = 1500.0,
        scale: float = 400.0,
        period_size: int = 1,
    ) -> None:
        self.k = number("k", k, low=0, open_low=True)
        self.initial_rating = number("initial_rating", initial_rating)
        self.scale = number("scale", scale, low=0, open_low=True)
        self.period_size = positive_int("period_size", period_size)
        super().__init__()

    def params(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "initial_rating": self.initial_rating,
            "scale": self.scale,
            "period_size": self.period_size,
        }

    def reset(self, n_learners: int = 0, n_items: int = 0) -> None:
        self._learner_rating = np.full(n_learners, self.initial_rating)
        self._item_rating = np.full(n_items, self.initial_rating)
        self.periods_ = 0

    @property
    def learner_rating(self) -> np.ndarray:
        """Current learner ratings (ability)."""
        return self._learner_rating.copy()

    @property
    def item_rating(self) -> np.ndarray:
        """Current item ratings (difficulty)."""
        return self._item_rating.copy()

    def expected(self, learners: Any, items: Any) -> np.ndarray:
        """Expected score of each learner against each item (broadcast), ``E`` above.

        Example:
            >>> Elo().expected(0, [0, 1]).tolist()
            [0.5, 0.5]
        """
        learner, item, _, _ = _games(learners, items, 0.0, None)
        self._grow(learner, item)
        return self._expected(self._learner_rating[learner], self._item_rating[item])

    def _expected(self, learner_rating: np.ndarray, item_rating: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + 10.0 ** ((item_rating - learner_rating) / self.scale))

    def _grow(self, learner: np.ndarray, item: np.ndarray) -> None:
        self._learner_rating = _grown(self._learner_rating, learner, self.initial_rating)
        self._item_rating = _grown(self._item_rating, item, self.initial_rating)

    def _period(
        self, learner: np.ndarray, item: np.ndarray, won: np.ndarray, n: np.ndarray
    ) -> None:
        self._grow(learner, item)
        expected = self._expected(self._learner_rating[learner], self._item_rating[item])
        change = self.k * (won - n * expected)
        np.add.at(self._learner_rating, learner, change)
        np.subtract.at(self._item_rating, item, change)
        self.periods_ += 1

    def _replay(self, responses: Responses, bounds: np.ndarray) -> None:
        if len(bounds) - 1 < len(responses):
            super()._replay(responses, bounds)
            return
        # One row a period: classic sequential Elo over Python floats (NumPy per row is slower),
        # in chunks so the row lists stay small. change = K k - K n E with
        # E = 1 / (1 + 10 ** ((R_i - R_l) / scale)) = 1 / (1 + e^x), x = ln(10) (R_i - R_l) / scale
        r, c, exp = responses, math.log(10.0) / self.scale, math.exp
        learner, item = self._learner_rating.tolist(), self._item_rating.tolist()
        for lo in range(0, len(r), _CHUNK):
            rows = slice(lo, lo + _CHUNK)
            k_won, k_n = (self.k * r.successes[rows]).tolist(), (self.k * r.trials[rows]).tolist()
            who, what = r.learner[rows].tolist(), r.item[rows].tolist()
            for li, ii, kw, kn in zip(who, what, k_won, k_n, strict=True):
                x = c * (item[ii] - learner[li])
                change = kw - (kn / (1.0 + exp(x)) if x < 700.0 else 0.0)  # E = 0 if e^x overflows
                learner[li] += change
                item[ii] -= change
        self._learner_rating, self._item_rating = np.array(learner), np.array(item)
        self.periods_ += len(r)

    def _arrays(self) -> dict[str, np.ndarray]:
        return {"learner_rating": self._learner_rating, "item_rating": self._item_rating}

    def _columns(self, side: str, size: int) -> dict[str, np.ndarray]:
        rating = (self._learner_rating if side == "learner" else self._item_rating)[:size]
        return {"rating": rating, "se": np.full(size, np.nan)}


class Glicko2(_Ratings):
    """Glicko-2 ratings with rating deviation (RD) and volatility for learners and items.

    Follows Glickman, "Example of the Glicko-2 system" (2013), vectorised over all players
    of a rating period. On the internal scale ``mu = (r - 1500) / 173.7178``,
    ``phi = RD / 173.7178``, a player with games ``j`` against opponents ``(mu_j, phi_j)``
    with scores ``s_j``::

        g(phi) = 1 / sqrt(1 + 3 phi^2 / pi^2)
        E_j    = 1 / (1 + exp(-g(phi_j) (mu - mu_j)))
        v      = 1 / sum_j g(phi_j)^2 E_j (1 - E_j)
        Delta  = v sum_j g(phi_j) (s_j - E_j)
        sigma' = root of f(x) = e^x (Delta^2 - phi^2 - v - e^x) / (2 (phi^2 + v + e^x)^2)
                                - (x - ln sigma^2) / tau^2,  sigma' = e^(x/2)
                 (Illinois algorithm, tolerance ``tol``)
        phi*   = sqrt(phi^2 + sigma'^2)
        phi'   = 1 / sqrt(1 / phi*^2 + 1 / v)
        mu'    = mu + phi'^2 sum_j g(phi_j) (s_j - E_j)

    A player who does not play in a period keeps ``mu`` and ``sigma`` while
    ``phi' = sqrt(phi^2 + sigma^2)``. Pre-period deviations are capped at ``max_rd``
    (default: ``initial_rd``), the rule of Glickman's "The Glicko system" (1995);
    ``max_rd=math.inf`` is the uncapped rule of the Glicko-2 example. A player's clock
    starts at its first game, so items first seen late are not penalised for periods
    before they existed. The log is cut into periods of ``period_size`` rows (or by
    ``fit(..., periods=labels)``); the paper advises 10-15 games per player per period.
    Online, each :meth:`update` call is one rating period.

    Example:
        >>> r = Responses.from_long(["ann", "ann", "bob"], ["q1", "q2", "q2"], [1, 0, 0])
        >>> g = Glicko2().fit(r)
        >>> bool(g.item_rating[1] > g.item_rating[0]), bool(g.item_rd.max() < 350)
        (True, True)
    """

    model = "glicko2"

    def __init__(
        self,
        *,
        tau: float = 0.5,
        initial_rating: float = 1500.0,
        initial_rd: float = 350.0,
        initial_volatility: float = 0.06,
        max_rd: float | None = None,
        period_size: int = 10_000,
        tol: float = 1e-6,
    ) -> None:
        self.tau = number("tau", tau, low=0, open_low=True)
        self.initial_rating = number("initial_rating", initial_rating)
        self.initial_rd = number("initial_rd", initial_rd, low=0, open_low=True)
        self.initial_volatility = number(
            "initial_volatility", initial_volatility, low=0, open_low=True
        )
        self.max_rd = self.initial_rd if max_rd is None else float(max_rd)
        if not self.max_rd > 0:
            raise ValueError(f"max_rd must be positive, got {max_rd}")
        self._max_phi = self.max_rd / GLICKO2_SCALE
        self.period_size = positive_int("period_size", period_size)
        self.tol = number("tol", tol, low=0, open_low=True)
        super().__init__()

    def params(self) -> dict[str, Any]:
        return {
            "tau": self.tau,
            "initial_rating": self.initial_rating,
            "initial_rd": self.initial_rd,
            "initial_volatility": self.initial_volatility,
            "max_rd": self.max_rd,
            "period_size": self.period_size,
            "tol": self.tol,
        }

    def reset(self, n_learners: int = 0, n_items: int = 0) -> None:
        for side, size in (("learner", n_learners), ("item", n_items)):
            setattr(self, f"_{side}_mu", np.zeros(size))
            setattr(self, f"_{side}_phi", np.full(size, self.initial_rd / GLICKO2_SCALE))
            setattr(self, f"_{side}_sigma", np.full(size, self.initial_volatility))
            setattr(self, f"_{side}_last", np.full(size, -1, dtype=np.int64))  # -1: never played
        self.periods_ = 0

    @property
    def learner_rating(self) -> np.ndarray:
        """Current learner ratings (ability)."""
        return self.initial_rating + GLICKO2_SCALE * self._learner_mu

    @property
    def item_rating(self) -> np.ndarray:
        """Current item ratings (difficulty)."""
        return self.initial_rating + GLICKO2_SCALE * self._item_mu

    @property
    def learner_rd(self) -> np.ndarray:
        """Current learner rating deviations, grown for the periods since each last played."""
        return GLICKO2_SCALE * self._phi_now("learner", slice(None), self.periods_)

    @property
    def item_rd(self) -> np.ndarray:
        """Current item rating deviations, grown for the periods since each last played."""
        return GLICKO2_SCALE * self._phi_now("item", slice(None), self.periods_)

    @property
    def learner_volatility(self) -> np.ndarray:
        """Current learner volatilities (sigma)."""
        return self._learner_sigma.copy()

    @property
    def item_volatility(self) -> np.ndarray:
        """Current item volatilities (sigma)."""
        return self._item_sigma.copy()

    def expected(self, learners: Any, items: Any) -> np.ndarray:
        """Expected learner score, both deviations combined (Glickman, "The Glicko system")::

            E = 1 / (1 + exp(-g(sqrt(phi_l^2 + phi_i^2)) (mu_l - mu_i)))

        Example:
            >>> g = Glicko2()
            >>> g.update(0, [0, 1], [1.0, 0.0])
            >>> g.expected(0, [0, 1]).round(2).tolist()
            [0.64, 0.36]
        """
        learner, item, _, _ = _games(learners, items, 0.0, None)
        self._grow(learner, item)
        t = self.periods_
        phi = np.hypot(self._phi_now("learner", learner, t), self._phi_now("item", item, t))
        return _sigmoid(_g(phi) * (self._learner_mu[learner] - self._item_mu[item]))

    def _phi_now(self, side: str, index: Any, t: int) -> np.ndarray:
        """Deviation before period ``t``: ``phi^2 + idle * sigma^2`` for each idle period."""
        phi = getattr(self, f"_{side}_phi")[index]
        sigma = getattr(self, f"_{side}_sigma")[index]
        last = getattr(self, f"_{side}_last")[index]
        idle = np.where(last >= 0, t - 1 - last, 0)
        return np.minimum(np.sqrt(phi**2 + idle * sigma**2), self._max_phi)

    def _grow(self, learner: np.ndarray, item: np.ndarray) -> None:
        start = (0.0, self.initial_rd / GLICKO2_SCALE, self.initial_volatility, -1)
        for side, index in (("learner", learner), ("item", item)):
            for field, fill in zip(("mu", "phi", "sigma", "last"), start, strict=True):
                name = f"_{side}_{field}"
                setattr(self, name, _grown(getattr(self, name), index, fill))

    def _period(
        self, learner: np.ndarray, item: np.ndarray, won: np.ndarray, n: np.ndarray
    ) -> None:
        self._grow(learner, item)
        t = self.periods_
        learners, li = np.unique(learner, return_inverse=True)
        items, ii = np.unique(item, return_inverse=True)
        # Players of this period: its learners, then its items.
        mu = np.concatenate([self._learner_mu[learners], self._item_mu[items]])
        phi = np.concatenate(
            [self._phi_now("learner", learners, t), self._phi_now("item", items, t)]
        )
        sigma = np.concatenate([self._learner_sigma[learners], self._item_sigma[items]])
        # Every game seen from both sides: the item scores n - k where the learner scores k.
        player = np.concatenate([li, len(learners) + ii])
        opponent = np.concatenate([len(learners) + ii, li])
        score, weight = np.concatenate([won, n - won]), np.concatenate([n, n])
        g = _g(phi[opponent])
        expected = _sigmoid(g * (mu[player] - mu[opponent]))
        info = np.bincount(player, weight * g**2 * expected * (1 - expected), len(mu))  # 1 / v
        gain = np.bincount(player, g * (score - weight * expected), len(mu))  # sum g (s - E)
        mu, phi, sigma = _glicko2_step(
            mu, phi, sigma, info, gain, tau=self.tau, tol=self.tol, max_phi=self._max_phi
        )
        cut = len(learners)
        parts = (("learner", learners, slice(None, cut)), ("item", items, slice(cut, None)))
        for side, index, part in parts:
            getattr(self, f"_{side}_mu")[index] = mu[part]
            getattr(self, f"_{side}_phi")[index] = phi[part]
            getattr(self, f"_{side}_sigma")[index] = sigma[part]
            getattr(self, f"_{side}_last")[index] = t
        self.periods_ += 1

    def _arrays(self) -> dict[str, np.ndarray]:
        return {
            f"{side}_{field}": getattr(self, f"_{side}_{field}")
            for side in ("learner", "item")
            for field in ("mu", "phi", "sigma", "last")
        }

    def _columns(self, side: str, size: int) -> dict[str, np.ndarray]:
        rating = self.learner_rating if side == "learner" else self.item_rating
        rd = self.learner_rd if side == "learner" else self.item_rd
        sigma = getattr(self, f"_{side}_sigma")
        return {"rating": rating[:size], "se": rd[:size], "volatility": sigma[:size]}


def _glicko2_step(
    mu: np.ndarray,
    phi: np.ndarray,
    sigma: np.ndarray,
    info: np.ndarray,
    gain: np.ndarray,
    *,
    tau: float,
    tol: float,
    max_phi: float = math.inf,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Glicko-2 steps 3-7 for players with ``info = 1 / v`` and ``gain = sum g (s - E)``.

    ``phi`` is the pre-period deviation. Players with ``info == 0`` (no informative game)
    are treated as idle: ``phi' = sqrt(phi^2 + sigma^2)``. Both that and ``phi*`` are
    capped at ``max_phi``.
    """
    mu, phi, sigma = mu.copy(), phi.copy(), sigma.copy()
    p = info > 0
    phi[~p] = np.minimum(np.sqrt(phi[~p] ** 2 + sigma[~p] ** 2), max_phi)
    v = 1.0 / info[p]  # step 3
    delta = v * gain[p]  # step 4
    new_sigma = _volatility(delta**2, phi[p] ** 2, v, sigma[p], tau, tol)  # step 5
    phi_star = np.minimum(np.sqrt(phi[p] ** 2 + new_sigma**2), max_phi)  # step 6
    new_phi = 1.0 / np.sqrt(1.0 / phi_star**2 + info[p])  # step 7
    mu[p] = mu[p] + new_phi**2 * gain[p]
    phi[p], sigma[p] = new_phi, new_sigma
    return mu, phi, sigma


def _volatility(
    delta2: np.ndarray,
    phi2: np.ndarray,
    v: np.ndarray,
    sigma: np.ndarray,
    tau: float,
    tol: float,
    max_iter: int = 100,
) -> np.ndarray:
    """New volatility: the root of ``f`` (Glicko-2 step 5) by the Illinois algorithm."""
    a = np.log(sigma**2)

    def f(x: np.ndarray) -> np.ndarray:
        ex = np.exp(x)
        return ex * (delta2 - phi2 - v - ex) / (2.0 * (phi2 + v + ex) ** 2) - (x - a) / tau**2

    big = delta2 > phi2 + v
    A = a.copy()
    B = np.log(np.where(big, delta2 - phi2 - v, 1.0))
    searching, k = ~big, 1
    while searching.any():  # B = a - k tau for the first k with f(a - k tau) >= 0
        x = a - k * tau
        found = searching & (f(x) >= 0)
        B[found] = x[found]
        searching &= ~found
        k += 1
    fa, fb = f(A), f(B)
    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(max_iter):
            active = np.abs(B - A) > tol
            if not active.any():
                break
            C = A + (A - B) * fa / (fb - fa)
            fc = f(C)
            swap = active & (fc * fb <= 0)
            A, fa = np.where(swap, B, A), np.where(swap, fb, np.where(active, fa / 2, fa))
            B, fb = np.where(active, C, B), np.where(active, fc, fb)
    return np.exp(A / 2)


def _g(phi: np.ndarray) -> np.ndarray:
    return 1.0 / np.sqrt(1.0 + 3.0 * phi**2 / np.pi**2)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-x))


def _games(
    learners: Any, items: Any, scores: Any, trials: Any
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Validated ``(learner, item, successes, trials)`` columns of one rating period."""
    columns = [np.atleast_1d(np.asarray(x)) for x in (learners, items, scores)]
    columns.append(np.atleast_1d(np.asarray(1.0 if trials is None else trials)))
    try:
        learner, item, score, n = np.broadcast_arrays(*columns)
    except ValueError:
        lengths = ", ".join(str(len(c)) for c in columns)
        raise ValueError(f"learners, items, scores, trials differ in length ({lengths})") from None
    learner, item = index_array("learners", learner), index_array("items", item)
    for name, index in (("learners", learner), ("items", item)):
        if index.size and index.min() < 0:
            raise ValueError(f"{name} must be non-negative, got {index.min()}")
    score = finite_array("scores", score, ndim=(1,))
    n = finite_array("trials", n, ndim=(1,))
    if ((score < 0) | (score > 1)).any():
        raise ValueError(f"scores must lie in [0, 1], got {score[(score < 0) | (score > 1)][0]}")
    if (n <= 0).any():
        raise ValueError(f"trials must be positive, got {n[n <= 0][0]}")
    return learner, item, score * n, n


def _period_bounds(n_rows: int, period_size: int, periods: Any) -> np.ndarray:
    """Row offsets where rating periods start, followed by ``n_rows``."""
    if periods is None:
        return np.append(np.arange(0, n_rows, period_size), n_rows)
    labels = np.asarray(periods)
    if labels.shape != (n_rows,) or labels.dtype.kind not in "iuf":
        raise ValueError(f"periods must be {n_rows} numeric labels, one per row")
    steps = np.diff(labels)
    if (steps < 0).any():
        row = int(np.argmax(steps < 0)) + 1
        raise ValueError(f"periods must be non-decreasing (rows in time order); row {row} is not")
    return np.concatenate([[0], np.flatnonzero(steps) + 1, [n_rows]])


def _grown(values: np.ndarray, index: np.ndarray, fill: float) -> np.ndarray:
    """``values`` extended with ``fill`` so that every entry of ``index`` is valid."""
    size = int(index.max()) + 1 if index.size else 0
    if size <= len(values):
        return values
    return np.concatenate([values, np.full(size - len(values), fill, dtype=values.dtype)])
