"""Mixture search: RegMix-style proposals, proxy runs, regression from mixture to metric, simplex search,
and active (uncertainty-driven) selection of the next proxy mixtures."""

from mixkit.domain.search.regmix import (
    GBTRegressor,
    LogLinearRegressor,
    MixingLawRegressor,
    RegMixSearch,
    SearchResult,
    propose_mixtures,
    repetition_caps,
    token_prior,
)
from mixkit.domain.search.runners import run_proxies

__all__ = [
    "GBTRegressor",
    "LogLinearRegressor",
    "MixingLawRegressor",
    "RegMixSearch",
    "SearchResult",
    "propose_mixtures",
    "repetition_caps",
    "run_proxies",
    "token_prior",
]
