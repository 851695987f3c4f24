"""--model auto: BIC picks the model the data support; diagnostics say when they cannot."""

import numpy as np
import pytest

from stepladder.difficulty import IRT, AutoIRT, Priors, Responses


def _two_pl(n_learners: int, n_items: int, slope_sd: float, seed: int) -> Responses:
    rng = np.random.default_rng(seed)
    theta, b = rng.normal(size=n_learners), rng.normal(size=n_items)
    a = rng.lognormal(0.0, slope_sd, n_items)
    p = 1 / (1 + np.exp(-a[:, None] * (theta[None, :] - b[:, None])))
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


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: AutoIRT(candidates=("1pl", "elo")), "candidates must be IRT models"),
        (lambda: AutoIRT(candidates=()), "candidates must be IRT models"),
        (lambda: AutoIRT(method="bogus"), "method must be one of"),
        (lambda: Priors(log_discrimination=(0.0, 0.0)), "log_discrimination must be (mean, sd)"),
        (lambda: Priors(intercept_sd=-1.0), "intercept_sd must be > 0"),
        (lambda: IRT("2pl", constant_items="drop"), "constant_items must be"),
    ],
)
def test_bad_configuration_is_one_line(make, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        make()
