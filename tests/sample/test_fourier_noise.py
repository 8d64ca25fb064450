"""The fast FMix pieces agree with the reference ones: histogram top-k and band-limited noise."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixkit.sample.functional import (
    band_limited_noise,
    spectrum_band,
    spectrum_scale,
    top_k_weight,
    top_k_weight_histogram,
)


@settings(max_examples=40, deadline=None)
@given(rows=st.integers(1, 6), numel=st.integers(1, 300), levels=st.sampled_from((3, 50, 0)),
       seed=st.integers(0, 2**31 - 1))
def test_histogram_top_k_equals_kthvalue_top_k(rows, numel, levels, seed):
    g = torch.Generator().manual_seed(seed)
    noise = torch.randn(rows, numel, generator=g)
    if levels:  # many exact ties
        noise = torch.round(noise * levels / 3)
    counts = torch.randint(0, numel + 1, (rows,), generator=g)
    got = top_k_weight_histogram(noise, counts, torch.float32, buckets=16)
    # reference: every value >= the counts[i]-th largest value of row i (nothing when counts[i] == 0)
    ordered = noise.sort(dim=1, descending=True).values
    thresh = ordered.gather(1, (counts - 1).clamp_min(0).view(-1, 1))
    want = (noise >= thresh).float() * (counts > 0).float().view(-1, 1)
    assert torch.equal(got, want)
    if not levels:  # no ties: exactly counts[i] marked, as the kthvalue version
        assert torch.equal(got.sum(1).long(), counts)
        assert torch.equal(got, top_k_weight(noise, counts, torch.float32))


def test_band_limited_noise_is_the_inverse_fft_of_the_kept_coefficients():
    for size in ((40, 36), (33,), (6, 8, 10), (224, 224)):
        idx, amp, dropped = spectrum_band(size, 3.0, 1e-7)
        assert dropped <= 1e-7
        noise = band_limited_noise(3, size, 3.0, torch.Generator().manual_seed(1), torch.device("cpu"))
        coeff = torch.randn(3, *amp.shape, 2, generator=torch.Generator().manual_seed(1))
        full_shape = spectrum_scale(size, 3.0, torch.device("cpu")).shape
        spec = torch.zeros(3, *full_shape, dtype=torch.complex64)
        spec[(slice(None), *torch.meshgrid(*idx, indexing="ij"))] = torch.view_as_complex(coeff) * amp
        want = torch.fft.irfftn(spec, s=size, dim=tuple(range(1, len(size) + 1)))
        assert noise.shape == (3, *size)
        assert float((noise - want).abs().max()) <= 1e-4 * float(want.std()) + 1e-12
    # a 224 x 224 field at decay 3 keeps only a small box; small images keep everything
    assert math.prod(spectrum_band((224, 224), 3.0, 1e-7)[1].shape) < 224 * 113 // 4
    assert spectrum_band((32, 32), 3.0, 1e-7)[1].shape == (32, 17)
