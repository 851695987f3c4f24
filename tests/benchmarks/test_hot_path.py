"""Smoke test of benchmarks/hot_path.py: a tiny run that writes and rewrites its section."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmarks.conftest import load_script


@pytest.fixture(scope="module")
def hot_path() -> Iterator[ModuleType]:
    with load_script("hot_path") as module:
        yield module


QUICK = ["--quick", "--sizes", "500", "3000", "--steps", "3", "--batch", "32", "--rollouts", "4"]


def test_quick_run_writes_and_replaces_its_section(hot_path: ModuleType, tmp_path: Path) -> None:
    out = tmp_path / "docs" / "benchmarks.md"
    assert hot_path.main([*QUICK, "--out", str(out)]) == 0
    first = out.read_text(encoding="utf-8")
    assert first.startswith("# Benchmarks\n")
    assert first.count(hot_path.START) == 1 and first.count(hot_path.END) == 1
    section = first[first.index(hot_path.START) : first.index(hot_path.END)]
    assert "| pool items |" in section and "| --- |" in section
    assert "| 3,000 |" in section  # one row per pool size
    assert "benchmarks/hot_path.py" in section and "NumPy" in section

    # Text outside the markers survives; a rerun replaces the section instead of adding one.
    out.write_text(first + "\nWritten by hand.\n", encoding="utf-8")
    assert hot_path.main([*QUICK, "--out", str(out)]) == 0
    second = out.read_text(encoding="utf-8")
    assert second.count(hot_path.START) == 1 and second.count(hot_path.END) == 1
    assert second.count("## Hot path") == 1
    assert second.rstrip().endswith("Written by hand.")


def test_quick_run_without_out_writes_nothing(
    hot_path: ModuleType,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setattr(hot_path, "DEFAULT_OUT", tmp_path / "never.md")
    assert hot_path.main(QUICK) == 0
    assert not (tmp_path / "never.md").exists()
    assert "| pool items |" in capsys.readouterr().out


def test_update_section_appends_markers_to_an_existing_file(
    hot_path: ModuleType, tmp_path: Path
) -> None:
    out = tmp_path / "benchmarks.md"
    out.write_text("# Benchmarks\n\nOther section.\n", encoding="utf-8")
    hot_path.update_section(out, "first\n", hot_path.START, hot_path.END)
    hot_path.update_section(out, "second\n", hot_path.START, hot_path.END)
    text = out.read_text(encoding="utf-8")
    assert text.startswith("# Benchmarks\n\nOther section.\n")
    assert text.count(hot_path.START) == 1 and "second" in text and "first" not in text
