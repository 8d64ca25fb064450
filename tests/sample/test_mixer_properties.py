"""Property tests of the sample mixers: shapes, dtypes, layouts, label weights equal to true pixel shares."""

from __future__ import annotations

import math

import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import mixkit
from mixkit.sample import ModelAwareMixer, build, registry

COPY_METHODS = ("cutmix", "resizemix", "fmix")
DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)


@st.composite
def cases(draw, methods=COPY_METHODS + ("mixup",)):
    method = draw(st.sampled_from(methods))
    rank = draw(st.sampled_from((2, 3, 4, 5) if method == "mixup" else (3, 4, 5)))
    batch = draw(st.sampled_from((1, 2, 3, 4, 7, 9)))
    spatial = [draw(st.integers(1, 9)) for _ in range(rank - 2)]
    channels = draw(st.integers(1, 3))
    mode = draw(st.sampled_from(("batch", "pair", "elem")))
    pairing = "flip" if mode == "pair" else draw(st.sampled_from(("roll", "flip", "permute")))
    prob = draw(st.sampled_from((1.0, 1.0, 0.5)))
    dtype = draw(st.sampled_from(DTYPES))
    channels_last = rank in (4, 5) and draw(st.booleans())
    seed = draw(st.integers(0, 2**31 - 1))
    return method, (batch, channels, *spatial), mode, pairing, prob, dtype, channels_last, seed


def _layout(x: torch.Tensor, channels_last: bool) -> torch.Tensor:
    if not channels_last:
        return x
    return x.contiguous(memory_format=torch.channels_last if x.dim() == 4 else torch.channels_last_3d)


def _row_ids(shape, dtype) -> torch.Tensor:
    """``x[i] = i`` everywhere: every output value names the row it was copied from."""
    n = shape[0]
    return torch.arange(n, dtype=dtype).view(-1, *([1] * (len(shape) - 1))).expand(shape).contiguous()


def _check_common(out, x, n):
    assert out.x.shape == x.shape and out.x.dtype == x.dtype and out.x.device == x.device
    formats = [torch.contiguous_format] + (
        [torch.channels_last] if x.dim() == 4 else [torch.channels_last_3d] if x.dim() == 5 else [])
    for fmt in formats:  # the memory format must be kept (shapes with size-1 axes may fit several)
        if x.is_contiguous(memory_format=fmt) and sum(x.is_contiguous(memory_format=f) for f in formats) == 1:
            assert out.x.is_contiguous(memory_format=fmt), f"memory format {fmt} must be kept"
    assert sorted(out.index.tolist()) == list(range(n)), "index must be a permutation"
    assert out.index.dtype == torch.int64 and out.lam.dtype == torch.float32 and out.lam.shape == (n,)
    assert bool(((out.lam >= 0) & (out.lam <= 1)).all())


@settings(max_examples=120, deadline=None)
@given(cases(COPY_METHODS))
def test_lam_is_exact_share_of_own_pixels(case):
    """For copy-based mixers every output pixel is its own or its partner's, and lam is the own share."""
    method, shape, mode, pairing, prob, dtype, channels_last, seed = case
    n = shape[0]
    x = _layout(_row_ids(shape, dtype), channels_last)
    mixer = build(method, mode=mode, pairing=pairing, prob=prob)
    out = mixer(x, torch.arange(n), generator=torch.Generator().manual_seed(seed))
    _check_common(out, x, n)
    flat = out.x.reshape(n, -1).double()
    own = flat == torch.arange(n, dtype=torch.float64).view(-1, 1)
    other = flat == out.index.double().view(-1, 1)
    assert bool((own | other).all()), "a pixel came from neither the row nor its partner"
    share = own.double().mean(1)
    self_paired = out.index == torch.arange(n)
    share[self_paired] = 1.0
    torch.testing.assert_close(out.lam.double(), share, atol=1e-6, rtol=0)
    untouched = out.lam == 1
    assert torch.equal(out.x[untouched], x[untouched]), "rows with lam = 1 must be untouched"
    if mode == "pair" and method in ("resizemix", "fmix"):  # no clipping: both members keep the same share
        torch.testing.assert_close(out.lam, out.lam[out.index], atol=1e-6, rtol=0)


@settings(max_examples=60, deadline=None)
@given(cases(("mixup",)))
def test_mixup_is_lerp_with_its_lam(case):
    _, shape, mode, pairing, prob, dtype, channels_last, seed = case
    n = shape[0]
    x = _layout(torch.randn(shape, generator=torch.Generator().manual_seed(seed)).to(dtype), channels_last)
    out = mixkit.MixUp(alpha=0.7, mode=mode, pairing=pairing, prob=prob)(
        x, generator=torch.Generator().manual_seed(seed))
    _check_common(out, x, n)
    lam = out.lam.double().view(-1, *([1] * (x.dim() - 1)))
    want = lam * x.double() + (1 - lam) * x.double()[out.index]
    tol = {torch.float16: 2e-2, torch.bfloat16: 5e-2}.get(dtype, 1e-5)
    torch.testing.assert_close(out.x.double(), want, atol=tol, rtol=tol)
    if mode == "pair":  # both members of a pair keep the same share
        torch.testing.assert_close(out.lam, out.lam[out.index])


@settings(max_examples=40, deadline=None)
@given(cases(COPY_METHODS + ("mixup", "cutout")), st.integers(2, 10))
def test_label_mass_and_loss_match_soft_targets(case, classes):
    method, shape, mode, pairing, prob, dtype, channels_last, seed = case
    if method == "cutout":
        pairing = "roll"
        mode = "elem" if mode == "pair" else mode
    g = torch.Generator().manual_seed(seed)
    n = shape[0]
    x = _layout(torch.rand(shape, generator=g).to(dtype), channels_last)
    y = torch.randint(0, classes, (n,), generator=g)
    kwargs = {} if method == "cutout" else {"pairing": pairing}
    out = build(method, mode=mode, prob=prob, **kwargs)(x, y, generator=g)
    targets = out.soft_targets(classes)
    torch.testing.assert_close(targets.sum(1), torch.ones(n))
    logits = torch.randn(n, classes, generator=g)
    want = -(targets * torch.log_softmax(logits, -1)).sum(-1).mean()
    torch.testing.assert_close(out.loss(logits), want)


@settings(max_examples=30, deadline=None)
@given(cases(COPY_METHODS + ("mixup",)))
def test_seeded_calls_reproduce(case):
    method, shape, mode, pairing, prob, dtype, channels_last, seed = case
    x = _layout(torch.randn(shape, generator=torch.Generator().manual_seed(1)).to(dtype), channels_last)
    mixer = build(method, mode=mode, pairing=pairing, prob=prob)
    a = mixer(x, generator=torch.Generator().manual_seed(seed))
    b = mixer(x, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(a.x, b.x) and torch.equal(a.index, b.index) and torch.equal(a.lam, b.lam)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from((1, 2, 5)), st.lists(st.integers(1, 11), min_size=1, max_size=3),
       st.sampled_from(("batch", "elem")), st.sampled_from((1.0, 0.6)), st.integers(0, 2**31 - 1))
def test_cutout_erases_a_clipped_square_and_keeps_labels(batch, spatial, mode, prob, seed):
    shape = (batch, 2, *spatial)
    x = torch.ones(shape)
    y = torch.arange(batch)
    out = mixkit.Cutout(ratio=0.5, mode=mode, prob=prob)(x, y, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(out.lam, torch.ones(batch)) and torch.equal(out.index, torch.arange(batch))
    zeros = out.x == 0
    torch.testing.assert_close(out.extras["erased"], zeros.flatten(1).float().mean(1))
    side = 2 * (max(1, round(0.5 * min(spatial))) // 2)  # the release spans [c - L // 2, c + L // 2)
    for i in range(batch):  # the erased set is a box no larger than the square, equal in every channel
        assert torch.equal(zeros[i, 0], zeros[i, 1])
        idx = zeros[i, 0].nonzero()
        if len(idx):
            extent = idx.max(0).values - idx.min(0).values + 1
            assert int(extent.prod()) == len(idx) and bool((extent <= side).all())
    if prob == 1.0 and side > 0:
        assert bool((out.extras["erased"] > 0).all())


def test_cutmix_correct_lam_false_reports_the_sampled_lambda():
    x = torch.randn(16, 3, 8, 8)
    for mode in ("batch", "elem"):
        mixer = mixkit.CutMix(alpha=1.0, correct_lam=False, mode=mode)
        out = mixer(x, generator=torch.Generator().manual_seed(3))
        requested = mixer.draw(x.shape, torch.Generator().manual_seed(3)).lam
        torch.testing.assert_close(out.lam, requested)
        area = (out.x != x).flatten(1).float().mean(1)
        assert not torch.allclose(out.lam, 1 - area), "clipped boxes must make the sampled lambda differ"
        corrected = mixkit.CutMix(alpha=1.0, mode=mode)(x, generator=torch.Generator().manual_seed(3))
        torch.testing.assert_close(corrected.lam, 1 - area)


def test_cutmix_box_side_follows_sqrt_one_minus_lam():
    """Unclipped boxes have sides 2 * (floor(S * sqrt(1 - lam)) // 2) (the release's rand_bbox); clipped
    ones are never larger."""
    x = _row_ids((4000, 1, 20, 20), torch.float32)
    mixer = mixkit.CutMix(alpha=1.0, mode="elem")
    out = mixer(x, generator=torch.Generator().manual_seed(0))
    lam = mixer.draw(x.shape, torch.Generator().manual_seed(0)).lam
    moved = out.x[:, 0] != x[:, 0]
    rows, cols = moved.any(2).sum(1), moved.any(1).sum(1)
    side = 2 * (torch.floor(20 * (1 - lam.double()).sqrt()).long() // 2)
    inside = (rows == side) & (cols == side)
    assert inside.float().mean() > 0.1  # boxes that were not clipped (about 20 %) have exactly that side
    assert bool(((rows <= side) & (cols <= side)).all())


@settings(max_examples=25, deadline=None)
@given(st.sampled_from((1, 2, 3, 6)), st.integers(2, 13), st.integers(2, 13),
       st.sampled_from(("batch", "elem")), st.booleans(), st.integers(0, 2**31 - 1))
def test_resizemix_pastes_the_whole_partner_resized(batch, h, w, mode, channels_last, seed):
    """The pasted patch is the partner resized like F.interpolate(nearest), on H and W separately."""
    c = 2
    x = (torch.arange(batch * c * h * w, dtype=torch.float64) + 1).view(batch, c, h, w)
    x = _layout(x, channels_last)
    out = mixkit.ResizeMix(mode=mode)(x, generator=torch.Generator().manual_seed(seed))
    for i in range(batch):
        changed = (out.x[i] != x[i]).any(0)
        if not bool(changed.any()):
            assert float(out.lam[i]) == 1.0
            continue
        r, q = changed.any(1).nonzero().flatten(), changed.any(0).nonzero().flatten()
        r0, r1, q0, q1 = int(r[0]), int(r[-1]) + 1, int(q[0]), int(q[-1]) + 1
        ph, pw = r1 - r0, q1 - q0
        src = x[int(out.index[i])]
        want = torch.nn.functional.interpolate(src[None].float(), size=(ph, pw), mode="nearest")[0]
        assert torch.equal(out.x[i][:, r0:r1, q0:q1].float(), want)
        torch.testing.assert_close(float(out.lam[i]), 1 - ph * pw / (h * w))


def test_resizemix_scale_follows_the_paper_range():
    x = torch.randn(2000, 1, 50, 40)
    out = mixkit.ResizeMix(mode="elem", placement="inside")(x, generator=torch.Generator().manual_seed(0))
    tau = (1 - out.lam.double()).sqrt()  # unclipped patches: the share gives tau back
    assert 0.09 < float(tau.min()) and float(tau.max()) < 0.81
    assert abs(float(tau.mean()) - 0.45) < 0.02


@settings(max_examples=30, deadline=None)
@given(st.sampled_from((1, 3, 5)), st.lists(st.integers(2, 12), min_size=1, max_size=3),
       st.sampled_from(("batch", "elem")), st.integers(0, 2**31 - 1))
def test_fmix_mask_mean_is_the_requested_share_rounded_up_or_down(batch, spatial, mode, seed):
    shape = (batch, 1, *spatial)
    numel = math.prod(spatial)
    mixer = mixkit.FMix(alpha=1.0, mode=mode, pairing="flip")
    out = mixer(_row_ids(shape, torch.float64), generator=torch.Generator().manual_seed(seed))
    lam = mixer.draw(torch.Size(shape), torch.Generator().manual_seed(seed)).lam
    own = lam.double() * numel  # the release keeps ceil(lam N) or floor(lam N) own pixels
    assert bool(((out.lam.double() * numel - own.floor() > -1e-3)
                 & (out.lam.double() * numel - own.ceil() < 1e-3)).all())


def test_fmix_masks_are_low_frequency_and_differ_per_row():
    """With decay 3 the partner region is a few smooth blobs: far fewer edges than a random mask."""
    x = _row_ids((64, 1, 32, 32), torch.float32)
    out = mixkit.FMix(mode="elem")(x, generator=torch.Generator().manual_seed(0))
    mask = (out.x[:, 0] != x[:, 0]).float()
    mixed = (mask.mean((1, 2)) > 0.2) & (mask.mean((1, 2)) < 0.8)

    def edges(m):
        rows = (m[:, 1:] != m[:, :-1]).float().mean((1, 2))
        return rows + (m[:, :, 1:] != m[:, :, :-1]).float().mean((1, 2))

    perm = torch.randperm(1024, generator=torch.Generator().manual_seed(1))
    shuffled = mask.flatten(1)[:, perm].view_as(mask)
    assert bool((edges(mask)[mixed] < 0.3 * edges(shuffled)[mixed]).all())
    assert not torch.equal(mask[0], mask[1])


def test_random_choice_switches_methods_and_registry_builds_every_plain_mixer():
    x, y = torch.randn(5, 3, 8, 8), torch.arange(5)
    g = torch.Generator().manual_seed(0)
    chooser = build("mixup:alpha=0.4|cutmix:alpha=1.0,mode=elem@3|fmix|resizemix|cutout")
    assert isinstance(chooser, mixkit.RandomChoice)
    seen = {chooser(x, y, generator=g).extras["method"] for _ in range(40)}
    assert seen == {"mixup", "cutmix", "fmix", "resizemix", "cutout"}
    only = mixkit.RandomChoice([mixkit.MixUp(), mixkit.CutMix()], weights=[0.0, 1.0])
    assert {only(x, y, generator=g).extras["method"] for _ in range(5)} == {"cutmix"}
    for name in registry.names():
        mixer = build(name)
        plain_inputs = mixer.tasks & {"classification", "regression", "sequence"}
        if isinstance(mixer, ModelAwareMixer) or not plain_inputs:
            continue  # needs the model, or inputs other than (x, y): outliers, point clouds, replay
        out = mixer(x, y, generator=g)
        assert out.x.shape == x.shape and out.lam.shape == (5,)
        torch.testing.assert_close(out.soft_targets(5).sum(1), torch.ones(5))


def test_mixer_call_compiles():
    x = torch.randn(4, 2, 6, 6)
    mixer = mixkit.CutMix(mode="elem")
    compiled = torch.compile(mixer, backend="aot_eager")  # traces through dynamo + AOT autograd, no C++ build
    got = compiled(x, generator=torch.Generator().manual_seed(0))
    want = mixer(x, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(got.x, want.x)
    torch.testing.assert_close(got.lam, want.lam)


def test_mix_until_state_round_trips_and_reprs_are_readable():
    window = mixkit.MixUntil(mixkit.MixUp(), off_epoch=3)
    window.set_epoch(4)
    fresh = mixkit.MixUntil(mixkit.MixUp(), off_epoch=3)
    fresh.load_state_dict(window.state_dict())
    assert fresh.epoch == 4 and not fresh.active
    params = mixkit.CutMix(mode="elem").draw(torch.Size((3, 1, 4, 4)), torch.Generator().manual_seed(0))
    for obj in (window, mixkit.build("mixup|cutmix@2"), params):
        assert "object at 0x" not in repr(obj)
