"""Mask geometry helpers against direct per-row constructions."""

from __future__ import annotations

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixkit.sample.functional import box_weight, place_boxes, sample_boxes, top_k_weight


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 6), st.integers(1, 40), st.booleans(), st.integers(0, 2**31 - 1))
def test_top_k_weight_marks_exactly_the_largest(rows, numel, same, seed):
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(rows, numel, generator=g)
    counts = torch.randint(0, numel + 1, (rows,), generator=g)
    if same:
        counts[:] = counts[0]
    weight = top_k_weight(noise, counts, torch.float16)
    assert weight.dtype == torch.float16
    assert torch.equal(weight.sum(1).long(), counts)
    for i in range(rows):
        if 0 < counts[i] < numel:
            assert noise[i][weight[i] == 1].min() > noise[i][weight[i] == 0].max()


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 5), st.lists(st.integers(1, 9), min_size=1, max_size=3), st.booleans(),
       st.integers(0, 2**31 - 1))
def test_boxes_and_masks_agree_with_slicing(rows, size, shared, seed):
    g = torch.Generator().manual_seed(seed)
    size = tuple(size)
    cut = torch.rand(rows, generator=g)
    if shared:  # batch mode: one cut fraction and one centre for every row
        cut[:] = cut[0]
    boxes = sample_boxes(cut, size, g, shared=shared)
    assert bool(((boxes.lo >= 0) & (boxes.lo <= boxes.hi)).all())
    assert bool((boxes.hi <= torch.tensor(size)).all())
    if shared:
        assert bool((boxes.lo == boxes.lo[0]).all())
    x = torch.randn(rows, 2, *size, generator=g)
    weight = box_weight(boxes, x)
    assert weight.shape == (rows, 1, *size)
    for i in range(rows):
        want = torch.zeros(size)
        region = boxes.region(i)
        want[region[2:]] = 1
        assert torch.equal(weight[i, 0], want)
        torch.testing.assert_close(float(boxes.area()[i]), float(want.mean()))


def test_place_boxes_clips_at_the_border():
    g = torch.Generator().manual_seed(0)
    boxes = place_boxes(torch.full((500, 2), 6), (10, 10), g)
    sides = boxes.sides
    assert bool((sides <= 6).all()) and bool((sides >= 3).all()) and bool((sides < 6).any())
