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


def test_regime_b_pads_the_pool_with_three_operand_sums(common: ModuleType) -> None:
    plain = common.Task.build(small_config(common))
    task = common.Task.build(small_config(common, regime="b"))
    assert np.array_equal(task.pairs, plain.pairs)  # regime (a)'s pool, then the padding
    assert np.array_equal(task.test_pairs, plain.test_pairs)
    assert np.array_equal(task.validation, plain.validation)
    assert np.bincount(task.levels).tolist() == [0, 20, 20, 20, 20, 160]
    assert task.pad.shape == (160, 3) and task.pad_test.shape == (5, 3)
    assert not {tuple(t) for t in task.pad.tolist()} & {tuple(t) for t in task.pad_test.tolist()}
    tokens = common.encode_triples(np.array([[123, 45, 6]]), common.pad_widths(4))
    assert tokens.tolist() == [[1, 2, 3, 10, 4, 5, 10, 0, 6, 11]]
    assert common.pad_widths(6) == (5, 3, 3)
    first = task.pad[0]
    assert task.answers[80].tolist() == common.encode_answers(first[None], 4)[0].tolist()
    assert task.prompts[80].tolist() == common.encode_triples(first[None], (3, 2, 2))[0].tolist()
    assert task.prompts[:80].tolist() == common.encode_prompts(plain.pairs, 4).tolist()
    pool = task.item_pool()
    assert pool.size == 240 and pool.group_sizes().tolist() == [20, 20, 20, 20, 160]
    assert pool.group_names[4] == "3 operands" and np.all(pool.features[80:, 2] == 5)
    assert np.all(pool.difficulty[80:] >= 5) and np.all(pool.difficulty[:80] < 5)


def test_solve_probability_matches_sampling(common: ModuleType) -> None:
    torch.manual_seed(3)
    cfg = small_config(common, width=1, layers=1)
    policy = common.Policy(cfg)
    pair = np.array([[7, 8]])
    prompts, answers = common.encode_prompts(pair, 1), common.encode_answers(pair, 1)
    exact = common.solve_probability(policy, prompts, answers, cfg)[0]
    draws = 40_000
    sampled = policy.sample(prompts.repeat(draws, 1), 1.0, torch.Generator().manual_seed(0))
    rate = float((sampled == answers).all(dim=1).float().mean())
    assert abs(rate - exact) < 4 * np.sqrt(exact * (1 - exact) / draws)
    profile = common.start_profile(policy, common.Task.build(small_config(common, width=1)), cfg)
    assert 0 < profile["all_equal"] <= 1 and list(profile["levels"]) == [1]


def test_safety_net_is_passed_only_when_set(common: ModuleType, grpo: ModuleType) -> None:
    import inspect

    assert common.safety_net(small_config(common)) == {}
    cfg = small_config(common, uniform_mix=0.1, cover_groups=50)
    if "uniform_mix" in inspect.signature(common.Curriculum).parameters:
        assert common.safety_net(cfg) == {"uniform_mix": 0.1, "cover_groups": 50}
    else:  # before the safety net is merged: a clear error, before any work
        with pytest.raises(ValueError, match="--uniform-mix, --cover-groups: this stepladder"):
            common.safety_net(cfg)
        with pytest.raises(ValueError, match="--uniform-mix"):
            grpo.main(["--quick", "--uniform-mix", "0.1", "--out", "/nonexistent/b.md"])
    assert common.variant(cfg, "T") == (
        "_net",
        "T, safety net on every strategy (uniform_mix 0.1, cover_groups 50)",
    )
    off = small_config(common, uniform_mix=0.0, cover_groups=0)
    assert common.safety_net(off) == {"uniform_mix": 0.0, "cover_groups": 0}
    assert common.variant(off, "T") == ("_nonet", "T, without the safety net (the papers' methods)")
    assert common.variant(small_config(common), "T") == ("", "T")  # each strategy's default
    defaults = small_config(common)
    assert common.net_of("pcl", defaults) == {"uniform_mix": 0.1, "cover_groups": 4}
    assert common.net_of("balanced_filter", defaults) == common.NET_OFF
    assert common.net_of("uniform@64", cfg) == common.NET_OFF  # controls never get one
    assert common.net_of("pcl", off) == common.NET_OFF
    assert common.variant(small_config(common, regime="b"), "T")[0] == "_b"


def _outcomes(common: ModuleType, indices: list[int], rewards: list[list[int]]) -> object:
    return common.Outcomes(np.array(indices), np.array(rewards, dtype=float))


def test_diagnostics_record_selection_calibration_bank_and_arms(common: ModuleType) -> None:
    task = common.Task.build(small_config(common, regime="b"))
    pool = task.item_pool()
    # items 0 (level 1), 20 (level 2), 80 and 81 (padded, level 5)
    batch = ([0, 20, 80, 81], [[1, 0, 1, 1], [1, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]])
    records = {}
    for name in ("pcl", "vcrl", "sec"):
        cur = common.Curriculum(pool, name, seed=0)
        diag = common.Diagnostics(cur, task, window=2)
        recorder = common.KeepRecorder(cur, diag)
        recorder.observe(_outcomes(common, *batch))
        diag.end_step(1, last=False)  # mid-window: nothing closed
        recorder.observe(_outcomes(common, [0], [[1, 1, 1, 1]]))
        diag.end_step(2, last=False)
        records[name] = (cur, diag.result())
    _, pcl = records["pcl"]
    assert pcl["levels"] == [1, 2, 3, 4, 5] and pcl["window"] == 2
    assert pcl["selection"] == [[2, 1, 0, 0, 2]]
    assert pcl["groups"] == [5] and pcl["mixed"] == [1] and pcl["distinct"] == [4]
    assert pcl["items_picked"] == 4
    assert pcl["top1_share"] == pytest.approx(4 / 5)  # the top 3 of 240 items: 2 + 1 + 1
    bins = np.array(pcl["calibration"][0])
    assert bins[5].tolist()[:2] == [4.0, 2.0]  # first batch: nothing learned, every v = 0.5
    assert bins[5][2] == pytest.approx(0.75 + 1.0)  # observed pass rates 0.75, 1, 0, 0
    assert bins[:, 0].sum() == 5
    cur, vcrl = records["vcrl"]
    # item 0 scored 4 * 0.75 * 0.25 = 0.75 >= 0.5 and was banked, then left it on 4 of 4
    assert vcrl["bank"] == [{"size": 0, "levels": [0, 0, 0, 0, 0], "pass_rate": None}]
    cur, sec = records["sec"]
    arms = np.array(sec["arms"][0])
    assert arms.sum() == pytest.approx(1.0)
    expected = cur.strategy.arm_probabilities()  # groups in level order here
    assert arms.tolist() == pytest.approx(expected, abs=1e-6)
    assert arms[0] > arms[1] == pytest.approx(arms[2])  # only level 1 had |advantage| > 0


def test_vcrl_bank_snapshot(common: ModuleType) -> None:
    task = common.Task.build(small_config(common))
    cur = common.Curriculum(task.item_pool(), "vcrl", seed=0)
    diag = common.Diagnostics(cur, task, window=1)
    recorder = common.KeepRecorder(cur, diag)
    recorder.observe(_outcomes(common, [0, 21, 45], [[1, 0, 1, 0], [1, 1, 0, 1], [0, 0, 0, 0]]))
    diag.end_step(1, last=False)
    assert diag.result()["bank"] == [{"size": 2, "levels": [1, 1, 0, 0], "pass_rate": 0.625}]


def test_quick_regime_b_saves_diagnostics_and_renders_the_diagnosis(
    grpo: ModuleType, tmp_path: Path
) -> None:
    out, saved = tmp_path / "b.md", tmp_path / "b.json"
    grpo.main(["--quick", "--threads", "1", "--regime", "b", "--strategies",
               "uniform,pcl,vcrl,sec,dump", "--out", str(out), "--save", str(saved)])  # fmt: skip
    text = out.read_text()
    assert "<!-- grpo_cpu_b:start -->" in text and "<!-- grpo_cpu:start -->" not in text
    assert "regime (b)" in text and "3-operand (padded)" in text
    raw = json.loads(saved.read_text())
    assert raw["cfg"]["regime"] == "b" and raw["out"]["pool_per_level"]["5"] > 0
    assert 0 <= raw["out"]["warm"][0]["start"]["all_equal"] <= 1
    for runs in raw["out"]["results"].values():
        diag, curve = runs[0]["diagnostics"], runs[0]["curve"]
        assert len(diag["selection"]) == 2 and len(diag["selection"][0]) == 5
        assert sum(map(sum, diag["selection"])) == sum(diag["groups"])
        assert len(curve["padded"]) == len(curve["step"]) == 3
    assert len(raw["out"]["results"]["pcl"][0]["diagnostics"]["calibration"]) == 2
    assert len(raw["out"]["results"]["dump"][0]["diagnostics"]["arms"][0]) == 5
    assert "size" in raw["out"]["results"]["vcrl"][0]["diagnostics"]["bank"][0]
    # make every strategy lose to its rollout-matched uniform: the diagnosis lists them
    for row, controls in enumerate(raw["out"]["controls"]):
        base = raw["out"]["results"]["uniform"][row]["final"]
        for name, runs in raw["out"]["results"].items():
            key = raw["out"]["matched"][name][row]
            if name != "uniform":
                runs[row]["final"] = (controls[key]["final"] if key else base) - 0.1
    saved.write_text(json.dumps(raw))
    grpo.main(["--render-from", str(saved), "--out", str(out)])
    text = out.read_text()
    assert "### Diagnosis of the strategies behind uniform" in text
    assert "`pcl`'s value model" in text and "`vcrl`'s replay bank" in text
    assert "Bandit arm probabilities" in text and "| `sec` |" in text and "| `dump` |" in text
    assert "top-1% share" in text and "| 0.5-0.6 |" in text  # pcl's first, untrained batch
    assert "Diagnostics exist for seeds" not in text
    for runs in raw["out"]["results"].values():  # as if seed 0 came from an older file
        del runs[0]["diagnostics"]
    saved.write_text(json.dumps(raw))
    grpo.main(["--render-from", str(saved), "--out", str(out)])
    assert "Diagnostics exist for seeds 1 only." in out.read_text()


def test_results_saved_before_the_diagnostics_still_render(
    grpo: ModuleType, tmp_path: Path
) -> None:
    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results" / "grpo_cpu"
    out = tmp_path / "b.md"
    saved = [str(results / name) for name in ("reduced.json", "rest01.json", "rest2.json")]
    grpo.main(["--render-from", *saved, "--uniform-mix", "0", "--cover-groups", "0",
               "--out", str(out)])  # fmt: skip
    text = out.read_text()
    assert "<!-- grpo_cpu_nonet:start -->" in text and "on seeds 0, 1, 2." in text
    assert "| `pcl` |" in text and "| `mopps` |" in text
    assert "Diagnosis" not in text and "regime (b)" not in text
    other = tmp_path / "b.json"
    raw = json.loads(Path(saved[0]).read_text())
    raw["cfg"]["regime"] = "b"
    other.write_text(json.dumps(raw))
    with pytest.raises(ValueError, match="differ in regime"):
        grpo.main(["--render-from", saved[1], str(other), "--out", str(out)])
