"""RegMix search proposals: the token prior, the repetition caps, the release's sparse, rounded, distinct,
seeded proposals, mixkit's cycled scheme, the candidates and the top-k recommendation, and their errors."""

import numpy as np
import pytest

from mixkit.domain.search import (
    candidate_array,
    propose_mixtures,
    recommend,
    repetition_caps,
    token_prior,
)
from mixkit.domain.search.proposals import proposal_array

SIZES = {"web": 4000, "books": 2000, "code": 500, "de": 1000}
TOTAL = 5000


def test_prior_and_caps():
    p = token_prior(SIZES, temperature=1.0)
    assert p["web"] == pytest.approx(4000 / 7500)
    assert token_prior(SIZES, temperature=0.0)["code"] == pytest.approx(0.25)
    caps = repetition_caps(SIZES, TOTAL, max_epochs=4)
    assert caps == {"web": 1.0, "books": 1.0, "code": 0.4, "de": 0.8}
    with pytest.raises(ValueError, match="no mixture fits"):
        repetition_caps(SIZES, 1e9, max_epochs=1)
    with pytest.raises(ValueError, match="finite"):
        repetition_caps(SIZES, float("nan"), max_epochs=1)


def test_release_proposals_are_sparse_rounded_distinct_capped_and_seeded():
    arr = proposal_array(SIZES, 300, TOTAL, max_epochs=1.0, seed=3)
    caps = np.array(list(repetition_caps(SIZES, TOTAL, 1.0).values()))
    assert np.allclose(arr.sum(1), 1) and (arr >= 0).all()
    assert (arr <= caps + 4 * 2e-4).all()  # rejected above the caps before rounding
    assert len({tuple(r) for r in arr}) == 300
    assert (arr == 0).mean() > 0.1  # strengths 0.1..5 leave many domains out
    assert arr.std(0).min() > 0.02  # far from the prior
    assert arr[arr > 0].min() >= 2e-4 * 0.99  # nothing below the release's minimum survives
    coarse = proposal_array(SIZES, 20, TOTAL, minimum=0.1, seed=0)  # rows: units of 0.1, renormalised

    def on_grid(row):
        return any(np.allclose(row * m, np.round(row * m)) for m in range(5, 16))

    assert all(on_grid(r) for r in coarse)
    assert propose_mixtures(SIZES, 5, TOTAL, seed=1) == propose_mixtures(SIZES, 5, TOTAL, seed=1)
    assert propose_mixtures(SIZES, 5, TOTAL, seed=1) != propose_mixtures(SIZES, 5, TOTAL, seed=2)


def test_cycled_scheme_stays_available():
    arr = proposal_array(SIZES, 200, TOTAL, max_epochs=1.0, scheme="cycled", seed=3)
    caps = np.array(list(repetition_caps(SIZES, TOTAL, 1.0).values()))
    assert np.allclose(arr.sum(1), 1) and (arr <= caps + 1e-9).all() and arr.std(0).min() > 0.02


def test_proposal_errors_name_the_argument():
    with pytest.raises(ValueError, match="scheme"):
        proposal_array(SIZES, 3, TOTAL, scheme="grid")
    with pytest.raises(ValueError, match="n must"):
        proposal_array(SIZES, 0, TOTAL)
    with pytest.raises(ValueError, match="minimum"):
        proposal_array(SIZES, 3, TOTAL, minimum=0.5)
    with pytest.raises(ValueError, match="min_strength"):
        proposal_array(SIZES, 3, TOTAL, min_strength=0.0)
    with pytest.raises(ValueError, match="pool_multiplier"):
        proposal_array(SIZES, 3, TOTAL, pool_multiplier=0)
    with pytest.raises(ValueError, match="distinct mixtures"):  # one-hot only: 2 distinct mixtures exist
        proposal_array({"a": 10, "b": 10}, 50, 10, min_strength=1e-4, max_strength=1e-4, minimum=0.4)
    with pytest.raises(TypeError, match="seed"):
        proposal_array(SIZES, 3, TOTAL, seed=1.5)
    with pytest.raises(ValueError, match="sizes"):
        token_prior({"a": 1})
    with pytest.raises(ValueError, match="sizes"):
        token_prior({"a": 1, "b": -1})


def test_candidates_and_recommend():
    cand = candidate_array(SIZES, 1000, seed=0)
    assert cand.shape == (1000, 4) and np.allclose(cand.sum(1), 1)
    prior = np.array(list(token_prior(SIZES, 1.0).values()))
    assert np.allclose(cand.mean(0), prior, atol=0.05)  # Dirichlet(prior) has mean prior
    pred = cand @ np.array([1.0, 0.0, 0.0, 0.0])
    best = recommend(cand, pred, 10)
    assert best[0] < cand[:, 0].mean()
    assert np.array_equal(recommend(cand, np.zeros(1000), 3), cand[:3].mean(0))  # ties: candidate order
    with pytest.raises(ValueError, match="top_k"):
        recommend(cand, pred, 0)
    with pytest.raises(ValueError, match="finite"):
        recommend(cand, np.full(1000, np.nan), 3)
    with pytest.raises(ValueError, match="predictions"):
        recommend(cand, pred[:5], 3)
    with pytest.raises(ValueError, match="n_candidates"):
        candidate_array(SIZES, 0)


def test_regmix_search_state_loads_into_a_fresh_search():
    import json

    from mixkit.domain.search import RegMixSearch

    def law(m):
        return 2.0 + m["web"] - 0.5 * m["code"] + m["books"] ** 2

    s = RegMixSearch(SIZES, TOTAL, regressor="loglinear", n_members=3, seed=2)
    for m in s.propose(12):
        s.add(m, law(m))
    for m in s.propose(4):
        s.add_validation(m, law(m))
    s.fit()
    fresh = RegMixSearch(SIZES, TOTAL, regressor="loglinear", n_members=3, seed=2)
    fresh.load_state_dict(json.loads(json.dumps(s.state_dict())))
    assert fresh.state_dict() == s.state_dict()
    probe = s.propose(5)
    assert fresh.propose(5) == probe
    assert fresh.predict(probe).tolist() == s.predict(probe).tolist()
    assert repr(fresh).startswith("RegMixSearch(") and repr(fresh.model).startswith("LogLinearRegressor(")
    with pytest.raises(ValueError, match="differ"):
        RegMixSearch({"x": 10, "y": 10}, 10).load_state_dict(s.state_dict())
    bad = s.state_dict()
    bad["y"] = bad["y"][:-1]
    with pytest.raises(ValueError, match="lengths"):
        fresh.load_state_dict(bad)
    bad = s.state_dict()
    bad["y"][0] = float("inf")
    with pytest.raises(ValueError, match="finite"):
        fresh.load_state_dict(bad)
    with pytest.raises(ValueError, match="missing"):
        fresh.load_state_dict({"names": list(SIZES)})
