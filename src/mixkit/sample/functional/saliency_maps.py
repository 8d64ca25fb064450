"""Batched saliency maps on the data's device, for the saliency-guided mixers.

* :func:`spectral_residual` : the spectral-residual saliency of Hou & Zhang (CVPR 2007), the map SaliencyMix
  (Uddin et al., ICLR 2021) uses, computed for the whole batch with one batched FFT. No model needed.
* :func:`gradient_saliency` : the L2 norm over channels of the gradient of the loss with respect to the input,
  the map PuzzleMix (Kim et al., ICML 2020) uses.
* :func:`peak_location` : the (row, column) of the maximum of each map, on the device (no host sync).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..checks import check_inputs

__all__ = ["gaussian_blur", "gradient_saliency", "peak_location", "spectral_residual"]


def spectral_residual(x: Tensor, size: int = 64, sigma: float = 2.5) -> Tensor:
    """Spectral-residual saliency (Hou & Zhang, CVPR 2007) of a batch ``x`` ``[B, C, H, W]``.

    The channel mean is area-resized so its longer side is at most ``size`` (OpenCV's implementation, which
    SaliencyMix calls, works at 64 x 64), then ``S = |IFFT(exp(R + i P))|^2`` where ``P`` is the phase and
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
    """Gaussian blur (std ``sigma`` pixels) of real maps ``[B, h, w]`` in the Fourier domain (circular)."""
    if sigma <= 0:
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
    loss = F.cross_entropy(logits.float(), y) if not y.dtype.is_floating_point else \
        -(y.float() * F.log_softmax(logits.float(), -1)).sum(-1).mean()
    (grad,) = torch.autograd.grad(loss, x_req)
    return grad.float().square().sum(1).sqrt(), logits.detach(), loss.detach()
