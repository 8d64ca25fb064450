"""RegMix search: regressors recover a known mixing law, the recommendation finds its optimum, the gbt
regressor names its library, active selection, input errors, and the loop / process / Ray runners agree."""

import numpy as np
import pytest

from mixkit.bench.synthetic_law import SyntheticLaw
from mixkit.domain.search import (
    GBTRegressor,
    RegMixSearch,
    lightgbm_available,
    propose_mixtures,
    repetition_caps,
    run_proxies,
)
from optional_extras import needs

SIZES = {"web": 4000, "books": 2000, "code": 500, "de": 1000}
TOTAL = 5000
LAW = SyntheticLaw(names=tuple(SIZES), t=(0.4, -1.0, -2.0, 0.3))


def _search(regressor, runs, **kw):
    s = RegMixSearch(SIZES, TOTAL, max_epochs=4, regressor=regressor, n_members=3, seed=0, **kw)
    for m in s.propose(runs):
        s.add(m, LAW(m))
    return s


@needs("search")
@pytest.mark.parametrize("regressor,runs", [("law", 48), ("loglinear", 48), ("gbt", 200)])
def test_regressor_recovers_known_law_and_recommendation_finds_optimum(regressor, runs):
    s = _search(regressor, runs)
    for m in s.propose(30):
        s.add_validation(m, LAW(m))
    s.fit()
    held = propose_mixtures(SIZES, 40, TOTAL, seed=99)
    assert s.spearman(held, [LAW(m) for m in held]) > 0.9
    best = s.best(n_candidates=20000)
    opt = LAW.optimum(list(repetition_caps(SIZES, TOTAL, 4).values()))  # code 0.4 (capped), books 0.6
    uncapped = LAW.optimum([1.0] * 4)  # code 1.0
    gap = LAW(best.mixture) - LAW(uncapped)
    spread = max(LAW(m) for m in held) - LAW(opt)
    assert gap < 0.25 * spread, (best.mixture, opt)
    assert best.mixture["code"] > 0.2  # far above its token share 0.067: towards the helpful domain
    capped = s.best(n_candidates=20000, respect_caps=True)
    assert capped.mixture["code"] <= 0.4 + 1e-9 and capped.extra["respect_caps"]
    assert best.regressor == regressor and best.regressor_info["regressor"] == regressor
    assert best.extra["top_k"] == 128 and best.extra["n_candidates"] == 20000


@needs("search")
def test_gbt_uses_lightgbm_when_installed_else_histogram_boosting():
    auto = GBTRegressor()
    assert auto.library == ("lightgbm" if lightgbm_available() else "sklearn")
    assert GBTRegressor(library="sklearn").describe()["model"] == "HistGradientBoostingRegressor"
    info = auto.describe()
    assert info["params"]["learning_rate"] == 0.01 and info["params"]["early_stopping_rounds"] == 3
    assert "library=" in repr(auto)
    with pytest.raises(ValueError, match="library"):
        GBTRegressor(library="xgboost")
    with pytest.raises(ValueError, match="early_stopping_rounds"):
        GBTRegressor(early_stopping_rounds=-1)
    with pytest.raises(ValueError, match="threads"):
        GBTRegressor(threads=0)
    with pytest.raises(TypeError, match="params"):
        GBTRegressor(params=[("n_jobs", 2)])
    # below 40 runs the release's 20 samples per leaf allow no split: constant predictions, Spearman 0
    s = _search("gbt", 30, regressor_options={"library": "sklearn"})
    s.fit()
    held = propose_mixtures(SIZES, 10, TOTAL, seed=5)
    assert np.ptp(s.predict(held)) == 0 and s.spearman(held, [LAW(m) for m in held]) == 0.0


@needs("search")
def test_active_selection_picks_uncertain_distinct_mixtures():
    s = RegMixSearch(SIZES, TOTAL, regressor="loglinear", n_members=4, seed=1)
    for m in s.propose(10):
        s.add(m, SyntheticLaw(names=tuple(SIZES), t=LAW.t, noise=0.02)(m))
    s.fit()
    assert len(s.model.members) == 1  # the bootstrap members are fitted when first needed
    picks = s.propose_uncertain(4, pool=500)
    assert len(s.model.members) == 4
    assert len(picks) == 4 and len({tuple(p.values()) for p in picks}) == 4
    x = np.array([[p[n] for n in SIZES] for p in picks])
    pool = np.array([[p[n] for n in SIZES] for p in s.propose(500)])
    assert s.model.uncertainty(x).mean() > np.median(s.model.uncertainty(pool))


def test_search_input_errors():
    with pytest.raises(ValueError, match="regressor"):
        RegMixSearch(SIZES, TOTAL, regressor="xgboost")
    with pytest.raises(ValueError, match="proposal"):
        RegMixSearch(SIZES, TOTAL, proposal="grid")
    with pytest.raises(TypeError, match="seed"):
        RegMixSearch(SIZES, TOTAL, seed=0.5)
    s = RegMixSearch(SIZES, TOTAL, regressor="loglinear")
    with pytest.raises(ValueError, match="unknown domains"):
        s.add({"nope": 1.0}, 1.0)
    with pytest.raises(ValueError, match="finite"):
        s.add({"web": 1.0}, float("nan"))
    with pytest.raises(TypeError, match="metric"):
        s.add({"web": 1.0}, "low")
    with pytest.raises(TypeError, match="mixture"):
        s.add([0.5, 0.5], 1.0)
    with pytest.raises(ValueError, match="at least 3"):
        s.fit()
    with pytest.raises(RuntimeError, match="fit"):
        s.best()
    with pytest.raises(ValueError, match="backend"):
        run_proxies(LAW, [], backend="slurm")


def test_loop_and_process_pool_agree():
    mixes = propose_mixtures(SIZES, 4, TOTAL, seed=5)
    loop = run_proxies(LAW, mixes, backend="loop")
    pool = run_proxies(LAW, mixes, backend="process", workers=2, start_method="forkserver")
    assert loop == pool == [LAW(m) for m in mixes]


def test_ray_backend_matches_loop():
    ray = pytest.importorskip("ray", reason="ray not installed (pip install 'mixkit[ray]')")
    mixes = propose_mixtures(SIZES, 3, TOTAL, seed=6)
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        assert run_proxies(LAW, mixes, backend="ray") == [LAW(m) for m in mixes]
    finally:
        ray.shutdown()
