import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from stepladder.cli import main

# shared/ sits beside the repository clone (../shared); a worktree one level deeper also works.
_REPO = Path(__file__).resolve().parents[1]
REAL_MATRIX = next(
    (
        path
        for base in (_REPO.parent, _REPO.parent.parent)
        if (path := base / "shared" / "data" / "irt-on-bench" / "binary_matrix.csv").exists()
    ),
    _REPO.parent / "shared" / "data" / "irt-on-bench" / "binary_matrix.csv",
)
MODELS = ["1pl", "2pl", "3pl", "4pl", "elo", "glicko2", "passrate"]
ITEM_COLUMNS = {"item_id", "difficulty", "n_responses", "p_correct"}


def _log(n_learners: int = 30, n_items: int = 12, seed: int = 0) -> pa.Table:
    """A 2PL-simulated long log with string ids, about 80% of cells present."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_learners)
    b = np.linspace(-1.5, 1.5, n_items)
    a = rng.lognormal(0.0, 0.3, n_items)
    p = 1 / (1 + np.exp(-a * (theta[:, None] - b)))
    learner, item = np.nonzero(rng.random(p.shape) < 0.8)
    correct = (rng.random(len(learner)) < p[learner, item]).astype(np.int64)
    return pa.table(
        {
            "learner_id": [f"L{j:02d}" for j in learner],
            "item_id": [f"Q{i:02d}" for i in item],
            "correct": correct,
        }
    )


def _write_csv(path: Path, table: pa.Table) -> Path:
    rows = zip(*(table.column(c).to_pylist() for c in table.column_names), strict=True)
    lines = [",".join(table.column_names)] + [",".join(map(str, row)) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def log_table() -> pa.Table:
    return _log()


@pytest.fixture
def csv_log(tmp_path, log_table) -> Path:
    return _write_csv(tmp_path / "log.csv", log_table)


def grade(*args: str) -> int:
    return main(["grade", *map(str, args)])


def _metadata(path: Path) -> dict:
    return json.loads(pq.read_schema(path).metadata[b"stepladder"])


def _one_error_line(capsys) -> str:
    captured = capsys.readouterr()
    assert captured.err.startswith("error: ") and captured.err.count("\n") == 1, captured.err
    assert captured.out == ""
    return captured.err


@pytest.mark.skipif(not REAL_MATRIX.exists(), reason="shared irt-on-bench matrix not present")
def test_real_matrix_2pl_writes_items_learners_and_report(tmp_path, capsys):
    items, learners, report = (
        tmp_path / "items.parquet",
        tmp_path / "l.parquet",
        tmp_path / "r.html",
    )
    options = ["--wide", "--model", "2pl", "--max-iter", "5", "--report", report]
    code = grade(REAL_MATRIX, *options, "--out", items, "--learners-out", learners)
    assert code == 0
    table = pq.read_table(items)
    assert table.num_rows == 2854
    assert ITEM_COLUMNS | {"discrimination", "se_difficulty"} <= set(table.column_names)
    people = pq.read_table(learners)
    assert people.num_rows == 22
    assert {"learner_id", "ability", "se_ability"} <= set(people.column_names)
    assert "Claude-3.5 (Sonnet)" in people.column("learner_id").to_pylist()
    facts = _metadata(items)
    assert facts["model"] == "2pl" and facts["n_items"] == 2854 and facts["n_learners"] == 22
    assert facts["table"] == "items" and _metadata(learners)["table"] == "learners"
    html = report.read_text()
    for part in (
        "Difficulty distribution",
        "Person-item map",
        "Item characteristic curves",
        "Worst-fitting items",
    ):
        assert part in html
    offline = html.replace("http://www.w3.org/2000/svg", "")
    assert "<script src" not in html and "http://" not in offline and "https://" not in offline
    assert "Warnings (" in html and "All items (2,854)" in html and "<h2>Learners</h2>" in html
    assert "Convergence" in html
    out = capsys.readouterr().out.strip()
    assert "\n" not in out and "2PL IRT (mml)" in out and "2,854 items" in out
    assert "22 learners" in out and "62,788 responses" in out and str(items) in out
    assert "log-likelihood" in out and "AIC" in out and "BIC" in out


@pytest.mark.parametrize("model", MODELS)
def test_every_model_on_a_long_csv(tmp_path, csv_log, log_table, capsys, model):
    items, learners, report = tmp_path / "i.parquet", tmp_path / "l.parquet", tmp_path / "r.html"
    args = [csv_log, "--model", model, "--out", items, "--learners-out", learners]
    args += ["--report", report] + (["--max-iter", "60"] if model in MODELS[:4] else [])
    assert grade(*args) == 0
    table = pq.read_table(items)
    assert set(table.column_names) >= ITEM_COLUMNS and table.num_rows == 12
    assert sorted(table.column("item_id").to_pylist()) == [f"Q{i:02d}" for i in range(12)]
    people = pq.read_table(learners)
    assert people.num_rows == len(set(log_table.column("learner_id").to_pylist()))
    assert _metadata(items)["model"] == model
    assert _metadata(items)["n_responses"] == log_table.num_rows
    html = report.read_text()
    assert ("Not drawn: pass-rate grading" in html) == (model == "passrate")
    assert ("Item characteristic curves" in html) == (model in MODELS[:4])
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and f"Wrote items to {items}" in out
    if model in MODELS[:4]:
        assert "iterations" in out and "log-likelihood" in out
    if model in ("2pl", "3pl", "4pl"):
        assert "discrimination" in table.column_names
    if model in ("3pl", "4pl"):
        assert "guessing" in table.column_names
    if model == "4pl":
        assert "slipping" in table.column_names


def test_jsonl_input_and_learners_out_optional(tmp_path, log_table):
    path = tmp_path / "log.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in log_table.to_pylist()))
    items = tmp_path / "items.parquet"
    assert grade(path, "--model", "1pl", "--out", items, "--quiet") == 0
    assert pq.read_table(items).num_rows == 12
    assert sorted(p.name for p in tmp_path.iterdir()) == ["items.parquet", "log.jsonl"]


def test_parquet_shard_directory_and_renamed_columns(tmp_path, log_table, capsys):
    shards = tmp_path / "shards"
    shards.mkdir()
    renamed = log_table.rename_columns(["who", "what", "score"])
    half = renamed.num_rows // 2
    pq.write_table(renamed.slice(0, half), shards / "part-0.parquet")
    pq.write_table(renamed.slice(half), shards / "part-1.parquet")
    items = tmp_path / "items.parquet"
    code = grade(
        shards,
        "--model",
        "2pl",
        "--method",
        "jml",
        "--out",
        items,
        "--learner-column",
        "who",
        "--item-column",
        "what",
        "--score-column",
        "score",
    )
    assert code == 0
    assert pq.read_table(items).num_rows == 12
    assert _metadata(items)["method"] == "jml"
    assert "2PL IRT (jml)" in capsys.readouterr().out


def test_single_parquet_file_and_wide_csv(tmp_path, log_table):
    pq.write_table(log_table, tmp_path / "log.parquet")
    assert grade(tmp_path / "log.parquet", "--model", "elo", "--out", tmp_path / "a.parquet") == 0
    wide = tmp_path / "wide.csv"
    wide.write_text(",ann,bob,cy\nq1,1,0,1\nq2,0,,1\nq3,1,1,1\n")
    out = tmp_path / "b.parquet"
    assert grade(wide, "--wide", "--model", "passrate", "--out", out, "--quiet") == 0
    assert pq.read_table(out).column("item_id").to_pylist() == ["q1", "q2", "q3"]


def test_existing_outputs_are_replaced_on_success(tmp_path, csv_log, capsys):
    out = tmp_path / "items.parquet"
    out.write_bytes(b"old")
    assert grade(csv_log, "--model", "passrate", "--out", out, "--quiet") == 0
    assert pq.read_table(out).num_rows == 12
    assert capsys.readouterr().out == ""


def _bad_inputs(tmp: Path, good: Path) -> dict[str, tuple[list, str]]:
    """Case name -> (arguments before --out, text the error must contain)."""
    (tmp / "empty.csv").write_text("")
    (tmp / "nan.csv").write_text("learner_id,item_id,correct\na,q1,1\nb,q1,nan\n")
    (tmp / "range.csv").write_text("learner_id,item_id,correct\na,q1,1\nb,q1,2\n")
    (tmp / "one_learner.csv").write_text("learner_id,item_id,correct\na,q1,1\na,q2,0\n")
    (tmp / "one_item.csv").write_text("learner_id,item_id,correct\na,q1,1\nb,q1,0\n")
    (tmp / "corrupt.parquet").write_bytes(b"PAR1 this is not parquet")
    return {
        "missing file": ([tmp / "nope.csv", "--model", "2pl"], "nope.csv"),
        "missing column": ([good, "--model", "elo", "--score-column", "score"], "'score'"),
        "nan score": ([tmp / "nan.csv", "--model", "1pl"], "nan.csv: line 3: column 'correct'"),
        "score out of range": ([tmp / "range.csv", "--model", "passrate"], "range.csv: line 3"),
        "empty file": ([tmp / "empty.csv", "--model", "2pl"], "empty.csv"),
        "single learner": ([tmp / "one_learner.csv", "--model", "2pl"], "at least 2 learners"),
        "single item": ([tmp / "one_item.csv", "--model", "3pl"], "one_item.csv: IRT needs"),
        "corrupt parquet": ([tmp / "corrupt.parquet", "--model", "2pl"], "corrupt.parquet"),
        "unknown model": ([good, "--model", "bogus"], "'--model'"),
        "jml with 3pl": ([good, "--model", "3pl", "--method", "jml"], "--method"),
        "method for elo": ([good, "--model", "elo", "--method", "map"], "--method"),
        "columns with wide": ([good, "--wide", "--model", "elo", "--item-column", "x"], "--item"),
        "unknown suffix": ([good.with_suffix(".txt"), "--model", "elo"], "log.txt"),
        "constant for elo": ([good, "--model", "elo", "--include-constant"], "--include-constant"),
        "priors for elo": ([good, "--model", "elo", "--priors", "none"], "--priors applies to IRT"),
        "no priors with map": (
            [good, "--model", "2pl", "--method", "map", "--priors", "none"],
            "--priors none applies to --method mml",
        ),
        "no priors with jml": (
            [good, "--model", "1pl", "--method", "jml", "--priors", "none"],
            "--priors none applies to --method mml",
        ),
        "no priors, constant items": (
            [good, "--model", "2pl", "--priors", "none", "--include-constant"],
            "--include-constant needs priors",
        ),
        "unknown priors": ([good, "--model", "2pl", "--priors", "weak"], "'--priors'"),
        "select without auto": (
            [good, "--model", "2pl", "--select", "heldout"],
            "--select applies to --model auto",
        ),
    }


CASES = [
    "missing file",
    "missing column",
    "nan score",
    "score out of range",
    "empty file",
    "single learner",
    "single item",
    "corrupt parquet",
    "unknown model",
    "jml with 3pl",
    "method for elo",
    "columns with wide",
    "unknown suffix",
    "constant for elo",
    "priors for elo",
    "no priors with map",
    "no priors with jml",
    "no priors, constant items",
    "unknown priors",
    "select without auto",
]


@pytest.mark.parametrize("existing", [False, True], ids=["fresh", "existing-out"])
@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_error_line_exit_2_and_no_output(
    tmp_path, csv_log, capsys, case, existing
):
    (tmp_path / "log.txt").write_text(csv_log.read_text())
    args, expected = _bad_inputs(tmp_path, csv_log)[case]
    out = tmp_path / "out" / "items.parquet"
    if existing:
        out.parent.mkdir()
        out.write_bytes(b"keep me")
    before = sorted(p.name for p in tmp_path.rglob("*"))
    learners, report = tmp_path / "learners.parquet", tmp_path / "report.html"
    code = grade(*args, "--out", out, "--learners-out", learners, "--report", report)
    assert code == 2
    assert expected in _one_error_line(capsys)
    assert not learners.exists() and not report.exists()
    assert out.read_bytes() == b"keep me" if existing else not out.exists()
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no temporary files either


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (["--out", "{input}"], "--out: "),
        (["--out", "{tmp}/a.parquet", "--learners-out", "{tmp}/a.parquet"], "--learners-out"),
        (["--out", "{tmp}"], "directory"),
        (["--out", "{input}/x.parquet"], "not a directory"),
        (["--out", "{tmp}/items.txt"], "--out: {tmp}/items.txt must end in .parquet or .csv"),
        (["--out", "{tmp}/i.csv", "--learners-out", "{tmp}/l"], "--learners-out: {tmp}/l must"),
    ],
)
def test_bad_output_paths(tmp_path, csv_log, capsys, extra, expected):
    extra = [e.format(input=csv_log, tmp=tmp_path) for e in extra]
    expected = expected.format(tmp=tmp_path)
    before = csv_log.read_bytes()
    assert grade(csv_log, "--model", "elo", *extra) == 2
    assert expected in _one_error_line(capsys)
    assert csv_log.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]


def test_a_failed_write_leaves_no_output(tmp_path, csv_log, capsys, monkeypatch):
    calls = []
    real = pq.write_table

    def flaky(table, where, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise OSError("disk full")
        real(table, where, **kwargs)

    monkeypatch.setattr(pq, "write_table", flaky)
    out, learners = tmp_path / "items.parquet", tmp_path / "learners.parquet"
    assert grade(csv_log, "--model", "elo", "--out", out, "--learners-out", learners) == 2
    assert "disk full" in _one_error_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log.csv"]


def test_summary_metadata_is_strict_json(tmp_path, csv_log):
    out = tmp_path / "items.parquet"
    assert grade(csv_log, "--model", "glicko2", "--out", out, "--quiet") == 0
    raw = pq.read_schema(out).metadata[b"stepladder"].decode()
    assert not re.search(r"\bNaN\b|Infinity", raw)
    facts = json.loads(raw)
    assert facts["model"] == "glicko2" and facts["input"] == str(csv_log)
    assert facts["stepladder_version"]


def test_installed_command_grades(tmp_path, csv_log):
    exe = Path(sys.executable).parent / "stepladder"
    out = tmp_path / "items.parquet"
    done = subprocess.run(
        [str(exe), "grade", str(csv_log), "--model", "elo", "--out", str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # no terminal: no progress output
    assert (
        done.stdout.startswith("Graded 12 items from 30 learners") and done.stdout.count("\n") == 1
    )
    assert pq.read_table(out).num_rows == 12


def test_csv_outputs_are_csv(tmp_path, csv_log, capsys):
    import pyarrow.csv as pa_csv

    items, learners = tmp_path / "items.csv", tmp_path / "learners.CSV"
    assert grade(csv_log, "--model", "elo", "--out", items, "--learners-out", learners) == 0
    assert not items.read_bytes().startswith(b"PAR1")
    table = pa_csv.read_csv(items)
    assert table.column_names[:4] == ["item_id", "difficulty", "n_responses", "p_correct"]
    assert table.num_rows == 12 and table.schema.field("n_responses").type == pa.int64()
    assert pa_csv.read_csv(learners).column_names[:3] == ["learner_id", "ability", "n_responses"]
    assert f"Wrote items to {items}" in capsys.readouterr().out


def test_items_everyone_got_right_are_flagged_and_reported(tmp_path, log_table, capsys):
    extra = pa.table({"learner_id": ["L00", "L01", "L02"], "item_id": ["EASY"] * 3,
                      "correct": [1, 1, 1]})  # fmt: skip
    path = _write_csv(tmp_path / "log.csv", pa.concat_tables([log_table, extra]))
    items = tmp_path / "items.parquet"
    assert grade(path, "--model", "2pl", "--out", items) == 0
    table = pq.read_table(items).to_pydict()
    row = table["item_id"].index("EASY")
    assert table["flag"][row] == "all correct" and np.isnan(table["difficulty"][row])
    assert sum(flag is not None for flag in table["flag"]) == 1
    assert "Left out of the fit: 1 item answered all right" in capsys.readouterr().out
    assert grade(path, "--model", "2pl", "--out", items, "--include-constant", "--quiet") == 0
    table = pq.read_table(items).to_pydict()
    assert table["difficulty"][row] < -2 and table["flag"][row] == "all correct"


def test_auto_picks_a_model_and_says_why(tmp_path, csv_log, capsys):
    items = tmp_path / "items.parquet"
    assert grade(csv_log, "--model", "auto", "--out", items) == 0
    facts = _metadata(items)
    bic = facts["selection"]["bic"]
    assert set(bic) == {"1pl", "2pl", "3pl"} and facts["model"] == min(bic, key=bic.get)
    out = capsys.readouterr().out
    assert f"Auto chose {facts['model']}: lowest BIC" in out


def test_paragraph_says_when_the_objective_fell():
    from stepladder.cli.grade import _grade_paragraph

    summary = {"model": "2pl", "method": "mml", "n_items": 3, "n_learners": 4, "n_responses": 12,
               "input": "log.csv", "seconds": 1.0, "iterations": 7, "converged": False,
               "monotone": False, "largest_decrease": 0.5, "loglik": -10.0}  # fmt: skip
    text = _grade_paragraph(summary, np.zeros(3), [("items", Path("i.parquet"))])
    assert "Did NOT converge: the penalised log-likelihood fell by 0.5 during the fit" in text
    summary["monotone"] = True
    text = _grade_paragraph(summary, np.zeros(3), [("items", Path("i.parquet"))])
    assert "Did NOT converge within 7 iterations" in text


def _sat12_csv(tmp_path: Path) -> Path:
    """SAT12 (600 learners x 32 items, tests/difficulty/data) as a long CSV."""
    from tests.difficulty.test_irt_reference import responses

    log = responses("sat12")
    table = pa.table({"learner_id": log.learner, "item_id": log.item,
                      "correct": log.successes.astype(np.int64)})  # fmt: skip
    return _write_csv(tmp_path / "sat12.csv", table)


@pytest.mark.parametrize("model", ["1pl", "2pl"])
def test_priors_none_is_plain_ml_and_matches_mirt(tmp_path, capsys, model):
    from tests.difficulty.test_irt_reference import MIRT

    reference, path, items = MIRT["sat12", model], _sat12_csv(tmp_path), tmp_path / "i.parquet"
    assert grade(path, "--model", model, "--priors", "none", "--out", items) == 0
    table = pq.read_table(items).to_pydict()
    assert table["item_id"] == list(range(32))
    np.testing.assert_allclose(table["difficulty"], reference.b, atol=0.01)
    np.testing.assert_allclose(table["discrimination"], reference.a, rtol=0.01)
    facts = _metadata(items)
    assert facts["loglik"] == pytest.approx(reference.loglik, abs=0.01)
    assert facts["priors"]["log_discrimination"] is None and facts["priors"]["difficulty"] is None
    assert "IRT (mml, no priors)" in capsys.readouterr().out
    if model == "2pl":  # the default priors pull item 32 (b = 12.75 under ML, a = 0.13) in
        assert grade(path, "--model", model, "--out", items, "--quiet") == 0
        assert pq.read_table(items).column("difficulty")[31].as_py() < 6


def test_auto_by_heldout_says_why(tmp_path, csv_log, capsys):
    items = tmp_path / "items.parquet"
    assert grade(csv_log, "--model", "auto", "--select", "heldout", "--out", items) == 0
    selection = _metadata(items)["selection"]
    assert selection["criterion"] == "heldout" and selection["holdout"] == 0.2
    assert set(selection["heldout_loglik"]) == {"1pl", "2pl", "3pl"}
    chosen = max(selection["heldout_loglik"], key=selection["heldout_loglik"].get)
    assert _metadata(items)["model"] == chosen
    assert f"Auto chose {chosen}: it predicts held-out responses best (" in capsys.readouterr().out
