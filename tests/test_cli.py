import json
import subprocess
import sys
from pathlib import Path

import pytest

from stepladder.cli import main


def simulate(*args: str) -> int:
    return main(["simulate", *args])


def test_simulate_writes_results_and_report(tmp_path, capsys):
    out = tmp_path / "run"
    code = simulate(
        "--scenario",
        "grpo-math",
        "--strategies",
        "uniform,easy_to_hard",
        "--seed",
        "1",
        "--steps",
        "20",
        "--repeats",
        "2",
        "--out",
        str(out),
    )
    assert code == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["strategies"]) == {"uniform", "easy_to_hard"}
    assert results["seed"] == 1 and results["steps"] == 20 and results["repeats"] == 2
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "easy_to_hard" in html
    table = capsys.readouterr().out
    assert "steps_to_target" in table and "uniform" in table


def test_all_runs_every_registered_strategy(tmp_path):
    from stepladder import strategies

    assert simulate("--scenario", "sft", "--steps", "3", "--quiet", "--out", str(tmp_path)) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert sorted(results["strategies"]) == strategies.available()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "nope"], "--scenario: unknown scenario 'nope'"),
        (
            ["--scenario", "sft", "--strategies", "uniform,bogus"],
            "--strategies: unknown strategy 'bogus'",
        ),
        (["--scenario", "sft", "--strategies", ","], "--strategies is empty"),
        (["--scenario", "sft", "--strategies", "uniform,uniform"], "lists a name twice"),
        (["--scenario", "sft", "--steps", "0"], "Invalid value for '--steps'"),
        (["--scenario", "sft", "--repeats", "x"], "Invalid value for '--repeats'"),
        (["--strategies", "uniform"], "Missing option '--scenario'"),
    ],
)
def test_bad_input_is_one_line_with_exit_code_2(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    assert simulate(*args, "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not out.exists()


def test_out_pointing_at_a_file_is_rejected(tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("keep")
    assert simulate("--scenario", "sft", "--strategies", "uniform", "--out", str(target)) == 2
    assert "is a file" in capsys.readouterr().err and target.read_text() == "keep"


def test_installed_command_runs(tmp_path):
    exe = Path(sys.executable).parent / "stepladder"
    done = subprocess.run(
        [str(exe), "simulate", "--scenario", "nope", "--out", str(tmp_path / "o")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and done.stderr.startswith("error: --scenario")
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert "stepladder" in version.stdout
