"""The voice-prompt language-ID task on generated WAV files: loader, log-mel against a direct oracle, the CNN,
and a short study run that learns the languages."""

import math
import wave

import numpy as np
import pytest
import torch

from mixkit.bench.audio import (
    SpectrogramCNN,
    frame_lengths,
    language_id_study,
    load_voice_prompts,
    log_mel,
    mel_filterbank,
    read_wav,
)
from mixkit.bench.audio.__main__ import main

TONES = {"de": 300.0, "en": 700.0, "fr": 1500.0}


def write_wav(path, signal, rate, channels=1):
    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.clip(np.repeat(signal[:, None], channels, 1) * 32767, -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(data.tobytes())


def make_prompts(root, per_language=12, rate=8000):
    rng = np.random.default_rng(0)
    for lang, freq in TONES.items():
        for k in range(per_language):
            n = int(rate * rng.uniform(0.3, 1.4))
            t = np.arange(n) / rate
            sig = 0.5 * np.sin(2 * math.pi * freq * t) + 0.05 * rng.standard_normal(n)
            sub = "digits" if k % 3 == 0 else ""
            write_wav(root / lang / sub / f"p{k}.wav", sig.astype(np.float32), rate)
    return root


def test_loader_reads_classes_lengths_and_splits(tmp_path):
    root = make_prompts(tmp_path / "sounds")
    (root / "en_US").symlink_to(root / "en")              # the packages' links count once
    (root / "empty").mkdir()
    train, test = load_voice_prompts(root, seconds=1.0, test_fraction=0.25)
    assert train.classes == ["de", "en", "fr"] and len(train) + len(test) == 36
    assert sorted(test.labels.tolist()) == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    assert train.waves.shape == (27, 8000) and bool((train.lengths <= 8000).all())
    for i in range(len(train)):
        assert float(train.waves[i, int(train.lengths[i]):].abs().sum()) == 0.0
    assert not set(train.files) & set(test.files)
    capped, _ = load_voice_prompts(root, max_per_language=4)
    assert len(capped) == 9
    with pytest.raises(FileNotFoundError, match="data-dir"):
        load_voice_prompts(tmp_path / "missing")


def test_read_wav_mixes_channels_and_resamples(tmp_path):
    t = np.arange(16000) / 16000
    write_wav(tmp_path / "s.wav", (0.5 * np.sin(2 * math.pi * 440 * t)).astype(np.float32), 16000, channels=2)
    sig, rate = read_wav(tmp_path / "s.wav")
    assert rate == 16000 and sig.shape == (16000,) and abs(float(sig.abs().max()) - 0.5) < 1e-3
    low, rate = read_wav(tmp_path / "s.wav", 8000)
    assert rate == 8000 and low.shape == (8000,)
    spec = torch.fft.rfft(low).abs()
    assert abs(int(spec.argmax()) - 440) <= 1


def test_mel_filterbank_and_log_mel_match_an_oracle():
    bank = mel_filterbank(6, 64, 8000)
    mel = lambda f: 2595 * math.log10(1 + f / 700)  # noqa: E731
    edges = [700 * (10 ** ((mel(4000) * k / 7) / 2595) - 1) for k in range(8)]
    for m in range(6):
        for k in range(33):
            f = 4000 * k / 32
            lo, mid, hi = edges[m], edges[m + 1], edges[m + 2]
            want = max(0.0, min((f - lo) / (mid - lo), (hi - f) / (hi - mid)))
            assert math.isclose(float(bank[m, k]), want, abs_tol=1e-5)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 400, generator=g)
    got = log_mel(x, 8000, n_fft=64, hop=40, win=64, n_mels=6)
    window = torch.hann_window(64, dtype=torch.float64)
    padded = torch.nn.functional.pad(x.double()[:, None], (32, 32), mode="reflect")[:, 0]
    frames = 400 // 40 + 1
    assert got.shape == (2, 6, frames)
    for b in range(2):
        for t in (0, 3, frames - 1):
            seg = padded[b, t * 40: t * 40 + 64] * window
            power = torch.fft.rfft(seg).abs() ** 2
            want = torch.log(bank.double() @ power + 1e-6)
            torch.testing.assert_close(got[b, :, t].double(), want, atol=1e-3, rtol=1e-4)
    assert frame_lengths(torch.tensor([0, 400, 399]), 40).tolist() == [0, 11, 10]


def test_cnn_ignores_padding_frames():
    torch.manual_seed(0)
    model = SpectrogramCNN(3, width=4).eval()
    x = torch.randn(2, 8, 20)
    y = x.clone()
    y[:, :, 12:] = 99.0                                   # change only padding frames beyond 12
    torch.testing.assert_close(model(x, torch.tensor([12, 12])), model(y, torch.tensor([12, 12])))
    assert model(x).shape == (2, 3)


def test_study_learns_the_generated_languages(tmp_path, capsys):
    root = make_prompts(tmp_path / "sounds", per_language=16)
    rows = language_id_study(root, ("none", "mixup", "speccutmix"), epochs=20, max_per_language=None,
                             batch_size=8, width=4, lr=1e-2)
    assert [r["method"] for r in rows] == ["none", "mixup", "speccutmix"]
    assert all(r["accuracy"] > 0.6 for r in rows), rows            # chance is 1/3
    assert main(["--data-dir", str(root), "--methods", "wave_mixup", "--epochs", "1",
                 "--max-per-language", "8"]) == 0
    assert "wave_mixup" in capsys.readouterr().out


def test_gallery_draws_spectrograms_of_the_audio_mixers(tmp_path, capsys):
    from mixkit.cli import main

    make_prompts(tmp_path / "sounds")
    out = tmp_path / "g.png"
    assert main(["gallery", "--dataset", "voice-prompts", "--data-dir", str(tmp_path / "sounds"),
                 "--methods", "speccutmix", "mixup", "--out", str(out)]) == 0
    assert out.stat().st_size > 1000
    assert main(["gallery", "--dataset", "voice-prompts", "--data-dir", str(tmp_path / "sounds"),
                 "--methods", "cutmix", "--out", str(out)]) == 2
    assert "audio gallery" in capsys.readouterr().err
