"""``MixCollate``: mix inside DataLoader workers (torchvision v2's ``collate_fn`` pattern), seeded per worker.

torchvision's recipe mixes after collation, in the workers::

    loader = DataLoader(dataset, batch_size=128, shuffle=True, num_workers=8,
                        collate_fn=MixCollate(mixkit.CutMix(), num_classes=1000, output="targets"))
    for x, soft_targets in loader: ...

A generator handed to a mixer is copied into every worker process, so each worker would repeat the same
draws. ``MixCollate`` instead seeds a generator of its own in each worker from the worker's seed
(``torch.utils.data.get_worker_info().seed``, which the DataLoader derives from its own ``generator`` for each
epoch's workers): draws differ across workers and epochs and repeat when the DataLoader's generator is
seeded the same way. In the main process (``num_workers=0``) it uses ``seed`` (or torch's global generator).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import default_collate, get_worker_info

from ..sample.batch import MixedBatch
from .timm import Mixup

__all__ = ["MixCollate", "default_inputs_getter", "default_labels_getter"]

_INPUT_KEYS = ("image", "images", "img", "pixel_values", "input", "inputs", "x")
_LABEL_KEYS = ("labels", "label", "target", "targets", "y")
_SEED_MIX = 0x9E3779B97F4A7C15  # odd 64-bit constant: worker seed + seed * _SEED_MIX stays distinct per seed


def _find_key(batch: Mapping[str, Any], keys: Sequence[str], what: str, hook: str) -> str:
    lower = {str(k).lower(): k for k in batch}
    for k in keys:
        if k in lower:
            return lower[k]
    raise ValueError(f"{hook}: found no {what} key among {list(batch)} (looked for {list(keys)}); pass "
                     f"{hook}=callable(batch) -> tensor")


def default_inputs_getter(batch: Any) -> Tensor:
    """The inputs of a collated batch: item 0 of a tuple/list, or the value of the first of
    ``image``, ``images``, ``img``, ``pixel_values``, ``input``, ``inputs``, ``x`` in a dict (any case)."""
    if isinstance(batch, Mapping):
        return batch[_find_key(batch, _INPUT_KEYS, "input", "inputs_getter")]
    if isinstance(batch, (tuple, list)) and batch:
        return batch[0]
    raise TypeError(f"inputs_getter: cannot find the inputs of a {type(batch).__name__}; pass "
                    "inputs_getter=callable(batch) -> tensor")


def default_labels_getter(batch: Any) -> Tensor:
    """The labels of a collated batch (torchvision v2's heuristic): item 1 of a tuple/list, or the value of
    the first of ``labels``, ``label``, ``target``, ``targets``, ``y`` in a dict (any case)."""
    if isinstance(batch, Mapping):
        return batch[_find_key(batch, _LABEL_KEYS, "label", "labels_getter")]
    if isinstance(batch, (tuple, list)) and len(batch) >= 2:
        return batch[1]
    raise TypeError(f"labels_getter: cannot find the labels of a {type(batch).__name__}; pass "
                    "labels_getter=callable(batch) -> tensor")


def _replace(batch: Any, old_x: Tensor, new_x: Tensor, old_y: Tensor, new_y: Tensor) -> Any:
    """``batch`` (tuple, list or dict) with the inputs and labels swapped for their mixed versions."""
    def swap(v: Any) -> Any:
        return new_x if v is old_x else new_y if v is old_y else v
    if isinstance(batch, Mapping):
        return {k: swap(v) for k, v in batch.items()}
    return type(batch)(swap(v) for v in batch) if not hasattr(batch, "_fields") else \
        type(batch)(*(swap(v) for v in batch))


class MixCollate:
    """A DataLoader ``collate_fn``: ``collate_fn(samples)`` then ``mixer(x, y)``, with a generator per worker.

    Args:
        mixer: any mixkit :class:`~mixkit.sample.Mixer` (not a model-aware one: those run the model), a
            :class:`mixkit.compat.timm.Mixup` (its ``mix`` is called) or a callable
            ``mixer(x, y, generator=g) -> MixedBatch``.
        num_classes: ``K``, needed for ``output="targets"`` with class-id labels (default: a timm-compatible
            ``Mixup``'s own ``num_classes``).
        label_smoothing: smoothing of the soft targets (``output="targets"``; default: a timm-compatible
            ``Mixup``'s own ``label_smoothing``, else 0).
        output: ``"mixed"`` (default): a :class:`~mixkit.sample.MixedBatch` (train with ``out.loss(logits)``;
            the batch's other fields are in ``out.extras["batch"]``); ``"targets"``: the batch in its own
            structure (tuple, list or dict) with the inputs mixed and the labels replaced by soft targets
            ``[B, K]`` float32, as torchvision's ``MixUp``/``CutMix``.
        seed: mixed into each worker's seed (so two collates in one loader differ); in the main process
            (``num_workers=0``) the generator's seed, or ``None`` for torch's global generator.
        scale: uint8 inputs are converted to ``dtype`` and multiplied by ``scale`` before mixing (default
            ``1/255``, torchvision's ``ToDtype(scale=True)``; ``1.0`` keeps the 0-255 range). Floating inputs
            are mixed as they are.
        dtype: the floating dtype uint8 inputs become (default float32).
        collate_fn: builds the batch from the samples (default ``torch.utils.data.default_collate``).
        inputs_getter, labels_getter: ``callable(batch) -> tensor``; defaults :func:`default_inputs_getter`,
            :func:`default_labels_getter`. ``labels_getter=None``: mix without labels (``output="mixed"``).
    """

    def __init__(self, mixer: Callable[..., MixedBatch], *, num_classes: int | None = None,
                 label_smoothing: float | None = None, output: str = "mixed", seed: int | None = None,
                 scale: float = 1.0 / 255.0, dtype: torch.dtype = torch.float32,
                 collate_fn: Callable[[list[Any]], Any] = default_collate,
                 inputs_getter: Callable[[Any], Tensor] = default_inputs_getter,
                 labels_getter: Callable[[Any], Tensor] | None = default_labels_getter) -> None:
        if not callable(mixer):
            raise TypeError(f"mixer must be a mixkit Mixer or a callable, got {type(mixer).__name__}")
        if getattr(mixer, "model_aware", False):
            raise TypeError(f"mixer: {type(mixer).__name__} runs the model (training_step); it cannot mix in "
                            "a collate_fn")
        if output not in ("mixed", "targets"):
            raise ValueError(f"output must be 'mixed' or 'targets', got {output!r}")
        if num_classes is not None and (not isinstance(num_classes, int) or num_classes < 1):
            raise ValueError(f"num_classes must be an int >= 1 or None, got {num_classes!r}")
        if output == "targets" and labels_getter is None:
            raise ValueError("output='targets' needs labels: labels_getter must not be None")
        if label_smoothing is not None and not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(f"label_smoothing must be in [0, 1), got {label_smoothing!r}")
        if seed is not None and (not isinstance(seed, int) or seed < 0):
            raise ValueError(f"seed must be an int >= 0 or None, got {seed!r}")
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
            raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
        if not float(scale) > 0:
            raise ValueError(f"scale must be > 0, got {scale!r}")
        for name, fn in (("collate_fn", collate_fn), ("inputs_getter", inputs_getter)):
            if not callable(fn):
                raise TypeError(f"{name} must be callable")
        if labels_getter is not None and not callable(labels_getter):
            raise TypeError("labels_getter must be callable or None")
        self.mixer, self.num_classes = mixer, num_classes
        self.label_smoothing = None if label_smoothing is None else float(label_smoothing)
        self.output, self.seed, self.scale, self.dtype = output, seed, float(scale), dtype
        self.collate_fn, self.inputs_getter, self.labels_getter = collate_fn, inputs_getter, labels_getter
        self._generator: torch.Generator | None = None
        self._key: tuple[int, int] | None = None

    def generator(self) -> torch.Generator | None:
        """The generator of this process: seeded from the worker's seed in a DataLoader worker (once per
        worker and epoch), from ``seed`` in the main process, else ``None`` (torch's global one)."""
        info = get_worker_info()
        if info is None:
            if self.seed is None:
                return None
            key = (-1, self.seed)
            seed = self.seed
        else:
            key = (info.id, info.seed)
            seed = (info.seed + (self.seed or 0) * _SEED_MIX) % 2 ** 64
        if self._key != key:
            self._generator, self._key = torch.Generator().manual_seed(seed), key
        return self._generator

    def __call__(self, samples: list[Any]) -> MixedBatch | Any:
        batch = self.collate_fn(samples)
        x = self.inputs_getter(batch)
        if not isinstance(x, Tensor):
            raise TypeError(f"inputs_getter must return a tensor, got {type(x).__name__}")
        raw_y = self.labels_getter(batch) if self.labels_getter is not None else None
        y = raw_y if raw_y is None or isinstance(raw_y, Tensor) else torch.as_tensor(raw_y)
        xf = x
        if x.dtype == torch.uint8:
            xf = x.to(self.dtype).mul_(self.scale)
        elif not x.is_floating_point():
            raise TypeError(f"inputs must be uint8 or floating, got {x.dtype}")
        mix = self.mixer.mix if isinstance(self.mixer, Mixup) else self.mixer
        out = mix(xf, y, generator=self.generator())
        if self.output == "mixed":
            rest = _rest(batch, x, raw_y)
            if rest is not None:
                out.extras["batch"] = rest
            return out
        assert y is not None
        timm_like = isinstance(self.mixer, Mixup)
        smoothing = self.label_smoothing if self.label_smoothing is not None else \
            (self.mixer.label_smoothing if timm_like else 0.0)
        if y.is_floating_point():
            targets = out.soft_targets(y.shape[-1], smoothing)
        else:
            k = self.num_classes if self.num_classes is not None else \
                (self.mixer.num_classes if timm_like else None)
            if k is None:
                raise ValueError("num_classes: output='targets' with class-id labels needs num_classes")
            targets = out.soft_targets(k, smoothing)
        return _replace(batch, x, out.x, raw_y, targets)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(mixer={self.mixer!r}, num_classes={self.num_classes}, "
                f"label_smoothing={self.label_smoothing}, output={self.output!r}, seed={self.seed}, "
                f"scale={self.scale}, dtype={self.dtype})")

    def __getstate__(self) -> dict[str, Any]:  # workers start with no generator of their own
        state = dict(self.__dict__)
        state["_generator"], state["_key"] = None, None
        return state


def _rest(batch: Any, x: Tensor, y: Tensor | None) -> Any:
    """The fields of ``batch`` other than the inputs and labels, or ``None`` when there are none."""
    if isinstance(batch, Mapping):
        rest = {k: v for k, v in batch.items() if v is not x and v is not y}
        return rest or None
    if isinstance(batch, (tuple, list)):
        rest_list = [v for v in batch if v is not x and v is not y]
        return rest_list or None
    return None
