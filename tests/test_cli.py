import json
import subprocess
import sys
from pathlib import Path

import pytest

import stepladder
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
    assert results["run"]["command"].startswith("stepladder simulate --scenario grpo-math")
    assert results["run"]["stepladder_version"] and results["run"]["date"]
    html = (out / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>") and "<svg" in html and "easy_to_hard" in html
    table = capsys.readouterr().out
    assert "steps_to_target" in table and "uniform" in table


def test_all_runs_every_registered_strategy(tmp_path):
    from stepladder import strategies

    args = ["--scenario", "grpo-math", "--steps", "2", "--quiet", "--out", str(tmp_path)]
    assert simulate(*args) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    assert sorted(results["strategies"]) == strategies.available()


def test_all_skips_strategies_whose_output_the_scenario_ignores(tmp_path, capsys):
    from stepladder import strategies

    assert simulate("--scenario", "sft", "--steps", "2", "--quiet", "--out", str(tmp_path)) == 0
    results = json.loads((tmp_path / "results.json").read_text())
    allocators = {n for n in strategies.available() if strategies.get(n).allocates_rollouts}
    assert allocators and sorted(results["strategies"]) == sorted(
        set(strategies.available()) - allocators
    )
    err = capsys.readouterr().err
    assert all(f"note: skipping {name}: " in err for name in allocators)


def test_a_named_strategy_the_scenario_ignores_stops_before_work(tmp_path, capsys):
    out = tmp_path / "run"
    assert simulate("--scenario", "sft", "--strategies", "knapsack", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --strategies: knapsack: strategy 'knapsack' allocates")
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--scenario", "nope"], "'--scenario': 'nope' is not one of 'grpo-math'"),
        (["--scenario", "sft", "--seed", "-1"], "Invalid value for '--seed'"),
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
    assert done.returncode == 2 and "'--scenario'" in done.stderr
    version = subprocess.run([str(exe), "--version"], capture_output=True, text=True, check=True)
    assert "stepladder" in version.stdout


def test_module_entry_point_runs_the_command():
    src = str(Path(stepladder.__file__).resolve().parents[1])
    command = [sys.executable, "-m", "stepladder.cli", "grade", "--model", "2pl"]
    done = subprocess.run(command, capture_output=True, text=True, env={"PYTHONPATH": src})
    assert done.returncode == 2 and "INPUT" in done.stderr


def test_no_arguments_prints_the_help(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Usage: stepladder") and "simulate" in out and "grade" in out


def test_help_lists_the_choices(capsys):
    assert main(["simulate", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "grpo-math|multi-source|sft" in out and "knapsack" in out


def test_unwritable_out_fails_before_any_work(tmp_path, capsys, monkeypatch):
    import stepladder.sim

    def no_work(*args, **kwargs):
        raise AssertionError("the simulation ran before the output path was checked")

    monkeypatch.setattr(stepladder.sim, "compare", no_work)
    blocker = tmp_path / "file"
    blocker.write_text("keep")
    out = blocker / "sub" / "run"
    assert simulate("--scenario", "sft", "--strategies", "uniform", "--out", str(out)) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --out:") and str(blocker) in err and err.count("\n") == 1
    assert blocker.read_text() == "keep"


def test_results_csv_is_tidy(tmp_path):
    import csv

    args = ["--scenario", "sft", "--strategies", "uniform,easy_to_hard", "--steps", "10"]
    assert simulate(*args, "--repeats", "2", "--quiet", "--out", str(tmp_path)) == 0
    rows = list(csv.DictReader((tmp_path / "results.csv").open()))
    results = json.loads((tmp_path / "results.json").read_text())
    assert len(rows) == 2 * 2 * 3  # strategies x repeats x evaluation points (0, 5, 10)
    last = [r for r in rows if r["strategy"] == "uniform" and r["repeat"] == "1"][-1]
    assert last["step"] == "10"
    uniform = results["strategies"]["uniform"]
    assert float(last["accuracy"]) == pytest.approx(uniform["final_accuracy"]["values"][1])
    assert float(last["final_accuracy"]) == float(last["accuracy"])


def _register_needs_extra(monkeypatch):
    """A registered strategy whose optional dependency is missing (raises at bind)."""
    from stepladder.strategies import Strategy, _registry

    class NeedsExtra(Strategy):
        name = "needs_extra"

        def _setup(self) -> None:
            raise ImportError("needs_extra needs fancylib: pip install 'stepladder[fancy]'")

        def propose(self, n):
            raise AssertionError("never run")

    monkeypatch.setitem(_registry._REGISTRY, "needs_extra", NeedsExtra)


def test_all_skips_a_strategy_whose_extra_is_missing(tmp_path, capsys, monkeypatch):
    _register_needs_extra(monkeypatch)
    args = ["--scenario", "sft", "--steps", "2", "--quiet", "--out", str(tmp_path)]
    assert simulate(*args) == 0
    assert "note: skipping needs_extra: needs_extra needs fancylib" in capsys.readouterr().err
    results = json.loads((tmp_path / "results.json").read_text())
    assert "needs_extra" not in results["strategies"] and "uniform" in results["strategies"]


def test_named_strategy_with_missing_extra_stops_before_work(tmp_path, capsys, monkeypatch):
    _register_needs_extra(monkeypatch)
    out = tmp_path / "run"
    args = ["--scenario", "sft", "--strategies", "uniform,needs_extra", "--out", str(out)]
    assert simulate(*args) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --strategies: needs_extra: needs_extra needs fancylib")
    assert err.count("\n") == 1 and not out.exists()


def test_every_strategy_runs_on_the_core_install(tmp_path, capsys, monkeypatch):
    """make demo installs the core only: no strategy may need scikit-learn or torch."""
    for name in ("sklearn", "sklearn.mixture", "torch"):
        monkeypatch.setitem(sys.modules, name, None)  # import raises ImportError
    from stepladder import strategies

    args = ["--scenario", "grpo-math", "--steps", "2", "--quiet", "--out", str(tmp_path)]
    assert simulate(*args) == 0
    assert "note: skipping" not in capsys.readouterr().err
    results = json.loads((tmp_path / "results.json").read_text())
    assert sorted(results["strategies"]) == strategies.available()
