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
