"""RegMix search: regressors recover a known mixing law, the simplex search finds its optimum, active
selection, and the loop / process / Ray runners agree."""

import numpy as np
import pytest

from mixkit.bench.synthetic_law import SyntheticLaw
from mixkit.domain.search import (
    RegMixSearch,
    propose_mixtures,
    repetition_caps,
    run_proxies,
)
from optional_extras import needs

SIZES = {"web": 4000, "books": 2000, "code": 500, "de": 1000}
TOTAL = 5000
LAW = SyntheticLaw(names=tuple(SIZES), t=(0.4, -1.0, -2.0, 0.3))


@needs("search")
@pytest.mark.parametrize("regressor", ["law", "loglinear", "gbt"])
def test_regressor_recovers_known_law_and_search_finds_optimum(regressor):
    s = RegMixSearch(SIZES, TOTAL, max_epochs=4, regressor=regressor, n_members=3, seed=0)
    for m in s.propose(48):
        s.add(m, LAW(m))
    s.fit()
    held = propose_mixtures(SIZES, 40, TOTAL, seed=99)
    rho = s.spearman(held, [LAW(m) for m in held])
    assert rho > 0.9
    best = s.best(n_candidates=20000, top_k=10)
    caps = list(repetition_caps(SIZES, TOTAL, 4).values())
    opt = LAW.optimum(caps)  # code 0.4 (capped), books 0.6
    gap = LAW(best.mixture) - LAW(opt)
    spread = max(LAW(m) for m in held) - LAW(opt)
    assert gap < 0.05 * spread, (best.mixture, opt)
    assert best.mixture["code"] <= 0.4 + 1e-9
    if regressor == "law":  # the law's own family: the mixture itself is recovered
        assert sum(abs(best.mixture[n] - opt[n]) for n in SIZES) < 0.15


def test_active_selection_picks_uncertain_distinct_mixtures():
    s = RegMixSearch(SIZES, TOTAL, regressor="loglinear", n_members=4, seed=1)
    for m in s.propose(10):
        s.add(m, SyntheticLaw(names=tuple(SIZES), t=LAW.t, noise=0.02)(m))
    s.fit()
    picks = s.propose_uncertain(4, pool=500)
    assert len(picks) == 4 and len({tuple(p.values()) for p in picks}) == 4
    x = np.array([[p[n] for n in SIZES] for p in picks])
    pool = np.array([[p[n] for n in SIZES] for p in s.propose(500)])
    assert s.model.uncertainty(x).mean() > np.median(s.model.uncertainty(pool))


def test_search_input_errors():
    with pytest.raises(ValueError, match="regressor"):
        RegMixSearch(SIZES, TOTAL, regressor="lightgbm")
    s = RegMixSearch(SIZES, TOTAL)
    with pytest.raises(ValueError, match="unknown domains"):
        s.add({"nope": 1.0}, 1.0)
    with pytest.raises(ValueError, match="finite"):
        s.add({"web": 1.0}, float("nan"))
    with pytest.raises(ValueError, match="at least 3"):
        s.fit()
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
