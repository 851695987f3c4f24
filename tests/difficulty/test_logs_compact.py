"""The compact Parquet reader's fast paths: numbering ids without sorting, and copying
scores that need no per-row check, both against the plain reader."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stepladder.difficulty.logs import ResponseLogError, read_responses, read_responses_compact


def write_shards(folder: Path, tables: list[pa.Table]) -> Path:
    folder.mkdir()
    for k, table in enumerate(tables):
        pq.write_table(table, folder / f"part-{k}.parquet")
    return folder


def assert_identical(folder: Path, batch_rows: int) -> None:
    """Compact equals the plain reader narrowed to int32/float32, bit for bit."""
    plain = read_responses(folder)
    compact = read_responses_compact(folder, batch_rows=batch_rows)
    assert compact.learner_ids.equals(plain.learner_ids)
    assert compact.item_ids.equals(plain.item_ids)
    assert compact.learner.tobytes() == plain.learner.astype(np.int32).tobytes()
    assert compact.item.tobytes() == plain.item.astype(np.int32).tobytes()
    assert compact.successes.tobytes() == plain.successes.astype(np.float32).tobytes()
    assert compact.trials.tobytes() == plain.trials.astype(np.float32).tobytes()


@pytest.mark.parametrize("batch_rows", [1, 7, 1000])
def test_shuffled_ids_are_numbered_by_first_appearance(tmp_path: Path, batch_rows: int) -> None:
    rng = np.random.default_rng(5)
    tables = []
    for _ in range(3):  # ids in random order with repeats, gaps and new ids in every batch
        n = 400
        tables.append(
            pa.table(
                {
                    "learner_id": rng.choice(np.arange(0, 3000, 7), n),
                    "item_id": rng.integers(0, 50, n).astype(np.int16),
                    "correct": rng.integers(0, 2, n).astype(np.int8),
                }
            )
        )
    folder = write_shards(tmp_path / "log", tables)
    assert_identical(folder, batch_rows)
    learners = np.concatenate([t["learner_id"].to_numpy() for t in tables])
    _, first = np.unique(learners, return_index=True)
    order = learners[np.sort(first)]  # the distinct ids by first row, computed by sorting
    got = read_responses_compact(folder, batch_rows=batch_rows)
    assert got.learner_ids.to_pylist() == order.tolist()


@pytest.mark.parametrize(
    "scores",
    [
        pa.array([0, 1, 1, 0], pa.int8()),
        pa.array([0, 1, 1, 0], pa.uint64()),
        pa.array([0.25, 1.0, -0.0, 0.1], pa.float32()),
        pa.array([0.1, 1.0, 0.0, 1 / 3], pa.float64()),
        pa.array([True, False, True, True]),
        pa.array([0.5, None, 1.0, 0.0], pa.float64()),  # null: the checked path fails it
    ],
    ids=["int8", "uint64", "float32", "float64", "bool", "null"],
)
def test_scores_of_every_type_match_the_plain_reader(tmp_path: Path, scores: pa.Array) -> None:
    table = pa.table({"learner_id": [1, 2, 1, 3], "item_id": [0, 0, 1, 1], "correct": scores})
    folder = write_shards(tmp_path / "log", [table, table])
    if scores.null_count:
        with pytest.raises(ResponseLogError, match=r"part-0\.parquet: row 2: column 'correct'"):
            read_responses_compact(folder, batch_rows=3)
    else:
        assert_identical(folder, batch_rows=3)


@pytest.mark.parametrize("bad", [2.0, float("nan"), float("inf"), -0.5])
def test_a_bad_score_in_a_later_batch_names_its_row(tmp_path: Path, bad: float) -> None:
    good = pa.table({"learner_id": [1, 2, 3], "item_id": [1, 1, 2], "correct": [1.0, 0.0, 1.0]})
    worse = good.set_column(2, "correct", pa.array([1.0, 0.0, bad]))
    folder = write_shards(tmp_path / "log", [good, worse])
    with pytest.raises(ResponseLogError) as caught:
        read_responses_compact(folder, batch_rows=2)
    assert str(caught.value) == (
        f"{folder / 'part-1.parquet'}: row 3: column 'correct' is {bad!r}; "
        "expected a score in [0, 1]"
    )


def test_a_missing_id_fails_even_when_the_scores_are_fine(tmp_path: Path) -> None:
    table = pa.table(
        {
            "learner_id": [1, None, 3],
            "item_id": [1, 1, 2],
            "correct": pa.array([1, 0, 1], pa.int8()),
        }
    )
    folder = write_shards(tmp_path / "log", [table])
    with pytest.raises(
        ResponseLogError, match=r"part-0\.parquet: row 2: column 'learner_id' is null"
    ):
        read_responses_compact(folder)
