"""Bad input to the ``mixkit`` command line: every case ends with exit code 2 and one line on stderr,
``mixkit: error: ...``, that names the argument at fault; no traceback, nothing on stdout, and no output
folder left behind. The checks run before any training starts, so each case takes milliseconds (in-process
through ``main(argv)``; a few run the installed entry point in a subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mixkit.cli import main
from optional_extras import missing

pytestmark = pytest.mark.skipif(bool(missing("bench") or missing("search")),
                                reason="the commands under test need mixkit[bench,search]")

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A working folder with a few input files; the cases run inside it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MIXKIT_DATA", raising=False)
    (tmp_path / "file").write_text("a regular file\n")
    (tmp_path / "folder").mkdir()
    (tmp_path / "a.jsonl").write_text('{"text": "alpha beta gamma"}\n' * 20)
    (tmp_path / "bad.json").write_text('{"a": 0.5, "b": ')
    (tmp_path / "list.json").write_text("[0.5, 0.5]")
    (tmp_path / "text.json").write_text('{"a": "half", "b": 0.5}')
    (tmp_path / "negative.json").write_text('{"a": -1, "b": 2}')
    (tmp_path / "nan.json").write_text('{"a": NaN, "b": 1}')
    (tmp_path / "zero.json").write_text('{"mixture": {"a": 0, "b": 0}}')
    (tmp_path / "unknown.json").write_text('{"mixture": {"x": 0.5, "y": 0.5}}')
    (tmp_path / "binary.json").write_bytes(b"\xff\xfe\x00garbage")
    (tmp_path / "badsources.json").write_text('{"mixture": {"a": 1}, "sources": "fortunes:en"}')
    for name in ("d1", "d2"):
        (tmp_path / name).mkdir()
        for i in range(3):
            (tmp_path / name / f"{i}.txt").write_text(f"{name} document {i} " * 20)
    return tmp_path


DOMAINS = ["--domain", "a=folder:d1", "--domain", "b=folder:d2", "--max-bytes", "5000"]

# (id, argv, text the error line must contain: the argument at fault)
CASES = [
    # top level
    ("unknown-command", ["bogus"], "invalid choice"),
    ("unknown-option", ["list", "--bogus"], "unrecognized arguments"),
    # mixkit bench: numbers
    ("bench-epochs-0", ["bench", "--epochs", "0"], "--epochs"),
    ("bench-epochs-negative", ["bench", "--epochs", "-3"], "--epochs"),
    ("bench-epochs-nan", ["bench", "--epochs", "nan"], "--epochs"),
    ("bench-epochs-fraction", ["bench", "--epochs", "1.5"], "--epochs"),
    ("bench-seeds-0", ["bench", "--seeds", "0"], "--seeds"),
    ("bench-batch-size-0", ["bench", "--batch-size", "0"], "--batch-size"),
    ("bench-width-negative", ["bench", "--width", "-1"], "--width"),
    ("bench-lr-0", ["bench", "--lr", "0"], "--lr"),
    ("bench-lr-nan", ["bench", "--lr", "nan"], "--lr"),
    ("bench-lr-inf", ["bench", "--lr", "inf"], "--lr"),
    ("bench-lr-text", ["bench", "--lr", "fast"], "--lr"),
    ("bench-train-subset-0", ["bench", "--train-subset", "0"], "--train-subset"),
    ("bench-train-subset-negative", ["bench", "--train-subset", "-5"], "--train-subset"),
    ("bench-test-subset-text", ["bench", "--test-subset", "many"], "--test-subset"),
    ("bench-workers-0", ["bench", "--workers", "0"], "--workers"),
    # mixkit bench: names, devices, paths
    ("bench-device-bogus", ["bench", "--device", "bogus"], "--device"),
    ("bench-device-meta", ["bench", "--device", "meta"], "--device"),
    ("bench-device-cuda-index", ["bench", "--device", "cuda:-1"], "--device"),
    ("bench-out-is-file", ["bench", "--out", "file"], "--out"),
    ("bench-out-under-file", ["bench", "--out", "file/results"], "--out"),
    ("bench-model-unknown", ["bench", "--model", "resnet9000"], "--model"),
    ("bench-suite-unknown", ["bench", "--suite", "fastest"], "--suite"),
    ("bench-method-unknown", ["bench", "--dataset", "digits", "--methods", "nosuchmix"], "--methods"),
    ("bench-method-bad-alpha", ["bench", "--dataset", "digits", "--methods", "mixup:alpha=-1"], "--methods"),
    ("bench-method-bad-weight", ["bench", "--dataset", "digits", "--methods", "mixup@abc|cutmix"],
     "--methods"),
    ("bench-methods-twice", ["bench", "--dataset", "digits", "--methods", "mixup", "mixup"], "--methods"),
    ("bench-data-dir-missing", ["bench", "--data-dir", "nowhere"], "--data-dir"),
    ("bench-data-dir-file", ["bench", "--data-dir", "file"], "--data-dir"),
    ("bench-dataset-unknown", ["bench", "--dataset", "imagenet-42"], "dataset"),
    ("bench-dataset-missing-files", ["bench", "--dataset", "cifar10", "--data-dir", "folder"],
     "cifar-10-python.tar.gz"),
    ("bench-results-page-folder", ["bench", "--results-page", "folder"], "--results-page"),
    ("bench-quick-suite-options", ["bench", "--suite", "quick", "--", "--seeds", "3"], "unrecognized"),
    # mixkit gallery
    ("gallery-seed-negative", ["gallery", "--seed", "-1"], "--seed"),
    ("gallery-out-folder", ["gallery", "--out", "folder"], "--out"),
    ("gallery-out-not-png", ["gallery", "--out", "grid.txt"], "--out"),
    ("gallery-model-unknown", ["gallery", "--model", "bogus"], "--model"),
    ("gallery-method-unknown", ["gallery", "--methods", "bogus"], "--methods"),
    # mixkit mixture plan
    ("plan-total-negative", ["mixture", "plan", "--sizes", "a=1,b=2", "--total", "-5"], "--total"),
    ("plan-total-0", ["mixture", "plan", "--sizes", "a=1,b=2", "--total", "0"], "--total"),
    ("plan-total-fraction", ["mixture", "plan", "--sizes", "a=1,b=2", "--total", "1.5"], "--total"),
    ("plan-temperature-0", ["mixture", "plan", "--sizes", "a=1,b=2", "--temperature", "0"], "--temperature"),
    ("plan-temperature-nan", ["mixture", "plan", "--sizes", "a=1,b=2", "--temperature", "nan"],
     "--temperature"),
    ("plan-max-epochs-0", ["mixture", "plan", "--sizes", "a=1,b=2", "--total", "9", "--max-epochs", "0"],
     "--max-epochs"),
    ("plan-max-epochs-no-total", ["mixture", "plan", "--sizes", "a=1,b=2", "--max-epochs", "2"],
     "--max-epochs"),
    ("plan-start-above-1", ["mixture", "plan", "--sizes", "a=1,b=2", "--start", "1.5"], "--start"),
    ("plan-last-fraction-0", ["mixture", "plan", "--sizes", "a=1,b=2", "--last-fraction", "0"],
     "--last-fraction"),
    ("plan-points-0", ["mixture", "plan", "--sizes", "a=1,b=2", "--points", "0"], "--points"),
    ("plan-points-huge", ["mixture", "plan", "--sizes", "a=1,b=2", "--points", "1e9"], "--points"),
    ("plan-size-negative", ["mixture", "plan", "--sizes", "a=-1,b=2"], "--sizes"),
    ("plan-size-nan", ["mixture", "plan", "--sizes", "a=nan,b=2"], "--sizes"),
    ("plan-size-zero", ["mixture", "plan", "--sizes", "a=0,b=2"], "--sizes"),
    ("plan-size-twice", ["mixture", "plan", "--sizes", "a=1,a=2"], "--sizes"),
    ("plan-size-no-value", ["mixture", "plan", "--sizes", "a"], "--sizes"),
    ("plan-no-domains", ["mixture", "plan"], "--sizes"),
    ("plan-upsample-missing", ["mixture", "plan", "--sizes", "a=1,b=2", "--schedule", "upsample"],
     "--upsample"),
    ("plan-upsample-zero", ["mixture", "plan", "--sizes", "a=1,b=2", "--schedule", "upsample", "--upsample",
                            "b=0"], "--upsample"),
    ("plan-to-negative", ["mixture", "plan", "--sizes", "a=1,b=2", "--schedule", "linear", "--to",
                          "a=-1,b=2"], "--to"),
    ("plan-to-all-zero", ["mixture", "plan", "--sizes", "a=1,b=2", "--schedule", "step", "--to", "a=0,b=0"],
     "--to"),
    ("plan-to-without-schedule", ["mixture", "plan", "--sizes", "a=1,b=2", "--to", "a=1"], "--to"),
    ("plan-strategy-unknown", ["mixture", "plan", "--sizes", "a=1,b=2", "--strategy", "best"], "--strategy"),
    ("plan-domain-missing-file", ["mixture", "plan", "--domain", "a=jsonl:missing.jsonl"], "--domain"),
    ("plan-domain-unknown-kind", ["mixture", "plan", "--domain", "a=csv:a.jsonl"], "--domain"),
    ("plan-domain-bad-name", ["mixture", "plan", "--domain", "a|b=jsonl:a.jsonl"], "--domain"),
    ("plan-domain-jsonl-folder", ["mixture", "plan", "--domain", "a=jsonl:folder"], "--domain"),
    ("plan-domain-folder-file", ["mixture", "plan", "--domain", "a=folder:file"], "--domain"),
    ("plan-domain-twice", ["mixture", "plan", "--domain", "a=jsonl:a.jsonl", "--domain", "a=folder:d1"],
     "--domain"),
    ("plan-domain-bad-language", ["mixture", "plan", "--domain", "fortunes:xx"], "--domain"),
    ("plan-jsonl-no-path", ["mixture", "plan", "--jsonl", "a"], "--jsonl"),
    ("plan-out-not-image", ["mixture", "plan", "--sizes", "a=1,b=2", "--out", "plan.txt"], "--out"),
    ("plan-out-under-file", ["mixture", "plan", "--sizes", "a=1,b=2", "--out", "file/plan.png"], "--out"),
    ("plan-json-folder", ["mixture", "plan", "--sizes", "a=1,b=2", "--json", "folder"], "--json"),
    # mixkit mixture train
    ("train-method-unknown", ["mixture", "train", "--method", "best"], "--method"),
    ("train-method-twice", ["mixture", "train", "--method", "odm,odm"], "--method"),
    ("train-static-without-weights", ["mixture", "train", "--method", "static"], "--method static"),
    ("train-weights-invalid-json", ["mixture", "train", "--weights", "bad.json"], "bad.json"),
    ("train-weights-missing-file", ["mixture", "train", "--weights", "missing.json"], "missing.json"),
    ("train-weights-not-object", ["mixture", "train", "--weights", "list.json"], "list.json"),
    ("train-weights-text-value", ["mixture", "train", "--weights", "text.json"], "text.json"),
    ("train-weights-negative", ["mixture", "train", "--weights", "negative.json"], "negative.json"),
    ("train-weights-nan", ["mixture", "train", "--weights", "nan.json"], "nan.json"),
    ("train-weights-sum-0", ["mixture", "train", "--weights", "zero.json"], "zero.json"),
    ("train-weights-binary", ["mixture", "train", "--weights", "binary.json"], "binary.json"),
    ("train-weights-bad-sources", ["mixture", "train", "--weights", "badsources.json"], "badsources.json"),
    ("train-weights-folder", ["mixture", "train", "--weights", "folder"], "--weights"),
    ("train-weights-inline-text", ["mixture", "train", "--weights", "a=x"], "--weights"),
    ("train-weights-garbage", ["mixture", "train", "--weights", "garbage"], "--weights"),
    ("train-weights-unknown-domains", ["mixture", "train", "--weights", "unknown.json", *DOMAINS],
     "unknown.json"),
    ("train-seeds-text", ["mixture", "train", "--seeds", "a"], "--seeds"),
    ("train-seeds-repeated", ["mixture", "train", "--seeds", "0,0"], "--seeds"),
    ("train-seeds-negative", ["mixture", "train", "--seeds", "-1"], "--seeds"),
    ("train-seeds-empty-item", ["mixture", "train", "--seeds", "0,,1"], "--seeds"),
    ("train-steps-0", ["mixture", "train", "--steps", "0"], "--steps"),
    ("train-lr-0", ["mixture", "train", "--lr", "0"], "--lr"),
    ("train-threads-0", ["mixture", "train", "--threads", "0"], "--threads"),
    ("train-d-model-not-multiple", ["mixture", "train", "--d-model", "10"], "--d-model"),
    ("train-max-bytes-0", ["mixture", "train", "--max-bytes", "0"], "--max-bytes"),
    ("train-seq-len-nan", ["mixture", "train", "--seq-len", "nan"], "--seq-len"),
    ("train-out-under-file", ["mixture", "train", "--out", "file/x", *DOMAINS], "--out"),
    ("train-target-unknown", ["mixture", "train", "--target", "klingon", *DOMAINS], "target"),
    ("train-domains-empty", ["mixture", "train", "--domains", ","], "--domains"),
    ("train-domain-missing-folder", ["mixture", "train", "--domain", "a=folder:nowhere"], "--domain"),
    ("train-domain-stdlib-arg", ["mixture", "train", "--domain", "stdlib:3.11"], "--domain"),
    # mixkit mixture search
    ("search-initial-2", ["mixture", "search", "--initial", "2"], "--initial"),
    ("search-holdout-1", ["mixture", "search", "--holdout", "1"], "--holdout"),
    ("search-active-negative", ["mixture", "search", "--active", "-1"], "--active"),
    ("search-batch-0", ["mixture", "search", "--batch", "0"], "--batch"),
    ("search-top-k-0", ["mixture", "search", "--top-k", "0"], "--top-k"),
    ("search-top-k-above-candidates", ["mixture", "search", "--top-k", "200", "--candidates", "100"],
     "--top-k"),
    ("search-minimum-weight-1", ["mixture", "search", "--minimum-weight", "1"], "--minimum-weight"),
    ("search-regressor-unknown", ["mixture", "search", "--regressor", "xgboost"], "--regressor"),
    ("search-backend-unknown", ["mixture", "search", "--backend", "slurm"], "--backend"),
    ("search-target-tokens-negative", ["mixture", "search", "--target-tokens", "-1"], "--target-tokens"),
    ("search-max-epochs-inf", ["mixture", "search", "--max-epochs", "inf"], "--max-epochs"),
    ("search-workers-0", ["mixture", "search", "--workers", "0"], "--workers"),
    ("search-out-is-file", ["mixture", "search", "--out", "file", *DOMAINS], "--out"),
    ("search-domain-twice", ["mixture", "search", "--domain", "a=folder:d1", "--domain", "a=folder:d2"],
     "--domain"),
    # the text-domains suite parses its own options the same way
    ("text-domains-initial", ["bench", "--suite", "text-domains", "--", "--initial", "1"], "--initial"),
    ("text-domains-seeds", ["bench", "--suite", "text-domains", "--", "--seeds", "x"], "--seeds"),
]


def _snapshot(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def _assert_one_line_error(code, out: str, err: str, expected: str) -> None:
    assert code == 2, (code, out, err)
    assert "Traceback" not in err and out == "", (out, err)
    lines = err.splitlines()
    assert len(lines) == 1 and err.endswith("\n"), err
    assert lines[0].startswith("mixkit: error: "), err
    assert expected in lines[0], (expected, err)


def test_the_campaign_is_large_and_distinct():
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids)) and len(ids) >= 50


@pytest.mark.parametrize("argv, expected", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_gives_one_line_and_exit_2(ws, capsys, argv, expected):
    before = _snapshot(ws)
    code = main(list(argv))
    out, err = capsys.readouterr()
    _assert_one_line_error(code, out, err, expected)
    assert _snapshot(ws) == before  # no output folder, no partial file


def test_cuda_asked_for_without_cuda(ws, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    for device in ("cuda", "cuda:0"):
        _assert_one_line_error(main(["bench", "--device", device]), *capsys.readouterr(), "--device")


def test_cuda_index_beyond_the_visible_devices(ws, capsys, monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    _assert_one_line_error(main(["bench", "--device", "cuda:3"]), *capsys.readouterr(), "only 1 CUDA device")


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_read_only_output_folder(ws, capsys):
    ro = ws / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        _assert_one_line_error(main(["bench", "--out", str(ro / "results")]), *capsys.readouterr(), "--out")
    finally:
        ro.chmod(0o700)


def test_missing_extra_is_named_before_any_work(ws, capsys, monkeypatch):
    from mixkit.cli import checks

    monkeypatch.setitem(checks.EXTRAS, "search", ("sklearn", "a_module_that_is_not_installed"))
    code = main(["mixture", "search", *DOMAINS])
    _assert_one_line_error(code, *capsys.readouterr(), "pip install 'mixkit[search]'")
    monkeypatch.setitem(checks.EXTRAS, "bench", ("no_such_plotting_module",))
    _assert_one_line_error(main(["bench"]), *capsys.readouterr(), "pip install 'mixkit[bench]'")
    _assert_one_line_error(main(["gallery"]), *capsys.readouterr(), "'bench' extra")
    monkeypatch.setitem(checks.EXTRAS, "plot", ("no_such_plotting_module",))
    code = main(["mixture", "plan", "--sizes", "a=1", "--out", "p.png"])
    _assert_one_line_error(code, *capsys.readouterr(), "pip install 'mixkit[plot]'")
    assert not (ws / "results").exists() and not (ws / "p.png").exists()


def _idx_gz(path: Path, arr, truncate: bool = False) -> None:
    import gzip
    import struct

    head = struct.pack(">HBB", 0, 8, arr.ndim) + b"".join(struct.pack(">I", d) for d in arr.shape)
    data = gzip.compress(head + arr.tobytes())
    path.write_bytes(data[: len(data) // 2] if truncate else data)


@pytest.mark.parametrize("damage", ["truncated", "not-gzip"])
def test_corrupt_or_empty_dataset_files(ws, capsys, damage):
    import numpy as np

    fm = ws / "fm"
    fm.mkdir()
    for split, n in (("train", 64), ("t10k", 32)):
        _idx_gz(fm / f"{split}-images-idx3-ubyte.gz", np.zeros((n, 28, 28), np.uint8),
                truncate=damage == "truncated" and split == "train")
        _idx_gz(fm / f"{split}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    if damage == "not-gzip":
        (fm / "train-images-idx3-ubyte.gz").write_bytes(b"definitely not gzip data")
    before = _snapshot(ws)
    code = main(["bench", "--data-dir", str(fm), "--train-subset", "all", "--test-subset", "all"])
    _assert_one_line_error(code, *capsys.readouterr(), "--dataset fashion-mnist")
    assert _snapshot(ws) == before


def test_deprecated_spelling_with_an_error_prints_only_the_error(ws, capsys):
    _assert_one_line_error(main(["mixture", "train", "--domains", "a=folder:d1,a=folder:d2"]),
                           *capsys.readouterr(), "given twice")


SUBPROCESS_CASES = [
    (["bench", "--device", "bogus"], "--device"),
    (["mixture", "plan", "--total", "-5", "--sizes", "a=1"], "--total"),
    (["mixture", "train", "--weights", "bad.json"], "bad.json"),
    (["bench", "--train-subset", "0"], "--train-subset"),
]


@pytest.mark.parametrize("argv, expected", SUBPROCESS_CASES,
                         ids=[c[0][0] + "-" + c[1] for c in SUBPROCESS_CASES])
def test_entry_point_exits_2_with_one_line(ws, argv, expected):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    proc = subprocess.run([sys.executable, "-m", "mixkit", *argv], capture_output=True, text=True, cwd=ws,
                          env=env, timeout=300)
    _assert_one_line_error(proc.returncode, proc.stdout, proc.stderr, expected)


def test_weights_error_names_the_file_and_the_problem(ws, capsys):
    main(["mixture", "train", "--weights", "bad.json"])
    err = capsys.readouterr().err
    assert "bad.json" in err and "invalid JSON" in err and "line 1" in err
    main(["mixture", "train", "--weights", "negative.json"])
    err = capsys.readouterr().err
    assert "'a'" in err and ">= 0" in err
    assert json.loads((ws / "list.json").read_text()) == [0.5, 0.5]  # inputs are never rewritten
