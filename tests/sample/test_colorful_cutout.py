"""Colorful Cutout's properties: the curriculum, colours in range, state, prob, errors."""

import pytest
import torch

import mixkit  # noqa: F401  (registers the mixers)
from mixkit.sample import build
from mixkit.sample.mixers.colorful_cutout import ColorfulCutout


def test_more_distinct_colours_as_epochs_pass():
    x = torch.zeros(4, 3, 32, 32)
    mixer = ColorfulCutout()
    counts = []
    for epoch in range(5):
        mixer.set_epoch(epoch)
        out = mixer(x, torch.arange(4), generator=torch.Generator().manual_seed(0))
        counts.append(len(torch.unique(out.x[0].reshape(3, -1).T, dim=0)) - 1)  # minus the background
        assert bool((out.x >= 0).all()) and bool((out.x <= 1).all())
        assert torch.equal(out.lam, torch.ones(4)) and torch.equal(out.index, torch.arange(4))
    assert counts[0] == 1 and counts[-1] > counts[1] > counts[0]
    assert counts[2] <= 4 and counts[4] <= 16


def test_without_curriculum_one_colour_and_state_round_trips():
    mixer = ColorfulCutout(curriculum=False)
    mixer.set_epoch(6)
    out = mixer(torch.zeros(2, 3, 16, 16), generator=torch.Generator().manual_seed(1))
    assert len(torch.unique(out.x[0].reshape(3, -1).T, dim=0)) == 2
    trained = ColorfulCutout()
    trained.set_epoch(3)
    fresh = ColorfulCutout()
    fresh.load_state_dict(trained.state_dict())
    assert fresh.epoch == 3 and "epoch=3" in repr(fresh)
    assert build("colorful_cutout:ratio=0.25").ratio == 0.25


def test_prob_zero_leaves_images_and_out_buffer_matches():
    x = torch.rand(3, 3, 8, 8)
    out = ColorfulCutout(prob=0.0)(x, generator=torch.Generator().manual_seed(0))
    assert torch.equal(out.x, x) and torch.equal(out.extras["erased"], torch.zeros(3))
    buf = torch.empty_like(x)
    a = ColorfulCutout()(x, generator=torch.Generator().manual_seed(2), out=buf)
    b = ColorfulCutout()(x, generator=torch.Generator().manual_seed(2))
    assert a.x is buf and torch.equal(a.x, b.x)
    assert bool((b.extras["erased"] > 0).all())


def test_bad_arguments():
    with pytest.raises(ValueError, match="length"):
        ColorfulCutout(0)
    with pytest.raises(ValueError, match="ratio"):
        ColorfulCutout(ratio=1.5)
    with pytest.raises(ValueError, match="low"):
        ColorfulCutout(low=1.0, high=0.0)
    with pytest.raises(ValueError, match="epoch"):
        ColorfulCutout().set_epoch(-1)
    with pytest.raises(ValueError, match="max_level"):
        ColorfulCutout(max_level=-2)
