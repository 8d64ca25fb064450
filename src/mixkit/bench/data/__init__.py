"""Datasets of the benchmark, loaded into memory as uint8 tensors (decoded once, then cached as tensors).

``load_dataset(name, data_dir=None)`` with ``name`` one of ``fashion-mnist``, ``mnist``, ``digits``,
``cifar10``, ``cifar100`` or ``folder:/path/to/tree`` (``folder`` alone uses ``data_dir``). A missing dataset
raises :class:`DatasetNotFoundError` saying where mixkit looked and how to get the files; nothing downloads.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from .base import DataFileError, DatasetNotFoundError, ImageDataset, cache_dir, check_subset_size
from .cifar import load_cifar, read_cifar_pickle
from .digits import load_digits
from .folder import load_image_folder
from .idx import load_fashion_mnist, load_mnist, read_idx

DATASETS = ("fashion-mnist", "mnist", "digits", "cifar10", "cifar100", "folder")
_ALIASES = {"fashion-mnist": "fashion-mnist", "fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist",
            "fashionmnist": "fashion-mnist", "mnist": "mnist", "digits": "digits", "cifar10": "cifar10",
            "cifar-10": "cifar10", "cifar100": "cifar100", "cifar-100": "cifar100", "folder": "folder",
            "imagefolder": "folder"}


def canonical_name(name: str) -> str:
    """``"FMNIST"`` -> ``"fashion-mnist"``; ``folder:<path>`` is kept as is."""
    key = name.strip()
    if key.lower().startswith(("folder:", "imagefolder:")):
        return "folder:" + key.partition(":")[2]
    try:
        return _ALIASES[key.lower()]
    except KeyError:
        known = ", ".join(DATASETS)
        raise ValueError(f"dataset must be one of {known} (or folder:PATH), got {name!r}") from None


@lru_cache(maxsize=4)
def _load(name: str, data_dir: str | None) -> ImageDataset:
    if data_dir is not None and name != "digits" and not Path(data_dir).is_dir():
        what = "is not a folder" if Path(data_dir).exists() else "does not exist"
        raise DatasetNotFoundError(f"data directory {data_dir} {what}; pass --data-dir FOLDER holding the "
                                   f"{name} files")
    if name == "fashion-mnist":
        return load_fashion_mnist(data_dir)
    if name == "mnist":
        return load_mnist(data_dir)
    if name == "digits":
        return load_digits()
    if name in ("cifar10", "cifar100"):
        return load_cifar(name, data_dir)
    root = name.partition(":")[2] or data_dir
    if not root:
        raise ValueError("dataset 'folder' needs a path: folder:PATH or --data-dir PATH")
    return load_image_folder(root)


def load_dataset(name: str, data_dir: str | Path | None = None) -> ImageDataset:
    """Load a dataset by name (see the module docstring). Repeated calls in a process share one copy.

    A ``data_dir`` that does not exist raises :class:`DatasetNotFoundError`; a corrupt file raises
    :class:`DataFileError` (a ``ValueError``) whose message starts with the file's path."""
    if not isinstance(name, str):
        raise TypeError(f"dataset name must be a str, got {type(name).__name__}")
    if data_dir is not None and not isinstance(data_dir, (str, Path)):
        raise TypeError(f"data_dir must be a str or Path, got {type(data_dir).__name__}")
    return _load(canonical_name(name), str(data_dir) if data_dir else None)


__all__ = ["DATASETS", "DataFileError", "DatasetNotFoundError", "ImageDataset", "cache_dir", "canonical_name",
           "check_subset_size", "load_cifar", "load_dataset", "load_digits", "load_fashion_mnist",
           "load_image_folder", "load_mnist", "read_cifar_pickle", "read_idx"]
