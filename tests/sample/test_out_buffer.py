"""``mixer(x, y, generator=g, out=buf)``: same result as the fresh-tensor call, written into ``buf``."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mixkit
from mixkit.sample import Mixer, MixParams, build

METHODS = ("none", "mixup", "cutmix", "cutout", "resizemix", "fmix")


@settings(max_examples=40, deadline=None)
@given(method=st.sampled_from(METHODS), mode=st.sampled_from(("batch", "pair", "elem")),
       pairing=st.sampled_from(("roll", "flip", "permute")), prob=st.sampled_from((1.0, 0.5)),
       batch=st.sampled_from((1, 3, 6)), rank=st.sampled_from((3, 4, 5)), channels_last=st.booleans(),
       out_contiguous=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_out_matches_fresh_result(method, mode, pairing, prob, batch, rank, channels_last, out_contiguous,
                                  seed):
    if mode == "pair":
        pairing = "flip"
    spec = f"{method}:mode={mode},prob={prob}"
    if method not in ("none", "cutout"):
        spec += f",pairing={pairing}"
    mixer = build(spec)
    x = torch.randn(batch, 2, *([5] * (rank - 2)))
    if channels_last and rank in (4, 5):
        x = x.contiguous(memory_format=torch.channels_last if rank == 4 else torch.channels_last_3d)
    want = mixer(x, generator=torch.Generator().manual_seed(seed))
    buf = torch.empty(x.shape) if out_contiguous else torch.empty_like(x)
    buf.fill_(float("nan"))  # every element must be written
    got = mixer(x, generator=torch.Generator().manual_seed(seed), out=buf)
    assert got.x is buf
    torch.testing.assert_close(got.x, want.x, rtol=0, atol=0)
    torch.testing.assert_close(got.lam, want.lam, rtol=0, atol=0)
    torch.testing.assert_close(got.index, want.index, rtol=0, atol=0)


def test_random_choice_passes_out():
    mixer = mixkit.build("mixup|cutmix")
    x = torch.randn(4, 3, 6, 6)
    want = mixer(x, generator=torch.Generator().manual_seed(3))
    buf = torch.empty_like(x)
    got = mixer(x, generator=torch.Generator().manual_seed(3), out=buf)
    assert got.x is buf
    torch.testing.assert_close(got.x, want.x, rtol=0, atol=0)


@pytest.mark.parametrize("method", METHODS)
def test_bad_out_is_rejected(method):
    mixer = build(method)
    x = torch.randn(4, 3, 6, 6)
    with pytest.raises(TypeError, match="out"):
        mixer(x, out=x.numpy())
    with pytest.raises(ValueError, match="out"):
        mixer(x, out=torch.empty(4, 3, 6, 5))
    with pytest.raises(ValueError, match="out"):
        mixer(x, out=torch.empty(4, 3, 6, 6, dtype=torch.float64))
    with pytest.raises(ValueError, match="out must not share memory"):
        mixer(x, out=x)
    shifted = torch.randn(x.numel() + 1)  # two views one element apart: partly overlapping
    with pytest.raises(ValueError, match="out must not share memory"):
        mixer(shifted[:-1].view(x.shape), out=shifted[1:].view(x.shape))
    with pytest.raises(ValueError, match="expanded"):
        mixer(x, out=torch.empty(1, 3, 6, 6).expand(4, -1, -1, -1))


def test_disjoint_part_of_one_buffer_is_accepted():
    storage = torch.randn(8, 3, 6, 6)
    x, buf = storage[:4], storage[4:]
    got = mixkit.CutMix(mode="elem")(x, generator=torch.Generator().manual_seed(1), out=buf)
    want = mixkit.CutMix(mode="elem")(x.clone(), generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(got.x, want.x, rtol=0, atol=0)


class _Doubling(Mixer):
    """A minimal subclass: only ``apply`` is written (the base draws partners and lam)."""

    def apply(self, x: torch.Tensor, params: MixParams, out: torch.Tensor | None = None
              ) -> tuple[torch.Tensor, torch.Tensor]:
        return torch.mul(x, 2, out=out), params.lam


def test_subclass_apply_writes_into_out():
    x = torch.randn(3, 2, 4)
    buf = torch.empty_like(x)
    got = _Doubling()(x, out=buf)
    assert got.x is buf
    torch.testing.assert_close(buf, x * 2)


def test_out_with_another_layout_than_x():
    x = torch.randn(4, 3, 6, 7)
    for method in METHODS:
        mixer = build(f"{method}:mode=elem")
        want = mixer(x, generator=torch.Generator().manual_seed(5))
        for buf in (torch.empty_like(x, memory_format=torch.channels_last),
                    torch.empty(4, 3, 7, 6).transpose(2, 3)):  # spatial axes that do not flatten to a view
            got = mixer(x, generator=torch.Generator().manual_seed(5), out=buf)
            assert got.x is buf
            torch.testing.assert_close(got.x, want.x, rtol=0, atol=0)


def test_out_buffer_for_label_aware_and_sequence_mixers():
    """Regression and sequence mixers override forward; out= must write the same values into the buffer."""
    import mixkit as mk

    x = torch.randn(9, 6, 4)
    y = torch.randn(9, 1)
    lengths = torch.tensor([6, 5, 4, 6, 3, 6, 2, 6, 1])
    cases = [(mk.CMixup(alpha=1.0, mode="elem"), {"y": y}),
             (mk.RegMixKNN(alpha=1.0, k=3), {"y": y}),
             (mk.SeqMixUp(mode="elem"), {"y": torch.arange(9), "lengths": lengths}),
             (mk.SeqCutMix(mode="elem"), {"y": torch.arange(9), "lengths": lengths})]
    for mixer, kw in cases:
        labels = kw.pop("y")
        ref = mixer(x, labels, generator=torch.Generator().manual_seed(3), **kw)
        buf = torch.empty_like(x)
        got = mixer(x, labels, generator=torch.Generator().manual_seed(3), out=buf, **kw)
        assert got.x.data_ptr() == buf.data_ptr(), type(mixer).__name__
        torch.testing.assert_close(got.x, ref.x)
        torch.testing.assert_close(got.lam, ref.lam)
        with pytest.raises(ValueError, match="out"):
            mixer(x, labels, generator=torch.Generator().manual_seed(3), out=x[:, :, :2].clone(), **kw)
