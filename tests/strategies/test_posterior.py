import math
import time

import numpy as np
import pytest

from stepladder import Curriculum, ItemPool, Outcomes
from stepladder.stats import ItemStats
from stepladder.strategies import create
from stepladder.strategies.baselines import Uniform

# The methods as published; the default safety net is tested in tests/test_safety.py.
pytestmark = pytest.mark.usefixtures("without_default_net")


def bound(name: str, size: int, seed: int, **params):
    """A strategy bound outside a curriculum: only for strategies that keep their own
    posterior (``cures``) or are not observed; the others read ``cur.stats``."""
    strategy = create(name, **params)
    strategy.bind(ItemPool(size=size), ItemStats(size), np.random.default_rng(seed))
    return strategy


# --------------------------------------------------------------------------- MoPPS


def test_mopps_keeps_candidates_whose_thompson_draw_is_closest_to_half():
    cur = Curriculum(50, "mopps", seed=5, ratio=4)
    cur.observe(Outcomes(np.arange(20), np.tile([1.0, 0, 0, 0], (20, 1))))
    proposal = cur.propose(3)
    assert cur.strategy.posterior is None  # decay 1: the posterior is the curriculum's stats

    # By hand: the same generator draws 12 uniform candidates, then one Beta draw each.
    rng = np.random.default_rng(5)
    uniform = Uniform()
    uniform.bind(ItemPool(size=50), ItemStats(50), rng)
    candidates = uniform.propose(12).indices
    alpha = np.where(candidates < 20, 1.0 + 1, 1.0)  # 1 success of 4
    beta = np.where(candidates < 20, 1.0 + 3, 1.0)
    draws = rng.beta(alpha, beta)
    expected = candidates[np.argsort((draws - 0.5) ** 2, kind="stable")[:3]]
    assert proposal.indices.tolist() == expected.tolist()
    assert proposal.rollouts is None


def test_mopps_band_mode_picks_at_random_inside_the_band_then_nearest():
    strategy = bound("mopps", 30, seed=2, ratio=3, band=(0.3, 0.7))
    proposal = strategy.propose(4)
    rng = np.random.default_rng(2)
    uniform = Uniform()
    uniform.bind(ItemPool(size=30), ItemStats(30), rng)
    candidates = uniform.propose(12).indices
    draws = rng.beta(np.ones(12), np.ones(12))
    inside = np.flatnonzero((draws >= 0.3) & (draws <= 0.7))
    assert len(inside) >= 4  # this seed has enough candidates in the band
    expected = candidates[rng.choice(inside, size=4, replace=False)]
    assert proposal.indices.tolist() == expected.tolist()


def test_mopps_band_mode_fills_up_with_the_candidates_nearest_the_band():
    strategy = bound("mopps", 30, seed=2, ratio=2, band=(0.49, 0.51))
    proposal = strategy.propose(5)
    rng = np.random.default_rng(2)
    uniform = Uniform()
    uniform.bind(ItemPool(size=30), ItemStats(30), rng)
    candidates = uniform.propose(10).indices
    draws = rng.beta(np.ones(10), np.ones(10))
    assert np.count_nonzero((draws >= 0.49) & (draws <= 0.51)) < 5
    gap = np.maximum(np.maximum(0.49 - draws, draws - 0.51), 0.0)
    expected = candidates[np.argsort(gap, kind="stable")[:5]]
    assert proposal.indices.tolist() == expected.tolist()


def test_mopps_decay_forgets_old_evidence_by_the_formula():
    cur = Curriculum(3, "mopps", seed=0, decay=0.5)
    cur.observe(Outcomes([0], [[1.0, 1, 1, 1]]))  # alpha = .5*1 + .5*1 + 4 = 5, beta = 1
    cur.observe(Outcomes([0], [[0.0, 0, 0, 0]]))  # alpha = 2.5 + .5 = 3, beta = .5+.5+4
    alpha, beta = cur.strategy.beta([0, 1])
    assert alpha.tolist() == [3.0, 1.0]  # unobserved items keep the prior
    assert beta.tolist() == [5.0, 1.0]
    assert "posterior" in cur.strategy.state_dict()  # decay < 1: a posterior of its own


def test_mopps_candidate_pool_is_capped_by_the_pool_and_avoids_duplicates():
    strategy = bound("mopps", 10, seed=0)  # ratio 16: 16 * 5 = 80 candidates, capped at 10
    proposal = strategy.propose(5)
    assert len(set(proposal.indices.tolist())) == 5
    assert strategy.metrics()["candidates"] == 10.0
    assert len(strategy.propose(25)) == 25  # more than the pool: items repeat


def test_mopps_prefers_prompts_near_half_over_training():
    rng = np.random.default_rng(0)
    true_p = np.linspace(0.0, 1.0, 200)
    cur = Curriculum(200, "mopps", seed=0, ratio=4)
    picked = []
    for _ in range(60):
        batch = cur.propose(16)
        picked.append(batch.indices)
        rewards = (rng.random((16, 8)) < true_p[batch.indices, None]).astype(float)
        cur.observe(Outcomes(batch.indices, rewards))
    late = np.concatenate(picked[-20:])
    assert np.mean(np.abs(true_p[late] - 0.5)) < 0.17  # uniform would give 0.25


@pytest.mark.parametrize(
    "params",
    [{"ratio": 0}, {"decay": 0.2}, {"band": (0.7, 0.3)}, {"band": "x"}, {"prior": (0, 1)}],
)
def test_mopps_rejects_bad_parameters(params):
    with pytest.raises(ValueError):
        create("mopps", **params)


# --------------------------------------------------------------------------- CurES


def three_items(**params):
    strategy = bound("cures", 3, seed=0, **params)
    cold = strategy.propose(3)  # the cold start proposes every prompt once
    assert sorted(cold.indices.tolist()) == [0, 1, 2] and cold.rollouts.tolist() == [4, 4, 4]
    # posteriors: item 0 Beta(2, 2) -> p = .5; item 1 Beta(1, 3) -> .25; item 2 Beta(1, 9) -> .1
    strategy.observe(Outcomes.from_groups([0, 1, 2], [[1, 0], [0, 0], [0] * 8]))
    return strategy


def test_cures_sampling_probabilities_by_hand():
    strategy = three_items()  # tau = 0.1
    sd = [math.sqrt(0.5 * 0.5), math.sqrt(0.25 * 0.75), math.sqrt(0.1 * 0.9)]
    weights = [math.exp(s / 0.1) for s in sd]  # e^5 = 148.41, e^4.330 = 75.96, e^3 = 20.09
    expected = [w / sum(weights) for w in weights]
    np.testing.assert_allclose(strategy.probabilities(), expected, rtol=1e-12)
    np.testing.assert_allclose(expected, [0.6071, 0.3107, 0.0822], atol=1e-4)


def test_cures_sampling_probabilities_match_the_authors_code():
    # Expected values: EpicSampler.update_difficulty then __iter__'s `probs`, run on this
    # counter (Accepted/All = 1/4, 2/4, 0/4, 4/4, 3/4) from github.com/ZexuSun/CurES,
    # commit eccf2983feb62ac977e309ea0f5566d892d1b721, epic/epic_sampler.py (their
    # difficulties are float32, hence rtol 1e-6).
    strategy = bound("cures", 5, seed=0, tau=None)  # tau=None: their per-prompt temperature
    cold = strategy.propose(5)
    assert cold.rollouts.tolist() == [4] * 5  # their num_rollout_min
    solved = [1, 2, 0, 4, 3]
    strategy.observe(Outcomes(range(5), [[1.0] * k + [0.0] * (4 - k) for k in solved]))
    authors = [0.20008433985122487, 0.1999462581039987, 0.20035859464182287,
               0.19976213032172063, 0.19984867708123288]  # fmt: skip
    np.testing.assert_allclose(strategy.probabilities(), authors, rtol=1e-6)


def test_cures_rollout_split_matches_the_authors_code_at_equal_gradient_norms():
    # Expected values: EPICInitializer.init_sample_size (eq. 127), run with 4 cold-start
    # rollouts per prompt, 1, 2, 3 and 2 of them correct, every gradient norm 1.0, and a
    # budget of batch_size * num_rollout_max = 4 * 8, from github.com/ZexuSun/CurES, commit
    # eccf2983feb62ac977e309ea0f5566d892d1b721, epic/stage_0_init_difficulty_sample_size.py.
    strategy = bound("cures", 4, seed=0)
    strategy.propose(4)
    strategy.observe(Outcomes(range(4), [[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 0, 0]]))
    proposal = strategy.propose(4)  # the whole subset, 4 x 8 rollouts
    rollouts = dict(zip(proposal.indices.tolist(), proposal.rollouts.tolist(), strict=True))
    assert [rollouts[i] for i in range(4)] == [7, 9, 7, 9]


def test_cures_rollout_allocation_by_hand():
    strategy = three_items()
    proposal = strategy.propose(3)
    rollouts = dict(zip(proposal.indices.tolist(), proposal.rollouts.tolist(), strict=True))
    # observed fractions a = 1/2, 0/2, 0/8: weights sqrt(a(1-a)) = .5, 0, 0. The zero
    # weights get min_rollouts = 2 (the authors' code gives them 0: dropped), the rest 20.
    assert rollouts == {0: 20, 1: 2, 2: 2}
    np.testing.assert_allclose(strategy.split_weights([0, 1, 2]), [0.5, 0.0, 0.0])


def test_cures_respects_the_minimum_and_exact_total():
    strategy = bound("cures", 6, seed=1, rollouts=4, min_rollouts=3, steps=100)
    strategy.propose(6)
    strategy.observe(Outcomes(range(6), np.array([[1.0] * 40] * 3 + [[1.0, 0.0] * 20] * 3)))
    for n in (1, 4, 6, 13):
        proposal = strategy.propose(n)
        assert int(proposal.rollouts.sum()) == 4 * n and proposal.rollouts.min() >= 3


def test_cures_draws_follow_rho_without_replacement():
    strategy = three_items()
    strategy.steps = 10**5
    counts = np.zeros(3)
    for _ in range(6000):
        counts[strategy.propose(1).indices[0]] += 1
    np.testing.assert_allclose(counts / counts.sum(), strategy.probabilities(), atol=0.02)
    batch = strategy.propose(3).indices
    assert sorted(batch.tolist()) == [0, 1, 2]  # n = pool: every item once
    repeated = np.bincount(strategy.propose(7).indices, minlength=3)
    assert repeated.sum() == 7 and repeated.min() >= 2  # rounds of 3, 3 and 1 draws


def test_cures_scales_to_a_million_prompts():
    strategy = bound("cures", 10**6, seed=0, subset=40_000)
    rng = np.random.default_rng(0)
    seen = strategy.propose(40_000).indices[:20_000]
    strategy.observe(Outcomes(seen, (rng.random((20_000, 8)) < 0.3).astype(float)))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        proposal = strategy.propose(512)
        times.append(time.perf_counter() - start)
    assert len(np.unique(proposal.indices)) == 512
    assert np.isin(proposal.indices, seen).all()  # the rest of the subset is not warmed up
    assert min(times) < 0.1  # typically about 15-30 ms


def test_cures_cold_start_then_selection_then_reset():
    strategy = bound("cures", 100, seed=5, subset=10, steps=2)
    cold = [strategy.propose(4).indices for _ in range(3)]  # 10 subset prompts + 2 topped up
    subset = np.concatenate(cold)
    assert len(np.unique(subset[:10])) == 10 and np.isin(subset[10:], subset[:10]).all()
    assert (strategy.probabilities() == 0).all()  # nothing observed: no prompt can win on 0.5
    strategy.observe(Outcomes(subset[:3], [[1.0, 0.0]] * 3))
    for _ in range(2):  # selection draws only the observed prompts of the subset
        batch = strategy.propose(2)
        assert np.isin(batch.indices, subset[:3]).all()
    np.testing.assert_allclose(strategy.posterior.mean(subset[:3]), 0.5)
    strategy.observe(Outcomes(subset[:1], [[0.0] * 6]))  # Beta(2, 8) for subset[0]
    fresh = strategy.propose(4).indices  # after `steps` selections: a new subset, reset
    assert not np.isin(fresh, subset).any()
    assert np.isclose(strategy.posterior.mean([subset[0]])[0], 0.2)  # not in the new subset
    assert strategy.metrics()["mean_rollouts"] == 4.0  # a cold start: cold_rollouts each


def test_cures_whole_pool_iteration_resets_the_estimates():
    strategy = bound("cures", 4, seed=0, steps=1)
    strategy.observe(Outcomes(strategy.propose(4).indices, [[1.0, 0.0, 0.0, 0.0]] * 4))
    strategy.propose(2)  # the one selection step
    strategy.propose(4)  # new iteration: estimates back to the prior, cold start again
    np.testing.assert_allclose(strategy.posterior.mean(), 0.5)


def test_cures_cache_survives_resume():
    first = three_items()
    second = bound("cures", 3, seed=0)
    second.load_state_dict(first.state_dict())
    np.testing.assert_array_equal(
        first._weights.weights([0, 1, 2]), second._weights.weights([0, 1, 2])
    )
    assert first._weights.total == pytest.approx(second._weights.total, rel=1e-12)


@pytest.mark.parametrize(
    "params",
    [{"tau": 0}, {"tau": float("nan")}, {"rollouts": 1, "min_rollouts": 2}, {"cold_rollouts": 0}],
)
def test_cures_rejects_bad_parameters(params):
    with pytest.raises(ValueError):
        create("cures", **params)
