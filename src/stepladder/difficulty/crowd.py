"""Difficulty from an artificial crowd: cheap models trained on folds answer held-out items.

PUDF (Meng et al., 2024) grades training items without human responses: several models
trained with different budgets (epochs) form a "crowd" whose right and wrong answers are the
responses of a 1PL IRT model; each item's fitted difficulty is then its curriculum difficulty.
This module does that for any model, through one user-supplied function::

    fit_predict(train_idx, predict_idx, budget, seed) -> correct  # bool array, one per item

which trains a model on the items ``train_idx`` with a training budget (epochs, iterations,
trees...) and says which of the items ``predict_idx`` it gets right. Every item is predicted
only by models that did not train on it (K-fold cross-fitting), so a difficulty reflects how
hard an item is to generalise to, not how well it was memorised.

Example:
    >>> import numpy as np
    >>> labels = np.arange(40) % 4
    >>> def fit_predict(train_idx, predict_idx, budget, seed):
    ...     # a "model" that gets an item right when its label is below the budget
    ...     return labels[predict_idx] < budget
    >>> crowd = artificial_crowd(fit_predict, 40, folds=4, budgets=(1, 2, 3, 4))
    >>> crowd.responses.shape, int(np.isnan(crowd.responses).sum())
    ((40, 4), 0)
    >>> b = crowd.difficulty()
    >>> bool(b[labels == 0].max() < b[labels == 3].min())
    True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stepladder._checks import positive_int
from stepladder.difficulty.registry import make_grader
from stepladder.difficulty.responses import Responses

__all__ = ["ArtificialCrowd", "CrowdMember", "artificial_crowd", "crowd_difficulty", "fold_ids"]

#: ``fit_predict(train_idx, predict_idx, budget, seed) -> correct`` (one bool per predicted item).
FitPredict = Callable[[np.ndarray, np.ndarray, Any, int], Any]


@dataclass(frozen=True)
class CrowdMember:
    """One column of the response matrix: a training recipe (budget) and its cross-fit runs.

    Attributes:
        budget: the training budget passed to ``fit_predict``.
        repeat: which fold split (0 .. repeats - 1) the member's models used.
        fold: the held-out fold when each fold's model is its own member
            (``merge_folds=False``); -1 when the member merges the K fold models.
        seed: the seed passed to ``fit_predict``.
    """

    budget: Any
    repeat: int
    fold: int
    seed: int


@dataclass
class ArtificialCrowd:
    """The crowd's responses: ``responses[i, j]`` is 1.0 if member j got item i right.

    NaN marks items a member did not answer (its training items when folds are not merged).
    ``responses`` is the items x learners matrix that ``stepladder.grade`` accepts.
    """

    responses: np.ndarray
    members: list[CrowdMember] = field(default_factory=list)

    @property
    def n_items(self) -> int:
        """Number of items (rows)."""
        return int(self.responses.shape[0])

    def accuracy(self) -> np.ndarray:
        """Share of answered items each member got right (one value per column)."""
        return np.nanmean(self.responses, axis=0)

    def difficulty(self, model: str = "1pl", **options: Any) -> np.ndarray:
        """IRT difficulty of every item, fitted with :func:`stepladder.grade` on the responses.

        Args:
            model: an IRT model name accepted by ``stepladder.grade`` (``"1pl"`` as in PUDF).
            **options: passed to the grader (e.g. ``method="jml"``); IRT models fit items
                every member answered right (or wrong) too (``constant_items="include"``), so
                that every answered item gets a difficulty, and skip standard errors.

        Returns one difficulty per item in item order (larger = harder); NaN for an item no
        member answered.
        """
        responses = Responses.from_matrix(self.responses)
        if model in ("1pl", "2pl", "3pl", "4pl"):
            options = {"constant_items": "include", "standard_errors": False, **options}
        table = make_grader(model, **options).fit(responses).item_table()
        item_ids = np.asarray(table.column("item_id").to_pylist(), dtype=np.int64)
        values = np.asarray(
            [np.nan if v is None else v for v in table.column("difficulty").to_pylist()],
            dtype=np.float64,
        )
        out = np.full(self.n_items, np.nan)
        out[item_ids] = values
        answered = np.any(~np.isnan(self.responses), axis=1)
        out[~answered] = np.nan
        return out


def fold_ids(n_items: int, folds: int, seed: int) -> np.ndarray:
    """Fold of each item: a seeded random split into ``folds`` parts of near-equal size.

    Example:
        >>> np.bincount(fold_ids(10, 3, seed=0)).tolist()
        [4, 3, 3]
    """
    n_items = positive_int("n_items", n_items)
    folds = positive_int("folds", folds)
    if folds < 2 or folds > n_items:
        raise ValueError(f"folds must be between 2 and n_items ({n_items}), got {folds}")
    order = np.random.default_rng(seed).permutation(n_items)
    ids = np.empty(n_items, dtype=np.int64)
    ids[order] = np.arange(n_items) % folds
    return ids


def _as_correct(values: Any, expected: int, budget: Any, fold: int) -> np.ndarray:
    correct = np.asarray(values)
    if hasattr(values, "detach"):  # a torch tensor
        correct = values.detach().cpu().numpy()
    correct = np.asarray(correct, dtype=np.float64).reshape(-1)
    if len(correct) != expected:
        raise ValueError(
            f"fit_predict returned {len(correct)} results for {expected} items "
            f"(budget={budget!r}, fold={fold})"
        )
    if np.any(np.isnan(correct)) or np.any((correct < 0) | (correct > 1)):
        raise ValueError("fit_predict must return correctness in [0, 1] (bool or 0/1)")
    return correct


def artificial_crowd(
    fit_predict: FitPredict,
    n_items: int,
    *,
    folds: int = 5,
    budgets: Sequence[Any] = (1, 2, 4, 8),
    repeats: int = 1,
    merge_folds: bool = True,
    seed: int = 0,
) -> ArtificialCrowd:
    """Train a crowd of cheap models on folds and record which held-out items each gets right.

    For each repeat r (a fresh random K-fold split) and each fold k, for each budget b, one
    model is trained on the items outside fold k and predicts the items of fold k:
    ``fit_predict(train_idx, predict_idx, b, seed)``. The seed is ``seed + 1000 * r + k``,
    shared by the budgets of one fold, so a budget's effect is not confounded with a new
    initialisation.

    Args:
        fit_predict: trains on ``train_idx`` with ``budget`` and returns, for each item of
            ``predict_idx`` (in that order), whether the model got it right.
        n_items: number of items (indices 0 .. n_items - 1).
        folds: K, the number of folds (>= 2).
        budgets: training budgets, one crowd member each (e.g. epochs 1, 2, 4, 8): weak and
            strong models together spread the items over a range of difficulty.
        repeats: independent fold splits; each adds ``len(budgets)`` members.
        merge_folds: one member per (repeat, budget) that answers every item through the K
            fold models (a complete matrix, the default), or one member per (repeat, fold,
            budget) that answers only its fold (NaN elsewhere).
        seed: base seed of the fold splits and of the models.

    Returns an :class:`ArtificialCrowd`; ``crowd.responses`` goes straight into
    ``stepladder.grade(crowd.responses, "1pl")``, ``crowd.difficulty()`` does that for you.
    """
    n_items = positive_int("n_items", n_items)
    repeats = positive_int("repeats", repeats)
    budgets = list(budgets)
    if not budgets:
        raise ValueError("budgets must name at least one training budget")
    per_repeat = len(budgets) if merge_folds else len(budgets) * folds
    responses = np.full((n_items, repeats * per_repeat), np.nan)
    members: list[CrowdMember] = []
    for repeat in range(repeats):
        fold_of = fold_ids(n_items, folds, seed + 7919 * repeat)
        base = repeat * per_repeat
        if merge_folds:
            members += [CrowdMember(b, repeat, -1, seed + 1000 * repeat) for b in budgets]
        for fold in range(folds):
            predict_idx = np.flatnonzero(fold_of == fold)
            train_idx = np.flatnonzero(fold_of != fold)
            run_seed = seed + 1000 * repeat + fold
            for j, budget in enumerate(budgets):
                correct = _as_correct(
                    fit_predict(train_idx, predict_idx, budget, run_seed),
                    len(predict_idx),
                    budget,
                    fold,
                )
                column = base + j if merge_folds else base + fold * len(budgets) + j
                responses[predict_idx, column] = correct
                if not merge_folds:
                    members.append(CrowdMember(budget, repeat, fold, run_seed))
    return ArtificialCrowd(responses, members)


def crowd_difficulty(
    fit_predict: FitPredict,
    n_items: int,
    *,
    folds: int = 5,
    budgets: Sequence[Any] = (1, 2, 4, 8),
    repeats: int = 1,
    merge_folds: bool = True,
    seed: int = 0,
    model: str = "1pl",
    **options: Any,
) -> np.ndarray:
    """1PL (or other IRT) difficulty of each item from an :func:`artificial_crowd`.

    The arguments are those of :func:`artificial_crowd`, plus the IRT ``model`` and grader
    ``options`` of :meth:`ArtificialCrowd.difficulty`. Returns one difficulty per item
    (larger = harder), ready for ``ItemPool(..., difficulty=...)``.
    """
    crowd = artificial_crowd(
        fit_predict,
        n_items,
        folds=folds,
        budgets=budgets,
        repeats=repeats,
        merge_folds=merge_folds,
        seed=seed,
    )
    return crowd.difficulty(model, **options)
