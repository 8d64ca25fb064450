"""Benchmark suites (defaults that command-line flags override) and the default method list.

* ``quick`` (what ``make bench`` runs): Fashion-MNIST (digits when Fashion-MNIST is missing), ``SmallCNN``
  (width 16), a seeded 1,000-image training subset trained for 30 epochs (batch 64, about 470 steps), 2,000
  test images, 3 seeds, no augmentation besides the mixing, and the image mixers that cost at most about
  twice a plain step (:data:`QUICK_METHODS`). The regime is the one the mixing papers measure in: the
  no-mixing baseline fits its training set (>= 99 % clean training accuracy, a column of the table) long
  before the end. One method x seed run costs about 18 s of CPU time; the suite about 11 CPU-minutes.
* ``standard``: the quick suite's data, model and schedule with *every* image-classification method and 3
  seeds (the quick suite's runs are reused from the cache); the table gives each method's paired difference
  to no mixing with a 95 % interval over seeds and a better / worse / within-noise verdict.
* ``full`` (GPU): CIFAR-100, PreAct-ResNet-18, random crop + flip, batch 128, lr 0.1, the methods OpenMixup
  ranks on CIFAR-100 (:data:`mixkit.bench.published.OPENMIXUP_CIFAR100_R18`, 200 epochs there) for 30
  epochs, 1 seed: about one GPU hour (``--seeds 3`` for intervals: about three); run with
  ``mixkit bench --suite full --dataset cifar100 --data-dir DIR --device cuda --amp``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from ..sample import registry
from .data import ImageDataset
from .models import build_model
from .published import OPENMIXUP_CIFAR100_R18
from .train import MethodUnsupported, build_mixer, check_supported

# image mixers whose step costs at most about twice a plain step (the model-aware AutoMix, AdAutoMix,
# RankMixup and AttentiveMix cost 3-7x and run in the standard suite)
QUICK_METHODS = ("none", "mixup", "cutmix", "manifoldmixup", "fmix", "gridmix", "resizemix", "saliencymix",
                 "smoothmix", "cutout", "puzzlemix")
FULL_METHODS = tuple(OPENMIXUP_CIFAR100_R18)

SUITES: dict[str, dict[str, Any]] = {
    "quick": {"dataset": "fashion-mnist", "model": "cnn", "epochs": 30, "seeds": 3, "train_subset": 1000,
              "test_subset": 2000, "batch_size": 64, "lr": 0.05, "augment": False, "evals": 8,
              "methods": QUICK_METHODS},
    "standard": {"dataset": "fashion-mnist", "model": "cnn", "epochs": 30, "seeds": 3, "train_subset": 1000,
                 "test_subset": 2000, "batch_size": 64, "lr": 0.05, "augment": False, "evals": 8,
                 "methods": None},
    "full": {"dataset": "cifar100", "model": "preact_resnet18", "epochs": 30, "seeds": 1,
             "train_subset": None, "test_subset": None, "batch_size": 128, "lr": 0.1, "augment": True,
             "evals": 10, "methods": FULL_METHODS},
}
# the tiny digits set (1,438 training images of 8x8): all of it, for the same number of epochs
DATASET_OVERRIDES: dict[tuple[str, str], dict[str, Any]] = {("quick", "digits"): {"train_subset": None},
                                                           ("standard", "digits"): {"train_subset": None}}


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


def default_methods(model_name: str, data: ImageDataset, model_kwargs: dict[str, Any] | None = None,
                    only: Sequence[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """Every registered method (or those of ``only``, e.g. a suite's ``methods``) that works with
    ``model_name`` on ``data``, ``none`` first; and the skipped ones with their reasons (a ``requires`` the
    model lacks, another task, a failing probe step)."""
    names = registry.names()
    if only is not None:
        unknown = [n for n in only if n not in names]
        if unknown:
            raise ValueError(f"only names unregistered methods {unknown}")
        names = [n for n in names if n in only]
    names = (["none"] if "none" in names else []) + [n for n in names if n != "none"]
    ok, skipped = [], {}
    for name in names:
        reason = probe_method(name, model_name, data, model_kwargs)
        if reason is None:
            ok.append(name)
        else:
            skipped[name] = reason
    return ok, skipped
