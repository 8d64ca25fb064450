"""ImageFolder trees (``root/<class>/<image>``) decoded with Pillow and resized to a square."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from .base import DataFileError, DatasetNotFoundError, ImageDataset, load_cached, save_cached, sources_key

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff", ".ppm", ".pgm"}


def _class_files(root: Path) -> dict[str, list[Path]]:
    classes = sorted(p for p in root.iterdir() if p.is_dir())
    return {c.name: sorted(f for f in c.rglob("*") if f.suffix.lower() in IMAGE_SUFFIXES) for c in classes}


def _decode(files: list[Path], size: int, mode: str) -> torch.Tensor:
    from PIL import Image

    out = np.empty((len(files), size, size, len(mode)), dtype=np.uint8)
    for i, f in enumerate(files):  # decoding happens once; the result is cached as a tensor
        try:
            with Image.open(f) as im:
                im = im.convert(mode)
                if im.size != (size, size):
                    im = im.resize((size, size), Image.Resampling.BILINEAR)
                out[i] = np.asarray(im, dtype=np.uint8).reshape(size, size, len(mode))
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as err:
            # UnidentifiedImageError and truncated files are OSErrors; PIL raises SyntaxError on some headers
            raise DataFileError(f"{f}: not a readable image ({type(err).__name__}: {err})") from None
    return torch.from_numpy(out).permute(0, 3, 1, 2).contiguous()


def load_image_folder(root: str | Path, image_size: int = 32, grayscale: bool = False,
                      test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """Load ``root``: either ``root/train/<class>/...`` + ``root/test/<class>/...`` (``val/`` also accepted)
    or a single ``root/<class>/...`` tree, split by a seeded random ``test_fraction`` per class.

    Images are converted to RGB (or L with ``grayscale``) and resized to ``image_size`` x ``image_size``.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetNotFoundError(f"image folder {root} does not exist; pass --data-dir pointing at a "
                                   "folder with one sub-folder of images per class (or train/ and test/ "
                                   "trees)")
    if isinstance(image_size, bool) or not isinstance(image_size, int) or image_size < 1:
        raise ValueError(f"image_size must be a positive int, got {image_size!r}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    mode = "L" if grayscale else "RGB"
    test_root = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
    if (root / "train").is_dir() and test_root is not None:
        train_files, test_files = _class_files(root / "train"), _class_files(test_root)
        classes = sorted(set(train_files) | set(test_files))
        train = [(f, classes.index(c)) for c, fs in train_files.items() for f in fs]
        test = [(f, classes.index(c)) for c, fs in test_files.items() for f in fs]
    else:
        per_class = _class_files(root)
        classes = sorted(per_class)
        g = torch.Generator().manual_seed(seed)
        train, test = [], []
        for k, c in enumerate(classes):
            fs = per_class[c]
            order = torch.randperm(len(fs), generator=g).tolist()
            n_test = max(1, round(len(fs) * test_fraction)) if len(fs) > 1 else 0
            test += [(fs[i], k) for i in order[:n_test]]
            train += [(fs[i], k) for i in order[n_test:]]
    if len(classes) < 2 or not train or not test:
        raise DatasetNotFoundError(f"image folder {root}: need at least 2 class folders with images in both "
                                   f"splits; found classes {classes}, {len(train)} train / {len(test)} test "
                                   "images")
    paths = [f for f, _ in train + test]
    key = sources_key(paths) + f"-{image_size}{mode}{test_fraction}{seed}"
    name = f"folder-{root.name}"
    cached = load_cached(name, key)
    if cached is not None:
        return cached
    ds = ImageDataset(
        name,
        _decode([f for f, _ in train], image_size, mode),
        torch.tensor([k for _, k in train], dtype=torch.long),
        _decode([f for f, _ in test], image_size, mode),
        torch.tensor([k for _, k in test], dtype=torch.long),
        len(classes), classes, str(root))
    save_cached(ds, key)
    return ds
