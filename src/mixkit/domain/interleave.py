"""Which domain fills each slot of the stream: the exact quota interleaving and the iid draw.

With fixed weights on one rank, :func:`deficit_schedule` is the *quota method* of apportionment (Balinski &
Young, "The quota method of apportionment", Amer. Math. Monthly 82, 1975) run as earliest-deadline-first
scheduling: the ``j``-th draw
of domain ``k`` is a unit job released at slot ``floor((j - 1) / w_k) + 1`` and due at slot
``ceil(j / w_k)``; each slot goes to the released job with the earliest deadline. Every job meets its
window, which is equivalent to: after every prefix of N draws, each domain's count differs from
``N * w_k`` by less than 1. The weights are the exact integers of
:func:`~mixkit.domain.weights.quantize_weights`.

:func:`iid_block` draws each slot's domain independently from the weights instead (proportions then hold
only in expectation), in seeded blocks of :data:`IID_BLOCK` slots.
"""

from __future__ import annotations

import hashlib
import heapq

import numpy as np
import torch

from .weights import WEIGHT_DENOMINATOR

#: slots per seeded block of the iid draw
IID_BLOCK = 1 << 14


def _iid_seed(seed: int, segment: int, block: int) -> int:
    digest = hashlib.blake2b(f"mixkit-iid|{seed}|{segment}|{block}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)


def iid_block(seed: int, segment: int, block: int, q: list[int]) -> np.ndarray:
    """Domain ids (``int64 [IID_BLOCK]``) of iid block ``block`` of segment ``segment``: each slot drawn
    independently with probabilities ``q / sum(q)`` from a ``torch.Generator`` seeded from
    ``(seed, segment, block)``."""
    g = torch.Generator().manual_seed(_iid_seed(seed, segment, block))
    r = torch.rand(IID_BLOCK, generator=g, dtype=torch.float64).numpy()
    cdf = np.cumsum(np.asarray(q, dtype=np.float64))
    cdf /= cdf[-1]
    ids = np.searchsorted(cdf, r, side="right").astype(np.int64)
    return np.minimum(ids, len(q) - 1)


def quota_interleave_reference(q: list[int], n: int, denominator: int = WEIGHT_DENOMINATOR) -> np.ndarray:
    """Reference quota-method interleaving: slot by slot with a heap (O(n log K), slow, obviously right).

    Slot ``s`` (1-based) goes to the released job with the smallest ``(deadline, domain)``; the ``j``-th job
    of domain ``k`` is released at slot ``floor((j - 1) Q / q_k) + 1`` and due at ``ceil(j Q / q_k)``.
    :func:`deficit_schedule` from zero deficits with fixed weights produces exactly this sequence (tested).
    """
    counts = [0] * len(q)
    ready: list[tuple[int, int]] = []
    waiting: list[tuple[int, int]] = []
    for k, qk in enumerate(q):
        if qk > 0:
            heapq.heappush(ready, (-(-denominator // qk), k))
    out = np.empty(n, dtype=np.int64)
    for s in range(1, n + 1):
        while waiting and waiting[0][0] <= s:
            _, k = heapq.heappop(waiting)
            heapq.heappush(ready, (-(-(counts[k] + 1) * denominator // q[k]), k))
        _, k = heapq.heappop(ready)
        out[s - 1] = k
        counts[k] += 1
        release = counts[k] * denominator // q[k] + 1
        if release <= s + 1:
            heapq.heappush(ready, (-(-(counts[k] + 1) * denominator // q[k]), k))
        else:
            heapq.heappush(waiting, (release, k))
    return out


# --------------------------------------------------------------------------- deficit schedules
#
# State of the schedule: per domain the *deficit* ``e_k = Q * target_k - Q * count_k`` in units of
# ``1 / Q`` (``Q = 2**31``), where ``target_k`` is the integral of the requested weights over all draws so
# far, across every weight change. Each slot adds ``q_k`` (the weight of the slot) to every ``e_k``; the
# domain drawn loses ``Q``. So ``|e_k| / Q`` is exactly the prefix error of domain ``k``.


def _heap2_push(h1: np.ndarray, h2: np.ndarray, size: int, a: int, b: int) -> int:
    """Push the key ``(a, b)`` onto the binary heap held in ``h1``/``h2`` (``size`` keys); returns the new
    size."""
    i = size
    while i > 0:
        p = (i - 1) >> 1
        if h1[p] < a or (h1[p] == a and h2[p] < b):
            break
        h1[i] = h1[p]
        h2[i] = h2[p]
        i = p
    h1[i] = a
    h2[i] = b
    return size + 1


def _heap2_pop(h1: np.ndarray, h2: np.ndarray, size: int) -> int:
    """Remove the root of the two-key heap (the caller read it before); returns the new size."""
    size -= 1
    l1 = h1[size]
    l2 = h2[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and (h1[c + 1] < h1[c] or (h1[c + 1] == h1[c] and h2[c + 1] < h2[c])):
            c += 1
        if l1 < h1[c] or (l1 == h1[c] and l2 < h2[c]):
            break
        h1[i] = h1[c]
        h2[i] = h2[c]
        i = c
    h1[i] = l1
    h2[i] = l2
    return size


def edf_loop(q: np.ndarray, e: np.ndarray, n: int, out: np.ndarray) -> None:
    """One rank: earliest deadline first over the next job of every domain with ``q_k > 0``.

    The next job of domain ``k`` (after ``c`` draws in this call) is released at the first slot ``s``
    (1-based) with ``e_k + s q_k > c Q`` and due at the first slot with ``e_k + s q_k >= (c + 1) Q``; each
    slot goes to the released job with the smallest ``(deadline, k)``. With weights that never change this
    is the quota method (:func:`quota_interleave_reference`). Updates ``e`` in place. Binary heaps kept in
    plain arrays so that the function compiles unchanged with numba.
    """
    K = q.shape[0]
    Q = 2147483648
    cnt = np.zeros(K, np.int64)
    # ready heap keyed (deadline, k); waiting heap keyed (release, k)
    rk1 = np.empty(K, np.int64)
    rk2 = np.empty(K, np.int64)
    wk1 = np.empty(K, np.int64)
    wk2 = np.empty(K, np.int64)
    nr = 0
    nw = 0
    for k in range(K):
        if q[k] > 0:
            rel = (-e[k]) // q[k] + 1
            if rel <= 1:
                nr = _heap2_push(rk1, rk2, nr, -((e[k] - Q) // q[k]), k)
            else:
                nw = _heap2_push(wk1, wk2, nw, rel, k)
    for s in range(1, n + 1):
        # move released jobs to the ready heap
        while nw > 0 and wk1[0] <= s:
            k = wk2[0]
            nw = _heap2_pop(wk1, wk2, nw)
            nr = _heap2_push(rk1, rk2, nr, -((e[k] - (cnt[k] + 1) * Q) // q[k]), k)
        # serve the earliest deadline (ready is never empty: the deficits sum to zero)
        k = rk2[0]
        out[s - 1] = k
        cnt[k] += 1
        nr = _heap2_pop(rk1, rk2, nr)
        # the next job of k
        rel = (cnt[k] * Q - e[k]) // q[k] + 1
        if rel <= s + 1:
            nr = _heap2_push(rk1, rk2, nr, -((e[k] - (cnt[k] + 1) * Q) // q[k]), k)
        else:
            nw = _heap2_push(wk1, wk2, nw, rel, k)
    for k in range(K):
        e[k] += n * q[k] - cnt[k] * Q


def edf_sorted_prefix(q: np.ndarray, e: np.ndarray, n: int, out: np.ndarray, block: int = 16384) -> int:
    """Vectorised start of :func:`edf_loop` (NumPy, no loop over slots): fills ``out[:p]`` and advances
    ``e`` by ``p`` slots, returning ``p <= n``; the caller runs the loop for the rest.

    If the jobs sorted by ``(deadline, k)`` are each released by their position in that order, earliest
    deadline first serves them in exactly that order (by induction: the job at position ``s`` is then the
    released unserved job of smallest key). So a block lists every job due within a horizon (per domain
    ``floor((H q_k + e_k) / Q)`` of them, all jobs due by ``H``, hence an exact prefix of the order),
    sorts them stably by deadline (the list is in increasing ``k``, so ties go to the smaller ``k``) and
    keeps the positions before the first job that is not yet released. That happens with uniform weights
    and with two domains; other weights usually stop the prefix within a few slots, and then the loop
    does the work."""
    K = q.shape[0]
    Q = 2147483648
    live = np.flatnonzero(q > 0)
    ql = q[live]
    done = 0
    size = min(256, block)  # a short first block: skewed weights usually stop the prefix early
    while done < n:
        need = min(n - done, size)
        size = min(2 * size, block)
        H = need + K + 1
        el = e[live]
        nk = np.maximum((H * ql + el) // Q, 0)
        tot = int(nk.sum())
        grp = np.repeat(np.arange(live.shape[0]), nk)
        c = np.arange(tot, dtype=np.int64) - np.repeat(np.cumsum(nk) - nk, nk)
        qq = ql[grp]
        ee = el[grp]
        order = np.argsort(-((ee - (c + 1) * Q) // qq), kind="stable")
        rel = ((c * Q - ee) // qq + 1)[order[:need]]
        late = np.flatnonzero(rel > np.arange(1, rel.shape[0] + 1))
        m = int(late[0]) if late.shape[0] else rel.shape[0]
        blk = live[grp[order[:m]]]
        out[done:done + m] = blk
        e += m * q - np.bincount(blk, minlength=K) * Q
        done += m
        if m < need:
            break
    return done


def _heap_push(h: np.ndarray, size: int, key: int) -> None:
    i = size
    while i > 0:
        p = (i - 1) >> 1
        if h[p] <= key:
            break
        h[i] = h[p]
        i = p
    h[i] = key


def _heap_pop(h: np.ndarray, size: int) -> int:
    """Remove the root of the heap of ``size`` keys (the caller read it before) and restore the order."""
    size -= 1
    last = h[size]
    i = 0
    while True:
        c = 2 * i + 1
        if c >= size:
            break
        if c + 1 < size and h[c + 1] < h[c]:
            c += 1
        if last <= h[c]:
            break
        h[i] = h[c]
        i = c
    h[i] = last
    return size


def edf_packed_loop(q: np.ndarray, e: np.ndarray, n: int, out: np.ndarray, bits: int) -> None:
    """:func:`edf_loop` with each heap entry packed into one int64 ``(slot << bits) | k`` (same order,
    same output; about twice as fast). The caller checks that every deadline fits in ``62 - bits`` bits;
    releases after slot ``n`` are clamped to ``n + 1`` (never served in this call, so exact)."""
    K = q.shape[0]
    Q = 2147483648
    mask = (1 << bits) - 1
    cnt = np.zeros(K, np.int64)
    ready = np.empty(K, np.int64)
    wait = np.empty(K, np.int64)
    nr = 0
    nw = 0
    for k in range(K):
        if q[k] > 0:
            rel = (-e[k]) // q[k] + 1
            if rel <= 1:
                _heap_push(ready, nr, ((-((e[k] - Q) // q[k])) << bits) | k)
                nr += 1
            else:
                _heap_push(wait, nw, (min(rel, n + 1) << bits) | k)
                nw += 1
    for s in range(1, n + 1):
        while nw > 0 and (wait[0] >> bits) <= s:
            k = wait[0] & mask
            nw = _heap_pop(wait, nw)
            _heap_push(ready, nr, ((-((e[k] - (cnt[k] + 1) * Q) // q[k])) << bits) | k)
            nr += 1
        k = ready[0] & mask
        nr = _heap_pop(ready, nr)
        out[s - 1] = k
        cnt[k] += 1
        rel = (cnt[k] * Q - e[k]) // q[k] + 1
        if rel <= s + 1:
            _heap_push(ready, nr, ((-((e[k] - (cnt[k] + 1) * Q) // q[k])) << bits) | k)
            nr += 1
        else:
            _heap_push(wait, nw, (min(rel, n + 1) << bits) | k)
            nw += 1
    for k in range(K):
        e[k] += n * q[k] - cnt[k] * Q


def ranks_loop(q: np.ndarray, e: np.ndarray, f: np.ndarray, r0: int, n: int, out: np.ndarray,
                rank_weight: int, global_weight: int) -> None:
    """Several ranks: slot ``s`` (1-based) belongs to rank ``(r0 + s - 1) mod W`` and goes to the domain
    with ``q_k > 0`` that most lowers the potential ``rank_weight * sum_k x_rk**4 + global_weight *
    sum_k y_k**4``, where ``x_rk`` and ``y_k`` are the per-rank and global deficits in draws including the
    slot's own weight; drawing ``k`` lowers them by one, so the gain is ``rank_weight * P(x_rk) +
    global_weight * P(y_k)`` with ``P(x) = x**4 - (x - 1)**4`` (increasing). Ties go to the smaller ``k``.
    The deficits enter in fixed point (units of ``2**-11`` draws, floor, clamped to +-32 draws) so that
    the gain is an exact int64 whatever the path (compiled or not). Updates the global deficits ``e``
    (``int64 [K]``) and the per-rank deficits ``f`` (``int64 [W, K]``) in place. O(K) per slot."""
    K = q.shape[0]
    W = f.shape[0]
    Q = 2147483648
    U = 2048  # one draw in fixed point (deficits >> 20)
    LIM = 65536  # clamp: 32 draws
    js = np.zeros(W, np.int64)
    cnt = np.zeros(K, np.int64)
    r = r0
    for s in range(1, n + 1):
        js[r] += 1
        j = js[r]
        best = -1
        bval = 0
        for k in range(K):
            qk = q[k]
            if qk > 0:
                x = (f[r, k] + j * qk) >> 20
                y = (e[k] + s * qk - cnt[k] * Q) >> 20
                x = min(max(x, -LIM), LIM)
                y = min(max(y, -LIM), LIM)
                v = (rank_weight * (((4 * x - 6 * U) * x + 4 * U * U) * x)
                     + global_weight * (((4 * y - 6 * U) * y + 4 * U * U) * y))
                if best < 0 or v > bval:
                    best = k
                    bval = v
        out[s - 1] = best
        cnt[best] += 1
        f[r, best] -= Q
        r += 1
        if r == W:
            r = 0
    for k in range(K):
        e[k] += n * q[k] - cnt[k] * Q
    for r in range(W):
        for k in range(K):
            f[r, k] += js[r] * q[k]


def ranks_scan_loop(q: np.ndarray, e: np.ndarray, f: np.ndarray, r0: int, n: int, out: np.ndarray,
                     rank_weight: int, global_weight: int) -> None:
    """:func:`ranks_loop` (same arguments, same int64 arithmetic, same output; tested) written so that
    a compiler vectorises the scan over domains: the gains of all domains go into one array in a
    branch-free loop (a domain with ``q_k = 0`` gets the smallest int64) together with their maximum,
    then the first domain reaching the maximum is taken (ties to the smaller ``k``). The global deficit
    is kept as ``e_k - count_k Q`` so that each slot reads three arrays. The compiled several-rank
    kernel; about twice as fast as the compiled :func:`ranks_loop`, still O(K) per slot."""
    K = q.shape[0]
    W = f.shape[0]
    Q = 2147483648
    U = 2048
    LIM = 65536
    NEG = -9223372036854775807
    js = np.zeros(W, np.int64)
    base = e.copy()
    v = np.empty(K, np.int64)
    r = r0
    for s in range(1, n + 1):
        js[r] += 1
        j = js[r]
        fr = f[r]
        top = NEG
        for k in range(K):
            qk = q[k]
            x = min(max((fr[k] + j * qk) >> 20, -LIM), LIM)
            y = min(max((base[k] + s * qk) >> 20, -LIM), LIM)
            g = (rank_weight * (((4 * x - 6 * U) * x + 4 * U * U) * x)
                 + global_weight * (((4 * y - 6 * U) * y + 4 * U * U) * y))
            g = g if qk > 0 else NEG
            v[k] = g
            top = max(top, g)
        best = 0
        while v[best] != top:
            best += 1
        out[s - 1] = best
        base[best] -= Q
        fr[best] -= Q
        r += 1
        if r == W:
            r = 0
    for k in range(K):
        e[k] = base[k] + n * q[k]
    for r in range(W):
        for k in range(K):
            f[r, k] += js[r] * q[k]


def _occurrences_pure(dom: np.ndarray, base: np.ndarray, out: np.ndarray) -> None:
    """``out[i] = base[dom[i]] + #{j < i: dom[j] == dom[i]}`` in one pass (loop; compiled with numba)."""
    run = base.copy()
    for i in range(dom.shape[0]):
        k = dom[i]
        out[i] = run[k]
        run[k] += 1


def ranks_numpy(q: np.ndarray, e: np.ndarray, f: np.ndarray, r0: int, n: int, out: np.ndarray,
                 rank_weight: int, global_weight: int) -> None:
    """:func:`ranks_loop` with the scan over domains vectorised (NumPy, one slot at a time): the same
    int64 arithmetic, ``argmax`` takes the first (smallest) domain on ties, so the output is the same
    (tested); the fallback when numba is not installed."""
    W = f.shape[0]
    Q = 2147483648
    U = 2048
    dead = q <= 0
    x = f.copy()
    y = e.copy()
    r = r0
    for s in range(n):
        x[r] += q
        y += q
        gx = np.clip(x[r] >> 20, -65536, 65536)
        gy = np.clip(y >> 20, -65536, 65536)
        v = (rank_weight * (((4 * gx - 6 * U) * gx + 4 * U * U) * gx)
             + global_weight * (((4 * gy - 6 * U) * gy + 4 * U * U) * gy))
        v[dead] = np.iinfo(np.int64).min
        k = int(np.argmax(v))
        out[s] = k
        x[r, k] -= Q
        y[k] -= Q
        r += 1
        if r == W:
            r = 0
    f[:] = x
    e[:] = y


try:  # optional compiled inner loops (mixkit[fast]); the pure versions give the same output
    import numba as _numba

    edf_compiled = _numba.njit(cache=True, nogil=True)(edf_loop)
    ranks_compiled = _numba.njit(cache=True, nogil=True)(ranks_scan_loop)
    _occurrences_fast = _numba.njit(cache=True, nogil=True)(_occurrences_pure)
    _heap_push = _numba.njit(cache=True, nogil=True, inline="always")(_heap_push)
    _heap2_push = _numba.njit(cache=True, nogil=True, inline="always")(_heap2_push)
    _heap2_pop = _numba.njit(cache=True, nogil=True, inline="always")(_heap2_pop)
    _heap_pop = _numba.njit(cache=True, nogil=True, inline="always")(_heap_pop)
    edf_packed_compiled = _numba.njit(cache=True, nogil=True)(edf_packed_loop)
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - depends on the environment
    edf_compiled = ranks_compiled = _occurrences_fast = edf_packed_compiled = None
    HAVE_NUMBA = False

#: weights of the per-rank and the global potential in the rule for several ranks (:func:`ranks_loop`)
RANK_WEIGHT, GLOBAL_WEIGHT = 5, 4


def deficit_schedule(q: np.ndarray, e: np.ndarray, f: np.ndarray | None, r0: int, n: int,
                     compiled: bool | None = None) -> np.ndarray:
    """Domain ids (``int64 [n]``) of the next ``n`` global slots; updates the deficits in place.

    ``q``: ``int64 [K]`` weights summing to ``Q = 2**31``; ``e``: ``int64 [K]`` global deficits (units of
    ``1/Q``); ``f``: ``int64 [W, K]`` per-rank deficits, or ``None`` for one rank; ``r0``: the rank of the
    next slot. The deficits are the whole state, so cutting a run into calls never changes it.

    * One rank: earliest deadline first over the next draw of every domain (:func:`edf_loop`; heaps of
      packed keys in :func:`edf_packed_loop` when every deadline fits, same output). With fixed weights
      from zero deficits this is the quota method, :func:`quota_interleave_reference` slot for slot.
      O(log K) per slot.
    * Two or three ranks: the two-level quartic-potential rule of :func:`ranks_loop` (weights
      :data:`RANK_WEIGHT` : :data:`GLOBAL_WEIGHT`); compiled as the vectorised scan
      :func:`ranks_scan_loop`. O(K) per slot. (From four ranks the sampler calls this with ``f=None``, the
      one-rank rule, and assigns whole rounds to ranks: :mod:`mixkit.domain.rank_assignment`.)

    ``compiled`` forces (``True``) or avoids (``False``) the numba kernels (``pip install 'mixkit[fast]'``);
    the output is the same either way (tested). Without numba the one-rank rule first serves the slots
    that :func:`edf_sorted_prefix` can vectorise (all of them for uniform weights or two domains: tens of
    M slots/s) and runs the rest as a plain Python loop over the same code (about 0.3-0.6 M slots/s, the
    usual case for skewed weights over three or more domains); the several-rank rule runs as a loop (up
    to 64 domains) or a NumPy scan per slot.
    """
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    use = HAVE_NUMBA if compiled is None else bool(compiled)
    if use and not HAVE_NUMBA:
        raise RuntimeError("compiled=True needs numba (pip install 'mixkit[fast]')")
    if f is None or f.shape[0] == 1:
        res = out
        if not use:  # without numba: a vectorised prefix first, the loop for the rest (same output)
            done = edf_sorted_prefix(q, e, n, out)
            n -= done
            out = out[done:]
        if n == 0:
            if f is not None:
                f[0] = e
            return res
        bits = max(1, (q.shape[0] - 1).bit_length())
        # largest deadline of the call: ((n + 1) Q - e_k) / q_k + 1 slots; pack when it fits
        pos = q > 0
        top = ((n + 1) * WEIGHT_DENOMINATOR - int(e[pos].min())) // int(q[pos].min()) + 2
        if top.bit_length() + bits <= 62:
            (edf_packed_compiled if use else edf_packed_loop)(q, e, n, out, bits)
        else:
            (edf_compiled if use else edf_loop)(q, e, n, out)
        if f is not None:
            f[0] = e
        return res
    if use:
        ranks_compiled(q, e, f, int(r0), n, out, RANK_WEIGHT, GLOBAL_WEIGHT)
    elif q.shape[0] > 64:  # without numba: a vectorised scan pays off only over many domains
        ranks_numpy(q, e, f, int(r0), n, out, RANK_WEIGHT, GLOBAL_WEIGHT)
    else:
        ranks_loop(q, e, f, int(r0), n, out, RANK_WEIGHT, GLOBAL_WEIGHT)
    return out


def deficit_reference(q_per_slot: list[list[int]], e0: list[int] | None = None) -> np.ndarray:
    """Oracle for one rank: slot by slot, the released domain (``e_k + q_k > 0`` after adding the slot's
    weight, ``q_k > 0``) whose next draw is due first (``ceil((Q - e_k - q_k) / q_k)`` more slots at the
    current weights), ties to the smaller index; ``q_per_slot[s]`` are the weights of slot ``s``. Plain
    Python integers, loops."""
    Q = WEIGHT_DENOMINATOR
    K = len(q_per_slot[0]) if q_per_slot else 0
    e = list(e0) if e0 is not None else [0] * K
    out = np.empty(len(q_per_slot), dtype=np.int64)
    for s, q in enumerate(q_per_slot):
        e = [x + y for x, y in zip(e, q)]
        best = None
        for k in range(K):
            if q[k] > 0 and e[k] > 0:
                due = -(-(Q - e[k]) // q[k])
                if best is None or due < best[0]:
                    best = (due, k)
        k = best[1]
        e[k] -= Q
        out[s] = k
    return out


def block_occurrences(dom: np.ndarray, base: np.ndarray, compiled: bool | None = None) -> np.ndarray:
    """Occurrence number of each slot's draw: ``int64 [n]`` with ``base[dom[i]]`` plus the number of
    earlier slots of the same domain in ``dom`` (``int64 [n]`` domain ids, ``base``: ``int64 [K]`` draws
    before the block). One pass with numba; otherwise a stable sort of ``dom`` (same output, tested)."""
    n = dom.shape[0]
    out = np.empty(n, dtype=np.int64)
    if n == 0:
        return out
    base = np.ascontiguousarray(base, dtype=np.int64)
    use = HAVE_NUMBA if compiled is None else bool(compiled)
    if use and HAVE_NUMBA:
        _occurrences_fast(np.ascontiguousarray(dom, dtype=np.int64), base, out)
        return out
    K = base.shape[0]
    order = np.argsort(dom.astype(np.int16) if K <= 1 << 15 else dom, kind="stable")
    counts = np.bincount(dom, minlength=K)
    starts = np.cumsum(counts) - counts
    out[order] = np.arange(n, dtype=np.int64) - np.repeat(starts, counts)
    out += base[dom]
    return out
