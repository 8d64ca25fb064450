"""Helpers the sample parity tests share: a two-sample Kolmogorov-Smirnov check for draws, the tiny staged
model and the written-out cross-entropy of the AutoMix and AdAutoMix oracles."""

import math

import numpy as np
import torch
from torch import nn


def ks_ok(a, b, c_alpha=1.95):
    """Two-sample KS test at level 0.001: True when the samples ``a`` and ``b`` may share one law."""
    a, b = np.sort(np.asarray(a, float)), np.sort(np.asarray(b, float))
    grid = np.concatenate([a, b])
    cdf_a, cdf_b = np.searchsorted(a, grid, "right") / len(a), np.searchsorted(b, grid, "right") / len(b)
    d = np.max(np.abs(cdf_a - cdf_b))
    return d < c_alpha * math.sqrt((len(a) + len(b)) / (len(a) * len(b)))



class Staged(nn.Module):
    """Three stages; forward_stages -> [B,4,8,8], [B,6,4,4], [B,6,4,4]; head on the last."""

    def __init__(self):
        super().__init__()
        self.s1 = nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.s2 = nn.Sequential(nn.Conv2d(4, 6, 3, padding=1), nn.BatchNorm2d(6), nn.ReLU(), nn.MaxPool2d(2))
        self.s3 = nn.Sequential(nn.Conv2d(6, 6, 3, padding=1), nn.ReLU())
        self.fc = nn.Linear(6, 5)

    def forward_stages(self, x):
        a = self.s1(x)
        b = self.s2(a)
        return [a, b, self.s3(b)]

    def forward_features(self, x):
        return self.forward_stages(x)[-1]

    def head(self, f):
        return self.fc(f.mean((2, 3)))

    def forward(self, x):
        return self.head(self.forward_features(x))


def oracle_ce(logits, y):
    """CE per row, written out."""
    return torch.stack([torch.logsumexp(logits[r], 0) - logits[r, y[r]] for r in range(len(y))])
