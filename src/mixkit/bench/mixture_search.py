"""The proxy-run pipeline of a RegMix mixture search (Liu et al., "RegMix: Data Mixture as Regression for
Language Model Pre-training", ICLR 2025; release github.com/sail-sg/regmix): held-out runs, initial random
runs with the release's proposals, optional uncertainty-driven rounds (mixkit's own; optionally a
random-proposal arm for comparison), regressor fits (LightGBM as released, early-stopped on the held-out
runs), and the release's recommendation (mean of the 128 best of 100,000 candidates) with its evidence. Used
by ``mixkit mixture search`` and the ``text-domains`` and ``regmix-active`` bench suites.

``proxy`` is any picklable ``mixture -> float`` (or ``-> {"target": float, ...}``) function; lower is better.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mixkit.domain.search import REGRESSORS, RegMixSearch, run_proxies
from mixkit.domain.search.regmix import RELEASE_N_CANDIDATES, RELEASE_TOP_K


def _metric(value: Any) -> float:
    if isinstance(value, Mapping):
        return float(value["target"])
    return float(value)


RECOMMEND_BY = ("first", "spearman")


def run_search(
    proxy: Callable[[Mapping[str, float]], Any],
    sizes: Mapping[str, int],
    total_tokens: float,
    n_initial: int = 16,
    n_active: int = 16,
    batch: int = 8,
    n_holdout: int = 8,
    regressors: Sequence[str] = ("gbt", "loglinear"),
    active_regressor: str | None = None,
    max_epochs: float = 4.0,
    temperature: float = 0.5,
    compare_random: bool = False,
    backend: str = "loop",
    workers: int = 2,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    top_k: int = RELEASE_TOP_K,
    n_candidates: int = RELEASE_N_CANDIDATES,
    recommend_by: str = "first",
    proposal: str = "regmix",
    proposal_options: Mapping[str, Any] | None = None,
    regressor_options: Mapping[str, Mapping[str, Any]] | None = None,
    early_stop_on_holdout: bool = True,
    respect_caps: bool = False,
) -> dict[str, Any]:
    """Run the search; returns a JSON-ready dict.

    ``regressors``: the regressors fitted (names of :data:`~mixkit.domain.search.REGRESSORS`); the
    recommendation comes from the first one (``recommend_by="first"``, the release's: ``"gbt"``) or, mixkit's
    own option, from the one with the best held-out Spearman (``"spearman"``). ``active_regressor`` (default:
    the first) drives the uncertainty-based proposals. ``early_stop_on_holdout``: the boosting stops early on
    the held-out runs, as released (their Spearman is then not fully independent of the fit).
    ``regressor_options``: per regressor name, keyword arguments of its class (e.g.
    ``{"gbt": {"library": "sklearn"}}``).

    Keys: ``runs`` (arm, mixture, metric of every proxy run); ``curve`` (held-out Spearman per regressor
    after each round, per arm ``active`` / ``random``); ``regressors`` (model, library, version, settings of
    each); ``best`` (per regressor: recommended mixture, predicted metric, held-out Spearman, regressor
    info); ``recommended`` (the chosen one, with ``regressor``, ``model``, ``library``, ``version``,
    ``recommended_by``); ``best_observed`` (the best proxy run).
    """
    regressors = tuple(regressors)
    if not regressors:
        raise ValueError("regressors must name at least one regressor")
    active_regressor = regressors[0] if active_regressor is None else active_regressor
    for name in (*regressors, active_regressor):
        if name not in REGRESSORS:
            raise ValueError(f"regressor must be one of {sorted(REGRESSORS)}, got {name!r}")
    if recommend_by not in RECOMMEND_BY:
        raise ValueError(f"recommend_by must be one of {RECOMMEND_BY}, got {recommend_by!r}")
    if n_holdout < 3 or n_initial < 3:
        raise ValueError(f"n_holdout and n_initial must be >= 3, got {n_holdout}, {n_initial}")
    if batch < 1 or n_active < 0:
        raise ValueError(f"batch must be >= 1 and n_active >= 0, got {batch}, {n_active}")
    reg_opts = {k: dict(v) for k, v in (regressor_options or {}).items()}
    unknown = set(reg_opts) - set(REGRESSORS)
    if unknown:
        raise ValueError(f"regressor_options names unknown regressors {sorted(unknown)}")
    done = 0

    def tick(_n: int) -> None:
        nonlocal done
        done += 1
        if progress:
            progress(done)

    def run(mixtures):
        return [
            _metric(v) for v in run_proxies(proxy, mixtures, backend=backend, workers=workers, progress=tick)
        ]

    def make(regressor: str, s: int) -> RegMixSearch:
        return RegMixSearch(sizes, total_tokens, max_epochs, temperature, regressor=regressor, seed=s,
                            proposal=proposal, proposal_options=proposal_options,
                            regressor_options=reg_opts.get(regressor))

    def searches():
        return {r: make(r, seed) for r in dict.fromkeys((*regressors, active_regressor))}

    runs: list[dict[str, Any]] = []
    holdout = make(regressors[0], seed + 10_000).propose(n_holdout)
    initial = make(regressors[0], seed).propose(n_initial)
    first = run(holdout + initial)
    hold_y, init_y = first[:n_holdout], first[n_holdout:]
    runs += [{"arm": "holdout", "mixture": m, "metric": y} for m, y in zip(holdout, hold_y)]
    runs += [{"arm": "initial", "mixture": m, "metric": y} for m, y in zip(initial, init_y)]

    arms = ["active"] + (["random"] if compare_random else [])
    state = {arm: searches() for arm in arms}
    curve: dict[str, list[dict[str, Any]]] = {arm: [] for arm in arms}

    def fit_and_score(arm: str) -> None:
        point: dict[str, Any] = {"n_runs": len(next(iter(state[arm].values())).y)}
        for rname, s in state[arm].items():
            s.fit()
            point[rname] = s.spearman(holdout, hold_y)
        curve[arm].append(point)

    for arm in arms:
        for s in state[arm].values():
            for m, y in zip(initial, init_y):
                s.add(m, y)
            if early_stop_on_holdout:
                for m, y in zip(holdout, hold_y):
                    s.add_validation(m, y)
        fit_and_score(arm)
    random_source = make(regressors[0], seed + 20_000)
    added = 0
    while added < n_active:
        k = min(batch, n_active - added)
        for arm in arms:
            mixes = (
                state[arm][active_regressor].propose_uncertain(k)
                if arm == "active"
                else random_source.propose(k)
            )
            ys = run(mixes)
            runs += [{"arm": arm, "mixture": m, "metric": y} for m, y in zip(mixes, ys)]
            for s in state[arm].values():
                for m, y in zip(mixes, ys):
                    s.add(m, y)
            fit_and_score(arm)
        added += k

    best = {}
    for rname in regressors:
        res = state["active"][rname].best(n_candidates=n_candidates, top_k=top_k, respect_caps=respect_caps)
        best[rname] = {
            "mixture": res.mixture,
            "predicted": res.predicted,
            "spearman": curve["active"][-1][rname],
            "n_runs": res.n_runs,
            "regressor_info": res.regressor_info,
            **res.extra,
        }
    recommended_by = (regressors[0] if recommend_by == "first"
                      else max(regressors, key=lambda r: best[r]["spearman"]))
    info = best[recommended_by]["regressor_info"]
    observed_best = min(runs, key=lambda r: r["metric"])
    return {
        "sizes": dict(sizes),
        "total_tokens": total_tokens,
        "max_epochs": max_epochs,
        "temperature": temperature,
        "proposal": proposal,
        "runs": runs,
        "curve": curve,
        "regressors": {r: best[r]["regressor_info"] for r in regressors},
        "best": best,
        "recommended": {"regressor": recommended_by, "model": info["model"], "library": info["library"],
                        "version": info["version"], "recommended_by": recommend_by,
                        **best[recommended_by]},
        "best_observed": observed_best,
    }
