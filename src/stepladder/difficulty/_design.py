"""Response logs as learner x item matrices for the matrix products IRT estimation needs.

One EM iteration of marginal maximum likelihood reduces to three products between the
(learner x item) matrices of successes ``Y`` and attempts ``N`` and an (item x node) or
(learner x node) matrix. Dense float32 matrices let BLAS run those products on every core;
when the log is too sparse for that to pay off, SciPy CSR matrices hold only the responses.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from stepladder.difficulty.responses import Responses

__all__ = ["ResponseMatrices"]

#: Use dense matrices when they cost at most this many bytes (both of them together) ...
DENSE_BYTES_LIMIT = 2 * 1024**3
#: ... and the log fills at least this share of the learner x item cells.
DENSE_MIN_FILL = 0.2


@dataclass
class ResponseMatrices:
    """Successes ``Y`` and attempts ``N`` (learners x items), dense or CSR, float32.

    Missing responses are zero in both, so they drop out of every sum.
    """

    successes: np.ndarray | sp.csr_matrix
    attempts: np.ndarray | sp.csr_matrix
    dense: bool

    @classmethod
    def from_responses(cls, responses: Responses, *, dense: bool | None = None) -> ResponseMatrices:
        shape = (responses.n_learners, responses.n_items)
        cells = shape[0] * shape[1]
        if dense is None:
            fill = len(responses) / cells
            dense = 2 * 4 * cells <= DENSE_BYTES_LIMIT and fill >= DENSE_MIN_FILL
        flat = responses.learner.astype(np.int64) * shape[1] + responses.item
        if dense:
            successes = _accumulate(flat, responses.successes, cells).reshape(shape)
            attempts = _accumulate(flat, responses.trials, cells).reshape(shape)
            return cls(successes, attempts, True)
        rows, cols = responses.learner, responses.item
        successes = sp.csr_matrix(
            (responses.successes.astype(np.float32), (rows, cols)), shape=shape
        )
        attempts = sp.csr_matrix((responses.trials.astype(np.float32), (rows, cols)), shape=shape)
        successes.sum_duplicates()
        attempts.sum_duplicates()
        return cls(successes, attempts, False)

    def learner_products(self, successes_table: np.ndarray | None, attempts_table: np.ndarray):
        """``Y @ successes_table + N @ attempts_table`` (learners x nodes), float64.

        Either table is (items x nodes); ``successes_table`` may be None (skipped).
        """
        out = self.attempts @ attempts_table.astype(np.float32)
        if successes_table is not None:
            out = out + self.successes @ successes_table.astype(np.float32)
        return np.asarray(out, dtype=np.float64)

    def item_products(self, posterior: np.ndarray, *, of: str) -> np.ndarray:
        """Expected successes (``Y.T @ post``) or attempts (``N.T @ post``) per item and node."""
        matrix = self.successes if of == "successes" else self.attempts
        return np.asarray(matrix.T @ posterior.astype(np.float32), dtype=np.float64)

    def learner_sums(self, item_values: np.ndarray, *, of: str) -> np.ndarray:
        """``Y @ v`` or ``N @ v`` for an item vector ``v``: one value per learner."""
        matrix = self.successes if of == "successes" else self.attempts
        return np.asarray(matrix @ item_values.astype(np.float32), dtype=np.float64).ravel()

    def item_sums(self, learner_values: np.ndarray, *, of: str) -> np.ndarray:
        """``Y.T @ v`` or ``N.T @ v`` for a learner vector ``v``: one value per item."""
        matrix = self.successes if of == "successes" else self.attempts
        return np.asarray(matrix.T @ learner_values.astype(np.float32), dtype=np.float64).ravel()

    def max_attempts_per_learner(self) -> float:
        return float(np.asarray(self.attempts.sum(axis=1)).max())


def _accumulate(flat: np.ndarray, values: np.ndarray, cells: int) -> np.ndarray:
    """Sum ``values`` into a float32 array of ``cells`` at positions ``flat`` (repeats add).

    ``np.bincount`` is several times faster than ``np.add.at`` for this scatter-add.
    """
    return np.bincount(flat, weights=values, minlength=cells).astype(np.float32)
