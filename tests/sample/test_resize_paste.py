"""ResizeMix's fast paths agree with the reference ones: flat-offset resize and grid paste."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixkit.sample import make_pairs
from mixkit.sample.functional import (
    mix_shared_box,
    paste_resized_patches,
    paste_resized_shared,
    place_patches,
    resize_nearest,
    resize_paste,
    shared_region,
)


@settings(max_examples=30, deadline=None)
@given(dims=st.integers(1, 3), data=st.data())
def test_resize_nearest_matches_interpolate(dims, data):
    size = [data.draw(st.integers(1, 12)) for _ in range(dims)]
    sides = tuple(data.draw(st.integers(1, s)) for s in size)
    x = torch.randn(data.draw(st.integers(1, 3)), data.draw(st.integers(1, 3)), *size)
    want = torch.nn.functional.interpolate(x, size=sides, mode="nearest")
    assert torch.equal(resize_nearest(x, sides), want)


@pytest.mark.parametrize("grouped", [False, True], ids=["one-grid", "grouped"])
@settings(max_examples=20, deadline=None)
@given(dims=st.integers(1, 3), batch=st.integers(1, 9), roll=st.booleans(), seed=st.integers(0, 2**31 - 1),
       half=st.booleans(), data=st.data())
def test_grid_paste_matches_index_paste(grouped, dims, batch, roll, seed, half, data):
    # the grouped path only runs on large batches by default; force it (or the one-grid path) here
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(resize_paste, "_PASTE_GROUP_MIN", 0 if grouped else 1 << 62)
        _check_grid_paste(dims, batch, roll, seed, half, data)


def _check_grid_paste(dims, batch, roll, seed, half, data):
    size = tuple(data.draw(st.integers(1, 9)) for _ in range(dims))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 2, *size, generator=g).to(torch.float16 if half else torch.float32)
    shift = int(torch.randint(0, batch, (1,), generator=g)) if roll else None
    index = (torch.arange(batch) + shift) % batch if roll else torch.randperm(batch, generator=g)
    tau = torch.rand(batch, generator=g, dtype=torch.float64) * (torch.rand(batch, generator=g) < 0.8)
    sides = torch.round(tau[:, None] * torch.tensor(size, dtype=torch.float64)).long()
    boxes = place_patches(sides, size, g)
    fast = paste_resized_patches(x.clone(), x, index, boxes, shift=shift)  # contiguous: gather/scatter grid
    strided = torch.randn(*x.shape, 2).to(x.dtype)[..., 0]  # same values, spatial axes not dense
    strided.copy_(x)
    reference = paste_resized_patches(x.clone(), strided, index, boxes)  # per-pixel index path
    assert torch.equal(fast, reference)
    # every pasted pixel comes from the partner's nearest-resized image
    for i in range(batch):
        if int(boxes.sides[i].prod()) == 0:
            assert torch.equal(fast[i], x[i])
            continue
        patch = resize_nearest(x[index[i]][None], tuple(boxes.sides[i].tolist()))[0]
        assert torch.equal(fast[i][boxes.region(i)[1:]], patch)


@settings(max_examples=25, deadline=None)
@given(dims=st.integers(1, 3), batch=st.integers(1, 6), seed=st.integers(0, 2**31 - 1), half=st.booleans(),
       use_out=st.booleans(), data=st.data())
def test_shared_paste_matches_resize_then_copy(dims, batch, seed, half, use_out, data):
    size = tuple(data.draw(st.integers(1, 9)) for _ in range(dims))
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, 2, *size, generator=g).to(torch.float16 if half else torch.float32)
    pairs = make_pairs(batch, "roll", g)
    sides = tuple(data.draw(st.integers(1, s)) for s in size)
    region = shared_region(sides, size, g, inside=True)
    reference = mix_shared_box(x, resize_nearest(x, sides), pairs, None, region)
    out = torch.full_like(x, float("nan")) if use_out else None
    fast = paste_resized_shared(x, pairs, region, out)
    if pairs.shift is None or pairs.shift == 0:  # nothing to roll: the caller falls back
        assert fast is None
        return
    assert fast is not None and torch.equal(fast, reference)
    if use_out:
        assert fast is out
