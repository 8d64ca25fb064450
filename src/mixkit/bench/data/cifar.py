"""CIFAR-10 / CIFAR-100 from the standard "python version" pickle folders (Krizhevsky 2009).

The pickles are read with a restricted unpickler (:func:`read_cifar_pickle`): it builds only the dicts,
lists, bytes/str and numeric numpy arrays a CIFAR batch holds and refuses every other global, so a crafted
``data_batch_1`` cannot run code."""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import torch

from .base import DataFileError, DatasetNotFoundError, ImageDataset, load_cached, save_cached, sources_key

LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"],
                "batches.meta", "labels", "label_names", 10),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "meta", "fine_labels", "fine_label_names", 100),
}
URLS = {"cifar10": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "cifar100": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"}


class _Refused(pickle.UnpicklingError):
    """The pickle asks for something a CIFAR batch never holds."""


def _dtype(spec: object, align: object = False, copy: object = False) -> np.dtype:
    if isinstance(spec, bytes):  # Python 2 pickles (the CIFAR release) read with encoding="bytes"
        spec = spec.decode("latin1")
    if not isinstance(spec, str):
        raise _Refused(f"numpy dtype from {type(spec).__name__} is not plain data")
    dt = np.dtype(spec)
    if dt.kind not in "biuf" or dt.fields is not None or dt.subdtype is not None:
        raise _Refused(f"numpy dtype {spec!r} is not a plain number type")
    return dt


def _reconstruct(subtype: object, shape: object, dtype: object) -> np.ndarray:
    if subtype is not np.ndarray:
        raise _Refused(f"array subtype {subtype!r} is not numpy.ndarray")
    if not isinstance(shape, tuple) or not all(isinstance(n, int) and 0 <= n <= 1 for n in shape):
        raise _Refused(f"array placeholder shape {shape!r} is not numpy's (0,)")
    return np.ndarray.__new__(np.ndarray, shape, np.uint8)  # the state set next gives dtype, shape, data


def _frombuffer(buf: object, dtype: object, shape: object, order: object) -> np.ndarray:
    if not isinstance(buf, (bytes, bytearray)) or not isinstance(dtype, np.dtype):
        raise _Refused("numpy buffer is not plain bytes of a plain number type")
    return np.frombuffer(buf, dtype=dtype).reshape(shape, order="F" if order == "F" else "C").copy()


def _latin1(text: object, encoding: object = "latin1") -> bytes:
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise _Refused("only latin1 bytes may be encoded")
    return text.encode("latin1")


# the only globals a CIFAR batch needs: numpy's array reconstruction (numpy 1 and 2 module names, pickle
# protocols 2 to 5) and the latin1 encoding Python 3 uses for bytes under protocol 2. Each maps to a checked
# stand-in, so nothing but plain numeric arrays, lists, dicts, bytes and str can be built.
_SAFE_GLOBALS = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): _dtype,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("_codecs", "encode"): _latin1,
}


class _PlainDataUnpickler(pickle.Unpickler):
    """Unpickler that resolves only :data:`_SAFE_GLOBALS`: any other global (``os.system``,
    ``builtins.eval``, a class with a ``__reduce__``) is refused before it can run."""

    def find_class(self, module: str, name: str) -> object:
        try:
            return _SAFE_GLOBALS[(module, name)]
        except KeyError:
            raise _Refused(f"it refers to {module}.{name}, which a CIFAR batch never does "
                                         "(only numpy arrays, lists, bytes and str are loaded)") from None

    def persistent_load(self, pid: object) -> object:
        raise _Refused("it uses persistent ids, which a CIFAR batch never does")


def read_cifar_pickle(path: str | Path) -> dict[str, object]:
    """Read one CIFAR "python version" pickle into a dict with ``str`` keys, building nothing but plain
    data (see :class:`_PlainDataUnpickler`). A file that is truncated, not a pickle, not a dict or asks for
    anything else raises :class:`DataFileError` naming the file; no code in the file ever runs."""
    path = Path(path)
    try:
        with open(path, "rb") as f:
            obj = _PlainDataUnpickler(f, encoding="bytes").load()
    except FileNotFoundError:
        raise
    except _Refused as err:
        raise DataFileError(f"{path}: refused as a CIFAR batch: {err}") from None
    except Exception as err:  # truncated, not a pickle, absurd shapes: all the same to the user
        raise DataFileError(f"{path}: not a readable CIFAR pickle ({type(err).__name__}: {err}); the file is "
                            "truncated or corrupt, extract the archive again") from None
    if not isinstance(obj, dict) or not all(isinstance(k, (bytes, str)) for k in obj):
        raise DataFileError(f"{path}: a CIFAR batch is a dict with bytes or str keys, got "
                            f"{type(obj).__name__}")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _batch_arrays(path: Path, batch: dict[str, object], label_key: str, k: int
                  ) -> tuple[np.ndarray, np.ndarray]:
    data, labels = batch.get("data"), batch.get(label_key)
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
        got = f"{data.dtype} {data.shape}" if isinstance(data, np.ndarray) else type(data).__name__
        raise DataFileError(f"{path}: 'data' must be a uint8 array [N, 3072], got {got}")
    if isinstance(labels, np.ndarray) and labels.dtype.kind in "iu" and labels.ndim == 1:
        y = labels.astype(np.int64)
    elif isinstance(labels, list) and all(isinstance(v, int) and not isinstance(v, bool) for v in labels):
        y = np.asarray(labels, dtype=np.int64) if labels else np.zeros(0, np.int64)
    else:
        raise DataFileError(f"{path}: {label_key!r} must be a list of ints, got "
                            f"{type(labels).__name__ if labels is not None else 'nothing'}")
    if y.shape[0] != data.shape[0]:
        raise DataFileError(f"{path}: {data.shape[0]} images but {y.shape[0]} labels")
    if data.shape[0] == 0:
        raise DataFileError(f"{path}: the batch holds no images")
    bad = (y < 0) | (y >= k)
    if bad.any():
        at = int(np.flatnonzero(bad)[0])
        raise DataFileError(f"{path}: label {int(y[at])} at index {at} is outside 0..{k - 1} ({k} classes)")
    return data.reshape(-1, 3, 32, 32), y


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
                x, y = _batch_arrays(d / f, read_cifar_pickle(d / f), label_key, k)
                xs.append(x)
                ys.append(y)
            return torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys))

        tx, ty = read(train_files)
        vx, vy = read(test_files)
        class_names = [str(i) for i in range(k)]
        if (d / meta_file).is_file():
            names = read_cifar_pickle(d / meta_file).get(names_key)
            if not isinstance(names, list) or len(names) != k or \
                    not all(isinstance(n, (bytes, str)) for n in names):
                raise DataFileError(f"{d / meta_file}: {names_key!r} must list {k} class names "
                                    "(bytes or str)")
            class_names = [n.decode("utf-8", "replace") if isinstance(n, bytes) else n for n in names]
        ds = ImageDataset(name, tx, ty, vx, vy, k, class_names, str(d))
        save_cached(ds, key)
        return ds
    looked = "\n  ".join(str(d) for d in dirs) or "(nowhere: no --data-dir given and MIXKIT_DATA unset)"
    raise DatasetNotFoundError(
        f"{name} not found. Looked for the folder {folder}/ ({', '.join(train_files + test_files)}) in:\n  "
        f"{looked}\nDownload {URLS[name]}, extract it (tar xzf) into a folder and pass --data-dir FOLDER "
        "or set MIXKIT_DATA.")
