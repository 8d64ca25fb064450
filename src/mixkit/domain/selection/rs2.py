"""RS2, repeated random sampling (Okanovic, Waleffe, Mageirakos, Nikolakakis, Karbasi, Kalogerias,
Gurel, Rekatsinas 2023, "Repeated Random Sampling for Minimizing the Time-to-Accuracy of Learning",
https://arxiv.org/abs/2305.18424; release github.com/PatrikOkanovic/RS2, file
``src/DeepCore/deepcore/methods/uniform_no_replacement.py`` and the per-round loop of
``src/DeepCore/main_pe.py``).

Each round (the release's "epoch") trains on a fresh random subset of ``m = round(fraction * n)`` examples.
Without replacement (the paper's recommended RS2): a pass draws one random permutation of the ``n``
examples and the rounds take its consecutive blocks of ``m``, so no example repeats before all were seen;
the last block of a pass, when ``m`` does not divide ``n``, is filled up from the start of the same
permutation (as released), and the next round starts a new pass. With ``replace=True`` (the paper's
RS2 with replacement) every round draws an independent random subset. Inside a round the order is
shuffled again, as the release's ``DataLoader(shuffle=True)`` does.

The learning-rate schedule runs over the reduced budget: ``rounds x ceil(m / batch_size)`` steps
(:func:`rs2_schedule_steps`), e.g. ``CosineAnnealingLR(opt, T_max=rs2_schedule_steps(...))``.

Deviations: the release advances the block end modulo ``n + 1``, which makes the wrapped last block of a
pass one example short; here every round has exactly ``m`` examples. The release sizes its cosine schedule
with ``len(range(round(fraction * n)))`` (examples, not batches) times the epochs; the paper's stated rule,
followed here, is the schedule over the steps actually taken. Randomness comes from ``seed`` (or one draw
from ``generator``), and each pass and round has its own generator derived from it, so a state of four
integers restores the stream exactly, mid-round included.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch.utils.data import Sampler

from mixkit.domain.selection._state import check_kind, pass_generator, seed_from, state_int

_ROUND_STREAM = 1 << 40  # generator index offset of the within-round shuffles (disjoint from passes)


def subset_size(n: int, fraction: float) -> int:
    """``round(fraction * n)``, at least 1 (the release's coreset size)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive int, got {n!r}")
    try:
        f = float(fraction)
    except (TypeError, ValueError):
        raise TypeError(f"fraction must be a number, got {fraction!r}") from None
    if not (0 < f <= 1):
        raise ValueError(f"fraction must be in (0, 1], got {fraction!r}")
    return max(1, min(n, int(round(f * n))))


def rs2_schedule_steps(n: int, fraction: float, rounds: int, batch_size: int, drop_last: bool = False) -> int:
    """Optimizer steps of ``rounds`` RS2 rounds: the length to give the learning-rate schedule."""
    if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 1:
        raise ValueError(f"rounds must be a positive int, got {rounds!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    m = subset_size(n, fraction)
    per_round = m // batch_size if drop_last else math.ceil(m / batch_size)
    return rounds * per_round


class RS2Sampler(Sampler[int]):
    """Indices of the training examples for RS2 rounds; one ``iter()`` is one round of ``len(self)``.

    Args:
        n: number of training examples.
        fraction: selection ratio per round (the paper's ``r``; e.g. 0.1).
        seed / generator: the randomness (give one).
        replace: ``False`` (default, RS2 without replacement) or ``True`` (independent subsets).
        shuffle: shuffle the order inside a round (default ``True``, like the release's loader).

    ``round_indices(r)`` -> ``int64 [m]`` is the subset of round ``r`` in the order it is yielded.
    ``state_dict(consumed=None)`` / ``load_state_dict``: plain ints; ``consumed`` is how many indices of
    the current round the training loop used (default: as many as were yielded), so a loader that reads
    ahead resumes exactly where training stopped.
    """

    def __init__(self, n: int, fraction: float, seed: int | None = None,
                 generator: torch.Generator | None = None, replace: bool = False,
                 shuffle: bool = True) -> None:
        self.n = int(n) if not isinstance(n, bool) and isinstance(n, int) else n
        self.m = subset_size(n, fraction)
        self.fraction = float(fraction)
        self.seed = seed_from(seed, generator)
        self.replace = bool(replace)
        self.shuffle = bool(shuffle)
        self.round = 0
        self.position = 0

    @property
    def rounds_per_pass(self) -> int:
        """Rounds until every example was used once (without replacement)."""
        return math.ceil(self.n / self.m)

    def __len__(self) -> int:
        return self.m

    def __repr__(self) -> str:
        return (f"RS2Sampler(n={self.n}, fraction={self.fraction:.4g}, m={self.m}, replace={self.replace}, "
                f"shuffle={self.shuffle}, seed={self.seed}, round={self.round}, position={self.position})")

    def _pass_permutation(self, p: int) -> torch.Tensor:
        return torch.randperm(self.n, generator=pass_generator(self.seed, p))

    def round_indices(self, r: int) -> torch.Tensor:
        """The examples of round ``r`` (``int64 [m]``), in yield order."""
        if isinstance(r, bool) or not isinstance(r, int) or r < 0:
            raise ValueError(f"round must be an int >= 0, got {r!r}")
        if self.replace:
            chosen = self._pass_permutation(r)[: self.m]
        else:
            p, j = divmod(r, self.rounds_per_pass)
            perm = self._pass_permutation(p)
            chosen = perm[(j * self.m + torch.arange(self.m)) % self.n]
        if self.shuffle:
            chosen = chosen[torch.randperm(self.m, generator=pass_generator(self.seed, _ROUND_STREAM + r))]
        return chosen

    def __iter__(self) -> Iterator[int]:
        r, start = self.round, self.position
        idx = self.round_indices(r).tolist()
        for i in range(start, self.m):
            self.position = i + 1
            yield idx[i]
        self.round, self.position = r + 1, 0

    def state_dict(self, consumed: int | None = None) -> dict[str, Any]:
        """JSON-safe state; ``consumed`` (0..m) overrides the position in the current round."""
        pos = self.position if consumed is None else consumed
        if isinstance(pos, bool) or not isinstance(pos, int) or not 0 <= pos <= self.m:
            raise ValueError(f"consumed must be an int in [0, {self.m}], got {consumed!r}")
        r = self.round
        if pos == self.m:
            r, pos = r + 1, 0
        return {"kind": "RS2Sampler", "n": self.n, "m": self.m, "seed": self.seed, "replace": self.replace,
                "shuffle": self.shuffle, "round": r, "position": pos}

    def load_state_dict(self, state: Mapping[str, Any]) -> None:
        """Restore a :meth:`state_dict` (``ValueError`` names a bad or mismatched field)."""
        check_kind(state, "RS2Sampler")
        for name, mine in (("n", self.n), ("m", self.m)):
            if state_int(state, name, 1) != mine:
                raise ValueError(f"state field {name!r} is {state[name]}, this sampler has {mine}")
        for name in ("replace", "shuffle"):
            if not isinstance(state.get(name), bool):
                raise ValueError(f"state field {name!r} must be a bool, got {state.get(name)!r}")
        seed = state_int(state, "seed")
        rnd = state_int(state, "round")
        pos = state_int(state, "position")
        if pos >= self.m:
            raise ValueError(f"state field 'position' must be < {self.m}, got {pos}")
        self.seed, self.round, self.position = seed, rnd, pos
        self.replace, self.shuffle = state["replace"], state["shuffle"]
