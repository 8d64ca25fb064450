"""RegMix parity against oracles written from the release (github.com/sail-sg/regmix):
``mixture_config/synthesize_mixture.py`` (proxy mixtures) and ``regression_fitting/regression.ipynb``
(LightGBM regressor, early stopping, top-128 average of 100,000 Dirichlet(prior) candidates).

The oracles are plain loops over single draws; the library is vectorised."""

import random

import numpy as np
import pytest

from mixkit.domain.search import RegMixSearch, candidate_array, recommend, regmix_strengths, token_prior
from mixkit.domain.search.proposals import proposal_array
from mixkit.domain.search.regressors import GBTRegressor, early_stopping_iteration
from optional_extras import needs

ks_2samp = pytest.importorskip("scipy.stats", reason="needs SciPy (pip install 'mixkit[search]')").ks_2samp

SIZES = {"web": 4000, "books": 2000, "code": 500, "de": 1000}
TOTAL = 5000.0  # caps: web 1, books 1, code 0.4, de 0.8 at 4 epochs
N = 2000
# the direct fits spell the release's call (eval_set), which LightGBM >= 4.7 marks as deprecated
pytestmark = pytest.mark.filterwarnings("ignore:The argument 'eval_set' is deprecated")


def oracle_release_proposals(sizes, total, max_epochs, n, multiplier, seed):
    """The release's proxy-mixture rule, one draw at a time: 15 strengths log-spaced over [0.1, 5], one
    Dirichlet(prior**0.5 normalised * s) per strength, one of them chosen at random, rejected above the
    caps, weights < 2e-4 zeroed, renormalised, rounded to multiples of 2e-4; duplicates removed; n of the
    distinct ones chosen at random (then renormalised to sum to 1, as mixkit does)."""
    np_rng = np.random.RandomState(seed)
    py_rng = random.Random(seed)
    counts = np.array(list(sizes.values()), dtype=float)
    caps = [min(1.0, max_epochs * c / total) for c in counts]
    prior = counts**0.5 / (counts**0.5).sum()
    minimum = 2e-4
    strengths = [10 ** (np.log10(0.1) + i * (np.log10(5.0) - np.log10(0.1)) / 14) for i in range(15)]
    kept = []
    for _ in range(n * multiplier):
        per_strength = [np_rng.dirichlet(prior * s) for s in strengths]
        w = py_rng.choice(per_strength)
        if any(w[j] > caps[j] for j in range(len(w))):
            continue
        w = np.array([0.0 if v < minimum else v for v in w])
        w = w / w.sum()
        w = np.round(w / minimum) * minimum
        kept.append(tuple(w))
    distinct = sorted(set(kept))
    chosen = py_rng.sample(distinct, n)
    return np.array([np.array(c) / sum(c) for c in chosen])


def test_strengths_are_the_release_log_spaced_range():
    s = regmix_strengths()
    assert len(s) == 15 and s[0] == pytest.approx(0.1) and s[-1] == pytest.approx(5.0)
    assert np.allclose(np.diff(np.log(s)), np.log(50) / 14)


def test_proposal_distribution_matches_the_release_two_sample():
    ours = proposal_array(SIZES, N, TOTAL, 4.0, 0.5, pool_multiplier=5, seed=11)
    theirs = oracle_release_proposals(SIZES, TOTAL, 4.0, N, multiplier=5, seed=12)
    alpha = 1e-3 / (len(SIZES) + 2)  # Bonferroni over the statistics below
    for j in range(len(SIZES)):
        assert ks_2samp(ours[:, j], theirs[:, j]).pvalue > alpha, j
    assert ks_2samp(ours.max(1), theirs.max(1)).pvalue > alpha  # how concentrated a mixture is
    assert ks_2samp((ours > 0).sum(1), (theirs > 0).sum(1)).pvalue > alpha  # how many domains it uses
    caps = np.array([1.0, 1.0, 0.4, 0.8])
    assert (ours <= caps + len(SIZES) * 2e-4).all() and np.allclose(ours.sum(1), 1)
    assert len({tuple(r) for r in ours}) == N  # distinct
    # the test has power: mixkit's earlier scheme (Dirichlet(prior x K x c)) is told apart
    cycled = proposal_array(SIZES, N, TOTAL, 4.0, 0.5, scheme="cycled", seed=13)
    assert min(ks_2samp(cycled[:, j], theirs[:, j]).pvalue for j in range(len(SIZES))) < 1e-6


def test_candidates_are_dirichlet_of_the_token_distribution():
    ours = candidate_array(SIZES, N, seed=3)
    prior = np.array(list(token_prior(SIZES, 1.0).values()))
    rng = np.random.RandomState(4)
    theirs = np.array([rng.dirichlet(prior * 1) for _ in range(N)])
    for j in range(len(SIZES)):
        assert ks_2samp(ours[:, j], theirs[:, j]).pvalue > 1e-3 / len(SIZES)


def oracle_top_k_mean(candidates, predictions, k):
    order = sorted(range(len(predictions)), key=lambda i: predictions[i])  # stable, lowest first
    total = np.zeros(candidates.shape[1])
    for i in order[:k]:
        total = total + candidates[i]
    return total / k


def test_recommendation_is_the_mean_of_the_top_128_exactly():
    rng = np.random.default_rng(0)
    cand = rng.dirichlet(np.ones(5) * 0.3, 100_000)
    pred = np.round(rng.normal(3.0, 0.2, 100_000), 3)  # rounded: many ties, broken by order
    assert np.array_equal(recommend(cand, pred, 128), oracle_top_k_mean(cand, pred, 128))


class FixedModel:
    """A fixed regressor: prediction = a . w (so the oracle knows every prediction)."""

    members = [object()]

    def __init__(self, a):
        self.a = np.asarray(a)

    def predict(self, x):
        return np.asarray(x) @ self.a

    def describe(self):
        return {"regressor": "fixed", "model": "FixedModel", "library": "test", "version": "0", "params": {}}


def test_search_best_scores_the_candidate_pool_with_the_regressor(monkeypatch):
    s = RegMixSearch(SIZES, TOTAL)
    s.model = FixedModel([0.3, -0.2, -1.0, 0.5])
    cand = candidate_array(SIZES, 100_000, seed=5)
    monkeypatch.setattr(s, "candidates", lambda *a, **k: cand)
    res = s.best()
    expected = oracle_top_k_mean(cand, list(cand @ s.model.a), 128)
    assert np.array_equal(np.array(list(res.mixture.values())), expected)
    assert res.predicted == pytest.approx(float(expected @ s.model.a))
    assert res.extra["top_k"] == 128 and res.extra["n_candidates"] == 100_000
    assert res.regressor_info["library"] == "test"


def _fixed_data():
    rng = np.random.default_rng(7)
    x = rng.dirichlet(np.ones(4) * 0.5, 120)
    y = 3.0 + x @ np.array([0.4, -1.0, -2.0, 0.3]) + 0.3 * x[:, 0] * x[:, 2] + rng.normal(0, 0.3, 120)
    return x[:90], y[:90], x[90:], y[90:]


def test_gbt_wrapper_matches_a_direct_lightgbm_fit_with_the_release_settings():
    lgb = pytest.importorskip("lightgbm", reason="LightGBM not installed (pip install 'mixkit[lightgbm]')")
    x, y, xv, yv = _fixed_data()
    release = {
        "task": "train",
        "boosting_type": "gbdt",
        "objective": "regression",
        "metric": ["l1", "l2"],
        "num_iterations": 1000,
        "seed": 42,
        "learning_rate": 1e-2,
        "verbosity": -1,
        "n_jobs": 1,  # one thread, as the wrapper uses by default: fast on a busy machine
    }
    direct = lgb.LGBMRegressor(**release).fit(
        x, y, eval_set=[(xv, yv)], eval_metric="l2", callbacks=[lgb.early_stopping(3, verbose=False)]
    )
    ours = GBTRegressor(library="lightgbm").fit(x, y, eval_set=(xv, yv))
    grid = np.random.default_rng(1).dirichlet(np.ones(4), 500)
    assert ours.members[0].best_iteration_ == direct.best_iteration_ < 1000
    np.testing.assert_allclose(ours.predict(grid), direct.predict(grid), rtol=0, atol=1e-12)
    plain = lgb.LGBMRegressor(**release).fit(x, y)
    np.testing.assert_allclose(
        GBTRegressor(library="lightgbm").fit(x, y).predict(grid), plain.predict(grid), rtol=0, atol=1e-12
    )
    assert ours.describe()["library"] == "lightgbm" and ours.describe()["model"] == "LGBMRegressor"


def oracle_lightgbm_stop(l1, l2, rounds):
    """LightGBM's early-stopping callback, metric by metric in order (l1, l2), one iteration at a time."""
    best = [None, None]
    best_it = [0, 0]
    for it in range(len(l1)):
        for i, score in enumerate((l1[it], l2[it])):
            if best[i] is None or score < best[i]:
                best[i], best_it[i] = score, it
            if it - best_it[i] >= rounds or it == len(l1) - 1:
                return best_it[i] + 1
    raise AssertionError("unreachable")


def test_early_stopping_rule_matches_lightgbm_on_its_own_staged_predictions():
    lgb = pytest.importorskip("lightgbm", reason="LightGBM not installed (pip install 'mixkit[lightgbm]')")
    x, y, xv, yv = _fixed_data()
    params = {
        "objective": "regression",
        "n_estimators": 300,
        "learning_rate": 0.05,
        "seed": 42,
        "verbosity": -1,
        "metric": ["l1", "l2"],
        "n_jobs": 1,
    }
    full = lgb.LGBMRegressor(**params).fit(x, y)
    staged = np.stack([full.predict(xv, num_iteration=k) for k in range(1, 301)])
    l1, l2 = np.abs(staged - yv).mean(1), ((staged - yv) ** 2).mean(1)
    stopped = lgb.LGBMRegressor(**params).fit(
        x, y, eval_set=[(xv, yv)], eval_metric="l2", callbacks=[lgb.early_stopping(3, verbose=False)]
    )
    assert early_stopping_iteration(l1, l2, 3) == oracle_lightgbm_stop(l1, l2, 3) == stopped.best_iteration_


@needs("search")
def test_gbt_sklearn_fallback_matches_a_direct_histgb_fit():
    from sklearn.ensemble import HistGradientBoostingRegressor

    x, y, xv, yv = _fixed_data()
    settings = {
        "loss": "squared_error",
        "learning_rate": 0.01,
        "max_iter": 1000,
        "max_leaf_nodes": 31,
        "min_samples_leaf": 20,
        "l2_regularization": 0.0,
        "max_bins": 255,
        "early_stopping": False,
        "random_state": 42,
    }
    grid = np.random.default_rng(1).dirichlet(np.ones(4), 500)
    direct = HistGradientBoostingRegressor(**settings).fit(x, y)
    ours = GBTRegressor(library="sklearn")
    np.testing.assert_array_equal(ours.fit(x, y).predict(grid), direct.predict(grid))
    staged = np.stack(list(direct.staged_predict(xv)))
    keep = oracle_lightgbm_stop(np.abs(staged - yv).mean(1), ((staged - yv) ** 2).mean(1), 3)
    assert keep < 1000
    stopped = HistGradientBoostingRegressor(**{**settings, "max_iter": keep}).fit(x, y)
    np.testing.assert_array_equal(ours.fit(x, y, eval_set=(xv, yv)).predict(grid), stopped.predict(grid))
    assert ours.describe()["model"] == "HistGradientBoostingRegressor"
