"""Batched saliency maps on the data's device, for the saliency-guided mixers.

* :func:`fine_grained_saliency` : the fine-grained static saliency of Montabone & Soto (Image and Vision
  Computing 2010), the map SaliencyMix's release (Uddin et al., ICLR 2021) computes through OpenCV,
  computed for the whole batch with integral images. No model needed.
* :func:`spectral_residual` : the spectral-residual saliency of Hou & Zhang (CVPR 2007), mixkit's alternative
  map for SaliencyMix, computed for the whole batch with one batched FFT.
* :func:`gradient_saliency` : the L2 norm over channels of the gradient of the loss with respect to the input,
  the map PuzzleMix (Kim et al., ICML 2020) uses.
* :func:`peak_location` : the (row, column) of the maximum of each map, on the device (no host sync).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_class_ids, check_inputs, check_nonnegative

__all__ = [
    "fine_grained_saliency", "gaussian_blur", "gradient_saliency", "peak_location", "spectral_residual",
]

FINE_GRAINED_SCALES = (12, 24, 48, 28, 56, 112)
"""Surround half-widths of the fine-grained saliency (OpenCV's ``StaticSaliencyFineGrained``)."""


def _blur121(a: Tensor) -> Tensor:
    """3x3 binomial blur ``[1, 2, 1] / 4`` per axis of ``[B, H, W]`` maps, mirrored border (OpenCV's
    default)."""
    for dim in (1, 2):
        if a.shape[dim] < 2:
            continue
        n = a.shape[dim]
        lo = a.narrow(dim, 1, 1)
        hi = a.narrow(dim, n - 2, 1)
        p = torch.cat([lo, a, hi], dim)
        a = (p.narrow(dim, 0, n) + 2 * p.narrow(dim, 1, n) + p.narrow(dim, 2, n)) / 4
    return a


def fine_grained_saliency(x: Tensor, scales: tuple[int, ...] = FINE_GRAINED_SCALES) -> Tensor:
    """Fine-grained static saliency (Montabone & Soto, Image and Vision Computing 2010) of ``x``
    ``[B, C, H, W]``.

    The algorithm of OpenCV's ``StaticSaliencyFineGrained``, which SaliencyMix's release calls: the intensity
    ``I`` (3 channels: ``0.114 c0 + 0.587 c1 + 0.299 c2``, OpenCV's BGR weights applied to the channels in
    the order given, as the release does; otherwise the channel mean) blurred twice by a 3x3 binomial
    kernel; for every surround half-width ``s`` in ``scales`` the surround mean ``m_s`` of each pixel over
    the window ``[p - s + 1, p + s + 1)`` (integral-image corners clamped to ``[0, side]``, as OpenCV),
    excluding the pixel itself; centre-surround differences ``on = sum_s relu(I - m_s)``, ``off = sum_s
    relu(m_s - I)``, each scaled to max 1, and ``S = on + off`` scaled to max 1.
    Returns ``[B, H, W]`` float32 on ``x``'s device; vectorised over the batch, no host synchronisation.
    Computed in float: the 8-bit rounding of OpenCV's implementation is not reproduced.
    """
    check_inputs(x, 4, 4)
    b, c, h, w = x.shape
    xf = x.float()
    if c == 3:
        gray = 0.114 * xf[:, 0] + 0.587 * xf[:, 1] + 0.299 * xf[:, 2]
    else:
        gray = xf.mean(1)
    gray = _blur121(_blur121(gray))
    integral = F.pad(gray.double().cumsum(1).cumsum(2), (1, 0, 1, 0))  # [B, H+1, W+1]
    ys = torch.arange(h, device=x.device)
    xs = torch.arange(w, device=x.device)
    on = torch.zeros_like(gray)
    off = torch.zeros_like(gray)
    for s in scales:
        y1, y2 = (ys - s + 1).clamp(0, h), (ys + s + 1).clamp(0, h)
        x1, x2 = (xs - s + 1).clamp(0, w), (xs + s + 1).clamp(0, w)
        # [B, H, W+1] row-band sums (float64 corners, float32 from here: the bands are local sums)
        band = (integral.index_select(1, y2) - integral.index_select(1, y1)).float()
        total = band.index_select(2, x2) - band.index_select(2, x1)
        area = ((y2 - y1).view(-1, 1) * (x2 - x1).view(1, -1) - 1).clamp_min(1).float()
        diff = gray - (total - gray) / area
        on += diff.clamp_min(0)
        off += (-diff).clamp_min(0)
    on = on / on.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)
    off = off / off.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)
    sal = on + off
    return sal / sal.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)


def spectral_residual(x: Tensor, size: int = 64, sigma: float = 2.5) -> Tensor:
    """Spectral-residual saliency (Hou & Zhang, CVPR 2007) of a batch ``x`` ``[B, C, H, W]``; SaliencyMix's
    ``saliency="spectral"`` option (mixkit's own; the release uses :func:`fine_grained_saliency`).

    The channel mean is area-resized so its longer side is at most ``size`` (OpenCV's spectral-residual
    implementation works at 64 x 64), then ``S = |IFFT(exp(R + i P))|^2`` where ``P`` is the phase and
    ``R = log|F| - box3x3(log|F|)`` the spectral residual, smoothed by a Gaussian of std ``sigma`` pixels.
    Returns ``[B, h, w]`` float32 on ``x``'s device, each map scaled to max 1 (``h, w`` the reduced size).

    Vectorised over the batch with no host synchronisation. ``exp(R + i P)`` is computed as the real rescaling
    ``F * exp(-box3x3(log|F|))`` (no complex division), the 3x3 box filter (replicate border) as shifted sums,
    and the Gaussian as a product with its transfer function in the Fourier domain (circular border, unlike
    OpenCV's reflected border).
    """
    check_inputs(x, 4, 4)
    gray = x.float().mean(1, keepdim=True)
    h, w = gray.shape[-2:]
    scale = min(1.0, size / max(h, w))
    if scale < 1.0:
        gray = F.interpolate(gray, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")
    spec = torch.fft.fft2(gray[:, 0])
    log_amp = torch.log(spec.abs().clamp_min(1e-8))
    sal = torch.fft.ifft2(spec * torch.exp(-_box3(log_amp)))
    sal = torch.view_as_real(sal).square().sum(-1)
    sal = gaussian_blur(sal, sigma)
    return sal / sal.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)


def _box3(a: Tensor) -> Tensor:
    """3x3 mean filter of ``[B, h, w]`` maps with a replicated border, as two separable shifted sums."""
    p = torch.cat([a[:, :1], a, a[:, -1:]], 1)
    rows = p[:, :-2] + p[:, 1:-1] + p[:, 2:]
    p = torch.cat([rows[:, :, :1], rows, rows[:, :, -1:]], 2)
    return (p[:, :, :-2] + p[:, :, 1:-1] + p[:, :, 2:]) / 9.0


def gaussian_blur(maps: Tensor, sigma: float) -> Tensor:
    """Gaussian blur (std ``sigma`` pixels, a finite number >= 0; 0 leaves the maps as they are) of real
    maps ``[..., h, w]`` in the Fourier domain (circular)."""
    sigma = check_nonnegative(sigma, "sigma")
    if not isinstance(maps, Tensor) or not maps.dtype.is_floating_point or maps.dim() < 2:
        raise ValueError("maps must be a floating tensor [B, h, w]")
    if sigma == 0:
        return maps
    h, w = maps.shape[-2:]
    fy = torch.fft.fftfreq(h, device=maps.device)
    fx = torch.fft.rfftfreq(w, device=maps.device)
    transfer = torch.exp(-2 * (math.pi * sigma) ** 2 * (fy.view(-1, 1) ** 2 + fx.view(1, -1) ** 2))
    return torch.fft.irfft2(torch.fft.rfft2(maps) * transfer, s=(h, w))


def peak_location(maps: Tensor, height: int, width: int) -> tuple[Tensor, Tensor]:
    """Row and column (int64 ``[B]`` each, on ``maps``' device) of each map's maximum, mapped from the map's
    ``[h, w]`` grid to an ``height x width`` image (the centre of the peak's cell)."""
    b, h, w = maps.shape
    flat = maps.reshape(b, -1).argmax(1)
    row, col = flat // w, flat % w
    row = ((row.float() + 0.5) * (height / h)).long().clamp_(0, height - 1)
    col = ((col.float() + 0.5) * (width / w)).long().clamp_(0, width - 1)
    return row, col


def gradient_saliency(model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """PuzzleMix's saliency: ``||d CE(model(x), y) / dx||_2`` over channels, ``[B, H, W]`` float32.

    Returns ``(saliency, logits, loss)`` of the clean forward pass. Only the input gradient is computed
    (``torch.autograd.grad``), so the model's ``.grad`` buffers are left untouched.
    """
    x_req = x.detach().requires_grad_(True)
    logits = model(x_req)
    k = logits.shape[-1]
    if not y.dtype.is_floating_point:
        check_class_ids(y, k)
    elif tuple(y.shape) != tuple(logits.shape):
        raise ValueError(f"y: soft labels must have shape [B, {k}] to match the model's outputs, "
                         f"got {tuple(y.shape)}")
    loss = F.cross_entropy(logits.float(), y) if not y.dtype.is_floating_point else \
        -(y.float() * F.log_softmax(logits.float(), -1)).sum(-1).mean()
    (grad,) = torch.autograd.grad(loss, x_req)
    return grad.float().square().sum(1).sqrt(), logits.detach(), loss.detach()
