"""Standard errors of IRT item parameters from the cross-product of learner scores.

The information about the item parameters is estimated by the outer products of each
learner's score (the gradient of its marginal log-likelihood, by Fisher's identity the
posterior expectation of the complete-data score), summed over learners, plus the prior's
curvature: the "cross-product" (XPD) estimator, as in mirt's ``SE.type = "crossprod"``.
Unlike the complete-data information it accounts for the uncertainty about each learner's
ability. With up to ``FULL_LIMIT`` free parameters the full matrix is inverted; beyond that
only its per-item diagonal blocks are (items are conditionally independent given the
abilities, and with many responses per learner the cross-item terms become negligible), so
memory stays linear in the number of items. The full matrix is used only with more than
twice as many learners as parameters: below that the sum of learner outer products is rank
deficient and its inverse rests on the priors alone.

The 1PL's shared discrimination is a parameter too: its information is coupled to every
difficulty's, and inverting that arrow-shaped matrix (by the Schur complement, with the
per-item blocks) adds its uncertainty to each difficulty's, which matters away from b = 0.

A variance that is not positive and finite, or that comes from a block whose condition
number exceeds 1e12, is reported as NaN (with a warning), never as 0.
"""

from __future__ import annotations

import warnings

import numpy as np

from stepladder.difficulty._design import sum_in_threads
from stepladder.difficulty._logistic import expit
from stepladder.difficulty._priors import slope_prior

__all__ = ["cross_product_standard_errors"]

#: Learner x item cells whose scores are held at once (per free parameter, float64).
CHUNK_CELLS = 1 << 21
#: Invert the full information matrix up to this many free parameters.
FULL_LIMIT = 400
#: ... and this many learner x parameter cells.
FULL_CELLS = 50_000_000
_EPS = 1e-10
_NAMES = ("discrimination", "difficulty", "guessing", "slipping")
_FREE = {"1pl": (0, 1), "2pl": (0, 1), "3pl": (0, 1, 2), "4pl": (0, 1, 2, 3)}
#: Largest condition number of an information block whose inverse is trusted.
MAX_CONDITION = 1e12


def _derivative_tables(model, items, nodes):
    """For each free parameter u: G_u = dP/du / P and H_u = dP/du / (1 - P) (items x nodes).

    A learner's score for item i and parameter u is then y * (post @ G_u) - f * (post @ H_u),
    with y successes and f = n - y failures: the Bernoulli score, whose two terms do not
    cancel (one of y and f is 0 for a single 0/1 response), so that float32 products keep
    the sums of squared scores to about 1e-7.
    """
    a, b = items.discrimination[:, None], items.difficulty[:, None]
    c, d = items.guessing[:, None], 1.0 - items.slipping[:, None]
    f = expit(a * (nodes - b))
    p = np.clip(c + (d - c) * f, _EPS, 1 - _EPS)
    slope = (d - c) * f * (1 - f)
    q = 1 - p  # items x nodes arrays: few at a time (10^5 items make each 33 MB)
    tables = []
    for u in _FREE[model]:
        if u == 0:
            dp = slope * (nodes - b)
        elif u == 1:
            dp = -slope * a
        else:
            dp = 1 - f if u == 2 else f
        tables.append((dp / p, dp / q))
    return tables


def _prior_curvature(model, items, priors) -> np.ndarray:
    """Curvature of minus the log prior per item in (a, b, c, d), free parameters only.

    In (a, b): a normal prior on a adds 1 / sd^2, a lognormal one its Fisher curvature
    1 / (sd a)^2 (left out for the 1PL, whose shared slope carries it once); a normal prior
    on b adds 1 / sd^2; the intercept prior on delta = -a b adds (b^2, 2ab, a^2) / var.
    """
    a, b = items.discrimination, items.difficulty
    c, d = items.guessing, 1.0 - items.slipping
    n = len(a)
    full = np.zeros((n, 4, 4))
    if model != "1pl":
        full[:, 0, 0] = slope_prior(priors, a)[2]
    if priors.difficulty is not None:
        full[:, 1, 1] = 1 / priors.difficulty[1] ** 2
    if priors.intercept_sd is not None:
        var_d = priors.intercept_sd**2
        full[:, 0, 0] += b**2 / var_d
        full[:, 1, 1] += a**2 / var_d
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
    return _dense_block_scores(matrices.successes, matrices.attempts, posterior, tables)


def _dense_block_scores(successes, attempts, posterior, tables) -> list[np.ndarray]:
    """Score matrices (rows x items, in the tables' float type) of a block of rows of dense
    matrices; only the nodes between the first and the last where the block's posteriors
    are nonzero enter the products (learners with many responses have posteriors on a few
    nodes)."""
    used = np.flatnonzero(np.any(posterior != 0, axis=0))
    nodes = slice(used[0], used[-1] + 1) if len(used) else slice(0, 0)
    dtype = tables[0][0].dtype
    post = posterior[:, nodes].astype(dtype)
    failures = np.subtract(attempts, successes, dtype=dtype)
    scores = []
    for table_g, table_h in tables:
        score = post @ table_g[:, nodes].T
        score *= successes
        with_failures = post @ table_h[:, nodes].T
        with_failures *= failures
        score -= with_failures
        scores.append(score)
    return scores


def _item_score_products(matrices, posterior, tables, chunk_cells: int = CHUNK_CELLS,
                         dtype: type = np.float64):  # fmt: skip
    """Per item, the sum over learners of score_u * score_v for every u <= v (weighted by
    the pattern counts), accumulated over blocks of about ``chunk_cells`` answered cells:
    memory stays at a few blocks' scores whatever the size of the log. Dense blocks run
    side by side on the worker threads, their sums added in block order."""
    n_items, k = matrices.attempts.shape[1], len(tables)
    sums = {(u, v): np.zeros(n_items) for u in range(k) for v in range(u, k)}
    weights = matrices.weights
    step = max(1, chunk_cells // n_items)  # rows per block
    if matrices.dense:
        # Products in ``dtype`` (float32 for the 1PL/2PL: twice as fast, and the sums of
        # squared scores within 1e-6 of float64's); each block's sums of about 100 rows
        # are added up in float64.
        tables = [(g.astype(dtype), h.astype(dtype)) for g, h in tables]

        def block(start: int) -> np.ndarray:
            rows = slice(start, start + step)
            scores = _dense_block_scores(matrices.successes[rows], matrices.attempts[rows],
                                         posterior[rows], tables)  # fmt: skip
            if weights is not None:
                weighted = [s * weights[rows, None] for s in scores]
            return np.array([np.einsum("ij,ij->j", scores[u] if weights is None else weighted[u],
                                       scores[v]) for u, v in sums], dtype=np.float64)  # fmt: skip

        totals = sum_in_threads(
            block, range(0, posterior.shape[0], step), np.zeros((len(sums), n_items))
        )
        return dict(zip(sums, totals, strict=True))
    attempts, successes = matrices.attempts, matrices.successes
    for start in range(0, attempts.shape[0], step):
        block = slice(start, start + step)
        block_attempts, block_successes = attempts[block], successes[block]
        rows = np.repeat(np.arange(block_attempts.shape[0]), np.diff(block_attempts.indptr))
        cols = block_attempts.indices
        y = block_successes.data.astype(np.float64)
        n = block_attempts.data.astype(np.float64)
        post = posterior[block][rows]
        scores = [y * np.einsum("pq,pq->p", post, table_g[cols])
                  - (n - y) * np.einsum("pq,pq->p", post, table_h[cols])
                  for table_g, table_h in tables]  # fmt: skip
        for (u, v), total in sums.items():
            total += np.bincount(cols, weights=scores[u] * scores[v], minlength=n_items)
    return sums


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
        for out, (table_g, table_h) in zip(scores, tables, strict=True):
            gathered_g = np.einsum("pq,pq->p", post, table_g[cols[part]])
            gathered_h = np.einsum("pq,pq->p", post, table_h[cols[part]])
            out[part] = y[part] * gathered_g - (n[part] - y[part]) * gathered_h
    return rows, cols, scores


def cross_product_standard_errors(model, items, priors, matrices, posterior, nodes):
    """Standard errors of discrimination, difficulty, guessing and slipping per item.

    ``posterior`` is each learner's posterior over ``nodes`` (learners x nodes; one row per
    pattern when ``matrices`` holds response patterns, whose counts weight the sums). Parameters
    the model does not estimate get NaN; so do ill-determined ones (with a warning). For
    the 1PL, every item reports the shared discrimination's SE.
    """
    tables = _derivative_tables(model, items, nodes)
    n_items, k = len(items), len(tables)
    prior = _prior_curvature(model, items, priors)
    n_rows, n_learners, weights = posterior.shape[0], matrices.n_learners, matrices.weights
    n_free = n_items + 1 if model == "1pl" else n_items * k
    full = n_free <= FULL_LIMIT and n_free * n_rows <= FULL_CELLS and n_learners > 2 * n_free
    if not full:
        # float32 products for the 1PL/2PL's dense blocks (standard errors within about
        # 1e-6 relative of float64's); the guessing and slipping scores need float64.
        single = model in ("1pl", "2pl") and matrices.dtype == np.float32
        products = _item_score_products(matrices, posterior, tables,
                                        dtype=np.float32 if single else np.float64)  # fmt: skip

        def item_sums(u: int, v: int) -> np.ndarray:
            """Per item, the sum over learners of score_u * score_v."""
            return products[min(u, v), max(u, v)]

    if full:
        # Learner x (item, parameter) score matrix; information = S^T S + prior.
        if matrices.dense:
            stacked = np.stack(_scores_dense(matrices, posterior, tables), axis=2)
        else:
            rows, cols, pair_scores = _scores_pairs(matrices, posterior, tables)
            stacked = np.zeros((n_rows, n_items, k))
            for u, s in enumerate(pair_scores):
                np.add.at(stacked[:, :, u], (rows, cols), s)
        information = _full_information(model, stacked, prior, priors, items, weights)
        variances = _inverse_diagonals(information[None])[0]
        if model == "1pl":  # (a, b_1, ..., b_n) -> items x (a, b)
            variances = np.column_stack([np.full(n_items, variances[0]), variances[1:]])
        else:
            variances = variances.reshape(n_items, k)
    elif model == "1pl":
        slope_curvature = slope_prior(priors, items.discrimination[:1])[2][0]
        variances = _shared_slope_variances(item_sums, prior, slope_curvature)
    else:
        blocks = prior.copy()
        for u in range(k):
            for v in range(u, k):
                total = item_sums(u, v)
                blocks[:, u, v] += total
                if u != v:
                    blocks[:, v, u] += total
        variances = _inverse_diagonals(blocks)
    bad = ~(np.isfinite(variances) & (variances > 0))
    if bad.any():
        warnings.warn(
            f"{int(np.count_nonzero(bad.any(axis=1)))} of {n_items} items have an ill-determined "
            "information matrix: their standard errors are NaN",
            RuntimeWarning,
            stacklevel=3,
        )
    result = {name: np.full(n_items, np.nan) for name in _NAMES}
    for position, parameter in enumerate(_FREE[model]):
        column = variances[:, position]
        result[_NAMES[parameter]] = np.where(bad[:, position], np.nan, np.sqrt(np.abs(column)))
    return result


def _full_information(model, stacked, prior, priors, items, weights=None) -> np.ndarray:
    """S^T S plus the prior curvature, S the learner x parameter score matrix (S^T W S with
    the pattern counts W); for the 1PL the parameters are (a, b_1, ..., b_n), a's score
    summed over items."""
    n_rows, n_items, k = stacked.shape
    scale = np.ones(n_rows) if weights is None else weights
    if model == "1pl":
        flat = np.column_stack([stacked[:, :, 0].sum(axis=1), stacked[:, :, 1]])
        information = flat.T @ (scale[:, None] * flat)
        information[0, 0] += (
            prior[:, 0, 0].sum() + slope_prior(priors, items.discrimination[:1])[2][0]
        )
        information[0, 1:] += prior[:, 0, 1]
        information[1:, 0] += prior[:, 0, 1]
        information[np.arange(1, n_items + 1), np.arange(1, n_items + 1)] += prior[:, 1, 1]
        return information
    flat = stacked.reshape(n_rows, n_items * k)
    information = flat.T @ (scale[:, None] * flat) if weights is not None else flat.T @ flat
    for i in range(n_items):
        block = slice(i * k, (i + 1) * k)
        information[block, block] += prior[i]
    return information


def _shared_slope_variances(item_sums, prior, slope_curvature) -> np.ndarray:
    """Variances of (shared a, each b) for the 1PL, items x 2.

    Each item contributes a 2 x 2 block in (a, b) (its learners' score products, as in the
    per-item blocks); the shared a sums them into an arrow-shaped information matrix,
    inverted by the Schur complement. Every term of the Schur complement is non-negative
    (Cauchy-Schwarz per item), so it stays positive whatever the number of learners.
    """
    i_aa = item_sums(0, 0) + prior[:, 0, 0]
    i_ab = item_sums(0, 1) + prior[:, 0, 1]
    i_bb = item_sums(1, 1) + prior[:, 1, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        total = i_aa.sum() + slope_curvature
        schur = total - np.sum(i_ab**2 / i_bb)
        ill = not (schur > total / MAX_CONDITION)
        var_a = np.full(len(i_bb), np.nan if ill else 1.0 / schur)
        var_b = 1.0 / i_bb + (i_ab / i_bb) ** 2 * var_a
    return np.column_stack([var_a, var_b])


def _inverse_diagonals(blocks: np.ndarray) -> np.ndarray:
    """Diagonals of the inverses of symmetric blocks (n x k x k); NaN rows for blocks that
    are not positive definite or whose condition number exceeds ``MAX_CONDITION``."""
    out = np.full(blocks.shape[:2], np.nan)
    eigenvalues = np.linalg.eigvalsh(blocks)
    ok = (eigenvalues[:, 0] > 0) & (eigenvalues[:, 0] * MAX_CONDITION > eigenvalues[:, -1])
    if ok.any():
        out[ok] = np.diagonal(np.linalg.inv(blocks[ok]), axis1=1, axis2=2)
    return out
