"""Per-``(seed, domain, epoch)`` item permutations, computed on the fly.

The ``n``-th draw of domain ``k`` over the whole run reads item ``perm(seed, k, epoch)[n mod size_k]``
with ``epoch = n // size_k``: each epoch is a fresh pseudo-random permutation keyed by
``(seed, domain name, epoch)``, so no item repeats before the domain is exhausted, and any position of
any epoch can be recomputed from the seed alone (nothing of it is stored in a state dict).

The permutation is never materialised. Position ``p`` of a domain of ``N`` items maps to its item by a
keyed Feistel network with alternating moduli over ``Z_a x Z_b`` (``a = ceil(sqrt(N))``,
``b = ceil(N / a)``, so ``N <= a * b < N + a``) followed by cycle walking: while the image lies in
``[N, a * b)`` the network is applied again, which restricts the bijection of ``Z_a x Z_b`` to a
bijection of ``[0, N)`` (Black and Rogaway, "Ciphers with Arbitrary Finite Domains", CT-RSA 2002, the
generalised Feistel and cycle-walking constructions; the alternating-moduli round is the one of NIST
SP 800-38G FF1, with a 64-bit integer hash as round function instead of AES). Less than ``1 / b`` of the
domain is walked again, so a draw costs O(1) time and memory whatever ``N`` is (10^12 items included),
and a chunk of positions is one vectorised NumPy pass. The round function is a splitmix64-style
multiply-xorshift hash of ``(round key, half)``; it is a statistical shuffle, not a cipher.

Properties (tests in ``tests/domain/test_permutation.py``, against a plain-integer oracle of the network
and its inverse): exact bijection for every size from 1 to ``2**63 - 1``; every item equally likely at
every position and position uncorrelated with item. Deviations from an ideal random permutation: on
domains of a handful of items (5-7 measured) not every ordering is equally likely; the round value is a
32-bit hash scaled to ``[0, m)``, so for halves ``m`` near ``2**32`` (domains near ``2**63``) it is
coarser than uniform.

Stream note: before this construction each epoch was a materialised ``torch.randperm`` seeded from the
same ``(seed, domain, epoch)``; the guarantees are the same but a given seed reads the items of a domain
in a different order than it did then.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

#: Feistel rounds (even, so ``Z_a x Z_b`` maps onto itself). Black-Rogaway/Luby-Rackoff need 3-4 rounds
#: with random round functions; 8 leave a wide margin for a hash round function on tiny domains.
ROUNDS = 8
#: Largest domain: item ids are ``int64``.
MAX_SIZE = 2**63 - 1

_MASK64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30, _S27, _S32 = np.uint64(30), np.uint64(27), np.uint64(32)


def permutation_seed(seed: int, domain: str, epoch: int) -> int:
    """The 63-bit root key of ``domain``'s permutation in ``epoch`` (BLAKE2b of the three)."""
    digest = hashlib.blake2b(f"mixkit-perm|{seed}|{domain}|{epoch}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


#: Round ``i`` hashes ``key + _OFFSETS[i] + half``: the splitmix64 counter sequence from the key.
_OFFSETS = [np.uint64(((i + 1) * _GOLDEN) & _MASK64) for i in range(ROUNDS)]


def feistel_shape(size: int) -> tuple[int, int]:
    """``(a, b)`` with ``a = ceil(sqrt(size))``, ``b = ceil(size / a)``: the network permutes
    ``[0, a * b)``, ``size <= a * b < size + a``."""
    a = math.isqrt(size - 1) + 1 if size > 1 else 1
    return a, -(-size // a)


def _feistel(x: np.ndarray, a, b, key) -> np.ndarray:
    """One pass of the network on ``x`` (``uint64``, values in ``[0, a * b)``). ``a``, ``b`` and the
    64-bit ``key`` are ``uint64`` scalars or arrays shaped like ``x``."""
    A, B = np.divmod(x, b)  # A in Z_a, B in Z_b
    z, t = np.empty_like(x), np.empty_like(x)
    for i in range(ROUNDS):
        m = a if i % 2 == 0 else b
        # F_i(B): splitmix64 mix of key + (i + 1) * golden + B, top 32 bits, reduced to [0, m)
        np.add(B, key, out=z)
        z += _OFFSETS[i]
        np.right_shift(z, _S30, out=t)
        z ^= t
        z *= _M1
        np.right_shift(z, _S27, out=t)
        z ^= t
        z *= _M2
        z >>= _S32
        z *= m  # Lemire's multiply-shift reduction
        z >>= _S32
        z += A  # (A + F_i(B)) mod m, with A, F_i(B) < m
        np.subtract(z, m, out=t)
        np.minimum(z, t, out=z)  # z - m wraps above z unless z >= m
        A, B, z = B, z, A  # after an even number of rounds A is back in Z_a and B in Z_b
    A *= b
    A += B
    return A


#: Positions per pass: the network's five work arrays stay in the L2 cache (larger inputs are cut).
CHUNK = 16384


def _walk(x: np.ndarray, size, a, b, key) -> np.ndarray:
    """Cycle walking: apply the network until every value lies below ``size`` (only the values still
    outside are recomputed; ``size``, ``a``, ``b``, ``key`` are ``uint64`` scalars or arrays like ``x``).
    Inputs longer than :data:`CHUNK` are processed in cache-sized pieces."""
    per = np.ndim(size) > 0
    if x.shape[0] > CHUNK:
        y = np.empty_like(x)
        for s in range(0, x.shape[0], CHUNK):
            e = s + CHUNK
            y[s:e] = _walk(x[s:e], *((size[s:e], a[s:e], b[s:e], key[s:e]) if per else (size, a, b, key)))
        return y
    y = _feistel(x, a, b, key)
    out = np.flatnonzero(y >= size)
    while out.shape[0]:
        z = _feistel(y[out], *((a[out], b[out], key[out]) if per else (a, b, key)))
        y[out] = z
        out = out[z >= (size[out] if per else size)]
    return y


def _check_size(size: int) -> int:
    if not isinstance(size, (int, np.integer)) or isinstance(size, bool) or not 1 <= size <= MAX_SIZE:
        raise ValueError(f"size: expected an int in [1, 2**63 - 1], got {size!r}")
    return int(size)


def permute(positions: np.ndarray, size: int, root: int) -> np.ndarray:
    """Items at ``positions`` (integers in ``[0, size)``, any shape) of the permutation of
    ``[0, size)`` keyed by the 64-bit ``root``; ``int64``, same shape. O(1) time and memory per
    position."""
    size = _check_size(size)
    pos = np.asarray(positions)
    if pos.size and (pos.min() < 0 or pos.max() >= size):
        raise ValueError(f"positions: expected values in [0, {size}), got [{pos.min()}, {pos.max()}]")
    a, b = feistel_shape(size)
    x = pos.astype(np.uint64).ravel()
    y = _walk(x, np.uint64(size), np.uint64(a), np.uint64(b), np.uint64(int(root) & _MASK64))
    return y.view(np.int64).reshape(pos.shape)


def epoch_slice(seed: int, domain: str, epoch: int, size: int, start: int, count: int,
                shuffle: bool = True) -> np.ndarray:
    """Items ``start .. start + count - 1`` (``int64``, shape ``[count]``) of ``domain``'s order in
    ``epoch``: the Feistel permutation keyed by :func:`permutation_seed`, or the identity when
    ``shuffle`` is false. Needs ``0 <= start`` and ``start + count <= size``."""
    size = _check_size(size)
    if start < 0 or count < 0 or start + count > size:
        raise ValueError(f"start/count: [{start}, {start + count}) is outside [0, {size})")
    if not shuffle:
        return np.arange(start, start + count, dtype=np.int64)
    pos = np.arange(start, start + count, dtype=np.uint64)
    return permute(pos, size, permutation_seed(seed, domain, epoch))


def epoch_permutation(seed: int, domain: str, epoch: int, size: int, shuffle: bool = True) -> np.ndarray:
    """The whole item order of ``domain`` (``size`` items) in ``epoch`` as an ``int64`` array:
    :func:`epoch_slice` over ``[0, size)`` (materialised: for small domains, tests and inspection)."""
    return epoch_slice(seed, domain, epoch, size, 0, size, shuffle)


class EpochPermutations:
    """Every domain's per-epoch item order, computed on the fly (nothing materialised).

    ``perms.take(k, epoch, start, count)`` returns :func:`epoch_slice` for domain ``names[k]``;
    ``perms.take_many(ks, epochs, offsets)`` evaluates positions of many domains and epochs in one
    vectorised pass; ``perms.items(ks, draws)`` reads draw ``draws`` (counted across epochs) of each
    domain. The only cache is the key of each domain's latest epoch (16 bytes per domain), derived data
    that :meth:`clear` drops; it is replaced copy-on-write, so concurrent calls from several threads
    return correct items.
    """

    def __init__(self, seed: int, names: tuple[str, ...], sizes: np.ndarray, shuffle: bool = True) -> None:
        self.seed, self.names, self.shuffle = int(seed), tuple(names), bool(shuffle)
        self.sizes = [_check_size(int(s)) for s in sizes]
        if len(self.sizes) != len(self.names):
            raise ValueError(f"sizes: expected {len(self.names)} sizes (one per name), got {len(self.sizes)}")
        shape = [feistel_shape(s) for s in self.sizes]
        self._size = np.array(self.sizes, dtype=np.uint64)
        self._a = np.array([s[0] for s in shape], dtype=np.uint64)
        self._b = np.array([s[1] for s in shape], dtype=np.uint64)
        self.clear()

    def _store(self, ks: list[int], epochs: list[int], keys: list[int]) -> None:
        # copy-on-write: readers take the (keys, epochs) pair once, so threads never see a key of one
        # epoch paired with another epoch
        cached_keys, cached_epochs = self._cache
        cached_keys, cached_epochs = cached_keys.copy(), cached_epochs.copy()
        cached_keys[ks], cached_epochs[ks] = keys, epochs
        self._cache = (cached_keys, cached_epochs)

    def _key_of(self, k: int, epoch: int) -> np.uint64:
        keys, epochs = self._cache
        if epochs[k] == epoch:
            return keys[k]
        key = permutation_seed(self.seed, self.names[k], epoch)
        if epoch > epochs[k]:
            self._store([k], [epoch], [key])
        return np.uint64(key)

    def take(self, k: int, epoch: int, start: int, count: int) -> np.ndarray:
        """Items ``start .. start + count - 1`` of domain ``k``'s permutation in ``epoch`` (``int64``,
        shape ``[count]``); ``0 <= start`` and ``start + count <= size``."""
        size = self.sizes[k]
        if start < 0 or count < 0 or start + count > size:
            raise ValueError(f"start/count: [{start}, {start + count}) is outside domain {self.names[k]!r} "
                             f"of size {size}")
        if not self.shuffle:
            return np.arange(start, start + count, dtype=np.int64)
        x = np.arange(start, start + count, dtype=np.uint64)
        return _walk(x, self._size[k], self._a[k], self._b[k], self._key_of(k, epoch)).view(np.int64)

    def take_many(self, ks: np.ndarray, epochs: np.ndarray, offsets: np.ndarray) -> np.ndarray:
        """Item at position ``offsets[i]`` of domain ``ks[i]``'s permutation in ``epochs[i]``, for every
        ``i`` (1-D integer arrays of one length; ``0 <= offsets[i] < size``); ``int64``. One vectorised
        pass whatever the mix of domains and epochs."""
        ks = np.asarray(ks, dtype=np.int64)
        epochs = np.asarray(epochs, dtype=np.int64)
        offsets = np.asarray(offsets, dtype=np.int64)
        if not ks.shape == epochs.shape == offsets.shape or ks.ndim != 1:
            raise ValueError(f"ks/epochs/offsets: expected 1-D arrays of one length, got shapes "
                             f"{ks.shape}, {epochs.shape}, {offsets.shape}")
        if ks.shape[0] == 0:
            return np.zeros(0, dtype=np.int64)
        if ks.min() < 0 or ks.max() >= len(self.sizes):
            raise ValueError(f"ks: expected domain indices in [0, {len(self.sizes)})")
        size = self._size[ks]
        x = offsets.view(np.uint64)  # negative offsets wrap above every size
        if np.any(x >= size):
            raise ValueError("offsets: expected 0 <= offsets[i] < size of domain ks[i]")
        if not self.shuffle:
            return offsets.copy()
        cached_keys, cached_epochs = self._cache
        key = cached_keys[ks]
        stale = np.flatnonzero(cached_epochs[ks] != epochs)
        if stale.shape[0]:  # epochs other than each domain's cached one: one key per (domain, epoch)
            pairs, inv = np.unique(np.stack([ks[stale], epochs[stale]], 1), axis=0, return_inverse=True)
            fresh = [permutation_seed(self.seed, self.names[k], e) for k, e in pairs.tolist()]
            key[stale] = np.array(fresh, dtype=np.uint64)[inv.ravel()]
            latest = {k: (e, f) for (k, e), f in zip(pairs.tolist(), fresh)}  # sorted: the last is the latest
            newer = [k for k, (e, _) in latest.items() if e > cached_epochs[k]]
            if newer:
                self._store(newer, [latest[k][0] for k in newer], [latest[k][1] for k in newer])
        return _walk(x, size, self._a[ks], self._b[ks], key).view(np.int64)

    def items(self, ks: np.ndarray, draws: np.ndarray) -> np.ndarray:
        """Item read by draw ``draws[i]`` (0-based, counted across epochs) of domain ``ks[i]``:
        position ``draws % size`` of epoch ``draws // size``; ``int64``."""
        ks = np.asarray(ks, dtype=np.int64)
        draws = np.asarray(draws, dtype=np.int64)
        if draws.size and draws.min() < 0:
            raise ValueError("draws: expected non-negative draw counts")
        if ks.size and (ks.min() < 0 or ks.max() >= len(self.sizes)):
            raise ValueError(f"ks: expected domain indices in [0, {len(self.sizes)})")
        epochs, offsets = np.divmod(draws, self._size.view(np.int64)[ks])
        return self.take_many(ks, epochs, offsets)

    def clear(self) -> None:
        """Forget the cached keys."""
        K = len(self.sizes)
        self._cache = (np.zeros(K, dtype=np.uint64), np.full(K, -1, dtype=np.int64))

    def __repr__(self) -> str:
        return (f"EpochPermutations(seed={self.seed}, domains={len(self.names)}, shuffle={self.shuffle}, "
                f"rounds={ROUNDS})")
