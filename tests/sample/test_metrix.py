"""Metrix's properties: the mixed label weight moves the loss, gradients flow, seeds replay, errors."""

import pytest
import torch
import torch.nn.functional as F

from mixkit.sample.losses.metrix import (
    metrix_embedding_loss,
    metrix_mix,
    metrix_pairs,
    mixed_contrastive_loss,
    mixed_multi_similarity_loss,
    mixed_proxy_anchor_loss,
)


def test_clean_weights_reduce_to_the_plain_losses():
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(6, 4, generator=g), torch.randn(6, 4, generator=g)
    v = torch.tensor([1.0, 1, 0, 0, 1, 0])
    d = (F.normalize(a, dim=1) - F.normalize(b, dim=1)).norm(dim=1)
    pos = d[v == 1]
    neg = F.relu(0.5 - d[v == 0])
    want = pos.sum() / (pos > 0).sum() + (neg.sum() / (neg > 0).sum() if bool((neg > 0).any()) else 0)
    torch.testing.assert_close(mixed_contrastive_loss(a, b, v), torch.as_tensor(want, dtype=torch.float32))


def test_a_mixture_closer_to_its_positive_share_lowers_the_loss():
    anchor = torch.tensor([[1.0, 0.0]])
    near, far = torch.tensor([[0.9, 0.1]]), torch.tensor([[0.0, 1.0]])
    for fn in (lambda x, v: mixed_contrastive_loss(anchor, x, v),
               lambda x, v: mixed_multi_similarity_loss(anchor, x, v, torch.zeros(1, dtype=torch.long))):
        assert fn(near, torch.tensor([0.9])) < fn(far, torch.tensor([0.9]))
        assert fn(far, torch.tensor([0.1])) < fn(near, torch.tensor([0.1]))


@pytest.mark.parametrize("loss", ["contrastive", "multi_similarity", "proxy_anchor"])
def test_embedding_loss_trains_and_replays(loss):
    g = torch.Generator().manual_seed(0)
    emb = torch.randn(8, 5, generator=g, requires_grad=True)
    labels = torch.tensor([0, 0, 1, 1, 2, 2, 3, 3])
    proxies = torch.randn(4, 5, generator=g, requires_grad=True)
    a = metrix_embedding_loss(emb, labels, loss=loss, proxies=proxies,
                              generator=torch.Generator().manual_seed(3))
    b = metrix_embedding_loss(emb, labels, loss=loss, proxies=proxies,
                              generator=torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.dim() == 0 and torch.isfinite(a)
    a.backward()
    assert emb.grad is not None and float(emb.grad.abs().sum()) > 0


def test_random_kind_uses_both_forms_and_mix_takes_tensor_lam():
    labels = torch.tensor([0, 0, 1, 1])
    seen = {metrix_pairs(labels, "random", torch.Generator().manual_seed(s))[0].numel()
            - (metrix_pairs(labels, "random", torch.Generator().manual_seed(s))[1]
               == metrix_pairs(labels, "random", torch.Generator().manual_seed(s))[0]).sum().item()
            for s in range(20)}
    assert len(seen) == 2
    x = torch.randn(4, 3, 2, 2)
    lam = torch.tensor([0.2, 0.8])
    out = metrix_mix(x, torch.tensor([0, 1]), torch.tensor([2, 3]), lam)
    torch.testing.assert_close(out[1], 0.8 * x[1] + 0.2 * x[3])


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="kind"):
        metrix_pairs(torch.tensor([0, 1]), "both")
    with pytest.raises(ValueError, match="labels"):
        metrix_pairs(torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="proxies"):
        metrix_embedding_loss(torch.randn(2, 3), torch.tensor([0, 1]), loss="proxy_anchor")
    with pytest.raises(ValueError, match="loss"):
        metrix_embedding_loss(torch.randn(2, 3), torch.tensor([0, 1]), loss="triplet")
    with pytest.raises(ValueError, match="targets"):
        mixed_proxy_anchor_loss(torch.randn(2, 3), torch.ones(2, 5), torch.randn(4, 3))
