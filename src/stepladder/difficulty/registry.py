"""The graders by ``--model`` name; :func:`stepladder.grading.make_grader` is the public door.

It imports the grader modules directly (not the :mod:`stepladder.difficulty` package), so
the package and :mod:`stepladder.grading` can both import it without a cycle.

Example:
    >>> type(make_grader("elo")).__name__, make_grader("1pl").model
    ('Elo', '1pl')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stepladder.difficulty.base import Grader
from stepladder.difficulty.irt import IRT
from stepladder.difficulty.model_choice import AutoIRT
from stepladder.difficulty.passrate import PassRateGrader
from stepladder.difficulty.ratings import Elo, Glicko2

__all__ = ["GRADERS", "make_grader"]

#: ``--model`` name -> factory of the grader (keyword options pass through).
GRADERS: dict[str, Callable[..., Grader]] = {
    "1pl": lambda **options: IRT("1pl", **options),
    "2pl": lambda **options: IRT("2pl", **options),
    "3pl": lambda **options: IRT("3pl", **options),
    "4pl": lambda **options: IRT("4pl", **options),
    "auto": AutoIRT,
    "elo": Elo,
    "glicko2": Glicko2,
    "passrate": PassRateGrader,
}


def make_grader(model: str, **options: Any) -> Grader:
    """The grader for a model name (``1pl`` .. ``4pl``, ``auto``, ``elo``, ``glicko2``,
    ``passrate``)."""
    try:
        factory = GRADERS[model]
    except KeyError:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(GRADERS)}") from None
    return factory(**options)
