"""FMix against an oracle of ecs-vlc/FMix (fmix.py: ``fftfreqnd``, ``get_spectrum``,
``make_low_freq_image``, ``binarise_mask``): Gaussian coefficients scaled by
``1 / max(|f|, 1 / max(S)) ** decay``, real inverse FFT, the ``ceil``/``floor(lam N)`` own pixels at one
end of the field's order."""

import math

import numpy as np
import pytest
import torch

import mixkit
from mixkit.sample.functional.fourier_noise import spectrum_scale

stats = pytest.importorskip("scipy.stats")


def oracle_scale(h, w, decay):
    """The release's spectrum amplitude on the rfft grid (its fftfreqnd + get_spectrum)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.fftfreq(w)[: w // 2 + (2 if w % 2 == 1 else 1)]
    freqs = np.sqrt(fx * fx + fy * fy)
    return 1.0 / np.maximum(freqs, 1.0 / max(h, w)) ** decay


@pytest.mark.parametrize("h,w", [(32, 32), (16, 24)])
def test_spectrum_scale_matches_the_release(h, w):
    ours = spectrum_scale((h, w), 3.0, torch.device("cpu")).double().numpy()
    ref = oracle_scale(h, w, 3.0)[:, : w // 2 + 1]
    np.testing.assert_allclose(ours, ref, rtol=1e-5)


def oracle_fmix(x, index, coeff, scale, n_own):
    """The release's mask from given coefficients: irfftn, then ``n_own`` pixels kept from the row; the
    row keeps the pixels at the low end of the field (mixkit's orientation: the partner takes the top)."""
    h, w = x.shape[2:]
    field = np.fft.irfftn((coeff[..., 0] + 1j * coeff[..., 1]) * scale, s=(h, w))
    order = np.argsort(field.reshape(-1), kind="stable")
    mask = np.zeros(h * w)
    mask[order[:n_own]] = 1.0  # own
    mask = torch.from_numpy(mask.reshape(1, 1, h, w)).to(x.dtype)
    return mask * x + (1 - mask) * x[index], n_own / (h * w)


def test_fmix_apply_matches_the_release_mask():
    x = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    mixer = mixkit.FMix()
    params = mixer.draw(x.shape, torch.Generator().manual_seed(1))
    out, lam = mixer.apply(x, params)
    # the coefficients mixkit draws for this seed (one mask for the batch; nothing dropped at 32 x 32)
    dev = torch.Generator().manual_seed(params.seed)
    coeff = torch.randn(1, 32, 17, 2, generator=dev).double().numpy()[0]
    n_own = 1024 - int(params.counts.max())
    want, lam_want = oracle_fmix(x, params.pairs.index, coeff, oracle_scale(32, 32, 3.0)[:, :17], n_own)
    torch.testing.assert_close(out, want)
    torch.testing.assert_close(lam, torch.full((4,), lam_want, dtype=torch.float32))


def test_fmix_rounds_the_own_count_up_or_down_like_the_release():
    mixer = mixkit.FMix()
    g = torch.Generator().manual_seed(2)
    up = 0
    for _ in range(400):
        p = mixer.draw(torch.Size((2, 1, 9, 7)), g)
        own, lam = 63 - int(p.counts[0]), float(p.lam[0])
        assert own in (math.floor(lam * 63), math.ceil(lam * 63))
        up += own == math.ceil(lam * 63) != math.floor(lam * 63)
    assert 150 < up < 250  # a fair coin


def test_fmix_kept_share_follows_beta():
    mixer = mixkit.FMix(alpha=1.0)
    g = torch.Generator().manual_seed(3)
    ours = [1 - float(mixer.draw(torch.Size((2, 1, 32, 32)), g).counts[0]) / 1024 for _ in range(2000)]
    ref = np.random.default_rng(4).beta(1.0, 1.0, 2000)
    assert stats.ks_2samp(ours, ref).pvalue > 1e-3
