"""stepladder anchors and stepladder estimate: from a graded benchmark to a score."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from scipy.special import expit

from stepladder.cli import main


@pytest.fixture()
def graded(tmp_path: Path) -> Path:
    """An item table as stepladder grade writes it: 300 items of known 2PL parameters."""
    rng = np.random.default_rng(0)
    table = pa.table(
        {
            "item_id": [f"q{i}" for i in range(300)],
            "difficulty": rng.normal(size=300),
            "n_responses": np.full(300, 50, dtype=np.int64),
            "p_correct": rng.random(300),
            "discrimination": rng.lognormal(0.0, 0.3, size=300),
        }
    )
    path = tmp_path / "items.parquet"
    pq.write_table(table, path)
    return path


def answer_file(path: Path, items: Path, anchors: Path, theta: float) -> Path:
    """A long log of two models' answers on the anchors."""
    table = pq.read_table(items)
    chosen = pq.read_table(anchors).column("item_id").to_pylist()
    ids = table.column("item_id").to_pylist()
    rows = [ids.index(item) for item in chosen]
    a = table.column("discrimination").to_numpy()[rows]
    b = table.column("difficulty").to_numpy()[rows]
    rng = np.random.default_rng(1)
    lines = ["learner_id,item_id,correct"]
    for learner, shift in (("strong", theta), ("weak", -theta)):
        correct = (rng.random(len(rows)) < expit(a * (shift - b))).astype(int)
        lines += [f"{learner},{item},{c}" for item, c in zip(chosen, correct, strict=True)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_anchors_then_estimate(graded, tmp_path, capsys):
    anchors = tmp_path / "anchors.parquet"
    assert main(["anchors", str(graded), "--k", "40", "--out", str(anchors)]) == 0
    table = pq.read_table(anchors)
    assert table.num_rows == 40 and sum(table.column("weight").to_pylist()) == pytest.approx(1)
    responses = answer_file(tmp_path / "answers.csv", graded, anchors, theta=1.5)
    capsys.readouterr()
    code = main(
        ["estimate", str(responses), "--items", str(graded), "--anchors", str(anchors), "--json"]
    )
    assert code == 0
    rows = {row["learner_id"]: row for row in json.loads(capsys.readouterr().out)}
    assert rows["strong"]["score"] > rows["weak"]["score"]
    for row in rows.values():
        assert row["n_items"] == 40 and row["low"] <= row["score"] <= row["high"]
        assert row["method"] == "gp_irt"


def test_estimate_prints_one_line_per_model(graded, tmp_path, capsys):
    anchors = tmp_path / "anchors.parquet"
    main(["anchors", str(graded), "--k", "20", "--method", "stratified", "--out", str(anchors)])
    responses = answer_file(tmp_path / "answers.csv", graded, anchors, theta=1.0)
    capsys.readouterr()
    args = ["estimate", str(responses), "--items", str(graded), "--anchors", str(anchors)]
    assert main([*args, "--method", "naive"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split(":")[0] for line in lines] == ["strong", "weak"]
    assert all("from 20 items, naive" in line for line in lines)


def one_line_error(capsys, message: str) -> None:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err


def test_unknown_item_ids_are_refused(graded, tmp_path, capsys):
    responses = tmp_path / "answers.csv"
    responses.write_text("learner_id,item_id,correct\nm,q1,1\nm,nope,0\n")
    assert main(["estimate", str(responses), "--items", str(graded), "--method", "irt"]) == 2
    one_line_error(capsys, "item 'nope' is not in the benchmark")


def test_scores_outside_the_unit_interval_are_refused(graded, tmp_path, capsys):
    responses = tmp_path / "answers.csv"
    responses.write_text("learner_id,item_id,correct\nm,q1,1\nm,q2,3\n")
    assert main(["estimate", str(responses), "--items", str(graded), "--method", "irt"]) == 2
    one_line_error(capsys, str(responses))


def test_anchors_of_another_benchmark_are_refused(graded, tmp_path, capsys):
    other = tmp_path / "other.parquet"
    table = pq.read_table(graded)
    renamed = table.set_column(0, "item_id", pa.array([f"x{i}" for i in range(300)]))
    pq.write_table(renamed, other)
    anchors = tmp_path / "anchors.parquet"
    main(["anchors", str(other), "--k", "10", "--out", str(anchors), "--quiet"])
    responses = tmp_path / "answers.csv"
    responses.write_text("learner_id,item_id,correct\nm,q1,1\n")
    args = ["estimate", str(responses), "--items", str(graded), "--anchors", str(anchors)]
    assert main(args) == 2
    one_line_error(capsys, "chosen from another benchmark")


def test_anchors_refuses_a_table_without_irt_and_writes_nothing(tmp_path, capsys):
    ratings = tmp_path / "elo.parquet"
    pq.write_table(pa.table({"item_id": ["a", "b"], "rating": [1500.0, 1400.0]}), ratings)
    out = tmp_path / "anchors.parquet"
    assert main(["anchors", str(ratings), "--k", "1", "--out", str(out)]) == 2
    one_line_error(capsys, "no 'difficulty' column")
    assert not out.exists()


def test_too_many_anchors_is_a_one_line_error(graded, tmp_path, capsys):
    out = tmp_path / "anchors.parquet"
    assert main(["anchors", str(graded), "--k", "301", "--out", str(out)]) == 2
    one_line_error(capsys, "from a benchmark of 300 items")
    assert not out.exists()


def test_anchors_only_ignores_the_other_answers(graded, tmp_path, capsys):
    anchors = tmp_path / "anchors.parquet"
    main(["anchors", str(graded), "--k", "15", "--out", str(anchors), "--quiet"])
    responses = tmp_path / "all.csv"
    ids = pq.read_table(graded).column("item_id").to_pylist()
    responses.write_text("learner_id,item_id,correct\n" + "".join(f"m,{item},1\n" for item in ids))
    args = ["estimate", str(responses), "--items", str(graded), "--anchors", str(anchors)]
    capsys.readouterr()
    assert main([*args, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["n_items"] == 300
    assert main([*args, "--json", "--anchors-only"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["n_items"] == 15
    no_anchors = ["estimate", str(responses), "--items", str(graded), "--method", "irt"]
    assert main([*no_anchors, "--anchors-only"]) == 2
    one_line_error(capsys, "--anchors-only needs --anchors")
