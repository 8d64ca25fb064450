"""Domain-mixing scenarios where the mixture matters: ``mixkit bench --suite domain-scenarios``.

Each scenario trains the reference byte-level GPT (:mod:`mixkit.bench.text`) on real text domains arranged
so that uniform and proportional sampling are visibly wrong, and compares static baselines, a RegMix search
and the online methods at equal tokens (steps x batch x sequence length) over several seeds:

* ``noisy-web``: three real domains (English and German fortunes, Python source) plus ``noise``, a
  byte-shuffled copy of the Russian fortunes that is as large as the three together. It costs tokens and
  teaches nothing beyond byte frequencies; the evaluation (target) is the mean validation loss of the three
  real domains and excludes it.
* ``specialist``: a target domain with few training bytes (Italian fortunes, 12 kB) beside five plentiful
  generic ones (English, German, Spanish, Russian, Python; 300 kB each); the evaluation is the target's
  held-out loss (its full validation split). This is the setting of DGA (Fan et al. 2024).
* ``imbalanced``: a small domain (Spanish fortunes, 16 kB) beside three large ones (600 kB each); the
  evaluation is the mean over all four, so the small domain counts as much as each large one. Besides the
  static baselines it runs the repetition-aware schedules of :mod:`mixkit.domain.schedules`: end-of-training
  upsampling (Blakeney et al. 2024) and temperature cooldown (Li et al. 2024).

Protocols (one line each; the online methods' settings are those of ``mixkit mixture train``):

* ``uniform`` / ``proportional`` (to training bytes) / ``temperature`` (``w ∝ n^(1/T)``, ``T = 3``, the
  exponent mT5 uses rounded): static weights, one run per seed.
* ``regmix``: one search per scenario (proxy runs of ``proxy_steps`` with the release's random proposals,
  LightGBM fitted on them, mean of the 128 best of 100,000 candidates; the proposals' repetition caps of
  4 epochs per domain are taken at the fresh run's token count), then a fresh full run per seed on the
  recommended mixture. The proxy runs are counted separately (``search tokens``), as in the paper.
* ``doremi``: a reference run on uniform weights, a proxy run with DoReMi reweighting the proxy's loss,
  then a fresh run on the proxy's averaged weights; the row reports the fresh run.
* ``odm``, ``aioli``, ``dga``, ``rnb``: one run with the online method steering the sampler.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import statistics
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from mixkit.bench.text.text_domains import TextDomain, TextDomains
from mixkit.bench.text.workload import RunConfig, train_mixture

__all__ = ["SCENARIOS", "Scenario", "ScenarioProxy", "main", "run_scenario", "scenario_data"]

RESULTS_KEY = "domain-scenarios"
TEMPERATURE = 3.0
STATIC = ("uniform", "proportional", "temperature")
ONLINE = ("doremi", "odm", "aioli", "dga", "rnb")
SCHEDULES = ("end-upsample", "cooldown")


@dataclass(frozen=True)
class DomainSpec:
    """One domain of a scenario: ``source`` (see :mod:`mixkit.bench.text.text_sources`), the bytes loaded
    (``max_bytes``), an optional cap on its *training* bytes (``train_bytes``; the validation split stays
    whole) and ``shuffle``: replace the text by a seeded byte permutation of it (noise with the same byte
    frequencies)."""

    name: str
    source: str
    max_bytes: int
    train_bytes: int | None = None
    shuffle: bool = False


@dataclass(frozen=True)
class Scenario:
    """A set of domains, the domains the evaluation averages (``target``) and the run budgets."""

    name: str
    description: str
    domains: tuple[DomainSpec, ...]
    target: tuple[str, ...]
    steps: int = 300
    proxy_steps: int = 100
    methods: tuple[str, ...] = (*STATIC, "regmix", *ONLINE)
    upsample: tuple[str, ...] = field(default=())

    @property
    def names(self) -> list[str]:
        return [d.name for d in self.domains]


SCENARIOS: dict[str, Scenario] = {
    "noisy-web": Scenario(
        "noisy-web",
        "three real domains plus byte-shuffled noise as large as them together; target: the real domains",
        (DomainSpec("en", "fortunes:en", 250_000), DomainSpec("de", "fortunes:de", 250_000),
         DomainSpec("code", "stdlib", 250_000), DomainSpec("noise", "fortunes:ru", 750_000, shuffle=True)),
        target=("en", "de", "code"), steps=240, proxy_steps=80),
    "specialist": Scenario(
        "specialist",
        "a 12 kB target domain beside five 300 kB generic ones; target: its held-out loss",
        (DomainSpec("en", "fortunes:en", 300_000), DomainSpec("de", "fortunes:de", 300_000),
         DomainSpec("es", "fortunes:es", 300_000), DomainSpec("ru", "fortunes:ru", 300_000),
         DomainSpec("code", "stdlib", 300_000), DomainSpec("it", "fortunes:it", 200_000, train_bytes=12_000)),
        target=("it",)),
    "imbalanced": Scenario(
        "imbalanced",
        "a 16 kB domain beside three 600 kB ones; target: the mean over all four",
        (DomainSpec("en", "fortunes:en", 600_000), DomainSpec("de", "fortunes:de", 600_000),
         DomainSpec("code", "stdlib", 600_000), DomainSpec("es", "fortunes:es", 200_000, train_bytes=16_000)),
        target=("en", "de", "code", "es"), methods=(*STATIC, "regmix", *ONLINE, *SCHEDULES),
        upsample=("es",)),
}
SMALLEST = "noisy-web"


def _shuffled(t: torch.Tensor, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return t[torch.randperm(t.numel(), generator=g)]


def build_domain(spec: DomainSpec, seed: int = 0) -> TextDomain:
    """Load ``spec`` (its training bytes capped, its bytes shuffled if asked)."""
    from mixkit.bench.text.text_sources import load_source

    d = load_source(spec.source, max_bytes=spec.max_bytes, seed=seed)
    train, val = d.train, d.val
    if spec.train_bytes is not None:
        train = train[: spec.train_bytes].clone()
    if spec.shuffle:
        train, val = _shuffled(train, seed + 1), _shuffled(val, seed + 2)
    return TextDomain(name=spec.name, train=train, val=val, n_documents=d.n_documents)


@lru_cache(maxsize=4)
def scenario_data(name: str, seq_len: int = 64) -> TextDomains:
    """The domains of scenario ``name`` (cached per process)."""
    sc = get_scenario(name)
    return TextDomains([build_domain(s) for s in sc.domains], seq_len=seq_len)


def get_scenario(name: str) -> Scenario:
    if name not in SCENARIOS:
        raise ValueError(f"scenario must be one of {sorted(SCENARIOS)}, got {name!r}")
    return SCENARIOS[name]


def static_weights(method: str, sizes: Mapping[str, int]) -> dict[str, float]:
    """uniform, proportional (to training bytes) or temperature (``T = 3``) weights."""
    from mixkit.domain import strategies

    if method == "uniform":
        return strategies.uniform(sizes)
    if method == "proportional":
        return strategies.proportional(sizes)
    if method == "temperature":
        return strategies.temperature(sizes, TEMPERATURE)
    raise ValueError(f"not a static method: {method!r}")


def make_schedule(method: str, sc: Scenario, sizes: Mapping[str, int]):
    """The repetition-aware schedules: ``end-upsample`` (proportional, the small domains x5 for the last 20 %
    of steps, after Blakeney et al. 2024) and ``cooldown`` (temperature 3 lowered linearly to 1 over the
    second half, after Li et al. 2024)."""
    from mixkit.domain.schedules import Cooldown, EndUpsample
    from mixkit.domain.strategies import proportional

    if method == "end-upsample":
        return EndUpsample(proportional(sizes), {d: 5.0 for d in sc.upsample}, last_fraction=0.2)
    if method == "cooldown":
        return Cooldown(sizes, start_temperature=3.0, end_temperature=1.0, start=0.5, end=1.0)
    raise ValueError(f"not a schedule: {method!r}")


@dataclass(frozen=True)
class ScenarioProxy:
    """Picklable RegMix proxy: train on ``mixture`` for ``config.steps`` steps, return the target loss."""

    scenario: str
    config: RunConfig

    def __call__(self, mixture: Mapping[str, float]) -> float:
        torch.set_num_threads(1)
        sc = get_scenario(self.scenario)
        data = scenario_data(self.scenario, self.config.seq_len)
        run = train_mixture(data, weights=dict(mixture), config=self.config, target=list(sc.target))
        return run.target_loss


def proxy_steps(sc: Scenario, steps: int) -> int:
    """Proxy-run length: the scenario's ``proxy_steps`` scaled by ``steps / sc.steps``."""
    return max(1, round(sc.proxy_steps * steps / sc.steps))


def run_search(sc: Scenario, cfg: RunConfig, n_initial: int, n_holdout: int, workers: int) -> dict[str, Any]:
    """RegMix search for ``sc`` with proxy runs of ``sc.proxy_steps`` steps (seed 0)."""
    from mixkit.bench.mixture_search import run_search as search

    data = scenario_data(sc.name, cfg.seq_len)
    steps = proxy_steps(sc, cfg.steps)
    proxy = ScenarioProxy(sc.name, replace(cfg, steps=steps, seed=0, log_every=steps))
    sizes = data.total_bytes()
    # the repetition caps (at most 4 epochs of a domain) apply to the run the mixture is for: the fresh run
    return search(proxy, sizes, cfg.tokens, n_initial=n_initial, n_active=0, n_holdout=n_holdout,
                  regressors=("gbt",), backend="process" if workers > 1 else "loop", workers=workers, seed=0)


def run_one(scenario: str, method: str, seed: int, cfg: RunConfig, regmix_weights: dict[str, float] | None,
            val_every: int) -> dict[str, Any]:
    """One (method, seed) run of ``scenario`` by its protocol; a JSON-ready dict."""
    from mixkit.cli.train_command import make_method

    torch.set_num_threads(1)
    sc = get_scenario(scenario)
    data = scenario_data(scenario, cfg.seq_len)
    cfg = replace(cfg, seed=seed)
    targets = list(sc.target)
    sizes = data.total_bytes()
    t0 = time.process_time()
    extra: dict[str, Any] = {}
    kw = {"config": cfg, "target": targets, "val_every": val_every}
    if method in STATIC:
        res = train_mixture(data, weights=static_weights(method, sizes), **kw)
    elif method in SCHEDULES:
        res = train_mixture(data, schedule=make_schedule(method, sc, sizes), **kw)
    elif method == "regmix":
        if regmix_weights is None:
            raise ValueError("regmix needs the searched weights")
        res = train_mixture(data, weights=regmix_weights, **kw)
    elif method == "doremi":
        ref_kw = {"config": cfg, "target": targets}
        uniform = static_weights("uniform", sizes)
        _, reference = train_mixture(data, weights=uniform, return_model=True, **ref_kw)
        m = make_method("doremi", data.names, targets, cfg.steps, seed)
        proxy = train_mixture(data, method=m, reference_model=reference, **ref_kw)
        res = train_mixture(data, weights=m.average_weights, **kw)
        res.weights_history = proxy.weights_history  # the trajectory the proxy learned
        extra = {"average_weights": m.average_weights, "proxy_target_loss": proxy.target_loss}
    elif method in ONLINE:
        m = make_method(method, data.names, targets, cfg.steps, seed)
        res = train_mixture(data, method=m, **kw)
    else:
        raise ValueError(f"unknown method {method!r}")
    out = res.to_json()
    out.update(method=method, seed=seed, cpu_s=time.process_time() - t0, tokens=cfg.tokens,
               config_steps=cfg.steps)
    out["extra"] = {**out.get("extra", {}), **extra}
    return out


def _t975(df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(0.975, df))


def paired(values: Mapping[int, float], base: Mapping[int, float]) -> dict[str, Any]:
    """Paired difference ``values - base`` over common seeds: mean, 95 % t-interval and verdict (lower loss
    is better: ``better`` when the interval lies below 0)."""
    seeds = sorted(set(values) & set(base))
    d = [values[s] - base[s] for s in seeds]
    out: dict[str, Any] = {"n": len(d), "mean": statistics.fmean(d) if d else math.nan, "low": math.nan,
                           "high": math.nan, "verdict": "n/a"}
    if len(d) >= 2:
        half = _t975(len(d) - 1) * statistics.stdev(d) / math.sqrt(len(d))
        out["low"], out["high"] = out["mean"] - half, out["mean"] + half
        out["verdict"] = "better" if out["high"] < 0 else ("worse" if out["low"] > 0 else "within noise")
    return out


def summarise(sc: Scenario, runs: Sequence[dict[str, Any]], methods: Sequence[str],
              search: dict[str, Any] | None) -> tuple[str, list[dict[str, Any]]]:
    """Markdown table of the scenario (best target loss first) and its rows."""
    by = {m: {r["seed"]: r for r in runs if r["method"] == m} for m in methods}
    base = {s: r["target_loss"] for s, r in by.get("uniform", {}).items()}
    rows = []
    for m in methods:
        rs = by[m]
        if not rs:
            continue
        losses = [r["target_loss"] for r in rs.values()]
        first = rs[min(rs)]
        w = first["extra"].get("average_weights") or first["final_weights"]
        rows.append({"method": m, "mean": statistics.fmean(losses),
                     "std": statistics.stdev(losses) if len(losses) > 1 else 0.0,
                     "paired": paired({s: r["target_loss"] for s, r in rs.items()}, base),
                     "val_loss": {d: statistics.fmean(r["val_loss"][d] for r in rs.values())
                                  for d in sc.names},
                     "weights": w, "cpu_s": statistics.fmean(r["cpu_s"] for r in rs.values()),
                     "seeds": sorted(rs)})
    rows.sort(key=lambda r: r["mean"])
    tok = runs[0]["tokens"] if runs else 0
    tok_steps = runs[0]["config_steps"] if runs else sc.steps
    lines = [f"### {sc.name}: {sc.description}", "",
             f"{tok:,} training tokens per run, seeds {rows[0]['seeds'] if rows else []}; target = mean "
             f"validation loss of {', '.join(sc.target)} (nats/byte, lower is better). Δ vs uniform: paired "
             "over seeds with its 95 % t-interval.", "",
             "| method | target loss | Δ vs uniform [95 % CI] | verdict | " + " | ".join(sc.names)
             + " | weights (" + ", ".join(sc.names) + ") | CPU s / run |",
             "|---|---|---|---|" + "---|" * len(sc.names) + "---|---|"]
    for r in rows:
        p = r["paired"]
        if r["method"] == "uniform":
            delta, verdict = "+0.000", "baseline"
        elif math.isfinite(p["low"]):
            delta, verdict = f"{p['mean']:+.3f} [{p['low']:+.3f}, {p['high']:+.3f}]", p["verdict"]
        else:
            delta, verdict = f"{p['mean']:+.3f}", p["verdict"]
        per = " | ".join(f"{r['val_loss'][d]:.3f}" for d in sc.names)
        wts = ", ".join(f"{r['weights'].get(d, 0.0):.2f}" for d in sc.names)
        lines.append(f"| {r['method']} | {r['mean']:.3f} ± {r['std']:.3f} | {delta} | {verdict} | {per} | "
                     f"{wts} | {r['cpu_s']:.0f} |")
    if search is not None:
        n = len(search["runs"])
        ps = search.get("proxy_steps", sc.proxy_steps)
        lines += ["", f"RegMix: {n} proxy runs of {ps} steps ({n * ps / max(1, tok_steps):.0f} "
                  f"full runs' worth of tokens, not counted above); held-out Spearman of the fit "
                  f"{search['recommended']['spearman']:+.2f}. DoReMi's row is its fresh run (its reference "
                  "and "
                  "proxy runs cost two more runs); its weights are the proxy's averaged weights."]
    return "\n".join(lines) + "\n", rows


def plot(sc: Scenario, runs: Sequence[dict[str, Any]], methods: Sequence[str], folder: Path) -> list[str]:
    """``<scenario>-weights.png`` (weights over steps, first seed) and ``<scenario>-val.png`` (per-domain
    validation loss over steps, mean over seeds, one panel per domain)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    written = []
    firsts = {m: min((r for r in runs if r["method"] == m), key=lambda r: r["seed"]) for m in methods
              if any(r["method"] == m for r in runs)}
    cols = min(4, len(firsts))
    rows = math.ceil(len(firsts) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 2.8 * rows), squeeze=False, sharey=True)
    for ax, (m, r) in zip(axes.flat, firsts.items()):
        hist = r["weights_history"]
        for d in sc.names:
            ax.plot([s for s, _ in hist], [w.get(d, 0.0) for _, w in hist], label=d)
        ax.set_title(m + (" (proxy run)" if m == "doremi" else ""), fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(firsts):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    axes.flat[0].set_ylabel("sampling weight")
    fig.suptitle(f"{sc.name}: domain weights over training (seed {min(r['seed'] for r in runs)})")
    fig.tight_layout()
    name = f"{sc.name}-weights.png"
    fig.savefig(folder / name, dpi=90)
    plt.close(fig)
    written.append(name)

    cmap = plt.get_cmap("tab10")
    fig, axes = plt.subplots(1, len(sc.names), figsize=(3.6 * len(sc.names), 3.2), squeeze=False)
    for j, d in enumerate(sc.names):
        ax = axes[0, j]
        for i, m in enumerate(firsts):
            rs = [r for r in runs if r["method"] == m and r.get("val_history")]
            if not rs:
                continue
            steps = [s for s, _ in rs[0]["val_history"]]
            mean = [statistics.fmean(r["val_history"][k][1][d] for r in rs) for k in range(len(steps))]
            ax.plot(steps, mean, label=m, color=cmap(i % 10), linestyle="-" if i < 10 else "--")
        ax.set_title(d + (" (target)" if d in sc.target else ""), fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
    axes[0, 0].set_ylabel("validation loss (nats/byte)")
    axes[0, -1].legend(fontsize=6)
    fig.suptitle(f"{sc.name}: per-domain validation loss over training (mean over seeds)")
    fig.tight_layout()
    name = f"{sc.name}-val.png"
    fig.savefig(folder / name, dpi=90)
    plt.close(fig)
    written.append(name)
    return written


def run_scenario(name: str, seeds: Sequence[int], out: Path, cfg: RunConfig | None = None,
                 methods: Sequence[str] | None = None, workers: int = 2, n_initial: int = 48,
                 n_holdout: int = 12, progress: bool = True) -> tuple[str, dict[str, Any]]:
    """Run every method of scenario ``name`` for every seed; write ``<name>.json`` and the plots into
    ``out``; return the Markdown table and the JSON-ready report."""
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    sc = get_scenario(name)
    cfg = replace(cfg or RunConfig(), steps=sc.steps if cfg is None else cfg.steps)
    methods = list(methods or sc.methods)
    unknown = [m for m in methods if m not in sc.methods]
    if unknown:
        raise ValueError(f"methods {unknown} are not run in scenario {name!r}; choose from "
                         f"{list(sc.methods)}")
    data = scenario_data(name, cfg.seq_len)
    t0 = time.time()
    search = None
    regmix_w = None
    if "regmix" in methods:
        search = run_search(sc, cfg, n_initial, n_holdout, workers)
        search["proxy_steps"] = proxy_steps(sc, cfg.steps)
        regmix_w = {k: float(v) for k, v in search["recommended"]["mixture"].items()}
        if progress:
            print(f"[{name}] regmix search: {len(search['runs'])} proxy runs, {time.time() - t0:.0f} s",
                  flush=True)
    val_every = max(1, cfg.steps // 8)
    jobs = [(name, m, s, cfg, regmix_w, val_every) for m in methods for s in seeds]
    # expensive protocols first so the pool ends evenly
    jobs.sort(key=lambda j: j[1] not in ("doremi", "dga", "aioli", "rnb"))
    runs: list[dict[str, Any]] = []
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as pool:
            for r in pool.map(_run_job, jobs):
                runs.append(r)
                if progress:
                    print(f"[{name}] {r['method']} seed {r['seed']}: target {r['target_loss']:.4f}",
                          flush=True)
    else:
        for j in jobs:
            r = _run_job(j)
            runs.append(r)
            if progress:
                print(f"[{name}] {r['method']} seed {r['seed']}: target {r['target_loss']:.4f}", flush=True)
    table, rows = summarise(sc, runs, methods, search)
    out.mkdir(parents=True, exist_ok=True)
    figures = plot(sc, runs, methods, out)
    report = {"scenario": name, "description": sc.description, "domains": sc.names, "target": list(sc.target),
              "sizes_bytes": data.total_bytes(), "config": cfg.__dict__, "seeds": list(seeds),
              "methods": methods, "rows": rows, "runs": runs, "figures": figures, "wall_s": time.time() - t0,
              "search": None if search is None else {"recommended": search["recommended"],
                                                      "n_runs": len(search["runs"])}}
    (out / f"{name}.json").write_text(json.dumps(report, indent=1, default=str))
    return table, report


def _run_job(job: tuple) -> dict[str, Any]:
    return run_one(*job)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mixkit bench --suite domain-scenarios --",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--scenario", default="all", help=f"comma list from {', '.join(SCENARIOS)}, 'smallest' "
                   f"({SMALLEST}) or 'all' (default)")
    p.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1 (default 3)")
    p.add_argument("--steps", type=int, default=None, help="steps of every compared run (default: the "
                   "scenario's)")
    p.add_argument("--methods", default=None, help="comma list (default: the scenario's)")
    p.add_argument("--initial", type=int, default=48, help="RegMix proxy runs fitted (default 48)")
    p.add_argument("--holdout", type=int, default=12, help="RegMix held-out proxy runs (default 12)")
    p.add_argument("--workers", type=int, default=max(1, min(2, os.cpu_count() or 1)))
    p.add_argument("--out", default="results/domain-scenarios")
    p.add_argument("--figures", default=None, help="also copy the PNGs into this folder (e.g. docs/figures)")
    return p


def main(argv: list[str] | None = None) -> str:
    """Run the chosen scenarios; print and return the Markdown (one table per scenario)."""
    a = parser().parse_args(argv)
    names = (list(SCENARIOS) if a.scenario == "all" else
             [SMALLEST] if a.scenario == "smallest" else [s.strip() for s in a.scenario.split(",")])
    for n in names:
        get_scenario(n)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = Path(a.out) / stamp
    parts = []
    for n in names:
        sc = get_scenario(n)
        cfg = RunConfig(steps=a.steps or sc.steps)
        methods = [m.strip() for m in a.methods.split(",")] if a.methods else None
        if methods is not None:
            methods = [m for m in methods if m in sc.methods]
        table, report = run_scenario(n, list(range(a.seeds)), out, cfg, methods, a.workers, a.initial,
                                     a.holdout)
        figs = report["figures"]
        if a.figures:
            import shutil

            Path(a.figures).mkdir(parents=True, exist_ok=True)
            for f in figs:
                shutil.copy(out / f, Path(a.figures) / f)
            base = os.path.relpath(a.figures, "docs") if a.figures.startswith("docs") else a.figures
            table += "\n" + " ".join(f"![{f}]({base}/{f})" for f in figs) + "\n"
        else:
            table += "\nPlots: " + ", ".join(f"`{out / f}`" for f in figs) + "\n"
        parts.append(table)
        print(table, flush=True)
    text = "\n".join(parts)
    (out / "table.md").write_text(text)
    print(f"wrote {out}/", file=sys.stderr)
    return text


if __name__ == "__main__":
    main()
