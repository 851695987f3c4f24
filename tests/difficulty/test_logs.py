"""Reading response logs: every format, every bad input, and the streaming compact reader."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stepladder.difficulty import Responses
from stepladder.difficulty.logs import (
    ResponseLogError,
    iter_response_batches,
    read_responses,
    read_responses_compact,
    write_synthetic_log,
)

# shared/ sits beside the repository clone (../shared); a worktree one level deeper also works.
_REPO = Path(__file__).resolve().parents[2]
_PARTS = ("shared", "data", "irt-on-bench", "binary_matrix.csv")
REAL_MATRIX = next(
    (base.joinpath(*_PARTS) for base in (_REPO.parent, _REPO.parent.parent)
     if base.joinpath(*_PARTS).exists()),
    _REPO.parent.joinpath(*_PARTS),
)  # fmt: skip

LEARNERS = ["ann", "ann", "bob", "bob", "cy", "ann"]
ITEMS = ["q1", "q2", "q1", "q3", "q2", "q1"]
SCORES = [1, 0, 0.5, 1, 0, 0]
HEADER = "learner_id,item_id,correct\n"


def rows_csv(rows: list[tuple[Any, Any, Any]]) -> str:
    return HEADER + "".join(f"{a},{b},{c}\n" for a, b, c in rows)


def error(path: Path, **options: Any) -> str:
    """The message that reading ``path`` fails with (always one line)."""
    with pytest.raises(ResponseLogError) as caught:
        read_responses(path, **options)
    message = str(caught.value)
    assert "\n" not in message
    assert isinstance(caught.value, ValueError)
    return message


def assert_same(got: Responses, want: Responses) -> None:
    assert got.learner_ids.to_pylist() == want.learner_ids.to_pylist()
    assert got.item_ids.to_pylist() == want.item_ids.to_pylist()
    for name in ("learner", "item", "successes", "trials"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)


@pytest.fixture
def reference() -> Responses:
    return Responses.from_long(LEARNERS, ITEMS, SCORES)


# --------------------------------------------------------------------------- round trips


def test_csv_round_trip(tmp_path: Path, reference: Responses) -> None:
    path = tmp_path / "log.csv"
    path.write_text(rows_csv(list(zip(LEARNERS, ITEMS, SCORES, strict=True))))
    got = read_responses(path)
    assert_same(got, reference)
    assert got.learner.dtype == np.int64 and got.successes.dtype == np.float64
    # duplicate (ann, q1) rows are repeated attempts: 1 and 0 of q1 by ann, 0.5 by bob
    assert got.item_p_correct().tolist() == pytest.approx([0.5, 0.0, 1.0])


def test_csv_gz_round_trip(tmp_path: Path, reference: Responses) -> None:
    path = tmp_path / "log.csv.gz"
    with gzip.open(path, "wt") as stream:
        stream.write(rows_csv(list(zip(LEARNERS, ITEMS, SCORES, strict=True))))
    assert_same(read_responses(path), reference)


@pytest.mark.parametrize("suffix", [".jsonl", ".ndjson"])
def test_jsonl_round_trip(tmp_path: Path, reference: Responses, suffix: str) -> None:
    path = tmp_path / f"log{suffix}"
    lines = [
        json.dumps({"learner_id": a, "item_id": b, "correct": c, "extra": [1]})
        for a, b, c in zip(LEARNERS, ITEMS, SCORES, strict=True)
    ]
    path.write_text("\n".join(lines[:2]) + "\n\n" + "\n".join(lines[2:]) + "\n")
    assert_same(read_responses(path), reference)


def test_parquet_file_and_shard_directory(tmp_path: Path, reference: Responses) -> None:
    table = pa.table({"learner_id": LEARNERS, "item_id": ITEMS, "correct": SCORES})
    pq.write_table(table, tmp_path / "log.parquet")
    assert_same(read_responses(tmp_path / "log.parquet"), reference)
    shards = tmp_path / "shards"
    shards.mkdir()
    pq.write_table(table.slice(0, 2), shards / "b.parquet")  # read in sorted name order
    pq.write_table(table.slice(2), shards / "c.parquet")
    pq.write_table(table.slice(0, 0), shards / "a.parquet")  # an empty shard is fine
    (shards / "_SUCCESS").write_text("")
    (shards / ".b.parquet.crc").write_text("")
    (shards / "_metadata.parquet").write_bytes(b"skipped: names starting with _ or .")
    assert_same(read_responses(shards), reference)


def test_trials_column_only_when_named(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("learner_id,item_id,correct,trials\nann,q1,1,1\nann,q1,2,3\nbob,q1,0,1\n")
    counted = read_responses(path, trials_column="trials")
    assert counted.trials.tolist() == [1.0, 3.0, 1.0]
    assert counted.item_p_correct().tolist() == pytest.approx([3 / 5])
    # without trials_column, "correct" must be a score: 2 is not
    assert error(path) == (f"{path}: line 3: column 'correct' is '2'; expected a score in [0, 1]")


def test_custom_column_names(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("user,question,score\nann,q1,1\nbob,q1,0\n")
    got = read_responses(path, learner_column="user", item_column="question", score_column="score")
    assert got.item_p_correct().tolist() == [0.5]


def test_single_learner_and_single_item_load(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(rows_csv([("ann", "q1", 1)]))
    got = read_responses(path)
    assert (got.n_learners, got.n_items, len(got)) == (1, 1, 1)


def test_csv_ids_are_ints_only_when_all_plain_integers(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(rows_csv([(1, 10, 1), (2, -3, 0), (0, 10, 1)]))
    got = read_responses(path)
    assert got.learner_ids.type == pa.int64() and got.item_ids.to_pylist() == [10, -3]
    path.write_text(rows_csv([("007", 1, 1), ("7", 1, 0), ("x", 1, 1)]))
    got = read_responses(path)
    assert got.learner_ids.to_pylist() == ["007", "7", "x"]  # 007 never collapses into 7


def test_jsonl_mixed_id_types_become_strings(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    records = [
        {"learner_id": 1, "item_id": 7, "correct": 1},
        {"learner_id": 2, "item_id": "7", "correct": 0},  # same id as 7 once made strings
        {"learner_id": 2, "item_id": "q", "correct": True},
        {"learner_id": 1, "item_id": 2.5, "correct": 0.5},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    got = read_responses(path)
    assert got.item_ids.to_pylist() == ["7", "q", "2.5"]
    assert got.learner_ids.to_pylist() == [1, 2]  # a consistent column keeps its type
    assert got.item_p_correct().tolist() == [0.5, 1.0, 0.5]


def test_wide_csv_with_empty_first_header_cell(tmp_path: Path) -> None:
    path = tmp_path / "matrix.csv"
    path.write_text(",ann,bob,7\nq1,1,,0\nq2,0,NaN,1\nq3,,,\n")
    got = read_responses(path, wide=True)
    assert got.learner_ids.to_pylist() == ["ann", "bob", "7"]  # header names: not all ints
    assert got.item_ids.to_pylist() == ["q1", "q2", "q3"]  # matrix order, q3 kept
    assert got.item_p_correct()[:2].tolist() == [0.5, 0.5]
    assert np.isnan(got.item_p_correct()[2])
    want = Responses.from_matrix(
        [[1, np.nan, 0], [0, np.nan, 1], [np.nan] * 3],
        item_ids=["q1", "q2", "q3"],
        learner_ids=["ann", "bob", "7"],
    )
    assert_same(got, want)


def test_wide_parquet_and_jsonl(tmp_path: Path) -> None:
    table = pa.table({"item": ["q1", "q2"], "ann": [1.0, None], "bob": [0.0, 1.0]})
    pq.write_table(table, tmp_path / "matrix.parquet")
    got = read_responses(tmp_path / "matrix.parquet", wide=True)
    assert (got.item_ids.to_pylist(), got.learner_ids.to_pylist()) == (["q1", "q2"], ["ann", "bob"])
    assert got.item_p_correct().tolist() == [0.5, 1.0]
    path = tmp_path / "matrix.jsonl"
    path.write_text('{"item": "q1", "ann": 1, "bob": 0}\n{"item": "q2", "ann": null, "bob": 1}\n')
    assert_same(read_responses(path, wide=True), got)


@pytest.mark.skipif(not REAL_MATRIX.exists(), reason="shared irt-on-bench data not present")
def test_real_wide_matrix() -> None:
    got = read_responses(REAL_MATRIX, wide=True)
    assert (got.n_items, got.n_learners, len(got)) == (2854, 22, 62_788)
    assert got.item_ids.type == pa.int64() and got.item_ids[:3].to_pylist() == [0, 1, 2]
    assert got.learner_ids[0].as_py() == "Mistral-Large-2"
    assert set(np.unique(got.successes)) <= {0.0, 1.0}


# --------------------------------------------------------------------------- bad files


def test_missing_unknown_and_empty_files(tmp_path: Path) -> None:
    assert error(tmp_path / "nope.csv") == f"{tmp_path / 'nope.csv'}: no such file or directory"
    odd = tmp_path / "log.txt"
    odd.write_text(HEADER)
    assert error(odd) == (
        f"{odd}: unknown file type '.txt'; expected .csv, .csv.gz, .jsonl, .ndjson, "
        ".parquet or a directory of .parquet shards"
    )
    for name in ("empty.csv", "empty.jsonl", "empty.parquet", "empty.csv.gz"):
        (tmp_path / name).write_bytes(b"")
        assert error(tmp_path / name) == f"{tmp_path / name}: file is empty"
    blank = tmp_path / "blank.jsonl"
    blank.write_text("\n \n")
    assert error(blank) == f"{blank}: file is empty"
    gz = tmp_path / "blank.csv.gz"
    gz.write_bytes(gzip.compress(b"\n\n"))
    assert error(gz) == f"{gz}: file is empty"


def test_header_only(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(HEADER)
    assert error(path) == f"{path}: no data rows"
    pq.write_table(
        pa.table({"learner_id": pa.array([], pa.string()), "item_id": [], "correct": []}),
        tmp_path / "log.parquet",
    )
    assert error(tmp_path / "log.parquet") == f"{tmp_path / 'log.parquet'}: no data rows"


def test_missing_columns(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("learner_id,item_id,score\nann,q1,1\n")
    assert error(path) == (
        f"{path}: missing column 'correct'; columns present: 'learner_id', 'item_id', 'score'"
    )
    jsonl = tmp_path / "log.jsonl"
    jsonl.write_text('{"user": "ann", "item_id": "q1"}\n')
    assert error(jsonl) == (
        f"{jsonl}: missing columns 'learner_id', 'correct'; columns present: 'user', 'item_id'"
    )
    parquet = tmp_path / "log.parquet"
    pq.write_table(pa.table({"learner_id": [1], "item_id": [2]}), parquet)
    assert error(parquet, trials_column="n") == (
        f"{parquet}: missing columns 'correct', 'n'; columns present: 'learner_id', 'item_id'"
    )


@pytest.mark.parametrize(
    ("cell", "shown"),
    [("", "empty"), ("nan", "'nan'"), ("NA", "'NA'"), ("abc", "'abc'"), ("1.5", "'1.5'"),
     ("-1", "'-1'"), ("inf", "'inf'")],
)  # fmt: skip
def test_csv_bad_scores_name_the_line(tmp_path: Path, cell: str, shown: str) -> None:
    path = tmp_path / "log.csv"
    # line 1 header, line 2 data, line 3 blank (skipped, still counted), line 5 bad
    path.write_text(HEADER + "ann,q1,1\n\nbob,q1,0\n" + f"cy,q2,{cell}\n" + "dee,q1,1\n")
    assert error(path) == (
        f"{path}: line 5: column 'correct' is {shown}; expected a score in [0, 1]"
    )


def test_csv_bad_text_after_the_first_block(tmp_path: Path) -> None:
    # pyarrow infers types from the first block (1 MB); a late bad value still gets its line
    path = tmp_path / "log.csv"
    lines = [f"l{i % 97},q{i % 13},{i % 2}" for i in range(150_000)]
    path.write_text(HEADER + "\n".join(lines) + "\nx,y,yes\n")
    assert error(path) == (
        f"{path}: line 150002: column 'correct' is 'yes'; expected a score in [0, 1]"
    )


def test_csv_bad_ids_and_shape(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text(HEADER + "ann,q1,1\n,q1,0\n")
    assert error(path) == f"{path}: line 3: column 'learner_id' is empty; expected an id"
    path.write_text(HEADER + "ann,q1,1\nbob,q1\n")
    assert error(path) == f"{path}: line 3: 2 fields where the header has 3"
    path.write_text("learner_id,item_id,correct,correct\nann,q1,1,1\n")
    assert error(path) == f"{path}: column 'correct' appears more than once"
    assert error(path, item_column="correct") == (
        f"{path}: the same column is named for two roles: ['learner_id', 'correct', 'correct']"
    )


def test_csv_trials_errors(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    path.write_text("learner_id,item_id,correct,n\nann,q1,1,2\nann,q2,3,2\n")
    assert error(path, trials_column="n") == (
        f"{path}: line 3: column 'correct' is '3'; expected a number of successes in [0, n]"
    )
    path.write_text("learner_id,item_id,correct,n\nann,q1,0,0\n")
    assert error(path, trials_column="n") == (
        f"{path}: line 2: column 'n' is '0'; expected a number of attempts > 0"
    )


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"learner_id": "c", "item_id": "q", "correct": null}', "column 'correct' is null"),
        ('{"learner_id": "c", "item_id": "q"}', "column 'correct' is missing"),
        ('{"learner_id": "c", "item_id": "q", "correct": 2}', "column 'correct' is 2"),
        ('{"learner_id": "c", "item_id": "q", "correct": "yes"}', "column 'correct' is \"yes\""),
        ('{"learner_id": "c", "item_id": "q", "correct": NaN}', "column 'correct' is NaN"),
    ],
)
def test_jsonl_bad_scores_name_the_line(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "log.jsonl"
    good = '{"learner_id": "a", "item_id": "q", "correct": 1}\n'
    path.write_text(good + "\n" + good + line + "\n" + good)
    assert error(path) == f"{path}: line 4: {message}; expected a score in [0, 1]"


def test_jsonl_bad_lines(tmp_path: Path) -> None:
    path = tmp_path / "log.jsonl"
    good = '{"learner_id": "a", "item_id": "q", "correct": 1}\n'
    path.write_text(good + good + '{"learner_id": "b", "item_id": \n')
    assert error(path).startswith(f"{path}: line 3: invalid JSON: ")
    path.write_text(good + "[1, 2, 3]\n")
    assert error(path) == f"{path}: line 2: expected a JSON object, got list"
    path.write_text(good + '{"learner_id": null, "item_id": "q", "correct": 1}\n')
    assert error(path) == f"{path}: line 2: column 'learner_id' is null; expected an id"
    path.write_text(good + '{"learner_id": "b", "item_id": {"x": 1}, "correct": 1}\n')
    assert error(path) == f"{path}: line 2: column 'item_id' holds a JSON object"


def test_parquet_bad_values_name_the_row(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    for scores, shown in (([1.0, np.nan], "nan"), ([1.0, None], "null"), ([0.0, 1.5], "1.5")):
        pq.write_table(pa.table({"learner_id": [1, 2], "item_id": [1, 1], "correct": scores}), path)
        assert (
            error(path) == f"{path}: row 2: column 'correct' is {shown}; expected a score in [0, 1]"
        )
    pq.write_table(pa.table({"learner_id": [1, None], "item_id": [1, 1], "correct": [1, 1]}), path)
    assert error(path) == f"{path}: row 2: column 'learner_id' is null; expected an id"
    pq.write_table(pa.table({"learner_id": [1], "item_id": [1], "correct": ["x"]}), path)
    assert error(path) == f"{path}: row 1: column 'correct' is 'x'; expected a score in [0, 1]"
    pq.write_table(pa.table({"learner_id": [1], "item_id": [1], "correct": [[1]]}), path)
    assert error(path) == (
        f"{path}: column 'correct' holds list<element: int64>; expected a score in [0, 1]"
    )


def test_parquet_nan_item_id_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "log.parquet"
    table = pa.table({"learner_id": [1, 2, 3], "item_id": [1.0, np.nan, 2.0], "correct": [1, 0, 1]})
    pq.write_table(table, path)
    assert error(path) == f"{path}: row 2: column 'item_id' is nan; expected an id"
    with pytest.raises(ResponseLogError) as caught:
        read_responses_compact(path)
    assert str(caught.value) == f"{path}: row 2: column 'item_id' is nan; expected an id"


def test_shard_directory_with_a_csv_beside_the_parquet_is_an_error(tmp_path: Path) -> None:
    shards = tmp_path / "shards"
    shards.mkdir()
    pq.write_table(pa.table({"learner_id": [1], "item_id": [1], "correct": [1]}),
                   shards / "part-0.parquet")  # fmt: skip
    (shards / "part-1.csv").write_text(HEADER + "2,1,0\n")
    (shards / "_SUCCESS").write_text("")  # Spark's marker stays ignored
    message = (
        f"{shards}: directory holds 'part-1.csv' besides .parquet shards; "
        "only .parquet shards are read: convert or move the others"
    )
    assert error(shards) == message
    with pytest.raises(ResponseLogError) as caught:
        read_responses_compact(shards)
    assert str(caught.value) == message


def test_corrupt_parquet(tmp_path: Path) -> None:
    noise = tmp_path / "noise.parquet"
    noise.write_bytes(np.random.default_rng(0).bytes(5000))
    assert error(noise).startswith(f"{noise}: not a readable Parquet file: ")
    good = tmp_path / "good.parquet"
    pq.write_table(pa.table({"learner_id": [1, 2], "item_id": [1, 1], "correct": [1, 0]}), good)
    truncated = tmp_path / "truncated.parquet"
    truncated.write_bytes(good.read_bytes()[:-20])
    assert error(truncated).startswith(f"{truncated}: not a readable Parquet file: ")
    for path in (noise, truncated):
        with pytest.raises(ResponseLogError, match="not a readable Parquet file"):
            read_responses_compact(path)


def test_shard_directory_errors(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.csv").write_text(HEADER)
    assert error(empty) == f"{empty}: directory holds no .parquet files"
    shards = tmp_path / "shards"
    shards.mkdir()
    table = pa.table(
        {"learner_id": [1, 2], "item_id": [1, 1], "correct": pa.array([1, 0], pa.int8())}
    )
    pq.write_table(table, shards / "part-0.parquet")
    pq.write_table(table.set_column(2, "correct", pa.array([1.0, 0.0])), shards / "part-1.parquet")
    message = (
        f"{shards / 'part-1.parquet'}: schema differs from part-0.parquet: "
        "column 'correct' is double here, int8 there"
    )
    assert error(shards) == message
    with pytest.raises(ResponseLogError) as caught:
        read_responses_compact(shards)
    assert str(caught.value) == message
    pq.write_table(
        table.rename_columns(["learner_id", "item", "correct"]), shards / "part-1.parquet"
    )
    assert error(shards).startswith(
        f"{shards / 'part-1.parquet'}: schema differs from part-0.parquet: columns "
    )
    (shards / "part-1.parquet").write_bytes(b"PAR1 garbage")
    assert error(shards).startswith(f"{shards / 'part-1.parquet'}: not a readable Parquet file: ")


def test_wide_errors(tmp_path: Path) -> None:
    path = tmp_path / "matrix.csv"
    path.write_text(",ann,bob\nq1,1,0\nq1,0,1\n")
    assert error(path, wide=True) == (
        f"{path}: line 3: item id 'q1' repeats an earlier row; a wide log has one row per item"
    )
    path.write_text(",ann,bob\nq1,1,0\nq2,yes,1\n")
    assert error(path, wide=True) == (
        f"{path}: line 3: column 'ann' is 'yes'; expected a score in [0, 1] or empty"
    )
    path.write_text(",ann,bob\nq1,1,0\nq2,0,2\n")
    assert error(path, wide=True) == (
        f"{path}: line 3: column 'bob' is '2'; expected a score in [0, 1] or empty"
    )
    path.write_text(",ann,ann\nq1,1,0\n")
    assert error(path, wide=True) == f"{path}: learner column 'ann' appears more than once"
    path.write_text(",ann\nq1,1\n,0\n")
    assert error(path, wide=True) == (
        f"{path}: line 3: column 1 (item id) is empty; expected an id"
    )
    path.write_text("item\nq1\n")
    assert error(path, wide=True) == (
        f"{path}: a wide log needs an item id column and learner columns; columns present: 'item'"
    )
    path.write_text(",ann\nq1,\n")
    assert error(path, wide=True) == f"{path}: every cell is empty"


# --------------------------------------------------------------------------- streaming


def test_synthetic_log_and_batches(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    truth = write_synthetic_log(folder, 50, 12, missing=0.3, seed=3, shards=4, model="1pl")
    assert [Path(f).name for f in truth["files"]] == [f"part-{k:05d}.parquet" for k in range(4)]
    assert truth["theta"].shape == (50,) and truth["b"].shape == (12,)
    assert np.all(truth["a"] == 1.0) and np.all(truth["c"] == 0.0)
    batches = list(iter_response_batches(folder, batch_rows=64, columns=["item_id", "correct"]))
    assert all(b.num_rows <= 64 for b in batches)
    assert batches[0].schema.names == ["item_id", "correct"]
    assert batches[0].schema.field("correct").type == pa.int8()
    assert sum(b.num_rows for b in batches) == truth["n_responses"]
    assert 0.6 * 600 < truth["n_responses"] < 0.8 * 600
    again = write_synthetic_log(tmp_path / "again", 50, 12, missing=0.3, seed=3, shards=4)
    np.testing.assert_array_equal(again["theta"], truth["theta"])  # seed fixes theta and b
    assert not np.all(again["a"] == 1.0)
    with pytest.raises(ValueError, match=r"already holds \.parquet files"):
        write_synthetic_log(folder, 50, 12, shards=2)
    csv_path = tmp_path / "log.csv"
    csv_path.write_text(HEADER + "a,q,1\n")
    with pytest.raises(
        ResponseLogError, match="streaming reads Parquet files or shard directories only"
    ):
        next(iter_response_batches(csv_path))


def test_synthetic_log_follows_the_model(tmp_path: Path) -> None:
    truth = write_synthetic_log(tmp_path / "log.parquet", 400, 30, missing=0.0, seed=1)
    table = pq.read_table(tmp_path / "log.parquet")
    learners, items = table["learner_id"].to_numpy(), table["item_id"].to_numpy()
    assert len(table) == truth["n_responses"] == 400 * 30
    p = 1 / (1 + np.exp(-truth["a"][items] * (truth["theta"][learners] - truth["b"][items])))
    correct = table["correct"].to_numpy()
    assert abs(correct.mean() - p.mean()) < 0.02
    assert np.corrcoef(np.bincount(items, weights=correct), -truth["b"])[0, 1] > 0.8


@pytest.mark.parametrize("strings", [False, True])
def test_compact_equals_plain_reader(tmp_path: Path, strings: bool) -> None:
    folder = tmp_path / "log"
    write_synthetic_log(folder, 60, 15, missing=0.4, seed=2, shards=3)
    if strings:  # string ids take the dict path instead of the lookup table
        for shard in sorted(folder.glob("*.parquet")):
            t = pq.read_table(shard)
            t = t.set_column(
                0, "learner_id", pa.array([f"u{v}" for v in t["learner_id"].to_pylist()])
            )
            pq.write_table(t, shard)
    plain = read_responses(folder)
    compact = read_responses_compact(folder, batch_rows=37)
    assert compact.learner.dtype == compact.item.dtype == np.int32
    assert compact.successes.dtype == compact.trials.dtype == np.float32
    assert_same(compact, plain)
    np.testing.assert_allclose(compact.item_p_correct(), plain.item_p_correct())
    np.testing.assert_allclose(compact.learner_p_correct(), plain.learner_p_correct())


def test_compact_ids_leaving_the_lookup_table(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    folder.mkdir()
    shards = [
        {"learner_id": [3, 1, 3], "item_id": [0, 0, 5], "correct": [1, 0, 1], "n": [1, 2, 1]},
        {"learner_id": [-4, 1, 2**40], "item_id": [5, 9, 0], "correct": [0, 2, 1], "n": [1, 2, 3]},
        {"learner_id": [2**40, 7, 3], "item_id": [9, 0, 5], "correct": [1, 1, 0], "n": [1, 1, 1]},
    ]
    for k, shard in enumerate(shards):
        pq.write_table(pa.table(shard), folder / f"part-{k}.parquet")
    plain = read_responses(folder, trials_column="n")
    compact = read_responses_compact(folder, trials_column="n", batch_rows=2)
    assert_same(compact, plain)
    assert compact.learner_ids.to_pylist() == [3, 1, -4, 2**40, 7]
    assert compact.trials.tolist() == [1, 2, 1, 1, 2, 3, 1, 1, 1]


def test_compact_errors_name_shard_and_row(tmp_path: Path) -> None:
    folder = tmp_path / "log"
    folder.mkdir()
    table = pa.table({"learner_id": [1, 2, 3], "item_id": [1, 1, 2], "correct": [1.0, 0.0, 1.0]})
    pq.write_table(table, folder / "part-0.parquet")
    bad = table.set_column(2, "correct", pa.array([1.0, 0.0, 7.0]))
    pq.write_table(bad, folder / "part-1.parquet")
    with pytest.raises(ResponseLogError) as caught:
        read_responses_compact(folder, batch_rows=2)
    assert str(caught.value) == (
        f"{folder / 'part-1.parquet'}: row 3: column 'correct' is 7.0; expected a score in [0, 1]"
    )
    assert error(folder) == str(caught.value)


def test_compact_reads_text_formats_whole(tmp_path: Path, reference: Responses) -> None:
    path = tmp_path / "log.csv"
    path.write_text(rows_csv(list(zip(LEARNERS, ITEMS, SCORES, strict=True))))
    compact = read_responses_compact(path)
    assert compact.learner.dtype == np.int32
    assert_same(compact, reference)
