"""The graders by ``--model`` name; :func:`stepladder.grading.make_grader` is the public door.

A factory imports its grader's module when called, so choosing ``2pl`` loads the IRT
module only (not the ratings, pass-rate or model-choice ones), and the package and
:mod:`stepladder.grading` can both import this module without a cycle.

Example:
    >>> type(make_grader("elo")).__name__, make_grader("1pl").model
    ('Elo', '1pl')
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stepladder.difficulty.base import Grader

__all__ = ["GRADERS", "make_grader"]


def _factory(module: str, name: str, *args: Any) -> Callable[..., Grader]:
    """``module.name(*args, **options)``, the module imported on the first call."""

    def make(**options: Any) -> Grader:
        return getattr(importlib.import_module(module), name)(*args, **options)

    return make


_IRT = "stepladder.difficulty.irt"

#: ``--model`` name -> factory of the grader (keyword options pass through).
GRADERS: dict[str, Callable[..., Grader]] = {
    "1pl": _factory(_IRT, "IRT", "1pl"),
    "2pl": _factory(_IRT, "IRT", "2pl"),
    "3pl": _factory(_IRT, "IRT", "3pl"),
    "4pl": _factory(_IRT, "IRT", "4pl"),
    "auto": _factory("stepladder.difficulty.model_choice", "AutoIRT"),
    "elo": _factory("stepladder.difficulty.ratings", "Elo"),
    "glicko2": _factory("stepladder.difficulty.ratings", "Glicko2"),
    "passrate": _factory("stepladder.difficulty.passrate", "PassRateGrader"),
}


def make_grader(model: str, **options: Any) -> Grader:
    """The grader for a model name (``1pl`` .. ``4pl``, ``auto``, ``elo``, ``glicko2``,
    ``passrate``)."""
    try:
        factory = GRADERS[model]
    except KeyError:
        raise ValueError(f"unknown model {model!r}; choose from {', '.join(GRADERS)}") from None
    return factory(**options)
