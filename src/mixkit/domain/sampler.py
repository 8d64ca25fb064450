"""MixtureSampler: domain weights -> an exact, deterministic, resumable, rank-sharded stream of
``(domain, index)`` draws.

How the stream is built
-----------------------
* **One global stream, identical on every rank,** cut into *rounds* of ``W`` consecutive draws; each rank
  takes exactly one draw of every round, nothing is communicated, the shares are disjoint and jointly
  complete. ``DrawBatch.positions`` gives each draw's global position.
* **Which domain** fills each slot (``mode="quota"``, the default) follows per-domain *deficits*: the
  integral of the requested weights over all draws so far, across every :meth:`MixtureSampler.set_weights`,
  minus the domain's count, held exactly as integers over ``2**31`` (weights are normalised and rounded to
  integers over ``2**31`` by largest remainder, :attr:`MixtureSampler.weights`). One rank: earliest
  deadline first among the domains whose next draw is released; with weights that never change this is
  the quota method of apportionment (Balinski & Young, "The quota method of apportionment", Amer. Math.
  Monthly 82, 1975): **after every prefix of N draws each count differs from ``N * w_k`` by less than 1**.
  With weights changed at every step the count stays within 2 of the integral of the weights (property
  tests). **From 4 ranks** the global stream *is* the one-rank stream (so it keeps the one-rank bound at
  every prefix and does not depend on the world size) and each round's draws are assigned to the ranks by
  an exact optimisation over the ranks' own deficits (:mod:`mixkit.domain.rank_assignment`): measured,
  every rank stays within 2 of its share of the cumulative target up to 1,024 ranks. With 2 or 3 ranks,
  rank ``r`` takes global positions ``r, r + W, ...`` and each slot's domain follows a two-level rule over
  the rank's own deficits and the global ones (:func:`~mixkit.domain.interleave.ranks_loop`); both levels
  measured within 2. See docs/design.md for the measurements.
  ``mode="iid"`` draws each slot's domain independently from the weights instead (proportions then hold
  only in expectation: counts within a few standard deviations of the integral), still seeded and resumable.
* **Which item** of the domain: the ``n``-th draw of domain ``k`` (over the whole run) reads position
  ``n mod size_k`` of epoch ``n // size_k`` of a keyed Feistel permutation with cycle walking, computed on
  the fly from ``(seed, domain name, epoch)`` (see :mod:`mixkit.domain.permutation`): O(1) memory and time
  per draw, a fresh permutation each epoch, so no item repeats before the domain is exhausted.
* **Weight changes** (:meth:`MixtureSampler.set_weights`) keep the deficits: a domain that is behind stays
  owed. A domain set to weight 0 is never drawn and its open deficit is handed to the others in proportion
  to their weights. Item order is not affected: each domain continues its permutation where it stopped.
* **Zero weights** are never drawn (no waiting on them, no deadlock). **Exhausted domains** follow
  ``on_exhausted``: ``"cycle"`` (default) starts the next epoch's permutation; ``"stop"`` ends the stream
  just before any domain would read beyond ``max_epochs`` passes (the end is cut to a multiple of
  ``world_size`` so every rank gets the same number of items; the bounds above hold up to the end);
  ``"renormalize"`` sets the weight of the exhausted domain to zero there and renormalises the others (its
  open deficit is handed on, as for :meth:`set_weights` with a zero weight), stopping only when every
  domain is exhausted: every item is read once and the counts stay within 2 of the integral of the
  weights in force (tested).
* **Threads**: :meth:`take`, iteration, :meth:`set_weights` and the state methods hold a lock, so
  concurrent ``take`` from several threads is safe: each draw goes to exactly one caller.

State (:meth:`state_dict`) is O(domains) integers and restores the stream bit for bit, including after
weight changes, with the same or a different ``world_size``.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

import numpy as np
from torch.utils.data import Sampler

from .interleave import HAVE_NUMBA, IID_BLOCK, block_occurrences, deficit_schedule, iid_block
from .permutation import EpochPermutations
from .rank_assignment import ASSIGN_MIN_WORLD, assign_rounds
from .weights import WEIGHT_DENOMINATOR, check_sizes, check_weights, quantize_weights

OnExhausted = Literal["cycle", "stop", "renormalize"]
Mode = Literal["quota", "iid"]

_STATE_VERSION = 3
_READABLE_VERSIONS = (2, 3)  # version 2 holds the same fields (written before the rank layout by rounds)
#: largest world size (a round holds one draw per rank and its layout is built in memory: O(W * domains))
MAX_WORLD_SIZE = 1 << 13
#: largest look-ahead block (slots generated at a time)
MAX_BLOCK_SIZE = 1 << 22


# --------------------------------------------------------------------------- cursor (stream state)


@dataclass
class _Cursor:
    """State of the global stream at global position ``position`` (plain ints, cheap to copy)."""

    position: int
    segment: int
    seg_start: int
    seg_counts: list[int]
    totals: list[int]
    q: list[int]
    ended: bool = False
    #: global deficits ``Q * target - Q * count`` per domain (units of ``1 / Q``), across weight changes
    e: list[int] | None = None
    #: per-rank deficits ``int64 [W, K]`` (only with several ranks)
    f: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.e is None:
            self.e = [0] * len(self.q)

    def copy(self) -> _Cursor:
        return _Cursor(self.position, self.segment, self.seg_start, list(self.seg_counts),
                       list(self.totals), list(self.q), self.ended, list(self.e),
                       None if self.f is None else self.f.copy())

    def to_dict(self) -> dict[str, Any]:
        return {"position": self.position, "segment": self.segment, "seg_start": self.seg_start,
                "seg_counts": list(self.seg_counts), "totals": list(self.totals), "q": list(self.q),
                "ended": self.ended, "deficits": list(self.e),
                "rank_deficits": None if self.f is None else self.f.tolist()}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> _Cursor:
        f = d["rank_deficits"]
        return cls(int(d["position"]), int(d["segment"]), int(d["seg_start"]),
                   [int(x) for x in d["seg_counts"]], [int(x) for x in d["totals"]],
                   [int(x) for x in d["q"]], bool(d["ended"]), [int(x) for x in d["deficits"]],
                   None if f is None else np.asarray([[int(x) for x in r] for r in f], dtype=np.int64))

    def advance(self, dom: np.ndarray, world_size: int, sign: int = 1) -> None:
        """Account ``dom`` (the domain ids of the slots after ``position``, same weights) in the counts
        and deficits; ``sign=-1`` takes back the last ``len(dom)`` slots."""
        n = int(dom.shape[0])
        if n == 0:
            return
        if sign < 0:
            self.position -= n
        K = len(self.q)
        q = np.asarray(self.q, dtype=np.int64)
        add = sign * np.bincount(dom, minlength=K)
        n = sign * n
        self.totals = (np.asarray(self.totals, dtype=np.int64) + add).tolist()
        self.seg_counts = (np.asarray(self.seg_counts, dtype=np.int64) + add).tolist()
        self.e = (np.asarray(self.e, dtype=np.int64) + n * q - WEIGHT_DENOMINATOR * add).tolist()
        if self.f is not None:
            W = world_size
            ranks = (self.position + np.arange(abs(n), dtype=np.int64)) % W
            per = sign * np.bincount(ranks * K + dom, minlength=W * K).reshape(W, K)
            slots = sign * np.bincount(ranks, minlength=W)
            self.f = self.f + slots[:, None] * q[None, :] - WEIGHT_DENOMINATOR * per
        if sign > 0:
            self.position += n


def forgive_deficits(values: list[int], q: list[int]) -> list[int]:
    """Deficits after a weight change: a domain of weight 0 is never drawn, so its open deficit is handed
    to the domains of positive weight in proportion to their weights (exact integers, largest remainder,
    ties to the smaller index); the deficits keep summing to the same total."""
    lost = sum(v for v, qk in zip(values, q) if qk == 0)
    out = [0 if qk == 0 else int(v) for v, qk in zip(values, q)]
    if lost == 0:
        return out
    Q = WEIGHT_DENOMINATOR
    shares = [lost * qk // Q for qk in q]
    rest = lost - sum(shares)
    rem = [lost * qk - sh * Q for qk, sh in zip(q, shares)]
    active = [k for k, qk in enumerate(q) if qk > 0]
    for k in sorted(active, key=lambda k: (-rem[k], k))[:rest]:
        shares[k] += 1
    return [o + sh for o, sh in zip(out, shares)]


def forgive_rank_deficits(f: np.ndarray, q: list[int]) -> np.ndarray:
    """:func:`forgive_deficits` for every row of ``f`` (``int64 [W, K]`` per-rank deficits) at once, in
    exact int64 arithmetic: same result as the row-by-row function (tested), O(W K) vectorised."""
    Q = WEIGHT_DENOMINATOR
    qa = np.asarray(q, dtype=np.int64)
    zero = qa == 0
    lost = f[:, zero].sum(axis=1)
    out = np.where(zero[None, :], 0, f)
    if not lost.any():
        return out
    hi, lo = lost // Q, lost % Q  # lost = hi * Q + lo with 0 <= lo < Q, so lo * q_k fits in int64
    shares = hi[:, None] * qa[None, :] + (lo[:, None] * qa[None, :]) // Q
    rem = (lo[:, None] * qa[None, :]) % Q
    rest = lost - shares.sum(axis=1)
    key = np.where(zero[None, :], 1, -rem)  # largest remainder first, ties to the smaller index
    order = np.argsort(key, axis=1, kind="stable")
    place = np.empty_like(order)
    np.put_along_axis(place, order, np.arange(qa.shape[0])[None, :].repeat(f.shape[0], axis=0), axis=1)
    shares += (place < rest[:, None]) & ~zero[None, :]
    return out + shares


@dataclass(frozen=True)
class DrawBatch:
    """A batch of draws for one rank: ``domain_ids`` and ``indices`` are ``int64 [B]`` NumPy arrays;
    ``names`` maps a domain id to its name. Iterating yields ``(domain, index)`` pairs."""

    domain_ids: np.ndarray
    indices: np.ndarray
    names: tuple[str, ...]
    #: position of each draw in the global stream (``int64 [B]``): sorting every rank's draws by it gives
    #: the global stream, the one the prefix bound is about
    positions: np.ndarray | None = None

    def __len__(self) -> int:
        return int(self.indices.shape[0])

    @property
    def domains(self) -> list[str]:
        """Domain name of each draw (``list[str]`` of length B)."""
        names = self.names
        return [names[k] for k in self.domain_ids.tolist()]

    def __iter__(self) -> Iterator[tuple[str, int]]:
        return iter(zip(self.domains, self.indices.tolist()))

    def keys(self) -> list[tuple[str, int]]:
        """The draws as ``(domain, index)`` tuples, the keys :class:`MixtureDataset` takes."""
        return list(self)


# --------------------------------------------------------------------------- the sampler


def _default_rank(rank: int | None, world_size: int | None) -> tuple[int, int]:
    """``rank`` / ``world_size`` when given; otherwise those of the initialised default
    ``torch.distributed`` process group; otherwise ``0`` / ``1``."""
    if rank is not None and world_size is not None:
        return rank, world_size
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        if rank is None:
            rank = dist.get_rank()
        if world_size is None:
            world_size = dist.get_world_size()
    return (0 if rank is None else rank), (1 if world_size is None else world_size)



class MixtureSampler(Sampler):
    """Stream of ``(domain, index)`` draws following ``weights`` over domains of ``sizes`` items.

    Args:
        sizes: ``{domain: number of items}`` (positive ints); the domain order in outputs follows it.
        weights: ``{domain: weight >= 0}``; normalised; missing domains get 0; not all zero.
        seed: seeds the per-domain permutations (and the iid draws).
        rank, world_size: this process takes one draw of every round of ``world_size`` global draws (at
            most ``MAX_WORLD_SIZE``). When not given, they are taken from the initialised default
            ``torch.distributed`` process group, else ``0`` / ``1``.
        mode: ``"quota"`` (deterministic, cumulative deficits, the default) or ``"iid"``.
        on_exhausted: ``"cycle"`` | ``"stop"`` | ``"renormalize"`` (see the module docstring).
        max_epochs: passes over a domain after which it counts as exhausted (``"stop"`` and
            ``"renormalize"`` only): a number or ``{domain: number}``; default 1.
        shuffle: ``False`` reads each domain in order ``0..size-1`` every epoch.
        block_size: global slots generated at a time (a speed knob; does not change the stream).

    The sampler is itself the iterator: iterating or calling :meth:`batches` / :meth:`take` consumes
    draws, and :meth:`state_dict` records how far this rank got. It is a ``torch.utils.data.Sampler``
    whose iteration yields ``(domain, index)`` keys, the keys :class:`~mixkit.domain.MixtureDataset`
    reads, so ``DataLoader(MixtureDataset(datasets), sampler=MixtureSampler(...), batch_size=B)`` works;
    :class:`~mixkit.domain.MixtureEpochSampler` adds passes of a fixed length with resumable checkpoints.

    Domain ids (``DrawBatch.domain_ids``) index :attr:`names`, which follows the order of ``sizes``; every
    rank must pass the same ``sizes`` in the same order (the order breaks ties in the schedule), which
    :meth:`load_state_dict` checks.

    Interleaving: cumulative deficits, earliest deadline first (the quota method of apportionment, Balinski
    & Young 1975, for fixed weights); from 4 ranks each round of the same stream is assigned to the ranks
    by their own deficits, with 2-3 ranks a two-level rule per slot; see the module docstring.
    Permutations: a keyed Feistel permutation with cycle walking computed on the fly from
    ``(seed, domain, epoch)`` (see :mod:`mixkit.domain.permutation`). ``compiled``: ``None`` uses the numba
    kernels when numba is installed (``pip install 'mixkit[fast]'``), ``True`` requires them, ``False``
    avoids them; the stream is the same either way.
    """

    def __init__(self, sizes: Mapping[str, int], weights: Mapping[str, float], seed: int = 0,
                 rank: int | None = None, world_size: int | None = None, *, mode: Mode = "quota",
                 on_exhausted: OnExhausted = "cycle", max_epochs: float | Mapping[str, float] = 1.0,
                 shuffle: bool = True, block_size: int = 1 << 15, compiled: bool | None = None) -> None:
        rank, world_size = _default_rank(rank, world_size)
        if compiled is not None and not isinstance(compiled, bool):
            raise TypeError(f"compiled must be True, False or None, got {compiled!r}")
        if compiled and not HAVE_NUMBA:
            raise ValueError("compiled=True needs numba (pip install 'mixkit[fast]')")
        self._compiled = compiled
        self._lock = threading.RLock()
        self._sizes = check_sizes(sizes)
        self.names: tuple[str, ...] = tuple(self._sizes)
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
            raise TypeError(f"seed must be an int, got {seed!r}")
        if (isinstance(world_size, bool) or not isinstance(world_size, (int, np.integer))
                or not 1 <= world_size <= MAX_WORLD_SIZE):
            raise ValueError(f"world_size must be an integer in [1, {MAX_WORLD_SIZE}], got {world_size!r}")
        if isinstance(rank, bool) or not isinstance(rank, (int, np.integer)) or not 0 <= rank < world_size:
            raise ValueError(f"rank must be an integer in [0, world_size={world_size}), got {rank!r}")
        if mode not in ("quota", "iid"):
            raise ValueError(f"mode must be 'quota' or 'iid', got {mode!r}")
        if on_exhausted not in ("cycle", "stop", "renormalize"):
            raise ValueError(f"on_exhausted must be 'cycle', 'stop' or 'renormalize', got {on_exhausted!r}")
        if (isinstance(block_size, bool) or not isinstance(block_size, int)
                or not 1 <= block_size <= MAX_BLOCK_SIZE):
            raise ValueError(f"block_size must be an int in [1, {MAX_BLOCK_SIZE}], got {block_size!r}")
        self.seed, self.rank, self.world_size = int(seed), int(rank), int(world_size)
        self._config = dict(sizes=dict(sizes), weights=dict(weights), seed=int(seed), rank=int(rank),
                            world_size=int(world_size), mode=mode, on_exhausted=on_exhausted,
                            max_epochs=dict(max_epochs) if isinstance(max_epochs, Mapping) else max_epochs,
                            shuffle=bool(shuffle), block_size=block_size, compiled=compiled)
        self.mode, self.on_exhausted, self.shuffle = mode, on_exhausted, bool(shuffle)
        # several ranks: the global stream is the one-rank stream, each round of W draws assigned to ranks
        self._by_rounds = mode == "quota" and self.world_size >= ASSIGN_MIN_WORLD
        self._size_arr = np.asarray([self._sizes[n] for n in self.names], dtype=np.int64)
        self._limit = self._limits(max_epochs)
        w = check_weights(weights, self.names)
        q = quantize_weights([w[n] for n in self.names])
        K = len(self.names)
        # block of global slots: a multiple of world_size
        self._block = max(1, block_size // self.world_size) * self.world_size
        self._perms = EpochPermutations(self.seed, self.names, self._size_arr, self.shuffle)
        self._start = _Cursor(0, 0, 0, [0] * K, [0] * K, q, f=self._zero_rank_deficits())
        self._rank_counts_at_start = np.zeros(K, dtype=np.int64)
        self._taken = 0  # items this rank consumed in total
        if self.on_exhausted != "cycle":
            self._apply_exhaustion(self._start)
        self._reset_buffer()

    # ---------------------------------------------------------------- configuration helpers

    def _limits(self, max_epochs: float | Mapping[str, float]) -> np.ndarray:
        K = len(self.names)
        if self.on_exhausted == "cycle":
            return np.full(K, np.iinfo(np.int64).max, dtype=np.int64)
        if isinstance(max_epochs, Mapping):
            unknown = [k for k in max_epochs if k not in self._sizes]
            if unknown:
                raise ValueError(f"max_epochs names unknown domains {unknown}; known: {list(self.names)}")
            per = [max_epochs.get(n, 1.0) for n in self.names]
        else:
            per = [max_epochs] * K
        out = []
        for name, e in zip(self.names, per):
            try:
                e = float(e)
            except (TypeError, ValueError):
                raise ValueError(f"max_epochs for {name!r} must be a number > 0, got {e!r}") from None
            if not e > 0 or not math.isfinite(e):
                raise ValueError(f"max_epochs for {name!r} must be a finite number > 0, got {e!r}")
            out.append(max(1, int(e * self._sizes[name])))
        return np.asarray(out, dtype=np.int64)

    # ---------------------------------------------------------------- generation of the global stream

    def _reset_buffer(self) -> None:
        """Forget generated slots; the next generation starts at ``self._start``."""
        self._gen = self._start.copy()  # cursor at the end of the buffer
        self._buf_dom = np.empty(0, dtype=np.int64)
        self._buf_idx = np.empty(0, dtype=np.int64)
        self._buf_pos = np.empty(0, dtype=np.int64)
        self._iid_cache: tuple[int, int, np.ndarray] | None = None
        self._ramp = 1024

    def _apply_exhaustion(self, cur: _Cursor) -> None:
        """At ``cur``: zero the weight of domains that reached their limit ("renormalize"), or end."""
        totals = np.asarray(cur.totals, dtype=np.int64)
        done = totals >= self._limit
        active = [k for k, qk in enumerate(cur.q) if qk > 0]
        if not any(done[k] for k in active):
            return
        if self.on_exhausted == "stop":
            cur.ended = True
            return
        rest = [0.0 if done[k] else float(qk) for k, qk in enumerate(cur.q)]
        if not any(rest):
            cur.ended = True
            return
        self._new_segment(cur, quantize_weights(rest))

    def _zero_rank_deficits(self) -> np.ndarray | None:
        K = len(self.names)
        return None if self.world_size == 1 else np.zeros((self.world_size, K), dtype=np.int64)

    @staticmethod
    def _new_segment(cur: _Cursor, q: list[int]) -> None:
        cur.q = q
        cur.segment += 1
        cur.seg_start = cur.position
        cur.seg_counts = [0] * len(q)
        cur.e = forgive_deficits(cur.e, q)
        if cur.f is not None:
            cur.f = forgive_rank_deficits(cur.f, q)

    def _domains(self, cur: _Cursor, n: int) -> np.ndarray:
        """Domain ids of the ``n`` slots after ``cur`` within its segment (advances the core)."""
        if self.mode == "quota":
            e = np.asarray(cur.e, dtype=np.int64)
            f = None if cur.f is None or self._by_rounds else cur.f.copy()
            return deficit_schedule(np.asarray(cur.q, dtype=np.int64), e, f, cur.position % self.world_size,
                                    n, compiled=self._compiled)
        u0 = cur.position - cur.seg_start
        parts = []
        u = u0
        while u < u0 + n:
            b = u // IID_BLOCK
            cache = self._iid_cache
            if cache is None or cache[0] != cur.segment or cache[1] != b:
                cache = self._iid_cache = (cur.segment, b, iid_block(self.seed, cur.segment, b, cur.q))
            lo = u - b * IID_BLOCK
            hi = min(IID_BLOCK, u0 + n - b * IID_BLOCK)
            parts.append(cache[2][lo:hi])
            u += hi - lo
        return np.concatenate(parts) if parts else np.empty(0, dtype=np.int64)

    def _groups(self, dom: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """``(domain, ascending positions in dom)`` for every domain present in ``dom``."""
        K = len(self.names)
        if K <= 32:
            groups = [(k, np.flatnonzero(dom == k)) for k in range(K)]
            return [(k, pos) for k, pos in groups if pos.shape[0]]
        order = np.argsort(dom, kind="stable")
        counts = np.bincount(dom, minlength=K)
        bounds = np.concatenate([[0], np.cumsum(counts)]).tolist()
        return [(k, order[bounds[k]:bounds[k + 1]]) for k in np.flatnonzero(counts).tolist()]

    def _indices(self, dom: np.ndarray, base: list[int]) -> np.ndarray:
        """Item index of each slot: the ``j``-th draw of domain ``k`` in a block is its occurrence
        ``base[k] + j``, read from its epoch permutation in one vectorised pass."""
        n = dom.shape[0]
        if n == 0:
            return np.empty(0, dtype=np.int64)
        occ = block_occurrences(dom, np.asarray(base, dtype=np.int64), self._compiled)
        size = self._size_arr[dom]
        return self._perms.take_many(dom, occ // size, occ % size)

    def _extend(self) -> bool:
        """Append one block of global slots to the buffer; ``False`` when the stream has ended."""
        cur = self._gen
        if cur.ended:
            return False
        W = self.world_size
        # look-ahead grows from 1024 slots to block_size after every reset, so set_weights followed by a
        # small take() stays cheap; the stream does not depend on how it is cut into blocks
        want = min(self._block, self._ramp)
        self._ramp = min(2 * self._ramp, self._block)
        if self._by_rounds:  # end the block on a round boundary
            head = -cur.position % W
            want = head + max(1, -(-(want - head) // W)) * W
        doms, idxs, poss = [], [], []
        produced = 0
        while produced < want and not cur.ended:
            n = want - produced
            dom = self._domains(cur, n)  # global order
            base = cur.totals
            cut = n
            if self.on_exhausted != "cycle":
                groups = self._groups(dom)
                limit = self._limit
                for k, pos in groups:
                    room = int(limit[k]) - base[k]  # draws left before domain k is exhausted
                    if pos.shape[0] > room:
                        cut = min(cut, int(pos[room]))
            keep, head, rounds = cut, 0, False
            if self._by_rounds:
                head = -cur.position % W  # draws left in the current round: read in rank order
                if cut >= (head or W):  # stop at the last whole round before the cut
                    keep = head + (cut - head) // W * W
                    rounds = keep > head
            exhausted = keep == cut < n
            dom = dom[:keep]
            idx = self._indices(dom, base)
            pos = cur.position + np.arange(keep, dtype=np.int64)
            if rounds:
                cur.advance(dom[:head], W)
                perm = assign_rounds(dom[head:], np.asarray(cur.q, dtype=np.int64),
                                     cur.f.copy(), self._compiled)
                perm = np.concatenate([np.arange(head, dtype=np.int64), perm + head])
                dom, idx, pos = dom[perm], idx[perm], pos[perm]
                cur.advance(dom[head:], W)
            else:
                cur.advance(dom, W)
            doms.append(dom)
            idxs.append(idx)
            poss.append(pos)
            produced += keep
            if exhausted:  # a domain is exhausted at cur.position
                self._apply_exhaustion(cur)
        empty = np.empty(0, dtype=np.int64)
        dom = np.concatenate(doms) if doms else empty
        idx = np.concatenate(idxs) if idxs else empty
        pos = np.concatenate(poss) if poss else empty
        if cur.ended and cur.position % W:  # equal shares for every rank: cut to a multiple of W
            drop = cur.position % W
            keep = max(dom.shape[0] - drop, 0)
            cur.advance(dom[keep:], W, sign=-1)
            dom, idx, pos = dom[:keep], idx[:keep], pos[:keep]
        self._buf_dom = np.concatenate([self._buf_dom, dom])
        self._buf_idx = np.concatenate([self._buf_idx, idx])
        self._buf_pos = np.concatenate([self._buf_pos, pos])
        return dom.shape[0] > 0

    # ---------------------------------------------------------------- consuming this rank's share

    def _rank_offset(self) -> int:
        """Buffer offset of this rank's next item."""
        return (self._taken * self.world_size + self.rank) - self._start.position

    def _compact(self) -> None:
        """Move ``_start`` up to the current group position once the consumed part is large."""
        G = self._taken * self.world_size
        drop = G - self._start.position
        if drop < self._block:
            return
        dom = self._buf_dom[:drop]
        K = len(self.names)
        st = self._start
        # segments can change inside the dropped part only through exhaustion; recompute from scratch
        # in that rare case by replaying from the old start (cheap: O(drop)).
        if self._gen.segment != st.segment:
            self._start = self._cursor_at(G)
        else:
            st.advance(dom, self.world_size)
        self._rank_counts_at_start += np.bincount(dom[self.rank::self.world_size], minlength=K)
        self._buf_dom = self._buf_dom[drop:]
        self._buf_idx = self._buf_idx[drop:]
        self._buf_pos = self._buf_pos[drop:]

    def _cursor_at(self, G: int) -> _Cursor:
        """Cursor at global position ``G`` inside the buffer (replays segment changes if any)."""
        st = self._start
        n = G - st.position
        if n == 0:
            return st.copy()
        if self._gen.segment == st.segment:
            cur = st.copy()
            cur.advance(self._buf_dom[:n], self.world_size)
            return cur
        # replay from the start cursor with a scratch sampler state (segment changed on exhaustion)
        saved = (self._gen, self._buf_dom, self._buf_idx, self._buf_pos, self._iid_cache, self._ramp)
        self._gen, self._iid_cache = st.copy(), None
        self._buf_dom = np.empty(0, dtype=np.int64)
        self._buf_idx = np.empty(0, dtype=np.int64)
        self._buf_pos = np.empty(0, dtype=np.int64)
        block, self._block = self._block, n
        try:
            cur = self._gen
            while cur.position < G and not cur.ended:
                self._block = G - cur.position
                self._extend()
                cur = self._gen
            return cur.copy()
        finally:
            self._block = block
            self._gen, self._buf_dom, self._buf_idx, self._buf_pos, self._iid_cache, self._ramp = saved

    def take(self, n: int) -> DrawBatch:
        """Consume and return this rank's next ``n`` draws (fewer only when the stream has ended)."""
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
            raise ValueError(f"n must be an integer >= 0, got {n!r}")
        with self._lock:  # concurrent take() from several threads is safe: each draw goes to one caller
            b = self._peek(int(n))
            self._taken += len(b)
            self._compact()
            return b

    def _peek(self, n: int) -> DrawBatch:
        """This rank's next ``n`` draws without consuming them."""
        W = self.world_size
        off = self._rank_offset()
        need = off + (n - 1) * W + 1 if n > 0 else 0
        while self._buf_dom.shape[0] < need and self._extend():
            pass
        stop = min(need, self._buf_dom.shape[0])
        sl = slice(off, stop, W)
        return DrawBatch(self._buf_dom[sl].copy(), self._buf_idx[sl].copy(), self.names,
                         self._buf_pos[sl].copy())

    def batches(self, batch_size: int, drop_last: bool = False) -> Iterator[DrawBatch]:
        """Yield this rank's draws in :class:`DrawBatch` es of ``batch_size`` until the stream ends
        (never, with ``on_exhausted="cycle"``). ``drop_last`` drops a final short batch."""
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        while True:
            b = self.take(int(batch_size))
            if len(b) == 0 or (drop_last and len(b) < batch_size):
                return
            yield b
            if len(b) < batch_size:
                return

    def __iter__(self) -> Iterator[tuple[str, int]]:
        """Yield this rank's draws one by one. Draws are read ahead in chunks but consumed only when
        yielded, so :meth:`state_dict` at any point records exactly the items handed out; a ``take`` in
        between is served from the next unyielded draw and the iterator continues after it."""
        chunk = 1024
        while True:
            with self._lock:
                b = self._peek(chunk)
                start = self._taken
            if len(b) == 0:
                return
            for i, key in enumerate(b):
                with self._lock:
                    if self._taken != start + i:  # another consumer took draws: read again from there
                        break
                    self._taken += 1
                yield key
            else:
                with self._lock:
                    self._compact()
                if len(b) < chunk:
                    return

    # ---------------------------------------------------------------- weights

    @property
    def weights(self) -> dict[str, float]:
        """Current normalised weights as used by the schedule (exact integers / ``2**31``)."""
        q = self._current_cursor().q
        return {n: qk / WEIGHT_DENOMINATOR for n, qk in zip(self.names, q)}

    def set_weights(self, weights: Mapping[str, float]) -> None:
        """Change the mixture from this rank's current group position ``items_taken * world_size``.

        Call it on every rank after the same number of items. The deficits carry over, so the counts keep
        tracking the integral of all weights requested so far (a new segment starts only for
        :meth:`segment_counts`). O(domains) plus regenerating the discarded look-ahead.
        """
        w = check_weights(weights, self.names)
        q = quantize_weights([w[n] for n in self.names])
        with self._lock:
            self._set_q(q)

    def _set_q(self, q: list[int]) -> None:
        cur = self._current_cursor()
        counts = self._rank_counts_now()  # before the start moves: it counts from the old start
        self._new_segment(cur, q)
        cur.ended = False
        self._start = cur
        self._rank_counts_at_start = counts
        if self.on_exhausted != "cycle":
            self._apply_exhaustion(cur)
        self._reset_buffer()

    def _current_cursor(self) -> _Cursor:
        return self._cursor_at(self._taken * self.world_size)

    def _rank_counts_now(self) -> np.ndarray:
        G = self._taken * self.world_size
        n = G - self._start.position
        dom = self._buf_dom[:n]
        return self._rank_counts_at_start + np.bincount(dom[self.rank::self.world_size],
                                                        minlength=len(self.names))

    # ---------------------------------------------------------------- counters

    @property
    def position(self) -> int:
        """Group position: global draws consumed by all ranks together, ``items_taken * world_size``."""
        return self._taken * self.world_size

    @property
    def items_taken(self) -> int:
        """Draws this rank has consumed."""
        return self._taken

    @property
    def sizes(self) -> dict[str, int]:
        """``{domain: number of items}``."""
        return dict(self._sizes)

    def counts(self) -> dict[str, int]:
        """Global draws per domain in positions ``[0, position)`` (all ranks together)."""
        cur = self._current_cursor()
        return dict(zip(self.names, cur.totals))

    def rank_counts(self) -> dict[str, int]:
        """Draws per domain consumed by this rank."""
        return dict(zip(self.names, self._rank_counts_now().tolist()))

    def segment_counts(self) -> dict[str, int]:
        """Global draws per domain since the last weight change (what the prefix bound is about)."""
        return dict(zip(self.names, self._current_cursor().seg_counts))

    def segment_length(self) -> int:
        """Global draws since the last weight change."""
        cur = self._current_cursor()
        return cur.position - cur.seg_start

    def epochs(self) -> dict[str, float]:
        """Passes over each domain so far (global): ``counts / size``, e.g. 2.5 = two and a half epochs."""
        cur = self._current_cursor()
        return {n: t / s for n, t, s in zip(self.names, cur.totals, self._size_arr.tolist())}

    def discrepancy(self) -> float:
        """``max_k |segment_count_k - segment_length * w_k|`` since the last weight change: below 1 in quota
        mode on one rank whose weights never changed; after a change the segment also settles deficits
        carried from before it, so it can exceed 1 (the cumulative bound is on :meth:`counts`)."""
        cur = self._current_cursor()
        n = cur.position - cur.seg_start
        return max(abs(Fraction(c) - Fraction(n * qk, WEIGHT_DENOMINATOR)) for c, qk in
                   zip(cur.seg_counts, cur.q)).__float__()

    def summary(self) -> dict[str, Any]:
        """Counters to check a run with: global ``position``, per-domain ``counts`` and ``epochs``, this
        rank's ``rank_counts``, the current ``weights``, the draws since the last weight change
        (``segment_length``, ``segment_counts``), their ``expected`` values ``segment_length * w`` and the
        largest deviation ``discrepancy`` (see :meth:`discrepancy`)."""
        cur = self._current_cursor()
        n = cur.position - cur.seg_start
        return {
            "position": cur.position,
            "counts": dict(zip(self.names, cur.totals)),
            "epochs": self.epochs(),
            "rank_counts": self.rank_counts(),
            "weights": self.weights,
            "segment_length": n,
            "segment_counts": dict(zip(self.names, cur.seg_counts)),
            "expected": {k: n * qk / WEIGHT_DENOMINATOR for k, qk in zip(self.names, cur.q)},
            "discrepancy": self.discrepancy(),
        }

    @property
    def exhausted(self) -> bool:
        """True when the stream has ended (``"stop"`` / ``"renormalize"`` policies) at this position."""
        if self._rank_offset() < self._buf_dom.shape[0]:
            return False
        return self._gen.ended or not self._extend()

    # ---------------------------------------------------------------- state

    def state_dict(self) -> dict[str, Any]:
        """Plain-Python state (JSON-serialisable) that restores the stream exactly at this point: the draws
        handed out so far (by :meth:`take`, :meth:`batches` or iteration), nothing read ahead."""
        with self._lock:
            return self._state_dict()

    def _state_dict(self) -> dict[str, Any]:
        cur = self._current_cursor()
        return {
            "version": _STATE_VERSION,
            "names": list(self.names),
            "sizes": [int(s) for s in self._size_arr.tolist()],
            "seed": self.seed,
            "mode": self.mode,
            "on_exhausted": self.on_exhausted,
            "limit": [int(x) for x in self._limit.tolist()],
            "shuffle": self.shuffle,
            "world_size": self.world_size,
            "taken": self._taken,
            "cursor": cur.to_dict(),
            "rank_counts": [int(x) for x in self._rank_counts_now().tolist()],
        }

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict`. Sizes, seed, mode and policy must match; ``world_size`` may differ
        (the group position is kept: rank ``r`` continues at global position ``position + r``; the global
        deficits carry over, the per-rank ones restart at zero for the new layout). A malformed state raises
        one ``ValueError`` naming the field."""
        with self._lock:
            self._load_state_dict(state)

    def _load_state_dict(self, state: Mapping[str, Any]) -> None:
        if not isinstance(state, Mapping):
            raise ValueError(f"state_dict must be a dict, got {type(state).__name__}")
        if state.get("version") not in _READABLE_VERSIONS:
            raise ValueError(f"state_dict version {state.get('version')!r} is not one of "
                             f"{_READABLE_VERSIONS}")
        for key in ("names", "sizes", "seed", "mode", "on_exhausted", "limit", "shuffle"):
            if key not in state:
                raise ValueError(f"state_dict is missing {key!r}")
        for key, mine in (("names", list(self.names)), ("sizes", self._size_arr.tolist()),
                          ("seed", self.seed), ("mode", self.mode), ("on_exhausted", self.on_exhausted),
                          ("limit", self._limit.tolist()), ("shuffle", self.shuffle)):
            theirs = list(state[key]) if isinstance(mine, list) else state[key]
            if theirs != mine:
                raise ValueError(f"state_dict {key!r} is {state[key]!r} but this sampler has {mine!r}")
        cur = self._validated_cursor(state)
        if int(state["world_size"]) != self.world_size:  # per-rank deficits restart for the new layout
            cur.f = self._zero_rank_deficits()
        if cur.position % self.world_size:
            raise ValueError(
                f"state_dict position {cur.position} is not a multiple of world_size={self.world_size}; "
                "resume with a world size that divides it"
            )
        self._start = cur
        self._taken = cur.position // self.world_size
        if int(state["world_size"]) == self.world_size:
            self._rank_counts_at_start = np.asarray(state["rank_counts"], dtype=np.int64)
        else:  # per-rank history does not carry over to a different layout
            self._rank_counts_at_start = np.zeros(len(self.names), dtype=np.int64)
        self._perms.clear()
        self._reset_buffer()

    def _validated_cursor(self, state: Mapping[str, Any]) -> _Cursor:
        """The cursor of ``state``, checked field by field (one ``ValueError`` naming the field)."""
        K = len(self.names)
        for key in ("world_size", "taken", "cursor", "rank_counts"):
            if key not in state:
                raise ValueError(f"state_dict is missing {key!r}")
        c = state["cursor"]
        if not isinstance(c, Mapping):
            raise ValueError(f"state_dict 'cursor' must be a dict, got {type(c).__name__}")
        for key in ("position", "segment", "seg_start", "seg_counts", "totals", "q", "ended", "deficits",
                    "rank_deficits"):
            if key not in c:
                raise ValueError(f"state_dict is missing 'cursor.{key}'")
        try:
            cur = _Cursor.from_dict(c)
        except (TypeError, ValueError) as err:
            raise ValueError(f"state_dict 'cursor' holds a non-integer value: {err}") from None
        W = int(state["world_size"])
        if W < 1:
            raise ValueError(f"state_dict 'world_size' must be >= 1, got {W}")
        for key in ("seg_counts", "totals", "q", "deficits"):
            if len(c[key]) != K:
                raise ValueError(f"state_dict 'cursor.{key}' has {len(c[key])} entries, expected {K}")
        for key, vals in (("position", [cur.position]), ("segment", [cur.segment]),
                          ("seg_start", [cur.seg_start]), ("seg_counts", cur.seg_counts),
                          ("totals", cur.totals), ("q", cur.q), ("taken", [int(state["taken"])]),
                          ("rank_counts", [int(x) for x in state["rank_counts"]])):
            if any(v < 0 for v in vals):
                raise ValueError(f"state_dict {key!r} has a negative count: {vals}")
        if sum(cur.q) != WEIGHT_DENOMINATOR:
            raise ValueError(f"state_dict 'cursor.q' (the weights) must sum to 2**31, got {sum(cur.q)}: "
                             "not a distribution")
        if sum(cur.totals) != cur.position:
            raise ValueError(f"state_dict 'cursor.position' {cur.position} disagrees with the sum of "
                             f"'cursor.totals' {sum(cur.totals)}")
        if cur.seg_start > cur.position or sum(cur.seg_counts) != cur.position - cur.seg_start:
            raise ValueError(f"state_dict 'cursor.seg_counts' (sum {sum(cur.seg_counts)}) disagrees with "
                             f"position - seg_start = {cur.position - cur.seg_start}")
        if any(s > t for s, t in zip(cur.seg_counts, cur.totals)):
            raise ValueError("state_dict 'cursor.seg_counts' exceeds 'cursor.totals'")
        if int(state["taken"]) * W != cur.position:
            raise ValueError(f"state_dict 'taken' {state['taken']} times world_size {W} is not "
                             f"'cursor.position' {cur.position}")
        if len(state["rank_counts"]) != K or sum(int(x) for x in state["rank_counts"]) > int(state["taken"]):
            raise ValueError("state_dict 'rank_counts' must have one count per domain, summing to at most "
                             "'taken'")
        if self.mode == "quota" and sum(cur.e) != 0:
            raise ValueError(f"state_dict 'cursor.deficits' must sum to 0, got {sum(cur.e)}")
        if cur.f is not None:
            if len(cur.f) != W or any(len(r) != K for r in cur.f):
                raise ValueError(f"state_dict 'cursor.rank_deficits' must be [world_size={W}][{K}]")
            if self.mode == "quota" and any(sum(r) != 0 for r in cur.f):
                raise ValueError("state_dict 'cursor.rank_deficits' rows must each sum to 0")
        elif W > 1:
            raise ValueError("state_dict 'cursor.rank_deficits' is missing for world_size > 1")
        return cur

    def fork(self, rank: int | None = None, world_size: int | None = None) -> MixtureSampler:
        """A new sampler with the same configuration and state (optionally for another rank/world size);
        consuming from it does not affect this one."""
        cfg = dict(self._config)
        if rank is not None:
            cfg["rank"] = rank
        if world_size is not None:
            cfg["world_size"] = world_size
        other = MixtureSampler(**cfg)
        other.load_state_dict(self.state_dict())
        return other

    def __getstate__(self) -> dict[str, Any]:  # the lock does not travel
        # pickles as configuration + state (no permutation cache, no look-ahead): cheap to send to workers
        return {"config": self._config, "state": self.state_dict()}

    def __setstate__(self, d: dict[str, Any]) -> None:
        self.__init__(**d["config"])  # type: ignore[misc]
        self.load_state_dict(d["state"])

    def __repr__(self) -> str:
        w = ", ".join(f"{n}={v:.4g}" for n, v in self.weights.items())
        return (f"MixtureSampler({w}; mode={self.mode}, rank={self.rank}/{self.world_size}, "
                f"position={self.position}, on_exhausted={self.on_exhausted})")
