"""RandomChoice (timm's MixUp/CutMix switch) and MixUntil (timm's ``mixup_off_epoch``): the switch
frequencies follow the weights, and each call is exactly the chosen mixer's."""

import pytest
import torch

import mixkit
from mixkit.sample.mixers.mixing_window import MixUntil
from mixkit.sample.mixers.random_choice import RandomChoice

stats = pytest.importorskip("scipy.stats")


def test_random_choice_frequencies_follow_the_weights():
    switch = RandomChoice([mixkit.MixUp(), mixkit.CutMix(), mixkit.build("none")], weights=[0.5, 0.3, 0.2])
    g = torch.Generator().manual_seed(0)
    picks = torch.tensor([switch.choose(g) for _ in range(2000)])
    counts = torch.bincount(picks, minlength=3).tolist()
    assert stats.chisquare(counts, [1000, 600, 400]).pvalue > 1e-3
    assert stats.chisquare(counts, [667, 667, 666]).pvalue < 1e-3  # the test can fail


def test_random_choice_applies_the_chosen_mixer():
    switch = RandomChoice([mixkit.MixUp(), mixkit.CutMix()], weights=[0.5, 0.5])
    x = torch.randn(6, 3, 8, 8, generator=torch.Generator().manual_seed(1))
    for seed in range(6):
        params = switch.draw(x.shape, torch.Generator().manual_seed(seed))
        out, lam = switch.apply(x, params)
        want, want_lam = switch.mixers[params.choice].apply(x, params.inner)
        torch.testing.assert_close(out, want)
        torch.testing.assert_close(lam, want_lam)
        g_a, g_b = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        mixed = switch(x, generator=g_a)
        chosen = switch.mixers[switch.choose(g_b)]
        torch.testing.assert_close(mixed.x, chosen(x, generator=g_b).x)
        assert mixed.extras["method"] == chosen.name


def test_mix_until_switches_off_at_the_epoch():
    window = MixUntil(mixkit.MixUp(), off_epoch=2)
    x = torch.randn(4, 5)
    for epoch, on in ((0, True), (1, True), (2, False), (5, False)):
        window.set_epoch(epoch)
        out = window(x, torch.arange(4), generator=torch.Generator().manual_seed(3))
        ref = mixkit.MixUp()(x, torch.arange(4), generator=torch.Generator().manual_seed(3))
        if on:
            torch.testing.assert_close(out.x, ref.x)
        else:
            assert torch.equal(out.x, x) and torch.equal(out.lam, torch.ones(4))
        assert out.extras["mixing"] is on
