"""Standard errors of IRT item parameters from the cross-product of learner scores.

The information about the item parameters is estimated by the outer products of each
learner's score (the gradient of its marginal log-likelihood, by Fisher's identity the
posterior expectation of the complete-data score), summed over learners, plus the prior's
curvature: the "cross-product" (XPD) estimator, as in mirt's ``SE.type = "crossprod"``.
Unlike the complete-data information it accounts for the uncertainty about each learner's
ability. With up to ``FULL_LIMIT`` free parameters the full matrix is inverted; beyond that
only its per-item diagonal blocks are (items are conditionally independent given the
abilities, and with many responses per learner the cross-item terms become negligible), so
memory stays linear in the number of items.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

__all__ = ["cross_product_standard_errors"]

#: Invert the full information matrix up to this many free parameters.
FULL_LIMIT = 400
#: ... and this many learner x parameter cells.
FULL_CELLS = 50_000_000
_EPS = 1e-10
_NAMES = ("discrimination", "difficulty", "guessing", "slipping")
_FREE = {"1pl": (1,), "2pl": (0, 1), "3pl": (0, 1, 2), "4pl": (0, 1, 2, 3)}


def _derivative_tables(model, items, nodes):
    """For each free parameter u: A_u = dP/du / (P(1-P)), B_u = dP/du / (1-P) (items x nodes).

    A learner's score for item i and parameter u is then y * (post @ A_u) - n * (post @ B_u).
    """
    a, b = items.discrimination[:, None], items.difficulty[:, None]
    c, d = items.guessing[:, None], 1.0 - items.slipping[:, None]
    f = expit(a * (nodes - b))
    p = np.clip(c + (d - c) * f, _EPS, 1 - _EPS)
    slope = (d - c) * f * (1 - f)
    derivatives = {0: slope * (nodes - b), 1: -slope * a, 2: 1 - f, 3: f}
    tables = []
    for u in _FREE[model]:
        dp = derivatives[u]
        tables.append((dp / (p * (1 - p)), dp / (1 - p)))
    return tables


def _prior_curvature(model, items, priors) -> np.ndarray:
    """Minus the Hessian of the log prior per item, in (a, b, c, d), free parameters only."""
    a, b = items.discrimination, items.difficulty
    c, d = items.guessing, 1.0 - items.slipping
    n = len(a)
    full = np.zeros((n, 4, 4))
    sd_a, var_d = priors.discrimination[1], priors.intercept_sd**2
    # -log prior = (a - m)^2 / (2 sd_a^2) + (a b)^2 / (2 var_d) - log Beta(c) - log Beta(1 - d)
    full[:, 0, 0] = 1 / sd_a**2 + b**2 / var_d
    full[:, 1, 1] = a**2 / var_d
    full[:, 0, 1] = full[:, 1, 0] = 2 * a * b / var_d
    if model in ("3pl", "4pl"):
        ga, gb = priors.guessing
        full[:, 2, 2] = (ga - 1) / np.maximum(c, _EPS) ** 2 + (gb - 1) / np.maximum(
            1 - c, _EPS
        ) ** 2
    if model == "4pl":
        sa, sb = priors.slipping
        full[:, 3, 3] = (sa - 1) / np.maximum(1 - d, _EPS) ** 2 + (sb - 1) / np.maximum(
            d, _EPS
        ) ** 2
    free = list(_FREE[model])
    return full[:, free][:, :, free]


def _scores_dense(matrices, posterior, tables) -> list[np.ndarray]:
    """Learner x item score matrices, one per free parameter (dense response matrices)."""
    post = posterior.astype(np.float32)
    scores = []
    for table_a, table_b in tables:
        score = post @ table_a.T.astype(np.float32)
        score *= matrices.successes
        with_attempts = post @ table_b.T.astype(np.float32)
        with_attempts *= matrices.attempts
        score -= with_attempts
        scores.append(score)
    return scores


def _scores_pairs(matrices, posterior, tables, chunk: int = 500_000):
    """Scores for every answered (learner, item) pair of sparse response matrices."""
    attempts, successes = matrices.attempts, matrices.successes
    rows = np.repeat(np.arange(attempts.shape[0]), np.diff(attempts.indptr))
    cols = attempts.indices
    y, n = successes.data.astype(np.float64), attempts.data.astype(np.float64)
    scores = [np.empty(len(cols)) for _ in tables]
    for start in range(0, len(cols), chunk):
        part = slice(start, start + chunk)
        post = posterior[rows[part]]
        for out, (table_a, table_b) in zip(scores, tables, strict=True):
            gathered_a = np.einsum("pq,pq->p", post, table_a[cols[part]])
            gathered_b = np.einsum("pq,pq->p", post, table_b[cols[part]])
            out[part] = y[part] * gathered_a - n[part] * gathered_b
    return rows, cols, scores


def cross_product_standard_errors(model, items, priors, matrices, posterior, nodes):
    """Standard errors of discrimination, difficulty, guessing and slipping per item.

    ``posterior`` is each learner's posterior over ``nodes`` (learners x nodes). Parameters
    the model does not estimate get NaN (for 1PL, the shared discrimination is not
    included: its uncertainty is spread over all items).
    """
    tables = _derivative_tables(model, items, nodes)
    n_items, k = len(items), len(tables)
    prior = _prior_curvature(model, items, priors)
    n_learners = posterior.shape[0]
    if matrices.dense:
        scores = _scores_dense(matrices, posterior, tables)
    else:
        rows, cols, pair_scores = _scores_pairs(matrices, posterior, tables)
    full = n_items * k <= FULL_LIMIT and n_items * k * n_learners <= FULL_CELLS
    if full:
        # Learner x (item, parameter) score matrix; information = S^T S + prior.
        if matrices.dense:
            stacked = np.stack([s.astype(np.float64) for s in scores], axis=2)
        else:
            stacked = np.zeros((n_learners, n_items, k))
            for u, s in enumerate(pair_scores):
                np.add.at(stacked[:, :, u], (rows, cols), s)
        flat = stacked.reshape(n_learners, n_items * k)
        information = flat.T @ flat
        for i in range(n_items):
            block = slice(i * k, (i + 1) * k)
            information[block, block] += prior[i]
        variances = _safe_inverse_diagonal(information).reshape(n_items, k)
    else:
        blocks = prior.copy()
        for u in range(k):
            for v in range(u, k):
                if matrices.dense:
                    total = np.einsum("ij,ij->j", scores[u], scores[v]).astype(np.float64)
                else:
                    total = np.bincount(cols, weights=pair_scores[u] * pair_scores[v],
                                        minlength=n_items)  # fmt: skip
                blocks[:, u, v] += total
                if u != v:
                    blocks[:, v, u] += total
        variances = np.full((n_items, k), np.nan)
        ok = np.linalg.eigvalsh(blocks).min(axis=1) > 0
        variances[ok] = np.diagonal(np.linalg.inv(blocks[ok]), axis1=1, axis2=2)
    result = {name: np.full(n_items, np.nan) for name in _NAMES}
    for position, parameter in enumerate(_FREE[model]):
        result[_NAMES[parameter]] = np.sqrt(np.maximum(variances[:, position], 0.0))
    return result


def _safe_inverse_diagonal(matrix: np.ndarray) -> np.ndarray:
    try:
        return np.diagonal(np.linalg.inv(matrix)).copy()
    except np.linalg.LinAlgError:
        return np.full(matrix.shape[0], np.nan)
