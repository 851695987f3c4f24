"""IRT on a real LLM benchmark matrix: 22 models x 2,854 items (few learners, many items).

Skipped unless the shared data sit beside the repository clone (../shared), or beside the
folder that holds it (a worktree).
"""

from pathlib import Path

import numpy as np
import pytest
from scipy.stats import spearmanr

from stepladder.difficulty import IRT, read_responses

_REPO = Path(__file__).resolve().parents[2]
_PARTS = ("shared", "data", "irt-on-bench", "binary_matrix.csv")
REAL_MATRIX = next(
    (base.joinpath(*_PARTS) for base in (_REPO.parent, _REPO.parent.parent)
     if base.joinpath(*_PARTS).exists()),
    _REPO.parent.joinpath(*_PARTS),
)  # fmt: skip

pytestmark = pytest.mark.skipif(not REAL_MATRIX.exists(), reason="shared data not present")


@pytest.fixture(scope="module")
def matrix():
    return read_responses(REAL_MATRIX, wide=True)


def test_default_2pl_stays_sane_and_points_to_the_1pl(matrix):
    # Before the default priors: 909 negative slopes, difficulties -374..696, abilities
    # Spearman 0.76 with accuracy, and "converged".
    model = IRT("2pl").fit(matrix)
    fitted = model.fitted_
    a, b = model.items_.discrimination[fitted], model.items_.difficulty[fitted]
    accuracy = matrix.learner_p_correct()
    assert spearmanr(model.abilities_, accuracy)[0] >= 0.9
    assert np.abs(b).max() <= 6
    assert np.mean(a < 0) <= 0.03
    diagnostics = model.summary()["diagnostics"]
    assert diagnostics["responses_per_parameter"] == pytest.approx(11.0, abs=0.1)
    assert "use --model 1pl" in diagnostics["advice"]
    # The items all 22 models got right (or wrong) are left out and flagged.
    flags = model.item_table().column("flag").to_pylist()
    assert sum(flag is not None for flag in flags) == int(np.count_nonzero(~fitted)) > 0
    assert model.report_.converged and model.report_.monotone


def test_1pl_orders_the_models_by_accuracy(matrix):
    model = IRT("1pl").fit(matrix)
    assert spearmanr(model.abilities_, matrix.learner_p_correct())[0] >= 0.99
    assert model.summary()["diagnostics"]["advice"] is None
    se = model.se_["difficulty"][model.fitted_]
    assert np.all(np.isfinite(se) & (se > 0))
