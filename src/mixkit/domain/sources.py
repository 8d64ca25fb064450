"""Per-domain sources with random access: JSONL files (line offsets indexed once, records parsed
lazily) and Hugging Face ``datasets`` (optional extra ``mixkit[hf]``, imported only when used)."""

from __future__ import annotations

import json
import operator
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np


class JsonlSource:
    """Random-access view of a JSONL file: ``len(src)`` records, ``src[i]`` parses line ``i``.

    The file is scanned once for the byte offset of every non-blank line (``int64 [n]``, 8 bytes per
    record in memory); records are read and parsed only when indexed. The file handle is opened lazily
    per process, so the source can be sent to DataLoader workers. ``transform`` maps a parsed record.

    The offsets are only valid for the file as it was indexed: its size, modification time and inode are
    recorded, and every read checks them (one ``os.stat``), so a file rewritten or replaced after indexing
    raises ``RuntimeError`` (build a new source) instead of returning records from the wrong bytes. A line
    that is not valid JSON raises ``ValueError`` naming the file and the record.
    """

    def __init__(self, path: str | os.PathLike, transform: Callable[[Any], Any] | None = None) -> None:
        if not isinstance(path, (str, os.PathLike)):
            raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
        self.path = os.fspath(path)
        if not os.path.isfile(self.path):
            what = "is not a regular file" if os.path.exists(self.path) else "not found"
            raise FileNotFoundError(f"JSONL file {what}: {self.path!r}")
        if transform is not None and not callable(transform):
            raise TypeError(f"transform must be callable or None, got {type(transform).__name__}")
        self.transform = transform
        self._stamp = self._file_stamp()
        self.offsets = self._index(self.path)
        if self._file_stamp() != self._stamp:
            raise RuntimeError(f"JSONL file {self.path!r} changed while it was being indexed")
        self._fh: Any = None
        self._pid = -1

    def _file_stamp(self) -> tuple[int, int, int]:
        try:
            st = os.stat(self.path)
        except OSError as err:
            raise RuntimeError(f"JSONL file {self.path!r} is no longer readable: {err}") from None
        return (st.st_size, st.st_mtime_ns, st.st_ino)

    @staticmethod
    def _index(path: str) -> np.ndarray:
        offsets = []
        pos = 0
        with open(path, "rb") as fh:
            for line in fh:
                if line.strip():
                    offsets.append(pos)
                pos += len(line)
        return np.asarray(offsets, dtype=np.int64)

    def __len__(self) -> int:
        return int(self.offsets.shape[0])

    def __getitem__(self, index: int) -> Any:
        n = len(self)
        if isinstance(index, bool):
            raise TypeError(f"index must be an int, got {index!r}")
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(f"index must be an int, got {type(index).__name__} {index!r}") from None
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError(f"index {index} out of range for {n} records in {self.path!r}")
        if self._file_stamp() != self._stamp:
            raise RuntimeError(
                f"JSONL file {self.path!r} was modified after it was indexed (size, modification time or "
                "inode changed): its line offsets no longer hold; create a new JsonlSource"
            )
        if self._fh is None or self._pid != os.getpid():
            self._fh = open(self.path, "rb")  # noqa: SIM115 - kept open for random access
            self._pid = os.getpid()
        self._fh.seek(int(self.offsets[i]))
        line = self._fh.readline()
        try:
            record = json.loads(line)
        except ValueError as err:  # JSONDecodeError and UnicodeDecodeError
            raise ValueError(f"{self.path!r}, record {i} (byte offset {int(self.offsets[i])}): not valid "
                             f"JSON: {err}") from None
        return self.transform(record) if self.transform is not None else record

    def __repr__(self) -> str:
        return f"JsonlSource({self.path!r}, records={len(self)}, transform={self.transform!r})"

    def __getstate__(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["_fh"], d["_pid"] = None, -1
        return d

    def __del__(self) -> None:
        fh = getattr(self, "_fh", None)
        if fh is not None:
            fh.close()


def jsonl_sources(paths: Mapping[str, str | os.PathLike],
                  transform: Callable[[Any], Any] | None = None) -> dict[str, JsonlSource]:
    """``{domain: path}`` -> ``{domain: JsonlSource}`` (sizes are ``len()`` of each)."""
    if not isinstance(paths, Mapping):
        raise TypeError(f"paths must be a mapping {{domain: path}}, got {type(paths).__name__}")
    return {name: JsonlSource(path, transform) for name, path in paths.items()}


def hf_sources(datasets: Any, columns: list[str] | None = None) -> dict[str, Any]:
    """Hugging Face map-style datasets as mixkit sources: a ``datasets.DatasetDict`` (one domain per split)
    or ``{domain: datasets.Dataset}``, optionally keeping only ``columns``. Needs ``pip install
    mixkit[hf]``. Streaming (``IterableDataset``) sources have no random access and are refused here; wrap
    each in :class:`mixkit.integrations.StreamingSource` (read in order, resumed exactly) instead."""
    try:
        import datasets as hf  # lazy: optional extra
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("hf_sources needs Hugging Face datasets: pip install mixkit[hf]") from err
    if isinstance(datasets, hf.DatasetDict) or isinstance(datasets, Mapping):
        items = dict(datasets.items())
    else:
        raise TypeError(f"expected a DatasetDict or a dict of datasets.Dataset, got {type(datasets)}")
    out = {}
    for name, ds in items.items():
        if isinstance(ds, hf.IterableDataset):
            raise TypeError(f"source {name!r} is a streaming datasets.IterableDataset: no random access; "
                            "wrap it in mixkit.integrations.StreamingSource(ds, size=N) (read in order, "
                            "resumed exactly) or load it as a map-style Dataset")
        if not isinstance(ds, hf.Dataset):
            raise TypeError(f"source {name!r} must be a datasets.Dataset, got {type(ds).__name__}")
        if columns is not None:
            ds = ds.select_columns(columns)
        out[name] = ds
    return out
