"""Difficulty and ability estimation: response logs and offline graders.

The public names load on first use (PEP 562), so ``stepladder grade --model 2pl`` imports
the IRT module and the log readers but no other grader (ratings, pass rates, text
features, learned predictors, artificial crowds).

Example:
    >>> from stepladder.difficulty import IRT, Responses
    >>> log = Responses.from_matrix([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 1]])
    >>> IRT("1pl").fit(log).item_table().column("item_id").to_pylist()
    [0, 1, 2]
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stepladder._lazy import lazy_attributes

if TYPE_CHECKING:
    from stepladder.difficulty.base import Grader
    from stepladder.difficulty.crowd import ArtificialCrowd, artificial_crowd, crowd_difficulty
    from stepladder.difficulty.irt import IRT, ItemParameters, Priors
    from stepladder.difficulty.logs import (
        ResponseLogError,
        iter_response_batches,
        read_responses,
        read_responses_compact,
        write_synthetic_log,
    )
    from stepladder.difficulty.model_choice import AutoIRT
    from stepladder.difficulty.passrate import BetaPassRate, PassRateGrader
    from stepladder.difficulty.predictor import DifficultyPredictor
    from stepladder.difficulty.ratings import Elo, Glicko2
    from stepladder.difficulty.responses import Responses
    from stepladder.difficulty.text import text_difficulty, text_features

#: Public name -> the module that defines it.
_WHERE = {
    "IRT": "stepladder.difficulty.irt",
    "ArtificialCrowd": "stepladder.difficulty.crowd",
    "AutoIRT": "stepladder.difficulty.model_choice",
    "BetaPassRate": "stepladder.difficulty.passrate",
    "DifficultyPredictor": "stepladder.difficulty.predictor",
    "Elo": "stepladder.difficulty.ratings",
    "Glicko2": "stepladder.difficulty.ratings",
    "Grader": "stepladder.difficulty.base",
    "ItemParameters": "stepladder.difficulty.irt",
    "PassRateGrader": "stepladder.difficulty.passrate",
    "Priors": "stepladder.difficulty.irt",
    "ResponseLogError": "stepladder.difficulty.logs",
    "Responses": "stepladder.difficulty.responses",
    "artificial_crowd": "stepladder.difficulty.crowd",
    "crowd_difficulty": "stepladder.difficulty.crowd",
    "iter_response_batches": "stepladder.difficulty.logs",
    "read_responses": "stepladder.difficulty.logs",
    "read_responses_compact": "stepladder.difficulty.logs",
    "text_difficulty": "stepladder.difficulty.text",
    "text_features": "stepladder.difficulty.text",
    "write_synthetic_log": "stepladder.difficulty.logs",
}

__all__ = [
    "IRT",
    "ArtificialCrowd",
    "AutoIRT",
    "BetaPassRate",
    "DifficultyPredictor",
    "Elo",
    "Glicko2",
    "Grader",
    "ItemParameters",
    "PassRateGrader",
    "Priors",
    "ResponseLogError",
    "Responses",
    "artificial_crowd",
    "crowd_difficulty",
    "iter_response_batches",
    "read_responses",
    "read_responses_compact",
    "text_difficulty",
    "text_features",
    "write_synthetic_log",
]


__getattr__, __dir__ = lazy_attributes(__name__, _WHERE, globals())
