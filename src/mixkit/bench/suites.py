"""Benchmark suites (defaults that command-line flags override) and the default method list.

* ``quick``: Fashion-MNIST (digits when Fashion-MNIST is missing), ``SmallCNN``, a 6,000-image training
  subset, 4 epochs, 2 seeds, no augmentation besides the mixing. Sized so one method x seed run costs
  roughly 15-20 s on 2 CPU cores and every registered method fits in 15 minutes.
* ``full``: the whole dataset, PreAct-ResNet-18, 100 epochs, 3 seeds, crop+flip augmentation; meant for
  ``--device cuda``.
"""

from __future__ import annotations

from typing import Any

import torch

from ..sample import registry
from .data import ImageDataset
from .models import build_model
from .train import MethodUnsupported, build_mixer, check_supported

SUITES: dict[str, dict[str, Any]] = {
    "quick": {"dataset": "fashion-mnist", "model": "cnn", "epochs": 4, "seeds": 2, "train_subset": 6000,
              "test_subset": 2000, "batch_size": 128, "lr": 0.05, "augment": False},
    "full": {"dataset": "fashion-mnist", "model": "preact_resnet18", "epochs": 100, "seeds": 3,
             "train_subset": None, "test_subset": None, "batch_size": 128, "lr": 0.1, "augment": True},
}
# the tiny digits set (1,438 training images of 8x8) needs more epochs for the same number of steps
DATASET_OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {("quick", "digits"): {"epochs": 15}}


def suite_settings(suite: str, dataset: str) -> dict[str, Any]:
    if suite not in SUITES:
        raise ValueError(f"suite must be one of {sorted(SUITES)}, got {suite!r}")
    return {**SUITES[suite], **DATASET_OVERRIDES.get((suite, dataset), {})}


def probe_method(spec: str, model_name: str, data: ImageDataset, model_kwargs: dict[str, Any] | None = None
                 ) -> str | None:
    """``None`` if ``spec`` can train the model on this data (one forward/backward on 8 real images, CPU),
    else the reason it cannot."""
    try:
        mixer = build_mixer(spec)
        model = build_model(model_name, data.in_channels, data.num_classes, data.image_size,
                            **(model_kwargs or {}))
        check_supported(mixer, model)
        from ..sample import ModelAwareMixer

        x = data.normalize(data.train_x[:8])
        y = data.train_y[:8]
        g = torch.Generator().manual_seed(0)
        if isinstance(mixer, ModelAwareMixer):
            loss = mixer.training_step(model, x, y, generator=g).loss
        else:
            loss = mixer(x, y, generator=g).loss(model(x))
        loss.backward()
        if not torch.isfinite(loss):
            return f"probe step gave a non-finite loss ({float(loss)})"
    except MethodUnsupported as err:
        return str(err)
    except Exception as err:
        return f"probe step failed: {type(err).__name__}: {err}"
    return None


def default_methods(model_name: str, data: ImageDataset, model_kwargs: dict[str, Any] | None = None
                    ) -> tuple[list[str], dict[str, str]]:
    """Every registered method that works with ``model_name`` on ``data``, ``none`` first; and the skipped
    ones with their reasons (a ``requires`` the model lacks, another task, a failing probe step)."""
    names = registry.names()
    names = (["none"] if "none" in names else []) + [n for n in names if n != "none"]
    ok, skipped = [], {}
    for name in names:
        reason = probe_method(name, model_name, data, model_kwargs)
        if reason is None:
            ok.append(name)
        else:
            skipped[name] = reason
    return ok, skipped
