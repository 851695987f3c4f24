"""Fit one estimator on a saved response log and write its estimates (a benchmark helper).

Run by ``benchmarks/irt_vs_peers.py``, one process per estimator, so each is timed and its
peak memory measured on its own: ``stepladder`` in the project's environment, the peers in
the separate peers' environment. It imports only NumPy and the standard library before the
estimator's own package, so it runs in either environment.

    python benchmarks/_peers/worker.py ESTIMATOR DATA.npz OUT_DIR [--epochs N] [--seed S]
        [--model 2pl|3pl] [--no-priors]

DATA.npz holds the long log (``learner``, ``item``, ``correct``; ids are the indices of the
true parameters) and the sizes ``n_learners`` and ``n_items``. OUT_DIR receives
``result.json`` (version, load and fit seconds, the fit's CPU seconds, iterations, notes)
and ``estimates.npz`` (``difficulty``, ``discrimination`` and, for stepladder, ``guessing``,
indexed by the true item index, NaN where an estimator returned nothing for an item).
``--model`` and ``--no-priors`` apply to stepladder (the 3PL comparison with R's mirt).
Recovery is scored by the caller, not here.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import resource
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

GIRTH_MISSING = -99999  # girth's marker for a missing response (girth.INVALID_RESPONSE)


def _version(distribution: str) -> str:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _aligned(n_items: int, index: np.ndarray, values: Any) -> np.ndarray:
    """Estimates placed at their true item index (NaN for items the estimator skipped)."""
    out = np.full(n_items, np.nan)
    out[np.asarray(index, dtype=np.int64)] = np.asarray(values, dtype=np.float64).ravel()
    return out


def _dense(log: dict[str, np.ndarray], missing: int, dtype: Any, items_first: bool) -> np.ndarray:
    """The log as a dense matrix, ``missing`` where there is no response."""
    shape = (int(log["n_items"]), int(log["n_learners"]))
    if not items_first:
        shape = shape[::-1]
    matrix = np.full(shape, missing, dtype=dtype)
    if items_first:
        matrix[log["item"], log["learner"]] = log["correct"]
    else:
        matrix[log["learner"], log["item"]] = log["correct"]
    return matrix


# Each runner returns (prepare, fit): ``prepare()`` converts the log into the estimator's
# input (timed as loading); ``fit(prepared)`` is the timed fit and returns a result dict.
Runner = tuple[Callable[[], Any], Callable[[Any], dict[str, Any]]]


def stepladder_runner(
    log: dict[str, np.ndarray], args: argparse.Namespace, *, standard_errors: bool = True
) -> Runner:
    from stepladder.difficulty import IRT, Responses

    def prepare() -> Any:
        return Responses.from_long(log["learner"], log["item"], log["correct"])

    options: dict[str, Any] = {"standard_errors": standard_errors}
    priors = "default priors"
    if args.no_priors:  # plain marginal ML, as ``stepladder grade --priors none``
        from stepladder.cli.grade import no_priors

        options["priors"], priors = no_priors(), "no priors (plain marginal ML)"

    def fit(responses: Any) -> dict[str, Any]:
        model = IRT(args.model, **options).fit(responses)
        ids = responses.item_ids.to_numpy()
        n_items = int(log["n_items"])
        errors = "item standard errors included" if standard_errors else "no standard errors"
        return {
            "difficulty": _aligned(n_items, ids, model.items_.difficulty),
            "discrimination": _aligned(n_items, ids, model.items_.discrimination),
            "guessing": _aligned(n_items, ids, model.items_.guessing),
            "loglik": float(model.report_.loglik),
            "iterations": model.report_.iterations,
            "iteration_unit": "EM iterations",
            "converged": bool(model.report_.converged),
            "notes": f"IRT('{args.model}') defaults: MML by EM, {priors}, {errors}",
        }

    return prepare, fit


def stepladder_no_se_runner(log: dict[str, np.ndarray], args: argparse.Namespace) -> Runner:
    """The same fit without standard errors, like girth's JML and py-irt's SVI."""
    return stepladder_runner(log, args, standard_errors=False)


def py_irt_runner(log: dict[str, np.ndarray], args: argparse.Namespace) -> Runner:
    import pyro
    import torch
    from py_irt.config import IrtConfig
    from py_irt.dataset import Dataset
    from py_irt.training import IrtModelTrainer

    def prepare() -> Any:
        n_items, n_learners = int(log["n_items"]), int(log["n_learners"])
        item_names = [str(i) for i in range(n_items)]
        learner_names = [str(k) for k in range(n_learners)]
        return Dataset(
            item_ids=item_names,
            subject_ids=learner_names,
            item_id_to_ix={name: i for i, name in enumerate(item_names)},
            ix_to_item_id=dict(enumerate(item_names)),
            subject_id_to_ix={name: k for k, name in enumerate(learner_names)},
            ix_to_subject_id=dict(enumerate(learner_names)),
            observation_subjects=log["learner"].tolist(),
            observation_items=log["item"].tolist(),
            observations=log["correct"].astype(np.float64).tolist(),
            training_example=[True] * len(log["correct"]),
        )

    def fit(dataset: Any) -> dict[str, Any]:
        pyro.set_rng_seed(args.seed)
        torch.manual_seed(args.seed)
        config = IrtConfig(model_type="2pl", epochs=args.epochs, seed=args.seed)
        trainer = IrtModelTrainer(
            data_path=Path(args.data), config=config, dataset=dataset, verbose=False
        )
        trainer.train(epochs=args.epochs, device="cpu")
        params = trainer.last_params
        ids = [int(params["item_ids"][ix]) for ix in range(len(params["diff"]))]
        n_items = int(log["n_items"])
        return {
            "difficulty": _aligned(n_items, ids, params["diff"]),
            "discrimination": _aligned(n_items, ids, params["disc"]),
            "iterations": args.epochs,
            "iteration_unit": "SVI epochs",
            "converged": None,
            "notes": (
                f"2PL, vague priors, SVI with Adam (lr 0.1), {args.epochs} full-batch epochs, "
                f"torch {torch.__version__} on {torch.get_num_threads()} threads"
            ),
        }

    return prepare, fit


def girth_runner(log: dict[str, np.ndarray], args: argparse.Namespace) -> Runner:
    import girth
    from girth.unidimensional.dichotomous import jml_methods

    if girth.INVALID_RESPONSE != GIRTH_MISSING:
        raise RuntimeError(f"girth's missing marker is {girth.INVALID_RESPONSE}, not -99999")
    # girth does not report its iterations; count its per-item optimiser calls instead (one
    # call per item in every JML iteration). The wrapper only counts and passes through.
    calls = [0]
    optimiser = jml_methods.fmin_slsqp

    def counting(*positional: Any, **keywords: Any) -> Any:
        calls[0] += 1
        return optimiser(*positional, **keywords)

    jml_methods.fmin_slsqp = counting

    def prepare() -> Any:
        return _dense(log, GIRTH_MISSING, np.int32, items_first=True)

    def fit(matrix: Any) -> dict[str, Any]:
        estimates = girth.twopl_jml(matrix)
        n_items = int(log["n_items"])
        index = np.arange(n_items)
        return {
            "difficulty": _aligned(n_items, index, estimates["Difficulty"]),
            "discrimination": _aligned(n_items, index, estimates["Discrimination"]),
            "iterations": calls[0] // n_items,
            "iteration_unit": "JML iterations",
            "converged": True if calls[0] // n_items < 25 else None,
            "notes": "twopl_jml, default options (at most 25 iterations)",
        }

    return prepare, fit


def mirt_runner(log: dict[str, np.ndarray], args: argparse.Namespace) -> Runner:
    import mirt

    def prepare() -> Any:
        return _dense(log, -1, np.int64, items_first=False)

    def fit(matrix: Any) -> dict[str, Any]:
        result = mirt.fit_mirt(matrix, model="2PL", se_method="complete_data")
        params = result.model.parameters
        n_items = int(log["n_items"])
        index = np.arange(n_items)
        return {
            "difficulty": _aligned(n_items, index, params["difficulty"]),
            "discrimination": _aligned(n_items, index, params["discrimination"]),
            "iterations": int(result.n_iterations),
            "iteration_unit": "EM iterations",
            "converged": bool(result.converged),
            "notes": (
                "fit_mirt(model='2PL', estimation='EM') defaults, item standard errors by "
                "se_method='complete_data' (the default, 'oakes', builds the full "
                f"{2 * n_items:,} \N{MULTIPLICATION SIGN} {2 * n_items:,} covariance)"
            ),
        }

    return prepare, fit


RUNNERS: dict[str, tuple[str, Callable[[dict[str, np.ndarray], argparse.Namespace], Runner]]] = {
    "stepladder": ("stepladder", stepladder_runner),
    "stepladder-no-se": ("stepladder", stepladder_no_se_runner),
    "py-irt": ("py-irt", py_irt_runner),
    "girth": ("girth", girth_runner),
    "mirt": ("mirt", mirt_runner),
}


def peak_rss_bytes() -> int:
    """This process's own peak RSS: ``VmHWM`` (``ru_maxrss`` counts the launcher's too)."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as stream:
            for line in stream:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("estimator", choices=sorted(RUNNERS))
    parser.add_argument("data", type=Path)
    parser.add_argument("out", type=Path)
    parser.add_argument("--epochs", type=int, default=300, help="py-irt's SVI epochs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--model", choices=("2pl", "3pl"), default="2pl", help="stepladder's")
    parser.add_argument("--no-priors", action="store_true", help="stepladder: plain ML")
    args = parser.parse_args(argv)
    distribution, make_runner = RUNNERS[args.estimator]
    started = time.perf_counter()
    with np.load(args.data) as stored:
        log = {name: stored[name] for name in stored.files}
    prepare, fit = make_runner(log, args)  # imports the estimator's package
    imported = time.perf_counter()
    prepared = prepare()
    loaded, cpu = time.perf_counter(), time.process_time()
    outcome = fit(prepared)
    fitted, cpu = time.perf_counter(), time.process_time() - cpu
    args.out.mkdir(parents=True, exist_ok=True)
    names = ("difficulty", "discrimination", "guessing")
    np.savez(args.out / "estimates.npz", **{k: outcome.pop(k) for k in names if k in outcome})
    outcome.update(
        estimator=args.estimator,
        version=_version(distribution),
        python=sys.version.split()[0],
        import_seconds=imported - started,
        load_seconds=loaded - imported,
        fit_seconds=fitted - loaded,
        fit_cpu_seconds=cpu,  # all of the process's threads
        peak_rss_bytes=peak_rss_bytes(),
    )
    (args.out / "result.json").write_text(json.dumps(outcome, indent=1), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
