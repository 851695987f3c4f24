"""Smoke test of benchmarks/grpo_cpu.py: a seconds-long GRPO run that writes its section."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.benchmarks.conftest import load_script

pytest.importorskip("torch")


@pytest.fixture(scope="module")
def grpo() -> Iterator[ModuleType]:
    with load_script("grpo_cpu") as module:
        yield module


def test_task_encodes_sums_least_significant_first(grpo: ModuleType) -> None:
    pairs = np.array([[359, 0], [9999, 9999], [42, 317]])
    assert grpo.encode_prompts(pairs)[2].tolist() == [0, 0, 4, 2, 10, 0, 3, 1, 7, 11]
    answers = grpo.encode_answers(pairs).tolist()
    assert answers[0] == [9, 5, 3, 0, 0] and answers[1] == [8, 9, 9, 9, 1]
    assert grpo.carries(pairs).tolist() == [0, 4, 0]


def test_generate_honours_rollouts_per_prompt(grpo: ModuleType) -> None:
    cfg = grpo.Config(per_level=20, test_per_level=5, rollouts=3)
    task = grpo.Task.build(cfg.per_level, cfg.test_per_level)
    policy = grpo.Policy(cfg.d_model, cfg.layers, cfg.heads)
    generate = grpo.Generator(policy, task, cfg, grpo.torch.Generator().manual_seed(0))
    proposal = grpo.Proposal(np.array([0, 5, 7]), rollouts=np.array([2, 5, 1]))
    outcomes = generate(proposal)
    assert outcomes.rollouts.tolist() == [2, 5, 1]
    prompts, answers, advantages = generate.training_batch(outcomes.select(np.array([1])))
    assert prompts.shape == (5, grpo.PROMPT) and answers.shape == (5, grpo.ANSWER)
    assert advantages.shape == (5,)


def test_quick_run_writes_and_rewrites_its_section(grpo: ModuleType, tmp_path: Path) -> None:
    out, saved = tmp_path / "benchmarks.md", tmp_path / "raw.json"
    out.write_text("# Benchmarks\n\n<!-- other:start -->\nkeep me\n<!-- other:end -->\n")
    for _ in range(2):
        grpo.main(["--quick", "--threads", "1", "--out", str(out), "--save", str(saved)])
    text = out.read_text()
    assert text.count(grpo.START) == 1 and text.count(grpo.END) == 1
    assert "keep me" in text and "Quick smoke configuration" in text
    for name in grpo.STRATEGIES:
        assert f"| `{name}` |" in text
    raw = json.loads(saved.read_text())
    assert set(raw["out"]["results"]) == set(grpo.STRATEGIES)
