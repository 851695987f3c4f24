import warnings

import numpy as np
import pytest
from scipy.stats import spearmanr

from stepladder.difficulty import IRT, Priors, Responses

# LSAT section 6 (Bock & Lieberman, 1970): 1,000 examinees x 5 items, as response-pattern
# counts; the classic check of IRT software.
LSAT_PATTERNS = {
    "00000": 3, "00001": 6, "00010": 2, "00011": 11, "00100": 1, "00101": 1, "00110": 3,
    "00111": 4, "01000": 1, "01001": 8, "01011": 16, "01101": 3, "01110": 2, "01111": 15,
    "10000": 10, "10001": 29, "10010": 14, "10011": 81, "10100": 3, "10101": 28, "10110": 15,
    "10111": 80, "11000": 16, "11001": 56, "11010": 21, "11011": 173, "11100": 11,
    "11101": 61, "11110": 28, "11111": 298,
}  # fmt: skip
# R ltm 1.2 (MML, 21-point Gauss-Hermite), ltm(LSAT ~ z1, IRT.param = TRUE): published output.
LTM_2PL_DIFFICULTY = [-3.3597, -1.3696, -0.2799, -1.8659, -3.1236]
LTM_2PL_DISCRIMINATION = [0.8254, 0.7229, 0.8905, 0.6886, 0.6575]
LTM_2PL_SE_DIFFICULTY = [0.8669, 0.3073, 0.0997, 0.4341, 0.8700]
LTM_2PL_SE_DISCRIMINATION = [0.2581, 0.1867, 0.2326, 0.1852, 0.2100]
LTM_2PL_LOGLIK = -2466.653
# ltm's rasch(LSAT): one shared discrimination.
LTM_1PL_DIFFICULTY = [-3.6153, -1.3224, -0.3176, -1.7301, -2.7802]
LTM_1PL_DISCRIMINATION = 0.7551
LTM_1PL_SE_DIFFICULTY = [0.3266, 0.1422, 0.0977, 0.1691, 0.2510]
LTM_1PL_SE_DISCRIMINATION = 0.0694
LTM_1PL_LOGLIK = -2466.938


@pytest.fixture(scope="module")
def lsat() -> Responses:
    rows = [[int(c) for c in pattern] for pattern, n in LSAT_PATTERNS.items() for _ in range(n)]
    return Responses.from_matrix(np.array(rows, dtype=float).T)


def simulate(n_learners, n_items, *, missing=0.0, guessing=0.0, seed=0):
    rng = np.random.default_rng(seed)
    theta = rng.normal(size=n_learners)
    b = rng.normal(size=n_items)
    a = rng.lognormal(0.0, 0.3, n_items)
    p = guessing + (1 - guessing) / (1 + np.exp(-a[:, None] * (theta[None, :] - b[:, None])))
    matrix = (rng.random(p.shape) < p).astype(float)
    matrix[rng.random(p.shape) < missing] = np.nan
    return Responses.from_matrix(matrix), theta, a, b


# ltm fits by plain marginal maximum likelihood: compare with the barely informative priors.
def test_2pl_matches_ltm_on_lsat(lsat):
    model = IRT("2pl", priors=Priors.weak()).fit(lsat)
    np.testing.assert_allclose(model.items_.difficulty, LTM_2PL_DIFFICULTY, atol=0.05)
    np.testing.assert_allclose(model.items_.discrimination, LTM_2PL_DISCRIMINATION, atol=0.05)
    assert model.report_.loglik == pytest.approx(LTM_2PL_LOGLIK, abs=0.01)
    assert model.report_.converged


def test_2pl_standard_errors_match_ltm_on_lsat(lsat):
    model = IRT("2pl", priors=Priors.weak()).fit(lsat)
    np.testing.assert_allclose(model.se_["difficulty"], LTM_2PL_SE_DIFFICULTY, rtol=0.1)
    np.testing.assert_allclose(model.se_["discrimination"], LTM_2PL_SE_DISCRIMINATION, rtol=0.1)


def test_1pl_matches_ltm_rasch_on_lsat(lsat):
    model = IRT("1pl", priors=Priors.weak()).fit(lsat)
    np.testing.assert_allclose(model.items_.difficulty, LTM_1PL_DIFFICULTY, atol=0.05)
    np.testing.assert_allclose(model.items_.discrimination, LTM_1PL_DISCRIMINATION, atol=0.01)


def test_1pl_standard_errors_include_the_shared_slope(lsat):
    # ltm's SEs come from the full information of (a, b_1..b_5): away from b = 0 the
    # slope's uncertainty adds to each difficulty's (item 1: 0.33 against 0.26 without it).
    model = IRT("1pl", priors=Priors.weak()).fit(lsat)
    np.testing.assert_allclose(model.se_["difficulty"], LTM_1PL_SE_DIFFICULTY, rtol=0.03)
    np.testing.assert_allclose(model.se_["discrimination"], LTM_1PL_SE_DISCRIMINATION, rtol=0.03)
    assert model.report_.loglik == pytest.approx(LTM_1PL_LOGLIK, abs=0.01)
    table = model.item_table()
    assert len(set(table.column("se_discrimination").to_pylist())) == 1


def _penalised_loglik(model, scale: float = 1.0) -> float:
    """Exact marginal log-likelihood plus log prior, the slopes multiplied by ``scale``."""
    from stepladder.difficulty._design import ResponseMatrices
    from stepladder.difficulty.irt import _exact_loglik, _log_prior, _State

    state = model.state_
    moved = _State(state.a * scale, state.delta, state.c, state.d)
    matrices = ResponseMatrices.from_responses(model.responses_)
    loglik = _exact_loglik(matrices, moved, model.model, model.quadrature_)
    return loglik + _log_prior(moved, model.priors_, model.model)


@pytest.mark.parametrize("priors", [Priors.weak(), None])
def test_1pl_stops_at_the_optimum_of_the_shared_slope(priors):
    # Many items and spread difficulties: where a slope step that ignores how the intercepts
    # move with it lands short. The fit must be a maximum along the slope too.
    responses, *_ = simulate(300, 60, seed=4)
    model = IRT("1pl", priors=priors).fit(responses)
    best = _penalised_loglik(model)
    assert best >= _penalised_loglik(model, 1.01) and best >= _penalised_loglik(model, 0.99)
    history = np.asarray(model.report_.loglik_history)
    assert np.all(np.diff(history) >= -1e-5 * np.abs(history[1:]))
    assert model.report_.converged and model.summary()["largest_decrease"] < 1e-2


def test_a_falling_objective_is_reported_as_not_converged(monkeypatch):
    import stepladder.difficulty.irt as irt

    original = irt._m_step

    def downhill(*args):  # an M-step that shrinks every slope: the objective falls
        state = original(*args)
        return irt._State(state.a * 0.7, state.delta, state.c, state.d)

    monkeypatch.setattr(irt, "_m_step", downhill)
    responses, *_ = simulate(200, 10, seed=5)
    summary = IRT("2pl", max_iter=30).fit(responses).summary()
    assert not summary["converged"] and not summary["monotone"]
    assert summary["largest_decrease"] > 1.0


def test_loglik_is_the_marginal_likelihood_of_the_returned_parameters(lsat):
    from scipy.special import roots_hermitenorm

    model = IRT("2pl").fit(lsat)
    nodes, weights = roots_hermitenorm(101)
    p = model.items_.probability(nodes)  # nodes x items
    matrix = _matrix(lsat)  # items x learners
    log_like = matrix.T @ np.log(p).T + (1 - matrix.T) @ np.log1p(-p).T  # learners x nodes
    exact = np.sum(np.log(np.exp(log_like) @ (weights / weights.sum())))
    assert model.report_.loglik == pytest.approx(exact, abs=1e-3)
    k = model.summary()["n_parameters"]
    assert model.summary()["aic"] == pytest.approx(2 * k - 2 * exact, abs=1e-2)


@pytest.mark.parametrize("seed", [9, 10])
def test_small_samples_never_report_a_zero_standard_error(seed):
    # 60 learners x 32 items, one item answered at random (its slope comes out near 0): its
    # difficulty is barely determined, so its SE must be large (or NaN); none may be 0.
    # (Before: 2 and 22 SEs of exactly 0.0 with these seeds.)
    responses, *_ = simulate(60, 32, seed=seed)
    matrix = _matrix(responses)
    matrix[0] = np.random.default_rng(seed + 1).random(60) < 0.5
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        model = IRT("2pl", priors=Priors.weak()).fit(Responses.from_matrix(matrix))
    assert abs(model.items_.discrimination[0]) < 0.2
    for name in ("difficulty", "discrimination"):
        se = model.se_[name]
        assert np.all(np.isnan(se) | (se > 0.1)), name
    assert np.isnan(model.se_["difficulty"][0]) or model.se_["difficulty"][0] > 2


def test_singular_information_gives_nan_and_a_warning():
    from stepladder.difficulty._standard_errors import _inverse_diagonals

    blocks = np.array([[[1.0, 0.0], [0.0, 2.0]], [[1.0, 1.0], [1.0, 1.0]], [[1.0, 0], [0, -1.0]]])
    out = _inverse_diagonals(blocks)
    np.testing.assert_allclose(out[0], [1.0, 0.5])
    assert np.isnan(out[1:]).all()
    responses, *_ = simulate(40, 6, seed=9)
    with pytest.warns(RuntimeWarning, match="standard errors are NaN"):
        IRT("2pl", priors=Priors(log_discrimination=None, difficulty=None, intercept_sd=1e9,
                                 discrimination=(1.0, 1e-12))).fit(responses)  # fmt: skip


def test_recovers_simulated_difficulty():
    responses, theta, a, b = simulate(1000, 2000, missing=0.5)
    model = IRT("2pl").fit(responses)
    assert spearmanr(model.items_.difficulty, b)[0] >= 0.98
    assert spearmanr(model.items_.discrimination, a)[0] >= 0.85
    assert spearmanr(model.abilities_, theta)[0] >= 0.98


def test_many_responses_per_learner_keep_scale_and_abilities():
    # Posteriors much narrower than the node spacing: the refined grid must resolve them.
    # Plain MML: with the default priors, 5000 slopes pulled towards 1 set the scale instead
    # of the N(0, 1) ability prior (the slope recovers the generating scale, 0.92 here).
    responses, theta, a, b = simulate(200, 5000, seed=1)
    model = IRT("2pl", priors=Priors.weak(), standard_errors=False).fit(responses)
    assert model.quadrature_.refine > 1
    # Abilities are standardised on this sample, whose spread is theta.std().
    slope = np.polyfit(b, model.items_.difficulty, 1)[0]
    assert slope * theta.std() == pytest.approx(1.0, abs=0.07)
    ratio = np.mean(model.items_.discrimination) / np.mean(a) / theta.std()
    assert ratio == pytest.approx(1.0, abs=0.05)
    standardised = (theta - theta.mean()) / theta.std()
    error = np.sqrt(np.mean((model.abilities_ - standardised) ** 2))
    assert np.mean(model.se_abilities_) == pytest.approx(error, rel=0.3)  # calibrated SEs
    classical = IRT("2pl", refine=1, standard_errors=False).fit(responses)
    classical_error = np.sqrt(np.mean((classical.abilities_ - standardised) ** 2))
    assert classical_error > 2 * error  # fixed nodes collapse abilities onto a few values


def test_refined_posterior_equals_em_on_the_fine_grid():
    responses, *_ = simulate(100, 800, seed=9)
    fast = IRT("2pl", quadrature=41, refine=4, standard_errors=False).fit(responses)
    exact = IRT("2pl", quadrature=161, refine=1, standard_errors=False).fit(responses)
    np.testing.assert_allclose(fast.items_.difficulty, exact.items_.difficulty, atol=2e-3)
    np.testing.assert_allclose(fast.items_.discrimination, exact.items_.discrimination, rtol=2e-3)
    assert fast.report_.loglik == pytest.approx(exact.report_.loglik, abs=0.5)


def test_constant_items_are_left_out_and_flagged():
    responses, *_ = simulate(200, 20, seed=2)
    matrix = np.vstack([np.ones(200), np.zeros(200), np.nan_to_num(_matrix(responses))])
    log = Responses.from_matrix(matrix)
    model = IRT("2pl").fit(log)
    table = model.item_table().to_pydict()
    assert table["flag"][:3] == ["all correct", "all wrong", None]
    assert np.isnan(table["difficulty"][:2]).all() and np.isfinite(table["difficulty"][2:]).all()
    assert model.summary()["n_parameters"] == 2 * 20
    # The other items are fitted exactly as without the constant ones.
    alone = IRT("2pl").fit(responses).items_.difficulty
    np.testing.assert_allclose(table["difficulty"][2:], alone, atol=1e-6)


def test_constant_items_can_be_included_and_stay_finite():
    responses, *_ = simulate(200, 20, seed=2)
    matrix = np.vstack([np.ones(200), np.zeros(200), np.nan_to_num(_matrix(responses))])
    model = IRT("2pl", constant_items="include").fit(Responses.from_matrix(matrix))
    table = model.item_table().to_pydict()
    for column in ("difficulty", "discrimination", "se_difficulty"):
        assert np.isfinite(table[column]).all(), column
    assert table["difficulty"][0] < -3 and table["difficulty"][1] > 3
    assert table["flag"][:3] == ["all correct", "all wrong", None]


def _matrix(responses: Responses) -> np.ndarray:
    out = np.full((responses.n_items, responses.n_learners), np.nan)
    out[responses.item, responses.learner] = responses.scores
    return out


def test_k_of_n_rows_equal_repeated_rows():
    rng = np.random.default_rng(3)
    learner = np.repeat(np.arange(50), 10)
    item = np.tile(np.arange(10), 50)
    successes = rng.integers(0, 4, len(item)).astype(float)
    aggregated = Responses.from_long(learner, item, successes, trials=np.full(len(item), 3.0))
    expanded_rows = [(j, i, float(k > t)) for j, i, k in zip(learner, item, successes, strict=True)
                     for t in range(3)]  # fmt: skip
    expanded = Responses.from_long(*map(list, zip(*expanded_rows, strict=True)))
    a = IRT("2pl").fit(aggregated).items_.difficulty
    b = IRT("2pl").fit(expanded).items_.difficulty
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_fractional_scores_are_accepted():
    responses, *_ = simulate(300, 30, seed=4)
    scores = np.clip(responses.scores * 0.8 + 0.1, 0, 1)
    fractional = Responses(responses.learner, responses.item, scores, responses.trials,
                           responses.learner_ids, responses.item_ids)  # fmt: skip
    assert np.isfinite(IRT("2pl").fit(fractional).items_.difficulty).all()


def test_dense_and_sparse_paths_agree():
    responses, *_ = simulate(300, 100, missing=0.7, seed=5)
    dense = IRT("2pl", dense=True).fit(responses)
    sparse = IRT("2pl", dense=False).fit(responses)
    np.testing.assert_allclose(dense.items_.difficulty, sparse.items_.difficulty, atol=1e-3)
    np.testing.assert_allclose(dense.se_["difficulty"], sparse.se_["difficulty"], rtol=1e-2)


def test_jml_and_map_options():
    responses, _, _, b = simulate(500, 200, missing=0.3, seed=6)
    jml = IRT("2pl", method="jml").fit(responses)
    assert spearmanr(jml.items_.difficulty, b)[0] >= 0.97
    assert jml.summary()["method"] == "jml"
    history = np.asarray(jml.report_.loglik_history)  # joint log posterior: an ascent
    assert np.all(np.diff(history) >= -1e-5 * np.abs(history[1:])) and jml.report_.monotone
    one = IRT("1pl", method="jml").fit(responses)
    assert one.report_.converged and one.report_.monotone
    assert np.isfinite(one.se_["discrimination"]).all()
    tight = IRT("2pl", priors=Priors(discrimination=(1.0, 0.05))).fit(responses)
    assert np.abs(tight.items_.discrimination - 1.0).max() < 0.1


def test_3pl_and_4pl_fit_and_stay_in_bounds():
    responses, _, _, b = simulate(800, 60, guessing=0.2, seed=7)
    for name in ("3pl", "4pl"):
        model = IRT(name, max_iter=300).fit(responses)
        items = model.items_
        assert ((items.guessing >= 0) & (items.guessing <= 0.5)).all()
        assert ((items.slipping >= 0) & (items.slipping <= 0.5)).all()
        assert spearmanr(items.difficulty, b)[0] > 0.85
        assert "guessing" in model.item_table().column_names


def test_fit_statistics_and_summary():
    responses, *_ = simulate(400, 50, seed=8)
    model = IRT("2pl").fit(responses)
    fit = model.item_fit()
    assert 0.9 < np.mean(fit["infit"]) < 1.1 and 0.85 < np.mean(fit["outfit"]) < 1.15
    summary = model.summary()
    k = 2 * 50
    assert summary["n_parameters"] == k
    assert summary["aic"] == pytest.approx(2 * k - 2 * summary["loglik"])
    assert summary["bic"] == pytest.approx(k * np.log(400) - 2 * summary["loglik"])
    assert summary["iterations"] >= 1 and summary["converged"]
    learners = model.learner_table()
    assert learners.column_names == ["learner_id", "ability", "n_responses", "se_ability"]


@pytest.mark.parametrize(
    ("matrix", "message"),
    [([[1.0, 0.0, 1.0]], "at least 2 items"), ([[1.0], [0.0]], "at least 2 learners")],
)
def test_too_little_data_is_named(matrix, message):
    with pytest.raises(ValueError, match=message):
        IRT("2pl").fit(Responses.from_matrix(matrix))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"model": "5pl"}, "model must be one of"),
        ({"method": "vi"}, "method must be one of"),
        ({"model": "3pl", "method": "jml"}, "supports 1pl and 2pl"),
        ({"quadrature": 3}, "at least 5"),
    ],
)
def test_bad_configuration(kwargs, message):
    with pytest.raises(ValueError, match=message):
        IRT(**kwargs)


def test_unfitted_model_says_so():
    with pytest.raises(RuntimeError, match="not fitted"):
        IRT().item_table()
