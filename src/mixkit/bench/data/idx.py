"""IDX files (the MNIST / Fashion-MNIST format), gzipped or not.

Format (LeCun et al.): two zero bytes, a type code (``0x08`` = unsigned byte), the number of dimensions, one
big-endian uint32 per dimension, then the row-major data.
"""

from __future__ import annotations

import gzip
import math
import os
import zlib
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .base import DataFileError, DatasetNotFoundError, ImageDataset, load_cached, save_cached, sources_key

DEFAULT_FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                   "Ankle boot"]
IDX_FILES = {"train_x": "train-images-idx3-ubyte", "train_y": "train-labels-idx1-ubyte",
             "test_x": "t10k-images-idx3-ubyte", "test_y": "t10k-labels-idx1-ubyte"}


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped for ``.gz``; a truncated or corrupt file raises :class:`DataFileError`."""
    try:
        if path.suffix == ".gz":
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except FileNotFoundError:
        raise
    except (OSError, EOFError, zlib.error) as err:  # BadGzipFile is an OSError
        raise DataFileError(f"{path}: cannot be read as {'gzip' if path.suffix == '.gz' else 'a file'} "
                            f"({type(err).__name__}: {err}); the file is truncated or corrupt, fetch it "
                            "again") from None


def read_idx(path: str | Path, ndim: int | None = None) -> Tensor:
    """Read one IDX file (``.gz`` or raw) holding unsigned bytes into a uint8 tensor of its stated shape.

    ``ndim`` (optional) is the number of dimensions the caller expects. Anything but a well-formed IDX file
    of unsigned bytes (a bad magic number or type code, a header or body shorter or longer than it
    promises, an empty dimension) raises :class:`DataFileError` naming the file; a missing file raises
    ``FileNotFoundError``.
    """
    path = Path(path)
    raw = _read_bytes(path)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise DataFileError(f"{path}: not an IDX file (bad magic number {raw[:4].hex() or 'empty file'}; "
                            "expected 00 00 08 <ndim>)")
    if raw[2] != 0x08:
        raise DataFileError(f"{path}: IDX type code {raw[2]:#04x} is not unsigned byte (0x08)")
    n_dims = raw[3]
    if n_dims == 0:
        raise DataFileError(f"{path}: IDX header declares 0 dimensions")
    if ndim is not None and n_dims != ndim:
        raise DataFileError(f"{path}: IDX file has {n_dims} dimensions, expected {ndim}")
    header = 4 + 4 * n_dims
    if len(raw) < header:
        raise DataFileError(f"{path}: IDX header of {n_dims} dimensions needs {header} bytes, the file holds "
                            f"{len(raw)}")
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(n_dims)]
    count = math.prod(dims)
    if len(raw) - header != count:
        raise DataFileError(f"{path}: header promises {count} bytes of shape {dims}, file holds "
                            f"{len(raw) - header}")
    if count == 0:
        raise DataFileError(f"{path}: IDX file of shape {dims} holds no data")
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
    """Load the four IDX files of an MNIST-style dataset from the first folder in ``dirs`` that has them.

    The class count is ``len(class_names)``; a label outside it (say 255 in a 10-class set) raises
    :class:`DataFileError` naming the label file instead of building a model with more classes.
    """
    if not class_names:
        raise ValueError(f"class_names of {name} must name at least one class")
    for d in dirs:
        files = _find_idx_set(d)
        if files is None:
            continue
        key = sources_key(list(files.values()))
        cached = load_cached(name, key)
        if cached is not None and cached.num_classes == len(class_names):  # older caches took max label + 1
            return cached
        t = {k: read_idx(p, ndim=3 if k.endswith("_x") else 1) for k, p in files.items()}
        for split in ("train", "test"):
            x, y = t[f"{split}_x"], t[f"{split}_y"]
            if x.shape[0] != y.shape[0]:
                raise DataFileError(f"{files[f'{split}_x']}: {x.shape[0]} images, but "
                                    f"{files[f'{split}_y']} holds {y.shape[0]} labels")
        if t["train_x"].shape[1:] != t["test_x"].shape[1:]:
            raise DataFileError(f"{files['test_x']}: images of shape {tuple(t['test_x'].shape[1:])}, but the "
                                f"training images in {files['train_x']} are {tuple(t['train_x'].shape[1:])}")
        num_classes = len(class_names)
        for split in ("train", "test"):
            bad = t[f"{split}_y"] >= num_classes
            if bool(bad.any()):
                at = int(bad.nonzero()[0])
                label = int(t[f"{split}_y"][at])
                raise DataFileError(f"{files[f'{split}_y']}: label {label} at index {at} is outside "
                                    f"0..{num_classes - 1} ({name} has {num_classes} classes)")
        ds = ImageDataset(name, t["train_x"].unsqueeze(1).contiguous(), t["train_y"].long(),
                          t["test_x"].unsqueeze(1).contiguous(), t["test_y"].long(), num_classes,
                          list(class_names), str(d))
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
