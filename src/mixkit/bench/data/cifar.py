"""CIFAR-10 / CIFAR-100 from the standard "python version" pickle folders (Krizhevsky 2009)."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch

from .base import DatasetNotFoundError, ImageDataset, load_cached, save_cached, sources_key

LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                "batches.meta", b"labels", b"label_names", 10),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "meta", b"fine_labels", b"fine_label_names", 100),
}
URLS = {"cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"}


def _unpickle(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def cifar_dirs(name: str, data_dir: str | Path | None) -> list[Path]:
    folder = LAYOUT[name][0]
    dirs: list[Path] = []
    for base in (data_dir, os.environ.get("MIXKIT_DATA")):
        if base:
            dirs += [Path(base) / folder, Path(base)]
    return dirs


def load_cifar(name: str, data_dir: str | Path | None = None) -> ImageDataset:
    """``name``: ``cifar10`` or ``cifar100``. Images ``[N, 3, 32, 32]`` uint8; CIFAR-100 uses fine labels."""
    if name not in LAYOUT:
        raise ValueError(f"name must be 'cifar10' or 'cifar100', got {name!r}")
    folder, train_files, test_files, meta_file, label_key, names_key, k = LAYOUT[name]
    dirs = cifar_dirs(name, data_dir)
    for d in dirs:
        paths = [d / f for f in (*train_files, *test_files)]
        if not all(p.is_file() for p in paths):
            continue
        key = sources_key(paths)
        cached = load_cached(name, key)
        if cached is not None:
            return cached

        def read(files: list[str], d: Path = d) -> tuple[torch.Tensor, torch.Tensor]:
            xs, ys = [], []
            for f in files:
                batch = _unpickle(d / f)
                xs.append(np.asarray(batch[b"data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                ys.append(np.asarray(batch[label_key], dtype=np.int64))
            return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))

        tx, ty = read(train_files)
        vx, vy = read(test_files)
        class_names = [str(i) for i in range(k)]
        if (d / meta_file).is_file():
            meta = _unpickle(d / meta_file)
            class_names = [n.decode() if isinstance(n, bytes) else str(n) for n in meta.get(names_key, [])] \
                or class_names
        ds = ImageDataset(name, tx, ty, vx, vy, k, class_names, str(d))
        save_cached(ds, key)
        return ds
    looked = "\n  ".join(str(d) for d in dirs) or "(nowhere: no --data-dir given and MIXKIT_DATA unset)"
    raise DatasetNotFoundError(
        f"{name} not found. Looked for the folder {folder}/ ({', '.join(train_files + test_files)}) in:\n  "
        f"{looked}\nDownload {URLS[name]}, extract it (tar xzf) into a folder and pass --data-dir FOLDER "
        "or set MIXKIT_DATA.")
