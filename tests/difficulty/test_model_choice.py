"""--model auto: BIC or held-out log-likelihood picks the model the data support;
diagnostics say when they cannot."""

import numpy as np
import pytest
from scipy.special import expit, logsumexp

from stepladder.difficulty import IRT, AutoIRT, Priors, Responses
from stepladder.difficulty.model_choice import heldout_split, predictive_loglik


def _two_pl(n_learners: int, n_items: int, slope_sd: float, seed: int) -> Responses:
    rng = np.random.default_rng(seed)
    theta, b = rng.normal(size=n_learners), rng.normal(size=n_items)
    a = rng.lognormal(0.0, slope_sd, n_items)
    p = 1 / (1 + np.exp(-a[:, None] * (theta[None, :] - b[:, None])))
    return Responses.from_matrix((rng.random(p.shape) < p).astype(float))


def _one_pl(n_learners: int, n_items: int, seed: int) -> Responses:
    rng = np.random.default_rng(seed)
    theta, b = rng.normal(size=n_learners), rng.normal(size=n_items)
    p = expit(theta[None, :] - b[:, None])
    return Responses.from_matrix((rng.random(p.shape) < p).astype(float))


def test_many_learners_and_varied_slopes_choose_the_2pl():
    auto = AutoIRT(candidates=("1pl", "2pl")).fit(_two_pl(2000, 12, slope_sd=0.6, seed=1))
    assert auto.chosen_ == "2pl" and auto.bic_["2pl"] < auto.bic_["1pl"]
    summary = auto.summary()
    assert summary["model"] == "2pl" and summary["selection"]["criterion"] == "bic"
    assert summary["selection"]["reason"].startswith("auto chose 2pl: lowest BIC (2pl ")
    assert summary["diagnostics"]["advice"] is None  # 1,000 responses per item parameter
    assert auto.item_table().equals(auto.fits_["2pl"].item_table())


def test_few_learners_many_items_choose_the_1pl_and_the_2pl_says_so():
    log = _two_pl(20, 400, slope_sd=0.3, seed=2)
    auto = AutoIRT(candidates=("1pl", "2pl")).fit(log)
    assert auto.chosen_ == "1pl"
    diagnostics = auto.fits_["2pl"].diagnostics()
    assert diagnostics["slopes_on_prior"] > diagnostics["fitted_items"] / 2
    assert diagnostics["advice"].startswith("the data cannot support a 2pl: ")
    assert diagnostics["advice"].endswith("use --model 1pl (or --model auto)")


def test_bic_counts_the_fitted_items_only():
    model = IRT("1pl").fit(_two_pl(50, 10, slope_sd=0.3, seed=3))
    summary = model.summary()
    k = int(np.count_nonzero(model.fitted_)) + 1
    assert summary["n_parameters"] == k
    assert summary["bic"] == pytest.approx(k * np.log(50) - 2 * summary["loglik"])


def test_heldout_picks_the_1pl_on_1pl_data():
    auto = AutoIRT(criterion="heldout").fit(_one_pl(500, 20, seed=4))
    assert auto.chosen_ == "1pl" and auto.n_heldout_ == 2_000  # 20% of 20 responses x 500
    assert set(auto.fits_) == {"1pl"} and set(auto.heldout_fits_) == {"1pl", "2pl", "3pl"}
    selection = auto.summary()["selection"]
    assert selection["criterion"] == "heldout" and selection["heldout_responses"] == 2_000
    assert selection["reason"].startswith(
        "auto chose 1pl: it predicts held-out responses best (2,000 responses, 20% of each "
        "learner's, seed 0, scored by their log-likelihood after refitting without them: 1pl "
    )
    # The tables are those of the chosen model fitted on every response.
    assert auto.item_table().equals(IRT("1pl").fit(_one_pl(500, 20, seed=4)).item_table())


def test_heldout_picks_the_2pl_on_2pl_data_with_many_learners():
    auto = AutoIRT(criterion="heldout").fit(_two_pl(2000, 12, slope_sd=0.6, seed=1))
    assert auto.chosen_ == "2pl"
    assert min(auto.heldout_, key=auto.heldout_.__getitem__) == "1pl"


def test_heldout_split_is_seeded_and_per_learner():
    log = Responses.from_matrix(np.where(np.eye(10, 6) > 0, np.nan, 1.0))  # 9 or 10 each
    held = heldout_split(log, 0.25, seed=3)
    assert np.bincount(log.learner[held], minlength=6).tolist() == [2, 2, 2, 2, 2, 2]
    assert np.array_equal(held, heldout_split(log, 0.25, seed=3))
    assert not np.array_equal(held, heldout_split(log, 0.25, seed=4))
    single = Responses.from_matrix([[1.0, 0.0, np.nan], [np.nan, 1.0, 1.0]])
    held = heldout_split(single, 0.9, seed=0)  # 1, 2 and 1 responses: one of 2 held out
    assert np.bincount(single.learner[held], minlength=3).tolist() == [0, 1, 0]
    lone = Responses.from_matrix([[1.0, 0.0], [np.nan, np.nan]])
    with pytest.raises(ValueError, match="needs learners with at least 2 responses"):
        AutoIRT(criterion="heldout").fit(lone)


@pytest.mark.parametrize("model", ["2pl", "3pl"])
def test_predictive_loglik_equals_a_brute_force_integral(model):
    log = _two_pl(40, 30, slope_sd=0.4, seed=5)
    held = heldout_split(log, 0.3, seed=1)
    train = Responses(log.learner[~held], log.item[~held], log.successes[~held],
                      log.trials[~held], log.learner_ids, log.item_ids)  # fmt: skip
    fit = IRT(model).fit(train)
    # log p(held_j | train_j) = log m(all_j) - log m(train_j), trapezoid on [-10, 10]
    grid = np.linspace(-10.0, 10.0, 20_001)
    log_p = np.log(fit.items_.probability(grid))
    log_q = np.log1p(-fit.items_.probability(grid))
    expected = 0.0
    for j in range(log.n_learners):
        mine = log.learner == j
        loglik = {}
        for name, rows in (("train", mine & ~held), ("held", mine & held)):
            y, i = log.successes[rows], log.item[rows]
            loglik[name] = log_p[:, i] @ y + log_q[:, i] @ (1 - y)
        prior = -0.5 * grid**2
        both = logsumexp(prior + loglik["train"] + loglik["held"])
        expected += both - logsumexp(prior + loglik["train"])
    assert predictive_loglik(fit, log, ~held, held) == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: AutoIRT(candidates=("1pl", "elo")), "candidates must be IRT models"),
        (lambda: AutoIRT(candidates=()), "candidates must be IRT models"),
        (lambda: AutoIRT(method="bogus"), "method must be one of"),
        (lambda: AutoIRT(criterion="aic"), "criterion must be one of bic, heldout"),
        (lambda: AutoIRT(criterion="heldout", holdout=1.0), "holdout must be a share in"),
        (lambda: Priors(log_discrimination=(0.0, 0.0)), "log_discrimination must be (mean, sd)"),
        (lambda: Priors(intercept_sd=-1.0), "intercept_sd must be > 0"),
        (lambda: IRT("2pl", constant_items="drop"), "constant_items must be"),
    ],
)
def test_bad_configuration_is_one_line(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()
