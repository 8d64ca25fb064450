"""IDX files (the MNIST / Fashion-MNIST format), gzipped or not.

Format (LeCun et al.): two zero bytes, a type code (``0x08`` = unsigned byte), the number of dimensions, one
big-endian uint32 per dimension, then the row-major data.
"""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .base import DatasetNotFoundError, ImageDataset, load_cached, save_cached, sources_key

DEFAULT_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
IDX_FILES = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
             "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte"}


def read_idx(path: str | Path) -> Tensor:
    """Read one IDX file (``.gz`` or raw) holding unsigned bytes into a uint8 tensor of its stated shape."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    if raw[2] != 0x08:
        raise ValueError(f"{path}: IDX type code {raw[2]:#04x} is not unsigned byte (0x08)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    count = int(np.prod(dims)) if dims else 0
    if len(raw) - header != count:
        raise ValueError(f"{path}: header promises {count} bytes of shape {dims}, file holds "
                         f"{len(raw) - header}")
    return torch.from_numpy(np.frombuffer(raw, dtype=np.uint8, offset=header).copy()).view(*dims)


def fashion_mnist_dirs(data_dir: str | Path | None) -> list[Path]:
    """Folders searched for Fashion-MNIST, in order: ``data_dir`` (and its ``fashion-mnist`` subfolder),
    ``$MIXKIT_DATA`` (same), then ``/usr/share/datasets/fashion-mnist`` (Debian ``dataset-fashion-mnist``)."""
    dirs: list[Path] = []
    for base in (data_dir, os.environ.get("MIXKIT_DATA")):
        if base:
            dirs += [Path(base), Path(base) / "fashion-mnist", Path(base) / "fashion_mnist"]
    dirs.append(DEFAULT_FASHION_DIR)
    return dirs


def _find_idx_set(d: Path) -> dict[str, Path] | None:
    found = {}
    for key, stem in IDX_FILES.items():
        for cand in (d / f"{stem}.gz", d / stem):
            if cand.is_file():
                found[key] = cand
                break
        else:
            return None
    return found


def load_idx_dataset(name: str, dirs: list[Path], class_names: list[str], how_to_get: str) -> ImageDataset:
    """Load the four IDX files of an MNIST-style dataset from the first folder in ``dirs`` that has them."""
    for d in dirs:
        files = _find_idx_set(d)
        if files is None:
            continue
        key = sources_key(list(files.values()))
        cached = load_cached(name, key)
        if cached is not None:
            return cached
        t = {k: read_idx(p) for k, p in files.items()}
        for split in ("train", "test"):
            x, y = t[f"{split}_x"], t[f"{split}_y"]
            if x.dim() != 3 or y.dim() != 1 or x.shape[0] != y.shape[0]:
                raise ValueError(f"{d}: {split} images {tuple(x.shape)} and labels {tuple(y.shape)} "
                                 "do not match")
        num_classes = max(len(class_names), int(t["train_y"].max()) + 1)
        ds = ImageDataset(name, t["train_x"].unsqueeze(1).contiguous(), t["train_y"].long(),
                          t["test_x"].unsqueeze(1).contiguous(), t["test_y"].long(), num_classes,
                          class_names or [str(i) for i in range(num_classes)], str(d))
        save_cached(ds, key)
        return ds
    looked = "\n  ".join(str(d) for d in dirs)
    names = ", ".join(f"{s}.gz" for s in IDX_FILES.values())
    raise DatasetNotFoundError(f"{name} not found. Looked for {names} in:\n  {looked}\n{how_to_get}")


def load_fashion_mnist(data_dir: str | Path | None = None) -> ImageDataset:
    """Fashion-MNIST (Xiao et al. 2017): 60k/10k 28x28 grayscale images, 10 clothing classes."""
    return load_idx_dataset(
        "fashion-mnist", fashion_mnist_dirs(data_dir), FASHION_CLASSES,
        "Get it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu; or `make data`), or "
        "download the four .gz files from https://github.com/zalandoresearch/fashion-mnist (data/fashion) "
        "into a folder and pass --data-dir FOLDER or set MIXKIT_DATA.")


def load_mnist(data_dir: str | Path | None = None) -> ImageDataset:
    """MNIST digits in IDX format from ``data_dir`` or ``$MIXKIT_DATA`` (or their ``mnist`` subfolder)."""
    dirs = []
    for base in (data_dir, os.environ.get("MIXKIT_DATA")):
        if base:
            dirs += [Path(base), Path(base) / "mnist"]
    return load_idx_dataset("mnist", dirs, [str(i) for i in range(10)],
                            "Put the four MNIST IDX .gz files in a folder and pass --data-dir FOLDER.")
