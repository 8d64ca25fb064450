"""The proxy-run pipeline of a RegMix-style mixture search (Liu et al., "RegMix: Data Mixture as Regression
for Language Model Pre-training", ICLR 2025): held-out runs, initial random runs, uncertainty-driven rounds
(optionally a random-proposal arm for comparison), regressor fits, and the recommended mixture with its
evidence. Used by ``mixkit mixture search`` and the ``text-domains`` and ``regmix-active`` bench suites.

``proxy`` is any picklable ``mixture -> float`` (or ``-> {"target": float, ...}``) function; lower is better.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mixkit.domain.search import REGRESSORS, RegMixSearch, run_proxies


def _metric(value: Any) -> float:
    if isinstance(value, Mapping):
        return float(value["target"])
    return float(value)


def run_search(
    proxy: Callable[[Mapping[str, float]], Any],
    sizes: Mapping[str, int],
    total_tokens: float,
    n_initial: int = 16,
    n_active: int = 16,
    batch: int = 8,
    n_holdout: int = 8,
    regressors: Sequence[str] = ("gbt", "loglinear"),
    active_regressor: str = "gbt",
    max_epochs: float = 4.0,
    temperature: float = 0.5,
    compare_random: bool = False,
    backend: str = "loop",
    workers: int = 2,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    top_k: int = 20,
) -> dict[str, Any]:
    """Run the search; returns a JSON-ready dict:

    ``runs``: every proxy run (arm, mixture, metric); ``curve``: held-out Spearman per regressor after each
    round, per arm (``active``, ``random``); ``best``: per regressor, the recommended mixture with predicted
    metric and held-out Spearman; ``recommended``: the best of those by held-out Spearman.
    """
    for name in (*regressors, active_regressor):
        if name not in REGRESSORS:
            raise ValueError(f"regressor must be one of {sorted(REGRESSORS)}, got {name!r}")
    if n_holdout < 3 or n_initial < 3:
        raise ValueError(f"n_holdout and n_initial must be >= 3, got {n_holdout}, {n_initial}")
    if batch < 1 or n_active < 0:
        raise ValueError(f"batch must be >= 1 and n_active >= 0, got {batch}, {n_active}")
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

    def searches():
        return {
            r: RegMixSearch(sizes, total_tokens, max_epochs, temperature, regressor=r, seed=seed)
            for r in dict.fromkeys((*regressors, active_regressor))
        }

    runs: list[dict[str, Any]] = []
    proposer = RegMixSearch(sizes, total_tokens, max_epochs, temperature, seed=seed + 10_000)
    holdout = proposer.propose(n_holdout)
    initial = RegMixSearch(sizes, total_tokens, max_epochs, temperature, seed=seed).propose(n_initial)
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
        fit_and_score(arm)
    random_source = RegMixSearch(sizes, total_tokens, max_epochs, temperature, seed=seed + 20_000)
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
    for rname, s in state["active"].items():
        res = s.best(top_k=top_k)
        res.spearman = curve["active"][-1][rname]
        best[rname] = {
            "mixture": res.mixture,
            "predicted": res.predicted,
            "spearman": res.spearman,
            "n_runs": res.n_runs,
        }
    recommended_by = max(best, key=lambda r: best[r]["spearman"])
    observed_best = min((r for r in runs), key=lambda r: r["metric"])
    return {
        "sizes": dict(sizes),
        "total_tokens": total_tokens,
        "max_epochs": max_epochs,
        "temperature": temperature,
        "runs": runs,
        "curve": curve,
        "best": best,
        "recommended": {"regressor": recommended_by, **best[recommended_by]},
        "best_observed": observed_best,
    }
