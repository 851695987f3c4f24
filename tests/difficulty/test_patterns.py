"""IRT fits on collapsed response patterns equal the fits on one row per learner."""

from __future__ import annotations

import numpy as np
import pytest

from stepladder.difficulty import IRT, Responses
from stepladder.difficulty._design import ResponseMatrices
from stepladder.difficulty.irt import Priors


def _simulate(n_learners: int, n_items: int, seed: int = 1) -> Responses:
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_learners)
    a, b = rng.uniform(0.7, 2.0, n_items), np.linspace(-1.5, 1.5, n_items)
    p = 1 / (1 + np.exp(-a[:, None] * (theta - b[:, None])))
    return Responses.from_matrix((rng.random((n_items, n_learners)) < p).astype(float))


def _per_learner_float64(monkeypatch) -> None:
    """One float64 row per learner (unit weights): the uncollapsed fit without float32 noise."""
    plain = ResponseMatrices.from_responses

    def float64(responses, *, dense=None):
        m = plain(responses, dense=True)
        successes, attempts = m.successes.astype(np.float64), m.attempts.astype(np.float64)
        return ResponseMatrices(successes, attempts, True, np.ones(len(successes)), m.learner_rows)

    monkeypatch.setattr(ResponseMatrices, "from_responses", staticmethod(float64))


def _fit(responses, model, priors, collapse):
    irt = IRT(model, priors=priors)
    irt._collapse = collapse
    return irt.fit(responses)


def _largest_difference(x: IRT, y: IRT) -> float:
    pairs = [
        (x.items_.difficulty, y.items_.difficulty),
        (x.items_.discrimination, y.items_.discrimination),
        (x.abilities_, y.abilities_),
        (x.se_abilities_, y.se_abilities_),
        (x.se_["difficulty"], y.se_["difficulty"]),
        (x.se_["discrimination"], y.se_["discrimination"]),
    ]
    return max(float(np.max(np.abs(u - v))) for u, v in pairs)


@pytest.mark.parametrize("shape", [(20_000, 5), (3_000, 8)])
@pytest.mark.parametrize("model", ["1pl", "2pl"])
def test_patterns_equal_per_learner_fit(monkeypatch, shape, model):
    responses = _simulate(*shape)
    collapsed = _fit(responses, model, Priors.weak(), None)
    assert collapsed.report_.iterations > 1
    _per_learner_float64(monkeypatch)
    reference = _fit(responses, model, Priors.weak(), False)
    assert collapsed.report_.iterations == reference.report_.iterations
    assert _largest_difference(collapsed, reference) < 1e-10
    assert collapsed.report_.loglik == pytest.approx(reference.report_.loglik, rel=1e-13)
    assert collapsed.report_.loglik_history == pytest.approx(
        reference.report_.loglik_history, rel=1e-13
    )


@pytest.mark.parametrize("model", ["1pl", "2pl"])
def test_patterns_with_default_priors(monkeypatch, model):
    """Default priors add a Newton search for the PX-EM scale (converged to rounding): the
    fits agree to 1e-8; the float32 per-learner fit to float32 noise (its epsilon is 6e-8)."""
    responses = _simulate(20_000, 5)
    collapsed = _fit(responses, model, None, None)
    float32 = _fit(responses, model, None, False)
    assert _largest_difference(collapsed, float32) < 1e-3
    assert collapsed.report_.loglik == pytest.approx(float32.report_.loglik, rel=1e-8)
    _per_learner_float64(monkeypatch)
    reference = _fit(responses, model, None, False)
    assert _largest_difference(collapsed, reference) < 1e-8
    assert collapsed.report_.loglik == pytest.approx(reference.report_.loglik, rel=1e-12)


def test_patterns_only_for_complete_binary_logs():
    responses = _simulate(2_000, 4)
    matrices, rows = ResponseMatrices.patterns(responses)
    assert matrices.weights.sum() == 2_000 and len(matrices.weights) <= 16
    np.testing.assert_array_equal(matrices.successes[rows], _dense(responses))
    keep = np.arange(len(responses)) != 3  # one response missing
    r = responses
    missing = Responses(r.learner[keep], r.item[keep], r.successes[keep], r.trials[keep],
                        r.learner_ids, r.item_ids)  # fmt: skip
    assert ResponseMatrices.patterns(missing) is None
    assert ResponseMatrices.patterns(_simulate(20, 12)) is None  # more patterns than half
    binomial = Responses(r.learner, r.item, 2 * r.successes, 2 * r.trials, r.learner_ids,
                         r.item_ids)  # fmt: skip
    assert ResponseMatrices.patterns(binomial) is None


def test_patterns_many_items_use_row_sort():
    """Beyond 62 items the patterns are found by sorting rows instead of integer codes."""
    rng = np.random.default_rng(0)
    base = (rng.random((3, 70)) < 0.5).astype(float)
    responses = Responses.from_matrix(base[rng.integers(0, 3, 50)].T)
    matrices, rows = ResponseMatrices.patterns(responses)
    assert len(matrices.weights) == 3 and matrices.weights.sum() == 50
    np.testing.assert_array_equal(matrices.successes[rows], _dense(responses))


def _dense(responses: Responses) -> np.ndarray:
    out = np.zeros((responses.n_learners, responses.n_items))
    out[responses.learner, responses.item] = responses.successes
    return out
