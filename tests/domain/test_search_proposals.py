"""RegMix search proposals: the token prior, the repetition caps, and capped, diverse, seeded proposals."""

import numpy as np
import pytest

from mixkit.domain.search import propose_mixtures, repetition_caps, token_prior

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


def test_proposals_respect_caps_and_are_diverse():
    mixes = propose_mixtures(SIZES, 200, TOTAL, max_epochs=1.0, seed=3)
    caps = repetition_caps(SIZES, TOTAL, 1.0)
    arr = np.array([[m[n] for n in SIZES] for m in mixes])
    assert np.allclose(arr.sum(1), 1) and (arr >= 0).all()
    assert (arr <= np.array(list(caps.values())) + 1e-9).all()
    assert arr.std(0).min() > 0.02  # not collapsed onto the prior
    assert propose_mixtures(SIZES, 5, TOTAL, seed=1) == propose_mixtures(SIZES, 5, TOTAL, seed=1)


def test_regmix_search_state_loads_into_a_fresh_search():
    import json

    from mixkit.domain.search import RegMixSearch

    def law(m):
        return 2.0 + m["web"] - 0.5 * m["code"] + m["books"] ** 2

    s = RegMixSearch(SIZES, TOTAL, regressor="loglinear", n_members=3, seed=2)
    for m in s.propose(12):
        s.add(m, law(m))
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
