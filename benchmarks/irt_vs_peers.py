"""Compare stepladder's 2PL calibration with py-irt, girth and mirt on one identical data set.

One seeded 2PL response log (by default 1,000 learners x 20,000 items, theta ~ N(0, 1),
b ~ N(0, 1), a ~ LogNormal(0, 0.3), 50% of the cells missing at random: about 10 million
responses) is saved once; every estimator then runs in a process of its own, started from
the same file: stepladder in this environment, the peers in a separate one (``.venv-peers``
by default, created and filled with pip from the package index when missing). For each it
reports the fit time (the estimator's fit call alone), the total time of its process
(interpreter start, imports, reading and converting the data, fit), the peak resident set of
that process, and how well it recovered the true parameters: Spearman correlations of the
estimated and true difficulties and discriminations (the headline, as programs identify the
scale differently) and the RMSE of the difficulties as they come, unrescaled. An estimator
that cannot be installed, crashes or runs past ``--timeout`` is reported as such. The table
is printed and written between the ``irt_vs_peers`` markers of ``docs/benchmarks.md``.

    .venv/bin/python benchmarks/irt_vs_peers.py                      # the full comparison
    .venv/bin/python benchmarks/irt_vs_peers.py --quick              # smoke run, writes nothing
    .venv/bin/python benchmarks/irt_vs_peers.py --skip-peers         # stepladder alone
    .venv/bin/python benchmarks/irt_vs_peers.py --peers girth,mirt --timeout 600

stepladder, cheap to run, is run ``--repeats`` times (3) and the run with the median fit CPU
time is reported; each peer runs once. Each fit's CPU time (user + system, all threads) is
reported beside its wall time and is the ratio's basis: on a shared machine wall time also
counts the waiting.

A second comparison, the 3PL, pits stepladder (default priors, and none: plain ML) against
R's mirt (``mirt(X, 1, itemtype = "3PL")``, ``benchmarks/_peers/mirt.R``) on a seeded,
complete 3PL log of 5,000 learners x 50 items, with every program's estimates scored by
one exact marginal log-likelihood. R finds mirt in its library paths (set ``R_LIBS`` to
where it is built; ``--rscript`` names the ``Rscript``); a missing R or mirt gives a
"not installed" row, never a failure, and nothing of R is installed at run time
(``--skip-3pl`` leaves the comparison out). The section says how mirt was built here.

The peers' settings: py-irt 0.7.1 2PL by SVI for 300 epochs (``--epochs``), girth 0.8.0
``twopl_jml`` with its defaults, mirt 1.2.0 ``fit_mirt(model="2PL")`` by EM with its
defaults and item-wise standard errors. Each process's code is ``benchmarks/_peers/worker.py``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from _markdown import (  # benchmarks/_markdown.py
    machine_description,
    markdown_table,
    reproduce_command,
    update_section,
)
from scipy.special import log_expit, logsumexp
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"
DEFAULT_PEERS_VENV = ROOT / ".venv-peers"
WORKER = Path(__file__).resolve().parent / "_peers" / "worker.py"
R_WORKER = Path(__file__).resolve().parent / "_peers" / "mirt.R"
START = "<!-- irt_vs_peers:start -->"
END = "<!-- irt_vs_peers:end -->"
# Distribution name and pinned requirement of each peer; torch is pinned first for py-irt
# (that pin resolves to a CPU build, an unpinned torch would pull gigabytes of GPU wheels).
PEERS = {"py-irt": "py-irt==0.7.1", "girth": "girth==0.8.0", "mirt": "mirt==1.2.0"}
TORCH_PIN = "torch==2.13.0"
NEEDS_TORCH = ("py-irt",)
FULL_SHAPE = (1_000, 20_000)
QUICK_SHAPE = (200, 500)
THREE_PL_SHAPE = (5_000, 50)  # learners x items of the 3PL comparison, complete
QUICK_THREE_PL_SHAPE = (1_000, 20)
FIT_GOAL_S = 4.0
SPEEDUP_GOAL = 30.0  # issue 18: "at least 30x faster than girth's JML"
MEMORY_GOAL_BYTES = 2 * 10**9  # "under 2 GB"
SCALE_OFF = np.log(1.25)  # a difficulty scale beyond 1.25 (or below 0.8) is called out
RECOVERY_TOLERANCE = 0.005  # Spearman differences below this are noise at these sizes
MIB = 2**20
TIMES = "\N{MULTIPLICATION SIGN}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------ the data


def simulate_log(n_learners: int, n_items: int, missing: float, seed: int) -> dict[str, np.ndarray]:
    """A 2PL response log in long form; learner-major rows, ids = indices of the truth."""
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.0, n_learners)
    b = rng.normal(0.0, 1.0, n_items)
    a = rng.lognormal(0.0, 0.3, n_items)
    learners, items, correct = [], [], []
    block = max(1, (1 << 22) // n_items)  # learners per chunk: ~4M cells at a time
    for first in range(0, n_learners, block):
        last = min(first + block, n_learners)
        p = 1.0 / (1.0 + np.exp(-a * (theta[first:last, None] - b)))
        present = rng.random(p.shape) >= missing
        hits = rng.random(p.shape) < p
        rows, cols = np.nonzero(present)
        learners.append((rows + first).astype(np.int32))
        items.append(cols.astype(np.int32))
        correct.append(hits[rows, cols].astype(np.int8))
    return {
        "learner": np.concatenate(learners),
        "item": np.concatenate(items),
        "correct": np.concatenate(correct),
        "n_learners": np.array(n_learners),
        "n_items": np.array(n_items),
        "theta": theta,
        "a": a,
        "b": b,
    }


# ------------------------------------------------------------------ the peers' environment


def _venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _last_error(text: str) -> str:
    lines = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith(("WARNING", "[notice]"))
    ]
    return lines[-1][:300] if lines else "no error message"


def installed_versions(python: Path, names: Sequence[str]) -> dict[str, str | None]:
    """Installed version of each distribution in the environment of ``python`` (None: absent)."""
    probe = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for name in sys.argv[1:]:\n"
        "    try:\n"
        "        out[name] = m.version(name)\n"
        "    except m.PackageNotFoundError:\n"
        "        out[name] = None\n"
        "print(json.dumps(out))\n"
    )
    done = subprocess.run(
        [str(python), "-c", probe, *names], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        return dict.fromkeys(names)
    return json.loads(done.stdout)


def _pinned(version: str | None, requirement: str) -> bool:
    """Whether ``version`` satisfies the ``name==X`` pin (a local label such as +cpu allowed)."""
    wanted = requirement.split("==", 1)[1]
    return version is not None and version.split("+", 1)[0] == wanted


def _pip_install(python: Path, requirement: str, timeout: float) -> str | None:
    """Install one pinned requirement; None on success, else the reason it failed."""
    command = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    log(f"pip install {requirement} into {python.parent.parent}")
    try:
        done = subprocess.run(
            [*command, requirement], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return f"pip install {requirement} ran past {timeout:.0f} s"
    if done.returncode != 0:
        return f"pip install {requirement} failed: {_last_error(done.stderr or done.stdout)}"
    return None


def prepare_peers(
    venv: Path, base_python: str, peers: Sequence[str], *, install: bool, timeout: float
) -> tuple[Path | None, dict[str, str]]:
    """The peers' interpreter and, per peer that cannot run, the reason (install when asked)."""
    python = _venv_python(venv)
    problems: dict[str, str] = {}
    if not python.exists():
        if not install:
            return None, dict.fromkeys(peers, f"not installed (no environment at {venv})")
        log(f"creating the peers' environment {venv} with {base_python}")
        try:
            done = subprocess.run(
                [base_python, "-m", "venv", str(venv)],
                capture_output=True,
                text=True,
                check=False,
            )
        except OSError as error:
            return None, dict.fromkeys(peers, f"cannot create {venv}: {error}")
        if done.returncode != 0 or not python.exists():
            reason = _last_error(done.stderr or done.stdout)
            return None, dict.fromkeys(peers, f"cannot create {venv}: {reason}")
        # Ignored by git wherever it is put (Python 3.13's venv writes this file itself).
        (venv / ".gitignore").write_text("*\n", encoding="utf-8")
    names = ["torch", *peers]
    versions = installed_versions(python, names)
    if (
        install
        and any(p in NEEDS_TORCH for p in peers)
        and not _pinned(versions["torch"], TORCH_PIN)
    ):
        failure = _pip_install(python, TORCH_PIN, timeout)
        if failure:
            for peer in peers:
                if peer in NEEDS_TORCH:
                    problems[peer] = f"not installed: {failure}"
    for peer in peers:
        if peer in problems or _pinned(versions[peer], PEERS[peer]):
            continue
        if not install:
            found = versions[peer]
            problems[peer] = f"not installed ({found or 'absent'} in {venv}, want {PEERS[peer]})"
            continue
        failure = _pip_install(python, PEERS[peer], timeout)
        if failure:
            problems[peer] = f"not installed: {failure}"
    if install:
        versions = installed_versions(python, names)
        for peer in peers:
            if peer not in problems and not _pinned(versions[peer], PEERS[peer]):
                problems[peer] = f"not installed: found {versions[peer]}, want {PEERS[peer]}"
    return python, problems


# -------------------------------------------------------------------- measured processes


def vm_hwm(pid: int | str = "self") -> int | None:
    """Peak resident set (``VmHWM``) of a process in bytes, or None where /proc lacks it.

    This is the process's own high-water mark. ``ru_maxrss`` (``getrusage``, ``wait4``) is
    not: Linux carries the launching process's peak across fork and exec into it.
    """
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as stream:
            for line in stream:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass
class Measured:
    """One child process: how it ended, its wall time, peak resident set and CPU time."""

    returncode: int | None  # None when it was killed for running past the timeout
    seconds: float
    peak_rss_bytes: int | None  # VmHWM at the last poll (ru_maxrss where /proc is missing)
    timed_out: bool
    cpu_seconds: float  # user + system over all its threads (from wait4)
    system_seconds: float


#: Seconds between polls of a child's peak resident set.
POLL_S = 0.02


def run_measured(
    command: Sequence[str],
    *,
    timeout: float,
    stdout: Path,
    stderr: Path,
    cwd: Path = ROOT,
    env: dict[str, str] | None = None,
    preexec_fn: Any = None,
) -> Measured:
    """Run ``command`` (with ``env`` and ``preexec_fn`` as ``subprocess.Popen`` takes them),
    polling its own peak RSS (``VmHWM``) on a thread until it ends; kill on timeout.

    The wall time is taken the moment the child exits (it is waited for without being
    reaped, so that the poller never reads a new process under its pid); its CPU time
    comes from ``wait4``. The poll also gives a peak for a process that crashes or is
    killed; a process that reports its own ``VmHWM`` at its end is more exact still. On
    timeout the whole process group is killed.
    """
    peak: int | None = None
    done, timed_out = threading.Event(), threading.Event()
    with open(stdout, "wb") as out, open(stderr, "wb") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            list(command),
            stdout=out,
            stderr=err,
            cwd=cwd,
            env=env,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )

        def poll() -> None:
            nonlocal peak
            while not done.is_set():
                hwm = vm_hwm(process.pid)
                if hwm is not None:
                    peak = max(peak or 0, hwm)
                done.wait(POLL_S)

        def kill() -> None:
            timed_out.set()
            os.killpg(process.pid, signal.SIGKILL)

        poller = threading.Thread(target=poll, daemon=True)
        killer = threading.Timer(timeout, kill)
        poller.start()
        killer.start()
        try:
            os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
            seconds = time.perf_counter() - started
        except BaseException:  # interrupted: take the child (its own session) down too
            os.killpg(process.pid, signal.SIGKILL)
            raise
        finally:
            done.set()
            killer.cancel()
            poller.join()
            _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)  # reaped here, not by Popen
    if peak is None:  # no /proc: ru_maxrss, which may include this process's own peak
        peak = usage.ru_maxrss if sys.platform == "darwin" else usage.ru_maxrss * 1024
    killed = timed_out.is_set()
    return Measured(
        None if killed else process.returncode,
        seconds,
        peak,
        killed,
        usage.ru_utime + usage.ru_stime,
        usage.ru_stime,
    )


# ------------------------------------------------------------------------ the comparison


@dataclass
class Outcome:
    """One estimator's row of the table."""

    estimator: str
    status: str  # "ok", or why there are no numbers
    version: str = ""
    fit_seconds: float | None = None
    fit_cpu_seconds: float | None = None  # user + system time of the fit, all threads
    total_seconds: float | None = None
    peak_rss_bytes: int | None = None
    spearman_difficulty: float | None = None
    spearman_discrimination: float | None = None
    rmse_difficulty: float | None = None
    median_error_difficulty: float | None = None
    scale_difficulty: float | None = None  # interquartile range of estimates / of the truth
    spearman_guessing: float | None = None  # 3PL
    rmse_guessing: float | None = None  # 3PL
    loglik: float | None = None  # 3PL: exact marginal log-likelihood at the estimates
    converged: bool | None = None
    iterations: str = ""
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def short_status(self) -> str:
        """The status up to its first explanation: "not installed", "crashed", "timed out..."."""
        return self.status.split(":", 1)[0].split(" (", 1)[0]


def _finite_pairs(estimate: np.ndarray, truth: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keep = np.isfinite(estimate)
    return estimate[keep], truth[keep]


def _iqr(values: np.ndarray) -> float:
    high, low = np.percentile(values, [75, 25])
    return float(high - low)


def read_estimates(out: Path) -> dict[str, np.ndarray]:
    """A worker's estimates: ``estimates.npz`` (Python) or ``estimates.csv`` (R: b, a, g)."""
    if (out / "estimates.npz").exists():
        with np.load(out / "estimates.npz") as stored:
            return {name: stored[name] for name in stored.files}
    table = np.genfromtxt(out / "estimates.csv", delimiter=",", names=True)
    return {"difficulty": table["b"], "discrimination": table["a"], "guessing": table["g"]}


def score(estimates: dict[str, np.ndarray], truth: dict[str, np.ndarray]) -> dict[str, Any]:
    """Spearman of difficulty and discrimination (and guessing, when the truth has ``c``),
    RMSE of difficulty (and guessing), non-finite count."""
    b_hat, b = _finite_pairs(estimates["difficulty"], truth["b"])
    a_hat, a = _finite_pairs(estimates["discrimination"], truth["a"])
    return {
        "spearman_difficulty": float(spearmanr(b_hat, b)[0]) if len(b) > 2 else float("nan"),
        "spearman_discrimination": float(spearmanr(a_hat, a)[0]) if len(a) > 2 else float("nan"),
        "rmse_difficulty": float(np.sqrt(np.mean((b_hat - b) ** 2))) if len(b) else float("nan"),
        "median_error_difficulty": float(np.median(np.abs(b_hat - b))) if len(b) else float("nan"),
        "scale_difficulty": _iqr(b_hat) / _iqr(b) if len(b) > 2 else float("nan"),
        "non_finite": int(len(truth["b"]) - len(b)),
        **(_guessing_scores(estimates, truth) if "c" in truth else {}),
    }


def _guessing_scores(estimates: dict[str, np.ndarray], truth: dict[str, np.ndarray]) -> dict:
    c_hat, c = _finite_pairs(estimates.get("guessing", np.full_like(truth["c"], np.nan)),
                             truth["c"])  # fmt: skip
    if len(c) < 3:
        return {"spearman_guessing": float("nan"), "rmse_guessing": float("nan")}
    return {
        "spearman_guessing": float(spearmanr(c_hat, c)[0]),
        "rmse_guessing": float(np.sqrt(np.mean((c_hat - c) ** 2))),
    }


def exact_loglik(data: tuple[np.ndarray, np.ndarray], estimates: dict[str, np.ndarray]) -> float:
    """Marginal log-likelihood of a complete 0/1 log at the estimates, theta ~ N(0, 1), by a
    trapezoid rule on 2,001 nodes on [-10, 10]: the same yardstick for every program,
    whatever its own quadrature. ``data`` = (distinct patterns x items, their counts)."""
    patterns, counts = data
    theta = np.linspace(-10.0, 10.0, 2001)
    log_weight = -0.5 * theta**2 - logsumexp(-0.5 * theta**2)
    b, a = estimates["difficulty"], estimates["discrimination"]
    c = np.nan_to_num(estimates.get("guessing", np.zeros_like(b)))
    z = a[:, None] * (theta - b[:, None])
    with np.errstate(divide="ignore"):
        log_c, log_not_c = np.log(c)[:, None], np.log1p(-c)[:, None]
    log_p = np.logaddexp(log_c, log_not_c + log_expit(z))
    log_q = log_not_c + log_expit(-z)
    joint = patterns @ log_p + (1 - patterns) @ log_q + log_weight
    return float(counts @ logsumexp(joint, axis=1))


def run_estimator(
    name: str,
    python: Path,
    data: Path,
    truth: dict[str, np.ndarray],
    workdir: Path,
    *,
    timeout: float,
    epochs: int,
    seed: int,
    extra: Sequence[str] = (),
    label: str | None = None,
) -> Outcome:
    """Run the worker for ``name`` (with ``extra`` arguments) and score its estimates;
    ``label`` names the row (default ``name``)."""
    label = label or name
    out = workdir / label
    out.mkdir(parents=True, exist_ok=True)
    command = [str(python), str(WORKER), name, str(data), str(out)]
    command += ["--epochs", str(epochs), "--seed", str(seed), *extra]
    log(f"running {label} (timeout {timeout:.0f} s)")
    return _collect(
        label,
        out,
        run_measured(
            command, timeout=timeout, stdout=out / "stdout.txt", stderr=out / "stderr.txt"
        ),
        truth,
    )


def _collect(name: str, out: Path, measured: Measured, truth: dict[str, np.ndarray]) -> Outcome:
    """The row of a finished (or failed) estimator process that wrote into ``out``."""
    if measured.timed_out:
        return Outcome(
            name,
            f"timed out after {measured.seconds:.0f} s",
            total_seconds=measured.seconds,
            peak_rss_bytes=measured.peak_rss_bytes,
        )
    result_file = out / "result.json"
    if measured.returncode != 0 or not result_file.exists():
        stderr = (out / "stderr.txt").read_text(encoding="utf-8", errors="replace")
        how = (
            f"killed by signal {-measured.returncode}"
            if measured.returncode is not None and measured.returncode < 0
            else f"exit code {measured.returncode}"
        )
        return Outcome(
            name,
            f"crashed ({how}): {_last_error(stderr)}",
            total_seconds=measured.seconds,
            peak_rss_bytes=measured.peak_rss_bytes,
        )
    result = json.loads(result_file.read_text(encoding="utf-8"))
    estimates = read_estimates(out)
    scores = score(estimates, truth)
    iterations = f"{result['iterations']} {result['iteration_unit']}"
    if result.get("converged") is False:
        iterations += " (not converged)"
    notes = result.get("notes", "")
    if scores["non_finite"]:
        notes += f"; {scores['non_finite']} items without a finite estimate (left out)"
    log(
        f"  {name}: fit {result['fit_seconds']:.1f} s, total {measured.seconds:.1f} s, "
        f"Spearman b {scores['spearman_difficulty']:.3f}, "
        f"a {scores['spearman_discrimination']:.3f}"
    )
    return Outcome(
        name,
        "ok",
        version=result["version"],
        fit_seconds=result["fit_seconds"],
        total_seconds=measured.seconds,
        peak_rss_bytes=max(measured.peak_rss_bytes or 0, result.get("peak_rss_bytes") or 0),
        spearman_difficulty=scores["spearman_difficulty"],
        spearman_discrimination=scores["spearman_discrimination"],
        rmse_difficulty=scores["rmse_difficulty"],
        median_error_difficulty=scores["median_error_difficulty"],
        scale_difficulty=scores["scale_difficulty"],
        spearman_guessing=scores.get("spearman_guessing"),
        rmse_guessing=scores.get("rmse_guessing"),
        fit_cpu_seconds=result.get("fit_cpu_seconds"),
        converged=result.get("converged"),
        loglik=exact_loglik(truth["data"], estimates) if "data" in truth else None,
        iterations=iterations,
        notes=notes,
        extra={k: result[k] for k in ("import_seconds", "load_seconds", "python") if k in result},
    )


def run_repeated(
    name: str,
    python: Path,
    data: Path,
    truth: dict[str, np.ndarray],
    workdir: Path,
    *,
    repeats: int,
    **options: Any,
) -> Outcome:
    """Run an estimator ``repeats`` times; keep the run with the median fit CPU time.

    Cheap runs are repeated because on a shared machine one run can land on a busy moment.
    """
    runs = []
    for repeat in range(repeats):
        outcome = run_estimator(name, python, data, truth, workdir / f"run-{repeat}", **options)
        if not outcome.ok:
            return outcome
        runs.append(outcome)
    if repeats == 1:
        return runs[0]
    runs.sort(key=lambda o: o.fit_cpu_seconds or 0.0)
    chosen = runs[(len(runs) - 1) // 2]
    fits = [o.fit_cpu_seconds or 0.0 for o in runs]
    chosen.notes += (
        f"; the run with the median fit CPU time of {repeats} "
        f"(fit {_seconds(min(fits))} to {_seconds(max(fits))} CPU s)"
    )
    return chosen


@dataclass
class ThreePL:
    """The 3PL comparison: stepladder (default priors, no priors) and R's mirt."""

    n_learners: int
    n_items: int
    true_loglik: float
    outcomes: list[Outcome]


def simulate_3pl(n_learners: int, n_items: int, seed: int) -> dict[str, np.ndarray]:
    """A complete 3PL log (theta, b ~ N(0, 1), a ~ LogNormal(0, 0.3), c ~ Beta(5, 17)),
    long form like :func:`simulate_log`, with the dense learners x items matrix."""
    rng = np.random.default_rng([seed, 3])
    theta, b = rng.normal(0.0, 1.0, n_learners), rng.normal(0.0, 1.0, n_items)
    a, c = rng.lognormal(0.0, 0.3, n_items), rng.beta(5.0, 17.0, n_items)
    p = c + (1.0 - c) / (1.0 + np.exp(-a * (theta[:, None] - b)))
    matrix = (rng.random(p.shape) < p).astype(np.int8)
    learner, item = np.nonzero(np.ones_like(matrix, dtype=bool))
    return {
        "learner": learner.astype(np.int32),
        "item": item.astype(np.int32),
        "correct": matrix.ravel(),
        "n_learners": np.array(n_learners),
        "n_items": np.array(n_items),
        "matrix": matrix,
        "a": a,
        "b": b,
        "c": c,
    }


def r_package_version(rscript: str | None, package: str) -> tuple[str | None, str | None]:
    """(version, None) of an R package in R's library paths, or (None, why it cannot run).

    R finds packages in its library paths: its own, then those in the environment
    variable ``R_LIBS`` (and ``R_LIBS_USER``); point ``R_LIBS`` at the folder where mirt was
    built (see docs/benchmarks.md)."""
    if rscript is None or shutil.which(rscript) is None:
        return None, "not installed (no Rscript found; --rscript names one)"
    probe = f'cat(as.character(packageVersion("{package}")))'
    try:
        done = subprocess.run(
            [rscript, "-e", probe], capture_output=True, text=True, timeout=120, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return None, f"not installed (Rscript failed: {error})"
    if done.returncode != 0 or not done.stdout.strip():
        where = os.environ.get("R_LIBS") or "unset"
        return None, (
            f"not installed (R package {package} is not in R's library paths; R_LIBS is "
            f"{where}: set it to the folder where {package} is built, see docs/benchmarks.md)"
        )
    return done.stdout.strip(), None


def compare_3pl(args: argparse.Namespace, workdir: Path) -> ThreePL:
    """stepladder's 3PL (default priors and none) and R mirt's on one seeded 3PL log."""
    n_learners, n_items = args.three_pl_shape
    log(f"3PL: simulating {n_learners:,} learners x {n_items:,} items")
    data = simulate_3pl(n_learners, n_items, args.seed)
    matrix = data.pop("matrix")
    patterns, counts = np.unique(matrix, axis=0, return_counts=True)
    truth = {name: data[name] for name in ("a", "b", "c")}
    truth["data"] = (patterns.astype(np.float64), counts.astype(np.float64))
    true_loglik = exact_loglik(
        truth["data"], {"difficulty": data["b"], "discrimination": data["a"], "guessing": data["c"]}
    )
    workdir.mkdir(parents=True, exist_ok=True)
    data_file, csv_file = workdir / "responses.npz", workdir / "responses.csv"
    np.savez(data_file, **data)
    header = ",".join(f"item{i}" for i in range(n_items))
    np.savetxt(csv_file, matrix, fmt="%d", delimiter=",", header=header, comments="")
    outcomes = []
    for label, extra in (("stepladder-3pl", []), ("stepladder-3pl-no-priors", ["--no-priors"])):
        options = {"timeout": args.timeout, "epochs": args.epochs, "seed": args.seed}
        options.update(repeats=args.repeats, extra=["--model", "3pl", *extra], label=label)
        python = Path(sys.executable)
        outcomes.append(  # without standard errors, as mirt's SE = FALSE
            run_repeated("stepladder-no-se", python, data_file, truth, workdir / label, **options)
        )
    version, problem = (None, "skipped (--skip-peers)") if args.skip_peers else (
        r_package_version(args.rscript, "mirt"))  # fmt: skip
    if problem:
        log(f"skipping mirt-r: {problem}")
        outcomes.append(Outcome("mirt-r", problem))
    else:
        out = workdir / "mirt-r"
        out.mkdir(parents=True, exist_ok=True)
        log(f"running mirt-r {version} (timeout {args.timeout:.0f} s)")
        command = [str(args.rscript), str(R_WORKER), "3PL", str(csv_file), str(out)]
        measured = run_measured(
            command, timeout=args.timeout, stdout=out / "stdout.txt", stderr=out / "stderr.txt"
        )
        outcomes.append(_collect("mirt-r", out, measured, truth))
    return ThreePL(n_learners, n_items, true_loglik, outcomes)


@dataclass
class Comparison:
    n_learners: int
    n_items: int
    n_responses: int
    missing: float
    seed: int
    epochs: int
    timeout: float
    outcomes: list[Outcome]
    load_before: tuple[float, float, float] | None
    load_after: tuple[float, float, float] | None
    three_pl: ThreePL | None = None

    @property
    def stepladder(self) -> Outcome:
        return self.outcomes[0]

    @property
    def peers(self) -> list[Outcome]:
        return [o for o in self.outcomes[1:] if not o.estimator.startswith("stepladder")]

    @property
    def variants(self) -> list[Outcome]:
        """Other stepladder configurations (e.g. without standard errors)."""
        return [o for o in self.outcomes[1:] if o.estimator.startswith("stepladder")]


def _loadavg() -> tuple[float, float, float] | None:
    try:
        return os.getloadavg()
    except OSError:
        return None


def compare(args: argparse.Namespace) -> Comparison:
    n_learners, n_items = args.learners, args.items
    peers = [] if args.skip_peers else args.peers
    peers_python, problems = None, {}
    if peers:
        peers_python, problems = prepare_peers(
            args.peers_venv,
            args.peers_python,
            peers,
            install=not args.no_install,
            timeout=args.install_timeout,
        )
    load_before = _loadavg()
    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    workdir = Path(tempfile.mkdtemp(prefix="irt-vs-peers-", dir=args.workdir))
    try:
        log(f"simulating {n_learners:,} learners x {n_items:,} items in {workdir}")
        data = simulate_log(n_learners, n_items, args.missing, args.seed)
        truth = {"a": data["a"], "b": data["b"]}
        n_responses = len(data["correct"])
        data_file = workdir / "responses.npz"
        np.savez(data_file, **data)
        del data
        outcomes = [
            run_repeated(
                variant,
                Path(sys.executable),
                data_file,
                truth,
                workdir / variant,
                repeats=args.repeats,
                timeout=args.timeout,
                epochs=args.epochs,
                seed=args.seed,
            )
            for variant in ("stepladder", "stepladder-no-se")
        ]
        for peer in peers:
            if peer in problems or peers_python is None:
                outcomes.append(Outcome(peer, problems.get(peer, "not installed")))
                continue
            outcomes.append(
                run_estimator(
                    peer,
                    peers_python,
                    data_file,
                    truth,
                    workdir,
                    timeout=args.timeout,
                    epochs=args.epochs,
                    seed=args.seed,
                )
            )
        three_pl = None if args.skip_3pl else compare_3pl(args, workdir / "3pl")
    finally:
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return Comparison(
        n_learners=n_learners,
        n_items=n_items,
        n_responses=n_responses,
        missing=args.missing,
        seed=args.seed,
        epochs=args.epochs,
        timeout=args.timeout,
        outcomes=outcomes,
        load_before=load_before,
        load_after=_loadavg(),
        three_pl=three_pl,
    )


# ------------------------------------------------------------------------------- report


def _num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def _seconds(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if value < 10 else f"{value:.1f}" if value < 100 else f"{value:.0f}"


def _mib(value: int | None) -> str:
    return "—" if value is None else f"{value / MIB:,.0f}"


def _load_note(res: Comparison) -> str:
    if res.load_before is None or res.load_after is None:
        return ""
    cpus = os.cpu_count() or 1
    busy = max(res.load_before[0], res.load_after[0]) > 0.5 * cpus
    text = (
        f"Load average (1 min) before the runs {res.load_before[0]:.2f}, after "
        f"{res.load_after[0]:.2f}"
    )
    if busy:
        text += (
            ": the machine was busy with other work, so absolute times are noisy and the "
            "ratios are the headline"
        )
    return text + "."


def interpretation(res: Comparison) -> list[str]:
    """Sentences derived from the measured numbers (no conclusion is decided in advance)."""
    mine = res.stepladder
    if not mine.ok or mine.fit_seconds is None:
        return [f"stepladder produced no result ({mine.status}), so no goal can be judged."]
    sentences = []
    size = f"{res.n_responses:,} responses"
    verdict = "meets" if mine.fit_seconds < FIT_GOAL_S else "misses"
    sentences.append(
        f"stepladder fitted the 2PL to {size} in {_seconds(mine.fit_seconds)} s "
        f"({_seconds(_cpu(mine))} CPU s), which {verdict} the {FIT_GOAL_S:g} s goal"
        + (
            ""
            if res.n_responses >= 10**7
            else " (on this smaller data set; the goal is set for 10 million responses)"
        )
        + "."
    )
    finished = [p for p in res.peers if p.ok and _cpu(p) is not None]
    if finished:
        fastest = min(finished, key=lambda p: _cpu(p) or np.inf)
        ratio = (_cpu(fastest) or np.nan) / (_cpu(mine) or np.nan)
        verdict = "meets" if ratio >= SPEEDUP_GOAL else "misses"
        sentences.append(
            f"The peer that used the least CPU time, {fastest.estimator}, took "
            f"{_seconds(_cpu(fastest))} CPU s, {ratio:.1f}{TIMES} stepladder's, "
            f"which {verdict} the {SPEEDUP_GOAL:g}{TIMES} goal."
        )
        for variant in res.variants:
            if variant.ok and _cpu(variant):
                ratio = (_cpu(fastest) or np.nan) / (_cpu(variant) or np.nan)
                verdict = "meets" if ratio >= SPEEDUP_GOAL else "misses"
                sentences.append(
                    f"Without item standard errors ({variant.estimator}; girth and py-irt "
                    f"compute none), the fit took {_seconds(_cpu(variant))} CPU s, "
                    f"{ratio:.1f}{TIMES} less than {fastest.estimator}, which {verdict} the "
                    f"{SPEEDUP_GOAL:g}{TIMES} goal."
                )
        for label, key in (
            ("difficulty", "spearman_difficulty"),
            ("discrimination", "spearman_discrimination"),
        ):
            best = max(finished, key=lambda p: getattr(p, key) or -np.inf)
            ours, theirs = getattr(mine, key), getattr(best, key)
            if ours >= theirs:
                verdict = "is at least as good as"
            elif ours >= theirs - RECOVERY_TOLERANCE:
                verdict = f"matches, within {RECOVERY_TOLERANCE:g},"
            else:
                verdict = "is worse than"
            sentences.append(
                f"stepladder's {label} Spearman, {ours:.3f}, {verdict} the best peer's "
                f"({best.estimator}, {theirs:.3f})."
            )
    elif res.peers:
        sentences.append("No peer finished, so the speed-up and recovery goals cannot be judged.")
    else:
        sentences.append("No peer was run, so neither speed-up nor relative recovery is measured.")
    stretched = [
        o
        for o in res.outcomes
        if o.ok and o.scale_difficulty is not None and abs(np.log(o.scale_difficulty)) > SCALE_OFF
    ]
    for o in stretched:
        sentences.append(
            f"{o.estimator}'s difficulties spread {o.scale_difficulty:.2f} times as wide as the "
            "true ones (interquartile ranges), so its difficulty errors reflect a different "
            "scale (set by its priors or its identification of the ability scale), not its "
            "ranking."
        )
    missing = [p for p in res.peers if not p.ok]
    if missing:
        sentences.append(
            "Without numbers (reasons above): "
            + "; ".join(f"{p.estimator} ({p.short_status})" for p in missing)
            + "."
        )
    if mine.peak_rss_bytes is not None:
        under = mine.peak_rss_bytes < MEMORY_GOAL_BYTES
        sentences.append(
            f"stepladder's process peaked at {_mib(mine.peak_rss_bytes)} MiB resident, "
            + ("under" if under else "over")
            + f" the 2 GB ({MEMORY_GOAL_BYTES / MIB:,.0f} MiB) goal."
        )
    return sentences


def _cpu(o: Outcome) -> float | None:
    """The fit's CPU seconds (all threads), the measure of work on a shared machine."""
    return o.fit_cpu_seconds if o.fit_cpu_seconds is not None else o.fit_seconds


def _ratio(o: Outcome, mine: Outcome) -> str:
    ours, theirs = _cpu(mine), _cpu(o)
    if not (o.ok and mine.ok and ours and theirs is not None):
        return "—"
    return f"{theirs / ours:.1f}{TIMES}"


#: How the benchmark finds R's mirt, and how to build it where CRAN cannot be reached.
R_SETUP = """**R's mirt.** The benchmark runs `Rscript` (`--rscript`, default the one on \
`PATH`) on `benchmarks/_peers/mirt.R`, and R finds mirt in its library paths: its own, \
then the folders in the environment variable `R_LIBS`. No R package is installed at run \
time: without R or mirt the row says "not installed" and the rest runs (`--skip-3pl` \
leaves the comparison out). R's mirt is not in the 2PL table: \
on a tenth of its items (1,000 learners x 2,000 items, half missing) its 2PL fit was still \
running after 4 CPU minutes (stopped; measured 2026-12-06), so on 20,000 items it would \
run past the timeout. Where CRAN is reachable, `install.packages("mirt")` is \
enough. Here it is not: Debian's R 4.2.2 (`apt-get install r-base-core`) and its \
r-cran-* packages supplied most of mirt's dependencies (GPArotation, Rcpp, \
RcppArmadillo, pbapply, progressr, mgcv, vegan, ...), and mirt 1.45.1 with the rest, \
Deriv, dcurver, audio, beepr and SimDesign, was built from the packages' CRAN sources \
(the read-only mirrors at github.com/cran/PKG), dependencies first:

    mkdir -p /tmp/rlib /tmp/rsrc/PKG   # PKG's source tree, e.g. a clone of github.com/cran/PKG
    R_LIBS=/tmp/rlib R CMD INSTALL -l /tmp/rlib /tmp/rsrc/PKG
    R_LIBS=/tmp/rlib Rscript -e 'library(mirt)'   # check
    R_LIBS=/tmp/rlib .venv/bin/python benchmarks/irt_vs_peers.py --no-install"""


def render_3pl(res: ThreePL) -> list[str]:
    """The 3PL subsection: table and reading."""
    mine = res.outcomes[1]  # no priors: the same objective as mirt's
    finished = [o for o in res.outcomes if o.ok and o.loglik is not None]
    best = max((o.loglik for o in finished), default=None)
    rows = []
    for o in res.outcomes:
        rows.append(
            [
                o.estimator,
                o.version or "—",
                _seconds(o.fit_seconds) if o.ok else o.short_status,
                _seconds(o.fit_cpu_seconds),
                "—" if o.loglik is None else f"{o.loglik:,.2f}",
                "—" if o.loglik is None or best is None else f"{o.loglik - best:.2f}",
                _num(o.spearman_difficulty, 3),
                _num(o.spearman_discrimination, 3),
                _num(o.spearman_guessing, 3),
                _num(o.rmse_guessing, 3),
                o.iterations or "—",
                _ratio(o, mine),
            ]
        )
    table = markdown_table(
        ["estimator", "version", "fit s", "fit CPU s", "log-likelihood at its estimates",
         "minus the best", "difficulty Spearman", "discrimination Spearman", "guessing Spearman",
         "guessing RMSE", "iterations", "fit CPU ÷ stepladder (no priors)"],
        rows,
        right_from=2,
    )  # fmt: skip
    notes = [
        f"- **{o.estimator} {o.version}**: {o.notes}."
        if o.ok
        else f"- **{o.estimator}**: {o.status}."
        for o in res.outcomes
    ]
    return [
        "### 3PL: stepladder vs R's mirt",
        f"Data: one seeded 3PL log of {res.n_learners:,} learners {TIMES} {res.n_items:,} items, "
        "complete, with theta ~ N(0, 1), b ~ N(0, 1), a ~ LogNormal(0, 0.3) and guessing c ~ "
        f"Beta(5, 17). Each program runs in its own process on the same data (R reads it as "
        "CSV). The log-likelihood is each program's estimates put through one yardstick, "
        "the exact marginal log-likelihood by a trapezoid rule on 2,001 nodes on [-10, 10], "
        f"whatever the program's own quadrature; at the true parameters it is "
        f"{res.true_loglik:,.2f}. *fit CPU s* is user + system time of the fit, all threads. "
        "The default priors (Beta(2, 12) on c, a lognormal slope prior, N(0, 3^2) on b) "
        "maximise a penalised likelihood, so their row sits below the unpenalised optimum by "
        "design; the no-priors row maximises the same likelihood as mirt.",
        table,
        "\n".join(notes),
        " ".join(interpretation_3pl(res)),
        R_SETUP,
    ]


def interpretation_3pl(res: ThreePL) -> list[str]:
    """Sentences from the measured 3PL numbers."""
    mine, peer = res.outcomes[1], res.outcomes[-1]
    if not mine.ok or mine.loglik is None:
        return [f"stepladder's 3PL without priors produced no result ({mine.status})."]
    if not peer.ok or peer.loglik is None:
        return [f"R's mirt produced no result ({peer.status}), so nothing is compared."]
    ours, theirs = _cpu(mine) or np.nan, _cpu(peer) or np.nan
    faster = "less" if ours < theirs else "more"
    sentences = [
        f"Without priors stepladder's 3PL fit took {_seconds(ours)} CPU s against mirt's "
        f"{_seconds(theirs)} ({ours / theirs:.2f}{TIMES} mirt's CPU time: {faster})."
    ]
    gap = mine.loglik - peer.loglik
    if abs(gap) <= 0.01:
        sentences.append(f"Both reach the same optimum (log-likelihoods {gap:+.3f} apart).")
    else:
        higher = "stepladder's" if gap > 0 else "mirt's"
        sentences.append(
            f"{higher} optimum is higher by {abs(gap):.2f} in log-likelihood (stepladder "
            f"{mine.loglik:,.2f}, mirt {peer.loglik:,.2f})."
        )
    if peer.converged is False:
        sentences.append("mirt stopped at its cycle limit without converging.")
    return sentences


def render(res: Comparison, command: str) -> str:
    mine = res.stepladder
    rows = []
    for o in res.outcomes:
        ratio = _ratio(o, mine)
        fit = _seconds(o.fit_seconds) if o.ok else o.short_status
        rows.append(
            [
                o.estimator,
                o.version or "—",
                fit,
                _seconds(o.fit_cpu_seconds),
                _seconds(o.total_seconds),
                _mib(o.peak_rss_bytes),
                _num(o.spearman_difficulty, 3),
                _num(o.spearman_discrimination, 3),
                _num(o.rmse_difficulty, 3),
                _num(o.median_error_difficulty, 3),
                _num(o.scale_difficulty, 2),
                o.iterations or "—",
                ratio,
            ]
        )
    table = markdown_table(
        [
            "estimator",
            "version",
            "fit s",
            "fit CPU s",
            "total s",
            "peak RSS MiB",
            "difficulty Spearman",
            "discrimination Spearman",
            "difficulty RMSE",
            "difficulty median abs. error",
            "difficulty scale (IQR ratio)",
            "iterations",
            "fit CPU ÷ stepladder",
        ],
        rows,
        right_from=2,
    )
    notes = []
    for o in res.outcomes:
        if o.ok:
            notes.append(f"- **{o.estimator} {o.version}**: {o.notes}.")
        else:
            notes.append(f"- **{o.estimator}**: {o.status}.")
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d")
    load = _load_note(res)
    parts = [
        "## IRT calibration: stepladder vs py-irt, girth and mirt",
        f"Reproduce with {command}. Measured {stamp} on: {machine_description(memory=True)}."
        + (f" {load}" if load else ""),
        f"Data: one seeded (seed {res.seed}) 2PL log of {res.n_learners:,} learners {TIMES} "
        f"{res.n_items:,} items with theta ~ N(0, 1), b ~ N(0, 1), a ~ LogNormal(0, 0.3) and "
        f"{res.missing:.0%} of the cells missing at random: {res.n_responses:,} responses, "
        "saved once and read by every estimator. Each estimator runs in a process of its own "
        "(stepladder in the project's environment, the peers in a separate one): *fit s* "
        "times the fit call alone; *total s* is the whole process (interpreter start, "
        "imports, reading and converting the data, fit); *peak RSS* is that process's peak "
        "resident set (its own `VmHWM`: `ru_maxrss` from `wait4` would include the launching "
        "process's peak, which Linux carries across fork and exec). Recovery is scored "
        "against the true parameters: Spearman correlations (the headline, as programs fix "
        "the scale differently), and the RMSE and median absolute error of the difficulties "
        "as returned, not rescaled (the RMSE is sensitive to a few far-out estimates, the "
        "median is not); *difficulty scale* is the interquartile range of the estimated "
        "difficulties over that of the true ones (1 when the program's ability scale is the "
        "simulated N(0, 1)). *fit CPU s* is the fit's user + system time over all its "
        "threads: on a machine shared with other work, wall time also counts the waiting, "
        "so CPU time is the measure of work, and the last column is each estimator's fit "
        "CPU time divided by stepladder's. Timeout per estimator: "
        f"{res.timeout:.0f} s.",
        table,
        "### Settings and failures",
        "\n".join(notes),
        "### Reading",
        " ".join(interpretation(res)),
    ]
    if res.three_pl is not None:
        parts += render_3pl(res.three_pl)
    return "\n\n".join(parts) + "\n"


# ---------------------------------------------------------------------------------- main


def _peer_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = sorted(set(names) - set(PEERS))
    if unknown:
        raise argparse.ArgumentTypeError(
            f"unknown peer(s) {', '.join(unknown)}; choose from {', '.join(PEERS)}"
        )
    return list(dict.fromkeys(names))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"small data ({QUICK_SHAPE[0]} x {QUICK_SHAPE[1]}), stepladder and the peers "
        "already installed (nothing is installed); writes a file only with --out",
    )
    parser.add_argument("--skip-peers", action="store_true", help="run stepladder alone")
    parser.add_argument(
        "--skip-3pl", action="store_true", help="leave out the 3PL comparison with R's mirt"
    )
    parser.add_argument(
        "--rscript",
        default=shutil.which("Rscript") or "Rscript",
        help="R's Rscript for the 3PL peer R mirt, found in R's library paths (set R_LIBS); "
        "a missing R or mirt is reported and skipped",
    )
    parser.add_argument(
        "--peers",
        type=_peer_list,
        default=list(PEERS),
        help=f"comma-separated peers to run (default {','.join(PEERS)})",
    )
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds per estimator (default 900)"
    )
    parser.add_argument("--learners", type=int, help=f"default {FULL_SHAPE[0]:,}")
    parser.add_argument("--items", type=int, help=f"default {FULL_SHAPE[1]:,}")
    parser.add_argument("--missing", type=float, default=0.5, help="share missing (0.5)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=300, help="py-irt's SVI epochs (300)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="stepladder runs; the median is reported (3)"
    )
    parser.add_argument(
        "--peers-venv",
        type=Path,
        default=DEFAULT_PEERS_VENV,
        help="the peers' environment, created when missing (default .venv-peers)",
    )
    parser.add_argument(
        "--peers-python",
        default=shutil.which("python3.11") or shutil.which("python3") or "python3",
        help="interpreter that creates the peers' environment (py-irt 0.7.1 needs < 3.12)",
    )
    parser.add_argument(
        "--no-install", action="store_true", help="never create or install; use what is there"
    )
    parser.add_argument(
        "--install-timeout", type=float, default=1800.0, help="seconds per pip install"
    )
    parser.add_argument("--workdir", type=Path, help="where the data and outputs go (a temp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the data and worker outputs")
    parser.add_argument("--out", type=Path, help="markdown file (default docs/benchmarks.md)")
    args = parser.parse_args(argv)
    shape = QUICK_SHAPE if args.quick else FULL_SHAPE
    args.learners = args.learners or shape[0]
    args.items = args.items or shape[1]
    args.three_pl_shape = QUICK_THREE_PL_SHAPE if args.quick else THREE_PL_SHAPE
    if args.quick:
        args.no_install = True
    if args.out is None and not args.quick:
        args.out = DEFAULT_OUT
    if min(args.learners, args.items) < 2 or not 0.0 <= args.missing < 1.0:
        parser.error("need at least 2 learners and 2 items, and --missing in [0, 1)")
    if args.timeout <= 0 or args.epochs < 1 or args.repeats < 1:
        parser.error("--timeout, --epochs and --repeats must be positive")
    return args


def exit_on_sigterm() -> None:
    """Turn SIGTERM into SystemExit, so temporary files go and running children are killed."""

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    exit_on_sigterm()
    started = time.perf_counter()
    result = compare(args)
    section = render(result, reproduce_command("irt_vs_peers.py", argv))
    print(section)
    if args.out is not None:
        update_section(args.out, section, START, END)
        log(f"wrote {args.out}")
    log(f"total {time.perf_counter() - started:.1f} s")
    return 0 if result.stepladder.ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
