"""Runs many (method, seed) trainings: reuses cached results, runs the rest sequentially or in parallel
worker processes, and stores each finished run in the result cache (``<out>/.cache/<key>.json`` plus the
gallery tensors in ``<key>.gallery.pt``).

Guarantees:

* The cache key (:func:`run_key`) hashes the run configuration, the data and the source of every module of
  the installed ``mixkit`` package (:func:`package_source_hash`), so editing any file a run executes makes
  the next run train again.
* Every cache file is written to a temporary file and renamed into place (the gallery first, the JSON
  last), so an interrupted write never leaves a file under a cached name.
* A cached entry is checked before it is reused (:func:`validate_result`, :func:`validate_gallery`): one
  that is unreadable, truncated, of the wrong schema or holding non-finite numbers is ignored with a
  one-line warning on the ``mixkit.bench`` logger and its run is trained again.
* Ctrl-C (``KeyboardInterrupt``) during a parallel run cancels the queued runs and terminates the workers
  within seconds; runs that finished before it stay cached, and a run cut short leaves nothing behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import multiprocessing as mp
import os
import signal
import tempfile
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch

from ..sample import ModelAwareMixer, registry
from ..sample.spec import parse_choice
from .data import check_subset_size
from .metrics import CORRUPTIONS
from .train import RunConfig, prepare_data, train_run

log = logging.getLogger("mixkit.bench")

METRIC_KEYS = ("top1", "nll", "ece", "corruption_top1", "epoch_time", "mixer_share")
#: curves with one value per epoch, and those with one value per test-set evaluation (``eval_epoch``)
EPOCH_CURVES = ("train_loss", "epoch_time", "mixer_time")
EVAL_CURVES = ("test_top1", "test_nll", "eval_epoch")
CURVE_KEYS = EPOCH_CURVES + EVAL_CURVES


# ------------------------------------------------------------------------------------------------ cache key
@lru_cache(maxsize=8)
def package_source_hash(root: str | None = None) -> str:
    """Content hash of every ``*.py`` file under the ``mixkit`` package directory (or ``root``), in sorted
    relative-path order, computed once per process. Any edit to any module changes it."""
    base = Path(root) if root is not None else Path(__file__).resolve().parents[1]
    files = sorted(p for p in base.rglob("*.py") if "__pycache__" not in p.parts)
    h = hashlib.sha1()
    for f in files:
        h.update(f.relative_to(base).as_posix().encode() + b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()[:16]


def run_key(cfg: RunConfig, data_fingerprint: str) -> str:
    """Cache key of one run: its configuration and data (:meth:`RunConfig.key`) plus the package source."""
    return hashlib.sha1((cfg.key(data_fingerprint) + package_source_hash()).encode()).hexdigest()[:20]


def cache_files(cache_root: Path, key: str) -> tuple[Path, Path]:
    return Path(cache_root) / f"{key}.json", Path(cache_root) / f"{key}.gallery.pt"


# --------------------------------------------------------------------------------------------- validation
def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def validate_result(result: Any, key: str | None = None) -> str | None:
    """``None`` if ``result`` is a well-formed stored result (of ``key``, when given), else what is wrong.

    Stored results are ``"ok"`` or ``"skipped"`` runs with a ``method`` (str), ``seed`` (int) and
    ``config`` (dict); ``"ok"`` ones carry finite ``metrics`` (top-1 in [0, 1], every corruption),
    equal-length finite ``curves``, positive split sizes and a reliability diagram; ``"skipped"`` ones a
    ``reason``."""
    if not isinstance(result, dict):
        return f"a result is a JSON object, got {type(result).__name__}"
    status = result.get("status")
    if status not in ("ok", "skipped"):
        return f"status must be 'ok' or 'skipped', got {status!r}"
    if not isinstance(result.get("method"), str) or not _is_int(result.get("seed")):
        return "method (str) or seed (int) missing"
    if not isinstance(result.get("config"), dict):
        return "config (object) missing"
    if key is not None and result.get("key", key) != key:
        return f"it belongs to key {result.get('key')!r}"
    if status == "skipped":
        return None if isinstance(result.get("reason"), str) else "a skipped run needs a reason (str)"
    m = result.get("metrics")
    if not isinstance(m, dict):
        return "metrics (object) missing"
    for k in METRIC_KEYS:
        if not _finite(m.get(k)):
            return f"metrics.{k} must be a finite number, got {m.get(k)!r}"
    if not 0 <= m["top1"] <= 1:
        return f"metrics.top1 must be in [0, 1], got {m['top1']}"
    corr = m.get("corruption")
    if not isinstance(corr, dict) or set(corr) != set(CORRUPTIONS) or not all(map(_finite, corr.values())):
        return "metrics.corruption must hold a finite number for every corruption"
    curves = result.get("curves")
    if not isinstance(curves, dict):
        return "curves (object) missing"
    for group in (EPOCH_CURVES, EVAL_CURVES):
        lengths = set()
        for k in group:
            c = curves.get(k)
            if not isinstance(c, list) or not c or not all(map(_finite, c)):
                return f"curves.{k} must be a non-empty list of finite numbers"
            lengths.add(len(c))
        if len(lengths) != 1:
            return f"curves {', '.join(group)} have different lengths"
    if len(curves["eval_epoch"]) > len(curves["train_loss"]):
        return "curves: more test-set evaluations than epochs"
    for k in ("train_size", "test_size"):
        if not _is_int(result.get(k)) or result[k] < 1:
            return f"{k} must be a positive int, got {result.get(k)!r}"
    rel = result.get("reliability")
    if not isinstance(rel, dict) or not isinstance(rel.get("counts"), list) or \
            not all(_is_int(c) and c >= 0 for c in rel["counts"]):
        return "reliability.counts must be a list of non-negative ints"
    n_bins = len(rel["counts"])
    for k in ("confidence", "accuracy"):  # NaN marks an empty bin
        v = rel.get(k)
        if not isinstance(v, list) or len(v) != n_bins or \
                not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in v):
            return f"reliability.{k} must be a list of {n_bins} numbers"
    return None


def validate_gallery(gallery: Any) -> str | None:
    """``None`` if ``gallery`` is a well-formed mixed-sample gallery (see ``train.mixed_samples``), else
    what is wrong."""
    if not isinstance(gallery, dict):
        return f"a gallery is a dict, got {type(gallery).__name__}"
    orig = gallery.get("original")
    if not isinstance(orig, torch.Tensor) or orig.dtype != torch.uint8 or orig.dim() != 4:
        return "original must be a uint8 tensor [n, C, H, W]"
    n = orig.shape[0]
    mixed = gallery.get("mixed")
    if mixed is not None and (not isinstance(mixed, torch.Tensor) or mixed.dtype != torch.uint8
                              or mixed.shape != orig.shape):
        return f"mixed must be None or a uint8 tensor {tuple(orig.shape)}"
    for k, kinds in (("lam", (torch.float32, torch.float64, torch.float16, torch.bfloat16)),
                     ("index", (torch.int64, torch.int32)), ("labels", (torch.int64, torch.int32))):
        v = gallery.get(k)
        if v is None and k != "labels":
            continue
        if not isinstance(v, torch.Tensor) or v.dtype not in kinds or v.dim() < 1 or v.shape[0] != n:
            return f"{k} must be a tensor of {n} values"
    if gallery.get("lam") is not None and not bool(torch.isfinite(gallery["lam"]).all()):
        return "lam holds non-finite values"
    if not isinstance(gallery.get("note", ""), str):
        return "note must be a str"
    return None


def _ignore(path: Path, why: str) -> None:
    log.warning("mixkit bench: ignoring cache entry %s (%s); running it again", path, why)


def load_cached_result(cache_root: Path, key: str) -> dict[str, Any] | None:
    """The stored result for ``key`` (with ``cached=True``), or ``None`` if absent, unreadable or invalid
    (then with a one-line warning): the caller trains that run again."""
    js, pt = cache_files(cache_root, key)
    if not js.is_file():
        return None
    try:
        result = json.loads(js.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        _ignore(js, f"unreadable: {_short(err)}")
        return None
    why = validate_result(result, key)
    if why is None and pt.exists():
        bad = _read_gallery(pt)[1]
        why = f"its gallery {pt.name}: {bad}" if bad else None
    if why is not None:
        _ignore(js, why)
        return None
    result["cached"] = True
    return result


def _short(err: BaseException) -> str:
    text = str(err).strip().splitlines()[0] if str(err).strip() else ""
    return f"{type(err).__name__}: {text[:160]}"


def _read_gallery(pt: Path) -> tuple[dict[str, Any] | None, str | None]:
    """``(gallery, None)``, or ``(None, what is wrong)``."""
    try:
        gallery = torch.load(pt, weights_only=True, map_location="cpu")
    except Exception as err:  # truncated zip, foreign pickle refused by weights_only, ...
        return None, _short(err)
    why = validate_gallery(gallery)
    return (None, why) if why is not None else (gallery, None)


def load_gallery(cache_root: Path, key: str) -> dict[str, Any] | None:
    """The stored gallery of ``key`` (read with ``weights_only=True`` and validated), or ``None``."""
    _, pt = cache_files(cache_root, key)
    if not pt.is_file():
        return None
    gallery, why = _read_gallery(pt)
    if why is not None:
        log.warning("mixkit bench: ignoring gallery %s (%s)", pt, why)
    return gallery


# ------------------------------------------------------------------------------------------------- writing
def _atomic_write(path: Path, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` to a temporary file next to ``path`` (``.<name>.<pid>.<random>.tmp``, never read as a
    cache entry), then rename it over ``path``; the temporary file is removed if anything fails."""
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def store_result(cache_root: Path, key: str, result: dict[str, Any]) -> dict[str, Any]:
    """Write ``result`` (its ``gallery`` tensors go to a ``.pt`` next to the JSON); return it without them.

    Failed runs are not cached, so a re-run retries them; nor is a result that fails
    :func:`validate_result` (warned). Both files are written atomically, the gallery first, so a JSON entry
    never points at a half-written gallery. A cache that cannot be written costs a warning, not the result.
    """
    result = dict(result)
    gallery = result.pop("gallery", None)
    result["key"] = key
    if result.get("status") == "failed":
        return result
    why = validate_result(result, key) or (validate_gallery(gallery) if gallery is not None else None)
    if why is not None:
        log.warning("mixkit bench: not caching the result of %s seed %s (%s)", result.get("method"),
                    result.get("seed"), why)
        return result
    js, pt = cache_files(cache_root, key)
    try:
        Path(cache_root).mkdir(parents=True, exist_ok=True)
        if gallery is not None:
            _atomic_write(pt, lambda tmp: torch.save(gallery, tmp))
        else:
            pt.unlink(missing_ok=True)
        _atomic_write(js, lambda tmp: tmp.write_text(json.dumps(result, indent=1), encoding="utf-8"))
    except OSError as err:
        log.warning("mixkit bench: could not cache %s (%s: %s)", js, type(err).__name__, err)
    return result


# ------------------------------------------------------------------------------------------ argument checks
def check_run_config(cfg: Any) -> None:
    """Refuse a :class:`RunConfig` whose values no run can use (``ValueError``/``TypeError`` naming the
    field): ``train_subset``/``test_subset`` must be ``None`` or positive ints, ``epochs``/``batch_size``
    positive ints, ``seed`` a non-negative int, ``lr`` finite and positive, ``momentum`` in [0, 1),
    ``weight_decay``/``warmup_epochs`` finite and non-negative, ``method``/``dataset`` non-empty strings and
    ``device`` a device string torch parses."""
    if not isinstance(cfg, RunConfig):
        raise TypeError(f"configs must hold RunConfig objects, got {type(cfg).__name__}")
    for name in ("dataset", "method", "model"):
        v = getattr(cfg, name)
        if not isinstance(v, str) or not v.strip():
            raise ValueError(f"RunConfig.{name} must be a non-empty str, got {v!r}")
    check_subset_size("train_subset", cfg.train_subset)
    check_subset_size("test_subset", cfg.test_subset)
    for name in ("epochs", "batch_size"):
        v = getattr(cfg, name)
        if not _is_int(v) or v < 1:
            raise ValueError(f"RunConfig.{name} must be a positive int, got {v!r}")
    if not _is_int(cfg.seed) or cfg.seed < 0:
        raise ValueError(f"RunConfig.seed must be a non-negative int, got {cfg.seed!r}")
    if not _finite(cfg.lr) or cfg.lr <= 0:
        raise ValueError(f"RunConfig.lr must be a finite positive number, got {cfg.lr!r}")
    if not _finite(cfg.momentum) or not 0 <= cfg.momentum < 1:
        raise ValueError(f"RunConfig.momentum must be in [0, 1), got {cfg.momentum!r}")
    for name in ("weight_decay", "warmup_epochs"):
        v = getattr(cfg, name)
        if not _finite(v) or v < 0:
            raise ValueError(f"RunConfig.{name} must be a finite non-negative number, got {v!r}")
    try:
        torch.device(cfg.device)
    except (RuntimeError, TypeError, ValueError):
        raise ValueError(f"RunConfig.device must be a torch device such as 'cpu' or 'cuda:0', got "
                         f"{cfg.device!r}") from None


def _check_cache_root(cache_root: Path) -> Path:
    if not isinstance(cache_root, (str, Path)):
        raise TypeError(f"cache_root must be a str or Path, got {type(cache_root).__name__}")
    root = Path(cache_root)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise ValueError(f"cache_root {root} cannot be created ({type(err).__name__}: {err.strerror or err})"
                         ) from None
    if not os.access(root, os.W_OK | os.X_OK):
        raise ValueError(f"cache_root {root} is not writable")
    return root


# --------------------------------------------------------------------------------------------------- runner
def _model_aware(spec: str) -> bool:
    try:
        name, _ = parse_choice(spec.partition("|")[0].partition("@")[0])
        return issubclass(registry.get(name), ModelAwareMixer)
    except ValueError:
        return False


def _worker_init(threads: int) -> None:
    # Ctrl-C reaches the whole process group; the parent alone decides (it cancels and terminates us)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    torch.set_num_threads(threads)


def _worker_run(cfg: RunConfig, key: str, cache_root: str,
                train_fn: Callable[..., dict[str, Any]] | None = None) -> dict[str, Any]:
    return store_result(Path(cache_root), key, (train_fn or train_run)(cfg))


def _failed(cfg: RunConfig, key: str, err: BaseException) -> dict[str, Any]:
    from .train import method_label

    return {"config": cfg.to_dict(), "method": method_label(cfg.method), "seed": cfg.seed, "status": "failed",
            "key": key, "reason": f"{type(err).__name__}: {err}"}


def _abort_pool(pool: ProcessPoolExecutor, cache_root: Path) -> None:
    """Cancel every queued run, terminate the workers (SIGTERM, then SIGKILL after 3 s) and remove the
    temporary files they were writing."""
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for p in procs:
        if p.is_alive():
            p.terminate()
    for p in procs:
        p.join(timeout=3)
        if p.is_alive():
            p.kill()
            p.join(timeout=2)
    for p in procs:
        for tmp in Path(cache_root).glob(f".*.{p.pid}.*.tmp"):
            tmp.unlink(missing_ok=True)


def _terminate_as_interrupt(signum: int, frame: Any) -> None:
    """SIGTERM handler of a parallel run: raise ``KeyboardInterrupt`` so the pool is stopped and cleaned up
    as on Ctrl-C (queued runs cancelled, workers terminated, finished runs kept)."""
    raise KeyboardInterrupt(f"signal {signum}")


def run_all(configs: Sequence[RunConfig], cache_root: Path, *, workers: int = 1, force: bool = False,
            threads: int | None = None, on_result: Callable[[dict[str, Any]], None] | None = None,
            on_epoch: Callable[[RunConfig, int, int, float], None] | None = None,
            train_fn: Callable[..., dict[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Run every configuration (reusing cached results unless ``force``) and return the results in order.

    ``workers > 1`` runs independent configurations in that many spawned processes, each with ``threads``
    intra-op threads (default: CPU count // workers). ``on_result`` is called once per finished or reused run;
    ``on_epoch(cfg, epoch, epochs, top1)`` after every epoch of sequential runs. ``train_fn(cfg,
    progress=None)`` replaces :func:`~mixkit.bench.train.train_run` (a module-level function, so worker
    processes can import it).

    Every configuration, ``workers``, ``threads`` and ``cache_root`` are checked before anything trains.
    ``KeyboardInterrupt`` (and SIGTERM, turned into one) stops a parallel run within seconds (queued runs
    cancelled, workers terminated) and propagates; finished runs are cached by then. A worker that dies
    takes its pool down: the runs that were in it are retried in one worker, in order, and a run that kills
    its worker again gets a ``"failed"`` result (in worker processes, so does a ``train_fn`` that raises),
    never an exception.
    """
    if not _is_int(workers) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if threads is not None and (not _is_int(threads) or threads < 1):
        raise ValueError(f"threads must be None or a positive int, got {threads!r}")
    if isinstance(configs, (str, bytes)) or not isinstance(configs, Sequence):
        raise TypeError(f"configs must be a sequence of RunConfig, got {type(configs).__name__}")
    for cfg in configs:
        check_run_config(cfg)
    cache_root = _check_cache_root(cache_root)
    results: list[dict[str, Any] | None] = [None] * len(configs)
    keys: list[str] = []
    fingerprints: dict[tuple, str] = {}
    for cfg in configs:
        dkey = (cfg.dataset, cfg.data_dir, cfg.train_subset, cfg.test_subset)
        if dkey not in fingerprints:
            fingerprints[dkey] = prepare_data(cfg).fingerprint()
        keys.append(run_key(cfg, fingerprints[dkey]))
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

    def finish(i: int, res: dict[str, Any]) -> None:
        res["cached"] = False
        results[i] = res
        if on_result:
            on_result(res)

    if workers == 1 or len(todo) <= 1:
        fn = train_fn or train_run
        for i in todo:
            cfg = configs[i]
            cb = (lambda e, n, a, cfg=cfg: on_epoch(cfg, e, n, a)) if on_epoch else None
            finish(i, store_result(cache_root, keys[i], fn(cfg, progress=cb)))
    else:
        n_threads = threads or max(1, (os.cpu_count() or 1) // workers)

        def pool_pass(indices: list[int], n_workers: int) -> list[int]:
            """Run ``indices`` in a fresh pool; return those a dying worker took down (BrokenProcessPool)."""
            broken: list[int] = []
            pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=mp.get_context("spawn"),
                                       initializer=_worker_init, initargs=(n_threads,))
            try:
                futures: dict[Future, int] = {
                    pool.submit(_worker_run, configs[i], keys[i], str(cache_root), train_fn): i
                    for i in indices}
                for fut in as_completed(futures):
                    i = futures[fut]
                    try:
                        res = fut.result()
                    except BrokenProcessPool:
                        broken.append(i)
                        continue
                    except Exception as err:  # e.g. a train_fn that cannot be pickled, or raises
                        res = _failed(configs[i], keys[i], err)
                    finish(i, res)
            except BaseException:  # Ctrl-C, or a callback raising: stop now, keep what is cached
                _abort_pool(pool, cache_root)
                raise
            pool.shutdown(wait=True)
            return broken

        # SIGTERM (kill, a scheduler's time limit) stops the pool like Ctrl-C instead of orphaning workers
        previous = None
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt)
        try:
            # a worker that dies (out-of-memory killer, segfault) breaks the whole pool and every run in it.
            # Retry those in one single-worker pool: it runs them in order, so when it breaks, the first
            # unfinished run is the one that killed it; that run fails, the others go on in a fresh pool
            remaining = sorted(pool_pass(todo, min(workers, len(todo))))
            while remaining:
                broken = set(pool_pass(remaining, 1))
                if not broken:
                    break
                culprit = next(i for i in remaining if i in broken)
                finish(culprit, _failed(configs[culprit], keys[culprit], RuntimeError(
                    "its worker process died (killed by the system, out of memory or a crash)")))
                remaining = [i for i in remaining if i in broken and i != culprit]
        finally:
            if previous is not None:
                signal.signal(signal.SIGTERM, previous)
    for i, key in enumerate(keys):
        results[i]["key"] = key  # type: ignore[index]
    return results  # type: ignore[return-value]
