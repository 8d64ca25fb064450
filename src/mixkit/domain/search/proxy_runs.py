"""Run proxy trainings ``fn(mixture) -> metric`` in a loop, a process pool, or on Ray, with the same code.

``fn`` must be picklable for the pool and Ray backends (a top-level function or ``functools.partial`` of one).
Results come back in the order of ``mixtures``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

BACKENDS = ("loop", "process", "ray")


def _call(fn: Callable[[Mapping[str, float]], Any], mixture: Mapping[str, float]) -> Any:
    """Top-level trampoline so Ray can run any picklable callable (functions, partials, callable objects)."""
    return fn(mixture)


def run_proxies(
    fn: Callable[[Mapping[str, float]], Any],
    mixtures: Sequence[Mapping[str, float]],
    backend: str = "loop",
    workers: int = 2,
    progress: Callable[[int], None] | None = None,
    start_method: str = "spawn",
) -> list[Any]:
    """Evaluate ``fn`` on every mixture. ``backend``: ``"loop"``, ``"process"`` (``workers`` processes,
    ``start_method``, spawn by default: safe with torch threads) or ``"ray"`` (uses a running Ray cluster
    if ``ray.init`` was called, else starts a local one with ``workers`` CPUs). ``progress(n_done)`` is
    called as results arrive."""
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if not isinstance(workers, int) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    mixtures = [dict(m) for m in mixtures]
    if backend == "loop":
        out = []
        for i, m in enumerate(mixtures):
            out.append(fn(m))
            if progress:
                progress(i + 1)
        return out
    if backend == "process":
        import multiprocessing as mp
        from concurrent.futures import ProcessPoolExecutor, as_completed

        results: list[Any] = [None] * len(mixtures)
        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context(start_method)) as pool:
            futures = {pool.submit(fn, m): i for i, m in enumerate(mixtures)}
            for done, fut in enumerate(as_completed(futures), 1):
                results[futures[fut]] = fut.result()
                if progress:
                    progress(done)
        return results
    try:
        import ray
    except ImportError as err:
        raise ImportError("backend='ray' needs Ray: pip install 'mixkit[ray]'") from err
    started = False
    if not ray.is_initialized():
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        started = True
    try:
        remote = ray.remote(num_cpus=1)(_call)
        fn_ref = ray.put(fn)
        refs = [remote.remote(fn_ref, m) for m in mixtures]
        index = {r: i for i, r in enumerate(refs)}
        results = [None] * len(mixtures)
        pending = list(refs)
        done = 0
        while pending:
            ready, pending = ray.wait(pending, num_returns=1)
            for r in ready:
                results[index[r]] = ray.get(r)
                done += 1
                if progress:
                    progress(done)
        return results
    finally:
        if started:
            ray.shutdown()
