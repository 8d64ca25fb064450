"""A streamed domain: items of a Hugging Face ``datasets.IterableDataset`` (or any re-iterable iterable) read
in order, with exact resume.

A streamed source has no random access, so the mixture still decides *which domain* fills each slot exactly
(:class:`~mixkit.integrations.MixtureKeyStream` with ``sequential=[domain]``), while the domain's items come
in the stream's own order: the ``n``-th draw of the domain reads the stream's ``n``-th item (over passes:
when the stream ends the next pass starts, with ``set_epoch(pass)`` so a shuffled stream reshuffles).

Resume: the checkpoint records how many items of each streamed domain were trained on
(:meth:`StreamingSource.state_at`). Where the ``datasets`` version has ``IterableDataset.state_dict`` (2.18
and later) the source records the stream's state before each item it reads (the last ``window`` of them), so
the state of the first item not trained on is saved and ``load_state_dict`` jumps there (shard and offset,
no re-reading). Otherwise, or when that item was read in a DataLoader worker (whose records the main process
does not see), the resumed source re-reads and skips that many items: slower, equally exact. With a shuffle
buffer (``IterableDataset.shuffle``) the buffer's content is not part of Hugging Face's state, so only the
skip path is exact: pass ``exact_state=False`` for such streams.
"""

from __future__ import annotations

import copy
from collections import deque
from collections.abc import Iterable, Iterator
from typing import Any


class StreamingSource:
    """Sequential source over a stream: ``src[n]`` is the stream's ``n``-th item (counting across passes).

    Args:
        dataset: a ``datasets.IterableDataset`` (streaming) or any iterable that can be iterated again from
            the start (each pass must yield the same items in the same order, or the ``set_epoch`` order).
        size: items per pass, the size the :class:`~mixkit.domain.MixtureSampler` gets for the domain
            (only ``on_exhausted`` and the reported epochs use it; the stream's real end starts the next
            pass). Default: ``dataset.info.splits`` when it records the split's size.
        window: how many recent per-item stream states to keep (at least the DataLoader's read-ahead, in
            items of this domain).
        exact_state: use ``IterableDataset.state_dict`` / ``load_state_dict`` for fast resume when available
            (``False``: always re-read and skip).

    Reads are sequential: reading forward skips items, reading backward re-opens the stream (from the
    nearest recorded state). Give it to :class:`~mixkit.integrations.DomainDataset`, which marks it as a
    sequential domain.
    """

    sequential = True

    def __init__(
        self, dataset: Iterable[Any], size: int | None = None, window: int = 4096, exact_state: bool = True
    ) -> None:
        if not isinstance(dataset, Iterable):
            raise TypeError(
                f"dataset must be an iterable (e.g. datasets.IterableDataset), got {type(dataset).__name__}"
            )
        if isinstance(dataset, Iterator):
            raise TypeError(
                "dataset must be re-iterable (an IterableDataset or a list), not a one-shot iterator"
            )
        if size is None:
            size = _size_from_info(dataset)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive int (items per pass of the stream), got {size!r}")
        if isinstance(window, bool) or not isinstance(window, int) or window < 1:
            raise ValueError(f"window must be a positive int, got {window!r}")
        self.dataset, self.size, self.window = dataset, size, window
        self.stateful = (
            bool(exact_state)
            and callable(getattr(dataset, "state_dict", None))
            and callable(getattr(dataset, "load_state_dict", None))
        )
        self._start = copy.deepcopy(dataset.state_dict()) if self.stateful else None
        self._ring: deque[tuple[int, int, int, Any]] = deque(
            maxlen=window
        )  # (pos, epoch, epoch_start, state)
        self._it: Iterator[Any] | None = None
        self._pos = self._epoch = self._epoch_start = 0
        self._open_at: tuple[int, int, int, Any] = (0, 0, 0, None)  # where the next open starts

    def __len__(self) -> int:
        return self.size

    @property
    def position(self) -> int:
        """Index of the next item the source reads."""
        return self._pos

    def _open(self) -> None:
        pos, epoch, start, state = self._open_at
        self._pos, self._epoch, self._epoch_start = pos, epoch, start
        if hasattr(self.dataset, "set_epoch"):
            self.dataset.set_epoch(epoch)
        if self.stateful:
            if state is None:
                state = {**copy.deepcopy(self._start), "epoch": epoch}
            self.dataset.load_state_dict(copy.deepcopy(state))
        self._it = iter(self.dataset)

    def _next(self) -> Any:
        if self._it is None:
            self._open()
        if self.stateful:
            self._ring.append((self._pos, self._epoch, self._epoch_start, self.dataset.state_dict()))
        for attempt in range(2):
            try:
                item = next(self._it)
                self._pos += 1
                return item
            except StopIteration:
                if attempt or self._pos == self._epoch_start:
                    raise ValueError("the stream yielded no items in a pass") from None
                self._open_at = (self._pos, self._epoch + 1, self._pos, None)  # the next pass
                self._open()
                if self.stateful:
                    self._ring[-1] = (self._pos, self._epoch, self._epoch_start, self.dataset.state_dict())
        raise AssertionError("unreachable")

    def __getitem__(self, n: int) -> Any:
        n = int(n)
        if n < 0:
            raise IndexError(f"StreamingSource reads items 0, 1, 2, ...; got {n}")
        if n < self._pos or self._it is None:
            self._seek(n)
        while self._pos < n:  # forward: skip
            self._next()
        return self._next()

    def _seek(self, n: int) -> None:
        """Re-open at the latest known state at or before item ``n``."""
        best = self._open_at if self._open_at[0] <= n else (0, 0, 0, None)
        for rec in self._ring:
            if best[0] < rec[0] <= n:
                best = rec
        self._open_at = best
        self._it = None
        self._open()

    def state_at(self, n: int) -> dict[str, Any]:
        """Plain-JSON state with items ``0 .. n-1`` consumed: the stream's own state before item ``n`` when
        recorded, else only ``n`` (the resumed source then skips ``n`` items)."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"n must be an int >= 0, got {n!r}")
        for pos, epoch, start, state in self._ring:
            if pos == n:
                return {"position": n, "epoch": epoch, "epoch_start": start, "stream_state": state}
        if self.stateful and self._it is not None and self._pos == n:
            return {
                "position": n,
                "epoch": self._epoch,
                "epoch_start": self._epoch_start,
                "stream_state": self.dataset.state_dict(),
            }
        return {"position": n, "epoch": None, "epoch_start": None, "stream_state": None}

    def load_state(self, state: dict[str, Any]) -> None:
        """Continue after :meth:`state_at`: the next read is item ``state["position"]``."""
        if not isinstance(state, dict) or "position" not in state:
            raise ValueError(f"stream state must be a dict with 'position', got {state!r}")
        n = state["position"]
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise ValueError(f"stream state field 'position' must be an int >= 0, got {n!r}")
        self._ring.clear()
        if state.get("stream_state") is not None and self.stateful:
            self._open_at = (n, int(state["epoch"]), int(state["epoch_start"]), state["stream_state"])
        else:
            self._open_at = (0, 0, 0, None)
        self._it = None
        self._pos = n  # the next read opens and (when needed) skips to n
        self._open()
        while self._pos < n:
            self._next()

    def __getstate__(self) -> dict[str, Any]:  # DataLoader workers get the source without its live iterator
        d = dict(self.__dict__)
        d["_it"] = None
        return d

    def __repr__(self) -> str:
        return (
            f"StreamingSource({type(self.dataset).__name__}, size={self.size}, position={self._pos}, "
            f"stateful={self.stateful})"
        )


def _size_from_info(dataset: Any) -> int:
    info = getattr(dataset, "info", None)
    splits = getattr(info, "splits", None)
    split = getattr(dataset, "split", None)
    if splits and split is not None and str(split) in splits:
        n = splits[str(split)].num_examples
        if n:
            return int(n)
    raise ValueError("size is needed: the stream's info does not record its number of items per pass")
