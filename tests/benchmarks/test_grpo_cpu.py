"""benchmarks/grpo_cpu.py and _grpo_common.py: the task, the trainer's plumbing, the paired
statistics, and a seconds-long run that writes (and rewrites) its section."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from tests.benchmarks.conftest import load_script

torch = pytest.importorskip("torch")


@pytest.fixture(scope="module")
def grpo() -> Iterator[ModuleType]:
    with load_script("grpo_cpu") as module:
        yield module


@pytest.fixture(scope="module")
def common(grpo: ModuleType) -> ModuleType:
    import _grpo_common  # benchmarks/ is on sys.path once a script is loaded

    return _grpo_common


def small_config(common: ModuleType, **changes: object) -> object:
    cfg = common.Config(per_level=20, test_per_level=5, validation_per_level=5, d_model=16)
    for key, value in changes.items():
        setattr(cfg, key, value)
    return cfg


def test_task_encodes_sums_least_significant_first(common: ModuleType) -> None:
    pairs = np.array([[359, 0], [9999, 9999], [42, 317]])
    assert common.encode_prompts(pairs, 4)[2].tolist() == [0, 0, 4, 2, 10, 0, 3, 1, 7, 11]
    answers = common.encode_answers(pairs, 4).tolist()
    assert answers[0] == [9, 5, 3, 0, 0] and answers[1] == [8, 9, 9, 9, 1]
    assert common.carries(pairs).tolist() == [0, 4, 0]
    assert common.encode_answers(np.array([[999_999, 1]]), 6).tolist() == [[0] * 6 + [1]]


def test_task_levels_are_disjoint_and_sized(common: ModuleType) -> None:
    cfg = small_config(common)
    task = common.Task.build(cfg)
    assert np.bincount(task.levels).tolist() == [0, 20, 20, 20, 20]
    longest = np.char.str_len(task.pairs.max(axis=1).astype(str))
    assert np.array_equal(longest, task.levels)
    pool = {tuple(p) for p in task.pairs.tolist()}
    assert not pool & {tuple(p) for p in task.test_pairs.tolist()}
    assert np.bincount(task.levels[task.validation]).tolist() == [0, 5, 5, 5, 5]
    item_pool = task.item_pool()
    assert item_pool.size == 80 and item_pool.features.shape == (80, 4)


def test_cached_sampling_matches_the_full_forward_pass(common: ModuleType) -> None:
    torch.manual_seed(0)
    policy = common.Policy(small_config(common, layers=2))
    prompts = common.encode_prompts(np.array([[12, 345], [9999, 1], [0, 0], [5, 5]]), 4)
    greedy = policy.sample(prompts, 0.0, None)
    assert torch.equal(policy.answer_logits(prompts, greedy).argmax(-1), greedy)
    sampled = policy.sample(prompts, 1.0, torch.Generator().manual_seed(0))
    again = policy.sample(prompts, 1.0, torch.Generator().manual_seed(0))
    assert sampled.shape == (4, 5) and torch.equal(sampled, again)


def test_generate_honours_rollouts_and_training_takes_kept_groups(common: ModuleType) -> None:
    cfg = small_config(common, rollouts=3)
    task = common.Task.build(cfg)
    generate = common.Generator(common.Policy(cfg), task, cfg, torch.Generator().manual_seed(0))
    outcomes = generate(common.Proposal(np.array([0, 5, 7]), rollouts=np.array([2, 5, 1])))
    assert outcomes.rollouts.tolist() == [2, 5, 1]
    prompts, answers, advantages, kept = generate.training_batch([np.array([0, 1, 1])], 1)
    assert kept.tolist() == [5]  # the first kept group only: the batch holds one
    assert prompts.shape == (5, cfg.prompt_len) and answers.shape == (5, cfg.answer_len)
    rewards = torch.as_tensor(outcomes.rewards[1], dtype=torch.float32)
    expected = (rewards - rewards.mean()) / (rewards.std(unbiased=False) + 1e-4)
    assert torch.allclose(advantages, expected)
    assert generate.rounds == []


def test_kept_groups_match_fill_batch_across_rounds(common: ModuleType) -> None:
    cfg = small_config(common, rollouts=4)
    task = common.Task.build(cfg)
    cur = common.Curriculum(task.item_pool(), "dynamic_sampling", seed=0)
    generate = common.Generator(common.Policy(cfg), task, cfg, torch.Generator().manual_seed(0))
    # a fixed fake reward pattern so that some groups are mixed and some are not
    real = generate.__call__

    def fake(proposal: object) -> object:
        outcomes = real(proposal)
        rewards = (proposal.indices[:, None] + np.arange(4)) % 3 == 0
        _, sizes, prompts, answers, _ = generate.rounds[-1]
        generate.rounds[-1] = (proposal.indices, sizes, prompts, answers,
                               rewards.astype(float).ravel())  # fmt: skip
        return common.Outcomes(outcomes.indices, rewards.astype(float))

    recorder = common.KeepRecorder(cur)
    filled = common.fill_batch(recorder, fake, 6, max_rounds=4)
    _, _, _, kept = generate.training_batch(recorder.masks, 6)
    assert len(recorder.masks) == filled.rounds
    assert np.array_equal(kept, filled.kept.indices)


def test_paired_statistics(common: ModuleType) -> None:
    mean, low, high = common.t_interval(np.array([0.1, 0.2, 0.3]))
    assert mean == pytest.approx(0.2)
    assert (high - low) / 2 == pytest.approx(4.302653 * 0.1 / np.sqrt(3), rel=1e-5)
    assert np.isnan(common.t_interval(np.array([0.5]))[1])
    curve = {"rollouts": [0, 100, 200], "accuracy": [0.5, 0.7, 0.9]}
    assert common.accuracy_at(curve, 150) == pytest.approx(0.8)
    assert np.isnan(common.accuracy_at(curve, 201))
    assert common.area(curve, 200) == pytest.approx(0.7)
    assert common.area(curve, 400) == pytest.approx((0.7 * 200 + 0.9 * 200) / 400, rel=1e-3)
    assert common.rollouts_to(curve, 0.7) == 100 and np.isnan(common.rollouts_to(curve, 0.95))


def _fake_run(final: float, rollouts: int, batch: int = 4) -> dict:
    return {"batch": batch, "rollouts": rollouts, "final": final, "effective_ratio": 0.5,
            "seconds": 1.0, "curve": {"step": [0, 10], "rollouts": [0, rollouts],
                                      "accuracy": [0.5, final],
                                      "levels": [{1: 0.5}, {1: final}]}}  # fmt: skip


def test_verdict_uses_the_rollout_matched_control(common: ModuleType) -> None:
    out = {
        "results": {
            "uniform": [_fake_run(0.70, 100), _fake_run(0.72, 100), _fake_run(0.71, 100)],
            "filter": [_fake_run(0.80, 200), _fake_run(0.81, 200), _fake_run(0.82, 200)],
            "picker": [_fake_run(0.75, 100), _fake_run(0.76, 100), _fake_run(0.77, 100)],
        },
        "controls": [{"uniform@8": _fake_run(final, 200, 8)} for final in (0.79, 0.82, 0.80)],
        "matched": {"uniform": [None] * 3, "filter": ["uniform@8"] * 3, "picker": [None] * 3},
    }
    rows = {r["name"]: r for r in common.summarise(out)}
    assert rows["filter"]["vs_uniform"][0] == pytest.approx(0.1)
    assert rows["filter"]["per_seed"] == pytest.approx([0.10, 0.09, 0.11])
    assert rows["filter"]["vs_matched"][0] == pytest.approx(0.02 / 3)  # +.01, -.01, +.02
    assert rows["filter"]["ratio"] == pytest.approx(2.0) and rows["filter"]["matched"]
    assert common.verdict(rows["filter"]) == "no difference shown"
    assert common.verdict(rows["picker"]) == "better"  # +.05 +- .01 against uniform itself
    assert rows["picker"]["vs_matched"][0] == pytest.approx(0.05)
    # at uniform's rollouts (100) the filter is halfway along its curve: (0.5 + final) / 2
    assert rows["filter"]["vs_equal_rollouts"][0] == pytest.approx(-0.055)
    assert rows["filter"]["reached"] == 3


def test_quick_run_writes_and_rewrites_its_section(grpo: ModuleType, tmp_path: Path) -> None:
    out, saved = tmp_path / "benchmarks.md", tmp_path / "raw.json"
    out.write_text("# Benchmarks\n\n<!-- other:start -->\nkeep me\n<!-- other:end -->\n")
    grpo.main(["--quick", "--threads", "1", "--strategies", "uniform,dynamic_sampling,knapsack",
               "--out", str(out), "--save", str(saved)])  # fmt: skip
    first = out.read_text()
    assert first.count(grpo.START) == 1 and first.count(grpo.END) == 1
    assert "keep me" in first and "Quick smoke configuration" in first
    assert "python benchmarks/grpo_cpu.py --quick --threads 1 --strategies" in first
    assert str(saved) not in first  # where results go is not part of the command
    for name in ("uniform", "dynamic_sampling", "knapsack"):
        assert f"| `{name}` |" in first
    raw = json.loads(saved.read_text())
    assert set(raw["out"]["results"]) == {"uniform", "dynamic_sampling", "knapsack"}
    assert len(raw["out"]["warm"]) == 2 and raw["quick"]
    grpo.main(["--render-from", str(saved), "--out", str(out)])
    assert out.read_text().count(grpo.START) == 1
    raw["quick"] = False  # as if it were a measurement: then it says that it is a reduced one
    saved.write_text(json.dumps(raw))
    grpo.main(["--render-from", str(saved), "--out", str(out)])
    text = out.read_text()
    assert "**A reduced run**" in text and "Quick smoke" not in text
    assert "all 16 strategies" in text and "`knapsack`" in text


def test_every_rl_strategy_runs_through_fill_batch(grpo: ModuleType, tmp_path: Path) -> None:
    from stepladder import strategies

    assert set(grpo.STRATEGIES) <= set(strategies.available())
    out = tmp_path / "b.md"
    grpo.main(["--quick", "--threads", "1", "--out", str(out)])
    text = out.read_text()
    for name in grpo.STRATEGIES:
        assert f"| `{name}` |" in text


def test_runs_split_by_seed_merge_into_one_table(grpo: ModuleType, tmp_path: Path) -> None:
    out, first, second = tmp_path / "b.md", tmp_path / "a.json", tmp_path / "b.json"
    common = ["--quick", "--threads", "1", "--strategies", "uniform,range_filter"]
    common += ["--out", str(out)]
    grpo.main([*common, "--save", str(first)])
    grpo.main([*common, "--first-seed", "2", "--save", str(second)])
    assert json.loads(second.read_text())["out"]["seeds"] == [2, 3]
    grpo.main(["--render-from", str(first), str(second), "--out", str(out)])
    text = out.read_text()
    assert "on seeds 0, 1, 2, 3." in text and "seed 3: " in text
    assert "--first-seed 2" in text  # both commands are shown


def test_runs_of_different_strategies_merge_on_shared_seeds(
    grpo: ModuleType, tmp_path: Path
) -> None:
    out, first, second = tmp_path / "b.md", tmp_path / "a.json", tmp_path / "b.json"
    common = ["--quick", "--threads", "1", "--out", str(out)]
    grpo.main([*common, "--strategies", "uniform,sec", "--save", str(first)])
    grpo.main([*common, "--strategies", "uniform,dynamic_sampling", "--save", str(second)])
    grpo.main(["--render-from", str(first), str(second), "--out", str(out)])
    text = out.read_text()
    assert "covers the strategies `uniform`, `dynamic_sampling`, `sec` on seeds 0, 1." in text
    assert "| `uniform@12` |" in text or "`uniform@" in text
