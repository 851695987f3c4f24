"""benchmarks/grpo_gpu.py: its --quick smoke run (on the CPU here) writes its own section."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from tests.benchmarks.conftest import load_script

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def grpo_gpu() -> Iterator[ModuleType]:
    with load_script("grpo_gpu") as module:
        yield module


def test_defaults_are_the_gpu_sizes(grpo_gpu: ModuleType) -> None:
    cfg = grpo_gpu.gpu_config()
    assert (cfg.width, cfg.layers, cfg.d_model, cfg.batch, cfg.rollouts, cfg.steps) == (
        6, 4, 256, 128, 16, 300,
    )  # fmt: skip
    assert cfg.levels == (1, 2, 3, 4, 5, 6) and sum(cfg.warmup_mix.values()) == pytest.approx(1)


def test_quick_run_writes_its_section(grpo_gpu: ModuleType, tmp_path: Path) -> None:
    out, saved = tmp_path / "benchmarks.md", tmp_path / "raw.json"
    grpo_gpu.main(["--quick", "--threads", "1", "--strategies", "uniform,vcrl,gfpo",
                   "--out", str(out), "--save", str(saved)])  # fmt: skip
    text = out.read_text()
    assert text.count(grpo_gpu.START) == 1 and text.count(grpo_gpu.END) == 1
    assert "6-digit addition" in text and "Quick smoke configuration" in text
    assert "| `vcrl` |" in text and "| `gfpo` |" in text
    raw = json.loads(saved.read_text())
    assert raw["cfg"]["width"] == 6 and len(raw["out"]["results"]["uniform"]) == 2
