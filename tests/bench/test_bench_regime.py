"""The benchmark's evidence: paired differences with t-intervals, the published ordering and its rank
correlation, the suites' settings (over-fitting quick suite, standard, full with a 1-step CPU dry run),
sparse test evaluation, and the domain scenarios (schedules, validation curves, protocols end to end)."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

import pytest
import torch
from bench_fakes import make_cifar_dir

from mixkit.bench import domain_scenarios as ds
from mixkit.bench.published import OPENMIXUP_CIFAR100_R18, ordering_table, rank, spearman
from mixkit.bench.sample_report import aggregate, markdown_table, paired_difference
from mixkit.bench.suites import FULL_METHODS, QUICK_METHODS, SUITES, suite_settings
from mixkit.bench.text.text_domains import TextDomain, TextDomains
from mixkit.bench.text.workload import RunConfig, train_mixture
from mixkit.bench.train import RunConfig as ImageRunConfig
from mixkit.bench.train import eval_epochs, train_run
from mixkit.sample import registry

# Student t 0.975 quantiles from a printed table (df 1, 2, 4)
T975 = {1: 12.7062, 2: 4.3027, 4: 2.7764}


def test_paired_difference_matches_hand_computed_t_interval():
    base = {0: 0.80, 1: 0.70, 2: 0.90}
    meth = {0: 0.81, 1: 0.72, 2: 0.93}  # differences 0.01, 0.02, 0.03: mean 0.02, sd 0.01
    p = paired_difference(meth, base)
    half = T975[2] * 0.01 / math.sqrt(3)
    assert p["n"] == 3
    assert p["mean"] == pytest.approx(0.02)
    assert p["low"] == pytest.approx(0.02 - half, abs=1e-4)
    assert p["high"] == pytest.approx(0.02 + half, abs=1e-4)
    assert p["verdict"] == "within noise"  # half-width 0.0248 > 0.02
    tight = paired_difference({s: v + 0.05 + 0.001 * s for s, v in base.items()}, base)
    assert tight["verdict"] == "better"
    assert paired_difference({s: v - 0.05 - 0.001 * s for s, v in base.items()}, base)["verdict"] == "worse"
    # only common seeds are paired; one seed gives no interval
    one = paired_difference({0: 0.9, 7: 0.1}, base)
    assert one["n"] == 1 and one["verdict"] == "n/a" and math.isnan(one["low"])


def test_aggregate_pairs_by_seed_and_table_shows_train_accuracy_and_verdict():
    def run(method, seed, top1, train=1.0):
        m = {"top1": top1, "train_top1": train, "nll": 0.5, "ece": 0.01, "corruption_top1": 0.5,
             "epoch_time": 1.0, "mixer_share": 0.1, "corruption": {c: 0.5 for c in
                                                                   ("gaussian_noise", "gaussian_blur",
                                                                    "contrast", "occlusion")}}
        return {"method": method, "seed": seed, "status": "ok", "metrics": m}

    results = [run("none", s, 0.80 + 0.05 * s, 0.995) for s in range(3)]
    # a constant +1 point on top of a seed effect of 5 points: the pairing removes the seed effect
    results += [run("mixup", s, 0.81 + 0.05 * s + 0.0001 * s, 0.95) for s in range(3)]
    rows = aggregate(results, ["none", "mixup"])
    mix = rows[1]
    assert mix["paired"]["verdict"] == "better"
    assert mix["top1"][1] > 0.04  # unpaired spread is large
    meta = {"dataset": "d", "suite": "quick", "model": "cnn", "epochs": 1, "seeds": [0, 1, 2],
            "train_size": 1, "test_size": 1, "batch_size": 1, "lr": 0.1, "augment": False, "device": "cpu",
            "machine": "m"}
    table = markdown_table(rows, meta)
    assert "train top-1 %" in table and "99.50 ± 0.00" in table and "| better |" in table


def _pearson(a, b):
    ma, mb = sum(a) / len(a), sum(b) / len(b)
    num = sum((x - ma) * (y - mb) for x, y in zip(a, b))
    return num / math.sqrt(sum((x - ma) ** 2 for x in a) * sum((y - mb) ** 2 for y in b))


def test_rank_and_spearman_against_counting_oracle():
    vals = [3.0, 1.0, 2.0, 2.0, 5.0]
    # oracle: rank = 1 + number strictly larger + (ties - 1) / 2
    oracle = [1 + sum(v > x for v in vals) + (sum(v == x for v in vals) - 1) / 2 for x in vals]
    assert rank(vals) == oracle
    g = torch.Generator().manual_seed(0)
    for _ in range(5):
        a = torch.randint(0, 6, (8,), generator=g).double().tolist()
        b = torch.randn(8, generator=g).double().tolist()
        ra = [1 + sum(v > x for v in a) + (sum(v == x for v in a) - 1) / 2 for x in a]
        rb = [1 + sum(v > x for v in b) + (sum(v == x for v in b) - 1) / 2 for x in b]
        if len(set(a)) > 1:
            assert spearman(a, b) == pytest.approx(_pearson(ra, rb))
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert math.isnan(spearman([1, 2], [1, 2]))
    with pytest.raises(ValueError, match="same length"):
        spearman([1, 2, 3], [1, 2])


def test_ordering_table_uses_common_methods_and_cites_the_source():
    ours = {m: v[200] / 100 for m, v in OPENMIXUP_CIFAR100_R18.items()}
    ours["cutout"] = 0.5  # not ranked there: left out
    text, summary = ordering_table(ours)
    assert summary["rho"] == pytest.approx(1.0) and summary["n"] == len(OPENMIXUP_CIFAR100_R18)
    assert "cutout" not in text and "cb53749977834e69840c8f6a7022efea7b4951b6"[:12] in text
    reversed_ours = {m: -v for m, v in ours.items()}
    assert ordering_table(reversed_ours)[1]["rho"] == pytest.approx(-1.0)
    for m in OPENMIXUP_CIFAR100_R18:  # registry names
        assert m in registry.names()


def test_eval_epochs_is_evenly_spaced_and_ends_with_the_last():
    assert eval_epochs(5, 0) == {1, 2, 3, 4, 5} and eval_epochs(5, 8) == {1, 2, 3, 4, 5}
    e = eval_epochs(30, 8)
    assert len(e) == 8 and max(e) == 30 and min(e) >= 1
    gaps = sorted(b - a for a, b in itertools.pairwise(sorted(e)))
    assert gaps[-1] - gaps[0] <= 1
    with pytest.raises(ValueError, match="evals"):
        eval_epochs(3, -1)


def test_suites_are_in_the_over_fitting_regime_and_name_real_methods():
    q, s, f = (suite_settings(n, SUITES[n]["dataset"]) for n in ("quick", "standard", "full"))
    assert set(QUICK_METHODS) <= set(registry.names()) and set(FULL_METHODS) <= set(registry.names())
    # the quick suite trains fewer images for many more passes than it has classes of data
    assert q["train_subset"] <= 2000 and q["epochs"] >= 20 and q["seeds"] >= 3
    assert s["methods"] is None and s["seeds"] >= 3 and s["train_subset"] == q["train_subset"]
    assert f["model"] == "preact_resnet18" and f["dataset"] == "cifar100" and f["augment"]
    assert suite_settings("quick", "digits")["train_subset"] is None
    with pytest.raises(ValueError, match="suite"):
        suite_settings("nope", "digits")


def test_full_suite_one_step_dry_run_on_cpu(tmp_path: Path):
    make_cifar_dir(tmp_path, hundred=True, per_file=8)
    f = suite_settings("full", "cifar100")
    cfg = ImageRunConfig(dataset="cifar100", method="cutmix", seed=0, epochs=1, model=f["model"],
                         batch_size=8, lr=f["lr"], augment=f["augment"], train_subset=None, test_subset=None,
                         evals=f["evals"], data_dir=str(tmp_path))
    r = train_run(cfg)
    assert r["status"] == "ok", r.get("reason")
    assert r["train_size"] == 8 and len(r["curves"]["train_loss"]) == 1
    assert 0.0 <= r["metrics"]["train_top1"] <= 1.0 and r["curves"]["eval_epoch"] == [1]


# ------------------------------------------------------------------------------------- domain scenarios
def _fake_domains(seq_len: int = 16) -> TextDomains:
    g = torch.Generator().manual_seed(0)
    doms = []
    for i, name in enumerate(("a", "b", "noise")):
        # 'a' and 'b' repeat short patterns (learnable), 'noise' is uniform random bytes
        if name == "noise":
            train = torch.randint(0, 256, (4000,), generator=g, dtype=torch.uint8)
            val = torch.randint(0, 256, (1200,), generator=g, dtype=torch.uint8)
        else:
            pat = torch.tensor(list(f"pattern {name} {i} ".encode()), dtype=torch.uint8)
            train, val = pat.repeat(200), pat.repeat(60)
        doms.append(TextDomain(name=name, train=train, val=val, n_documents=10))
    return TextDomains(doms, seq_len=seq_len)


def test_shuffled_domain_keeps_byte_counts_and_train_cap(monkeypatch):
    t = torch.arange(50, dtype=torch.uint8).repeat(4)
    s = ds._shuffled(t, 0)
    assert not torch.equal(s, t) and torch.equal(torch.bincount(s), torch.bincount(t))
    fake = TextDomain("x", train=torch.arange(100, dtype=torch.uint8),
                      val=torch.arange(40, dtype=torch.uint8), n_documents=3)
    monkeypatch.setattr("mixkit.bench.text.text_sources.load_source", lambda *a, **k: fake)
    d = ds.build_domain(ds.DomainSpec("y", "fortunes:en", 1000, train_bytes=30, shuffle=True))
    assert d.name == "y" and d.train.numel() == 30 and d.val.numel() == 40
    assert torch.equal(torch.bincount(d.train, minlength=256), torch.bincount(fake.train[:30], minlength=256))


def test_train_mixture_schedule_and_validation_curve():
    from mixkit.domain.schedules import StepSchedule

    data = _fake_domains()
    cfg = RunConfig(steps=8, batch_size=8, seq_len=16, d_model=16, n_layer=1, n_head=2, log_every=2,
                    eval_chunks=4)
    sched = StepSchedule([(0.0, {"a": 1.0, "b": 0.0, "noise": 0.0}),
                          (0.5, {"a": 0.0, "b": 1.0, "noise": 0.0})])
    r = train_mixture(data, schedule=sched, config=cfg, val_every=4)
    assert [s for s, _ in r.val_history] == [4, 8] and r.val_history[-1][1] == r.val_loss
    w = dict(r.weights_history)
    assert w[2]["a"] == 1.0 and w[8]["b"] == 1.0
    # the training-loss log only holds domains the schedule sampled: 'a' first, 'b' later
    hist = dict(r.train_loss_history)
    assert set(hist[2]) == {"a"} and set(hist[8]) == {"b"}
    # evaluating along the way does not change the run
    plain = train_mixture(data, schedule=sched, config=cfg)
    assert plain.val_loss == pytest.approx(r.val_loss, abs=1e-6)
    with pytest.raises(ValueError, match="schedule"):
        train_mixture(data, schedule=sched, weights={"a": 1.0, "b": 1.0, "noise": 1.0}, config=cfg)


def test_static_weights_and_schedules_follow_their_definitions():
    sizes = {"a": 100, "b": 800}
    assert ds.static_weights("proportional", sizes) == pytest.approx({"a": 1 / 9, "b": 8 / 9})
    t = ds.static_weights("temperature", sizes)  # w ∝ n^(1/3): 100^(1/3) : 800^(1/3) = 1 : 2
    assert t["b"] / t["a"] == pytest.approx(2.0)
    sc = ds.SCENARIOS["imbalanced"]
    sizes4 = {"en": 600, "de": 600, "code": 600, "es": 16}
    up = ds.make_schedule("end-upsample", sc, sizes4)
    early, late = up.weights_at(0.5), up.weights_at(0.9)
    assert late["es"] / late["en"] == pytest.approx(5 * early["es"] / early["en"])
    cool = ds.make_schedule("cooldown", sc, sizes4)
    assert cool.weights_at(0.0)["es"] > cool.weights_at(0.99)["es"]
    with pytest.raises(ValueError, match="static"):
        ds.static_weights("doremi", sizes)


def test_paired_loss_verdict_lower_is_better():
    base = {0: 2.0, 1: 2.1, 2: 2.2}
    assert ds.paired({s: v - 0.1 - 0.001 * s for s, v in base.items()}, base)["verdict"] == "better"
    assert ds.paired({s: v + 0.1 + 0.001 * s for s, v in base.items()}, base)["verdict"] == "worse"


def test_scenario_end_to_end_on_fake_domains(tmp_path: Path, monkeypatch):
    data = _fake_domains()
    specs = (ds.DomainSpec("a", "x", 1), ds.DomainSpec("b", "x", 1), ds.DomainSpec("noise", "x", 1))
    sc = ds.Scenario("fake", "two patterns and noise", specs, target=("a", "b"), steps=12, proxy_steps=4)
    monkeypatch.setitem(ds.SCENARIOS, "fake", sc)
    monkeypatch.setattr(ds, "scenario_data", lambda name, seq_len=64: data)
    cfg = RunConfig(steps=12, batch_size=8, seq_len=16, d_model=16, n_layer=1, n_head=2, log_every=4,
                    eval_chunks=4, signal_chunks=2)
    table, report = ds.run_scenario("fake", [0, 1], tmp_path, cfg, workers=1, n_initial=4, n_holdout=3,
                                    progress=False)
    methods = {r["method"] for r in report["runs"]}
    assert methods == set(sc.methods)
    assert len(report["runs"]) == 2 * len(sc.methods)
    assert all(r["tokens"] == cfg.tokens for r in report["runs"])  # equal tokens
    doremi = next(r for r in report["runs"] if r["method"] == "doremi")
    assert doremi["final_weights"] == pytest.approx(doremi["extra"]["average_weights"])
    assert "| uniform |" in table and "baseline" in table and "RegMix" in table
    for f in report["figures"]:
        assert (tmp_path / f).stat().st_size > 1000
    assert (tmp_path / "fake.json").is_file()
    with pytest.raises(ValueError, match="not run"):
        ds.run_scenario("fake", [0], tmp_path, cfg, methods=["cooldown"], workers=1)


def test_regmix_search_caps_repetition_at_the_fresh_run_budget(monkeypatch):
    seen = {}

    def fake_search(proxy, sizes, total_tokens, **kw):
        seen.update(sizes=sizes, total=total_tokens, steps=proxy.config.steps)
        return {}

    monkeypatch.setattr("mixkit.bench.mixture_search.run_search", fake_search)
    monkeypatch.setattr(ds, "scenario_data", lambda name, seq_len=64: _fake_domains())
    cfg = RunConfig(steps=30, batch_size=8, seq_len=16)
    sc = ds.Scenario("fake", "", (), target=("a",), steps=30, proxy_steps=10)
    ds.run_search(sc, cfg, n_initial=4, n_holdout=3, workers=1)
    assert seen["total"] == cfg.tokens and seen["steps"] == 10
    assert seen["sizes"] == _fake_domains().total_bytes()
