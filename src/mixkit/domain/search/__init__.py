"""Mixture search: RegMix (Liu et al. 2024; release github.com/sail-sg/regmix) proposals, proxy runs,
regression from mixture to metric (LightGBM as released, or scikit-learn's histogram boosting), the
top-k-average recommendation, and mixkit's own active (uncertainty-driven) selection of proxy mixtures."""

from mixkit.domain.search.proposals import (
    candidate_array,
    propose_mixtures,
    recommend,
    regmix_strengths,
    repetition_caps,
    token_prior,
)
from mixkit.domain.search.proxy_runs import run_proxies
from mixkit.domain.search.regmix import RegMixSearch, SearchResult
from mixkit.domain.search.regressors import (
    REGRESSORS,
    GBTRegressor,
    HuberGBTRegressor,
    LogLinearRegressor,
    MixingLawRegressor,
    lightgbm_available,
)

__all__ = [
    "REGRESSORS",
    "GBTRegressor",
    "HuberGBTRegressor",
    "LogLinearRegressor",
    "MixingLawRegressor",
    "RegMixSearch",
    "SearchResult",
    "candidate_array",
    "lightgbm_available",
    "propose_mixtures",
    "recommend",
    "regmix_strengths",
    "repetition_caps",
    "run_proxies",
    "token_prior",
]
