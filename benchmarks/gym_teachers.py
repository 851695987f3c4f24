"""Teachers against domain randomization on real gymnasium FrozenLake maps of graded difficulty.

A fixed set of FrozenLake-v1 maps (sizes 4 to 8, two hole densities, deterministic moves) is
the task pool: task = map, group = map size, difficulty = shortest path length, features =
(size, hole fraction). The agent is tabular Q-learning with one Q-table per map and
epsilon-greedy exploration. Each episode the teacher picks a map (`propose(1)`), the agent
plays one episode of the real gymnasium environment, and the teacher sees reward 1 (goal
reached) or 0 (`observe`). The loop is driven directly (no wrapper), so one env per map is
built once. A map is mastered when the greedy policy of its Q-table reaches the goal. The
table reports % of maps mastered at checkpoints, mean ± sd over `--seeds` seeds (same maps
for every teacher), written between the `gym_teachers` markers of docs/benchmarks.md.

    .venv/bin/python benchmarks/gym_teachers.py [--episodes 6000] [--seeds 5] [--quick]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import deque
from pathlib import Path
from typing import Any

import gymnasium
import numpy as np
from _markdown import machine_description, update_section  # benchmarks/_markdown.py
from gymnasium.envs.toy_text.frozen_lake import generate_random_map

from stepladder import Curriculum, ItemPool, Outcomes

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- gym_teachers:start -->", "<!-- gym_teachers:end -->"
REFERENCE = "domain_randomization"
# (label, strategy name, parameters); the reference comes first.
TEACHERS: list[tuple[str, str, dict[str, Any]]] = [
    (REFERENCE, REFERENCE, {}),
    ("learning_progress", "learning_progress", {}),
    ("learning_progress (arms=groups)", "learning_progress", {"arms": "groups"}),
    ("mastering_rate", "mastering_rate", {}),
    ("alp_gmm", "alp_gmm", {}),
    ("plr", "plr", {}),
    ("riac", "riac", {}),
    ("covar_gmm", "covar_gmm", {}),
    ("adr", "adr", {}),
    ("sequential", "sequential", {}),
    ("uniform", "uniform", {}),
    ("easy_to_hard", "easy_to_hard", {}),
]
ALPHA, GAMMA, EPSILON = 0.5, 0.95, 0.1


def shortest_path(desc: list[str]) -> int:
    """Moves from S to G avoiding holes (breadth-first search)."""
    size = len(desc)
    seen, queue = {(0, 0)}, deque([((0, 0), 0)])
    while queue:
        (row, col), dist = queue.popleft()
        if desc[row][col] == "G":
            return dist
        for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0)):
            r, c = row + dr, col + dc
            if 0 <= r < size and 0 <= c < size and (r, c) not in seen and desc[r][c] != "H":
                seen.add((r, c))
                queue.append(((r, c), dist + 1))
    raise ValueError("map without a path")


def make_maps(sizes: list[int], per_size: int, seed: int) -> list[list[str]]:
    """``per_size`` maps of each size, alternating frozen probability 0.9 and 0.8."""
    maps = []
    for size in sizes:
        for k in range(per_size):
            p = 0.9 if k % 2 == 0 else 0.8
            maps.append(generate_random_map(size=size, p=p, seed=seed + 1000 * size + k))
    return maps


def make_pool(maps: list[list[str]]) -> ItemPool:
    sizes = np.array([len(m) for m in maps], dtype=float)
    holes = np.array([sum(row.count("H") for row in m) / len(m) ** 2 for m in maps])
    return ItemPool(
        size=len(maps),
        groups=[f"{len(m)}x{len(m)}" for m in maps],
        difficulty=[float(shortest_path(m)) for m in maps],
        features=np.column_stack([sizes, holes]),
    )


def make_env(desc: list[str]) -> gymnasium.Env:
    steps = 4 * len(desc) ** 2
    return gymnasium.make("FrozenLake-v1", desc=desc, is_slippery=False, max_episode_steps=steps)


def greedy_succeeds(env: gymnasium.Env, q: np.ndarray) -> bool:
    state, _ = env.reset(seed=0)
    while True:
        state, reward, terminated, truncated, _ = env.step(int(np.argmax(q[state])))
        if terminated or truncated:
            return reward > 0


def run_one(
    maps: list[list[str]],
    pool: ItemPool,
    strategy: str,
    params: dict[str, Any],
    seed: int,
    episodes: int,
    every: int,
) -> list[float]:
    """% of maps mastered after every ``every`` episodes."""
    rng = np.random.default_rng(seed)
    envs = [make_env(m) for m in maps]
    tables = [np.zeros((len(m) ** 2, 4)) for m in maps]
    cur = Curriculum(pool, strategy, seed=seed, **params)
    curve = []
    for episode in range(1, episodes + 1):
        task = int(cur.propose(1).indices[0])
        env, q = envs[task], tables[task]
        state, _ = env.reset(seed=int(rng.integers(2**31)))
        reward, done = 0.0, False
        while not done:
            row = q[state]
            if rng.random() < EPSILON:
                action = int(rng.integers(4))
            else:  # greedy with random tie-breaking
                action = int(rng.choice(np.flatnonzero(row == row.max())))
            nxt, reward, terminated, truncated, _ = env.step(action)
            target = reward + (0.0 if terminated else GAMMA * q[nxt].max())
            row[action] += ALPHA * (target - row[action])
            state, done = nxt, terminated or truncated
        cur.observe(Outcomes([task], [float(reward)]))
        if episode % every == 0:
            mastered = [greedy_succeeds(e, t) for e, t in zip(envs, tables, strict=True)]
            curve.append(100.0 * float(np.mean(mastered)))
    for env in envs:
        env.close()
    return curve


def run(
    sizes: list[int], per_size: int, episodes: int, every: int, seeds: int
) -> dict[str, np.ndarray]:
    maps = make_maps(sizes, per_size, seed=0)
    pool = make_pool(maps)
    results = {}
    for label, strategy, params in TEACHERS:
        curves = [run_one(maps, pool, strategy, params, s, episodes, every) for s in range(seeds)]
        results[label] = np.array(curves)  # seeds x checkpoints
        print(f"{label}: final {results[label][:, -1].mean():.1f}%", file=sys.stderr)
    return results


def _cell(values: np.ndarray) -> str:
    sd = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return f"{values.mean():.1f} ± {sd:.1f}"


def checkpoints(episodes: int, every: int) -> list[int]:
    """Column checkpoints: about four, evenly spaced, always ending at the last one."""
    count = episodes // every
    step = max(1, count // 4)
    return sorted({count - 1 - i * step for i in range(4) if count - 1 - i * step >= 0})


def _verdict(diff: np.ndarray) -> str:
    """'ahead', 'behind' or 'level': paired mean difference beyond two standard errors."""
    mean = round(float(diff.mean()), 6)
    se = float(diff.std(ddof=1)) / np.sqrt(len(diff)) if len(diff) > 1 else 0.0
    if mean > 2 * se and mean > 0:
        return "ahead"
    if mean < -2 * se and mean < 0:
        return "behind"
    return "level"


def reading(results: dict[str, np.ndarray], every: int, columns: list[int]) -> list[str]:
    """Which teachers beat the reference, early (first column), at the end, and on average."""
    ref = results[REFERENCE]
    views = [
        (f"after {(columns[0] + 1) * every:,} episodes", lambda x: x[:, columns[0]]),
        ("at the end", lambda x: x[:, -1]),
        ("averaged over all checkpoints", lambda x: x.mean(axis=1)),
    ]
    lines = [
        f"Reading (a teacher is ahead of / behind `{REFERENCE}` when its paired mean "
        "difference over seeds exceeds two standard errors, else level):",
        "",
    ]
    for title, view in views:
        groups: dict[str, list[str]] = {"ahead": [], "level": [], "behind": []}
        for label, curves in results.items():
            if label == REFERENCE:
                continue
            diff = view(curves) - view(ref)
            shown = round(float(diff.mean()), 1) + 0.0  # no "-0.0"
            groups[_verdict(diff)].append(f"`{label}` ({shown:+.1f})")
        parts = [f"{k}: {', '.join(v)}" for k, v in groups.items() if v]
        lines.append(f"- {title} (DR {view(ref).mean():.1f}%): " + "; ".join(parts) + ".")
    return lines


def render(
    results: dict[str, np.ndarray],
    config: dict[str, Any],
    command: str,
    seconds: float,
) -> str:
    every, episodes = config["every"], config["episodes"]
    columns = checkpoints(episodes, every)
    ref = results[REFERENCE]
    header = [f"{(c + 1) * every:,} ep" for c in columns]
    lines = [
        "## Teachers on gymnasium FrozenLake",
        "",
        f"Reproduce with `{command}`. Measured on {machine_description()}, in {seconds:.0f} s.",
        "",
        f"Tasks: {config['n_maps']} real `FrozenLake-v1` maps (`generate_random_map`, "
        f"sizes {config['sizes']}, {config['per_size']} per size, frozen probability "
        "alternating 0.9/0.8, `is_slippery=False`, 4·size² step limit). Pool: group = size, "
        "difficulty = shortest path length, features = (size, hole fraction). Agent: tabular "
        f"Q-learning, one table per map, alpha {ALPHA}, gamma {GAMMA}, epsilon {EPSILON} with "
        f"random tie-breaking; {episodes:,} episodes in all, the teacher picks the map of each "
        "one (`propose(1)`, then `observe` with reward 1 at the goal, else 0; loop driven "
        "directly, not through `CurriculumWrapper`). A map is mastered when the greedy policy "
        f"of its table reaches the goal. {config['seeds']} seeds (teacher and agent), same "
        "maps for every teacher; cells are % of maps mastered, mean ± sd over seeds; "
        f"'vs DR' is the final difference from `{REFERENCE}` and seeds where the teacher "
        "was ahead / behind.",
        "",
        "| teacher | " + " | ".join(header) + " | mean over checkpoints | vs DR (final) |",
        "| --- | " + " | ".join("---:" for _ in header) + " | ---: | ---: |",
    ]
    for label, curves in results.items():
        cells = [_cell(curves[:, c]) for c in columns]
        diff = curves[:, -1] - ref[:, -1]
        versus = (
            "-"
            if label == REFERENCE
            else (f"{diff.mean():+.1f} ({int((diff > 0).sum())}/{int((diff < 0).sum())})")
        )
        lines.append(
            f"| `{label}` | " + " | ".join(cells) + f" | {_cell(curves.mean(axis=1))} | {versus} |"
        )
    lines += ["", *reading(results, every, columns), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--episodes", type=int, default=6000)
    parser.add_argument("--every", type=int, default=500)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[4, 5, 6, 7, 8])
    parser.add_argument("--per-size", type=int, default=6)
    parser.add_argument("--quick", action="store_true", help="tiny run for the smoke test")
    parser.add_argument("--out", type=Path, default=None, help="markdown file to update")
    args = parser.parse_args(argv)
    if args.quick:
        args.episodes, args.every, args.seeds = 200, 50, 2
        args.sizes, args.per_size = [4, 5], 2
    started = time.perf_counter()
    results = run(args.sizes, args.per_size, args.episodes, args.every, args.seeds)
    config = {
        "episodes": args.episodes,
        "every": args.every,
        "seeds": args.seeds,
        "sizes": f"{min(args.sizes)} to {max(args.sizes)}",
        "per_size": args.per_size,
        "n_maps": len(args.sizes) * args.per_size,
    }
    command = ".venv/bin/python benchmarks/gym_teachers.py" + (" --quick" if args.quick else "")
    if not args.quick:
        command += f" --episodes {args.episodes}" if args.episodes != 6000 else ""
        command += f" --seeds {args.seeds}" if args.seeds != 5 else ""
    command += " --out docs/benchmarks.md"
    section = render(results, config, command, time.perf_counter() - started)
    print(section)
    if args.out is not None:
        update_section(args.out, section, START, END)
    return 0


if __name__ == "__main__":
    sys.exit(main())
