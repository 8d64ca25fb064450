"""Mixture search: RegMix-style proposals, proxy runs, regression from mixture to metric, simplex search,
and active (uncertainty-driven) selection of the next proxy mixtures."""

from mixkit.domain.search.proposals import propose_mixtures, repetition_caps, token_prior
from mixkit.domain.search.proxy_runs import run_proxies
from mixkit.domain.search.regmix import RegMixSearch, SearchResult
from mixkit.domain.search.regressors import REGRESSORS, GBTRegressor, LogLinearRegressor, MixingLawRegressor

__all__ = [
    "REGRESSORS",
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
