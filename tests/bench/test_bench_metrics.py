import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mixkit.bench import metrics
from mixkit.bench.augment import random_crop_flip


def _logits_with_confidence(conf: list[float], pred: list[int], k: int = 2) -> torch.Tensor:
    """Logits whose softmax puts ``conf`` on class ``pred`` and the rest evenly on the others."""
    rows = []
    for c, p in zip(conf, pred):
        prob = torch.full((k,), (1 - c) / (k - 1), dtype=torch.float64)
        prob[p] = c
        rows.append(prob.log())
    return torch.stack(rows)


def test_ece_hand_computed():
    # confidences 0.9 (right), 0.9 (wrong), 0.7 (right), 0.55 (wrong); 15 bins of width 1/15
    logits = _logits_with_confidence([0.9, 0.9, 0.7, 0.55], [0, 0, 1, 1])
    y = torch.tensor([0, 1, 1, 0])
    cal = metrics.expected_calibration_error(logits, y)
    # bins: 0.9 -> (13/15, 14/15] holds two (acc 0.5, conf 0.9); 0.7 -> bin 10 (acc 1, conf 0.7);
    # 0.55 -> bin 8 (acc 0, conf 0.55). ECE = 2/4*0.4 + 1/4*0.3 + 1/4*0.55
    assert cal.ece == pytest.approx(0.5 * 0.4 + 0.25 * 0.3 + 0.25 * 0.55, abs=1e-9)
    assert cal.counts[13] == 2 and cal.counts[10] == 1 and cal.counts[8] == 1 and sum(cal.counts) == 4
    assert cal.accuracy[13] == pytest.approx(0.5) and cal.confidence[10] == pytest.approx(0.7)
    assert math.isnan(cal.accuracy[0])


def test_ece_bin_edges_are_right_closed():
    # confidence exactly 2/3 = 10/15 belongs to bin 9 = (9/15, 10/15]
    cal = metrics.expected_calibration_error(_logits_with_confidence([2 / 3], [0]), torch.tensor([0]))
    assert cal.counts[9] == 1
    assert cal.ece == pytest.approx(1 / 3)


def test_perfectly_calibrated_and_confident_cases():
    cal = metrics.expected_calibration_error(_logits_with_confidence([1.0 - 1e-12] * 3, [0, 1, 0]),
                                             torch.tensor([0, 1, 0]))
    assert cal.ece == pytest.approx(0.0, abs=1e-9)
    # 4 predictions at confidence 0.75, 3 right: calibrated
    logits = _logits_with_confidence([0.75] * 4, [0] * 4)
    cal = metrics.expected_calibration_error(logits, torch.tensor([0, 0, 0, 1]))
    assert cal.ece == pytest.approx(0.0, abs=1e-9)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 40), st.integers(2, 6), st.integers(0, 10_000))
def test_ece_is_between_zero_and_one_and_matches_bins(n, k, seed):
    g = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=g) * 3
    y = torch.randint(0, k, (n,), generator=g)
    cal = metrics.expected_calibration_error(logits, y)
    assert 0.0 <= cal.ece <= 1.0 and sum(cal.counts) == n
    recon = sum(c / n * abs(a - f) for c, a, f in zip(cal.counts, cal.accuracy, cal.confidence) if c)
    assert cal.ece == pytest.approx(recon, abs=1e-9)


def test_top1_and_nll():
    logits = torch.tensor([[2.0, 0.0], [0.0, 1.0], [3.0, 0.0]])
    y = torch.tensor([0, 0, 0])
    assert metrics.top1(logits, y) == pytest.approx(2 / 3)
    expected = -(math.log(math.e ** 2 / (math.e ** 2 + 1)) + math.log(1 / (1 + math.e))
                 + math.log(math.e ** 3 / (math.e ** 3 + 1))) / 3
    assert metrics.nll(logits, y) == pytest.approx(expected)
    with pytest.raises(ValueError, match="logits must be"):
        metrics.top1(logits, torch.tensor([0, 1]))


def test_gaussian_kernel_hand_computed():
    k = metrics.gaussian_kernel1d(1.0)
    raw = torch.tensor([math.exp(-2), math.exp(-0.5), 1.0, math.exp(-0.5), math.exp(-2)])
    torch.testing.assert_close(k, (raw / raw.sum()).float())
    with pytest.raises(ValueError, match="sigma"):
        metrics.gaussian_kernel1d(0)


def test_blur_keeps_constants_and_spreads_a_delta_as_the_kernel_outer_product():
    x = torch.full((2, 3, 9, 9), 0.4)
    torch.testing.assert_close(metrics.gaussian_blur(x, 1.0), x)
    d = torch.zeros(1, 1, 9, 9)
    d[0, 0, 4, 4] = 1.0
    k = metrics.gaussian_kernel1d(1.0)
    out = metrics.gaussian_blur(d, 1.0)
    torch.testing.assert_close(out[0, 0, 2:7, 2:7], torch.outer(k, k))
    assert out.sum().item() == pytest.approx(1.0, abs=1e-6)


def test_gaussian_noise_matches_its_definition_and_is_seeded():
    x = torch.full((2, 1, 4, 4), 0.5)
    out = metrics.gaussian_noise(x, 0.1, torch.Generator().manual_seed(3))
    noise = torch.randn(x.shape, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(out, (x + 0.1 * noise).clamp(0, 1))
    torch.testing.assert_close(metrics.corrupt(x, "gaussian_noise", seed=5),
                               metrics.corrupt(x, "gaussian_noise", 5))
    assert not torch.equal(metrics.corrupt(x, "gaussian_noise", 5), metrics.corrupt(x, "gaussian_noise", 6))


def test_contrast_hand_computed():
    x = torch.tensor([0.0, 1.0, 0.5, 0.5]).view(1, 1, 2, 2)
    out = metrics.contrast(x, 0.5)
    torch.testing.assert_close(out, torch.tensor([0.25, 0.75, 0.5, 0.5]).view(1, 1, 2, 2))


def test_occlusion_greys_exactly_one_square_per_image():
    x = torch.zeros(5, 2, 10, 10)
    out = metrics.occlusion(x, 0.4, torch.Generator().manual_seed(0))
    grey = out == 0.5
    assert grey.sum(dim=(1, 2, 3)).tolist() == [2 * 16] * 5
    for b in range(5):
        rows = grey[b, 0].any(1).nonzero().flatten()
        cols = grey[b, 0].any(0).nonzero().flatten()
        assert rows.numel() == 4 and cols.numel() == 4
        assert int(rows[-1] - rows[0]) == 3 and int(cols[-1] - cols[0]) == 3


def test_corrupt_rejects_unknown_names_and_bad_input():
    with pytest.raises(ValueError, match="corruption must be one of"):
        metrics.corrupt(torch.zeros(1, 1, 4, 4), "fog")
    with pytest.raises(ValueError, match="float image batch"):
        metrics.contrast(torch.zeros(4, 4), 0.5)


def test_section_timer_accumulates():
    t = metrics.SectionTimer(torch.device("cpu"))
    t.start()
    sum(range(1000))
    t.stop()
    first = t.total()
    assert first > 0
    with pytest.raises(RuntimeError):
        t.stop()


def test_random_crop_flip_is_a_per_image_translation_or_mirror():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(16, 2, 6, 6)
    out = random_crop_flip(x, 2, g)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for b in range(16):
        candidates = [padded[b, :, dy:dy + 6, dx:dx + 6] for dy in range(5) for dx in range(5)]
        candidates += [c.flip(-1) for c in candidates]
        assert any(torch.equal(out[b], c) for c in candidates)
    assert not torch.equal(out, x)
