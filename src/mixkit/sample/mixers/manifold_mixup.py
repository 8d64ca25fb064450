"""Manifold Mixup (Verma et al., "Manifold Mixup: Better Representations by Interpolating Hidden States",
ICML 2019): mix hidden states at a random layer of any ``nn.Module`` through a forward hook."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..batch import MixedBatch
from ..pairing import Pairs, partner_rows, weight_view
from .mixer import MixParams
from .model_aware import ModelAwareMixer, StepOutput

__all__ = ["ManifoldMixup", "mix_hidden", "mix_rows"]

INPUT = "input"


def mix_rows(h: Tensor, pairs: Pairs, lam: Tensor) -> Tensor:
    """``lam * h + (1 - lam) * h[index]`` for any ``[B, ...]`` tensor, differentiable (no ``out=``).

    ``lam``: ``[B]`` (CPU or ``h``'s device). Used on hidden states, where autograd must flow through both
    rows.
    """
    return torch.lerp(h, partner_rows(h, pairs), weight_view(1.0 - lam, h))


@contextmanager
def mix_hidden(model: nn.Module, layer: str, pairs: Pairs, lam: Tensor) -> Iterator[dict[str, bool]]:
    """Context manager: while active, the output of ``model``'s sub-module ``layer`` (a name from
    ``model.named_modules()``) is replaced by ``mix_rows(output, pairs, lam)`` on its first call of each
    forward pass. Yields a dict whose ``"mixed"`` entry tells whether the hook fired.

    Example::

        with mix_hidden(model, "layer2", pairs, lam) as state:
            logits = model(x)
        assert state["mixed"]
    """
    modules = dict(model.named_modules())
    if layer not in modules:
        raise ValueError(f"layer {layer!r} is not a sub-module of {type(model).__name__}; "
                         f"known: {', '.join(n for n in modules if n) or 'none'}")
    state = {"mixed": False}
    n = pairs.size

    def hook(module: nn.Module, inputs: object, output: object) -> Tensor | None:
        if state["mixed"]:
            return None
        if not isinstance(output, Tensor) or output.dim() < 1 or output.shape[0] != n:
            got = tuple(output.shape) if isinstance(output, Tensor) else type(output).__name__
            raise TypeError(f"Manifold Mixup at layer {layer!r}: the output must be a tensor [B, ...] with "
                            f"B = {n}, got {got}")
        state["mixed"] = True
        return mix_rows(output, pairs, lam)

    handle = modules[layer].register_forward_hook(hook)
    try:
        yield state
    finally:
        handle.remove()


RESNET_STAGES = ("layer1", "layer2")
CRITERIA = ("bce", "ce")


def _default_layers(model: nn.Module) -> list[str]:
    """ResNet naming (direct children ``layer1`` and ``layer2``): those two stages, as the release mixes after
    them. Otherwise the direct children except the last, each container (``nn.Sequential``/``nn.ModuleList``)
    replaced by its own children (one level)."""
    children = dict(model.named_children())
    if all(name in children for name in RESNET_STAGES):
        return list(RESNET_STAGES)
    out = []
    for name, child in list(model.named_children())[:-1]:
        if isinstance(child, (nn.Sequential, nn.ModuleList)):
            out += [f"{name}.{n}" for n, _ in child.named_children()]
        else:
            out.append(name)
    return out


class ManifoldMixup(ModelAwareMixer):
    """Manifold Mixup: pick a layer ``k`` uniformly from the candidates, run the model up to ``k``, replace
    the hidden state ``h`` by ``lam * h_i + (1 - lam) * h_j`` and finish the forward pass; the loss mixes the
    labels with the same ``lam ~ Beta(alpha, alpha)`` (one per batch).

    Matches vikasverma1077/manifold_mixup, ``supervised/models/preresnet.py`` (``layer_mix =
    randint(0, 2)``: the input, the output of ``layer1`` or of ``layer2``; ``mixup_process``: one ``lam``, a
    random permutation) and ``supervised/main.py`` (loss ``BCELoss(softmax(logits), mixed one-hot)``).
    Defaults from the release: ``alpha=2.0``, ``mode="batch"``, ``pairing="permute"``, ``criterion="bce"``,
    candidates input/``layer1``/``layer2`` on a ResNet-named model.
    Deviations:
    - models without ``layer1``/``layer2`` children use the rule below (the release only defines ResNets).

    Candidates (names in ``model.named_modules()``): ``layers`` if given; else every sub-module whose class is
    in ``module_types`` (classes or class names); else ``model.manifold_layers`` if the model defines it;
    else,
    for a model with direct children ``layer1`` and ``layer2`` (torchvision/release ResNet naming), those two
    stages; else the model's direct children except the last (which usually is the classifier), each
    container (``nn.Sequential``/``nn.ModuleList``) replaced by its own children, one level down (a stage list
    becomes its blocks). ``include_input`` adds the input itself (``k = 0``, plain input mixup), as in the
    paper. Works with any ``nn.Module`` whose chosen layers return a ``[B, ...]`` tensor.

    ``criterion``: ``"bce"`` (the release: mean binary cross-entropy between ``softmax(logits)`` and the
    mixed one-hot target, averaged over rows and classes) or ``"ce"`` (mixkit's option: the mixed
    cross-entropy ``out.loss(logits)``). Regression targets always use ``out.loss``.

    Model-aware: :meth:`training_step` runs the model once with a forward hook (see :func:`mix_hidden`) and
    returns a :class:`StepOutput` whose ``mixed`` is the usual ``MixedBatch`` (``x`` is the model input:
    mixed only when ``k = 0``; ``extras["layer"]`` names the layer). Calling the mixer directly,
    ``mixer(x, y)``, mixes at the input only. ``x``: floating ``[B, ...]``.
    """

    name = "manifoldmixup"
    aliases = ("manifold", "manifold_mixup")
    paper = "Manifold Mixup: Better Representations by Interpolating Hidden States (Verma et al., ICML 2019)"
    paper_url = "https://arxiv.org/abs/1806.05236"
    release = "vikasverma1077/manifold_mixup"

    def __init__(self, alpha: float = 2.0, layers: Sequence[str] | str | None = None,
                 module_types: Sequence[type | str] | type | str | None = None, include_input: bool = True, *,
                 mode: str = "batch", prob: float = 1.0, pairing: str = "permute", criterion: str = "bce",
                 validate: bool = True) -> None:
        super().__init__(alpha, mode=mode, prob=prob, pairing=pairing, validate=validate)
        if criterion not in CRITERIA:
            raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
        self.criterion = criterion
        self.layers = [layers] if isinstance(layers, str) else (list(layers) if layers is not None else None)
        if module_types is not None and not isinstance(module_types, (list, tuple)):
            module_types = [module_types]
        self.module_types = list(module_types) if module_types is not None else None
        self.include_input = bool(include_input)
        if self.layers is not None and not all(isinstance(n, str) for n in self.layers):
            raise TypeError(f"layers must be module names (str), got {layers!r}")

    def candidate_layers(self, model: nn.Module) -> list[str]:
        """Names of the layers the mixing point is drawn from (``"input"`` means the input itself)."""
        modules = dict(model.named_modules())
        if self.layers is not None:
            missing = [n for n in self.layers if n not in modules and n != INPUT]
            if missing:
                raise ValueError(f"layers: {missing} are not sub-modules of {type(model).__name__}; "
                                 f"known: {', '.join(n for n in modules if n)}")
            names = [n for n in self.layers if n != INPUT]
        elif self.module_types is not None:
            names = [n for n, m in modules.items() if n and any(
                (isinstance(t, str) and type(m).__name__ == t) or (isinstance(t, type) and isinstance(m, t))
                for t in self.module_types)]
            if not names:
                raise ValueError(f"module_types: no sub-module of {type(model).__name__} matches "
                                 f"{self.module_types}")
        elif hasattr(model, "manifold_layers"):
            names = list(model.manifold_layers)
        else:
            names = _default_layers(model)
        want_input = self.include_input or (self.layers is not None and INPUT in self.layers)
        cands = ([INPUT] if want_input else []) + names
        if not cands:
            raise ValueError(f"no layer to mix at in {type(model).__name__}: give layers= or module_types=, "
                             "or keep include_input=True")
        return cands

    def apply(self, x: Tensor, params: MixParams, out: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Input mixup ``lam x + (1 - lam) x[index]`` (differentiable) and ``lam``."""
        mixed = mix_rows(x, params.pairs, params.lam)
        return (mixed if out is None else out.copy_(mixed)), params.lam

    def training_step(self, model: nn.Module, x: Tensor, y: Tensor, *,
                      generator: torch.Generator | None = None) -> StepOutput:
        """Draw partners, ``lam`` and the layer, run ``model`` once with the hidden state mixed, mixed CE."""
        g = self.check_step(model, x, y, generator)
        cands = self.candidate_layers(model)
        layer = cands[int(torch.randint(len(cands), (1,), generator=g))]
        params = self.draw(x.shape, g)
        pairs, lam = params.pairs, params.lam
        lam_dev = lam.to(x.device, torch.float32, non_blocking=True)
        if layer == INPUT:
            x_in = mix_rows(x, pairs, lam)
            logits = model(x_in)
        else:
            x_in = x
            with mix_hidden(model, layer, pairs, lam) as state:
                logits = model(x)
            if not state["mixed"]:
                raise RuntimeError(f"layer {layer!r} was not called during the forward pass of "
                                   f"{type(model).__name__}; choose layers that the forward pass runs")
        out = MixedBatch(x=x_in, index=pairs.index.to(x.device, non_blocking=True), lam=lam_dev, y=y,
                         extras={"layer": layer})
        return StepOutput(loss=self.loss(out, logits), logits=logits, mixed=out)

    def loss(self, out: MixedBatch, logits: Tensor) -> Tensor:
        """The training loss of ``logits`` ``[B, K]`` on ``out``'s labels (see ``criterion``)."""
        if self.criterion == "ce" or out.y is None or out.y.dtype.is_floating_point or logits.dim() != 2:
            return out.loss(logits)
        target = out.soft_targets(logits.shape[1])
        prob = torch.softmax(logits.float(), dim=1)
        return F.binary_cross_entropy(prob, target)

    def extra_repr(self) -> str:
        return (f"{super().extra_repr()}, layers={self.layers}, module_types={self.module_types}, "
                f"include_input={self.include_input}, criterion={self.criterion!r}")
