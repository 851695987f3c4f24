"""The run report: what it computes from a journal, the page, and `stepladder report`."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest

from stepladder import Curriculum, ItemPool, Outcomes, read_journal
from stepladder.cli import main
from stepladder.report.run import render_run_report, summarise_journal

PAYLOAD_ID = '<script>document.body.dataset.pwned="id"</script>'
PAYLOAD_GROUP = '"onload="document.body.dataset.pwned=1"'


def _journal(path: Path, steps: int = 12, ids: list | None = None) -> ItemPool:
    """A uniform curriculum over 30 items in 3 groups, fed known rewards."""
    groups = ["easy", "mid", PAYLOAD_GROUP] * 10
    pool = ItemPool(ids or [f"q{k}" for k in range(30)], groups=groups)
    cur = Curriculum(pool, "uniform", seed=0, journal=path)
    rng = np.random.default_rng(1)
    for _ in range(steps):
        batch = cur.propose(6)
        p = np.array([0.95, 0.5, 0.05])[pool.groups[batch.indices]]
        rewards = (rng.random((6, 4)) < p[:, None]).astype(float)
        counts = np.array([4, 4, 4, 4, 2, 1])  # padding, and one single rollout
        rewards[np.arange(4) >= counts[:, None]] = np.nan
        cur.observe(Outcomes(batch.indices, rewards, counts=counts))
    cur.close()
    return pool


def test_summary_matches_a_direct_count(tmp_path):
    path = tmp_path / "run.journal"
    pool = _journal(path)
    table = read_journal(path)
    s = summarise_journal(table, windows=4)
    assert s.strategy == "uniform" and s.pool_size == 30 and s.steps == 12
    assert s.kinds == {"start": 1, "propose": 12, "observe": 12}
    assert s.rollouts == 12 * (4 * 4 + 2 + 1)
    # Direct count over the records: groups of 2+ rollouts with mixed rewards.
    mixed = groups = 0
    selected = np.zeros(30, dtype=int)
    for record in table.to_pylist():
        if record["kind"] == "propose":
            np.add.at(selected, record["indices"], 1)
        if record["kind"] == "observe":
            for rewards in record["rewards"]:
                groups += len(rewards) >= 2
                mixed += len(rewards) >= 2 and len(set(rewards)) > 1
    assert s.effective_ratio == pytest.approx(mixed / groups)
    assert s.selected.tolist() == selected.tolist()
    assert s.window_edges.tolist() == [0, 3, 6, 9, 12]
    assert s.window_rollouts.sum() == s.rollouts
    assert np.allclose(np.nansum(s.pass_heat, axis=0), 1.0)  # shares of each window
    assert sorted(s.metrics) == ["items_seen", "uniform/epoch"]  # journaled by observe
    assert s.metrics["items_seen"][1].tolist() == [6, 12, 18, 24, 30, 30, 30, 30, 30, 30, 30, 30]
    assert s.metrics["uniform/epoch"][1][-1] == 2.0
    html = render_run_report(table, pool=pool, source=str(path))
    assert "Share of proposals per group" in html and 'aria-label="uniform/epoch"' in html
    assert "does not record the strategy" not in html


def test_report_escapes_ids_and_groups(tmp_path):
    path = tmp_path / "run.journal"
    ids = [PAYLOAD_ID if k == 0 else f"q{k}" for k in range(30)]
    pool = _journal(path, steps=30, ids=ids)
    html = render_run_report(read_journal(path), pool=pool, source="<b>x</b>")
    assert PAYLOAD_ID not in html and PAYLOAD_GROUP not in html and "<b>x</b>" not in html
    assert "&lt;script&gt;" in html and "&quot;onload=&quot;" in html
    assert html.count("<script>") == 1


def test_journaled_metrics_are_drawn(tmp_path):
    path = tmp_path / "run.journal"
    _journal(path, steps=5)
    table = read_journal(path)
    observed = table.filter(pa.compute.equal(table.column("kind"), "observe"))
    assert observed.column("metrics").to_pylist()[0][0] == ("step", 1.0)  # Curriculum.metrics()
    s = summarise_journal(table)
    assert "uniform/epoch" in s.metrics and "step" not in s.metrics
    assert s.metrics["uniform/epoch"][0].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    html = render_run_report(table)
    assert 'aria-label="uniform/epoch"' in html and "Not drawn: no pool was given" in html


def test_losses_only_journal(tmp_path):
    path = tmp_path / "run.journal"
    cur = Curriculum(10, "uniform", seed=0, journal=path)
    for _ in range(3):
        batch = cur.propose(2)
        cur.observe(Outcomes(batch.indices, losses=[0.5, 0.2]))
    cur.close()
    s = summarise_journal(read_journal(path))
    assert s.rollouts == 0 and s.effective_ratio is None
    assert "holds no rewards" in render_run_report(read_journal(path))


def test_trl_run_journal(tmp_path):
    """A real (tiny) GRPO run whose curriculum writes a journal, then `stepladder report`."""
    pytest.importorskip("trl")
    from stepladder.integrations.trl import CurriculumGRPOTrainer
    from tests.integrations.test_trl import LEVELS, config, dataset, reward, tiny_model, tokenizer

    journal = tmp_path / "grpo.journal"
    cur = Curriculum(ItemPool(size=8, groups=LEVELS), "sec", seed=0, tau=0.02, journal=journal)
    trainer = CurriculumGRPOTrainer(
        model=tiny_model(),
        reward_funcs=reward,
        args=config(tmp_path / "out", max_steps=4),
        train_dataset=dataset(),
        processing_class=tokenizer(),
        curriculum=cur,
    )
    trainer.train()
    cur.close()
    s = summarise_journal(read_journal(journal))
    assert s.steps == 4 and s.rollouts == 4 * 2 * 4  # 2 prompts x 4 generations per step
    items = tmp_path / "items.csv"
    items.write_text("item_id,group\n" + "".join(f"p{k},{g}\n" for k, g in enumerate(LEVELS)))
    out = tmp_path / "report" / "run.html"
    assert main(["report", str(journal), "--out", str(out), "--items", str(items)]) == 0
    html = out.read_text()
    assert "Training run: sec" in html and "solved" in html and "open" in html
    assert re.search(r"<dt>rollouts</dt><dd>32</dd>", html)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.journal", "does not exist"),
        (lambda d: (d / "x.journal").write_bytes(b"nope") and d / "x.journal", "not a stepladder"),
    ],
)
def test_cli_bad_journal_is_one_line_exit_2(tmp_path, capsys, make, message):
    path = make(tmp_path)
    assert main(["report", str(path), "--out", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()


def test_cli_checks_the_output_before_reading(tmp_path, capsys):
    path = tmp_path / "run.journal"
    _journal(path, steps=2)
    assert main(["report", str(path), "--out", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err
    assert main(["report", str(path), "--out", str(path)]) == 2
    assert "also given as INPUT" in capsys.readouterr().err
    assert path.read_bytes()[:8] == b"STEPLJNL"  # untouched
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["report", str(path), "--out", str(blocker / "r.html")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    bad_items = tmp_path / "items.csv"
    bad_items.write_text("a,b\n1,2\n")
    args = ["report", str(path), "--out", str(tmp_path / "r.html"), "--items", str(bad_items)]
    assert main(args) == 2
    assert "neither an item_id nor a group column" in capsys.readouterr().err
    bad_items.write_text("group\na\nb\n")
    assert main(args) == 2
    assert "the pool has 2 items but the journal's has 30" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_cli_renders_a_results_json(tmp_path):
    from stepladder.io import write_json
    from stepladder.sim import compare

    write_json(tmp_path / "results.json", compare("sft", ["uniform", "easy_to_hard"], steps=5))
    out = tmp_path / "report.html"
    assert main(["report", str(tmp_path / "results.json"), "--out", str(out)]) == 0
    assert "Simulation: sft" in out.read_text()
