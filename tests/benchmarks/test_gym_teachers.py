"""Smoke test of benchmarks/gym_teachers.py: a quick run on real FrozenLake maps."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmarks.conftest import load_script

pytest.importorskip("gymnasium")


@pytest.fixture(scope="module")
def gym_teachers() -> Iterator[ModuleType]:
    with load_script("gym_teachers") as module:
        yield module


def test_maps_are_graded_and_solvable(gym_teachers: ModuleType) -> None:
    maps = gym_teachers.make_maps([4, 6], 2, seed=0)
    pool = gym_teachers.make_pool(maps)
    assert pool.size == 4 and pool.n_groups == 2
    assert pool.difficulty[:2].max() < pool.difficulty[2:].min()  # bigger maps, longer paths
    assert gym_teachers.shortest_path(["SF", "FG"]) == 2


def test_quick_run_writes_and_replaces_its_section(
    gym_teachers: ModuleType, tmp_path: Path
) -> None:
    out = tmp_path / "docs" / "benchmarks.md"
    assert gym_teachers.main(["--quick", "--out", str(out)]) == 0
    first = out.read_text(encoding="utf-8")
    assert first.count(gym_teachers.START) == 1 and first.count(gym_teachers.END) == 1
    section = first[first.index(gym_teachers.START) : first.index(gym_teachers.END)]
    assert "## Teachers on gymnasium FrozenLake" in section and "| ---: |" in section
    for label, _, _ in gym_teachers.TEACHERS:
        assert f"| `{label}` |" in section
    assert "Reading (" in section and "benchmarks/gym_teachers.py --quick" in section

    out.write_text(first + "\nWritten by hand.\n", encoding="utf-8")
    assert gym_teachers.main(["--quick", "--out", str(out)]) == 0
    second = out.read_text(encoding="utf-8")
    assert second.count("## Teachers on gymnasium FrozenLake") == 1
    assert second.rstrip().endswith("Written by hand.")
