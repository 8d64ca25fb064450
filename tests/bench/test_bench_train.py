import pytest
import torch
from bench_fakes import make_fashion_dir
from torch import nn

from mixkit.bench import runner
from mixkit.bench.data import ImageDataset
from mixkit.bench.models import SmallCNN, TinyViT
from mixkit.bench.suites import default_methods
from mixkit.bench.train import MethodUnsupported, RunConfig, check_supported, make_optimizer, train_run
from mixkit.sample import MixedBatch, Mixer, ModelAwareMixer, StepOutput, registry


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXKIT_CACHE", str(tmp_path / "cache"))


def easy_data(n_train=192, n_test=64, k=4, seed=0) -> ImageDataset:
    """8x8 images whose class is the row of a bright bar, plus noise: learnable in a few steps."""
    g = torch.Generator().manual_seed(seed)

    def make(n):
        y = torch.arange(n) % k
        x = torch.randint(0, 50, (n, 1, 8, 8), generator=g)
        x[torch.arange(n), 0, 2 * y] = 255
        return x.to(torch.uint8), y

    tx, ty = make(n_train)
    vx, vy = make(n_test)
    return ImageDataset("easy", tx, ty, vx, vy, k)


class FakeLearnedMixer(ModelAwareMixer):
    """A model-aware, learned 'mixer' for testing the loop's protocol support: scales the input by a learned
    factor, runs the model through forward_features/head and counts on_step_end calls."""

    requires = frozenset({"features"})
    trace: list[float] = []
    ends: list[int] = []

    def __init__(self, needs: str = "features") -> None:
        super().__init__()
        self.requires = frozenset({needs})
        self.gain = nn.Parameter(torch.zeros(()))

    def training_step(self, model, x, y, *, generator=None):
        xs = x * (1 + self.gain)
        if "features" in self.requires:
            logits = model.head(model.forward_features(xs))
        else:
            logits = model.forward_with_attention(xs)[0]
        n = x.shape[0]
        out = MixedBatch(x=x * (1 + self.gain), index=torch.arange(n), lam=torch.ones(n), y=y)
        FakeLearnedMixer.trace.append(float(self.gain.detach()))
        return StepOutput(loss=out.loss(logits), logits=logits, mixed=out)

    def on_step_end(self, model, step):
        FakeLearnedMixer.ends.append(step)


@pytest.fixture
def fake_registered():
    FakeLearnedMixer.name = "fake-learned"
    registry.add(FakeLearnedMixer)
    FakeLearnedMixer.trace.clear()
    FakeLearnedMixer.ends.clear()
    yield
    registry.remove("fake-learned")


def test_training_learns_and_reports_every_metric():
    data = easy_data()
    cfg = RunConfig(dataset="easy", method="none", seed=0, epochs=3, batch_size=32, lr=0.05, augment=False)
    r = train_run(cfg, data)
    assert r["status"] == "ok", r.get("reason")
    m = r["metrics"]
    assert m["top1"] > 0.9  # the bar's row gives the class away
    assert set(m["corruption"]) == {"gaussian_noise", "gaussian_blur", "contrast", "occlusion"}
    assert 0 <= m["ece"] <= 1 and m["nll"] > 0 and m["epoch_time"] > 0 and 0 <= m["mixer_share"] < 1
    assert len(r["curves"]["test_top1"]) == 3 and len(r["reliability"]["counts"]) == 15
    g = r["gallery"]
    assert g["mixed"].dtype == torch.uint8 and g["mixed"].shape == (8, 1, 8, 8)
    assert g["labels"][:4].tolist() == [0, 1, 2, 3]  # one image per class first
    assert torch.equal(g["mixed"], g["original"])  # 'none' leaves them alone (up to uint8 round trip)


def test_same_seed_same_result_and_mixing_changes_it():
    data = easy_data()
    cfg = RunConfig(dataset="easy", method="mixup", seed=1, epochs=1, batch_size=32, augment=True)
    a, b = train_run(cfg, data), train_run(cfg, data)
    assert a["curves"]["train_loss"] == b["curves"]["train_loss"]
    c = train_run(RunConfig(dataset="easy", method="none", seed=1, epochs=1, batch_size=32, augment=True),
                  data)
    assert c["curves"]["train_loss"] != a["curves"]["train_loss"]
    assert not torch.equal(a["gallery"]["mixed"], a["gallery"]["original"])


def test_model_aware_mixer_protocol(fake_registered):
    data = easy_data(n_train=64)
    cfg = RunConfig(dataset="easy", method="fake-learned", epochs=2, batch_size=32, augment=False)
    r = train_run(cfg, data)
    assert r["status"] == "ok", r.get("reason")
    assert r["model_aware"] is True
    assert FakeLearnedMixer.ends[:4] == [0, 1, 2, 3]  # on_step_end after each of the 2 x 2 steps
    assert len(set(FakeLearnedMixer.trace[:4])) > 1  # the learned parameter was in the optimizer and moved


def test_unsupported_and_failing_methods_do_not_raise(fake_registered):
    data = easy_data(n_train=64)
    r = train_run(RunConfig(dataset="easy", method="fake-learned", epochs=1, batch_size=32, model="vit",
                            model_kwargs=(("depth", 1), ("dim", 16), ("heads", 2))), data)
    assert r["status"] == "skipped" and "features" in r["reason"]
    r = train_run(RunConfig(dataset="easy", method="mixup:alpha=-1", epochs=1), data)
    assert r["status"] == "failed" and "alpha" in r["reason"]


def test_check_supported_and_optimizer_groups():
    cnn, vit = SmallCNN(1, 4, width=4), TinyViT(8, 4, 1, 4, dim=8, depth=1, heads=2)
    mixer = FakeLearnedMixer("attention")
    check_supported(mixer, vit)
    with pytest.raises(MethodUnsupported, match="attention"):
        check_supported(mixer, cnn)
    points_only = type("PointsOnly", (Mixer,), {"tasks": frozenset({"point_cloud_segmentation"})})()
    with pytest.raises(MethodUnsupported, match="point_cloud_segmentation"):
        check_supported(points_only, cnn)
    regression_only = type("RegressionOnly", (Mixer,), {"tasks": frozenset({"regression"})})()
    with pytest.raises(MethodUnsupported, match="regression"):
        check_supported(regression_only, cnn)
    opt, sched = make_optimizer(cnn, mixer, RunConfig(dataset="x", method="none", epochs=2), steps=10)
    assert opt.param_groups[1]["params"] == [mixer.gain] and opt.param_groups[1]["weight_decay"] == 0
    lrs = []
    for _ in range(10):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs[0] < lrs[2] and lrs[-1] < lrs[3] and min(lrs) >= 0  # warmup, then cosine


def test_default_methods_cover_the_registry_and_skip_what_the_model_lacks(fake_registered):
    FakeLearnedMixer.__init__.__defaults__ = ("attention",)
    try:
        ok, skipped = default_methods("cnn", easy_data(n_train=16, n_test=8))
        assert ok[0] == "none"
        assert {"mixup", "cutmix", "cutout", "resizemix", "fmix"} <= set(ok)
        assert "fake-learned" in skipped and "attention" in skipped["fake-learned"]
        ok_vit, _ = default_methods("vit", easy_data(n_train=16, n_test=8),
                                    {"depth": 1, "dim": 16, "heads": 2})
        assert "fake-learned" in ok_vit
    finally:
        FakeLearnedMixer.__init__.__defaults__ = ("features",)


def test_results_are_cached_and_reused_unless_forced(tmp_path, monkeypatch):
    make_fashion_dir(tmp_path / "fm", n_train=64, n_test=32)
    base = dict(dataset="fashion-mnist", epochs=1, batch_size=32, data_dir=str(tmp_path / "fm"),
                augment=False)
    configs = [RunConfig(method="none", **base), RunConfig(method="mixup", **base)]
    first = runner.run_all(configs, tmp_path / "cache-root")
    assert [r["status"] for r in first] == ["ok", "ok"] and not any(r["cached"] for r in first)
    assert len(list((tmp_path / "cache-root").glob("*.json"))) == 2
    assert runner.load_gallery(tmp_path / "cache-root", first[0]["key"])["mixed"].shape[0] == 8

    def boom(*a, **k):
        raise AssertionError("should have been reused")

    monkeypatch.setattr(runner, "train_run", boom)
    again = runner.run_all(configs, tmp_path / "cache-root")
    assert all(r["cached"] for r in again)
    assert [r["metrics"] for r in again] == [r["metrics"] for r in first]

    calls = []
    monkeypatch.setattr(runner, "train_run", lambda cfg, progress=None: calls.append(cfg) or
                        {"method": cfg.method, "seed": cfg.seed, "status": "failed", "reason": "x"})
    runner.run_all(configs[:1], tmp_path / "cache-root", force=True)
    runner.run_all([RunConfig(method="none", **{**base, "epochs": 2})], tmp_path / "cache-root")
    assert len(calls) == 2  # --force and a changed configuration both train again
    # failed runs are not cached: the next call retries them
    runner.run_all([RunConfig(method="none", **{**base, "epochs": 2})], tmp_path / "cache-root")
    assert len(calls) == 3


def test_config_key_depends_on_config_and_data():
    a = RunConfig(dataset="d", method="mixup", seed=0)
    assert a.key("fp") == RunConfig(dataset="d", method="mixup", seed=0, data_dir="/elsewhere").key("fp")
    assert a.key("fp") != RunConfig(dataset="d", method="mixup", seed=1).key("fp")
    assert a.key("fp") != RunConfig(dataset="d", method="mixup:alpha=0.2", seed=0).key("fp")
    assert a.key("fp") != a.key("other-data")


def test_a_real_run_with_sparse_evaluations_is_a_valid_cache_entry():
    from mixkit.bench.runner import validate_result

    data = easy_data()
    r = train_run(RunConfig(dataset="easy", method="mixup", seed=0, epochs=4, evals=2, batch_size=32), data)
    assert len(r["curves"]["train_loss"]) == 4 and len(r["curves"]["test_top1"]) == 2
    r.pop("gallery", None)
    assert validate_result(r) is None
