"""``MixCollate`` in real DataLoader workers, and ``MixedBatch.to``/``pin_memory``."""

from __future__ import annotations

from collections import namedtuple

import pytest
import torch
from torch.utils.data import DataLoader, Dataset, TensorDataset

from mixkit.compat import MixCollate
from mixkit.sample import CutMix, MixedBatch, MixUp, ModelAwareMixer

K = 5


class DictImages(Dataset):
    """uint8 images as dicts, as Hugging Face / torchvision v2 datasets return them."""

    def __init__(self, n: int = 32) -> None:
        g = torch.Generator().manual_seed(0)
        self.images = torch.randint(0, 256, (n, 3, 8, 8), dtype=torch.uint8, generator=g)
        self.labels = torch.arange(n) % K

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        return {"Image": self.images[i], "label": self.labels[i], "id": i}


class _Aware(ModelAwareMixer):
    """A model-aware mixer (it runs the model), which a collate_fn cannot use."""


def float_data(n: int = 32) -> TensorDataset:
    g = torch.Generator().manual_seed(1)
    return TensorDataset(torch.rand(n, 3, 8, 8, generator=g), torch.arange(n) % K)


def run_epoch(dataset, collate, seed: int, workers: int = 2, batch_size: int = 4) -> list:
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, num_workers=workers,
                        collate_fn=collate, generator=torch.Generator().manual_seed(seed))
    return list(loader)


def draws(batches: list[MixedBatch]) -> list[tuple]:
    return [(tuple(b.index.tolist()), round(float(b.lam[0]), 6)) for b in batches]


def test_workers_draw_differently_and_repeat_under_the_same_seed():
    collate = MixCollate(MixUp(alpha=1.0))
    a = run_epoch(float_data(), collate, seed=0)
    b = run_epoch(float_data(), collate, seed=0)
    c = run_epoch(float_data(), collate, seed=1)
    assert all(isinstance(o, MixedBatch) for o in a)
    assert draws(a) == draws(b)  # same DataLoader generator: same draws
    for x, y in zip(a, b):
        assert torch.equal(x.x, y.x)
    assert draws(a) != draws(c)
    # batch k goes to worker k % 2; each worker's first batch must not repeat the other's draw
    assert draws(a)[0] != draws(a)[1]
    lam = [d[1] for d in draws(a)]
    assert len(set(lam)) == len(lam)  # no draw repeated across the 8 batches of the two workers


def test_a_generator_copied_into_workers_repeats_draws_which_mixcollate_avoids():
    g = torch.Generator().manual_seed(0)
    mixer = MixUp(alpha=1.0)

    def naive(samples):
        x, y = torch.utils.data.default_collate(samples)
        return mixer(x, y, generator=g)

    naive_draws = draws(run_epoch(float_data(), naive, seed=0))
    assert naive_draws[0] == naive_draws[1]  # the problem: both workers start from the same state
    ours = draws(run_epoch(float_data(), MixCollate(mixer), seed=0))
    assert ours[0] != ours[1]


def test_uint8_dict_batches_with_targets_output():
    collate = MixCollate(CutMix(), num_classes=K, output="targets", label_smoothing=0.1)
    out = run_epoch(DictImages(), collate, seed=0)
    first = out[0]
    assert set(first) == {"Image", "label", "id"}
    assert first["Image"].dtype == torch.float32 and float(first["Image"].max()) <= 1.0
    assert first["label"].shape == (4, K)
    torch.testing.assert_close(first["label"].sum(1), torch.ones(4))
    assert first["id"].tolist() == [0, 1, 2, 3]


def test_uint8_scale_and_values_match_a_direct_call():
    ds = DictImages(8)
    collate = MixCollate(MixUp(), output="mixed", seed=3, scale=1.0)
    out = collate([ds[i] for i in range(4)])
    x = ds.images[:4].float()
    ref = MixUp()(x, ds.labels[:4], generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out.x, ref.x)
    assert list(out.extras["batch"]) == ["id"] and out.extras["batch"]["id"].tolist() == [0, 1, 2, 3]


def test_tuple_batches_and_custom_labels_getter():
    samples = [(torch.rand(3, 4, 4), {"cls": torch.tensor(i % K)}) for i in range(4)]
    collate = MixCollate(MixUp(), num_classes=K, output="targets", seed=0,
                         labels_getter=lambda batch: batch[1]["cls"])
    x, meta = collate(samples)
    assert x.shape == (4, 3, 4, 4)
    assert meta == {"cls": meta["cls"]}  # the labels were not found at the top level: left untouched
    mixed = MixCollate(MixUp(), seed=0, labels_getter=lambda batch: batch[1]["cls"])(samples)
    assert mixed.y.tolist() == [0, 1, 2, 3]
    Point = namedtuple("Point", "img lab")
    points = [Point(torch.rand(3, 4, 4), i) for i in range(4)]
    x2, t2 = MixCollate(MixUp(), num_classes=K, output="targets", seed=0)(points)
    assert t2.shape == (4, K)


def test_timm_compatible_mixup_as_the_mixer():
    from mixkit.compat.timm import Mixup

    samples = [(torch.rand(3, 4, 4), i % K) for i in range(4)]
    m = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, mode="elem", num_classes=K)
    x, t = MixCollate(m, output="targets", seed=2)(samples)  # K and smoothing: the Mixup's own
    x_ref, t_ref = m(torch.stack([s[0] for s in samples]), torch.arange(4) % K,
                     generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(x, x_ref)
    torch.testing.assert_close(t, t_ref)


def test_labels_given_as_lists_are_replaced():
    def as_lists(samples):
        return {"x": torch.stack([s[0] for s in samples]), "label": [s[1] for s in samples]}
    samples = [(torch.rand(3, 4, 4), i % K) for i in range(4)]
    out = MixCollate(MixUp(), num_classes=K, output="targets", seed=0, collate_fn=as_lists)(samples)
    assert out["label"].shape == (4, K)
    mixed = MixCollate(MixUp(), seed=0, collate_fn=as_lists)(samples)
    assert "batch" not in mixed.extras and mixed.y.tolist() == [0, 1, 2, 3]


def test_soft_label_targets_need_no_num_classes():
    one_hot = torch.eye(K)
    samples = [(torch.rand(3, 4, 4), one_hot[i % K]) for i in range(4)]
    x, t = MixCollate(MixUp(), output="targets", seed=0)(samples)
    assert t.shape == (4, K)


def test_errors_name_the_argument():
    with pytest.raises(TypeError, match="mixer"):
        MixCollate(_Aware())
    with pytest.raises(ValueError, match="output"):
        MixCollate(MixUp(), output="dict")
    with pytest.raises(ValueError, match="num_classes"):
        MixCollate(MixUp(), output="targets", seed=0)([(torch.rand(3, 4, 4), 0), (torch.rand(3, 4, 4), 1)])
    with pytest.raises(ValueError, match="inputs_getter"):
        MixCollate(MixUp(), seed=0)([{"foo": torch.rand(3, 4, 4), "label": 0}] * 2)
    with pytest.raises(TypeError, match="uint8 or floating"):
        MixCollate(MixUp(), seed=0)([(torch.zeros(3, 4, 4, dtype=torch.int32), 0)] * 2)
    with pytest.raises(ValueError, match="seed"):
        MixCollate(MixUp(), seed=-1)
    assert "MixUp" in repr(MixCollate(MixUp()))


# ----------------------------------------------------------------------------- MixedBatch.to / pin_memory
def test_to_moves_every_tensor_and_keeps_values():
    out = MixUp()(torch.rand(4, 3, 4, 4), torch.arange(4), generator=torch.Generator().manual_seed(0))
    out.extras["nested"] = {"a": [torch.ones(2)], "b": (torch.zeros(1), 3)}
    moved = out.to("cpu", non_blocking=True)
    assert moved is not out and torch.equal(moved.x, out.x) and torch.equal(moved.lam, out.lam)
    assert moved.extras["nested"]["b"][1] == 3
    meta = out.to("meta")
    assert meta.x.device.type == "meta" and meta.index.device.type == "meta" and meta.y.device.type == "meta"
    assert meta.extras["nested"]["a"][0].device.type == "meta"


def test_pin_memory_is_called_on_every_tensor(monkeypatch):
    pinned = []
    monkeypatch.setattr(torch.Tensor, "pin_memory", lambda self, *a: pinned.append(self.shape) or self)
    out = MixUp()(torch.rand(4, 3, 4, 4), torch.arange(4), generator=torch.Generator().manual_seed(0))
    out.extras["m"] = torch.ones(4, 1)
    from torch.utils.data._utils.pin_memory import pin_memory
    res = pin_memory(out)  # what a DataLoader with pin_memory=True does with a batch
    assert isinstance(res, MixedBatch)
    assert len(pinned) == 5  # x, index, lam, y, extras["m"]


def test_dataloader_pin_memory_true_with_mixed_batches():
    loader = DataLoader(float_data(8), batch_size=4, num_workers=0, pin_memory=True,
                        collate_fn=MixCollate(MixUp(), seed=0))
    with pytest.warns(UserWarning) if not torch.cuda.is_available() else _nullcontext():
        batches = list(loader)
    assert all(isinstance(b, MixedBatch) for b in batches)
    if torch.cuda.is_available():
        assert batches[0].x.is_pinned()
        assert batches[0].to("cuda", non_blocking=True).x.is_cuda


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False
