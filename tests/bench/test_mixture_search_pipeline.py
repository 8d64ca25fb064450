"""The mixture-search pipeline (held-out, initial, active rounds, recommendation) on a known mixing law."""

import pytest

from mixkit.bench.mixture_search import run_search
from mixkit.bench.synthetic_law import SyntheticLaw
from mixkit.domain.search import repetition_caps

SIZES = {"web": 4000, "books": 2000, "code": 500, "de": 1000}
TOTAL = 5000
LAW = SyntheticLaw(names=tuple(SIZES), t=(0.4, -1.0, -2.0, 0.3))


def test_synthetic_law_is_deterministic_and_its_optimum_respects_caps():
    noisy = SyntheticLaw(names=LAW.names, t=LAW.t, noise=0.05)
    mix = {"web": 0.25, "books": 0.25, "code": 0.25, "de": 0.25}
    assert noisy(mix) == noisy(dict(mix)) != LAW(mix)
    caps = list(repetition_caps(SIZES, TOTAL, 4).values())
    opt = LAW.optimum(caps)
    assert opt == pytest.approx({"web": 0.0, "books": 0.6, "code": 0.4, "de": 0.0})
    with pytest.raises(ValueError, match="same length"):
        SyntheticLaw(names=("a",), t=(1.0,))


def test_run_search_reports_runs_curve_and_a_good_recommendation():
    seen = []
    rep = run_search(LAW, SIZES, TOTAL, n_initial=12, n_active=8, batch=4, n_holdout=8,
                     regressors=("loglinear", "law"), active_regressor="loglinear", compare_random=True,
                     seed=0, progress=seen.append)
    assert len(rep["runs"]) == 8 + 12 + 2 * 8 and seen == list(range(1, len(rep["runs"]) + 1))
    assert [p["n_runs"] for p in rep["curve"]["active"]] == [12, 16, 20]
    assert set(rep["curve"]) == {"active", "random"} and set(rep["best"]) == {"loglinear", "law"}
    rec = rep["recommended"]
    assert rec["regressor"] in ("loglinear", "law") and sum(rec["mixture"].values()) == pytest.approx(1)
    assert rec["mixture"]["code"] <= 0.4 + 1e-9  # the repetition cap of the target run
    assert rep["best_observed"]["metric"] == min(r["metric"] for r in rep["runs"])


def test_run_search_input_errors():
    with pytest.raises(ValueError, match="regressor"):
        run_search(LAW, SIZES, TOTAL, regressors=("lightgbm",))
    with pytest.raises(ValueError, match=">= 3"):
        run_search(LAW, SIZES, TOTAL, n_holdout=2)
    with pytest.raises(ValueError, match="batch"):
        run_search(LAW, SIZES, TOTAL, batch=0)
