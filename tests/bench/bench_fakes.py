"""Helpers for the benchmark tests: tiny dataset files written into tmp_path."""

from __future__ import annotations

import gzip
import pickle
import struct
from pathlib import Path

import numpy as np


def write_idx(path: Path, array: np.ndarray, gz: bool = True) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", d) for d in array.shape)
    data = header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()
    if gz:
        with gzip.open(path, "wb") as f:
            f.write(data)
    else:
        path.write_bytes(data)


def make_fashion_dir(root: Path, n_train: int = 64, n_test: int = 32, seed: int = 0) -> dict[str, np.ndarray]:
    """Write the four Fashion-MNIST IDX .gz files (random but class-dependent images) into ``root``."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for split, n in (("train", n_train), ("t10k", n_test)):
        y = (np.arange(n) % 10).astype(np.uint8)
        x = rng.integers(0, 60, size=(n, 28, 28), dtype=np.uint8)
        for k in range(10):  # a bright bar whose row depends on the class: learnable
            x[y == k, 2 + 2 * k: 4 + 2 * k, 4:24] = 250
        write_idx(root / f"{split}-images-idx3-ubyte.gz", x)
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", y)
        arrays[f"{split}_x"], arrays[f"{split}_y"] = x, y
    return arrays


def make_cifar_dir(root: Path, hundred: bool = False, per_file: int = 6, seed: int = 0
                   ) -> dict[str, np.ndarray]:
    """Write a CIFAR-10 (5 train batches + test) or CIFAR-100 (train + test) python-pickle folder."""
    rng = np.random.default_rng(seed)
    folder = root / ("cifar-100-python" if hundred else "cifar-10-batches-py")
    folder.mkdir(parents=True, exist_ok=True)
    label_key = b"fine_labels" if hundred else b"labels"
    k = 100 if hundred else 10
    train_files = ["train"] if hundred else [f"data_batch_{i}" for i in range(1, 6)]
    xs, ys = [], []
    for f in [*train_files, "test"] if hundred else [*train_files, "test_batch"]:
        x = rng.integers(0, 256, size=(per_file, 3 * 32 * 32), dtype=np.uint8)
        y = rng.integers(0, k, size=per_file).tolist()
        with open(folder / f, "wb") as fh:
            pickle.dump({b"data": x, label_key: y}, fh)
        xs.append(x)
        ys.append(y)
    names = [f"class{i}".encode() for i in range(k)]
    meta_name, names_key = ("meta", b"fine_label_names") if hundred else ("batches.meta", b"label_names")
    with open(folder / meta_name, "wb") as fh:
        pickle.dump({names_key: names}, fh)
    return {"train_x": np.concatenate(xs[:-1]), "train_y": np.concatenate(ys[:-1]), "test_x": xs[-1],
            "test_y": np.array(ys[-1])}
