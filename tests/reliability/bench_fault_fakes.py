"""Helpers for the benchmark fault tests: tiny dataset files and stand-in training functions.

The training functions are module-level so that spawned worker processes can import them (the tests put
this folder on ``sys.path``)."""

from __future__ import annotations

import gzip
import os
import struct
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from mixkit.bench.metrics import CORRUPTIONS


def idx_bytes(array: np.ndarray) -> bytes:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    data = idx_bytes(array)
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


FILES = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
         "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte"}


def make_idx_dir(root: Path, n_train: int = 40, n_test: int = 20, seed: int = 0,
                 override: dict[str, np.ndarray] | None = None) -> dict[str, Path]:
    """Write a Fashion-MNIST-style folder of four ``.gz`` IDX files (``override`` replaces arrays)."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("test", n_test)):
        y = (np.arange(n) % 10).astype(np.uint8)
        x = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
        x[np.arange(n), 2 + 2 * y] = 250
        arrays[f"{split}_x"], arrays[f"{split}_y"] = x, y
    arrays.update(override or {})
    paths = {}
    for k, stem in FILES.items():
        paths[k] = root / f"{stem}.gz"
        write_idx(paths[k], arrays[k])
    return paths


def fake_result(cfg: Any, top1: float = 0.5, gallery: bool = True) -> dict[str, Any]:
    """A well-formed result of :func:`mixkit.bench.train.train_run` without training anything."""
    curves = {k: [0.5] for k in ("train_loss", "test_top1", "test_nll", "epoch_time", "mixer_time")}
    curves["eval_epoch"] = [1]
    res: dict[str, Any] = {
        "config": cfg.to_dict(), "method": cfg.method, "seed": cfg.seed, "status": "ok", "model_aware": False,
        "metrics": {"top1": top1, "nll": 1.0, "ece": 0.1, "corruption": dict.fromkeys(CORRUPTIONS, 0.4),
                    "corruption_top1": 0.4, "epoch_time": 0.01, "mixer_share": 0.1},
        "curves": curves,
        "reliability": {"ece": 0.1, "counts": [3, 0], "confidence": [0.7, float("nan")],
                        "accuracy": [0.6, float("nan")]},
        "train_size": 40, "test_size": 20,
    }
    if gallery:
        res["gallery"] = {"original": torch.zeros(2, 1, 4, 4, dtype=torch.uint8),
                          "mixed": torch.ones(2, 1, 4, 4, dtype=torch.uint8), "lam": torch.tensor([0.3, 0.7]),
                          "index": torch.tensor([1, 0]), "labels": torch.tensor([0, 1]), "note": ""}
    return res


def quick_train(cfg: Any, progress: Any = None) -> dict[str, Any]:
    return fake_result(cfg)


def slow_train(cfg: Any, progress: Any = None) -> dict[str, Any]:
    """Seed 0 finishes at once; every other seed announces itself in ``$FAULT_MARKS`` and then trains
    (sleeps) for a minute, far longer than the interrupt test waits."""
    marks = Path(os.environ["FAULT_MARKS"])
    if cfg.seed != 0:
        (marks / f"started-{cfg.seed}-{os.getpid()}").write_text("")
        time.sleep(60)
    return fake_result(cfg)


def dying_train(cfg: Any, progress: Any = None) -> dict[str, Any]:
    """Seeds 1 and 4 kill their worker process (as the out-of-memory killer would); the others succeed."""
    if cfg.seed in (1, 4):
        os._exit(3)
    return fake_result(cfg)
