"""Writing IRT-simulated logs as Parquet (for tests and benchmarks)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from stepladder.io import atomic_write

__all__ = ["write_synthetic_log"]


def write_synthetic_log(
    path: str | os.PathLike[str],
    n_learners: int,
    n_items: int,
    *,
    missing: float = 0.5,
    seed: int = 0,
    shards: int = 1,
    model: str = "2pl",
) -> dict[str, Any]:
    """Write an IRT-simulated long log as Parquet; return the true parameters.

    Draws ability theta ~ N(0, 1) per learner and, per item, difficulty b ~ N(0, 1),
    discrimination a ~ LogNormal(0, 0.3) (1 under ``"1pl"``) and guessing
    c ~ U(0.1, 0.3) (0 unless ``"3pl"``); each (learner, item) cell is present with
    probability ``1 - missing`` and correct with P = c + (1 - c) / (1 + exp(-a (theta - b))).
    Columns: learner_id (int64, the index into ``theta``), item_id (int64, the index into
    ``b``), correct (int8). With ``shards == 1`` and a ``.parquet`` path it writes that
    file, otherwise ``part-00000.parquet``, ... into the directory ``path``, each shard a
    contiguous block of learners. Memory stays bounded by a few million cells whatever the
    size, so 10**8 responses can be written.

    Returns a dict with arrays ``theta``, ``a``, ``b``, ``c`` and ``n_responses`` (int)
    and ``files`` (list of paths).

    Example:
        >>> import pathlib, tempfile
        >>> from stepladder.difficulty.logs import read_responses
        >>> path = pathlib.Path(tempfile.mkdtemp()) / "log.parquet"
        >>> truth = write_synthetic_log(path, 100, 20, missing=0.25, seed=1)
        >>> truth["theta"].shape, truth["b"].shape, read_responses(path).n_items
        ((100,), (20,), 20)
    """
    if n_learners < 1 or n_items < 1:
        raise ValueError(f"need at least one learner and one item, got {n_learners}, {n_items}")
    if not 0.0 <= missing < 1.0:
        raise ValueError(f"missing must be in [0, 1), got {missing}")
    if not 1 <= shards <= n_learners:
        raise ValueError(f"shards must be in [1, n_learners={n_learners}], got {shards}")
    if model not in ("1pl", "2pl", "3pl"):
        raise ValueError(f"model must be '1pl', '2pl' or '3pl', got {model!r}")
    path = Path(path)
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.0, n_learners)
    b = rng.normal(0.0, 1.0, n_items)
    a = rng.lognormal(0.0, 0.3, n_items)
    c = rng.uniform(0.1, 0.3, n_items)
    if model == "1pl":
        a = np.ones(n_items)
    if model != "3pl":
        c = np.zeros(n_items)
    if shards == 1 and path.suffix == ".parquet":
        files = [path]
    else:
        path.mkdir(parents=True, exist_ok=True)
        if any(path.glob("*.parquet")):
            raise ValueError(f"{path}: directory already holds .parquet files")
        files = [path / f"part-{k:05d}.parquet" for k in range(shards)]
    schema = pa.schema(
        [("learner_id", pa.int64()), ("item_id", pa.int64()), ("correct", pa.int8())]
    )
    bounds = np.linspace(0, n_learners, shards + 1).round().astype(np.int64)
    block = max(1, (1 << 22) // n_items)  # learners per chunk: ~4M cells at most
    n_responses = 0
    for shard, low, high in zip(files, bounds[:-1], bounds[1:], strict=True):
        with atomic_write(shard) as stream, pq.ParquetWriter(stream, schema) as writer:
            for first in range(int(low), int(high), block):
                last = min(first + block, int(high))
                logit = a * (theta[first:last, None] - b)
                p = c + (1.0 - c) / (1.0 + np.exp(-logit))
                present = rng.random(p.shape) >= missing
                correct = rng.random(p.shape) < p
                rows, cols = np.nonzero(present)
                n_responses += len(rows)
                batch = pa.record_batch(
                    [
                        pa.array(rows.astype(np.int64) + first),
                        pa.array(cols.astype(np.int64)),
                        pa.array(correct[rows, cols].astype(np.int8)),
                    ],
                    schema=schema,
                )
                writer.write_batch(batch, row_group_size=1 << 20)
    return {
        "theta": theta,
        "a": a,
        "b": b,
        "c": c,
        "n_responses": n_responses,
        "files": [str(f) for f in files],
    }
