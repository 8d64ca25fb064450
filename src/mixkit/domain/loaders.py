"""PyTorch datasets and samplers over a :class:`~mixkit.domain.MixtureSampler` stream.

* :class:`MixtureDataset`: map-style dataset over ``{domain: map-style dataset}`` indexed by
  ``(domain, index)`` keys (a :class:`~mixkit.domain.MixtureSampler` yields exactly those keys).
* :class:`MixtureEpochSampler`: a ``torch.utils.data.Sampler`` cutting the endless stream into passes of
  ``length`` keys. It lives in the main process (DataLoader workers only fetch items), so resuming is
  exact: the DataLoader reads ahead, so pass the number of samples the training loop actually consumed to
  :meth:`MixtureEpochSampler.state_dict`.
* :class:`MixtureIterableDataset`: an ``IterableDataset``; DataLoader worker ``i`` of ``n`` reads chunks
  ``i, i + n, ...`` of the rank's stream, so workers are disjoint and the DataLoader's in-order output is
  exactly the rank's stream when ``chunk_size`` equals the DataLoader's ``batch_size``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from torch.utils.data import Dataset, IterableDataset, Sampler, get_worker_info

from .sampler import MixtureSampler


def _sizes_of(datasets: Mapping[str, Any]) -> dict[str, int]:
    if not isinstance(datasets, Mapping) or not datasets:
        raise ValueError("datasets must be a non-empty dict {domain: map-style dataset}")
    sizes = {}
    for name, ds in datasets.items():
        try:
            sizes[name] = len(ds)
        except TypeError:
            raise TypeError(
                f"datasets[{name!r}] has no len(): a map-style dataset (len + integer indexing) is needed; "
                "wrap JSONL files with mixkit.domain.JsonlSource or other iterables with list(...)"
            ) from None
        if sizes[name] <= 0:
            raise ValueError(f"datasets[{name!r}] is empty")
    return sizes


class MixtureDataset(Dataset):
    """Map-style dataset over ``{domain: map-style dataset}``: ``ds[(domain, index)]`` returns
    ``datasets[domain][index]`` (or ``(domain, item)`` with ``return_domain=True``)."""

    def __init__(self, datasets: Mapping[str, Any], return_domain: bool = False) -> None:
        self.sizes = _sizes_of(datasets)
        self.datasets = dict(datasets)
        self.return_domain = bool(return_domain)

    def __len__(self) -> int:
        return sum(self.sizes.values())

    def __getitem__(self, key: tuple[str, int]) -> Any:
        try:
            domain, index = key
        except (TypeError, ValueError):
            raise TypeError(f"MixtureDataset keys are (domain, index) tuples, got {key!r}") from None
        try:
            ds = self.datasets[domain]
        except KeyError:
            raise KeyError(f"unknown domain {domain!r}; known: {list(self.datasets)}") from None
        item = ds[int(index)]
        return (domain, item) if self.return_domain else item

    def __repr__(self) -> str:
        return f"MixtureDataset(sizes={self.sizes}, return_domain={self.return_domain})"


class MixtureEpochSampler(Sampler):
    """``torch.utils.data.Sampler`` yielding ``(domain, index)`` keys of a :class:`MixtureSampler` in
    passes of a fixed length, with checkpoints counted in consumed samples.

    ``dataset`` (a :class:`MixtureDataset` or ``{domain: dataset}``, optional) is checked against the
    sampler's sizes: a length mismatch raises ``ValueError``.

    ``length`` bounds one pass (``len()`` of the sampler, one "epoch" of the DataLoader); ``None`` means the
    underlying stream's length (endless with ``on_exhausted="cycle"``). Each pass continues the stream.
    :meth:`state_dict` takes the number of samples the training loop consumed in the current pass (the
    DataLoader reads keys ahead), so a resumed run continues exactly after them.
    """

    def __init__(self, sampler: MixtureSampler, length: int | None = None, dataset: Any = None) -> None:
        if not isinstance(sampler, MixtureSampler):
            raise TypeError(f"sampler must be a MixtureSampler, got {type(sampler).__name__}")
        if dataset is not None:  # refuse a dataset whose domain lengths differ from the declared sizes
            sizes = dataset.sizes if isinstance(dataset, MixtureDataset) else _sizes_of(dataset)
            if sizes != sampler.sizes:
                raise ValueError(f"dataset: domain lengths {sizes} differ from the sampler's sizes "
                                 f"{sampler.sizes}")
        if length is not None and (not isinstance(length, int) or length <= 0):
            raise ValueError(f"length must be a positive int or None, got {length!r}")
        self.sampler, self.length = sampler, length
        self._pass_start = sampler.state_dict()

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("MixtureEpochSampler has no length: pass length=...")
        return self.length

    def __iter__(self) -> Iterator[tuple[str, int]]:
        self._pass_start = self.sampler.state_dict()
        left = self.length
        while left is None or left > 0:
            n = 4096 if left is None else min(4096, left)
            batch = self.sampler.take(n)
            yield from batch
            if left is not None:
                left -= len(batch)
            if len(batch) < n:
                return

    def state_dict(self, consumed: int) -> dict[str, Any]:
        """Sampler state after ``consumed`` samples of the current pass were used by the training loop
        (the DataLoader may have drawn more keys ahead; those are replayed after a resume)."""
        if not isinstance(consumed, int) or consumed < 0:
            raise ValueError(f"consumed must be an int >= 0, got {consumed!r}")
        probe = self.sampler.fork()
        probe.load_state_dict(self._pass_start)
        got = len(probe.take(consumed))
        if got < consumed:
            raise ValueError(f"consumed={consumed} is beyond the end of the stream ({got} samples)")
        return probe.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume: the next pass starts exactly after the consumed samples."""
        self.sampler.load_state_dict(state)
        self._pass_start = self.sampler.state_dict()

    def __repr__(self) -> str:
        return f"MixtureEpochSampler({self.sampler!r}, length={self.length})"


class MixtureIterableDataset(IterableDataset):
    """``IterableDataset`` over ``{domain: map-style dataset}`` following a :class:`MixtureSampler`
    (one per rank). In a DataLoader with ``n`` workers, worker ``i`` yields chunks ``i, i + n, ...`` of
    ``chunk_size`` draws of the rank's stream (a worker reads the others' chunks' keys but never their
    items); with ``chunk_size == batch_size`` the loader's output order is the rank's stream itself.

    ``dataset`` (a :class:`MixtureDataset` or ``{domain: dataset}``, optional) is checked against the
    sampler's sizes: a length mismatch raises ``ValueError``.

    ``length`` bounds one pass (``None``: the stream's length). Resume with :meth:`state_dict` given the
    number of samples consumed, then :meth:`load_state_dict` on a fresh dataset.
    """

    def __init__(self, datasets: Mapping[str, Any], sampler: MixtureSampler, chunk_size: int,
                 length: int | None = None, return_domain: bool = False) -> None:
        if not isinstance(sampler, MixtureSampler):
            raise TypeError(f"sampler must be a MixtureSampler, got {type(sampler).__name__}")
        if not isinstance(chunk_size, int) or chunk_size <= 0:
            raise ValueError(f"chunk_size must be a positive int, got {chunk_size!r}")
        if length is not None and (not isinstance(length, int) or length <= 0):
            raise ValueError(f"length must be a positive int or None, got {length!r}")
        self.data = MixtureDataset(datasets, return_domain=return_domain)
        if self.data.sizes != sampler.sizes:
            raise ValueError(f"dataset sizes {self.data.sizes} differ from the sampler's {sampler.sizes}")
        self.sampler, self.chunk_size, self.length = sampler, chunk_size, length

    def __len__(self) -> int:
        if self.length is None:
            raise TypeError("MixtureIterableDataset has no length: pass length=...")
        return self.length

    def keys(self, worker: int = 0, num_workers: int = 1) -> Iterator[tuple[str, int]]:
        """The keys worker ``worker`` of ``num_workers`` yields in one pass."""
        stream = self.sampler.fork()  # never advance the main-process sampler from a worker
        c, left = 0, self.length
        while left is None or left > 0:
            n = self.chunk_size if left is None else min(self.chunk_size, left)
            batch = stream.take(n)
            if c % num_workers == worker:
                yield from batch
            if left is not None:
                left -= len(batch)
            if len(batch) < n:
                return
            c += 1

    def __iter__(self) -> Iterator[Any]:
        info = get_worker_info()
        worker, num = (0, 1) if info is None else (info.id, info.num_workers)
        for key in self.keys(worker, num):
            yield self.data[key]

    def state_dict(self, consumed: int) -> dict[str, Any]:
        """Sampler state after ``consumed`` samples of the current pass."""
        probe = self.sampler.fork()
        if len(probe.take(consumed)) < consumed:
            raise ValueError(f"consumed={consumed} is beyond the end of the stream")
        return probe.state_dict()

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Resume: the next pass starts at ``state``."""
        self.sampler.load_state_dict(state)

    def advance(self, consumed: int) -> None:
        """Move the start of the next pass ``consumed`` samples on (call after a finished pass)."""
        self.sampler.load_state_dict(self.state_dict(consumed))

    def __repr__(self) -> str:
        return (f"MixtureIterableDataset(sizes={self.data.sizes}, sampler={self.sampler!r}, "
                f"chunk_size={self.chunk_size}, length={self.length})")

