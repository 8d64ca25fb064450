"""``mixkit.compat.timm``: parity with timm's Mixup/FastCollateMixup semantics
(huggingface/pytorch-image-models, timm/data/mixup.py), checked against an oracle written from that code's
rules, row by row."""

from __future__ import annotations

import importlib.util
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mixkit.compat.timm import FastCollateMixup, Mixup

K = 10


# ----------------------------------------------------------------------------- the oracle
def oracle_targets(target: torch.Tensor, lam: torch.Tensor, smoothing: float, k: int) -> torch.Tensor:
    """timm's mixup_target: smoothed one-hot (off = s/K, on = 1 - s + off) mixed with the flipped targets."""
    off = smoothing / k
    on = 1.0 - smoothing + off
    b = target.shape[0]
    out = torch.zeros(b, k, dtype=torch.float64)
    for i in range(b):
        y1 = [on if c == int(target[i]) else off for c in range(k)]
        y2 = [on if c == int(target[b - 1 - i]) else off for c in range(k)]
        for c in range(k):
            out[i, c] = y1[c] * float(lam[i]) + y2[c] * (1 - float(lam[i]))
    return out


def oracle_mix(x: torch.Tensor, params, mode: str) -> torch.Tensor:
    """timm's row loops (_mix_batch/_mix_pair/_mix_elem) with the drawn lam, cutmix choice and boxes."""
    b = x.shape[0]
    orig = x.clone().double()
    out = x.clone().double()
    for i in range(b):
        j = b - 1 - i
        drawn = float(params.drawn_lam[i]) if params.drawn_lam is not None else 1.0
        if float(params.lam[i]) == 1.0 and drawn == 1.0:
            continue
        if params.use_cutmix is not None and bool(params.use_cutmix[i]):
            if params.region is not None:
                ys, xs = params.region[2], params.region[3]
                yl, yh, xl, xh = ys.start, ys.stop, xs.start, xs.stop
            else:
                (yl, xl), (yh, xh) = params.boxes.lo[i].tolist(), params.boxes.hi[i].tolist()
            out[i, :, yl:yh, xl:xh] = orig[j, :, yl:yh, xl:xh]
        else:
            lam = float(params.lam[i])
            out[i] = orig[i] * lam + orig[j] * (1 - lam)
    return out


def valid_rand_bbox(lo, hi, lam: float, size) -> bool:
    """Is [lo, hi) what timm's rand_bbox gives for ``lam`` with some centre pixel?"""
    for k, s in enumerate(size):
        cut = int(s * math.sqrt(1 - lam))
        if not any((min(max(c - cut // 2, 0), s), min(max(c + cut // 2, 0), s)) == (lo[k], hi[k])
                   for c in range(s)):
            return False
    return True


def batch(b=8, h=12, w=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, 3, h, w, generator=g), torch.randint(0, K, (b,), generator=g)


# ----------------------------------------------------------------------------- parity
@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
@pytest.mark.parametrize("alphas", [(0.8, 0.0), (0.0, 1.0), (0.8, 1.0)])
@pytest.mark.parametrize("prob", [1.0, 0.6])
def test_matches_timm_rules_row_by_row(mode, alphas, prob):
    x, y = batch()
    for seed in range(6):
        m = Mixup(mixup_alpha=alphas[0], cutmix_alpha=alphas[1], prob=prob, mode=mode, label_smoothing=0.1,
                  num_classes=K)
        params = m.draw(x.shape, torch.Generator().manual_seed(seed))
        xm, t = m(x, y, generator=torch.Generator().manual_seed(seed))
        torch.testing.assert_close(xm.double(), oracle_mix(x, params, mode), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(t.double(), oracle_targets(y, params.lam, 0.1, K), atol=1e-6, rtol=0)
        lam = params.lam
        if mode == "batch":
            assert bool((lam == lam[0]).all())
        if mode == "pair":
            assert torch.equal(lam, lam.flip(0))
            assert torch.equal(params.use_cutmix, params.use_cutmix.flip(0))
        for i in range(x.shape[0]):  # box rule and correct_lam
            if params.use_cutmix is None or not bool(params.use_cutmix[i]) or float(params.drawn_lam[i]) == 1:
                continue
            if params.region is not None:
                lo = [params.region[2].start, params.region[3].start]
                hi = [params.region[2].stop, params.region[3].stop]
            else:
                lo, hi = params.boxes.lo[i].tolist(), params.boxes.hi[i].tolist()
            assert valid_rand_bbox(lo, hi, float(params.drawn_lam[i]), (12, 10))
            area = (hi[0] - lo[0]) * (hi[1] - lo[1]) / 120
            assert float(lam[i]) == pytest.approx(1 - area, abs=1e-6)


def test_correct_lam_off_keeps_drawn_lam():
    x, y = batch()
    m = Mixup(mixup_alpha=0.0, cutmix_alpha=1.0, correct_lam=False, mode="elem", num_classes=K)
    params = m.draw(x.shape, torch.Generator().manual_seed(3))
    assert torch.equal(params.lam, params.drawn_lam)


def test_cutmix_minmax_box_rule():
    x, y = batch(h=20, w=30)
    m = Mixup(mixup_alpha=0.0, cutmix_minmax=(0.2, 0.8), mode="elem", num_classes=K, correct_lam=False)
    assert m.cutmix_alpha == 1.0
    for seed in range(20):
        p = m.draw(x.shape, torch.Generator().manual_seed(seed))
        sides = p.boxes.hi - p.boxes.lo
        assert bool((sides[:, 0] >= 4).all() and (sides[:, 0] < 16).all())  # [int(20*.2), int(20*.8))
        assert bool((sides[:, 1] >= 6).all() and (sides[:, 1] < 24).all())
        assert bool((p.boxes.lo[:, 0] < 20 - sides[:, 0]).all())
        assert bool((p.boxes.lo[:, 1] < 30 - sides[:, 1]).all())
        torch.testing.assert_close(p.lam, 1 - p.boxes.area())  # minmax always corrects lam
    with pytest.raises(ValueError, match="cutmix_minmax"):
        m = Mixup(mixup_alpha=0.0, cutmix_minmax=(0.2, 0.25), num_classes=K)
        m(torch.randn(2, 3, 10, 10), torch.tensor([0, 1]))


def test_whole_batch_prob_and_switch_prob_frequencies():
    x, y = batch(b=4)
    m = Mixup(mixup_alpha=1.0, cutmix_alpha=1.0, prob=0.3, switch_prob=0.25, num_classes=K)
    g = torch.Generator().manual_seed(0)
    mixed = cut = 0
    n = 2000
    for _ in range(n):
        p = m.draw(x.shape, g)
        if bool((p.lam < 1).any()):
            mixed += 1
            cut += int(bool(p.use_cutmix[0]))
            assert bool((p.lam == p.lam[0]).all())  # the whole batch or nothing
    assert abs(mixed / n - 0.3) < 0.04
    assert abs(cut / mixed - 0.25) < 0.06


def test_elem_prob_per_row_and_beta_moments():
    x = torch.zeros(1000, 3, 4, 4)
    m = Mixup(mixup_alpha=0.4, prob=0.5, mode="elem", num_classes=K)
    p = m.draw(x.shape, torch.Generator().manual_seed(1))
    active = p.lam < 1
    assert abs(active.float().mean().item() - 0.5) < 0.06
    lam = p.lam[active].double()
    assert abs(lam.mean().item() - 0.5) < 0.05
    assert abs(lam.var().item() - 1 / (4 * (2 * 0.4 + 1))) < 0.03  # Var Beta(a, a) = 1 / (4 (2a + 1))


def test_mixup_enabled_false_and_no_mix_rows():
    x, y = batch()
    m = Mixup(num_classes=K, label_smoothing=0.2)
    m.mixup_enabled = False
    xm, t = m(x, y)
    assert torch.equal(xm, x) and xm is not x
    torch.testing.assert_close(t.double(), oracle_targets(y, torch.ones(8), 0.2, K))


def test_does_not_modify_input_and_is_reproducible():
    x, y = batch()
    x0 = x.clone()
    def make():
        return Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, mode="elem", num_classes=K,
                     generator=torch.Generator().manual_seed(5))
    a = make()(x, y)
    b = make()(x, y)
    assert torch.equal(x, x0)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])


def test_mix_loss_equals_soft_target_ce():
    x, y = batch()
    m = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, mode="pair", num_classes=K, label_smoothing=0.1)
    out = m.mix(x, y, generator=torch.Generator().manual_seed(0))
    logits = torch.randn(8, K)
    soft = out.soft_targets(K, 0.1)
    ce = -(soft * torch.log_softmax(logits, -1)).sum(-1).mean()
    torch.testing.assert_close(out.loss(logits, label_smoothing=0.1), ce)


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="batch size must be even"):
        Mixup(num_classes=K)(torch.randn(3, 3, 4, 4), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="mixup_alpha or cutmix_alpha"):
        Mixup(mixup_alpha=0.0, cutmix_alpha=0.0)
    with pytest.raises(ValueError, match="mode"):
        Mixup(mode="half")
    with pytest.raises(ValueError, match="prob"):
        Mixup(prob=1.5)
    with pytest.raises(ValueError, match="label_smoothing"):
        Mixup(label_smoothing=1.0)
    with pytest.raises(TypeError, match="floating"):
        Mixup(num_classes=K)(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="C, H, W"):
        Mixup(cutmix_alpha=1.0, num_classes=K)(torch.zeros(2, 8), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="num_classes"):
        Mixup(num_classes=0)


def test_repr_and_state_dict_round_trip():
    m = Mixup(mixup_alpha=0.8, cutmix_alpha=1.0, mode="pair", num_classes=K)
    m.mixup_enabled = False
    m2 = Mixup(num_classes=3)
    m2.load_state_dict(m.state_dict())
    assert repr(m2) == repr(m) and "mixup_alpha=0.8" in repr(m)
    assert m2.mixup_enabled is False


# ----------------------------------------------------------------------------- FastCollateMixup
def fast_collate_oracle(samples, m: FastCollateMixup, params, half: bool):
    b = len(samples)
    n = b // 2 if half else b
    imgs = [torch.as_tensor(s[0]).double() for s in samples]
    out = []
    for i in range(n):
        j = b - 1 - i
        lam = float(params.lam[i])
        img = imgs[i].clone()
        if lam != 1.0 or (params.use_cutmix is not None and bool(params.use_cutmix[i])):
            if params.use_cutmix is not None and bool(params.use_cutmix[i]):
                if params.region is not None:
                    ys, xs = params.region[2], params.region[3]
                    img[:, ys, xs] = imgs[j][:, ys, xs]
                else:
                    (yl, xl), (yh, xh) = params.boxes.lo[i].tolist(), params.boxes.hi[i].tolist()
                    img[:, yl:yh, xl:xh] = imgs[j][:, yl:yh, xl:xh]
            else:
                img = torch.round(imgs[i] * lam + imgs[j] * (1 - lam))
        out.append(img)
    return torch.stack(out)


@pytest.mark.parametrize("mode", ["batch", "pair", "elem", "half"])
def test_fast_collate_matches_oracle(mode):
    rng = np.random.default_rng(0)
    samples = [(rng.integers(0, 256, (3, 8, 6), dtype=np.uint8), int(rng.integers(0, K))) for _ in range(8)]
    for seed in range(4):
        m = FastCollateMixup(mixup_alpha=0.8, cutmix_alpha=1.0, mode=mode, num_classes=K)
        shape = (4 if mode == "half" else 8, 3, 8, 6)
        params = m.draw(shape, torch.Generator().manual_seed(seed))
        x, t = m(samples, generator=torch.Generator().manual_seed(seed))
        assert x.dtype == torch.uint8 and x.shape == shape
        ref = fast_collate_oracle(samples, m, params, mode == "half")
        assert (x.double() - ref).abs().max().item() <= 1  # float rounding at .5 may differ by one level
        y = torch.tensor([s[1] for s in samples])
        lam = torch.cat([params.lam, torch.ones(4)]) if mode == "half" else params.lam
        torch.testing.assert_close(t.double(), oracle_targets(y, lam, 0.1, K)[: shape[0]], atol=1e-6, rtol=0)


def test_fast_collate_state_keeps_half_mode():
    m = FastCollateMixup(mode="half", num_classes=K)
    m2 = FastCollateMixup(num_classes=K)
    m2.load_state_dict(m.state_dict())
    assert m2.half and m2.mode == "elem"


def test_fast_collate_rejects_odd_and_float():
    m = FastCollateMixup(num_classes=K)
    with pytest.raises(ValueError, match="even"):
        m([(np.zeros((3, 4, 4), np.uint8), 0)] * 3)
    with pytest.raises(TypeError, match="uint8"):
        m([(np.zeros((3, 4, 4), np.float32), 0)] * 2)


# ------------------------------------------------------------------------- timm's release, where installed
def _timm_release_mixup():
    """timm's ``timm/data/mixup.py`` loaded by path (it needs only NumPy and torch, so it loads even where the
    ``timm`` package itself does not import), or ``None`` when timm is not installed."""
    spec = importlib.util.find_spec("timm")  # locates the package without running its __init__
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "mixup.py"
    if not path.is_file():
        return None
    mod_spec = importlib.util.spec_from_file_location("_timm_release_mixup", path)
    module = importlib.util.module_from_spec(mod_spec)
    mod_spec.loader.exec_module(module)
    return module


class _Replay:
    """Stands in for ``np.random`` inside timm's module: returns queued draws instead of random ones."""

    def __init__(self, rand, beta, randint):
        self.q = {"rand": list(rand), "beta": list(beta), "randint": list(randint)}

    def _take(self, kind, size):
        if size is None:
            return self.q[kind].pop(0)
        return np.array([self.q[kind].pop(0) for _ in range(size)])

    def rand(self, *size):
        return self._take("rand", size[0] if size else None)

    def beta(self, a, b, size=None):
        return self._take("beta", size)

    def randint(self, low, high, size=None):
        value = self._take("randint", size)
        assert np.all((np.asarray(value) >= low) & (np.asarray(value) < high))
        return value


class _NumpyWithReplay:
    def __init__(self, replay):
        self.random = replay

    def __getattr__(self, name):
        return getattr(np, name)


def _centre(lo: int, hi: int, lam: float, size: int) -> int:
    """A centre pixel from which timm's rand_bbox gives the span [lo, hi) for ``lam``."""
    k = int(size * math.sqrt(1 - lam)) // 2
    if lo > 0:
        return lo + k
    if hi < size:
        return hi - k
    return min(max(size - k, 0), size - 1)


def _replayed_draws(m, p, shape, n):
    """The sequence of NumPy draws that makes timm's code take mixkit's decisions ``p`` (first ``n`` rows)."""
    both = m.mixup_alpha > 0 and m.cutmix_alpha > 0
    no, yes = 0.999999, 0.0  # rand() < prob / switch_prob: yes for any prob > 0, no for any prob < 1
    lam_d = p.drawn_lam[:n].tolist() if p.drawn_lam is not None else [1.0] * n
    use = p.use_cutmix[:n].tolist() if p.use_cutmix is not None else [False] * n
    active = [lam != 1.0 or u for lam, u in zip(p.lam[:n].tolist(), use)]
    rand, beta, randint = [], [], []
    if m.mode == "batch":
        mixed = p.use_cutmix is not None
        rand.append(yes if mixed else no)
        if mixed:
            if both:
                rand.append(yes if use[0] else no)
            beta.append(lam_d[0])
        rows = [0] if mixed and use[0] else []
    else:
        if both:
            rand += [yes if u else no for u in use]
            beta += [lam if u else 0.5 for lam, u in zip(lam_d, use)]
            beta += [lam if not u else 0.5 for lam, u in zip(lam_d, use)]
        else:
            beta += [lam if a else 0.5 for lam, a in zip(lam_d, active)]
        rand += [yes if a else no for a in active]
        rows = [i for i in range(n) if use[i] and active[i]]
    for i in rows:
        if p.region is not None:
            lo = [p.region[2].start, p.region[3].start]
            hi = [p.region[2].stop, p.region[3].stop]
        else:
            lo, hi = p.boxes.lo[i].tolist(), p.boxes.hi[i].tolist()
        if m.cutmix_minmax is None:
            randint += [_centre(lo[0], hi[0], lam_d[i], shape[-2]),
                        _centre(lo[1], hi[1], lam_d[i], shape[-1])]
        else:
            randint += [hi[0] - lo[0], hi[1] - lo[1], lo[0], lo[1]]
    return rand, beta, randint


TIMM = _timm_release_mixup()


@pytest.mark.skipif(TIMM is None, reason="timm is not installed")
@pytest.mark.parametrize("settings", [
    dict(mixup_alpha=0.8, cutmix_alpha=1.0), dict(mixup_alpha=0.8, cutmix_alpha=1.0, prob=0.6),
    dict(mixup_alpha=0.0, cutmix_alpha=1.0, correct_lam=False), dict(mixup_alpha=0.4),
    dict(mixup_alpha=0.0, cutmix_minmax=(0.2, 0.8)), dict(mixup_alpha=0.8, cutmix_minmax=(0.3, 0.9))])
@pytest.mark.parametrize("mode", ["batch", "pair", "elem"])
def test_equals_timm_release_given_the_same_draws(settings, mode, monkeypatch):
    for seed in range(10):
        x = torch.randn(8, 3, 13, 11, generator=torch.Generator().manual_seed(seed))
        y = torch.randint(0, K, (8,), generator=torch.Generator().manual_seed(seed + 99))
        m = Mixup(mode=mode, num_classes=K, label_smoothing=0.1, **settings)
        p = m.draw(x.shape, torch.Generator().manual_seed(seed))
        ours_x, ours_t = m(x, y, generator=torch.Generator().manual_seed(seed))
        n = 4 if mode == "pair" else 8
        monkeypatch.setattr(TIMM, "np", _NumpyWithReplay(_Replay(*_replayed_draws(m, p, x.shape, n))))
        ref_x, ref_t = TIMM.Mixup(mode=mode, num_classes=K, label_smoothing=0.1, **settings)(x.clone(), y)
        torch.testing.assert_close(ours_x, ref_x, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours_t, ref_t.float(), atol=1e-6, rtol=0)


@pytest.mark.skipif(TIMM is None, reason="timm is not installed")
@pytest.mark.parametrize("mode", ["batch", "pair", "elem", "half"])
def test_fast_collate_equals_timm_release_given_the_same_draws(mode, monkeypatch):
    for seed in range(10):
        rng = np.random.default_rng(seed)
        samples = [(rng.integers(0, 256, (3, 9, 7), dtype=np.uint8), int(rng.integers(0, K)))
                   for _ in range(8)]
        m = FastCollateMixup(mixup_alpha=0.8, cutmix_alpha=1.0, mode=mode, num_classes=K)
        shape = (4 if mode == "half" else 8, 3, 9, 7)
        p = m.draw(shape, torch.Generator().manual_seed(seed))
        ours_x, ours_t = m(samples, generator=torch.Generator().manual_seed(seed))
        n = 8 if mode in ("batch", "elem") else 4
        monkeypatch.setattr(TIMM, "np", _NumpyWithReplay(_Replay(*_replayed_draws(m, p, shape, n))))
        ref = TIMM.FastCollateMixup(mixup_alpha=0.8, cutmix_alpha=1.0, mode=mode, num_classes=K)
        ref_x, ref_t = ref([(s[0].copy(), s[1]) for s in samples])
        assert (ours_x.int() - ref_x.int()).abs().max().item() <= 1  # a .5 may round either way
        torch.testing.assert_close(ours_t, ref_t.float(), atol=1e-6, rtol=0)
