"""One curriculum in a named actor on a real local Ray instance, shared by concurrent workers."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray")

from stepladder import Curriculum, ItemPool, Outcomes  # noqa: E402
from stepladder.integrations._rollouts import group_metrics  # noqa: E402
from stepladder.integrations.ray import (  # noqa: E402
    CurriculumHost,
    RemoteCurriculum,
    get_curriculum,
    get_or_create_curriculum,
    kill_curriculum,
)

NAMESPACE = "stepladder-tests"
POOL = 40
ROLLOUTS = 3
SOURCES = np.array(["math", "code", "chat"])[np.arange(POOL) % 3]


@pytest.fixture(scope="module")
def local_ray() -> Iterator[None]:
    """A local Ray instance for this module: 2 CPUs, no dashboard, no usage reporting."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(
            num_cpus=2,
            include_dashboard=False,
            namespace=NAMESPACE,
            log_to_driver=False,
            configure_logging=False,
        )
        try:
            yield
        finally:
            ray.shutdown()


@ray.remote(num_cpus=0)
def worker(name: str, worker_id: int, episodes: int, flush_every: int) -> int:
    """Find the curriculum by name; propose, and report one group of rewards per episode."""
    cur = RemoteCurriculum(get_curriculum(name, namespace=NAMESPACE), flush_every=flush_every)
    rng = np.random.default_rng(worker_id)
    for _ in range(episodes):
        (task,) = cur.propose(1)
        rewards = rng.integers(0, 2, size=(1, ROLLOUTS)).astype(float)
        cur.observe(Outcomes([task], rewards))
    cur.close()
    return cur.sent_calls


@ray.remote(num_cpus=0)
def creating_worker(name: str, worker_id: int, episodes: int) -> int:
    """Get-or-create the curriculum from inside a task, use it, and return (ending the task)."""
    handle = get_or_create_curriculum(name, POOL, "uniform", seed=0, namespace=NAMESPACE)
    cur = RemoteCurriculum(handle, flush_every=1)
    for _ in range(episodes):
        (task,) = cur.propose(1)
        cur.observe(Outcomes([task], np.ones((1, ROLLOUTS))))
    cur.close()
    return worker_id


def test_workers_create_the_actor_while_the_driver_holds_no_handle(local_ray: None) -> None:
    # A non-detached actor dies with the task that created it: the other workers and the
    # driver then got ActorDiedError. The default is detached: it outlives its creator.
    assert ray.get([creating_worker.remote("orphan", w, 5) for w in range(3)]) == [0, 1, 2]
    assert ray.get([creating_worker.remote("orphan", w, 5) for w in range(3, 5)]) == [3, 4]
    handle = get_curriculum("orphan", namespace=NAMESPACE)
    assert ray.get(handle.counters.remote())["outcomes"] == 5 * 5
    assert kill_curriculum("orphan", namespace=NAMESPACE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the name is released once the actor is gone
        try:
            get_curriculum("orphan", namespace=NAMESPACE)
        except ValueError:
            break
        time.sleep(0.1)
    with pytest.raises(ValueError):
        get_curriculum("orphan", namespace=NAMESPACE)
    assert not kill_curriculum("orphan", namespace=NAMESPACE)


def test_concurrent_workers_lose_and_double_nothing(local_ray: None) -> None:
    workers, episodes, flush_every = 4, 50, 8
    pool = ItemPool(size=POOL, groups=SOURCES)
    handle = get_or_create_curriculum("shared", pool, "uniform", seed=0)
    # every worker finds the same actor by name (and get-or-create finds it too)
    again = get_or_create_curriculum("shared", POOL, "uniform", seed=123)
    assert ray.get(again.config.remote())["seed"] == 0
    sent = ray.get([worker.remote("shared", w, episodes, flush_every) for w in range(workers)])
    counters = ray.get(handle.counters.remote())
    assert counters["outcomes"] == workers * episodes
    assert counters["step"] == workers * episodes  # one Curriculum.observe per Outcomes
    assert counters["observe_calls"] == sum(sent) == workers * -(-episodes // flush_every)
    state = RemoteCurriculum(handle).state_dict()
    assert int(state["stats"]["attempts"].sum()) == workers * episodes * ROLLOUTS
    assert state["step"] == workers * episodes
    metrics = RemoteCurriculum(handle).metrics()
    assert metrics["remote/outcomes"] == workers * episodes
    # per-source metrics cover every worker's outcomes since the last read
    touched = np.asarray(state["stats"]["touched"])
    attempts = np.asarray(state["stats"]["attempts"])
    successes = np.asarray(state["stats"]["successes"])
    for name in ("math", "code", "chat"):
        mine = SOURCES[touched] == name
        share = attempts[mine].sum() / (workers * episodes * ROLLOUTS)
        assert metrics[f"source/{name}/share"] == pytest.approx(share)
        rate = successes[mine].sum() / attempts[mine].sum()
        assert metrics[f"source/{name}/pass_rate"] == pytest.approx(rate)
        assert 0.0 <= metrics[f"source/{name}/effective_ratio"] <= 1.0
    assert not any(key.startswith("source/") for key in RemoteCurriculum(handle).metrics())
    ray.kill(handle)


def test_state_saved_and_restored_into_a_new_actor(local_ray: None, tmp_path: Path) -> None:
    handle = get_or_create_curriculum("saver", POOL, "uniform", seed=7)
    client = RemoteCurriculum(handle, flush_every=5)
    for step in range(12):
        batch = client.propose(3)
        client.observe(batch.indices, rewards=[[1.0, 0.0], [step % 2, 1.0], [0.0, 0.0]])
    path = tmp_path / "cur.npz"
    client.save(path)  # flushes first
    restored = get_or_create_curriculum("restored", POOL, "uniform", seed=99)
    RemoteCurriculum(restored).load(path)
    before, after = client.state_dict(), RemoteCurriculum(restored).state_dict()
    assert before["step"] == after["step"] == 12
    assert before["rng"] == after["rng"]
    for key in ("touched", "attempts", "successes", "seen_at"):
        np.testing.assert_array_equal(before["stats"][key], after["stats"][key])
    assert (
        client.propose(5).indices.tolist() == RemoteCurriculum(restored).propose(5).indices.tolist()
    )
    # a state_dict round trip through the driver works the same way
    third = get_or_create_curriculum("third", POOL, "uniform", seed=1)
    RemoteCurriculum(third).load_state_dict(client.state_dict())
    assert RemoteCurriculum(third).propose(4).indices.tolist() == client.propose(4).indices.tolist()
    # and so does a local Curriculum
    local = Curriculum(POOL, "uniform", seed=0)
    local.load_state_dict(client.state_dict())
    assert local.propose(4).indices.tolist() == client.propose(4).indices.tolist()
    for h in (handle, restored, third):
        ray.kill(h)


def test_mismatched_actor_and_bad_batches_are_errors(local_ray: None) -> None:
    handle = get_or_create_curriculum("strict", POOL, "uniform", seed=0)
    with pytest.raises(ValueError, match="already hosts"):
        get_or_create_curriculum("strict", POOL + 1, "uniform")
    client = RemoteCurriculum(handle, flush_every=1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        client.observe([1], rewards=[2.0])  # validated at the source
    client.observe([POOL + 5], rewards=[1.0])  # the actor rejects the index on send
    with pytest.raises(ray.exceptions.RayTaskError, match="outside the pool"):
        client.flush(wait=True)
    assert ray.get(handle.counters.remote())["outcomes"] == 0
    with pytest.raises(ValueError):
        get_curriculum("no-such-curriculum", namespace=NAMESPACE)
    ray.kill(handle)


def test_gym_wrapper_over_a_shared_curriculum(local_ray: None) -> None:
    gymnasium = pytest.importorskip("gymnasium")
    from stepladder.integrations.gym import CurriculumWrapper

    handle = get_or_create_curriculum("gym", 4, "uniform", seed=0)
    client = RemoteCurriculum(handle, flush_every=10)
    maps = [
        ["SFF", "FHF", "FFG"],
        ["SFF", "FFF", "FFG"],
        ["SHF", "FHF", "FFG"],
        ["SFF"] * 2 + ["HFG"],
    ]
    env = CurriculumWrapper(
        gymnasium.make("FrozenLake-v1", desc=maps[0], is_slippery=False),
        client,
        apply_task=lambda e, i, desc: gymnasium.make(
            "FrozenLake-v1", desc=desc, is_slippery=False, max_episode_steps=10
        ),
        tasks=maps,
        report_every=3,
        propose_every=4,
    )
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    while env.episodes < 40:
        _, _, terminated, truncated, _ = env.step(int(rng.integers(0, 4)))
        if terminated or truncated:
            env.reset()
    env.close()
    counters = ray.get(handle.counters.remote())
    assert counters["outcomes"] == 40
    assert counters["step"] == -(-40 // 3)  # one observe per wrapper report
    ray.kill(handle)


def test_host_without_ray() -> None:
    host = CurriculumHost(5, "uniform", seed=0)
    assert host.observe_batch({"indices": [0, 1], "rewards": [1.0, 0.0]}) == 1
    assert host.observe(Outcomes([4], [0.5])) == 2
    with pytest.raises(TypeError, match="tuple"):
        host.observe_batch([[0, 1]])
    with pytest.raises(ValueError, match="outside the pool"):
        host.observe_batch([([0], [1.0]), ([9], [1.0])])
    assert host.counters()["outcomes"] == 3  # the bad call observed nothing
    with pytest.raises(ValueError, match="flush_every"):
        RemoteCurriculum(None, flush_every=0)  # type: ignore[arg-type]


def test_ragged_groups_keep_their_counts_on_the_wire() -> None:
    from stepladder.integrations.ray import _as_outcomes, _to_wire

    ragged = Outcomes.from_groups([1, 2], [[1.0, 0.0, 1.0], [0.0]])
    back = _as_outcomes(_to_wire(ragged))
    assert back.rollouts.tolist() == [3, 1] and back.pass_rate.tolist() == [2 / 3, 0.0]
    host = CurriculumHost(5, "uniform", seed=0)
    assert host.observe_batch(_to_wire(ragged)) == 1


def test_host_per_source_metrics_equal_group_metrics_of_the_batches_since_the_last_read() -> None:
    pool = ItemPool(size=POOL, groups=SOURCES)
    host = CurriculumHost(pool, "uniform", seed=0)
    rng = np.random.default_rng(0)
    batches = [
        Outcomes(rng.integers(0, POOL, size=5), rng.integers(0, 2, size=(5, ROLLOUTS)))
        for _ in range(4)
    ]
    host.observe_batch(batches[:1])
    host.metrics()  # a read starts a new window
    host.observe_batch(batches[1:3])
    host.observe(batches[3])
    together = Outcomes(
        np.concatenate([b.indices for b in batches[1:]]),
        np.concatenate([b.rewards for b in batches[1:]]),
    )
    sources = {k: v for k, v in host.metrics().items() if k.startswith("source/")}
    assert sources == pytest.approx(group_metrics(pool, together, prefix="source/"))
    # one score per item: shares and pass rates, no effective ratio
    host.observe(Outcomes([0, 1, 2], [1.0, 0.0, 0.5]))
    sources = {k: v for k, v in host.metrics().items() if k.startswith("source/")}
    assert sources == {
        "source/math/share": 1 / 3,
        "source/code/share": 1 / 3,
        "source/chat/share": 1 / 3,
        "source/math/pass_rate": 1.0,
        "source/code/pass_rate": 0.0,
        "source/chat/pass_rate": 0.5,
    }
    assert not any(k.startswith("source/") for k in CurriculumHost(POOL).metrics())


def test_missing_ray_gives_the_install_hint(monkeypatch) -> None:
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "ray", None)
    monkeypatch.delitem(sys.modules, "stepladder.integrations.ray")
    with pytest.raises(ImportError, match=r"pip install 'stepladder\[ray\]'"):
        importlib.import_module("stepladder.integrations.ray")
