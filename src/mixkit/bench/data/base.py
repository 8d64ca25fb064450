"""``ImageDataset``: an in-memory image classification dataset held as uint8 tensors, plus its cache."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import Tensor


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are missing; the message says where mixkit looked and how to get them."""


class DataFileError(ValueError):
    """A data file exists but is corrupt or does not hold what its format promises (truncated, wrong magic
    number or shape, labels outside the class range, a pickle that would build anything but plain data).
    The message starts with the file's path and says what is wrong."""


def check_subset_size(name: str, n: object) -> int | None:
    """``None`` or a positive ``int`` (``bool`` refused): the size of a seeded subset named ``name``."""
    if n is None:
        return None
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{name} must be None (the whole split) or a positive int, got {n!r}")
    if n < 1:
        raise ValueError(f"{name} must be None (the whole split) or a positive int, got {n}")
    return n


@dataclass
class ImageDataset:
    """Train and test images as ``uint8`` tensors ``[N, C, H, W]`` with ``int64`` labels ``[N]``.

    Images stay uint8 (4x smaller than float32) until a batch is drawn: :meth:`normalize` turns a batch into
    float32 with per-channel ``mean``/``std`` (computed on the training set, in [0, 1] units).
    """

    name: str
    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor
    num_classes: int
    class_names: list[str] = field(default_factory=list)
    source: str = ""

    def __post_init__(self) -> None:
        where = f"dataset {self.name!r}" + (f" ({self.source})" if self.source else "")
        k = self.num_classes
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"{where}: num_classes must be a positive int, got {self.num_classes!r}")
        if self.class_names and len(self.class_names) != self.num_classes:
            raise ValueError(f"{where}: {len(self.class_names)} class_names for num_classes="
                             f"{self.num_classes}")
        for split, x, y in (("train", self.train_x, self.train_y), ("test", self.test_x, self.test_y)):
            if not isinstance(x, Tensor) or not isinstance(y, Tensor):
                raise TypeError(f"{where}: {split}_x and {split}_y must be tensors, got {type(x).__name__} "
                                f"and {type(y).__name__}")
            if x.dtype != torch.uint8 or x.dim() != 4:
                raise ValueError(f"{where}: {split}_x must be uint8 [N, C, H, W], got {x.dtype} "
                                 f"{tuple(x.shape)}")
            if y.dtype != torch.int64 or y.shape != (x.shape[0],):
                raise ValueError(f"{where}: {split}_y must be int64 [{x.shape[0]}], got {y.dtype} "
                                 f"{tuple(y.shape)}")
            if x.shape[0] == 0:
                raise ValueError(f"{where}: the {split} split holds no images")
            if min(x.shape[1:]) < 1:
                raise ValueError(f"{where}: {split} images have an empty shape {tuple(x.shape[1:])}")
            lo, hi = int(y.min()), int(y.max())  # once per dataset, not per batch
            if lo < 0 or hi >= self.num_classes:
                raise ValueError(f"{where}: {split} labels span {lo}..{hi}, outside 0..{k - 1} for "
                                 f"num_classes={k}")
        if self.train_x.shape[1:] != self.test_x.shape[1:]:
            raise ValueError(f"{where}: train and test images differ in shape: "
                             f"{tuple(self.train_x.shape[1:])} vs {tuple(self.test_x.shape[1:])}")
        x = self.train_x.float().div_(255)
        self.mean = x.mean(dim=(0, 2, 3))
        self.std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_x.shape[1:])  # type: ignore[return-value]

    @property
    def in_channels(self) -> int:
        return int(self.train_x.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.train_x.shape[-1])

    def normalize(self, x: Tensor) -> Tensor:
        """uint8 (or [0, 1] float) ``[B, C, H, W]`` -> standardized float32 on ``x``'s device."""
        xf = x.float().div_(255) if x.dtype == torch.uint8 else x.float()
        mean = self.mean.to(x.device).view(1, -1, 1, 1)
        std = self.std.to(x.device).view(1, -1, 1, 1)
        return (xf - mean) / std

    def denormalize(self, x: Tensor) -> Tensor:
        """Inverse of :meth:`normalize`: standardized float -> [0, 1] float (clamped)."""
        mean = self.mean.to(x.device).view(1, -1, 1, 1)
        std = self.std.to(x.device).view(1, -1, 1, 1)
        return (x.float() * std + mean).clamp_(0, 1)

    def subset(self, train: int | None = None, test: int | None = None, seed: int = 0) -> ImageDataset:
        """A seeded random subset of ``train`` / ``test`` images (``None`` keeps a split whole; a size at
        least the split's keeps it whole too). Sizes must be ``None`` or positive ints."""
        train = check_subset_size("train_subset", train)
        test = check_subset_size("test_subset", test)
        g = torch.Generator().manual_seed(seed)

        def pick(x: Tensor, y: Tensor, n: int | None) -> tuple[Tensor, Tensor]:
            if n is None or n >= x.shape[0]:
                return x, y
            idx = torch.randperm(x.shape[0], generator=g)[:n].sort().values
            return x[idx], y[idx]

        tx, ty = pick(self.train_x, self.train_y, train)
        vx, vy = pick(self.test_x, self.test_y, test)
        return ImageDataset(self.name, tx, ty, vx, vy, self.num_classes, self.class_names, self.source)

    def fingerprint(self) -> str:
        """A short hash of the data (shapes plus a strided sample of pixels and labels), for result caches."""
        h = hashlib.sha1(self.name.encode())
        for t in (self.train_x, self.train_y, self.test_x, self.test_y):
            h.update(str(tuple(t.shape)).encode())
            flat = t.reshape(-1)
            h.update(flat[:: max(1, flat.numel() // 65536)].numpy().tobytes())
        return h.hexdigest()[:16]


def cache_dir() -> Path:
    """Where decoded datasets are cached: ``$MIXKIT_CACHE`` or ``~/.cache/mixkit``."""
    return Path(os.environ.get("MIXKIT_CACHE") or Path.home() / ".cache" / "mixkit")


def sources_key(paths: list[Path]) -> str:
    """Cache key of a set of source files: their resolved paths, sizes and modification times."""
    h = hashlib.sha1()
    for p in sorted(paths):
        st = p.stat()
        h.update(f"{p.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:16]


def load_cached(name: str, key: str) -> ImageDataset | None:
    path = cache_dir() / f"{name}-{key}.pt"
    if not path.exists():
        return None
    try:
        d = torch.load(path, weights_only=True)
        return ImageDataset(name, d["train_x"], d["train_y"], d["test_x"], d["test_y"], int(d["num_classes"]),
                            list(d["class_names"]), str(d["source"]))
    except Exception:  # a corrupt or foreign cache file: decode again
        return None


def save_cached(ds: ImageDataset, key: str) -> None:
    """Write the decoded tensors atomically; an unwritable cache directory only costs a re-decode later."""
    path = cache_dir() / f"{ds.name}-{key}.pt"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".tmp{os.getpid()}")
        torch.save({"train_x": ds.train_x, "train_y": ds.train_y, "test_x": ds.test_x, "test_y": ds.test_y,
                    "num_classes": ds.num_classes, "class_names": ds.class_names, "source": ds.source}, tmp)
        os.replace(tmp, path)
    except OSError:
        pass
