"""A known mixing law, ``L(w) = c + k * exp(t . w)`` (the exponential form of Ye et al., "Data Mixing Laws",
2024; + optional seeded noise), standing in for proxy runs in tests and the ``regmix-active`` bench suite:
picklable, so it runs through the loop, process-pool and Ray backends alike."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class SyntheticLaw:
    """``names`` domains, exponents ``t`` (negative: the domain helps), offset ``c``, scale ``k``,
    Gaussian ``noise`` std seeded by the mixture itself (the same mixture always gives the same value)."""

    names: tuple[str, ...]
    t: tuple[float, ...]
    c: float = 2.0
    k: float = 1.0
    noise: float = 0.0

    def __post_init__(self) -> None:
        if len(self.names) != len(self.t) or len(self.names) < 2:
            raise ValueError("names and t must have the same length >= 2")

    def __call__(self, mixture: Mapping[str, float]) -> float:
        w = np.array([float(mixture.get(n, 0.0)) for n in self.names])
        w = w / w.sum()
        value = self.c + self.k * math.exp(float(w @ np.array(self.t)))
        if self.noise:
            digest = hashlib.sha256(np.round(w, 12).tobytes()).digest()
            rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
            value += self.noise * float(rng.normal())
        return value

    def optimum(self, caps: Sequence[float]) -> dict[str, float]:
        """Exact minimiser under per-domain caps: fill domains in order of most negative exponent."""
        w = np.zeros(len(self.names))
        left = 1.0
        for i in np.argsort(self.t):
            w[i] = min(caps[i], left)
            left -= w[i]
        return dict(zip(self.names, w.tolist()))
