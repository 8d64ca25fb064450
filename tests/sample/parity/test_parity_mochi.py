"""MoCHi against an oracle written from the paper's equations (Kalantidis et al., NeurIPS 2020, sec. 4):
per query, sort the queue by ``q . n``, keep the ``N`` hardest, mix pairs ``a n_i + (1 - a) n_j`` and the
query ``b q + (1 - b) n_j`` (``b < 1/2``), L2-normalise, append to the InfoNCE logits."""

import math

import pytest
import torch
import torch.nn.functional as F

from mixkit.sample.losses.mochi import mochi_loss, mochi_negatives


def unit(b, d, seed):
    g = torch.Generator().manual_seed(seed)
    return F.normalize(torch.randn(b, d, generator=g, dtype=torch.float64), dim=1)


def draws(b, n, s, s2, seed):
    """The documented draw order: first index, offset to the distinct second, a, query-mix index, b."""
    g = torch.Generator().manual_seed(seed)
    first = torch.randint(n, (b, s), generator=g)
    offset = torch.randint(max(n - 1, 1), (b, s), generator=g) + 1
    alpha = torch.rand(b, s, 1, generator=g)
    third = torch.randint(n, (b, s2), generator=g)
    beta = 0.5 * torch.rand(b, s2, 1, generator=g)
    return first, offset, alpha, third, beta


def oracle_negatives(q, queue, n, s, s2, seed):
    first, offset, alpha, third, beta = draws(q.shape[0], n, s, s2, seed)
    out = []
    for i in range(q.shape[0]):
        sims = [float(q[i] @ queue[j]) for j in range(queue.shape[0])]
        order = sorted(range(len(sims)), key=lambda j: -sims[j])[:n]   # the N hardest, hardest first
        rows = []
        for k in range(s):
            a = float(alpha[i, k])
            ni, nj = queue[order[int(first[i, k])]], queue[order[(int(first[i, k]) + int(offset[i, k])) % n]]
            h = a * ni + (1 - a) * nj
            rows.append(h / h.norm())
        for k in range(s2):
            b = float(beta[i, k])
            h = b * q[i] + (1 - b) * queue[order[int(third[i, k])]]
            rows.append(h / h.norm())
        out.append(torch.stack(rows))
    return torch.stack(out)


@pytest.mark.parametrize("n,s,s2", [(4, 6, 3), (7, 2, 0), (2, 0, 5), (10, 12, 12)])
def test_negatives_match_the_paper_oracle(n, s, s2):
    q, queue = unit(5, 8, 0), unit(10, 8, 1)
    got = mochi_negatives(q, queue, n_hard=n, s=s, s_prime=s2, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(got, oracle_negatives(q, queue, n, s, s2, 3))


def test_loss_matches_infonce_with_the_synthetic_negatives_appended():
    q, k, queue = unit(6, 8, 0), unit(6, 8, 1), unit(16, 8, 2)
    n, s, s2, tau = 5, 4, 3, 0.2
    h = oracle_negatives(q, queue, n, s, s2, 7)
    want = 0.0
    for i in range(6):
        logits = [float(q[i] @ k[i])] + [float(q[i] @ v) for v in queue] + [float(q[i] @ v) for v in h[i]]
        logits = [z / tau for z in logits]
        want += math.log(sum(math.exp(z) for z in logits)) - logits[0]
    got = mochi_loss(q, k, queue, temperature=tau, n_hard=n, s=s, s_prime=s2,
                     generator=torch.Generator().manual_seed(7))
    torch.testing.assert_close(got.double(), torch.tensor(want / 6, dtype=torch.float64))


def test_without_synthetic_negatives_it_is_moco_infonce():
    q, k, queue = unit(4, 8, 0).float(), unit(4, 8, 1).float(), unit(9, 8, 2).float()
    logits = torch.cat([(q * k).sum(1, keepdim=True), q @ queue.T], 1) / 0.2
    want = F.cross_entropy(logits, torch.zeros(4, dtype=torch.long))
    torch.testing.assert_close(mochi_loss(q, k, queue, n_hard=3, s=0, s_prime=0), want)
