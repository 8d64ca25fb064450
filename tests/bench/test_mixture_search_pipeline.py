"""The mixture-search pipeline (held-out, initial, active rounds, recommendation) on a known mixing law."""

import pytest

from mixkit.bench.mixture_search import run_search
from mixkit.bench.synthetic_law import SyntheticLaw
from mixkit.domain.search import lightgbm_available, repetition_caps
from optional_extras import needs

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
                     regressors=("loglinear", "law"), compare_random=True, n_candidates=5000,
                     seed=0, progress=seen.append)
    assert len(rep["runs"]) == 8 + 12 + 2 * 8 and seen == list(range(1, len(rep["runs"]) + 1))
    assert [p["n_runs"] for p in rep["curve"]["active"]] == [12, 16, 20]
    assert set(rep["curve"]) == {"active", "random"} and set(rep["best"]) == {"loglinear", "law"}
    rec = rep["recommended"]
    assert rec["regressor"] == "loglinear" and rec["recommended_by"] == "first"  # the first, as released
    assert rec["library"] == "numpy" and rec["model"].startswith("LogLinearRegressor")
    assert rep["regressors"]["law"]["library"] == "scipy"
    assert sum(rec["mixture"].values()) == pytest.approx(1) and rec["top_k"] == 128
    assert rep["best_observed"]["metric"] == min(r["metric"] for r in rep["runs"])
    clean = LAW(rec["mixture"]) - LAW(LAW.optimum([1.0] * 4))
    assert clean < 0.5 * (max(r["metric"] for r in rep["runs"]) - LAW(LAW.optimum([1.0] * 4)))
    by_rho = run_search(LAW, SIZES, TOTAL, n_initial=12, n_active=0, n_holdout=8, n_candidates=2000,
                        regressors=("loglinear", "law"), recommend_by="spearman", respect_caps=True)
    rb = by_rho["recommended"]
    assert rb["spearman"] == max(b["spearman"] for b in by_rho["best"].values())
    assert rb["mixture"]["code"] <= 0.4 + 1e-9  # candidates within the target run's repetition cap


@needs("search")
def test_run_search_default_recommends_with_gbt_and_names_its_library():
    rep = run_search(LAW, SIZES, TOTAL, n_initial=45, n_active=0, n_holdout=10, n_candidates=3000)
    rec = rep["recommended"]
    assert rec["regressor"] == "gbt" and set(rep["best"]) == {"gbt", "loglinear"}
    expected = ("lightgbm", "LGBMRegressor") if lightgbm_available() else (
        "scikit-learn", "HistGradientBoostingRegressor")
    assert (rec["library"], rec["model"]) == expected and rec["version"]
    assert rec["regressor_info"]["params"]["early_stopping_rounds"] == 3


def test_run_search_input_errors():
    with pytest.raises(ValueError, match="regressor"):
        run_search(LAW, SIZES, TOTAL, regressors=("xgboost",))
    with pytest.raises(ValueError, match="recommend_by"):
        run_search(LAW, SIZES, TOTAL, recommend_by="vote")
    with pytest.raises(ValueError, match="regressor_options"):
        run_search(LAW, SIZES, TOTAL, regressor_options={"xgb": {}})
    with pytest.raises(ValueError, match=">= 3"):
        run_search(LAW, SIZES, TOTAL, n_holdout=2)
    with pytest.raises(ValueError, match="batch"):
        run_search(LAW, SIZES, TOTAL, batch=0)
