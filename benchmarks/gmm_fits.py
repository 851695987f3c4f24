"""Time a refit of ALP-GMM and Covar-GMM: scikit-learn against stepladder's two engines.

Every ``fit_every=250`` episodes both teachers fit a full-covariance Gaussian mixture for
each of ``k = 2 .. 10`` components on the last 250 points and keep the lowest AIC. The
authors' code does it with scikit-learn's ``GaussianMixture`` (the peer here); stepladder
reproduces it in NumPy (``engine="numpy"``) and compiled with numba (``engine="numba"``,
the ``fast`` extra). On windows of points like each teacher's (ALP-GMM: 2-D tasks and an
ALP; Covar-GMM: 2-D tasks, a time and a score), this script measures the CPU time of one
refit (the 9 fits) by each, the ratio to scikit-learn, the largest difference of the
fitted means from scikit-learn's, and how often the same ``k`` is chosen. The table is
printed and written between the ``gmm_fits`` markers of ``docs/benchmarks.md``.

    .venv/bin/python benchmarks/gmm_fits.py [--windows N] [--repeats N] [--out PATH]
    .venv/bin/python benchmarks/gmm_fits.py --quick          # smoke run, writes nothing
"""

from __future__ import annotations

import argparse
import datetime
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from _markdown import (  # benchmarks/_markdown.py
    machine_description,
    markdown_table,
    reproduce_command,
    update_section,
)

from stepladder.strategies._engines import numba_installed
from stepladder.strategies._gmm import Mixture, fit_mixtures

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "docs" / "benchmarks.md"
START = "<!-- gmm_fits:start -->"
END = "<!-- gmm_fits:end -->"
COUNTS = range(2, 11)
POINTS = 250


def alp_window(seed: int) -> np.ndarray:
    """ALP-GMM's points: tasks in [0, 1]^2 and an ALP in eighths (8 rollouts), high where
    the first parameter is small."""
    rng = np.random.default_rng(seed)
    tasks = rng.random((POINTS, 2))
    progress = rng.binomial(8, np.clip(0.6 - tasks[:, 0], 0.05, 1)) / 8
    return np.column_stack([tasks, progress * (rng.random(POINTS) < 0.7)])


def covar_window(seed: int) -> np.ndarray:
    """Covar-GMM's points: tasks, the time in the window and a score growing with time."""
    rng = np.random.default_rng(seed)
    tasks, times = rng.random((POINTS, 2)), np.arange(POINTS) / POINTS
    scores = rng.binomial(8, np.clip(times * (tasks[:, 0] < 0.5), 0.05, 0.95)) / 8
    return np.column_stack([tasks, times, scores])


def sklearn_fits(x: np.ndarray, seeds: Sequence[int]) -> list[Mixture | None]:
    """The 9 fits as the authors' code makes them: ``GaussianMixture(k, "full", seed)``, on
    one thread (its k-means would otherwise spin OpenMP threads: CPU time, not work)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.mixture import GaussianMixture
    from threadpoolctl import threadpool_limits

    fits: list[Mixture | None] = []
    for k, seed in zip(COUNTS, seeds, strict=True):
        model = GaussianMixture(k, covariance_type="full", random_state=seed)
        with warnings.catch_warnings(), threadpool_limits(1):
            warnings.simplefilter("ignore", ConvergenceWarning)
            try:
                model.fit(x)
            except ValueError:  # a singular covariance: stepladder skips that k
                fits.append(None)
                continue
        parameters = (model.weights_, model.means_, model.covariances_, model.score(x))
        run = (len(x), model.n_iter_, model.converged_, model.lower_bound_)
        fits.append(Mixture(*parameters, *run))
    return fits


def best_count(fits: Sequence[Mixture | None]) -> int:
    """The ``k`` of the lowest AIC."""
    scores = [fit.aic() if fit is not None else np.inf for fit in fits]
    return COUNTS[int(np.argmin(scores))]


def measure(windows: int, repeats: int) -> list[dict]:
    """One row per (teacher, fitter): median CPU ms per refit, agreement with scikit-learn."""
    fitters: dict[str, Callable[[np.ndarray, list[int]], list[Mixture | None]]] = {
        "scikit-learn": sklearn_fits,
        "stepladder, NumPy": lambda x, s: fit_mixtures(x, COUNTS, s, engine="numpy"),
    }
    if numba_installed():
        fitters["stepladder, numba"] = lambda x, s: fit_mixtures(x, COUNTS, s, engine="numba")
        fit_mixtures(alp_window(0), [2], [0], engine="numba")  # compile outside the clock
    rows = []
    for teacher, make in (("alp_gmm", alp_window), ("covar_gmm", covar_window)):
        data = [(make(w), [w * 100 + k for k in COUNTS]) for w in range(windows)]
        reference = [sklearn_fits(x, seeds) for x, seeds in data]
        for name, fitter in fitters.items():
            times = []
            for _ in range(repeats):  # fitters interleaved window by window: fair under noise
                for x, seeds in data:
                    start = time.process_time()
                    fitter(x, seeds)
                    times.append(time.process_time() - start)
            fits = [fitter(x, seeds) for x, seeds in data]
            pairs = [pair for ours, theirs in zip(fits, reference, strict=True)
                     for pair in zip(ours, theirs, strict=True)]  # fmt: skip
            same = [(a, b) for a, b in pairs if a and b and a.iterations == b.iterations]
            gaps = [np.abs(a.means - b.means).max() for a, b in same]
            rows.append(
                {
                    "teacher": teacher,
                    "fitter": name,
                    "ms": 1e3 * float(np.median(times)),
                    "means_gap": max(gaps, default=0.0),
                    "same_k": sum(
                        best_count(a) == best_count(b) for a, b in zip(fits, reference, strict=True)
                    ),
                    "windows": windows,
                }
            )
    return rows


def table(rows: list[dict]) -> str:
    peer = {row["teacher"]: row["ms"] for row in rows if row["fitter"] == "scikit-learn"}
    header = ["teacher", "fitter", "CPU ms per refit (median)", "vs scikit-learn",
              "largest gap in means", "same k as scikit-learn"]  # fmt: skip
    return markdown_table(
        header,
        [
            [
                f"`{row['teacher']}`",
                row["fitter"],
                f"{row['ms']:.2f}",
                "(peer)"
                if row["fitter"] == "scikit-learn"
                else f"{peer[row['teacher']] / row['ms']:.0f}x less CPU",
                "-" if row["fitter"] == "scikit-learn" else f"{row['means_gap']:.1e}",
                f"{row['same_k']} of {row['windows']}",
            ]
            for row in rows
        ],
        right_from=2,
    )


def section(rows: list[dict], argv: Sequence[str] | None, repeats: int) -> str:
    windows = rows[0]["windows"]
    engines = "" if numba_installed() else " numba was not installed: no compiled row."
    return "\n".join(
        [
            "## Gaussian-mixture refits (alp_gmm, covar_gmm)",
            "",
            f"Reproduce with {reproduce_command('gmm_fits.py', argv)}. Measured on "
            f"{machine_description()}, {datetime.date.today().isoformat()}.",
            "",
            f"One refit = the 9 fits (k = 2..10, full covariances) on one window of {POINTS} "
            f"points; {windows} windows per teacher, each refit timed {repeats} times "
            "(CPU time, fitters interleaved), median. The gap in means is the largest "
            "difference from scikit-learn's fitted means over the fits that took the same "
            "number of EM steps (a k-means tie broken the other way starts a different fit); "
            "the last column counts the windows where the lowest AIC picked the same k." + engines,
            "",
            table(rows),
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, help="windows of points per teacher (20)")
    parser.add_argument("--repeats", type=int, help="timed refits per window and fitter (3)")
    parser.add_argument("--out", type=Path, help="markdown file to update")
    parser.add_argument("--quick", action="store_true", help="smoke run; writes nothing")
    args = parser.parse_args(argv)
    windows = args.windows or (2 if args.quick else 20)
    repeats = args.repeats or (1 if args.quick else 3)
    out = None if args.quick else (args.out or DEFAULT_OUT)
    if out is not None and not out.parent.is_dir():
        parser.error(f"--out: no folder {out.parent}")
    rows = measure(windows, repeats)
    print(table(rows))
    if out is not None:
        update_section(out, section(rows, argv, repeats), START, END)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
