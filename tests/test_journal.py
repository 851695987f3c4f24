import multiprocessing
import random
import signal
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import stepladder
from stepladder import Curriculum, Outcomes, read_journal, recover, save_state
from stepladder.batching import fill_batch
from stepladder.journal import SCHEMA, _outcomes_of, _scan, sync_every
from stepladder.strategies import Proposal
from stepladder.strategies.baselines import Uniform
from tests import _journal_worker as worker


def _loop(cur: Curriculum, steps: int, n: int = 6) -> list[list[int]]:
    proposals = []
    for _ in range(steps):
        batch = cur.propose(n)
        proposals.append(batch.indices.tolist())
        rewards = (batch.indices[:, None] + cur.step + np.arange(3)) % 3 == 0
        cur.observe(Outcomes(batch.indices, rewards, losses=batch.indices / 100.0))
    return proposals


def _same_state(a: Curriculum, b: Curriculum) -> bool:
    return (
        a.step == b.step
        and a.rng.bit_generator.state == b.rng.bit_generator.state
        and np.array_equal(a.stats.attempts, b.stats.attempts)
        and np.array_equal(a.stats.successes, b.stats.successes)
        and np.array_equal(a.stats.last_step, b.stats.last_step)
        and a.propose(8).indices.tolist() == b.propose(8).indices.tolist()
    )


def test_records_every_call_with_its_fields(tmp_path):
    cur = Curriculum(20, "knapsack", seed=1, journal=tmp_path / "j")
    batch = cur.propose(3)
    cur.observe(
        Outcomes(
            [4, 5],
            [[1, 0, 0], [1, 1, 1]],
            counts=[1, 3],
            advantages=[[0.5, 9, 9], [0, 0, 0]],
            signals=[0.1, 0.2],
            step=7,
        )
    )
    cur.observe(Outcomes([6], [0.5], losses=[2.0]))
    table = read_journal(tmp_path / "j")
    assert table.schema.remove_metadata() == SCHEMA
    assert table.column("seq").to_pylist() == [0, 1, 2, 3]
    assert table.column("kind").to_pylist() == ["start", "propose", "observe", "observe"]
    assert table.column("step").to_pylist() == [0, 0, 0, 1]
    row = table.slice(1, 1).to_pylist()[0]
    assert row["indices"] == batch.indices.tolist()
    assert row["rollouts"] == batch.rollouts.tolist() and row["weights"] is None
    row = table.slice(2, 1).to_pylist()[0]
    assert row["rewards"] == [[1.0], [1.0, 1.0, 1.0]]  # padding left out
    assert row["reward_shape"] == [2, 3] and row["counts"] == [1, 3]
    assert row["advantages"] == [[0.5], [0.0, 0.0, 0.0]]
    assert row["signals"] == [0.1, 0.2] and row["losses"] is None and row["outcome_step"] == 7
    row = table.slice(3, 1).to_pylist()[0]
    assert row["rewards"] == [[0.5]] and row["reward_shape"] == [1] and row["losses"] == [2.0]
    assert len(table.column("state")[0].as_py()) > 0
    assert (
        table.schema.metadata[b"stepladder.journal.id"]
        == cur.state_dict()["journal"]["id"].encode()
    )


def test_journaled_outcomes_read_back_identical(tmp_path):
    cur = Curriculum(10, seed=0, journal=tmp_path / "j")
    sent = Outcomes([1, 2], [[1, 0, 1], [0, 0, 0]], counts=[3, 2], losses=[0.5, 1.5])
    cur.observe(sent)
    table = read_journal(tmp_path / "j")
    got = _outcomes_of(table.slice(1, 1).to_batches()[0])
    np.testing.assert_array_equal(got.indices, sent.indices)
    np.testing.assert_array_equal(got.rewards, sent.rewards)  # NaN padding in the same places
    np.testing.assert_array_equal(got.counts, sent.counts)
    np.testing.assert_array_equal(got.losses, sent.losses)
    assert got.advantages is None and got.signals is None and got.step is None


def test_recover_without_checkpoint_replays_from_the_start(tmp_path):
    path = tmp_path / "j"
    cur = Curriculum(50, "dump", seed=5, journal=path, temperature=0.3)
    _loop(cur, 6)
    again = recover(path, 50)
    assert again.strategy.temperature == 0.3 and again.pending == ()
    assert _same_state(again, cur)


def test_recover_from_a_checkpoint_and_keep_appending(tmp_path):
    path = tmp_path / "j"
    cur = Curriculum(40, "plr", seed=2, journal=path)
    _loop(cur, 4)
    save_state(tmp_path / "ckpt.npz", cur.state_dict())
    _loop(cur, 3)
    twin = Curriculum(40, "plr", seed=2)
    _loop(twin, 7)
    again = recover(path, 40, tmp_path / "ckpt.npz")
    assert again.step == 7
    assert _loop(again, 3) == _loop(twin, 3)
    assert read_journal(path).column("seq").to_pylist() == list(range(1 + 2 * 10))


def test_pending_proposals_are_handed_back(tmp_path):
    path = tmp_path / "j"
    cur = Curriculum(30, seed=0, journal=path)
    _loop(cur, 2)
    save_state(tmp_path / "ckpt.npz", cur.state_dict())
    asked = cur.propose(5)
    for checkpoint in (None, tmp_path / "ckpt.npz"):
        again = recover(path, 30, checkpoint)
        assert [p.indices.tolist() for p in again.pending] == [asked.indices.tolist()]
        again.observe(Outcomes(asked.indices, np.ones(5)))
        assert again.pending == ()
        again.close()
        path.unlink()
        cur = Curriculum(30, seed=0, journal=path)
        _loop(cur, 2)
        save_state(tmp_path / "ckpt.npz", cur.state_dict())
        assert cur.propose(5).indices.tolist() == asked.indices.tolist()


def test_recover_rebuilds_the_safety_net_exactly(tmp_path):
    path, pool = tmp_path / "j", worker.make_pool()
    settings = {"uniform_mix": 0.3, "cover_groups": 3}
    cur = Curriculum(pool, "easy_to_hard", seed=6, journal=path, **settings)
    _loop(cur, 5)
    save_state(tmp_path / "ckpt.npz", cur.state_dict())
    _loop(cur, 3)
    asked = cur.propose(6)  # then the process dies
    twin = Curriculum(pool, "easy_to_hard", seed=6, **settings)
    _loop(twin, 8)
    assert twin.propose(6).indices.tolist() == asked.indices.tolist()
    for checkpoint in (None, tmp_path / "ckpt.npz"):
        again = recover(path, pool, checkpoint)
        assert again.safety.get_params() == settings
        assert [p.indices.tolist() for p in again.pending] == [asked.indices.tolist()]
        np.testing.assert_array_equal(again.safety.last_seen, twin.safety.last_seen)
        assert again.metrics() == twin.metrics()
        again.close()
    again = recover(path, pool, tmp_path / "ckpt.npz")
    rewards = (asked.indices[:, None] + twin.step + np.arange(3)) % 3 == 0
    for run in (again, twin):
        run.observe(Outcomes(asked.indices, rewards, losses=asked.indices / 100.0))
    again.close()
    again = recover(path, pool)
    assert _loop(again, 4) == _loop(twin, 4)
    assert again.metrics() == twin.metrics()


def test_a_torn_tail_is_ignored_and_cut_off(tmp_path):
    path = tmp_path / "j"
    cur = Curriculum(30, seed=0, journal=path)
    _loop(cur, 3)
    cur.close()
    whole = path.read_bytes()
    for cut in (1, 7, 30):
        path.write_bytes(whole[:-cut])
        assert len(read_journal(path)) == 6  # the last observe is gone
        again = recover(path, 30)
        assert again.step == 2 and again.pending[0].indices.tolist() == _loop(Curriculum(30), 3)[2]
        again.observe(Outcomes(again.pending[0].indices, np.zeros(6)))
        assert read_journal(path).column("seq").to_pylist() == list(range(7))
        again.close()
    path.write_bytes(whole + bytes(64))  # zeros after the end (a power cut): ignored
    assert len(read_journal(path)) == 7


def test_a_corrupt_record_before_the_end_is_an_error(tmp_path):
    path = tmp_path / "j"
    cur = Curriculum(30, seed=0, journal=path)
    _loop(cur, 3)
    cur.close()
    data = bytearray(path.read_bytes())
    data[_scan(path).frames[1][0] + 20] ^= 0xFF  # a byte inside record 1
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="corrupt: record 1 fails its checksum"):
        read_journal(path)
    with pytest.raises(ValueError, match="corrupt"):
        recover(path, 30)


def test_replayed_proposals_must_equal_the_journaled_ones(tmp_path):
    class Shifted(Uniform):  # same name and parameters, other proposals
        def propose(self, n):
            return Proposal((super().propose(n).indices + 1) % self.pool.size)

    path = tmp_path / "j"
    _loop(Curriculum(30, seed=0, journal=path), 2)
    with pytest.raises(ValueError, match="record 1: the replayed proposal's indices differ"):
        recover(path, 30, strategy=Shifted())


def test_recover_checks_the_pool_and_the_checkpoint(tmp_path):
    path, other = tmp_path / "j", tmp_path / "k"
    cur = Curriculum(30, seed=0, journal=path)
    _loop(cur, 2)
    with pytest.raises(ValueError, match="pool of 30 items, not 31"):
        recover(path, 31)
    with pytest.raises(ValueError, match="pool with other item ids"):
        recover(path, stepladder.ItemPool(np.arange(30) + 1))
    stranger = Curriculum(30, seed=0, journal=other)
    with pytest.raises(ValueError, match="not taken from the curriculum writing journal"):
        recover(path, 30, stranger.state_dict())
    with pytest.raises(ValueError, match="not taken from the curriculum writing journal"):
        recover(path, 30, Curriculum(30).state_dict())
    ahead = {**cur.state_dict(), "journal": {**cur.state_dict()["journal"], "next": 99}}
    with pytest.raises(ValueError, match=r"reflects 99 journal records but .* holds only 5"):
        recover(path, 30, ahead)
    with pytest.raises(ValueError, match="does not exist"):
        recover(tmp_path / "missing", 30)
    (tmp_path / "text").write_text("hello")
    with pytest.raises(ValueError, match="not a stepladder journal"):
        recover(tmp_path / "text", 30)


def test_a_new_journal_never_overwrites_a_file(tmp_path):
    path = tmp_path / "j"
    Curriculum(10, journal=path)
    with pytest.raises(ValueError, match=r"already exists: continue it with stepladder.recover"):
        Curriculum(10, journal=path)


def test_loads_are_journaled_and_replayed(tmp_path):
    source = Curriculum(25, "dump", seed=3)
    _loop(source, 4)
    path = tmp_path / "j"
    cur = Curriculum(25, "dump", seed=9, journal=path)
    _loop(cur, 2)
    cur.load_state_dict(source.state_dict())
    _loop(cur, 2)
    assert read_journal(path).column("kind").to_pylist()[5] == "load"
    assert _same_state(recover(path, 25), cur)


def test_fill_batch_with_a_filter_recovers(tmp_path):
    path = tmp_path / "j"
    cur = Curriculum(60, "dynamic_sampling", seed=4, journal=path)

    def generate(p):
        return Outcomes(p.indices, (p.indices[:, None] + np.arange(4)) % 3 == 0)

    for _ in range(3):
        fill_batch(cur, generate, 8, max_rounds=3)
    assert _same_state(recover(path, 60), cur)


@pytest.mark.parametrize(
    ("spec", "every"), [("always", 1), ("never", 0), ("every:5", 5), ("every:0", None)]
)
def test_journal_sync_settings(spec, every, tmp_path):
    if every is None:
        with pytest.raises(ValueError, match="journal_sync must be 'always', 'every:N' or"):
            Curriculum(5, journal=tmp_path / "j", journal_sync=spec)
        assert not (tmp_path / "j").exists()
        return
    assert sync_every(spec) == every
    cur = Curriculum(5, journal=tmp_path / "j", journal_sync=spec)
    _loop(cur, 3, n=2)
    cur.close()
    assert len(read_journal(tmp_path / "j")) == 7
    with pytest.raises(RuntimeError, match="is closed"):
        cur.propose(1)


# The kill -9 harness: workers running a journaled, checkpointed loop are killed at random
# moments, recovered and run to the end; the journal and final state must equal an
# uninterrupted run's.

STRATEGIES = ["uniform", "dump", "knapsack", "plr", "spdcl", "dynamic_sampling", "alp_gmm"]
KILLS, STEPS = 4, 60


def _kill_run(directory: Path, strategy: str, seed: int, step_time: float) -> int:
    """Run the worker to the end, SIGKILLing it KILLS times, each within ~8 steps of starting."""
    context = multiprocessing.get_context("forkserver")
    chance = random.Random(seed)
    for kills in range(KILLS + 1):
        ready = context.Event()
        process = context.Process(
            target=worker.run, args=(directory, strategy, STEPS, ready), daemon=True
        )
        process.start()
        assert ready.wait(timeout=60), f"{strategy}: the worker did not start"
        if kills < KILLS:
            time.sleep(chance.uniform(0, 8 * step_time))
            process.kill()
        process.join(timeout=60)
        if process.exitcode == 0:
            return kills  # finished (before the kill, if one was due)
        assert process.exitcode == -signal.SIGKILL, f"{strategy}: exit code {process.exitcode}"
    raise AssertionError("unreachable")


@pytest.mark.skipif(sys.platform != "linux", reason="SIGKILL and forkserver")
def test_kill_minus_nine_loses_and_duplicates_nothing(tmp_path):
    strategies = [s for s in STRATEGIES if s != "alp_gmm" or _has_sklearn()]
    preload = ["stepladder", "tests._journal_worker", "scipy.spatial"]
    multiprocessing.get_context("forkserver").set_forkserver_preload(
        preload + ["sklearn.mixture"] * ("alp_gmm" in strategies)
    )
    kills = 0
    for k, strategy in enumerate(strategies):
        directory, reference = tmp_path / strategy, tmp_path / f"{strategy}-reference"
        directory.mkdir()
        reference.mkdir()
        started = time.perf_counter()
        expected = worker.run(reference, strategy, STEPS)
        kills += _kill_run(directory, strategy, k, (time.perf_counter() - started) / STEPS)
        journal = read_journal(directory / "journal").drop_columns(["state"])
        assert journal.column("seq").to_pylist() == list(range(1 + 2 * STEPS))
        same_calls = journal.equals(read_journal(reference / "journal").drop_columns(["state"]))
        assert same_calls, strategy  # same proposals and outcomes, in the same order
        final = Curriculum(worker.make_pool(), strategy, seed=0)
        final.load_state_dict(stepladder.load_state(directory / "final.npz"))
        twin = Curriculum(worker.make_pool(), strategy, seed=0)
        twin.load_state_dict(expected.state_dict() | {"journal": None})
        assert _same_state(final, twin), strategy
        assert not list(directory.glob(".*.tmp"))  # leftovers of killed saves were removed
    assert kills >= 20


def _has_sklearn() -> bool:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return False
    return True
