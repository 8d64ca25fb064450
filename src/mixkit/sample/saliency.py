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

from .validate import check_inputs


def spectral_residual(x: Tensor, size: int = 64, sigma: float = 2.5) -> Tensor:
    """Spectral-residual saliency (Hou & Zhang, CVPR 2007) of a batch ``x`` ``[B, C, H, W]``.

    The channel mean is area-resized so its longer side is at most ``size`` (as OpenCV's implementation that
    SaliencyMix calls resizes to 64 x 64), then ``S = |IFFT(exp(R + i P))|^2`` where ``P`` is the phase and
    ``R = log|F| - box3x3(log|F|)`` the spectral residual, smoothed with a Gaussian of std ``sigma`` pixels.
    Returns ``[B, h, w]`` float32 on ``x``'s device, each map scaled to max 1 (``h, w`` the reduced size).
    One batched FFT pair; no Python loop over the batch, no host synchronisation.
    """
    check_inputs(x, 4, 4)
    gray = x.float().mean(1, keepdim=True)
    h, w = gray.shape[-2:]
    scale = min(1.0, size / max(h, w))
    if scale < 1.0:
        gray = F.interpolate(gray, size=(max(1, round(h * scale)), max(1, round(w * scale))), mode="area")
    spec = torch.fft.fft2(gray[:, 0])
    log_amp = torch.log(spec.abs().clamp_min(1e-8))
    residual = log_amp - F.avg_pool2d(F.pad(log_amp.unsqueeze(1), (1, 1, 1, 1), mode="replicate"), 3, 1).squeeze(1)
    phase = spec / spec.abs().clamp_min(1e-8)
    sal = torch.fft.ifft2(torch.exp(residual) * phase).abs().square()
    sal = gaussian_blur(sal.unsqueeze(1), sigma).squeeze(1)
    return sal / sal.flatten(1).amax(1).clamp_min(1e-12).view(-1, 1, 1)


def gaussian_blur(maps: Tensor, sigma: float) -> Tensor:
    """Separable Gaussian blur of ``[B, 1, h, w]`` maps (reflect padding, kernel radius ``3 sigma``)."""
    if sigma <= 0:
        return maps
    radius = max(1, int(math.ceil(3 * sigma)))
    radius = min(radius, maps.shape[-1] - 1, maps.shape[-2] - 1)
    if radius < 1:
        return maps
    t = torch.arange(-radius, radius + 1, device=maps.device, dtype=maps.dtype)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    k = k / k.sum()
    out = F.conv2d(F.pad(maps, (radius, radius, 0, 0), mode="reflect"), k.view(1, 1, 1, -1))
    return F.conv2d(F.pad(out, (0, 0, radius, radius), mode="reflect"), k.view(1, 1, -1, 1))


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
