"""The speed and memory work on IRT keeps results: blocks equal whole passes, any number of
BLAS or worker threads gives the same fit, the Newton PX-EM scale search finds Nelder-Mead's
optimum, the hand-written spline and softplus equal SciPy's and NumPy's."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.optimize import minimize

from stepladder.difficulty import IRT, Responses
from stepladder.difficulty import _standard_errors as se_module
from stepladder.difficulty._design import ResponseMatrices, _column_products, _dense_matrices
from stepladder.difficulty.irt import (
    Priors,
    _expansion_with_priors,
    _item_fit_statistics,
    _log_prior,
    _State,
)
from stepladder.difficulty.responses import chunked_bincount


def _simulate(n_learners: int, n_items: int, missing: float = 0.3, seed: int = 0) -> Responses:
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_learners)
    a, b = rng.lognormal(0, 0.3, n_items), rng.normal(size=n_items)
    p = 1 / (1 + np.exp(-a[:, None] * (theta - b[:, None])))
    y = (rng.random((n_items, n_learners)) < p).astype(float)
    y[rng.random(y.shape) < missing] = np.nan
    return Responses.from_matrix(y)


@pytest.fixture(scope="module")
def responses() -> Responses:
    return _simulate(600, 300)


@pytest.mark.parametrize("dense", [True, False])
@pytest.mark.parametrize("model", ["1pl", "2pl", "3pl"])
def test_blocked_standard_errors_equal_one_block(monkeypatch, responses, dense, model):
    """Standard errors accumulated over blocks of 7 rows equal those of a single block (the
    default block holds all 600 learners x 300 items here): to float64 rounding from sparse
    matrices and for the 3PL, to float32 rounding from dense 1PL/2PL blocks, whose products
    are float32."""
    whole = IRT(model, dense=dense, max_iter=30).fit(responses).se_
    defaults = se_module._item_score_products.__defaults__
    monkeypatch.setattr(se_module._item_score_products, "__defaults__", (7 * 300, *defaults[1:]))
    blocked = IRT(model, dense=dense, max_iter=30).fit(responses).se_
    for name in ("discrimination", "difficulty", "guessing"):
        single = dense and model != "3pl"
        np.testing.assert_allclose(blocked[name], whole[name], rtol=1e-5 if single else 1e-10)


def test_blocked_item_fit_equals_one_block(responses):
    model = IRT("2pl").fit(responses)
    whole = _item_fit_statistics(model.items_, model.abilities_, responses, chunk=10**9)
    blocked = _item_fit_statistics(model.items_, model.abilities_, responses, chunk=1_000)
    for name in ("infit", "outfit"):
        np.testing.assert_allclose(blocked[name], whole[name], rtol=1e-12)
    # and the direct formula, response by response
    items, theta = model.items_, model.abilities_
    p = items.probability(theta)[responses.learner, responses.item]
    z2 = (responses.successes - p) ** 2 / (p * (1 - p))
    outfit = np.bincount(responses.item, weights=z2) / np.bincount(responses.item)
    np.testing.assert_allclose(whole["outfit"], outfit, rtol=1e-12)


def test_blocked_dense_matrices_and_totals(responses):
    cells = (responses.n_learners, responses.n_items)
    y, n = _dense_matrices(responses, cells, chunk=997)
    flat = responses.learner * responses.n_items + responses.item
    expected = np.bincount(flat, weights=responses.successes, minlength=cells[0] * cells[1])
    np.testing.assert_array_equal(y.ravel(), expected.astype(np.float32))
    assert n.sum() == len(responses) and y.dtype == np.float32
    attempts = chunked_bincount(responses.item, responses.trials, responses.n_items, chunk=1_001)
    np.testing.assert_array_equal(attempts, np.bincount(responses.item, minlength=300))
    np.testing.assert_array_equal(responses.item_attempts(), attempts)


def test_column_products_are_accurate(responses):
    """Blocks of rows added in float64: the learner sums are closer to float64 than one
    float32 product (and do not depend on how BLAS splits the learners)."""
    matrices = ResponseMatrices.from_responses(responses, dense=True)
    post = np.random.default_rng(1).dirichlet(np.ones(41), responses.n_learners)
    exact = matrices.attempts.astype(np.float64).T @ post
    blocked = _column_products(matrices.attempts, post.astype(np.float32))
    assert np.max(np.abs(blocked - exact) / exact) < 1e-6


def test_same_fit_on_any_number_of_blas_threads(responses):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    fits = []
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(threads):
            fits.append(IRT("2pl", dense=True).fit(responses))
    one, two = fits
    np.testing.assert_allclose(one.items_.difficulty, two.items_.difficulty, rtol=0, atol=1e-6)
    np.testing.assert_allclose(one.items_.discrimination, two.items_.discrimination, atol=1e-6)
    np.testing.assert_allclose(one.abilities_, two.abilities_, rtol=0, atol=1e-6)
    assert one.report_.loglik == pytest.approx(two.report_.loglik, rel=1e-12)


@pytest.mark.parametrize(
    ("model", "n_learners", "mean", "sd"),
    [("2pl", 1000, 0.05, 1.1), ("2pl", 22, 0.3, 2.0), ("1pl", 50, -0.2, 0.8)],
)
def test_expansion_search_finds_the_nelder_mead_optimum(model, n_learners, mean, sd):
    rng = np.random.default_rng(1)
    n = 2_000
    state = _State(rng.lognormal(0, 0.3, n), rng.normal(size=n) * 1.2, np.zeros(n), np.ones(n))
    if model == "1pl":
        state = _State(np.full(n, 1.3), state.delta, state.c, state.d)
    priors = Priors()

    def minus(x: np.ndarray) -> float:
        m, log_s = x
        s = np.exp(log_s)
        ability = -n_learners * (log_s + (sd**2 + (mean - m) ** 2) / (2 * s**2))
        moved = _State(state.a * s, state.delta + state.a * m, state.c, state.d)
        value = ability + _log_prior(moved, priors, model)
        return -value if np.isfinite(value) else np.inf

    reference = minimize(minus, np.array([mean, np.log(sd)]), method="Nelder-Mead",
                         options={"xatol": 1e-10, "fatol": 1e-12})  # fmt: skip
    m, s = _expansion_with_priors(state, priors, model, mean, sd, n_learners)
    assert minus(np.array([m, np.log(s)])) <= reference.fun + 1e-9 * abs(reference.fun)
    np.testing.assert_allclose([m, s], [reference.x[0], np.exp(reference.x[1])], atol=1e-6)


def _guessing_data(n_learners: int, n_items: int, seed: int = 0) -> Responses:
    rng = np.random.default_rng(seed)
    theta, b = rng.normal(size=n_learners), rng.normal(size=n_items)
    a, c = rng.lognormal(0, 0.3, n_items), rng.uniform(0.1, 0.3, n_items)
    p = c[:, None] + (1 - c[:, None]) / (1 + np.exp(-a[:, None] * (theta - b[:, None])))
    return Responses.from_matrix((rng.random(p.shape) < p).astype(float))


@pytest.mark.filterwarnings("ignore:.*ill-determined")
@pytest.mark.parametrize("model", ["3pl", "4pl"])
def test_guessing_m_step_converges_in_few_em_steps(monkeypatch, model):
    """Maximising each E-step's expected log-likelihood (Newton steps to convergence): the
    3PL/4PL converge in tens of EM steps to a penalised log-likelihood at least as high as
    one Newton step per E-step reaches. Both are compared by the exact (float64) marginal
    log-likelihood plus log prior at their estimates: the EM history's values come from
    float32 products, whose rounding moves them by about 1e-3 here."""
    from stepladder.difficulty import irt as irt_module

    def penalised(fit: IRT) -> float:
        return fit.report_.loglik + _log_prior(fit.state_, fit.priors_, fit.model)

    data = _guessing_data(1_000, 30)
    new = IRT(model, max_iter=300).fit(data)
    assert new.report_.converged and new.report_.iterations < 60
    monkeypatch.setattr(irt_module, "LATENT_CLASS_STEPS", 1)
    old = IRT(model, max_iter=300).fit(data)
    assert old.report_.iterations >= new.report_.iterations
    assert penalised(new) >= penalised(old) - 1e-3


@pytest.mark.parametrize("model", ["3pl", "4pl"])
def test_guessing_m_step_finds_the_maximiser(model):
    """On fixed expected counts, the vectorised Newton M-step reaches the maximiser that
    SciPy's Nelder-Mead finds item by item on the objective written out here (binomial
    log-likelihood at the nodes, lognormal slope, normal difficulty and Beta priors)."""
    from scipy.special import expit
    from scipy.stats import beta, norm

    from stepladder.difficulty.irt import _guessing_m_step

    rng = np.random.default_rng(3)
    nodes, n_items = np.linspace(-4, 4, 61), 12
    true_a, true_b = rng.lognormal(0, 0.3, n_items), rng.normal(size=n_items)
    true_c = rng.uniform(0.1, 0.3, n_items)
    attempts = 40 * np.exp(-0.5 * nodes**2) * rng.uniform(0.5, 1.5, (n_items, len(nodes)))
    p = true_c[:, None] + (1 - true_c[:, None]) * expit(true_a[:, None] * (nodes - true_b[:, None]))
    successes = attempts * np.clip(p + rng.normal(0, 0.05, p.shape), 0.01, 0.99)
    priors = Priors()
    k = 4 if model == "4pl" else 3

    def minus(x, i):
        a, delta, c = x[:3]
        d = x[3] if k == 4 else 1.0
        q = np.clip(c + (d - c) * expit(a * nodes + delta), 1e-10, 1 - 1e-10)
        value = successes[i] @ np.log(q) + (attempts[i] - successes[i]) @ np.log1p(-q)
        value += norm.logpdf(np.log(a), 0, 0.5) + norm.logpdf(-delta / a, 0, 3)
        value += beta.logpdf(c, *priors.guessing)
        if k == 4:
            value += beta.logpdf(1 - d, *priors.slipping)
        return -value

    start = _State(np.ones(n_items), np.zeros(n_items), np.full(n_items, 0.2), np.ones(n_items))
    if k == 4:
        start.d = np.full(n_items, 0.95)
    fitted = _guessing_m_step(model, start, successes, attempts, nodes, priors)
    got = np.column_stack([fitted.a, fitted.delta, fitted.c, fitted.d])[:, :k]
    bounds = [(0.05, 10), (-20, 20), (1e-6, 0.5 if k == 4 else 0.99), (0.5, 1 - 1e-6)][:k]
    for i in range(n_items):
        ref = minimize(minus, got[i] * 0.9 + 0.01, args=(i,), method="Nelder-Mead", bounds=bounds,
                       options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20_000})  # fmt: skip
        assert minus(got[i], i) <= ref.fun + 1e-8
        np.testing.assert_allclose(got[i], ref.x, atol=2e-4)


def test_spline_matrix_equals_scipy_cubic_spline():
    """The not-a-knot spline written out equals SciPy's CubicSpline (no longer imported)."""
    from scipy.interpolate import CubicSpline

    from stepladder.difficulty._quadrature import _spline_matrix

    for n_nodes in (5, 11, 41):
        nodes = np.linspace(-6, 6, n_nodes)
        points = np.linspace(-6, 6, (n_nodes - 1) * 13 + 1)
        reference = CubicSpline(nodes, np.eye(n_nodes))(points).T
        np.testing.assert_allclose(_spline_matrix(nodes, points), reference, rtol=0, atol=1e-13)


def test_softplus_is_accurate():
    from stepladder.difficulty.irt import _softplus

    z = np.concatenate([np.linspace(-50, 50, 10_001), [-700.0, 700.0]])
    np.testing.assert_allclose(_softplus(z), np.logaddexp(0.0, z), rtol=1e-14, atol=0)


@pytest.mark.parametrize("dense", [True, False])
def test_windowed_column_products_equal_the_whole_product(responses, dense):
    """Posteriors with few nonzero nodes (rows in any order), two tables side by side: the
    products over each block's window equal the plain product."""
    matrices = ResponseMatrices.from_responses(responses, dense=dense)
    rng = np.random.default_rng(2)
    post = np.zeros((responses.n_learners, 41))
    centre = rng.integers(0, 38, responses.n_learners)
    for offset in range(3):
        post[np.arange(len(centre)), centre + offset] = rng.random(len(centre))
    table = np.concatenate([post, rng.random(len(post))[:, None] * post], axis=1)
    attempts = matrices.attempts if dense else matrices.attempts.toarray()
    exact = attempts.astype(np.float64).T @ table
    windowed = _column_products(matrices.attempts, table.astype(np.float32), groups=2)
    np.testing.assert_allclose(windowed, exact, rtol=1e-6, atol=1e-9)


def test_rows_sorted_by_share_correct_keep_every_learner(responses):
    """Beyond one block the rows are reordered; learner_rows maps each learner to its row."""
    from stepladder.difficulty._design import _dense_matrices

    cells = (responses.n_learners, responses.n_items)
    plain_y, plain_n = _dense_matrices(responses, cells)
    for dense in (True, False):
        matrices = ResponseMatrices.from_responses(responses, dense=dense)
        rows = matrices.learner_rows
        assert sorted(rows.tolist()) == list(range(responses.n_learners))
        y = matrices.successes if dense else matrices.successes.toarray()
        n = matrices.attempts if dense else matrices.attempts.toarray()
        np.testing.assert_array_equal(y[rows], plain_y)
        np.testing.assert_array_equal(n[rows], plain_n)
        share = y.sum(axis=1) / n.sum(axis=1)
        assert np.all(np.diff(share) >= 0)


def test_threaded_newton_blocks_give_the_same_fit(monkeypatch, responses):
    """Items in blocks of 7 on one or two worker threads: exactly the same fit; and the same
    as one block to well within the tolerance (the small products per block round
    differently, which moves where EM stops by far less than ``tol``)."""
    from stepladder.difficulty import _design
    from stepladder.difficulty import irt as irt_module

    whole = IRT("2pl").fit(responses)
    monkeypatch.setattr(irt_module, "NEWTON_CELLS", 41 * 7)
    monkeypatch.setattr(irt_module, "THREADED_MIN_RESPONSES", 0)  # threads on this small log
    fits = []
    for threads in (1, 2):
        monkeypatch.setattr(_design, "worker_threads", lambda threads=threads: threads)
        fits.append(IRT("2pl").fit(responses))
    one, two = fits
    np.testing.assert_array_equal(one.items_.difficulty, two.items_.difficulty)
    np.testing.assert_array_equal(one.abilities_, two.abilities_)
    assert one.report_.loglik == two.report_.loglik
    np.testing.assert_allclose(one.items_.difficulty, whole.items_.difficulty, rtol=0, atol=1e-4)
    np.testing.assert_allclose(one.abilities_, whole.abilities_, rtol=0, atol=1e-4)


@pytest.mark.filterwarnings("ignore:.*ill-determined")
def test_3pl_with_few_learners_and_many_items_is_fast():
    """The LLM regime (20 learners x 2,000 items: a fine grid of hundreds of nodes): the
    3PL M-step is vectorised Newton over items, not 50 latent-class passes per E-step, so
    the fit takes 2.4 s of CPU (time.process_time, all threads), where the latent-class
    M-step took 44 s. The bound leaves room for a loaded machine."""
    import time

    data = _guessing_data(20, 2_000, seed=1)
    started = time.process_time()
    model = IRT("3pl").fit(data)
    seconds = time.process_time() - started
    assert model.report_.converged and model.quadrature_.refine > 10
    assert seconds < 15.0, f"3PL on 20 x 2,000 took {seconds:.1f} s of CPU"


def test_posterior_blocks_on_threads_equal_one_block(monkeypatch):
    """Blocks of 7 learners give the same result on one or two worker threads, and one
    block's to rounding (BLAS rounds a product's rows differently with their number)."""
    from stepladder.difficulty import _design
    from stepladder.difficulty import _quadrature as quadrature_module

    quadrature = quadrature_module.Quadrature(21, 6.0, refine=8)
    loglik = np.random.default_rng(3).normal(scale=30.0, size=(50, 21))
    whole = quadrature.posterior(loglik)
    monkeypatch.setattr(quadrature_module, "POSTERIOR_ROWS", 7)
    blocked = []
    for threads in (1, 2):
        monkeypatch.setattr(_design, "worker_threads", lambda threads=threads: threads)
        blocked.append(quadrature.posterior(loglik))
    for one, two, expected in zip(*blocked, whole, strict=True):
        np.testing.assert_array_equal(one, two)
        np.testing.assert_allclose(one, expected, rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(whole[0].sum(axis=1), 1.0, rtol=1e-12)


def test_item_fit_on_threads_equals_one_thread(monkeypatch, responses):
    from stepladder.difficulty import _design

    model = IRT("2pl").fit(responses)
    fits = []
    for threads in (1, 2):
        monkeypatch.setattr(_design, "worker_threads", lambda threads=threads: threads)
        fits.append(_item_fit_statistics(model.items_, model.abilities_, responses, chunk=997))
    for name in ("infit", "outfit"):
        np.testing.assert_array_equal(fits[0][name], fits[1][name])


def test_sum_in_threads_adds_in_the_order_of_the_starts(monkeypatch):
    """Float sums depend on their order: the threaded sum equals the sequential one exactly."""
    from stepladder.difficulty import _design

    values = np.random.default_rng(0).normal(size=(41, 3)) * 10.0 ** np.arange(-8, 33)[:, None]
    expected = np.zeros(3)
    for row in values:
        expected += row
    for threads in (1, 2, 3):
        monkeypatch.setattr(_design, "worker_threads", lambda threads=threads: threads)
        got = _design.sum_in_threads(lambda start: values[start], range(41), np.zeros(3))
        np.testing.assert_array_equal(got, expected)


def test_m_step_drops_nodes_without_posterior_mass():
    """Nodes where no learner has posterior mass add nothing: the Newton step with them equals
    the one without them (to rounding: the sums over nodes have fewer terms)."""
    from stepladder.difficulty.irt import _logistic_newton

    rng = np.random.default_rng(1)
    n_items, nodes = 50, np.linspace(-6.0, 6.0, 41)
    attempts = rng.random((n_items, 41)) * 20.0
    attempts[:, :9] = attempts[:, 33:] = 0.0
    curvature = attempts * rng.random((n_items, 41)) * 1e-3
    a, delta = rng.lognormal(0.0, 0.3, n_items), rng.normal(size=n_items)
    success_sum = (attempts * 0.5).sum(axis=1)
    success_moment = (attempts * 0.5 * np.maximum(nodes, 0.0)).sum(axis=1)
    kept = slice(9, 33)
    args = (success_sum, success_moment)
    full = _logistic_newton("2pl", a, delta, *args, attempts, nodes, Priors(), curvature)
    dropped = _logistic_newton("2pl", a, delta, *args, attempts[:, kept], nodes[kept], Priors(),
                               curvature[:, kept])  # fmt: skip
    for got, expected in zip(dropped, full, strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    assert not np.allclose(full[0], a)  # the step moved the items


def test_item_fit_beside_the_standard_errors_equals_the_lazy_one(monkeypatch, responses):
    """On two worker threads the fit computes infit/outfit beside the standard errors; on one
    the item table computes them when asked: the same values."""
    from stepladder.difficulty import _design
    from stepladder.difficulty import irt as irt_module

    monkeypatch.setattr(irt_module, "THREADED_MIN_RESPONSES", 0)
    fits = {}
    for threads in (1, 2):
        monkeypatch.setattr(_design, "worker_threads", lambda threads=threads: threads)
        model = IRT("2pl").fit(responses)
        assert (model._item_fit is not None) == (threads == 2)
        fits[threads] = model.item_fit()
    for name in ("infit", "outfit"):
        np.testing.assert_array_equal(fits[1][name], fits[2][name])


def test_an_error_of_the_item_fit_beside_the_standard_errors_reaches_the_caller(
    monkeypatch, responses
):
    from stepladder.difficulty import _design
    from stepladder.difficulty import irt as irt_module

    def fail(*args: object) -> None:
        raise ValueError("bad block")

    monkeypatch.setattr(irt_module, "THREADED_MIN_RESPONSES", 0)
    monkeypatch.setattr(_design, "worker_threads", lambda: 2)
    monkeypatch.setattr(irt_module, "_item_fit_statistics", fail)
    with pytest.raises(ValueError, match="bad block"):
        IRT("2pl").fit(responses)


def test_windowed_posterior_equals_the_whole_grid():
    """Exponentiating only the window where some row keeps mass gives the whole grid's
    posterior (zero outside, to rounding inside), also for rows far apart."""
    from stepladder.difficulty._quadrature import _LOG_TINY, Quadrature

    quadrature = Quadrature(41, 6.0, refine=16)
    theta = np.array([-2.0, -1.9, 0.3, 2.5])
    loglik = -0.5 * 400.0 * (quadrature.nodes[None, :] - theta[:, None]) ** 2
    posterior, marginal = quadrature.posterior(loglik)
    log_joint = loglik @ quadrature._interpolate + quadrature.log_weights
    peak = log_joint.max(axis=1, keepdims=True)
    shifted = np.where(log_joint - peak < _LOG_TINY, -np.inf, log_joint - peak)
    expected = np.exp(shifted)
    total = expected.sum(axis=1)
    np.testing.assert_allclose(posterior, expected / total[:, None], rtol=1e-13, atol=1e-300)
    np.testing.assert_allclose(marginal, np.log(total) + peak[:, 0], rtol=1e-14)
    assert np.count_nonzero(posterior) < 0.2 * posterior.size  # narrow posteriors
    nan_rows = quadrature.posterior(np.full((2, 41), np.nan))[1]
    assert np.isnan(nan_rows).all()


@pytest.mark.parametrize("model", ["1pl", "2pl"])
def test_float32_score_products_match_float64(responses, model):
    """The 1PL/2PL standard errors come from float32 block products: their per-item sums of
    squared scores stay within 1e-5 of float64's (the Bernoulli form y G - f H has no
    cancelling terms for 0/1 responses)."""
    from stepladder.difficulty.irt import _e_step, _to_parameters

    fit = IRT(model, dense=True).fit(responses)
    matrices = ResponseMatrices.from_responses(responses, dense=True)
    quadrature = fit.quadrature_
    posterior = quadrature.fold(_e_step(matrices, fit.state_, model, quadrature)[0])
    tables = se_module._derivative_tables(model, _to_parameters(fit.state_), quadrature.nodes)
    sums = {dtype: se_module._item_score_products(matrices, posterior, tables, dtype=dtype)
            for dtype in (np.float32, np.float64)}  # fmt: skip
    for pair in ((0, 0), (1, 1)):
        np.testing.assert_allclose(sums[np.float32][pair], sums[np.float64][pair], rtol=1e-5)
    cross = sums[np.float64][0, 1]
    np.testing.assert_allclose(sums[np.float32][0, 1], cross, atol=1e-5 * np.abs(cross).max())


def test_small_fits_run_their_blocks_in_turn_with_the_same_result(monkeypatch, responses):
    """Below THREADED_MIN_RESPONSES the blocks run in turn (no item fit on a background
    thread); on two worker threads, forced, the fit is exactly the same."""
    from stepladder.difficulty import _design
    from stepladder.difficulty import irt as irt_module

    monkeypatch.setattr(_design, "worker_threads", lambda: 2)
    small = IRT("2pl").fit(responses)
    assert len(responses) < irt_module.THREADED_MIN_RESPONSES and small._item_fit is None
    monkeypatch.setattr(irt_module, "THREADED_MIN_RESPONSES", 0)
    threaded = IRT("2pl").fit(responses)
    assert threaded._item_fit is not None
    np.testing.assert_array_equal(small.items_.difficulty, threaded.items_.difficulty)
    np.testing.assert_array_equal(small.se_["difficulty"], threaded.se_["difficulty"])
    np.testing.assert_array_equal(small.abilities_, threaded.abilities_)


def test_dense_matrices_of_an_ordered_log_in_two_halves(monkeypatch):
    """A log ordered by learner is filled in two halves that meet at a learner's first row,
    on one or two worker threads: the same matrices as the sums of every row, repeats and
    a learner permutation included."""
    from stepladder.difficulty import _design

    rng = np.random.default_rng(5)
    learner = np.sort(rng.integers(0, 40, 3_000))
    item = rng.integers(0, 25, 3_000)  # with repeated (learner, item) pairs
    responses = Responses.from_long(learner, item, rng.integers(0, 2, 3_000).astype(float))
    shape = (responses.n_learners, responses.n_items)
    assert _design._ordered(responses.learner)
    rows = rng.permutation(shape[0])
    flat = rows[responses.learner] * shape[1] + responses.item
    expected = np.bincount(flat, responses.successes, shape[0] * shape[1]).reshape(shape)
    counts = np.bincount(flat, minlength=shape[0] * shape[1]).reshape(shape)
    for threads in (1, 2):
        monkeypatch.setattr(_design, "worker_threads", lambda threads=threads: threads)
        y, n = _dense_matrices(responses, shape, chunk=97, rows=rows)
        np.testing.assert_array_equal(y, expected.astype(np.float32))
        np.testing.assert_array_equal(n, counts.astype(np.float32))
