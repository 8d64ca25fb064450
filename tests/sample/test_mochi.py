"""MoCHi's properties: hardness, the query share below one half, no gradient through the synthetic points."""

import pytest
import torch
import torch.nn.functional as F

from mixkit.sample.losses.mochi import mochi_loss, mochi_negatives


def unit(b, d, seed):
    return F.normalize(torch.randn(b, d, generator=torch.Generator().manual_seed(seed)), dim=1)


def test_mixed_negatives_are_harder_than_the_average_negative_and_unit_norm():
    q, queue = unit(8, 16, 0), unit(256, 16, 1)
    h = mochi_negatives(q, queue, n_hard=16, s=32, s_prime=16, generator=torch.Generator().manual_seed(0))
    assert h.shape == (8, 48, 16)
    torch.testing.assert_close(h.norm(dim=-1), torch.ones(8, 48))
    sim_h = torch.einsum("bd,bsd->bs", q, h)
    sim_queue = q @ queue.T
    assert bool((sim_h[:, :32].mean(1) > sim_queue.mean(1) + 0.2).all())
    # the query mixtures are closer to the query than the hardest negative they were mixed with
    hardest = sim_queue.max(1).values
    assert bool((sim_h[:, 32:].min(1).values > sim_queue.topk(16, 1).values[:, -1] - 1e-6).all())
    assert bool((sim_h[:, 32:] <= 1.0 + 1e-6).all()) and bool((hardest <= 1).all())


def test_query_share_stays_below_one_half():
    # queue orthogonal to the query: h' = (b q + (1 - b) n) / norm, so q . h' / n . h' = b / (1 - b) < 1
    q = torch.eye(6)[:1]
    queue = torch.eye(6)[1:]
    h = mochi_negatives(q, queue, n_hard=5, s=0, s_prime=200, generator=torch.Generator().manual_seed(1))
    own = h[0] @ q[0]
    other = (h[0] @ queue.T).max(1).values
    ratio = own / other
    assert bool((ratio < 1).all()) and float(ratio.max()) > 0.8  # b spans (0, 1/2)


def test_pairs_are_distinct_members_of_the_hard_set():
    q = torch.eye(4)[:1]
    queue = F.normalize(torch.tensor([[1.0, 1, 0, 0], [1, 0, 1, 0], [0, 1, 1, 0], [0, 0, 0, 1]]), dim=1)
    h = mochi_negatives(q, queue, n_hard=2, s=50, s_prime=0, generator=torch.Generator().manual_seed(2))
    # the two hardest are rows 0 and 1; mixtures of distinct pairs never equal a queue row
    assert bool((h[0, :, 3].abs() < 1e-6).all())
    assert bool((h[0, :, 2] > 0).all()) and bool((h[0, :, 1] > 0).all())


def test_gradient_reaches_the_query_only_and_seeds_replay():
    q = unit(4, 8, 0).requires_grad_()
    k, queue = unit(4, 8, 1).requires_grad_(), unit(32, 8, 2).requires_grad_()
    loss = mochi_loss(q, k, queue, n_hard=8, s=8, s_prime=4, generator=torch.Generator().manual_seed(0))
    loss.backward()
    assert q.grad is not None and k.grad is None and queue.grad is None
    a = mochi_negatives(q, queue, n_hard=8, s=8, s_prime=4, generator=torch.Generator().manual_seed(5))
    b = mochi_negatives(q, queue, n_hard=8, s=8, s_prime=4, generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not a.requires_grad
    per_row = mochi_loss(q, k, queue, n_hard=8, s=8, s_prime=4, reduction="none",
                         generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(per_row.mean(), loss)


def test_bad_input_names_the_argument():
    q, queue = unit(2, 4, 0), unit(5, 4, 1)
    with pytest.raises(ValueError, match="n_hard"):
        mochi_negatives(q, queue, n_hard=6, s=1)
    with pytest.raises(ValueError, match="queue"):
        mochi_negatives(q, unit(5, 3, 1))
    with pytest.raises(ValueError, match="temperature"):
        mochi_loss(q, q, queue, temperature=0)
    with pytest.raises(ValueError, match="s_prime"):
        mochi_negatives(q, queue, n_hard=2, s_prime=-1)
    with pytest.raises(ValueError, match="reduction"):
        mochi_loss(q, q, queue, n_hard=2, reduction="max")
