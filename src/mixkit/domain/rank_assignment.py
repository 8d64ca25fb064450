"""Which rank reads which draw of a round: the several-rank layout of :class:`~mixkit.domain.MixtureSampler`.

With ``W >= ASSIGN_MIN_WORLD`` ranks the global stream is the one-rank stream (earliest deadline first on
the cumulative deficits, :func:`~mixkit.domain.interleave.deficit_schedule`), so it is the same for every
world size and keeps its one-rank bound at every prefix. It is cut into *rounds* of ``W`` consecutive
draws and each round gives exactly one draw to each rank. This module decides which: the assignment of the
round's draws to the ranks that maximises the total gain ``sum_r P(x_r,d_r)`` with ``P(x) = x**4 - (x -
1)**4``, where ``x_r,k`` is rank ``r``'s own deficit in domain ``k`` (the integral of the weights over its
draws, including this one, minus its count). The gain is increasing in the deficit, so the ranks that are
most behind on a domain get it, and the quartic makes a rank's largest deficit dominate. The optimum is
found exactly: a greedy start (repeatedly the largest gain among the free ranks and the domains with
draws left) followed by cancelling improving cycles of exchanges between domains (Bellman-Ford on the
graph of the round's domains), so the result does not depend on the order ranks are considered in.

The deficits enter in fixed point (units of ``2**-11`` draws, clamped to +-32 draws) so the gains are
exact int64 values: the compiled (numba) and the plain kernel give the same assignment (tested).
"""

from __future__ import annotations

import numpy as np

#: world sizes from which the global stream is the one-rank stream with rounds assigned to ranks; below it
#: the two-level rule of :func:`~mixkit.domain.interleave.ranks_loop` lays the ranks out slot by slot
ASSIGN_MIN_WORLD = 4

_Q = 2147483648
#: queue steps of the cycle search per domain of the round; with many distinct domains in a large round
#: (hundreds of ranks over hundreds of domains) the exact search can take O(m**3); past this budget the
#: round keeps the best assignment found so far
RELAX_BUDGET = 32


def _gain(x: int) -> int:
    """``P(x) = x**4 - (x - 1)**4`` in fixed point for a deficit ``x`` in units of ``1 / 2**31`` draws."""
    U = 2048
    y = min(max(x >> 20, -65536), 65536)
    return ((4 * y - 6 * U) * y + 4 * U * U) * y


def assign_rounds_loop(dom: np.ndarray, q: np.ndarray, f: np.ndarray, out: np.ndarray) -> None:
    """Assign each round of ``dom`` to the ranks.

    ``dom``: ``int64 [R * W]`` domain ids of ``R`` whole rounds in global order; ``q``: ``int64 [K]``
    weights over ``2**31`` (one segment); ``f``: ``int64 [K, W]`` per-rank deficits (domain-major, so a
    domain's deficits on all ranks are contiguous), updated in place;
    ``out``: ``int64 [R * W]`` receives, at ``j * W + r``, the index in ``dom`` of the draw rank ``r``
    reads in round ``j``. O(W m log W) per round plus the exchange cycles, ``m`` the domains in the round.
    """
    W = f.shape[1]
    K = q.shape[0]
    R = dom.shape[0] // W
    M = min(W, K)  # at most this many distinct domains in a round
    slot_of = np.full(K, -1, np.int64)  # domain -> its index among the round's domains
    D = np.empty(M, np.int64)  # the round's distinct domains
    cnt = np.empty(M, np.int64)
    left = np.empty(M, np.int64)
    G = np.empty((M, W), np.int64)  # G[i, r]: gain of rank r for domain D[i]
    best_r = np.empty(M, np.int64)  # best free rank of each domain
    order = np.empty((M, W), np.int64)  # ranks by decreasing gain, sorted once a domain needs it
    sorted_ = np.empty(M, np.bool_)
    ptr = np.empty(M, np.int64)
    queue = np.empty(M + 1, np.int64)
    inq = np.empty(M, np.bool_)
    relaxed = np.empty(M, np.int64)
    color = np.empty(M, np.int64)
    used = np.zeros(W, np.bool_)
    a = np.empty(W, np.int64)  # rank -> index of its domain in D
    cost = np.empty((M, M), np.int64)
    arg = np.empty((M, M), np.int64)
    dist = np.empty(M, np.int64)
    pred = np.empty(M, np.int64)
    on = np.empty(M, np.bool_)
    nxt = np.empty(M, np.int64)
    fill = np.empty((M, W), np.int64)
    for j in range(R):
        base = j * W
        m = 0
        for s in range(W):
            k = dom[base + s]
            if slot_of[k] < 0:
                slot_of[k] = m
                D[m] = k
                cnt[m] = 0
                m += 1
            cnt[slot_of[k]] += 1
        for i in range(m):
            k = D[i]
            add = (j + 1) * q[k]
            b = 0
            for r in range(W):
                g = _gain(f[k, r] + add)
                G[i, r] = g
                if g > G[i, b]:
                    b = r
            best_r[i] = b
            sorted_[i] = False
            left[i] = cnt[i]
        for r in range(W):
            used[r] = False
        # greedy start: the largest gain among free ranks and domains with draws left (ties: smaller
        # domain index, then smaller rank)
        for t in range(W):
            best = -1
            bv = 0
            for i in range(m):
                if left[i] > 0:
                    v = G[i, best_r[i]]
                    if best < 0 or v > bv:
                        best = i
                        bv = v
            r = best_r[best]
            used[r] = True
            left[best] -= 1
            a[r] = best
            if t + 1 < W:
                for i in range(m):  # domains whose best free rank was r look again
                    if left[i] > 0 and best_r[i] == r:
                        if not sorted_[i]:  # stable: ties keep the smaller rank first
                            order[i, :] = np.argsort(-G[i, :], kind="mergesort")
                            sorted_[i] = True
                            ptr[i] = 0
                        while used[order[i, ptr[i]]]:
                            ptr[i] += 1
                        best_r[i] = order[i, ptr[i]]
        # exact optimum: cancel cycles of moves (a rank from domain i to domain j) that gain in total
        while m > 1:
            for i in range(m):
                for jj in range(m):
                    arg[i, jj] = -1
                    cost[i, jj] = 0
            for r in range(W):
                i = a[r]
                gi = G[i, r]
                for jj in range(m):
                    if jj != i:
                        c = gi - G[jj, r]
                        if arg[i, jj] < 0 or c < cost[i, jj]:
                            cost[i, jj] = c
                            arg[i, jj] = r
            # shortest paths from a virtual source (queue-based Bellman-Ford); once some domain has been
            # relaxed m times, the predecessor graph is searched for a cycle (a cycle there is negative)
            for i in range(m):
                dist[i] = 0
                pred[i] = -1
                inq[i] = True
                queue[i] = i
                relaxed[i] = 0
            qh = 0
            qn = m
            hit = -1
            work = 0
            while qn > 0 and hit < 0 and work < RELAX_BUDGET * m:
                work += 1
                i = queue[qh]
                qh = qh + 1 if qh < M else 0
                qn -= 1
                inq[i] = False
                for jj in range(m):
                    if arg[i, jj] >= 0 and dist[i] + cost[i, jj] < dist[jj]:
                        dist[jj] = dist[i] + cost[i, jj]
                        pred[jj] = i
                        relaxed[jj] += 1
                        if relaxed[jj] % m == 0:
                            for u in range(m):
                                color[u] = -1
                            for s0 in range(m):
                                u = s0
                                while u >= 0 and color[u] < 0:
                                    color[u] = s0
                                    u = pred[u]
                                if u >= 0 and color[u] == s0:
                                    hit = u
                                    break
                            if hit >= 0:
                                break
                        if not inq[jj]:
                            inq[jj] = True
                            qt = qh + qn
                            if qt > M:
                                qt -= M + 1
                            queue[qt] = jj
                            qn += 1
            if hit < 0:  # optimal (or, past the work budget, the best assignment found so far)
                break
            v = hit  # on the cycle
            for i in range(m):
                on[i] = False
            u = v
            total = 0
            while True:
                p = pred[u]
                nxt[p] = u
                on[p] = True
                total += cost[p, u]
                u = p
                if u == v:
                    break
            if total >= 0:
                break
            for p in range(m):  # one rank moves along each edge of the cycle
                if on[p]:
                    a[arg[p, nxt[p]]] = nxt[p]
        # the i-th rank (in rank order) holding domain D[i] reads that domain's i-th draw of the round
        for i in range(m):
            ptr[i] = 0
        for s in range(W):
            i = slot_of[dom[base + s]]
            fill[i, ptr[i]] = base + s
            ptr[i] += 1
        for i in range(m):
            ptr[i] = 0
        for r in range(W):
            i = a[r]
            out[base + r] = fill[i, ptr[i]]
            ptr[i] += 1
            f[D[i], r] -= _Q
        for i in range(m):
            slot_of[D[i]] = -1
    for k in range(K):
        for r in range(W):
            f[k, r] += R * q[k]


try:  # optional compiled kernel (mixkit[fast]); the plain function gives the same output
    import numba as _numba

    _gain = _numba.njit(cache=True, nogil=True, inline="always")(_gain)
    _assign_compiled = _numba.njit(cache=True, nogil=True)(assign_rounds_loop)
    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - depends on the environment
    _assign_compiled = None
    HAVE_NUMBA = False


def assign_rounds(dom: np.ndarray, q: np.ndarray, f: np.ndarray, compiled: bool | None = None) -> np.ndarray:
    """Rank layout of whole rounds: ``perm`` (``int64 [R * W]``) with ``dom[perm]`` in rank order (round
    ``j``, rank ``r`` at ``j * W + r``); updates the per-rank deficits ``f`` (``int64 [W, K]``) in place.
    ``compiled`` as in :func:`~mixkit.domain.interleave.deficit_schedule` (same output either way)."""
    W = f.shape[0]
    if dom.shape[0] % W:
        raise ValueError(f"dom must hold whole rounds of world_size={W} draws, got {dom.shape[0]}")
    out = np.empty(dom.shape[0], dtype=np.int64)
    if dom.shape[0] == 0:
        return out
    use = HAVE_NUMBA if compiled is None else bool(compiled)
    kernel = _assign_compiled if use and HAVE_NUMBA else assign_rounds_loop
    ft = np.ascontiguousarray(f.T)
    kernel(np.ascontiguousarray(dom, dtype=np.int64), np.ascontiguousarray(q, dtype=np.int64), ft, out)
    f[...] = ft.T
    return out
