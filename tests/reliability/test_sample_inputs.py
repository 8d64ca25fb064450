"""Bad input to ``mixkit.sample``: every case ends in a ``TypeError``/``ValueError`` that names the argument,
or in a correct result. No error from inside torch, no NaN, no silent fallback."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import mixkit
from mixkit.sample import MixedBatch, build, mixoe_loss, mixoe_targets
from optional_extras import needs

IMAGE_MIXERS = ["mixup", "cutmix", "cutout", "fmix", "gridmix", "resizemix", "saliencymix", "smoothmix",
                "none"]
X = torch.randn(4, 3, 8, 8)
Y = torch.tensor([0, 1, 2, 3])


def _gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# ------------------------------------------------------------------ generator
@pytest.mark.parametrize("name", IMAGE_MIXERS)
@pytest.mark.parametrize("generator", [0, 42, "seed", 1.5, np.random.default_rng(0)],
                         ids=["zero", "int", "str", "float", "numpy"])
def test_non_generator_is_a_type_error_naming_generator(name, generator):
    with pytest.raises(TypeError, match="generator must be a CPU torch.Generator"):
        build(name)(X, Y, generator=generator)


def test_random_choice_and_mixoe_check_the_generator_too():
    with pytest.raises(TypeError, match="generator"):
        build("mixup|cutmix")(X, Y, generator=0)
    with pytest.raises(TypeError, match="generator"):
        mixkit.MixOE()(X, Y, torch.randn(4, 3, 8, 8), generator=0)
    with pytest.raises(TypeError, match="generator"):
        mixkit.sample.sample_beta(1.0, 3, generator=0)


# ------------------------------------------------------------------ autograd (hidden features, embeddings)
@pytest.mark.parametrize("name", IMAGE_MIXERS)
@pytest.mark.parametrize("with_out", [False, True], ids=["new", "out"])
def test_inputs_that_require_grad_mix_like_plain_inputs(name, with_out):
    mixer = build(name) if name != "resizemix" else mixkit.ResizeMix(mode="elem")
    plain = mixer(X, Y, generator=_gen(3))
    xg = X.clone().requires_grad_()
    out = torch.empty_like(X) if with_out else None
    mixed = mixer(xg, Y, generator=_gen(3), out=out)
    torch.testing.assert_close(mixed.x.detach(), plain.x)
    torch.testing.assert_close(mixed.lam, plain.lam)
    mixed.x.sum().backward()
    assert xg.grad is not None and bool(torch.isfinite(xg.grad).all())


@pytest.mark.parametrize("mode", ["batch", "elem", "pair"])
@pytest.mark.parametrize("placement", ["clip", "inside"])
@pytest.mark.parametrize("shape", [(6, 3, 9, 7), (5, 2, 11), (4, 2, 5, 6, 7)], ids=["2d", "1d", "3d"])
def test_resizemix_under_autograd_pastes_the_same_pixels(mode, placement, shape):
    kwargs = {"mode": mode, "placement": placement, "prob": 0.7}
    if mode == "pair":
        kwargs["pairing"] = "flip"
    mixer = mixkit.ResizeMix(**kwargs)
    x = torch.randn(shape)
    plain = mixer(x, generator=_gen(1))
    xg = x.clone().requires_grad_()
    mixed = mixer(xg, generator=_gen(1), out=torch.empty_like(x))
    assert torch.equal(mixed.x.detach(), plain.x)
    mixed.x.sum().backward()
    # every output pixel comes from exactly one input pixel: the gradient sums to the number of pixels
    assert xg.grad.sum().item() == pytest.approx(x.numel())


# ------------------------------------------------------------------ x, y, out
BAD_X = [
    pytest.param([[1.0]], TypeError, "x must be a torch.Tensor", id="list"),
    pytest.param(torch.zeros(4, 3, 8, 8, dtype=torch.long), TypeError, "floating", id="int"),
    pytest.param(torch.zeros(4, 3, 8, 8, dtype=torch.bool), TypeError, "floating", id="bool"),
    pytest.param(torch.zeros(0, 3, 8, 8), ValueError, "at least one row", id="empty"),
    pytest.param(torch.zeros(4), ValueError, "x must have rank", id="rank1"),
]


@pytest.mark.parametrize("name", IMAGE_MIXERS)
@pytest.mark.parametrize(("x", "exc", "match"), BAD_X)
def test_bad_x(name, x, exc, match):
    with pytest.raises(exc, match=match):
        build(name)(x)


BAD_Y = [
    pytest.param([0, 1, 2, 3], TypeError, "y must be a torch.Tensor", id="list"),
    pytest.param(torch.arange(5), ValueError, "batch size 4", id="length"),
    pytest.param(torch.ones(4, dtype=torch.bool), TypeError, "bool", id="bool"),
    pytest.param(torch.zeros(4, 2, dtype=torch.long), ValueError, "class ids must have shape", id="2d-int"),
    pytest.param(torch.tensor(1), ValueError, "batch size 4", id="scalar"),
]


@pytest.mark.parametrize("name", IMAGE_MIXERS)
@pytest.mark.parametrize(("y", "exc", "match"), BAD_Y)
def test_bad_y(name, y, exc, match):
    with pytest.raises(exc, match=match):
        build(name)(X, y)


BAD_OUT = [
    pytest.param(lambda x: torch.empty(4, 3, 8, 8, dtype=torch.float64), ValueError, "out must have",
                 id="dtype"),
    pytest.param(lambda x: torch.empty(4, 3, 8, 9), ValueError, "out must have", id="shape"),
    pytest.param(lambda x: 3, TypeError, "out must be a torch.Tensor", id="int"),
    pytest.param(lambda x: x, ValueError, "share memory", id="x-itself"),
    pytest.param(lambda x: torch.empty(1, 3, 8, 8).expand(4, 3, 8, 8), ValueError, "expanded", id="expanded"),
]


@pytest.mark.parametrize("name", IMAGE_MIXERS)
@pytest.mark.parametrize(("make_out", "exc", "match"), BAD_OUT)
def test_bad_out(name, make_out, exc, match):
    x = X.clone()
    with pytest.raises(exc, match=match):
        build(name)(x, Y, out=make_out(x))


@pytest.mark.parametrize("name", IMAGE_MIXERS)
def test_nan_labels_with_class_range_checks(name):
    out = build(name)(X, torch.tensor([0, 1, 2, 9]))
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 5\)"):
        out.loss(torch.randn(4, 5))


# ------------------------------------------------------------------ constructor arguments
@pytest.mark.parametrize("cls", [mixkit.MixUp, mixkit.CutMix, mixkit.FMix, mixkit.ResizeMix])
@pytest.mark.parametrize("alpha", [True, "1", None, [1.0], float("nan"), -1e-9, 1e400, torch.ones(2)])
def test_bad_alpha_names_alpha(cls, alpha):
    with pytest.raises((ValueError, TypeError), match="alpha"):
        cls(alpha=alpha)


@pytest.mark.parametrize("prob", [True, "0.5", None, float("nan"), -0.1, 1.01])
def test_bad_prob_names_prob(prob):
    with pytest.raises(ValueError, match="prob"):
        mixkit.MixUp(prob=prob)


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"mode": None}, "mode"), ({"mode": "rows"}, "mode"), ({"pairing": None}, "pairing"),
    ({"pairing": "shuffle"}, "pairing"), ({"mode": "pair", "pairing": "roll"}, "pairing='flip'"),
])
def test_bad_mode_and_pairing(kwargs, match):
    with pytest.raises(ValueError, match=match):
        mixkit.MixUp(**kwargs)


@pytest.mark.parametrize("bandwidth", [0.0, -1.0, float("nan"), float("inf"), "x", True, None])
def test_cmixup_bad_bandwidth(bandwidth):
    with pytest.raises((ValueError, TypeError), match="bandwidth"):
        mixkit.CMixup(bandwidth=bandwidth)


# ------------------------------------------------------------------ spec strings
@pytest.mark.parametrize("spec", [
    "mixup@abc|cutmix", "mixup@inf|cutmix", "mixup@nan|cutmix", "mixup@-1|cutmix", "mixup@1e999|cutmix",
    "mixup@1@2|cutmix", "mixup@(1,2)|cutmix", "mixup@True|cutmix", "mixup@|cutmix", "mixup@'0.5'|cutmix",
])
def test_bad_choice_weight_is_refused_at_parse_time(spec):
    with pytest.raises(ValueError, match="weight"):
        build(spec)  # at build time, not at the first call


@pytest.mark.parametrize(("spec", "match"), [
    ("mixup@0|cutmix@0", "positive sum"), ("mixup|", "unknown mixing method"), ("|", "unknown"),
    ("bogus", "unknown mixing method 'bogus'"), ("mixup:alpha", "expected key=value"),
    ("mixup:=1", "expected key=value"), ("mixup:alpha=abc", "alpha"), ("mixup:alpha=1e999", "alpha"),
    ("mixup:bogus=1", "bad arguments for mixing method 'mixup'"), ("", "empty"), ("   ", "empty"),
])
def test_bad_spec_strings(spec, match):
    with pytest.raises(ValueError, match=match):
        build(spec)


@pytest.mark.parametrize("spec", [3, None, 1.5, ["mixup"]])
def test_spec_of_the_wrong_type(spec):
    with pytest.raises(TypeError, match="spec must be"):
        build(spec)


@settings(max_examples=60, deadline=None)
@given(w1=st.floats(allow_nan=True, allow_infinity=True), w2=st.floats(0.1, 10))
def test_spec_weights_property(w1, w2):
    spec = f"mixup@{w1!r}|cutmix@{w2!r}"
    if math.isfinite(w1) and w1 >= 0:
        mixer = build(spec)
        assert sum(mixer.weights) == pytest.approx(1.0)
        assert mixer(X, Y, generator=_gen(0)).x.isfinite().all()
    else:
        with pytest.raises(ValueError, match="weight"):
            build(spec)


def test_random_choice_checks_its_arguments():
    with pytest.raises(TypeError, match="mixers"):
        mixkit.RandomChoice("mixup")
    with pytest.raises(TypeError, match="mixers"):
        mixkit.RandomChoice([mixkit.MixUp(), "cutmix"])
    with pytest.raises(ValueError, match="weights"):
        mixkit.RandomChoice([mixkit.MixUp(), mixkit.CutMix()], [1.0, math.inf])
    with pytest.raises(TypeError, match="weights"):
        mixkit.RandomChoice([mixkit.MixUp(), mixkit.CutMix()], [1.0, "x"])


# ------------------------------------------------------------------ label rules and losses
@pytest.fixture
def mixed() -> MixedBatch:
    return mixkit.MixUp()(X, Y, generator=_gen(0))


@pytest.mark.parametrize(("logits", "exc", "match"), [
    (torch.zeros(4, 5, dtype=torch.long), TypeError, "logits must be a floating tensor"),
    (torch.zeros(4, 5, dtype=torch.bool), TypeError, "logits must be a floating tensor"),
    ([[1.0] * 5] * 4, TypeError, "logits must be a torch.Tensor"),
    (torch.randn(4), ValueError, r"logits must have shape \[B, K\]"),
    (torch.randn(3, 5), ValueError, r"logits must have shape \[B, K\]"),
    (torch.randn(4, 0), ValueError, "K >= 1"),
])
def test_loss_with_bad_logits(mixed, logits, exc, match):
    with pytest.raises(exc, match=match):
        mixed.loss(logits)


@pytest.mark.parametrize(("kwargs", "exc", "match"), [
    ({"label_smoothing": float("nan")}, ValueError, "label_smoothing"),
    ({"label_smoothing": 1.0}, ValueError, "label_smoothing"),
    ({"label_smoothing": "0.1"}, TypeError, "label_smoothing"),
    ({"reduction": "avg"}, ValueError, "reduction"),
    ({"y": torch.tensor([0, 1, 2, 9])}, ValueError, "class ids must lie"),
    ({"y": torch.tensor([0, 1, 2, -1])}, ValueError, "class ids must lie"),
    ({"y": torch.randn(4, 5)}, ValueError, "probability distributions"),
    ({"y": torch.full((4, 5), float("nan"))}, ValueError, "probability distributions"),
])
def test_loss_with_bad_options(mixed, kwargs, exc, match):
    with pytest.raises(exc, match=match):
        mixed.loss(torch.randn(4, 5), **kwargs)


@pytest.mark.parametrize(("num_classes", "exc"), [(0, ValueError), (-1, ValueError), (5.0, TypeError),
                                                  ("5", TypeError), (True, TypeError), (2, ValueError)])
def test_soft_targets_num_classes(mixed, num_classes, exc):
    with pytest.raises(exc, match="num_classes|class ids must lie"):
        mixed.soft_targets(num_classes)


def test_loss_of_half_logits_is_finite_and_matches_float(mixed):
    logits = torch.randn(4, 5)
    torch.testing.assert_close(mixed.loss(logits.half()), mixed.loss(logits.half().float()))


@pytest.mark.parametrize(("lam", "exc"), [
    (torch.full((4,), 2.0), ValueError), (torch.full((4,), -0.1), ValueError),
    (torch.full((4,), float("nan")), ValueError), (torch.ones(4, dtype=torch.long), TypeError),
    ([0.5] * 4, TypeError), (torch.full((3,), 0.5), ValueError),
])
def test_with_lam_refuses_weights_outside_the_unit_interval(mixed, lam, exc):
    with pytest.raises(exc, match="lam"):
        mixed.with_lam(lam)


def test_with_lam_accepts_the_edges(mixed):
    out = mixed.with_lam(torch.tensor([0.0, 1.0, 0.5, 0.25]))
    assert out.lam.tolist() == [0.0, 1.0, 0.5, 0.25]


@pytest.mark.parametrize("lam", [torch.full((4,), 1.5), torch.full((4,), -1.0),
                                 torch.full((4,), float("nan")), torch.ones(4, dtype=torch.long), [0.5] * 4,
                                 torch.full((2,), 0.5)])
def test_mixoe_helpers_refuse_bad_lam(lam):
    with pytest.raises((ValueError, TypeError), match="lam"):
        mixoe_targets(Y, lam, 5)
    with pytest.raises((ValueError, TypeError), match="lam"):
        mixoe_loss(torch.randn(4, 5), Y, lam)


def test_mixoe_helpers_other_arguments():
    lam = torch.full((4,), 0.5)
    with pytest.raises(TypeError, match="logits"):
        mixoe_loss(torch.zeros(4, 5, dtype=torch.long), Y, lam)
    with pytest.raises(ValueError, match="num_classes"):
        mixoe_targets(Y, lam, 5.0)
    with pytest.raises(ValueError, match="class ids"):
        mixoe_targets(torch.tensor([0, 1, 2, 7]), lam, 5)
    t = mixoe_targets(Y, lam, 5)
    torch.testing.assert_close(t.sum(1), torch.ones(4))


# ------------------------------------------------------------------ model-aware mixers
class TinyNet(nn.Module):
    """features: forward_features -> [B, 8, 4, 4], head -> [B, 5] logits."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.fc = nn.Linear(8, 5)

    def forward_features(self, x):
        return self.body(x)

    def head(self, f):
        return self.fc(f.mean((2, 3)))

    def forward(self, x):
        return self.head(self.forward_features(x))


MODEL_AWARE = [
    "manifoldmixup", "automix", "adautomix", "adamixup", "attentivemix", "rankmixup",
    pytest.param("puzzlemix", marks=needs("puzzlemix")), "transmix", "smmix",
]


def _model_and_input(name):
    mixer = build(name)
    if "attention" in mixer.requires:
        from mixkit.bench.models import TinyViT

        model = TinyViT(image_size=16, patch_size=4, in_channels=3, num_classes=5, dim=32, depth=1, heads=2)
        return mixer, model, torch.rand(4, 3, 16, 16, generator=_gen(0))
    return mixer, TinyNet(), torch.rand(4, 1, 8, 8, generator=_gen(0))


@pytest.mark.parametrize("name", MODEL_AWARE)
@pytest.mark.parametrize("labels", [[0, 1, 2, 7], [0, 1, 2, -1], [5, 5, 5, 5]], ids=["7", "neg", "K"])
def test_training_step_refuses_labels_out_of_range(name, labels):
    mixer, model, x = _model_and_input(name)
    with pytest.raises(ValueError, match=r"class ids must lie in \[0, 5\)"):
        mixer.training_step(model, x, torch.tensor(labels), generator=_gen(0))


@pytest.mark.parametrize("name", MODEL_AWARE)
@pytest.mark.parametrize(("what", "exc", "match"), [
    ("model", TypeError, "model must be a torch.nn.Module"),
    ("y_none", ValueError, "y"),
    ("y_list", TypeError, "y must be a torch.Tensor"),
    ("x_int", TypeError, "x must be a floating tensor"),
    ("generator", TypeError, "generator"),
])
def test_training_step_checks_before_any_forward(name, what, exc, match):
    mixer, model, x = _model_and_input(name)
    y = torch.tensor([0, 1, 2, 3])
    bad = {"model": {"model": None}, "y_none": {"y": None}, "y_list": {"y": [0, 1, 2, 3]},
           "x_int": {"x": (x * 10).long()}, "generator": {"generator": 0}}[what]
    args = {"model": model, "x": x, "y": y, "generator": _gen(0), **bad}
    with pytest.raises(exc, match=match):
        mixer.training_step(args["model"], args["x"], args["y"], generator=args["generator"])


@pytest.mark.parametrize("name", MODEL_AWARE)
def test_training_step_with_good_input_gives_a_finite_loss(name):
    mixer, model, x = _model_and_input(name)
    step = mixer.training_step(model, x, torch.tensor([0, 1, 2, 3]), generator=_gen(0))
    assert bool(torch.isfinite(step.loss))


# ------------------------------------------------------------------ loss-side methods
@pytest.mark.parametrize(("call", "exc", "match"), [
    (lambda L, mb: mixkit.sample.decoupled_mixup_loss(L.long(), mb), TypeError, "logits"),
    (lambda L, mb: mixkit.sample.decoupled_mixup_loss([[1.0]], mb), TypeError, "logits"),
    (lambda L, mb: mixkit.sample.decoupled_mixup_loss(L, "mixed"), TypeError, "mixed must be the MixedBatch"),
    (lambda L, mb: mixkit.sample.decoupled_mixup_loss(L, mb, torch.tensor([0, 1, 2, 9])), ValueError,
     "class ids"),
    (lambda L, mb: mixkit.sample.decoupled_mixup_loss(L, mb, eta=float("nan")), ValueError, "eta"),
    (lambda L, mb: mixkit.sample.decoupled_mixup_loss(L, mb, eta="x"), TypeError, "eta"),
    (lambda L, mb: mixkit.sample.decoupled_mixup_loss(L, mb, eta_mode="x"), ValueError, "eta_mode"),
    (lambda L, mb: mixkit.sample.decoupled_mixup_loss(L, mb, eta_thr=float("nan")), ValueError, "eta_thr"),
    (lambda L, mb: mixkit.sample.decoupled_regularizer(L.long(), Y, Y), TypeError, "logits"),
    (lambda L, mb: mixkit.sample.decoupled_regularizer(L, Y, torch.tensor([0, 1, 2, 9])), ValueError, "y_b"),
    (lambda L, mb: mixkit.sample.decoupled_regularizer(L, [0, 1, 2, 3], Y), ValueError, "y_a"),
    (lambda L, mb: mixkit.sample.mixup_ranking_loss([1.0], L), TypeError, "logits_raw"),
    (lambda L, mb: mixkit.sample.mixup_ranking_loss(L, L.long()), TypeError, "logits_mixed"),
    (lambda L, mb: mixkit.sample.mixup_ranking_loss(L, L[:3]), ValueError, "same shape"),
    (lambda L, mb: mixkit.sample.mixup_ranking_loss(L, L, margin=-1.0), ValueError, "margin"),
    (lambda L, mb: mixkit.sample.mndcg_loss([1.0], [1.0]), TypeError, "confidences"),
    (lambda L, mb: mixkit.sample.mndcg_loss(torch.rand(4, 3), torch.rand(4, 2)), ValueError, "shape"),
    (lambda L, mb: mixkit.sample.softmax_confidence(L.long()), TypeError, "logits"),
    (lambda L, mb: mixkit.sample.losses.mixup_relevance([1.0], [True]), TypeError, "lam"),
    (lambda L, mb: mixkit.sample.losses.mixup_relevance(torch.rand(4, 2), torch.ones(4, 3, dtype=torch.bool)),
     ValueError, "broadcast"),
])
def test_loss_methods_bad_input(call, exc, match):
    logits = torch.randn(4, 5)
    mb = mixkit.MixUp()(X, Y, generator=_gen(0))
    with pytest.raises(exc, match=match):
        call(logits, mb)


# ------------------------------------------------------------------ label-aware pairings and other mixers
@pytest.mark.parametrize(("call", "exc", "match"), [
    (lambda: mixkit.RegMixKNN(k=0), ValueError, "k"),
    (lambda: mixkit.RegMixKNN()(torch.randn(4, 3), torch.randn(4), k=0), ValueError, "k"),
    (lambda: mixkit.RegMixKNN()(torch.randn(4, 3), torch.randn(4), k=1.5), TypeError, "k"),
    (lambda: mixkit.RegMixKNN()(torch.randn(4, 3), torch.tensor([0.0, float("inf"), 1.0, 2.0])), ValueError,
     "y must be finite"),
    (lambda: mixkit.CMixup(source="batch")(torch.randn(4, 3), None), ValueError, "y"),
    (lambda: mixkit.CMixup(dataset=(torch.randn(4, 3), torch.randn(5))), ValueError, "dataset"),
    (lambda: mixkit.CMixup(dataset="x"), TypeError, "dataset"),
    (lambda: mixkit.sample.functional.kernel_partners(torch.randn(4), 1.0, [0.1] * 4), TypeError, "uniforms"),
    (lambda: mixkit.sample.functional.kernel_partners(torch.randn(4), 1.0, torch.rand(4), chunk_size=0),
     ValueError, "chunk_size"),
    (lambda: mixkit.sample.functional.kernel_partners(torch.randn(4), 0.0, torch.rand(4)), ValueError,
     "bandwidth"),
    (lambda: mixkit.MixOE()(X, Y, torch.randn(4, 3, 8, 9)), ValueError, "x_out"),
    (lambda: mixkit.MixOE()(X, Y, [1.0]), TypeError, "x_out"),
    (lambda: mixkit.MixOE()(X, torch.randn(4), torch.randn(4, 3, 8, 8)), ValueError, "y_id"),
    (lambda: mixkit.MixOE(variant="x"), ValueError, "variant"),
    (lambda: mixkit.GridMix(grid=0), ValueError, "grid"),
    (lambda: mixkit.FMix(decay_power=float("nan")), ValueError, "decay_power"),
    (lambda: mixkit.SmoothMix(sigma=(0.5, 0.1)), ValueError, "sigma"),
    (lambda: mixkit.Cutout(ratio=float("nan")), ValueError, "ratio"),
    (lambda: mixkit.Cutout(length=2.5), ValueError, "length"),
    (lambda: mixkit.MixUntil("mixup", off_epoch=3), TypeError, "mixer"),
    (lambda: mixkit.SeqMixUp()(torch.zeros(4, 10, dtype=torch.long)), TypeError, "floating"),
])
def test_other_mixers_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


# ------------------------------------------------------------------ kernels (mixkit.sample.functional)
_F = mixkit.sample.functional
_CPU = torch.device("cpu")


@pytest.mark.parametrize(("call", "exc", "match"), [
    (lambda: _F.fourier_noise(2, (8, 8), float("nan"), _gen(), _CPU), ValueError, "decay_power"),
    (lambda: _F.fourier_noise(2, (0, 8), 3.0, _gen(), _CPU), ValueError, "size"),
    (lambda: _F.fourier_noise(-1, (8, 8), 3.0, _gen(), _CPU), ValueError, "batch"),
    (lambda: _F.band_limited_noise(2, (8, 8), -1.0, _gen(), _CPU), ValueError, "decay_power"),
    (lambda: _F.band_limited_noise(2, (), 3.0, _gen(), _CPU), ValueError, "size"),
    (lambda: _F.gaussian_blur(torch.rand(2, 8, 8), float("nan")), ValueError, "sigma"),
    (lambda: _F.gaussian_blur(torch.rand(2, 8, 8), -1.0), ValueError, "sigma"),
    (lambda: _F.gaussian_blur(torch.rand(8), 1.0), ValueError, "maps"),
    (lambda: _F.sample_boxes(torch.full((3,), float("nan")), (8, 8), _gen()), ValueError, "cut"),
    (lambda: _F.sample_boxes([0.5], (8, 8), _gen()), ValueError, "cut"),
    (lambda: _F.place_boxes(torch.full((3, 2), -2), (8, 8), _gen()), ValueError, "sides"),
    (lambda: _F.place_boxes(torch.full((3, 2), 2.0), (8, 8), _gen()), ValueError, "sides"),
    (lambda: _F.place_patches(torch.full((3, 3), 2), (8, 8), _gen()), ValueError, "sides"),
    (lambda: _F.resize_nearest(torch.rand(2, 3, 8, 8), (0, 4)), ValueError, "sides"),
    (lambda: _F.resize_nearest(torch.rand(2, 3, 8, 8), (4,)), ValueError, "sides"),
    (lambda: _F.cell_index(8, 0), ValueError, "cells"),
    (lambda: _F.spectral_residual(torch.rand(8, 8)), ValueError, "rank"),
])
def test_kernels_bad_input(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_kernels_edge_values_are_finite():
    assert bool(torch.isfinite(_F.fourier_noise(2, (8, 8), 0.0, _gen(), _CPU)).all())
    assert torch.equal(_F.gaussian_blur(torch.ones(1, 4, 4), 0.0), torch.ones(1, 4, 4))
    boxes = _F.place_boxes(torch.full((3, 2), 20), (8, 8), _gen())  # larger than the image: clipped
    assert bool((boxes.area() == 1).all())
    assert bool(torch.isfinite(_F.spectral_residual(torch.zeros(2, 3, 8, 8))).all())
