"""The on-the-fly per-epoch permutation: bijective for every size, O(1) per draw at 10^12 items,
reproducible from (seed, domain, epoch), statistically shuffled, and equal to a plain-integer oracle."""

import math
import time
import tracemalloc

import numpy as np
import pytest

from mixkit.domain.permutation import (
    MAX_SIZE,
    ROUNDS,
    EpochPermutations,
    epoch_permutation,
    epoch_slice,
    feistel_shape,
    permutation_seed,
    permute,
)

# ---- oracle: the construction written out with Python integers, one position at a time -------------

M64 = (1 << 64) - 1
GOLDEN, MUL1, MUL2 = 0x9E3779B97F4A7C15, 0xBF58476D1CE4E5B9, 0x94D049BB133111EB


def _stats():
    """scipy.stats for the statistical tests (skipped without SciPy, part of the ``search`` extra)."""
    return pytest.importorskip("scipy.stats", reason="needs SciPy (pip install 'mixkit[search]')")


def oracle_round_function(key: int, i: int, half: int, m: int) -> int:
    """Round ``i``'s value in ``[0, m)``: splitmix64 mix of ``key + (i + 1) * golden + half``, top 32
    bits, scaled to ``[0, m)`` by ``floor(h * m / 2**32)``."""
    z = (key + (i + 1) * GOLDEN + half) & M64
    z = ((z ^ (z >> 30)) * MUL1) & M64
    z = ((z ^ (z >> 27)) * MUL2) & M64
    return ((z >> 32) * m) >> 32


def oracle_shape(size: int) -> tuple[int, int]:
    a = math.isqrt(size)
    if a * a < size:  # ceil(sqrt(size))
        a += 1
    return a, -(-size // a)


def oracle_network(x: int, size: int, key: int, inverse: bool = False) -> int:
    """The Feistel network over Z_a x Z_b (x = A * b + B), alternating moduli a, b, ..., or its inverse."""
    a, b = oracle_shape(size)
    A, B = divmod(x, b)
    if not inverse:
        for i in range(ROUNDS):
            m = a if i % 2 == 0 else b
            A, B = B, (A + oracle_round_function(key, i, B, m)) % m
    else:
        for i in reversed(range(ROUNDS)):
            m = a if i % 2 == 0 else b
            A, B = (B - oracle_round_function(key, i, A, m)) % m, A
    return A * b + B


def oracle_item(pos: int, size: int, key: int, inverse: bool = False) -> int:
    """Cycle walking: apply the network (or its inverse) until the value lands in [0, size)."""
    y = oracle_network(pos, size, key, inverse)
    while y >= size:
        y = oracle_network(y, size, key, inverse)
    return y


def _is_perm(p: np.ndarray, n: int) -> bool:
    return p.dtype == np.int64 and p.shape == (n,) and np.array_equal(np.sort(p), np.arange(n))


def _primes(lo, hi):
    return [n for n in range(lo, hi) if n > 1 and all(n % d for d in range(2, math.isqrt(n) + 1))]


# ---- bijectivity ------------------------------------------------------------------------------------

def test_every_small_size_is_a_permutation_exhaustively():
    for n in range(1, 700):
        for seed in (0, 1):
            assert _is_perm(epoch_permutation(seed, "d", 0, n), n), n


POWERS = {s + d for e in range(1, 21) for s in (2**e, 4**(e // 2 + 1)) for d in (-1, 0, 1)}
SPECIAL = sorted(POWERS | set(_primes(700, 800)) | {7919, 65521, 999_983, 1_000_003})


@pytest.mark.parametrize("n", [s for s in SPECIAL if s <= 1 << 21])
def test_powers_primes_and_neighbours_are_permutations(n):
    assert _is_perm(epoch_permutation(5, "web", 3, n), n)


@pytest.mark.parametrize("size", [2**31 - 1, 2**31 + 11, 10**9, 10**12, 4**20 + 1, 2**62 + 3, MAX_SIZE])
def test_big_sizes_match_the_oracle_and_invert_on_samples(size):
    rng = np.random.default_rng(size % 1000)
    pos = np.unique(np.concatenate([rng.integers(0, size, 300, dtype=np.int64),
                                    [0, 1, size - 2, size - 1]]))
    key = permutation_seed(7, "big", 2)
    got = epoch_slice(7, "big", 2, size, 0, 0)  # an empty slice is fine
    assert got.shape == (0,)
    got = permute(pos, size, key)
    assert got.dtype == np.int64 and got.min() >= 0 and got.max() < size
    want = [oracle_item(int(p), size, key) for p in pos]
    assert got.tolist() == want
    # the inverse network walks every image back to its position: injective on the sample, and every
    # item has a preimage (surjective) since the inverse maps items into [0, size) as well
    assert [oracle_item(int(y), size, key, inverse=True) for y in got] == pos.tolist()
    items = rng.integers(0, size, 100, dtype=np.int64)
    back = np.array([oracle_item(int(y), size, key, inverse=True) for y in items])
    assert np.array_equal(permute(back, size, key), items)


@pytest.mark.parametrize("size", [1, 2, 3, 4, 5, 16, 17, 100, 4097])
def test_small_sizes_match_the_oracle_everywhere(size):
    key = permutation_seed(11, "x", 1)
    assert permute(np.arange(size), size, key).tolist() == [oracle_item(p, size, key) for p in range(size)]


def test_shape_covers_the_domain_tightly():
    for n in list(range(1, 2000)) + [10**12, 2**62, MAX_SIZE]:
        a, b = feistel_shape(n)
        assert (a, b) == oracle_shape(n) if n < 2000 else True
        assert n <= a * b < n + a and b <= a <= 2**32


# ---- web scale: O(1) per draw ----------------------------------------------------------------------

def test_a_trillion_item_domain_costs_o1_memory_and_time_per_draw():
    n = 10**12
    perms = EpochPermutations(3, ("huge", "small"), np.array([n, 10]))
    perms.take(0, 0, 0, 1)  # warm up
    tracemalloc.start()
    t0 = time.perf_counter()
    tail = perms.take(0, 0, n - 5, 5)
    mid = perms.take(0, 7, 123_456_789_012, 4096)
    many = perms.items(np.array([0, 0, 1]), np.array([5 * n - 1, 10**15, 10**15]))
    elapsed = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 0.5, elapsed  # ~1 ms in practice; a materialised epoch would take hours
    assert peak < 2_000_000, peak  # bytes: O(count), nothing of size n
    assert tail.shape == (5,) and len(set(tail.tolist())) == 5 and tail.max() < n
    assert mid.shape == (4096,) and len(set(mid.tolist())) == 4096
    key = permutation_seed(3, "huge", 0)
    assert tail.tolist() == [oracle_item(p, n, key) for p in range(n - 5, n)]
    assert many[0] == oracle_item(n - 1, n, permutation_seed(3, "huge", 4))
    assert many[1] == oracle_item(0, n, permutation_seed(3, "huge", 1000))
    assert many[2] == oracle_item(0, 10, permutation_seed(3, "small", 10**14))


# ---- reproducibility and agreement of the entry points -----------------------------------------------

def test_all_entry_points_agree_and_reproduce():
    sizes = np.array([1, 2, 7, 1000, 10**9])
    names = ("one", "two", "seven", "k", "g")
    p1, p2 = EpochPermutations(9, names, sizes), EpochPermutations(9, names, sizes)
    rng = np.random.default_rng(0)
    ks = rng.integers(0, len(sizes), 3000)
    draws = rng.integers(0, 4 * sizes[ks])  # several epochs of each domain mixed in one call
    got = p1.items(ks, draws)
    epochs, offsets = draws // sizes[ks], draws % sizes[ks]
    assert np.array_equal(got, p2.take_many(ks, epochs, offsets))
    for i in range(0, 3000, 97):
        k, e, o = int(ks[i]), int(epochs[i]), int(offsets[i])
        assert got[i] == p1.take(k, e, o, 1)[0] == epoch_slice(9, names[k], e, int(sizes[k]), o, 1)[0]
        assert got[i] == permute(np.array([o]), int(sizes[k]), permutation_seed(9, names[k], e))[0]
    p1.clear()
    assert np.array_equal(p1.items(ks, draws), got)  # the cache is derived data
    for k in range(3):
        n = int(sizes[k])
        full = epoch_permutation(9, names[k], 5, n)
        assert np.array_equal(np.concatenate([p1.take(k, 5, 0, n // 2), p1.take(k, 5, n // 2, n - n // 2)]),
                              full)


def test_concurrent_calls_from_threads_return_the_same_items():
    from concurrent.futures import ThreadPoolExecutor

    sizes = np.array([3, 5, 17, 1000])
    names = ("a", "b", "c", "d")
    rng = np.random.default_rng(1)
    jobs = [(rng.integers(0, 4, 500), rng.integers(0, 50_000, 500)) for _ in range(64)]
    want = [EpochPermutations(2, names, sizes).items(ks, dr) for ks, dr in jobs]
    shared = EpochPermutations(2, names, sizes)  # one cache, epochs moving back and forth across threads
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda j: shared.items(*j), jobs))
    assert all(np.array_equal(g, w) for g, w in zip(got, want))


def test_epochs_seeds_and_domains_give_different_orders():
    n = 1000
    base = epoch_permutation(0, "web", 0, n)
    for other in (epoch_permutation(0, "web", 1, n), epoch_permutation(1, "web", 0, n),
                  epoch_permutation(0, "code", 0, n)):
        assert _is_perm(other, n)
        assert (other == base).mean() < 0.02  # ~1/n fixed points between independent orders
        assert abs(np.corrcoef(base, other)[0, 1]) < 0.15
    assert np.array_equal(base, epoch_permutation(0, "web", 0, n))


def test_shuffle_false_is_the_identity():
    perms = EpochPermutations(0, ("a", "b"), np.array([10, 10**12]), shuffle=False)
    assert perms.take(1, 4, 10**12 - 3, 3).tolist() == [10**12 - 3, 10**12 - 2, 10**12 - 1]
    assert perms.items(np.array([0, 0, 1]), np.array([3, 13, 10**12 + 4])).tolist() == [3, 3, 4]
    assert np.array_equal(epoch_permutation(0, "a", 2, 50, shuffle=False), np.arange(50))
    assert epoch_slice(0, "a", 2, 50, 7, 3, shuffle=False).tolist() == [7, 8, 9]


# ---- statistical shuffle -----------------------------------------------------------------------------

@pytest.mark.parametrize("n", [3, 7, 10, 33])
def test_every_item_is_equally_likely_at_every_position(n):
    trials = 150 * n
    table = np.zeros((n, n))
    for s in range(trials):
        table[np.arange(n), epoch_permutation(s, "d", 0, n)] += 1
    chi2 = ((table - trials / n) ** 2 / (trials / n)).sum()
    assert _stats().chi2.sf(chi2, (n - 1) ** 2) > 1e-3


def test_pairs_of_positions_are_uniform_on_a_small_domain():
    n, trials = 6, 6000
    counts = np.zeros((n, n))
    for s in range(trials):
        p = epoch_slice(s, "pair", 0, n, 0, 2)
        counts[p[0], p[1]] += 1
    assert np.trace(counts) == 0
    assert _stats().chisquare(counts[~np.eye(n, dtype=bool)]).pvalue > 1e-3


@pytest.mark.parametrize("n", [1000, 10**12])
def test_position_of_the_first_item_is_uniform_across_seeds(n):
    seeds = range(1500)
    if n <= 10**4:
        where = np.array([int(np.flatnonzero(epoch_permutation(s, "d", 0, n) == 0)[0]) for s in seeds])
    else:  # the position of item 0 is the inverse permutation at 0
        where = np.array([oracle_item(0, n, permutation_seed(s, "d", 0), inverse=True) for s in seeds])
        assert all(epoch_slice(s, "d", 0, n, int(w), 1)[0] == 0 for s, w in list(zip(seeds, where))[:50])
    assert _stats().kstest((where + 0.5) / n, "uniform").pvalue > 1e-3
    first = np.array([epoch_slice(s, "d", 0, n, 0, 1)[0] for s in seeds])  # the item at position 0
    assert _stats().kstest((first + 0.5) / n, "uniform").pvalue > 1e-3


def test_position_and_item_are_uncorrelated():
    n = 10**6
    p = epoch_permutation(1, "d", 0, n).astype(np.float64)
    pos = np.arange(n, dtype=np.float64)
    assert abs(np.corrcoef(pos, p)[0, 1]) < 0.005  # ~1/sqrt(n) = 0.001 for a random order
    assert abs(np.corrcoef(p[:-1], p[1:])[0, 1]) < 0.005
    assert abs(_stats().spearmanr(pos[:20000], p[:20000]).statistic) < 0.03
    # consecutive positions are not clustered: gaps between neighbours look like a random order's
    gaps = np.abs(np.diff(p[:100_000])) / n
    assert abs(gaps.mean() - 1 / 3) < 0.01
    # a slice of a trillion-item domain spreads over the whole range
    big = epoch_slice(1, "d", 0, 10**12, 5 * 10**11, 20000) / 10**12
    assert _stats().kstest(big, "uniform").pvalue > 1e-3


# ---- errors ------------------------------------------------------------------------------------------

def test_bad_input_is_refused_naming_the_argument():
    with pytest.raises(ValueError, match="size"):
        epoch_permutation(0, "d", 0, 0)
    with pytest.raises(ValueError, match="size"):
        EpochPermutations(0, ("a",), np.array([-3]))
    with pytest.raises(ValueError, match="size"):
        permute(np.array([0]), 2**63, 1)
    with pytest.raises(ValueError, match="sizes"):
        EpochPermutations(0, ("a", "b"), np.array([3]))
    with pytest.raises(ValueError, match="positions"):
        permute(np.array([5]), 5, 1)
    with pytest.raises(ValueError, match="start/count"):
        epoch_slice(0, "d", 0, 10, 8, 3)
    perms = EpochPermutations(0, ("a", "b"), np.array([10, 20]))
    with pytest.raises(ValueError, match="start/count"):
        perms.take(0, 0, -1, 2)
    with pytest.raises(ValueError, match="offsets"):
        perms.take_many(np.array([0, 1]), np.array([0, 0]), np.array([10, 0]))
    with pytest.raises(ValueError, match="offsets"):
        perms.take_many(np.array([0]), np.array([0]), np.array([-1]))
    with pytest.raises(ValueError, match="ks"):
        perms.items(np.array([2]), np.array([0]))
    with pytest.raises(ValueError, match="ks/epochs/offsets"):
        perms.take_many(np.array([0, 1]), np.array([0]), np.array([0, 0]))
    with pytest.raises(ValueError, match="draws"):
        perms.items(np.array([0]), np.array([-1]))
    assert "EpochPermutations(seed=0, domains=2" in repr(perms)
