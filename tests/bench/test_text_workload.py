"""Reference text workload: text-domain loaders, the byte GPT, the training loop driving MixtureSampler with
an online method, exact resume of (sampler, method) together, and the two CLI commands end to end."""

import json
from pathlib import Path

import pytest
import torch

from mixkit.bench.text import (
    ByteGPT,
    ByteGPTConfig,
    DataMissingError,
    TextDomains,
    load_fortunes,
    load_jsonl,
    load_python_stdlib,
    load_text_folder,
)
from mixkit.bench.text.text_domains import FORTUNES_DIR, parse_fortune_file
from mixkit.bench.text.workload import RunConfig, per_domain_mean, train_mixture
from mixkit.domain import MixtureSampler
from mixkit.domain.online import DGA, ODM, Aioli, DoReMi, RnB

HAVE_FORTUNES = (FORTUNES_DIR / "de").is_dir()


def test_fortune_parser_and_user_folders(tmp_path: Path):
    f = tmp_path / "topic"
    f.write_text("first one\n%\nsecond\nline two\n%\n\n%\nthird\n")
    assert parse_fortune_file(f) == [b"first one", b"second\nline two", b"third"]
    (tmp_path / "docs").mkdir()
    for i in range(5):
        (tmp_path / "docs" / f"{i}.txt").write_text(f"document {i} " * 20)
    d = load_text_folder(tmp_path / "docs", val_fraction=0.2)
    assert d.name == "docs" and d.n_documents == 5 and d.val.dtype == torch.uint8
    assert b"document" in bytes(d.train.tolist())
    j = tmp_path / "c.jsonl"
    j.write_text("\n".join(json.dumps({"text": f"record {i} " * 10}) for i in range(6)))
    assert load_jsonl(j, name="recs").name == "recs"
    with pytest.raises(ValueError, match="text_key"):
        load_jsonl(j, text_key="body")


def test_english_fortunes_skip_copies_of_language_files(tmp_path: Path):
    """Debian's fortunes-it also installs its files at the top level; they must not count as English."""
    (tmp_path / "it").mkdir()
    (tmp_path / "it" / "italia").write_text("una fortuna italiana\n%\nancora una\n")
    (tmp_path / "italia").write_text("una fortuna italiana\n%\nancora una\n")
    (tmp_path / "people").write_text("an english fortune\n%\nanother english one\n")
    (tmp_path / "it" / "people").write_text("gente diversa\n")  # same name, other text: kept as English
    en = load_fortunes("en", root=tmp_path, val_fraction=0.5)
    text = bytes(en.train.tolist()) + bytes(en.val.tolist())
    assert b"english" in text and b"italiana" not in text
    assert en.n_documents == 2


def test_missing_data_says_how_to_get_it(tmp_path: Path):
    with pytest.raises(DataMissingError, match="get-data.sh"):
        load_fortunes("de", root=tmp_path)
    with pytest.raises(DataMissingError, match="does not exist"):
        load_text_folder(tmp_path / "nope")
    with pytest.raises(ValueError, match="language"):
        load_fortunes("xx", root=tmp_path)


@pytest.mark.skipif(not HAVE_FORTUNES, reason="fortunes packages not installed (bash scripts/get-data.sh)")
def test_real_domains_split_by_document_and_gather():
    en = load_fortunes("en", max_bytes=50_000)
    code = load_python_stdlib(max_bytes=50_000)
    data = TextDomains([en, code], seq_len=32)
    sizes = data.sizes()
    assert sizes["en"] == (en.train.numel() - 1) // 32
    chunks = data.gather("code", torch.tensor([0, 3]))
    assert chunks.shape == (2, 33) and chunks.dtype == torch.int64
    assert torch.equal(chunks[1], code.train[96:129].long())
    # no document text of the validation split appears verbatim in training
    val_doc = bytes(en.val.tolist()).split(b"\n")[0]
    if len(val_doc) > 30:
        assert val_doc not in bytes(en.train.tolist())


def test_byte_gpt_shapes_and_causality():
    torch.manual_seed(0)
    m = ByteGPT(ByteGPTConfig(seq_len=16, d_model=32, n_layer=1, n_head=2))
    x = torch.randint(0, 256, (3, 17))
    assert m(x[:, :-1]).shape == (3, 16, 256)
    assert m.token_losses(x).shape == (3,)
    y = x.clone()
    y[:, 10] = (y[:, 10] + 1) % 256  # changing byte 10 must not change predictions at positions < 10
    assert torch.allclose(m(x[:, :16])[:, :10], m(y[:, :16])[:, :10], atol=1e-6)
    with pytest.raises(ValueError, match="divisible"):
        ByteGPTConfig(d_model=30, n_head=4)


def test_per_domain_mean_is_vectorized_mean():
    v = torch.tensor([1.0, 2.0, 3.0, 5.0])
    ids = torch.tensor([0, 2, 0, 2])
    means, counts = per_domain_mean(v, ids, 3)
    assert means.tolist() == [2.0, 0.0, 3.5] and counts.tolist() == [2.0, 0.0, 2.0]


def test_online_method_and_sampler_resume_bit_for_bit():
    sizes = {"a": 50, "b": 70, "c": 30}

    def fresh():
        return MixtureSampler(sizes, {"a": 1, "b": 1, "c": 1}, seed=3, block_size=256), Aioli(
            list(sizes), estimator="window", window=6, update_every=3
        )

    def step(sampler, method, t):
        draw = sampler.take(8)
        ids = torch.from_numpy(draw.domain_ids)
        fake = torch.tensor([1.0, 3.0, 2.0])[ids] - 0.01 * t  # domain b "hard"
        means, counts = per_domain_mean(fake, ids, 3)
        losses = {n: m for n, m, c in zip(sizes, means.tolist(), counts.tolist()) if c}
        sampler.set_weights(method.update(t, losses_by_domain=losses))
        return draw.keys()

    s1, m1 = fresh()
    for t in range(10):
        step(s1, m1, t)
    s2, m2 = fresh()
    s2.load_state_dict(s1.state_dict())
    m2.load_state_dict(m1.state_dict())
    rest1 = [step(s1, m1, t) for t in range(10, 25)]
    rest2 = [step(s2, m2, t) for t in range(10, 25)]
    assert rest1 == rest2
    assert m1.weights != {"a": 1 / 3, "b": 1 / 3, "c": 1 / 3}


def _tiny_data():
    g = torch.Generator().manual_seed(0)
    from mixkit.bench.text import TextDomain

    def dom(name, lo, hi):  # two synthetic "languages" over different byte ranges
        return TextDomain(
            name,
            torch.randint(lo, hi, (4000,), generator=g, dtype=torch.uint8),
            torch.randint(lo, hi, (1500,), generator=g, dtype=torch.uint8),
            10,
        )

    return TextDomains([dom("low", 0, 16), dom("high", 200, 256), dom("mid", 100, 108)], seq_len=16)


def test_train_mixture_runs_online_methods_through_the_sampler():
    data = _tiny_data()
    cfg = RunConfig(
        steps=12,
        batch_size=6,
        seq_len=16,
        d_model=16,
        n_layer=1,
        n_head=2,
        eval_chunks=8,
        signal_chunks=4,
        log_every=4,
    )
    base, ref = train_mixture(data, config=cfg, return_model=True)
    assert set(base.val_loss) == {"low", "high", "mid"} and base.wall_s > 0
    assert base.target_loss == pytest.approx(sum(base.val_loss.values()) / 3)
    for method in (
        DoReMi(data.names),
        ODM(data.names, warmup_steps=2),
        Aioli(data.names, round_steps=8, probe_rounds=1, probe_steps=1),
        DGA(data.names, target="__target__", every=2),
        RnB(data.names, round_steps=3, eval_proportions={"high": 1.0}),
    ):
        r = train_mixture(data, method=method, config=cfg, reference_model=ref, target="high")
        assert r.target_loss == pytest.approx(r.val_loss["high"])
        assert len(r.weights_history) == 4 and r.weights_history[-1][1] == r.final_weights
        assert r.final_weights != r.weights_history[0][1], type(method).__name__
    # DoReMi's proxy keeps sampling at the reference mixture and reports the averaged weights
    assert (
        "average_weights"
        in train_mixture(data, method=DoReMi(data.names), config=cfg, reference_model=ref).extra
    )
    with pytest.raises(ValueError, match="reference_model"):
        train_mixture(data, method=DoReMi(data.names), config=cfg)
    with pytest.raises(ValueError, match="target"):
        train_mixture(data, config=cfg, target="nope")


@pytest.mark.skipif(not HAVE_FORTUNES, reason="fortunes packages not installed (bash scripts/get-data.sh)")
def test_cli_train_and_search_write_results(tmp_path: Path):
    from mixkit.cli import main

    common = [
        "--domains",
        "fortunes:en,fortunes:de",
        "--max-bytes",
        "20000",
        "--d-model",
        "16",
        "--layers",
        "1",
        "--seq-len",
        "16",
        "--batch-size",
        "4",
        "--no-progress",
    ]
    assert (
        main(
            [
                "mixture",
                "train",
                "--method",
                "all",
                "--steps",
                "6",
                "--out",
                str(tmp_path / "t"),
                *common,
            ]
        )
        == 0
    )
    run = next((tmp_path / "t" / "train").iterdir())
    res = json.loads((run / "results.json").read_text())
    assert set(res["results"]) == {
        "uniform",
        "proportional",
        "doremi",
        "odm",
        "odm-exp3",
        "aioli",
        "aioli-window",
        "dga",
        "rnb",
    }
    assert "| rnb |" in (run / "table.md").read_text()
    doremi = res["results"]["doremi"][0]
    assert "proxy_target_loss" in doremi["extra"] and "average_weights" in doremi["extra"]
    assert (
        main(
            [
                "mixture",
                "search",
                "--initial",
                "3",
                "--active",
                "2",
                "--batch",
                "2",
                "--holdout",
                "3",
                "--steps",
                "3",
                "--regressor",
                "loglinear",
                "--out",
                str(tmp_path / "s"),
                *common,
            ]
        )
        == 0
    )
    run = next((tmp_path / "s" / "search").iterdir())
    rec = json.loads((run / "recommended.json").read_text())
    assert set(rec["mixture"]) == {"en", "de"} and abs(sum(rec["mixture"].values()) - 1) < 1e-9
    assert (
        main(
            [
                "mixture",
                "train",
                "--method",
                "static",
                "--weights",
                str(run / "recommended.json"),
                "--no-baselines",
                "--steps",
                "3",
                "--out",
                str(tmp_path / "t2"),
                *common,
            ]
        )
        == 0
    )
