"""stepladder.grade accepts every common container of a response log."""

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import stepladder.difficulty.registry
import stepladder.grading
from stepladder.grading import GRADERS, grade, to_responses

LOG = {
    "learner_id": [0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3],
    "item_id": ["a", "b", "c"] * 4,
    "correct": [1, 1, 0, 1, 0, 0, 1, 1, 1, 0, 0, 0],
}


def _difficulty(data, **kwargs):
    return np.asarray(grade(data, "1pl", **kwargs).items.column("difficulty"))


def test_arrow_pandas_polars_and_datasets_agree(tmp_path):
    pd = pytest.importorskip("pandas")
    pl = pytest.importorskip("polars")
    datasets = pytest.importorskip("datasets")
    reference = _difficulty(pa.table(LOG))
    for data in (pd.DataFrame(LOG), pl.DataFrame(LOG), datasets.Dataset.from_dict(LOG)):
        np.testing.assert_allclose(_difficulty(data), reference)
    path = tmp_path / "log.parquet"
    pq.write_table(pa.table(LOG), path)
    np.testing.assert_allclose(_difficulty(path), reference)
    np.testing.assert_allclose(_difficulty(str(path)), reference)


def test_numpy_matrix_and_custom_columns():
    matrix = np.array([[1, 1, 1, 0], [1, 0, 1, 0], [0, 0, 1, np.nan]], dtype=float)
    assert grade(matrix, "2pl").items.num_rows == 3
    renamed = pa.table({"who": LOG["learner_id"], "q": LOG["item_id"], "ok": LOG["correct"]})
    result = grade(renamed, "passrate", columns={"learner": "who", "item": "q", "score": "ok"})
    assert result.items.column("item_id").to_pylist() == ["a", "b", "c"]


@pytest.mark.parametrize("model", list(GRADERS))
def test_every_model_produces_the_contract_columns(model):
    result = grade(pa.table(LOG), model)
    for column in ("item_id", "difficulty", "n_responses", "p_correct"):
        assert column in result.items.column_names
    for column in ("learner_id", "ability", "se_ability"):
        assert column in result.learners.column_names
    if model == "auto":  # the summary names the model that was kept, and why
        assert result.summary["model"] in ("1pl", "2pl", "3pl")
        assert result.summary["selection"]["reason"].startswith("auto chose ")
    else:
        assert result.summary["model"] == model


def test_unknown_model_and_missing_columns():
    with pytest.raises(ValueError, match="unknown model 'rasch'"):
        grade(pa.table(LOG), "rasch")
    with pytest.raises(ValueError, match="missing column 'score'"):
        to_responses(pa.table(LOG), score="score")


def test_difficulty_package_does_not_import_grading() -> None:
    """No cycle: the grader registry lives in stepladder.difficulty.registry."""
    package = Path(stepladder.difficulty.__file__).parent
    importers = [
        p.name
        for p in package.rglob("*.py")
        if re.search(
            r"^\s*(from stepladder\.grading |import stepladder\.grading)", p.read_text(), re.M
        )
    ]
    assert importers == []
    assert stepladder.grading.make_grader is stepladder.difficulty.registry.make_grader


@pytest.mark.parametrize("model", list(GRADERS))
def test_every_grader_shares_the_leading_columns(model):
    items = grade(pa.table(LOG), model).items
    assert items.column_names[:4] == ["item_id", "difficulty", "n_responses", "p_correct"]
    assert items.schema.field("n_responses").type == pa.int64()
    assert items.column("n_responses").to_pylist() == [4, 4, 4]
