"""Per-``(seed, domain, epoch)`` item permutations.

The ``n``-th draw of domain ``k`` over the whole run reads ``perm(seed, k, epoch)[n mod size_k]`` with
``epoch = n // size_k``: each epoch is a fresh ``torch.randperm`` seeded from ``(seed, domain name,
epoch)``, so no item repeats before the domain is exhausted, and any epoch can be rebuilt from the seed
alone (nothing of it is stored in a state dict).
"""

from __future__ import annotations

import hashlib

import numpy as np
import torch


def permutation_seed(seed: int, domain: str, epoch: int) -> int:
    """The 63-bit ``torch.Generator`` seed of ``domain``'s permutation in ``epoch`` (BLAKE2b of the three)."""
    digest = hashlib.blake2b(f"mixkit-perm|{seed}|{domain}|{epoch}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def epoch_permutation(seed: int, domain: str, epoch: int, size: int, shuffle: bool = True) -> np.ndarray:
    """Item order of ``domain`` (``size`` items) in ``epoch``: ``torch.randperm`` from
    :func:`permutation_seed` as a NumPy array (``int32`` when ``size < 2**31``, else ``int64``), or
    ``arange(size)`` (``int64``) when ``shuffle`` is false."""
    if not shuffle:
        return np.arange(size, dtype=np.int64)
    g = torch.Generator().manual_seed(permutation_seed(seed, domain, epoch))
    # int32 halves the memory of the cached permutation when the domain allows it
    dtype = torch.int32 if size < 2**31 else torch.int64
    return torch.randperm(size, generator=g, dtype=dtype).numpy()


class EpochPermutations:
    """The current epoch's permutation of every domain, materialised and cached one epoch per domain.

    ``perms.get(k, epoch)`` returns :func:`epoch_permutation` for domain ``names[k]``; asking for another
    epoch of the same domain replaces its cached array. The cache is derived data: :meth:`clear` drops it.
    """

    def __init__(self, seed: int, names: tuple[str, ...], sizes: np.ndarray, shuffle: bool = True) -> None:
        self.seed, self.names, self.shuffle = int(seed), tuple(names), bool(shuffle)
        self.sizes = [int(s) for s in sizes]
        self._cache: dict[int, tuple[int, np.ndarray]] = {}

    def get(self, k: int, epoch: int) -> np.ndarray:
        """The permutation of domain ``k`` (an index into ``names``) in ``epoch``."""
        hit = self._cache.get(k)
        if hit is not None and hit[0] == epoch:
            return hit[1]
        perm = epoch_permutation(self.seed, self.names[k], epoch, self.sizes[k], self.shuffle)
        self._cache[k] = (epoch, perm)
        return perm

    def take(self, k: int, epoch: int, start: int, count: int) -> np.ndarray:
        """Items ``start .. start + count - 1`` of domain ``k``'s permutation in ``epoch`` (``int64``,
        shape ``[count]``); ``0 <= start`` and ``start + count <= size``."""
        size = self.sizes[k]
        if start < 0 or count < 0 or start + count > size:
            raise ValueError(f"start/count: [{start}, {start + count}) is outside domain {self.names[k]!r} "
                             f"of size {size}")
        return self.get(k, epoch)[start:start + count].astype(np.int64, copy=False)

    def clear(self) -> None:
        """Forget every cached permutation."""
        self._cache.clear()

    def __repr__(self) -> str:
        cached = {self.names[k]: e for k, (e, _) in sorted(self._cache.items())}
        return (f"EpochPermutations(seed={self.seed}, domains={len(self.names)}, shuffle={self.shuffle}, "
                f"cached={cached})")
