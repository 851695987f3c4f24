"""Smoke test of benchmarks/irt_patterns.py: a quick run, and its section on tiny shapes."""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.conftest import load_script


def test_quick_run_prints_without_writing(tmp_path: Path, capsys) -> None:
    out = tmp_path / "benchmarks.md"
    with load_script("irt_patterns") as script:
        assert script.main(["--quick", "--out", str(out)]) == 0
    assert not out.exists()
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 4 and all("CPU" in line for line in lines)


def test_section_between_markers(tmp_path: Path) -> None:
    out = tmp_path / "benchmarks.md"
    with load_script("irt_patterns") as script:
        rows = script.measure([(600, 4)], ("1pl",), repeats=1)
        assert rows[0]["patterns"] <= 16 and rows[0]["difference"] < 1e-3
        script.update_section(out, script.section(rows, ["--repeats", "1"], 1),
                              script.START, script.END)  # fmt: skip
    text = out.read_text(encoding="utf-8")
    assert text.count(script.START) == 1 and text.count(script.END) == 1
    assert "| 600 x 4 |" in text and "irt_patterns.py --repeats 1" in text
