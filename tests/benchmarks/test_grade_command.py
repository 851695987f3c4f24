"""Smoke test of benchmarks/grade_command.py: a tiny run that writes and rewrites its section."""

from __future__ import annotations

from pathlib import Path

from tests.benchmarks.conftest import load_script


def test_quick_run_writes_and_replaces_its_section(tmp_path: Path) -> None:
    out, workdir = tmp_path / "benchmarks.md", tmp_path / "work"
    argv = ["--quick", "--workdir", str(workdir), "--out", str(out)]
    with load_script("grade_command") as grade_command:
        assert grade_command.main(argv) == 0
        assert grade_command.main(argv) == 0  # reuses the log in workdir, replaces the section
        start, end, times = grade_command.START, grade_command.END, grade_command.TIMES
    text = out.read_text(encoding="utf-8")
    assert text.count(start) == 1 and text.count(end) == 1
    rows = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| ")]
    assert rows[2:5] == ["| floor", "| command, 2 threads", "| command, 1 thread"]
    assert "| 2PL fit |" in text and "| reading the log |" in text
    assert f"200 learners {times} 500 items" in text and "so no goal is judged" in text
    assert (workdir / "log.parquet").exists() and (workdir / "threads-2" / "items.parquet").exists()
