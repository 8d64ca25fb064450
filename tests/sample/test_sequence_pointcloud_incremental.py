"""Padding-aware sequence mixing, Mix3D scene union, and DualMix (EnMix / AdpMix)."""

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mixkit


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- sequences
@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 8), t=st.integers(1, 12), seed=st.integers(0, 10_000),
       layout=st.sampled_from(["btd", "bct"]))
def test_seqcutmix_lam_is_exact_fraction_of_own_real_tokens(n, t, seed, layout):
    g = _gen(seed)
    lengths = torch.randint(0, t + 1, (n,), generator=g)
    # every token carries its (row, position) identity so we can see where it came from
    ids = (torch.arange(n).view(-1, 1) * 100 + torch.arange(t).view(1, -1)).float()
    x = ids.unsqueeze(-1).expand(n, t, 2) if layout == "btd" else ids.unsqueeze(1).expand(n, 2, t)
    x = x.clone()
    mixer = mixkit.SeqCutMix(alpha=1.0, seq_dim=1 if layout == "btd" else -1, mode="elem")
    out = mixer(x, torch.arange(n), generator=g, lengths=lengths)
    got = out.x[..., 0] if layout == "btd" else out.x[:, 0, :]
    real = torch.arange(t).view(1, -1) < lengths.view(-1, 1)
    own = (got // 100 == torch.arange(n).view(-1, 1)) & (got % 100 == torch.arange(t).view(1, -1))
    from_partner = got // 100 == out.index.view(-1, 1).float()
    assert bool((own | from_partner).all())
    assert torch.equal(got[~real], ids[~real])  # padding untouched
    pasted = ~own & real
    # partner tokens come from the partner's real positions, at the same positions
    assert bool((got[pasted] % 100 < lengths[out.index].view(-1, 1).expand(n, t)[pasted]).all())
    n_real = real.sum(1).float()
    want = torch.where(n_real > 0, 1 - pasted.sum(1) / n_real.clamp_min(1), torch.ones(n))
    torch.testing.assert_close(out.lam, want)
    assert torch.equal(out.extras["padding_mask"], ~real)


def test_seqmix_never_mixes_with_padding_and_reports_exact_share():
    x = torch.tensor([[[1.0], [1.0], [1.0], [1.0]], [[3.0], [3.0], [0.0], [0.0]]])  # row 1 has length 2
    pad = torch.tensor([[False, False, False, False], [False, False, True, True]])
    mixer = mixkit.SeqMixUp(alpha=1.0, pairing="flip")
    out = mixer(x, torch.tensor([0, 1]), generator=_gen(3), padding_mask=pad)
    lam = float(out.lam[1])  # row 1 is fully covered by row 0 -> its share is the drawn lam
    torch.testing.assert_close(out.x[1, :2, 0], torch.full((2,), lam * 3 + (1 - lam) * 1))
    torch.testing.assert_close(out.x[1, 2:, 0], torch.zeros(2))  # own padding kept
    # row 0: positions 2, 3 face padding in the partner and stay its own
    torch.testing.assert_close(out.x[0, 2:, 0], torch.ones(2))
    lam0 = (2 * lam + 2) / 4
    torch.testing.assert_close(out.lam[0], torch.tensor(lam0))
    with pytest.raises(ValueError, match="padding_mask"):
        mixer(x, None, padding_mask=pad.float())
    with pytest.raises(ValueError, match="lengths"):
        mixer(x, None, lengths=torch.tensor([5, 1]))
    with pytest.raises(ValueError, match="seq_dim"):
        mixkit.SeqMixUp(seq_dim=0)


# ----------------------------------------------------------------------------- Mix3D
def test_mix3d_union_keeps_point_labels_and_centres_scenes():
    g = _gen(4)
    pts = torch.randn(3, 5, 6, generator=g) + torch.tensor([10.0, -4.0, 2.0, 0, 0, 0])
    labels = torch.randint(0, 20, (3, 5), generator=g)
    out = mixkit.build("mix3d")(pts, labels, generator=g)
    assert out.x.shape == (3, 10, 6) and out.y.shape == (3, 10)
    assert torch.equal(out.y[:, :5], labels) and torch.equal(out.y[:, 5:], labels[out.index])
    torch.testing.assert_close(out.x[:, :5, :3].mean(1), torch.zeros(3, 3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.x[:, 5:, 3:], pts[out.index][..., 3:])  # features copied unchanged
    # centred coordinates are the original ones shifted per scene
    shifted = pts[..., :3] - pts[..., :3].mean(1, keepdim=True)
    torch.testing.assert_close(out.x[:, 5:, :3], shifted[out.index])


def test_mix3d_padding_and_prob():
    pts = torch.randn(4, 6, 3)
    valid = torch.ones(4, 6, dtype=torch.bool)
    valid[:, 4:] = False
    pts[:, 4:] = 1e6  # padding must not move the centre
    out = mixkit.Mix3D(prob=0.0)(pts, torch.zeros(4, 6, dtype=torch.long), generator=_gen(1), valid=valid)
    assert not bool(out.valid[:, 6:].any()) and bool((out.y[:, 6:] == -100).all())
    torch.testing.assert_close(out.x[:, :4].mean(1), torch.zeros(4, 3), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="labels"):
        mixkit.Mix3D()(pts, torch.zeros(4, 5, dtype=torch.long))


# ----------------------------------------------------------------------------- DualMix
def test_enmix_mixes_augmented_stream_and_replay():
    x_new, y_new = torch.randn(4, 3), torch.tensor([5, 5, 6, 6])
    x_old, y_old = torch.randn(3, 3), torch.tensor([0, 1, 2])
    flip = lambda t: -t
    out = mixkit.EnMix(alpha=1.0, augment=flip, mode="elem")(x_new, y_new, x_old, y_old, generator=_gen(2))
    x_all = -torch.cat([x_new, x_old])
    lam = out.lam.view(-1, 1)
    torch.testing.assert_close(out.x, lam * x_all + (1 - lam) * x_all[out.index])
    assert torch.equal(out.y, torch.cat([y_new, y_old])) and out.extras["num_stream"] == 4


def test_adpmix_cross_pairs_and_adapts_label_weight_toward_rare_classes():
    torch.manual_seed(0)
    x_new, y_new = torch.randn(6, 2), torch.tensor([8, 8, 8, 9, 9, 9])
    x_old, y_old = torch.randn(2, 2), torch.tensor([0, 1])
    mixer = mixkit.AdpMix(num_classes=10, alpha=1.0, gamma=1.0)
    out = mixer(x_new, y_new, x_old, y_old, generator=_gen(3))
    # stream rows are paired with replay rows and vice versa
    assert bool((out.index[:6] >= 6).all()) and bool((out.index[6:] < 6).all())
    lam_in = out.extras["input_lam"]
    lam_in_v = lam_in.view(-1, 1)
    x_all = torch.cat([x_new, x_old])
    torch.testing.assert_close(out.x, lam_in_v * x_all + (1 - lam_in_v) * x_all[out.index])
    # counts: classes 8, 9 seen 3 times, classes 0, 1 once -> new-class rows give more label to the old class
    w = {8: 1 / 3, 9: 1 / 3, 0: 1.0, 1: 1.0}
    y_all = torch.cat([y_new, y_old])
    for i in range(8):
        a, b, lam = int(y_all[i]), int(y_all[out.index[i]]), float(lam_in[i])
        want = lam * w[a] / (lam * w[a] + (1 - lam) * w[b])
        assert float(out.lam[i]) == pytest.approx(want, rel=1e-5)
    assert bool((out.lam[:6] <= lam_in[:6] + 1e-6).all()) and bool((out.lam[6:] >= lam_in[6:] - 1e-6).all())
    # gamma = 0 is plain mixup labels
    flat = mixkit.AdpMix(num_classes=10, gamma=0.0)(x_new, y_new, x_old, y_old, generator=_gen(3))
    torch.testing.assert_close(flat.lam, flat.extras["input_lam"])
    # first task: no replay data, nothing mixed
    first = mixer(x_new, y_new, generator=_gen(4))
    assert not first.extras["mixing"] and bool((first.lam == 1).all())
    with pytest.raises(ValueError, match="y_old"):
        mixer(x_new, y_new, x_old, None)


def test_sequence_mixers_accept_extra_feature_axes_and_unaligned_padding():
    g = _gen(7)
    x = torch.randn(4, 6, 2, 3, generator=g)  # [B, T, 2, 3]
    pad = torch.rand(4, 6, generator=g) < 0.3  # padding anywhere, not only at the end
    out = mixkit.SeqMixUp(alpha=1.0, mode="elem")(x, None, generator=g, padding_mask=pad)
    both = ~pad & ~pad[out.index]
    only_own = ~pad & pad[out.index]
    assert both.any()
    # reported lam = (drawn * n_both + n_only_own) / n_real, so the drawn weight is recovered from it
    n_real, n_both, n_only = (~pad).sum(1), both.sum(1), only_own.sum(1)
    drawn = (n_real * out.lam - n_only) / n_both.clamp_min(1)
    lam = drawn.view(-1, 1, 1, 1).expand_as(x)
    want = lam * x + (1 - lam) * x[out.index]
    torch.testing.assert_close(out.x[both], want[both])  # interpolated where both rows are real
    assert torch.equal(out.x[pad], x[pad])  # padding positions untouched
    assert torch.equal(out.x[only_own], x[only_own])  # never mixed with the partner's padding
    cut = mixkit.SeqCutMix(alpha=1.0, seq_dim=-1, mode="elem")(x.transpose(1, 3), None, generator=g,
                                                              padding_mask=pad)
    assert cut.x.shape == (4, 3, 2, 6) and torch.equal(cut.x.transpose(1, 3)[pad], x[pad])


def test_adpmix_without_num_classes_and_declared_tasks():
    mixer = mixkit.AdpMix(gamma=1.0)
    out = mixer(torch.randn(4, 2), torch.tensor([3, 3, 4, 4]), torch.randn(2, 2), torch.tensor([0, 1]),
                generator=_gen(8))
    assert mixer.counts.tolist() == [1, 1, 0, 2, 2]
    assert bool((out.lam[:4] <= out.extras["input_lam"][:4] + 1e-6).all())
    assert mixkit.AdpMix.tasks == {"class_incremental"} and mixkit.Mix3D.tasks == {"point_cloud_segmentation"}
    assert mixkit.CMixup.tasks == {"regression"} and mixkit.SeqCutMix.tasks == {"sequence"}


@pytest.mark.parametrize("mixer_cls", [mixkit.SeqMixUp, mixkit.SeqCutMix, mixkit.MixUp])
@pytest.mark.parametrize("pairing", ["roll", "permute"])
def test_mixers_backpropagate_into_inputs_that_require_grad(mixer_cls, pairing):
    # token embeddings / hidden features require grad: the out= lerp kernels must not be used then
    emb = torch.randn(6, 5, 3, requires_grad=True)
    y = torch.arange(6)
    kw = {"lengths": torch.tensor([5, 3, 4, 1, 5, 2])} if mixer_cls is not mixkit.MixUp else {}
    mixed = mixer_cls(alpha=1.0, pairing=pairing)(emb, y, generator=_gen(0), **kw)
    assert mixed.x.requires_grad
    mixed.x.sum().backward()
    # every element flows into the output with total weight 1 (own share + partner shares), so grad sums to N
    assert emb.grad is not None
    assert torch.isclose(emb.grad.sum(), torch.tensor(float(emb.numel())), atol=1e-4)
    with torch.no_grad():
        again = mixer_cls(alpha=1.0, pairing=pairing)(emb.detach(), y, generator=_gen(0), **kw)
    assert torch.allclose(mixed.x.detach(), again.x)
