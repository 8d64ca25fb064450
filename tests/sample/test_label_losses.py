"""Decoupled Mixup, RankMixup (MRL, M-NDCG, step), MixOE, label smoothing with mixing, MixUntil."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import mixkit
from mixkit.sample import ModelAwareMixer
from mixkit.sample.losses import (
    decoupled_mixup_loss,
    decoupled_regularizer,
    mixoe_loss,
    mixoe_targets,
    mixup_ranking_loss,
    mndcg_loss,
)


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


# ----------------------------------------------------------------------------- Decoupled Mixup
def test_decoupled_regularizer_by_hand():
    z = torch.tensor([[2.0, 1.0, 0.0]])
    a, b = torch.tensor([0]), torch.tensor([1])
    # -log(e^2 / (e^2 + e^0)) - log(e^1 / (e^1 + e^0))
    want = -math.log(math.exp(2) / (math.exp(2) + 1)) - math.log(math.e / (math.e + 1))
    torch.testing.assert_close(decoupled_regularizer(z, a, b), torch.tensor(want))
    assert float(decoupled_regularizer(z, a, a)) == 0.0


def test_decoupled_regularizer_does_not_penalise_the_partner_class():
    # confident in both mixed classes: the decoupled term is small although softmax splits the mass
    z = torch.tensor([[10.0, 10.0, -10.0, -10.0]])
    reg = decoupled_regularizer(z, torch.tensor([0]), torch.tensor([1]))
    assert float(reg) < 1e-3
    assert float(F.cross_entropy(z, torch.tensor([0]))) > 0.69


def test_decoupled_mixup_loss_adds_eta_times_regularizer():
    x, y = torch.randn(8, 4, generator=_gen(1)), torch.randint(0, 5, (8,), generator=_gen(2))
    out = mixkit.MixUp(alpha=1.0, mode="elem")(x, y, generator=_gen(3))
    logits = torch.randn(8, 5, generator=_gen(4))
    reg = decoupled_regularizer(logits, y, y[out.index])
    torch.testing.assert_close(decoupled_mixup_loss(logits, out, eta=0.3, eta_mode="both"),
                               out.loss(logits) + 0.3 * reg)
    torch.testing.assert_close(decoupled_mixup_loss(logits, out, eta=0.0), out.loss(logits))
    with pytest.raises(ValueError, match="eta"):
        decoupled_mixup_loss(logits, out, eta=-1)
    with pytest.raises(ValueError, match="eta_mode"):
        decoupled_mixup_loss(logits, out, eta_mode="all")
    with pytest.raises(ValueError, match="eta_thr"):
        decoupled_mixup_loss(logits, out, eta_thr=1.5)


def test_decoupled_default_puts_eta_on_the_smaller_share_only():
    logits = torch.randn(4, 6, generator=_gen(5))
    y = torch.tensor([0, 1, 2, 3])
    index = torch.tensor([1, 0, 3, 2])
    lam = torch.tensor([0.2, 0.8, 0.3, 0.3])
    out = mixkit.MixedBatch(x=torch.zeros(4, 1), index=index, lam=lam, y=y)
    a_term = decoupled_regularizer(logits, y, y[index], reduction="none")
    default = decoupled_mixup_loss(logits, out, eta=1.0, reduction="none")
    both = decoupled_mixup_loss(logits, out, eta=1.0, eta_mode="both", reduction="none")
    base = out.loss(logits, reduction="none")
    torch.testing.assert_close(both - base, a_term)
    assert bool(((default - base) < (both - base)).all())  # one of the two terms only


# ----------------------------------------------------------------------------- RankMixup
def test_mrl_compares_max_logits_with_a_margin():
    raw = torch.tensor([[4.0, 0.0, 0.0], [0.0, 3.0, 0.0]])
    mixed = torch.tensor([[1.0, 0.5, 0.0], [0.0, 0.5, 0.8]])
    assert float(mixup_ranking_loss(raw, mixed, margin=0.0)) == 0.0
    assert float(mixup_ranking_loss(mixed, raw, margin=0.0)) > 0.0
    # default margin 2.0 on the logits: row 0 is 3.0 below (free), row 1 only 2.2 below (free)
    assert float(mixup_ranking_loss(raw, mixed)) == 0.0
    torch.testing.assert_close(mixup_ranking_loss(raw, mixed, margin=2.5, reduction="none"),
                               torch.tensor([0.0, 0.3]))
    with pytest.raises(ValueError, match="score"):
        mixup_ranking_loss(raw, mixed, score="prob")


def test_mrl_masks_same_class_pairs_batch_or_row():
    raw, mixed = torch.zeros(4, 3), torch.zeros(4, 3)
    valid = torch.tensor([True, False, True, True])
    # every hinge is the margin; release: margin * fraction valid; row: zero on the masked row
    assert float(mixup_ranking_loss(raw, mixed, 1.0, valid)) == pytest.approx(0.75)
    per_row = mixup_ranking_loss(raw, mixed, 1.0, valid, mask="row", reduction="none")
    torch.testing.assert_close(per_row, torch.tensor([1.0, 0.0, 1.0, 1.0]))


def test_mndcg_zero_iff_confidences_equal_label_values():
    rel = torch.tensor([[1.0, 0.8, 0.6]])
    assert float(mndcg_loss(rel.clone(), rel)) == pytest.approx(0.0, abs=1e-7)
    # ordered like the labels but over-confident: penalised (symmetric ratio)
    over = torch.tensor([[1.0, 1.0, 1.0]])
    assert float(mndcg_loss(over, rel)) > 0.1
    under = torch.tensor([[0.5, 0.4, 0.3]])
    assert float(mndcg_loss(under, rel)) > 0.1


@settings(max_examples=30, deadline=None)
@given(m=st.integers(2, 6), seed=st.integers(0, 10_000))
def test_mndcg_in_unit_interval_and_zero_at_the_label_values(m, seed):
    g = _gen(seed)
    rel = torch.cat([torch.ones(3, 1), 0.5 + 0.5 * torch.rand(3, m - 1, generator=g)], 1)
    conf = torch.rand(3, m, generator=g) * 0.9 + 0.1
    loss = mndcg_loss(conf, rel, reduction="none")
    assert bool(((loss >= 0) & (loss < 1)).all())
    assert float(mndcg_loss(rel.clone(), rel)) == pytest.approx(0.0, abs=1e-6)


def test_mndcg_by_hand():
    conf, rel = torch.tensor([[0.2, 0.9]]), torch.tensor([[1.0, 0.7]])
    dcg = 0.2 / math.log2(2) + 0.9 / math.log2(3)
    idcg = 1.0 / math.log2(2) + 0.7 / math.log2(3)
    torch.testing.assert_close(mndcg_loss(conf, rel), torch.tensor(1 - dcg / idcg))
    conf = torch.tensor([[1.0, 0.95]])  # DCG > IDCG: ratio flips
    dcg = 1.0 + 0.95 / math.log2(3)
    torch.testing.assert_close(mndcg_loss(conf, rel), torch.tensor(1 - idcg / dcg))


def test_rankmixup_training_step_backpropagates_and_is_model_aware():
    model = nn.Sequential(nn.Flatten(), nn.Linear(12, 4))
    x, y = torch.randn(6, 3, 2, 2, generator=_gen(5)), torch.randint(0, 4, (6,), generator=_gen(6))
    for variant in ("mrl", "mndcg"):
        mixer = mixkit.build(f"rankmixup:variant='{variant}',num_mixed=2")
        assert isinstance(mixer, ModelAwareMixer)
        step = mixer.training_step(model, x, y, generator=_gen(7))
        assert step.logits.shape == (6, 4) and torch.isfinite(step.loss)
        model.zero_grad()
        step.loss.backward()
        assert model[1].weight.grad.abs().sum() > 0
        ce = F.cross_entropy(model(x), y)
        assert float(step.loss.detach()) >= float(ce.detach()) - 1e-6  # ranking term is non-negative


# ----------------------------------------------------------------------------- MixOE
def test_mixoe_targets_at_the_ends_and_linear_in_between():
    y = torch.tensor([2, 0, 1])
    lam = torch.tensor([1.0, 0.0, 0.5])
    t = mixoe_targets(y, lam, 4)
    torch.testing.assert_close(t[0], F.one_hot(torch.tensor(2), 4).float())
    torch.testing.assert_close(t[1], torch.full((4,), 0.25))
    torch.testing.assert_close(t[2], 0.5 * F.one_hot(torch.tensor(1), 4).float() + 0.5 * 0.25)
    torch.testing.assert_close(t.sum(1), torch.ones(3))


def test_mixoe_loss_equals_soft_target_cross_entropy():
    logits = torch.randn(5, 6, generator=_gen(8))
    y, lam = torch.randint(0, 6, (5,), generator=_gen(9)), torch.rand(5, generator=_gen(10))
    ref = -(mixoe_targets(y, lam, 6) * torch.log_softmax(logits, -1)).sum(-1).mean()
    torch.testing.assert_close(mixoe_loss(logits, y, lam), ref)
    torch.testing.assert_close(mixoe_loss(logits.half(), y, lam), ref, atol=2e-2, rtol=1e-2)


def test_mixoe_mixer_interpolates_id_and_outliers():
    x_id, x_out = torch.randn(7, 3, 4, 4), torch.randn(5, 3, 4, 4)
    y = torch.randint(0, 3, (7,))
    out = mixkit.MixOE(alpha=1.0)(x_id, y, x_out, generator=_gen(11))
    lam = out.lam.view(-1, 1, 1, 1)
    torch.testing.assert_close(out.x, lam * x_id + (1 - lam) * x_out[out.outlier_index])
    assert out.targets(3).shape == (7, 3) and torch.isfinite(out.loss(torch.randn(7, 3)))
    with pytest.raises(ValueError, match="x_out"):
        mixkit.MixOE()(x_id, y, torch.randn(5, 3, 2, 2))
    cut = mixkit.MixOE(variant="cutmix")(x_id, y, x_out, generator=_gen(12))
    from_out = cut.x == x_out[cut.outlier_index]
    kept = (cut.x == x_id).all(1).flatten(1).float().mean(1)  # pixels still from the ID image
    assert bool(((cut.x == x_id) | from_out).all())
    torch.testing.assert_close(cut.lam, kept)


# ----------------------------------------------------------------------------- label smoothing with mixing
def test_label_smoothing_composes_with_mixing_smooth_then_mix():
    x, y = torch.randn(9, 5, generator=_gen(12)), torch.randint(0, 7, (9,), generator=_gen(13))
    out = mixkit.MixUp(alpha=0.5, mode="elem")(x, y, generator=_gen(14))
    logits = torch.randn(9, 7, generator=_gen(15))
    eps = 0.1
    smooth = lambda t: F.one_hot(t, 7).float() * (1 - eps) + eps / 7
    lam = out.lam.view(-1, 1)
    target = lam * smooth(y) + (1 - lam) * smooth(y[out.index])  # smooth each label, then mix
    ref = -(target * torch.log_softmax(logits, -1)).sum(-1).mean()
    torch.testing.assert_close(out.loss(logits, label_smoothing=eps), ref)
    torch.testing.assert_close(out.soft_targets(7, label_smoothing=eps), target)
    # PyTorch's own label smoothing on each CE term agrees
    torch_ref = (lam.squeeze(1) * F.cross_entropy(logits, y, label_smoothing=eps, reduction="none")
                 + (1 - lam.squeeze(1)) * F.cross_entropy(logits, y[out.index], label_smoothing=eps,
                                                          reduction="none")).mean()
    torch.testing.assert_close(out.loss(logits, label_smoothing=eps), torch_ref)


# ----------------------------------------------------------------------------- MixUntil
def test_mix_schedule_turns_mixing_off_at_the_chosen_epoch():
    sched = mixkit.MixUntil(mixkit.MixUp(alpha=1.0), off_epoch=2)
    x, y = torch.randn(6, 3), torch.arange(6)
    for epoch in range(4):
        sched.set_epoch(epoch)
        out = sched(x, y, generator=_gen(epoch))
        if epoch < 2:
            assert out.extras["mixing"] and not torch.equal(out.x, x)
        else:
            assert not out.extras["mixing"]
            assert torch.equal(out.x, x) and bool((out.lam == 1).all())
    with pytest.raises(ValueError, match="off_epoch"):
        mixkit.MixUntil(mixkit.MixUp(), off_epoch=-1)
    with pytest.raises(ValueError, match="epoch"):
        sched.set_epoch(-3)


def test_mix_schedule_delegates_model_aware_steps_while_on():
    model = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    sched = mixkit.MixUntil(mixkit.RankMixup(variant="mrl"), off_epoch=1)
    x, y = torch.randn(5, 4), torch.randint(0, 3, (5,))
    on = sched.training_step(model, x, y, generator=_gen(1))
    assert on.mixed is None  # RankMixup's own step
    sched.set_epoch(1)
    off = sched.training_step(model, x, y, generator=_gen(1))
    torch.testing.assert_close(off.loss, F.cross_entropy(model(x), y))
