"""Runs many (method, seed) trainings: reuses cached results, runs the rest sequentially or in parallel
worker processes, and stores each finished run in the result cache (``<out>/.cache/<key>.json`` plus the
gallery tensors in ``<key>.gallery.pt``). The cache key hashes the run configuration, the data and the
source code the numbers depend on (see :meth:`RunConfig.key`)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

import torch

from ..sample import ModelAwareMixer, registry
from ..sample.spec import parse_choice
from .train import RunConfig, prepare_data, train_run


def cache_files(cache_root: Path, key: str) -> tuple[Path, Path]:
    return cache_root / f"{key}.json", cache_root / f"{key}.gallery.pt"


def load_cached_result(cache_root: Path, key: str) -> dict[str, Any] | None:
    """The stored result for ``key`` (with ``cached=True``), or ``None`` if absent or unreadable."""
    js, _ = cache_files(cache_root, key)
    if not js.is_file():
        return None
    try:
        result = json.loads(js.read_text())
    except (OSError, ValueError):
        return None
    result["cached"] = True
    return result


def load_gallery(cache_root: Path, key: str) -> dict[str, Any] | None:
    _, pt = cache_files(cache_root, key)
    if not pt.is_file():
        return None
    try:
        return torch.load(pt, weights_only=True)
    except Exception:
        return None


def store_result(cache_root: Path, key: str, result: dict[str, Any]) -> dict[str, Any]:
    """Write ``result`` (its ``gallery`` tensors go to a ``.pt`` next to the JSON); return it without them.

    Failed runs are not cached, so a re-run retries them."""
    result = dict(result)
    gallery = result.pop("gallery", None)
    result["key"] = key
    if result.get("status") == "failed":
        return result
    cache_root.mkdir(parents=True, exist_ok=True)
    js, pt = cache_files(cache_root, key)
    if gallery is not None:
        torch.save(gallery, pt)
    tmp = js.with_suffix(f".tmp{os.getpid()}")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, js)
    return result


def _model_aware(spec: str) -> bool:
    try:
        name, _ = parse_choice(spec.partition("|")[0].partition("@")[0])
        return issubclass(registry.get(name), ModelAwareMixer)
    except ValueError:
        return False


def _worker_init(threads: int) -> None:
    torch.set_num_threads(threads)


def _worker_run(cfg: RunConfig, key: str, cache_root: str) -> dict[str, Any]:
    return store_result(Path(cache_root), key, train_run(cfg))


def run_all(configs: Sequence[RunConfig], cache_root: Path, *, workers: int = 1, force: bool = False,
            threads: int | None = None, on_result: Callable[[dict[str, Any]], None] | None = None,
            on_epoch: Callable[[RunConfig, int, int, float], None] | None = None) -> list[dict[str, Any]]:
    """Run every configuration (reusing cached results unless ``force``) and return the results in order.

    ``workers > 1`` runs independent configurations in that many spawned processes, each with ``threads``
    intra-op threads (default: CPU count // workers). ``on_result`` is called once per finished or reused run;
    ``on_epoch(cfg, epoch, epochs, top1)`` after every epoch of sequential runs.
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    results: list[dict[str, Any] | None] = [None] * len(configs)
    keys: list[str] = []
    fingerprints: dict[tuple, str] = {}
    for cfg in configs:
        dkey = (cfg.dataset, cfg.data_dir, cfg.train_subset, cfg.test_subset)
        if dkey not in fingerprints:
            fingerprints[dkey] = prepare_data(cfg).fingerprint()
        keys.append(cfg.key(fingerprints[dkey]))
    todo = []
    for i, key in enumerate(keys):
        cached = None if force else load_cached_result(cache_root, key)
        if cached is not None:
            results[i] = cached
            if on_result:
                on_result(cached)
        else:
            todo.append(i)
    # model-aware methods run several forward passes per step: start them first so the pool ends evenly
    todo.sort(key=lambda i: not _model_aware(configs[i].method))
    if workers == 1 or len(todo) <= 1:
        for i in todo:
            cfg = configs[i]
            cb = (lambda e, n, a, cfg=cfg: on_epoch(cfg, e, n, a)) if on_epoch else None
            res = store_result(cache_root, keys[i], train_run(cfg, progress=cb))
            res["cached"] = False
            results[i] = res
            if on_result:
                on_result(res)
    else:
        n_threads = threads or max(1, (os.cpu_count() or 1) // workers)
        ctx = mp.get_context("spawn")
        with ProcessPoolExecutor(max_workers=min(workers, len(todo)), mp_context=ctx,
                                 initializer=_worker_init, initargs=(n_threads,)) as pool:
            futures = {pool.submit(_worker_run, configs[i], keys[i], str(cache_root)): i for i in todo}
            for fut in as_completed(futures):
                i = futures[fut]
                res = fut.result()
                res["cached"] = False
                results[i] = res
                if on_result:
                    on_result(res)
    for i, key in enumerate(keys):
        results[i]["key"] = key  # type: ignore[index]
    return results  # type: ignore[return-value]
