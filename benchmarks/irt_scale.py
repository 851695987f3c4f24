"""Fit a 2PL to 100 million responses streamed from Parquet shards: time and peak memory.

Writes a seeded synthetic 2PL log with :func:`stepladder.difficulty.write_synthetic_log`
(by default 2,000 learners x 100,000 items with 50% of the cells missing: 100 million
responses, in 25 Parquet shards of about 4 million rows; a pool of many items answered by
fewer learners, as in curriculum and evaluation logs), then, in a fresh process, reads it
with :func:`~stepladder.difficulty.read_responses_compact` (shard by shard, batch by batch,
into 12 bytes a response) and fits ``IRT("2pl")``. It reports the read and fit times, the
iterations, the peak resident set after reading and overall (``VmHWM``), and the
recovery of the true parameters (Spearman correlations). The table is printed and written
between the ``irt_scale`` markers of ``docs/benchmarks.md``.

    .venv/bin/python benchmarks/irt_scale.py [--responses N] [--learners L] [--shards S]
    .venv/bin/python benchmarks/irt_scale.py --workdir DIR --keep    # reuse the log next time
    .venv/bin/python benchmarks/irt_scale.py --quick                 # 1M responses, no file

Free disk and memory are checked before anything is written.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from _markdown import (  # benchmarks/_markdown.py
    machine_description,
    reproduce_command,
    result_args,
    update_section,
)
from irt_vs_peers import (
    MIB,
    TIMES,
    exit_on_sigterm,
    log,
    run_measured,
    vm_hwm,
)

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"
START = "<!-- irt_scale:start -->"
END = "<!-- irt_scale:end -->"
DEFAULT_RESPONSES = 100_000_000
QUICK_RESPONSES = 1_000_000
DEFAULT_LEARNERS = 2_000
ROWS_PER_SHARD = 4_000_000
MIN_SHARDS = 20
ARROW_BYTES = 17  # the log as stored in Arrow: int64 learner_id, int64 item_id, int8 correct
DISK_BYTES_GUESS = 8.0  # bytes a response on disk, a generous guess (measured afterwards)
MEMORY_BYTES_GUESS = 64.0  # bytes a response for reading + fitting, a generous guess
GIB = 2**30


# ------------------------------------------------------------------------- the child side


def current_rss() -> int | None:
    try:
        with open("/proc/self/statm", encoding="ascii") as stream:
            return int(stream.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, IndexError, ValueError):
        return None


def peak_rss() -> int:
    """This process's own peak RSS: ``VmHWM`` (``ru_maxrss`` counts the launcher's too)."""
    own = vm_hwm()
    if own is not None:
        return own
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def child(log_dir: Path, truth_file: Path, out: Path) -> int:
    """Read the shards and fit, in a process of its own; write what was measured to ``out``."""
    from scipy.stats import spearmanr

    from stepladder.difficulty import IRT, read_responses_compact

    baseline = peak_rss()
    started, cpu = time.perf_counter(), time.process_time()
    responses = read_responses_compact(log_dir)
    read_seconds = time.perf_counter() - started
    read_cpu = time.process_time() - cpu
    after_read = {"rss": current_rss(), "peak": peak_rss()}
    started, cpu = time.perf_counter(), time.process_time()
    model = IRT("2pl").fit(responses)
    fit_seconds = time.perf_counter() - started
    fit_cpu = time.process_time() - cpu
    with np.load(truth_file) as truth:
        b, a, theta = truth["b"], truth["a"], truth["theta"]
    items = responses.item_ids.to_numpy()
    learners = responses.learner_ids.to_numpy()
    result = {
        "n_responses": len(responses),
        "n_learners": responses.n_learners,
        "n_items": responses.n_items,
        "compact_bytes": int(  # (one attempt a row: trials is a view of one value)
            sum(x.nbytes for x in (responses.learner, responses.item, responses.successes))
            + (responses.trials.nbytes if responses.trials.strides != (0,) else 0)
        ),
        "read_seconds": read_seconds,
        "fit_seconds": fit_seconds,
        "read_cpu_seconds": read_cpu,
        "fit_cpu_seconds": fit_cpu,
        "report_seconds": model.report_.seconds,
        "iterations": model.report_.iterations,
        "converged": bool(model.report_.converged),
        "baseline_peak_bytes": baseline,
        "rss_after_read_bytes": after_read["rss"],
        "peak_after_read_bytes": after_read["peak"],
        "peak_bytes": peak_rss(),
        "spearman_difficulty": float(spearmanr(model.items_.difficulty, b[items])[0]),
        "spearman_discrimination": float(spearmanr(model.items_.discrimination, a[items])[0]),
        "spearman_ability": float(spearmanr(model.abilities_, theta[learners])[0]),
    }
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    return 0


# ------------------------------------------------------------------------ the parent side


def mem_available() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as stream:
            for line in stream:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def directory_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


@dataclass
class Plan:
    responses: int
    learners: int
    items: int
    shards: int
    missing: float
    seed: int

    @property
    def key(self) -> dict[str, Any]:
        return {
            "learners": self.learners,
            "items": self.items,
            "shards": self.shards,
            "missing": self.missing,
            "seed": self.seed,
        }


def plan(args: argparse.Namespace) -> Plan:
    learners = min(args.learners, args.responses)
    items = max(1, round(args.responses / (learners * (1.0 - args.missing))))
    shards = args.shards or max(MIN_SHARDS, math.ceil(args.responses / ROWS_PER_SHARD))
    return Plan(args.responses, learners, items, min(shards, learners), args.missing, args.seed)


def _size(value: float) -> str:
    return f"{value / GIB:.1f} GiB" if value >= GIB else f"{value / MIB:,.0f} MiB"


def check_resources(workdir: Path, p: Plan, force: bool) -> list[str]:
    """Refuse (unless ``force``) when disk or memory look too small; return what was found."""
    found = []
    free_disk = shutil.disk_usage(workdir).free
    disk_need = DISK_BYTES_GUESS * p.responses
    found.append(f"free disk {_size(free_disk)} (about {_size(disk_need)} needed)")
    available = mem_available()
    memory_need = MEMORY_BYTES_GUESS * p.responses
    if available is not None:
        found.append(f"available memory {_size(available)} (about {_size(memory_need)} needed)")
    problems = []
    if free_disk < 1.5 * disk_need:
        problems.append(f"only {_size(free_disk)} free disk in {workdir}")
    if available is not None and available < memory_need:
        problems.append(f"only {_size(available)} memory available")
    for line in found:
        log(line)
    if problems and not force:
        raise SystemExit("not enough room: " + "; ".join(problems) + " (--force to try anyway)")
    return found


OWN_FILES = ("log", "truth.npz", "meta.json", "result.json", "child-stdout.txt",
             "child-stderr.txt")  # fmt: skip


def kept_log(workdir: Path, p: Plan) -> dict[str, Any] | None:
    """The metadata of a log a kept earlier run left with this plan; None when there is none."""
    log_dir, truth_file, meta_file = (workdir / n for n in ("log", "truth.npz", "meta.json"))
    if meta_file.exists() and truth_file.exists() and log_dir.is_dir():
        meta = json.loads(meta_file.read_text(encoding="utf-8"))
        if meta.get("key") == p.key:
            log(f"reusing the log in {log_dir}")
            meta["reused"] = True
            return meta
        raise SystemExit(f"{workdir} holds a log made with other settings; use another --workdir")
    if log_dir.exists():
        raise SystemExit(f"{log_dir} exists without a matching meta.json; remove it first")
    return None


def write_log(workdir: Path, p: Plan) -> dict[str, Any]:
    """Write the shards and the truth (and meta.json, so that a kept log can be reused)."""
    from stepladder.difficulty import write_synthetic_log

    log_dir, truth_file, meta_file = (workdir / n for n in ("log", "truth.npz", "meta.json"))
    log(
        f"writing {p.learners:,} learners x {p.items:,} items ({1 - p.missing:.0%} present) "
        f"in {p.shards} shards to {log_dir}"
    )
    started = time.perf_counter()
    truth = write_synthetic_log(
        log_dir, p.learners, p.items, missing=p.missing, seed=p.seed, shards=p.shards
    )
    seconds = time.perf_counter() - started
    np.savez(truth_file, theta=truth["theta"], a=truth["a"], b=truth["b"])
    meta = {
        "key": p.key,
        "n_responses": int(truth["n_responses"]),
        "files": len(truth["files"]),
        "disk_bytes": directory_bytes(log_dir),
        "write_seconds": seconds,
        "writer_peak_bytes": peak_rss(),
    }
    meta_file.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    meta["reused"] = False
    return meta


@dataclass
class Results:
    plan: Plan
    meta: dict[str, Any]
    status: str
    child: dict[str, Any]
    process_seconds: float
    process_peak_bytes: int | None
    resources: list[str]
    available_before: int | None


def measure(args: argparse.Namespace) -> Results:
    p = plan(args)
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
        workdir = args.workdir
    else:
        workdir = Path(tempfile.mkdtemp(prefix="irt-scale-"))
    ours = args.workdir is None  # whether this run made what is in workdir (then it may go)
    try:
        found = check_resources(workdir, p, args.force)
        meta = kept_log(workdir, p)
        if meta is None:
            ours = True
            meta = write_log(workdir, p)
        log(
            f"{meta['n_responses']:,} responses, {meta['disk_bytes'] / MIB:,.0f} MiB on disk; "
            f"reading and fitting in a fresh process (timeout {args.timeout:.0f} s)"
        )
        out = workdir / "result.json"
        out.unlink(missing_ok=True)
        available = mem_available()
        measured = run_measured(
            [
                sys.executable,
                str(Path(__file__).resolve()),
                "--child",
                str(workdir / "log"),
                str(workdir / "truth.npz"),
                str(out),
            ],
            timeout=args.timeout,
            stdout=workdir / "child-stdout.txt",
            stderr=workdir / "child-stderr.txt",
        )
        if measured.timed_out:
            status, result = f"timed out after {args.timeout:.0f} s", {}
        elif measured.returncode != 0 or not out.exists():
            tail = (workdir / "child-stderr.txt").read_text(encoding="utf-8", errors="replace")
            last = [line for line in tail.splitlines() if line.strip()][-1:] or ["no message"]
            status, result = f"failed (exit code {measured.returncode}): {last[0][:300]}", {}
        else:
            status, result = "ok", json.loads(out.read_text(encoding="utf-8"))
    finally:
        if args.keep:
            log(f"kept {workdir}")
        elif args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
        elif ours:  # only what this run wrote; a reused log stays where it was
            for name in OWN_FILES:
                target = workdir / name
                if target.is_dir():
                    shutil.rmtree(target, ignore_errors=True)
                else:
                    target.unlink(missing_ok=True)
    return Results(
        p, meta, status, result, measured.seconds, measured.peak_rss_bytes, found, available
    )


# ------------------------------------------------------------------------------- report


def _mib(value: int | float | None) -> str:
    return "—" if value is None else f"{value / MIB:,.0f}"


def _s(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}" if value < 10 else f"{value:.1f}"


def interpretation(res: Results) -> list[str]:
    """Sentences derived from the measured numbers."""
    if res.status != "ok":
        return [f"Reading and fitting did not finish: {res.status}."]
    c = res.child
    n = c["n_responses"]
    arrow = ARROW_BYTES * n
    sentences = [
        f"Reading {n:,} responses took {_s(c['read_seconds'])} s "
        f"({n / c['read_seconds'] / 1e6:.1f} million a second) and the fit "
        f"{_s(c['fit_seconds'])} s ({c['iterations']} EM iterations, "
        + ("converged" if c["converged"] else "not converged")
        + ")."
    ]
    after_read = c["peak_after_read_bytes"]
    beyond = after_read - c["baseline_peak_bytes"] - c["compact_bytes"]
    table = f"the {_mib(arrow)} MiB the whole table takes in Arrow"
    if beyond < 0.5 * arrow:
        verdict = (
            f"less than half of {table}, so the shards were streamed, never held whole "
            "beside the compact arrays."
        )
    else:
        verdict = (
            f"not clearly less than {table}; at this size the reader's batch buffers are as "
            "large as the table, so this run cannot tell streaming from a whole read."
        )
    sentences.append(
        f"While reading, the process peaked at {_mib(after_read)} MiB: the interpreter and "
        f"libraries ({_mib(c['baseline_peak_bytes'])} MiB), the compact arrays "
        f"({_mib(c['compact_bytes'])} MiB) and {_mib(beyond)} MiB more, {verdict}"
    )
    peak = res.process_peak_bytes or c["peak_bytes"]
    ratio = (peak - c["baseline_peak_bytes"]) / n
    verdict = ""
    if res.available_before is not None:
        share = peak / res.available_before
        verdict = f", {share:.0%} of the memory available when it started" + (
            " (more than the machine could spare)" if share > 1 else ""
        )
    sentences.append(
        f"The fit raised the peak to {_mib(peak)} MiB, {ratio:.1f} bytes a response above "
        "the interpreter and libraries"
        f"{verdict}; the fit's own working set, beyond the arrays read, was "
        f"{_mib(peak - after_read)} MiB."
    )
    return sentences


def render(res: Results, command: str) -> str:
    p, meta, c = res.plan, res.meta, res.child
    n = meta["n_responses"]
    write_note = (
        "reused from an earlier run"
        if meta.get("reused")
        else f"{_s(meta['write_seconds'])} s (writer's peak RSS "
        f"{_mib(meta['writer_peak_bytes'])} MiB)"
    )
    rows = [
        ["responses", f"{n:,}"],
        [
            f"learners {TIMES} items",
            f"{p.learners:,} {TIMES} {p.items:,} ({1 - p.missing:.0%} of cells present)",
        ],
        ["Parquet shards", f"{meta['files']} ({_mib(meta['disk_bytes'])} MiB on disk)"],
        ["writing the log (not part of the measurement)", write_note],
        ["status", res.status],
    ]
    if c:
        rows += [
            ["read (`read_responses_compact`) s", _s(c["read_seconds"])],
            ["fit (`IRT('2pl').fit`) s", _s(c["fit_seconds"])],
            ["read CPU s (all threads)", _s(c.get("read_cpu_seconds"))],
            ["fit CPU s (all threads)", _s(c.get("fit_cpu_seconds"))],
            [
                "EM iterations",
                f"{c['iterations']} ({'converged' if c['converged'] else 'not converged'})",
            ],
            ["whole child process s", _s(res.process_seconds)],
            [
                "peak RSS before reading (interpreter, libraries) MiB",
                _mib(c["baseline_peak_bytes"]),
            ],
            ["compact arrays MiB", _mib(c["compact_bytes"])],
            ["peak RSS after reading MiB", _mib(c["peak_after_read_bytes"])],
            ["peak RSS, whole process MiB", _mib(res.process_peak_bytes or c["peak_bytes"])],
            ["difficulty Spearman", f"{c['spearman_difficulty']:.4f}"],
            ["discrimination Spearman", f"{c['spearman_discrimination']:.4f}"],
            ["ability Spearman", f"{c['spearman_ability']:.4f}"],
        ]
    else:
        rows.append(["whole child process s", _s(res.process_seconds)])
        rows.append(["peak RSS, whole process MiB", _mib(res.process_peak_bytes)])
    table = "\n".join(
        "| " + " | ".join(cells) + " |" for cells in [["quantity", "value"], ["---", "---:"], *rows]
    )
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    parts = [
        "## IRT at scale: 2PL from Parquet shards",
        f"Reproduce with {command}. Measured {stamp} on: {machine_description()}. "
        f"Before the run: {'; '.join(res.resources)}.",
        f"A seeded (seed {p.seed}) 2PL log from `write_synthetic_log` (theta ~ N(0, 1), "
        "b ~ N(0, 1), a ~ LogNormal(0, 0.3)), written as Parquet shards of contiguous "
        "learner blocks; a fresh process then streams it with `read_responses_compact` "
        "and fits `IRT('2pl')` with its defaults. Peak RSS is that process's own (`VmHWM`), "
        "including the interpreter and libraries. Times on a shared machine are noisy: "
        "the CPU times (user + system, all threads) are the steadier measure.",
        table,
        "### Reading",
        " ".join(interpretation(res)),
    ]
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------- main


#: Thread limits that change the measurement; named in the reproduce command when set.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def command(argv: Sequence[str]) -> str:
    """The reproduce command: the arguments that shape the results, after the thread limits
    this run had (BLAS and the fit's worker threads follow ``OMP_NUM_THREADS``)."""
    shown = reproduce_command("irt_scale.py", result_args(argv))
    limits = [f"{name}={os.environ[name]}" for name in THREAD_VARIABLES if name in os.environ]
    return shown if not limits else "`" + " ".join(limits) + " " + shown[1:]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--responses", type=int, help=f"about this many (default {DEFAULT_RESPONSES:,})"
    )
    parser.add_argument("--learners", type=int, default=DEFAULT_LEARNERS, help="default 2,000")
    parser.add_argument("--missing", type=float, default=0.5, help="share missing (0.5)")
    parser.add_argument(
        "--shards", type=int, help=f"default: {ROWS_PER_SHARD:,} rows each, {MIN_SHARDS}+"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds for read + fit")
    parser.add_argument("--workdir", type=Path, help="where the shards go (default a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the shards (reused next time)")
    parser.add_argument("--force", action="store_true", help="run despite the resource check")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"{QUICK_RESPONSES:,} responses; writes a file only with --out",
    )
    parser.add_argument("--out", type=Path, help="markdown file (default docs/benchmarks.md)")
    parser.add_argument("--child", nargs=3, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return args
    args.responses = args.responses or (QUICK_RESPONSES if args.quick else DEFAULT_RESPONSES)
    if args.out is None and not args.quick:
        args.out = DEFAULT_OUT
    if args.responses < 4 or args.learners < 2 or not 0.0 <= args.missing < 1.0:
        parser.error("need --responses >= 4, --learners >= 2 and --missing in [0, 1)")
    if args.shards is not None and args.shards < 1:
        parser.error("--shards must be positive")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    if args.child:
        return child(*args.child)
    exit_on_sigterm()
    started = time.perf_counter()
    results = measure(args)
    section = render(results, command(argv))
    print(section)
    if args.out is not None:
        update_section(args.out, section, START, END)
        log(f"wrote {args.out}")
    log(f"total {time.perf_counter() - started:.1f} s")
    return 0 if results.status == "ok" else 1


if __name__ == "__main__":
    raise SystemExit(main())
