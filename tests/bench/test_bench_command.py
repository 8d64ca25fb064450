import json

import pytest
from bench_fakes import make_fashion_dir
from PIL import Image

from mixkit.cli import main

PNGS = ("curves.png", "reliability.png", "final.png", "gallery.png")


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MIXKIT_DATA", raising=False)


def _only_run_dir(out):
    dirs = sorted(p for p in (out / "fashion-mnist").iterdir() if p.is_dir())
    return dirs[-1]


def test_bench_one_epoch_smoke_then_reuse(tmp_path, capsys):
    make_fashion_dir(tmp_path / "fm", n_train=96, n_test=48)
    out = tmp_path / "results"
    args = ["bench", "--data-dir", str(tmp_path / "fm"), "--methods", "none", "mixup:alpha=0.2", "cutmix",
            "--epochs", "1", "--seeds", "2", "--train-subset", "all", "--test-subset", "all",
            "--batch-size", "32", "--out", str(out)]
    assert main([*args, "--workers", "2"]) == 0  # the parallel path, as `make bench` runs it
    run_dir = _only_run_dir(out)
    for name in ("results.json", "table.md", *PNGS):
        assert (run_dir / name).is_file(), name
    for name in PNGS:
        with Image.open(run_dir / name) as im:
            assert im.size[0] > 300 and im.size[1] > 150
    res = json.loads((run_dir / "results.json").read_text())
    assert res["meta"]["epochs"] == 1 and res["meta"]["seeds"] == [0, 1] and res["meta"]["train_size"] == 96
    assert {r["method"] for r in res["runs"]} == {"none", "mixup:alpha=0.2", "cutmix"}
    assert all(r["status"] == "ok" and not r["cached"] for r in res["runs"]) and len(res["runs"]) == 6
    table = (run_dir / "table.md").read_text()
    for m in ("| none |", "| mixup:alpha=0.2 |", "| cutmix |", "± "):
        assert m in table
    assert "mixkit bench: fashion-mnist" in capsys.readouterr().out

    # same configuration again: every run is reused from the cache, the numbers are identical
    assert main([*args, "--workers", "1"]) == 0
    res2 = json.loads((_only_run_dir(out) / "results.json").read_text())
    assert all(r["cached"] for r in res2["runs"])
    assert [r["metrics"] for r in res2["runs"]] == [r["metrics"] for r in res["runs"]]


def test_bench_falls_back_to_digits_with_a_message(tmp_path, monkeypatch, capsys):
    import mixkit.bench.data.idx as idx

    monkeypatch.setattr(idx, "DEFAULT_FASHION_DIR", tmp_path / "nowhere")
    out = tmp_path / "r"
    assert main(["bench", "--methods", "none", "--epochs", "1", "--seeds", "1", "--workers", "1",
                 "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "apt-get install dataset-fashion-mnist" in err and "digits" in err
    assert list((out / "digits").glob("*/table.md"))


def test_bench_rejects_bad_method_and_missing_explicit_dataset(tmp_path, capsys):
    assert main(["bench", "--dataset", "digits", "--methods", "nosuchmix", "--out", str(tmp_path)]) == 2
    assert "unknown mixing method" in capsys.readouterr().err
    assert main(["bench", "--dataset", "cifar10", "--data-dir", str(tmp_path), "--out", str(tmp_path)]) == 2
    assert "cifar-10-python.tar.gz" in capsys.readouterr().err


def test_gallery_command(tmp_path):
    make_fashion_dir(tmp_path / "fm", n_train=16, n_test=16)
    png = tmp_path / "g.png"
    assert main(["gallery", "--dataset", "fashion-mnist", "--data-dir", str(tmp_path / "fm"),
                 "--methods", "mixup", "cutmix", "fmix", "--out", str(png)]) == 0
    with Image.open(png) as im:
        assert im.size[0] > 300 and im.size[1] > 200
