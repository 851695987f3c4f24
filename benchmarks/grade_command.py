"""Time the whole ``stepladder grade`` command on 10M responses, beside the floor any tool pays.

The seeded 2PL log of ``irt_vs_peers.py`` (1,000 learners x 20,000 items, theta and b ~
N(0, 1), a ~ LogNormal(0, 0.3), half the cells missing: about 10 million responses) is
written once as one Parquet file (learner_id, item_id, correct), the truth beside it. Each
run is a fresh process, pinned to two CPUs, and the runs are interleaved, repeat after
repeat, so that changes in the machine's load hit them all alike:

- ``python -m stepladder.cli grade LOG --model 2pl --out ... --learners-out ... --quiet``
  with ``OMP_NUM_THREADS=2`` and with ``OMP_NUM_THREADS=1``;
- the floor: a fresh interpreter that imports NumPy and ``pyarrow.parquet`` and reads the
  three columns into NumPy arrays, the least any Python tool must do;
- the phases: the command's steps in one process on one thread, with the CPU time of each.

For each run: wall time (from start to exit), CPU time (user + system, all threads, from
``wait4``) and peak resident set (the child's own ``VmHWM``, polled). Recovery is scored on
the command's outputs against the truth. The table is written between the
``grade_command`` markers of ``docs/benchmarks.md``.

    .venv/bin/python benchmarks/grade_command.py [--repeats 5] [--workdir DIR]  # DIR keeps the log
    .venv/bin/python benchmarks/grade_command.py --quick --out /tmp/b.md   # 200 x 500, once
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from _markdown import (  # benchmarks/_markdown.py
    machine_description,
    markdown_table,
    reproduce_command,
    result_args,
    update_section,
)
from irt_vs_peers import MIB, TIMES, exit_on_sigterm, log, run_measured, simulate_log
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"
START = "<!-- grade_command:start -->"
END = "<!-- grade_command:end -->"
FULL_SHAPE = (1_000, 20_000)
QUICK_SHAPE = (200, 500)
CORES = 2
WALL_GOAL_S = 2.0
RECOVERY = {"difficulty": 0.99, "discrimination": 0.90, "ability": None}  # Spearman goals
COLUMNS = ["learner_id", "item_id", "correct"]

#: The least any Python tool must do: start, import NumPy and Parquet, read three columns.
FLOOR = """\
import sys
import numpy as np
import pyarrow.parquet as pq
table = pq.read_table(sys.argv[1], columns=["learner_id", "item_id", "correct"])
arrays = [np.asarray(table.column(name).to_numpy()) for name in table.column_names]
"""

#: The command's steps, through the same public calls, with each one's CPU time.
PHASES = """\
import json, resource, sys
def cpu():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
marks = [cpu()]
import pyarrow.parquet as pq
import stepladder.cli.grade
from stepladder.difficulty import read_responses_compact
from stepladder.grading import make_grader
marks.append(cpu())
responses = read_responses_compact(sys.argv[1])
marks.append(cpu())
grader = make_grader("2pl", method="mml", progress=False).fit(responses)
marks.append(cpu())
grader.summary()
pq.write_table(grader.item_table(), sys.argv[2] + "/items.parquet")
pq.write_table(grader.learner_table(), sys.argv[2] + "/learners.parquet")
marks.append(cpu())
print(json.dumps([after - before for before, after in zip(marks, marks[1:])]))
"""
PHASE_NAMES = ("imports", "reading the log", "2PL fit", "tables and writing")


@dataclass
class Run:
    wall: float
    cpu: float  # user + system, all threads
    system: float
    peak: int  # bytes, the child's own VmHWM at the last poll
    stdout: str


def child_env(threads: int) -> dict[str, str]:
    """This environment with the thread limit, and this tree's src first on the path."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    for name in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # OMP_NUM_THREADS alone rules
        env.pop(name, None)
    if (ROOT / "src" / "stepladder").is_dir():  # children run this tree's code
        path = [str(ROOT / "src"), *filter(None, [env.get("PYTHONPATH")])]
        env["PYTHONPATH"] = os.pathsep.join(path)
    return env


def pin() -> None:
    """In the child before it starts: run on the first CORES CPUs this process may use."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[:CORES])


def run_child(command: Sequence[str], threads: int, name: Path, timeout: float) -> Run:
    """Run ``command`` to its end (:func:`run_measured`, pinned, on ``threads`` threads):
    wall time, CPU time from ``wait4`` and polled ``VmHWM``; a failed run stops the script."""
    out, err = Path(f"{name}.out"), Path(f"{name}.err")
    measured = run_measured(command, timeout=timeout, stdout=out, stderr=err,
                            env=child_env(threads), preexec_fn=pin)  # fmt: skip
    if measured.returncode != 0:
        lines = err.read_text(encoding="utf-8", errors="replace").splitlines()
        why = f"ran past {timeout:.0f} s" if measured.timed_out else (lines or ["no message"])[-1]
        raise SystemExit(f"{' '.join(command[:4])} ... failed: {why}")
    stdout = out.read_text(encoding="utf-8")
    return Run(measured.seconds, measured.cpu_seconds, measured.system_seconds,
               measured.peak_rss_bytes, stdout)  # fmt: skip


def write_log(workdir: Path, learners: int, items: int, missing: float, seed: int) -> int:
    """The Parquet log and truth.npz in ``workdir`` (reused when made with these settings)."""
    key = {"learners": learners, "items": items, "missing": missing, "seed": seed}
    meta = workdir / "meta.json"
    kept = json.loads(meta.read_text(encoding="utf-8")) if meta.exists() else {}
    if kept.get("key") == key:
        log(f"reusing the log in {workdir}")
        return kept["n_responses"]
    log(f"writing {learners:,} learners x {items:,} items ({1 - missing:.0%} present) to {workdir}")
    data = simulate_log(learners, items, missing, seed)
    np.savez(workdir / "truth.npz", theta=data["theta"], a=data["a"], b=data["b"])
    ids = [data["learner"].astype(np.int64), data["item"].astype(np.int64), data["correct"]]
    pq.write_table(pa.table(dict(zip(COLUMNS, ids, strict=True))), workdir / "log.parquet")
    n_responses = len(data["correct"])
    meta.write_text(json.dumps({"key": key, "n_responses": n_responses}), encoding="utf-8")
    return n_responses


def recovery(out: Path, truth: dict[str, np.ndarray]) -> dict[str, float | np.ndarray]:
    """Spearman correlations of the command's estimates with the truth."""
    items = pq.read_table(out / "items.parquet").sort_by("item_id")
    learners = pq.read_table(out / "learners.parquet")
    ids = items["item_id"].to_numpy()
    b, a = items["difficulty"].to_numpy(), items["discrimination"].to_numpy()
    keep = np.isfinite(b) & np.isfinite(a)  # flagged (constant) items have no estimate
    theta = truth["theta"][learners["learner_id"].to_numpy()]
    return {
        "difficulty": float(spearmanr(b[keep], truth["b"][ids[keep]])[0]),
        "discrimination": float(spearmanr(a[keep], truth["a"][ids[keep]])[0]),
        "ability": float(spearmanr(learners["ability"].to_numpy(), theta)[0]),
        "scored": int(keep.sum()),
        "b": b,
    }


@dataclass
class Results:
    runs: dict[str, list[Run]]
    recovery: dict[str, dict]
    phases: list[list[float]]
    n_responses: int
    load_before: tuple[float, float, float]
    load_after: tuple[float, float, float]


CONFIGS = {"floor": 2, "command, 2 threads": 2, "command, 1 thread": 1}  # name: OMP threads


def measure(args: argparse.Namespace, workdir: Path) -> Results:
    n_responses = write_log(workdir, args.learners, args.items, args.missing, args.seed)
    with np.load(workdir / "truth.npz") as stored:
        truth = dict(stored)
    data = str(workdir / "log.parquet")
    commands = {"floor": [sys.executable, "-c", FLOOR, data]}
    for name, threads in CONFIGS.items():
        if name != "floor":
            out = workdir / f"threads-{threads}"
            out.mkdir(exist_ok=True)
            commands[name] = [sys.executable, "-m", "stepladder.cli", "grade", data, "--model",
                              "2pl", "--out", str(out / "items.parquet"), "--learners-out",
                              str(out / "learners.parquet"), "--quiet"]  # fmt: skip
    (workdir / "phases").mkdir(exist_ok=True)
    phases_command = [sys.executable, "-c", PHASES, data, str(workdir / "phases")]
    runs: dict[str, list[Run]] = {name: [] for name in [*CONFIGS, "phases"]}
    phases = []
    load_before = os.getloadavg()
    for repeat in range(args.repeats):
        log(f"repeat {repeat + 1} of {args.repeats}")
        for name, threads in CONFIGS.items():
            runs[name].append(run_child(commands[name], threads, workdir / "run", args.timeout))
            log(f"  {name}: {runs[name][-1].wall:.2f} s wall, {runs[name][-1].cpu:.2f} s CPU")
        if not args.no_phases:
            runs["phases"].append(run_child(phases_command, 1, workdir / "run", args.timeout))
            phases.append(json.loads(runs["phases"][-1].stdout))
    load_after = os.getloadavg()
    scores = {
        name: recovery(workdir / f"threads-{t}", truth)
        for name, t in CONFIGS.items()
        if name != "floor"
    }
    return Results(runs, scores, phases, n_responses, load_before, load_after)


def _s(value: float) -> str:
    return f"{value:.2f}"


def median(runs: list[Run], field: str) -> float:
    return float(np.median([getattr(run, field) for run in runs]))


def render(res: Results, args: argparse.Namespace, command: str) -> str:
    floor = res.runs["floor"]
    rows = []
    for name, runs in res.runs.items():
        if name == "phases" or not runs:
            continue
        wall, cpu = median(runs, "wall"), median(runs, "cpu")
        score = res.recovery.get(name, {})
        beyond = [wall - median(floor, "wall"), cpu - median(floor, "cpu")]
        rows.append(
            [name, _s(wall), _s(min(r.wall for r in runs)), _s(cpu), _s(min(r.cpu for r in runs)),
             _s(median(runs, "system")), f"{max(r.peak for r in runs) / MIB:,.0f}"]
            + ([_s(v) for v in beyond] if score else ["—", "—"])
            + [f"{score[k]:.4f}" if score else "—" for k in RECOVERY]
        )  # fmt: skip
    table = markdown_table(
        ["run", "wall s, median", "wall s, min", "CPU s, median", "CPU s, min",
         "of which system s", "peak RSS MiB", "wall minus floor s", "CPU minus floor s",
         *(f"{k} Spearman" for k in RECOVERY)], rows,
    )  # fmt: skip
    parts = [
        "## The whole `stepladder grade` command: 2PL on a Parquet log",
        f"Reproduce with {command}. Measured "
        f"{datetime.datetime.now(datetime.UTC):%Y-%m-%d} on: {machine_description(memory=True)}.",
        f"Data: the seeded (seed {args.seed}) log of the IRT comparison, {args.learners:,} "
        f"learners {TIMES} {args.items:,} items, theta and b ~ N(0, 1), a ~ LogNormal(0, 0.3), "
        f"{args.missing:.0%} of the cells missing: {res.n_responses:,} responses in one Parquet "
        "file (int64 learner_id and item_id, int8 correct). Each run is a fresh process "
        f"pinned to {CORES} CPUs; the runs are interleaved over {args.repeats} "
        f"repeat{'s' * (args.repeats > 1)}. "
        "*command*: `python -m stepladder.cli grade LOG --model 2pl --out items.parquet "
        "--learners-out learners.parquet --quiet` with `OMP_NUM_THREADS` set as named. "
        "*floor*: a fresh interpreter that imports NumPy and `pyarrow.parquet` and reads the "
        "three columns into NumPy arrays (2 threads), the least any Python tool must do. "
        "*CPU s* is user + system time over all the process's threads (from `wait4`); *peak "
        "RSS* is the process's own `VmHWM`, polled every 20 ms, the largest over the repeats. "
        "Recovery: Spearman correlations of the command's estimates with the truth.",
        table,
    ]
    if res.phases:
        cpu = np.median(res.phases, axis=0)
        start = median(res.runs["phases"], "cpu") - float(cpu.sum())
        cells = [[n, _s(v)] for n, v in zip(PHASE_NAMES, cpu, strict=True)]
        cells.append(["interpreter start and exit (the rest of the process)", _s(start)])
        parts += [
            "Where the CPU time goes: the command's steps (`read_responses_compact`, "
            "`make_grader('2pl').fit`, `summary`, `item_table`/`learner_table` written with "
            "`pq.write_table`) in one process on one thread, median over the repeats:",
            markdown_table(["phase", "CPU s"], cells),
        ]
    parts += ["### Reading", " ".join(interpretation(res, args))]
    return "\n\n".join(parts) + "\n"


def interpretation(res: Results, args: argparse.Namespace) -> list[str]:
    """Sentences computed from the measurements; no conclusion is decided in advance."""
    floor, two, one = (res.runs[name] for name in CONFIGS)
    wall, cpu = median(two, "wall"), median(two, "cpu")
    full = (args.learners, args.items, args.missing) == (*FULL_SHAPE, 0.5)
    met = "meets" if wall < WALL_GOAL_S else "misses"
    sentences = [
        f"On {CORES} threads the whole command took a median {_s(wall)} s wall (min "
        f"{_s(min(r.wall for r in two))} s) and {_s(cpu)} s CPU, {_s(median(two, 'system'))} s "
        f"of it in the kernel; on one thread {_s(median(one, 'wall'))} s wall and "
        f"{_s(median(one, 'cpu'))} s CPU.",
        f"By the median it {met} the goal of under {WALL_GOAL_S:.0f} s on {CORES} cores."
        if full
        else "This log is not the goal's (1,000 x 20,000, half missing), so no goal is judged.",
        f"The floor took {_s(median(floor, 'wall'))} s wall and {_s(median(floor, 'cpu'))} s "
        f"CPU, so the command costs {_s(wall - median(floor, 'wall'))} s wall and "
        f"{_s(cpu - median(floor, 'cpu'))} s CPU beyond what any Python tool must pay.",
    ]
    score = res.recovery["command, 2 threads"]
    verdicts = [
        f"{k} {score[k]:.4f}"
        + (f" ({'meets' if score[k] >= goal else 'misses'} {goal})" if full and goal else "")
        for k, goal in RECOVERY.items()
    ]
    scored = score["scored"]
    sentences.append(
        f"Recovery (Spearman, 2 threads): {', '.join(verdicts)}"
        + (f", over the {scored:,} items with estimates." if scored < args.items else ".")
    )
    b1 = res.recovery["command, 1 thread"]["b"]
    gap = float(np.nanmax(np.abs(score["b"] - b1))) if len(b1) == len(score["b"]) else np.inf
    sentences.append(
        f"The difficulties on 1 and 2 threads differ by at most {gap:.1e}."
        if gap
        else "The difficulties on 1 and 2 threads are identical."
    )
    if res.phases:
        cpu_phases = np.median(res.phases, axis=0)
        biggest = int(np.argmax(cpu_phases))
        sentences.append(
            f"On one thread the largest step is the {PHASE_NAMES[biggest]} "
            f"({_s(cpu_phases[biggest])} s CPU of {_s(median(res.runs['phases'], 'cpu'))} s)."
        )
    before, after = res.load_before[0], res.load_after[0]
    busy = max(before, after) > 0.5 * (os.cpu_count() or 1)
    sentences.append(
        f"Load average (1 min) {before:.2f} before the runs and {after:.2f} after, on "
        f"{os.cpu_count()} logical CPUs: "
        + ("the machine was shared with other work, so the wall times include waiting for it"
           if busy else "the machine was quiet")
        + "; the CPU times are the steadier measure."
    )  # fmt: skip
    return sentences


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help="200 x 500, 1 repeat; writes only with --out"
    )
    parser.add_argument("--repeats", type=int, help="runs of each configuration (5; --quick 1)")
    parser.add_argument("--learners", type=int, help=f"default {FULL_SHAPE[0]:,}")
    parser.add_argument("--items", type=int, help=f"default {FULL_SHAPE[1]:,}")
    parser.add_argument("--missing", type=float, default=0.5, help="share missing (0.5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-phases", action="store_true", help="leave out the phases run")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per run (600)")
    parser.add_argument(
        "--workdir", type=Path, help="where the log goes and stays, reused when it fits"
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dir of the log")
    parser.add_argument("--out", type=Path, help="markdown file (default docs/benchmarks.md)")
    args = parser.parse_args(argv)
    shape = QUICK_SHAPE if args.quick else FULL_SHAPE
    args.learners, args.items = args.learners or shape[0], args.items or shape[1]
    args.repeats = args.repeats or (1 if args.quick else 5)
    if args.out is None and not args.quick:
        args.out = DEFAULT_OUT
    if min(args.learners, args.items) < 2 or not 0 <= args.missing < 1 or args.repeats < 1:
        parser.error("need 2+ learners and items, --missing in [0, 1) and --repeats >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    exit_on_sigterm()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="grade-command-"))
    workdir.mkdir(parents=True, exist_ok=True)
    try:
        results = measure(args, workdir)
    finally:
        if args.keep:
            log(f"kept {workdir}")
        elif args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    shown = reproduce_command("grade_command.py", result_args(argv, ("--out", "--workdir")))
    if "NUMPY_MADVISE_HUGEPAGE" in os.environ:  # changes the kernel time a great deal
        shown = f"`NUMPY_MADVISE_HUGEPAGE={os.environ['NUMPY_MADVISE_HUGEPAGE']} {shown[1:]}"
    section = render(results, args, shown)
    print(section)
    if args.out is not None:
        update_section(args.out, section, START, END)
        log(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
