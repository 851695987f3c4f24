"""Difficulty and ability estimation: response logs and offline graders.

Example:
    >>> from stepladder.difficulty import IRT, Responses
    >>> log = Responses.from_matrix([[1, 0, 1, 1], [0, 0, 1, 0], [1, 1, 1, 1]])
    >>> IRT("1pl").fit(log).item_table().column("item_id").to_pylist()
    [0, 1, 2]
"""

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
