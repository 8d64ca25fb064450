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


def __getattr__(name: str):
    """Former exports that now live with the benchmark (``SyntheticLaw``, ``run_search``), still importable
    from here until their callers move."""
    if name == "SyntheticLaw":
        from mixkit.domain.search.synthetic import SyntheticLaw

        return SyntheticLaw
    if name == "run_search":
        from mixkit.domain.search.pipeline import run_search

        return run_search
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
