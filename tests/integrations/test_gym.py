"""The gymnasium wrapper driven through real environments and a SyncVectorEnv."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

gymnasium = pytest.importorskip("gymnasium")

from gymnasium.envs.toy_text.frozen_lake import generate_random_map  # noqa: E402

from stepladder import Curriculum, Outcomes, strategies  # noqa: E402
from stepladder.integrations.gym import CurriculumClient, CurriculumWrapper  # noqa: E402

MAP_SIZE = 4
MAX_STEPS = 12


class Recording:
    """A client that forwards to a Curriculum and keeps every observed batch."""

    def __init__(self, curriculum: Curriculum) -> None:
        self.curriculum = curriculum
        self.batches: list[Outcomes] = []
        self.proposed: list[int] = []

    def propose(self, n: int) -> Any:
        proposal = self.curriculum.propose(n)
        self.proposed.extend(proposal)
        return proposal

    def observe(self, outcomes: Outcomes, /) -> None:
        self.batches.append(outcomes)
        self.curriculum.observe(outcomes)

    def observed(self) -> list[tuple[int, float]]:
        return [
            (int(i), float(r))
            for batch in self.batches
            for i, r in zip(batch.indices, batch.rewards, strict=True)
        ]


def frozen_lake_maps() -> list[list[str]]:
    """Graded difficulty: fewer frozen tiles (more holes) as the task index grows."""
    return [
        generate_random_map(size=MAP_SIZE, p=p, seed=task)
        for task, p in enumerate(np.linspace(0.98, 0.6, 8))
    ]


def make_lake(desc: list[str], slippery: bool = False) -> gymnasium.Env:
    return gymnasium.make(
        "FrozenLake-v1", desc=desc, is_slippery=slippery, max_episode_steps=MAX_STEPS
    )


def replace_map(env: gymnasium.Env, index: int, desc: list[str]) -> gymnasium.Env:
    return make_lake(desc)


def replace_slippery_map(env: gymnasium.Env, index: int, desc: list[str]) -> gymnasium.Env:
    return make_lake(desc, slippery=True)


def teacher(name: str) -> str:
    if name not in strategies.available():
        pytest.skip(f"strategy {name!r} is not registered")
    return name


@pytest.mark.parametrize("strategy", ["uniform", "learning_progress", "plr"])
@pytest.mark.parametrize("autoreset", ["NextStep", "SameStep"])
def test_vector_frozen_lake_reports_every_episode_once(autoreset: str, strategy: str) -> None:
    maps = frozen_lake_maps()
    client = Recording(Curriculum(len(maps), teacher(strategy), seed=3))
    assert isinstance(client, CurriculumClient)
    num_envs = 4

    def make() -> CurriculumWrapper:
        return CurriculumWrapper(
            make_lake(maps[0]),
            client,
            apply_task=replace_map,
            tasks=maps,
            report_every=5,
            propose_every=2,
        )

    envs = gymnasium.vector.SyncVectorEnv(
        [make] * num_envs, autoreset_mode=gymnasium.vector.AutoresetMode(autoreset)
    )
    rng = np.random.default_rng(0)
    _, info = envs.reset(seed=11)
    current = [int(t) for t in info["task_index"]]
    returns = np.zeros(num_envs)
    played: list[tuple[int, float]] = []
    while len(played) < 300:
        actions = rng.integers(0, 4, size=num_envs)
        _, rewards, terminated, truncated, info = envs.step(actions)
        done = terminated | truncated
        returns += rewards
        if autoreset == "SameStep":
            # SAME_STEP: the ending step already returns the next episode's reset info.
            for env_id in np.flatnonzero(done):
                played.append((current[env_id], float(returns[env_id])))
                returns[env_id] = 0.0
                current[env_id] = int(info["task_index"][env_id])
        else:
            # NEXT_STEP: the step after the end resets the sub-env (reward 0) via the wrapper.
            for env_id in range(num_envs):
                if info.get("_task_index", np.zeros(num_envs, bool))[env_id]:
                    current[env_id] = int(info["task_index"][env_id])
            for env_id in np.flatnonzero(done):
                played.append((current[env_id], float(returns[env_id])))
                returns[env_id] = 0.0
    wrappers = envs.envs
    unsent = sum(len(w._indices) for w in wrappers)
    assert sum(w.episodes for w in wrappers) == len(played)
    assert len(client.observed()) == len(played) - unsent
    envs.close()  # flushes every sub-env's buffer
    observed = client.observed()
    assert sorted(observed) == sorted(played)
    assert all(len(batch) <= 5 for batch in client.batches)
    cur = client.curriculum
    assert int(cur.stats.attempts.sum()) == len(played)
    assert cur.step == len(client.batches)
    tasks_played = Counter(task for task, _ in played)
    assert cur.stats.attempts.tolist() == [tasks_played[t] for t in range(len(maps))]
    wins = Counter(task for task, ret in played if ret > 0)
    assert cur.stats.successes.tolist() == [float(wins[t]) for t in range(len(maps))]
    assert sum(wins.values()) > 0  # random walks do reach the goal on the easy maps
    assert all(w.abandoned_episodes == 0 for w in wrappers)


class Climb(gymnasium.Env):
    """Reach height ``difficulty`` with +1/-1 moves; success and a return in [0, 10]."""

    observation_space = gymnasium.spaces.Discrete(64)
    action_space = gymnasium.spaces.Discrete(2)

    def __init__(self) -> None:
        self.difficulty = 1
        self.height = 0
        self.steps = 0
        self.tasks_seen: list[tuple[int, Any]] = []

    def set_task(self, index: int, params: Any) -> None:
        self.tasks_seen.append((index, params))
        self.difficulty = params

    def reset(self, *, seed: int | None = None, options: dict | None = None):
        super().reset(seed=seed)
        self.height, self.steps = 0, 0
        return self.height, {}

    def step(self, action: int):
        self.height = max(0, self.height + (1 if action == 1 else -1))
        self.steps += 1
        success = self.height >= self.difficulty
        truncated = self.steps >= 10 and not success
        reward = 10.0 if success else 0.0
        return self.height, reward, success, truncated, {"success": success, "td": 0.5}


def test_set_task_method_success_key_and_signals() -> None:
    cur = Curriculum(5, "uniform", seed=0)
    env = CurriculumWrapper(
        Climb(), cur, tasks=lambda i: i + 1, success_key="success", signal_key="td"
    )
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(200):
        _, _, terminated, truncated, _ = env.step(int(rng.random() < 0.7))
        if terminated or truncated:
            env.reset()
    # the unfinished last episode is not reported; close() sends nothing new for it
    env.close()
    climb = env.unwrapped
    assert all(params == index + 1 for index, params in climb.tasks_seen)
    assert int(cur.stats.attempts.sum()) == env.episodes == cur.step
    assert env.abandoned_episodes == 0


def test_return_range_scaling_and_abandoned_episode() -> None:
    cur = Curriculum(3, "uniform", seed=0)
    env = CurriculumWrapper(Climb(), cur, tasks=[1, 2, 3], return_range=(0.0, 20.0))
    env.reset(seed=1)
    done = False
    while not done:
        _, _, terminated, truncated, _ = env.step(1)
        done = terminated or truncated
    assert cur.stats.successes.sum() == pytest.approx(0.5)  # return 10 of range 20
    env.reset()
    env.step(0)
    env.reset()  # abandons the running episode
    assert env.abandoned_episodes == 1 and env.episodes == 1


def test_unscaled_return_outside_unit_interval_is_an_error() -> None:
    env = CurriculumWrapper(Climb(), Curriculum(3, seed=0), tasks=[1, 1, 1])
    env.reset(seed=0)
    with pytest.raises(ValueError, match="return_range"):
        env.step(1)


def test_misconfiguration_is_reported() -> None:
    lake = gymnasium.make("FrozenLake-v1")
    with pytest.raises(ValueError, match="set_task"):
        CurriculumWrapper(lake, Curriculum(2, seed=0))
    with pytest.raises(ValueError, match="report_every"):
        CurriculumWrapper(Climb(), Curriculum(2, seed=0), report_every=0)
    with pytest.raises(ValueError, match="return_range"):
        CurriculumWrapper(Climb(), Curriculum(2, seed=0), return_range=(1.0, 1.0))
    with pytest.raises(TypeError, match="propose"):
        CurriculumWrapper(Climb(), object())  # type: ignore[arg-type]
    env = CurriculumWrapper(Climb(), Curriculum(2, seed=0), tasks=[1, 1])
    with pytest.raises(RuntimeError, match="reset"):
        env.step(1)


def test_seeded_runs_repeat_with_replaced_envs() -> None:
    maps = frozen_lake_maps()

    def run() -> list[tuple[int, float]]:
        client = Recording(Curriculum(len(maps), "uniform", seed=5))
        env = CurriculumWrapper(
            make_lake(maps[0], slippery=True), client, apply_task=replace_slippery_map, tasks=maps
        )
        env.reset(seed=2)
        rng = np.random.default_rng(2)  # a replaced env brings a fresh, unseeded action_space
        for _ in range(300):
            _, _, terminated, truncated, _ = env.step(int(rng.integers(0, 4)))
            if terminated or truncated:
                env.reset()
        env.close()
        return client.observed()

    first = run()
    assert first == run()  # replaced, slippery envs are seeded from the first reset's seed
    assert len(first) > 20


def test_alp_gmm_over_a_continuous_task_space() -> None:
    tasks = pytest.importorskip("stepladder.tasks")
    pytest.importorskip("sklearn")
    space = tasks.BoxTasks(low=[1.0], high=[8.0])
    pool = space.pool(n_candidates=256, seed=0)
    cur = Curriculum(pool, teacher("alp_gmm"), seed=0)
    seen: list[float] = []

    def apply_task(env: gymnasium.Env, index: int, params: np.ndarray) -> None:
        seen.append(float(params[0]))
        env.unwrapped.difficulty = round(float(params[0]))

    env = CurriculumWrapper(Climb(), cur, apply_task=apply_task, tasks=pool, success_key="success")
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    while env.episodes < 150:
        _, _, terminated, truncated, _ = env.step(int(rng.random() < 0.7))
        if terminated or truncated:
            env.reset()
    env.close()
    assert int(cur.stats.attempts.sum()) == 150 == cur.step
    assert all(1.0 <= p <= 8.0 for p in seen)


def lake_with_local_curriculum(curriculum: Curriculum) -> gymnasium.Env:
    maps = frozen_lake_maps()
    return CurriculumWrapper(make_lake(maps[0]), curriculum, apply_task=replace_map, tasks=maps)


def test_async_vector_env_with_a_local_curriculum_is_refused() -> None:
    # Each worker would build its wrapper around its own copy of the curriculum, and the
    # training process's curriculum would never see an episode.
    curriculum = Curriculum(8, "uniform", seed=0)
    envs = gymnasium.vector.AsyncVectorEnv(
        [lambda: lake_with_local_curriculum(curriculum)] * 2, context="fork"
    )
    try:
        with pytest.raises(RuntimeError, match="RemoteCurriculum"):
            envs.reset(seed=0)
    finally:
        envs.close(terminate=True)
    assert curriculum.step == 0


def test_a_wrapper_copied_into_another_process_is_refused() -> None:
    built = lake_with_local_curriculum(Curriculum(8, "uniform", seed=0))  # built here
    envs = gymnasium.vector.AsyncVectorEnv([lambda: built], context="fork")
    try:
        with pytest.raises(RuntimeError, match="another process"):
            envs.reset(seed=0)
    finally:
        envs.close(terminate=True)


def test_sync_vector_env_shares_the_local_curriculum() -> None:
    curriculum = Curriculum(8, "uniform", seed=0)
    envs = gymnasium.vector.SyncVectorEnv([lambda: lake_with_local_curriculum(curriculum)] * 2)
    envs.reset(seed=0)
    for _ in range(3 * MAX_STEPS):
        envs.step(envs.action_space.sample())
    envs.close()
    assert curriculum.step > 0  # the episodes of both sub-environments reached it


def test_per_source_metrics_through_a_curriculum_host() -> None:
    pytest.importorskip("ray")
    from stepladder import ItemPool
    from stepladder.integrations.ray import CurriculumHost

    sources = ["easy"] * 3 + ["hard"] * 3
    host = CurriculumHost(ItemPool(size=6, groups=sources), "uniform", seed=0)
    env = CurriculumWrapper(
        Climb(), host, tasks=[1, 1, 1, 8, 8, 8], success_key="success", report_every=4
    )
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(300):
        _, _, terminated, truncated, _ = env.step(int(rng.random() < 0.7))
        if terminated or truncated:
            env.reset()
    env.flush()
    metrics = host.metrics()
    stats = host.curriculum.stats
    for name, tasks in (("easy", [0, 1, 2]), ("hard", [3, 4, 5])):
        attempts = stats.attempts[tasks].sum()
        assert metrics[f"source/{name}/share"] == pytest.approx(attempts / env.episodes)
        rate = stats.successes[tasks].sum() / attempts
        assert metrics[f"source/{name}/pass_rate"] == pytest.approx(rate)
    assert metrics["source/easy/pass_rate"] > metrics["source/hard/pass_rate"]
    assert not any(key.endswith("effective_ratio") for key in metrics)  # one score per episode


def test_missing_gymnasium_gives_the_install_hint(monkeypatch) -> None:
    import importlib
    import sys

    monkeypatch.setitem(sys.modules, "gymnasium", None)
    monkeypatch.delitem(sys.modules, "stepladder.integrations.gym")
    with pytest.raises(ImportError, match=r"pip install 'stepladder\[gym\]'"):
        importlib.import_module("stepladder.integrations.gym")
