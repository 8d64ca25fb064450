"""Bad input, corrupt files, faults and interrupts for the benchmark API: each case ends in a clear error that
names the argument or the file, or in a correct result (a corrupt cache entry is re-run, never trusted)."""

from __future__ import annotations

import gzip
import io
import json
import logging
import math
import os
import pickle
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from bench_fault_fakes import FILES, fake_result, idx_bytes, make_idx_dir, quick_train
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mixkit.bench import runner
from mixkit.bench.data import (
    DataFileError,
    DatasetNotFoundError,
    ImageDataset,
    load_cifar,
    load_dataset,
    load_fashion_mnist,
    load_image_folder,
    read_cifar_pickle,
    read_idx,
)
from mixkit.bench.text.text_domains import DataMissingError
from mixkit.bench.text.text_sources import load_source, parse_sources
from mixkit.bench.train import RunConfig

HERE = Path(__file__).parent
SRC = Path(runner.__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _isolated(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXKIT_CACHE", str(tmp_path / "decoded"))
    monkeypatch.delenv("MIXKIT_DATA", raising=False)
    import mixkit.bench.data.idx as idx

    monkeypatch.setattr(idx, "DEFAULT_FASHION_DIR", tmp_path / "no-system-copy")
    from mixkit.bench import data

    data._load.cache_clear()
    yield
    data._load.cache_clear()


# ----------------------------------------------------------------------------------------------- IDX files
def _idx_header(ndim: int, dims: list[int], code: int = 8) -> bytes:
    return bytes([0, 0, code, ndim]) + b"".join(d.to_bytes(4, "big") for d in dims)


BAD_IDX = {
    "empty file": (b"", "bad magic"),
    "bad magic": (b"\x01\x02\x08\x01" + (1).to_bytes(4, "big") + b"\x00", "bad magic"),
    "float type code": (_idx_header(1, [2], code=0x0D) + b"\x00" * 8, "not unsigned byte"),
    "zero dimensions": (_idx_header(0, []), "0 dimensions"),
    "header cut short": (bytes([0, 0, 8, 3]) + (5).to_bytes(4, "big"), "header of 3 dimensions"),
    "body too short": (_idx_header(1, [5]) + b"\x00\x00", "promises 5 bytes"),
    "body too long": (_idx_header(1, [2]) + b"\x00" * 3, "promises 2 bytes"),
    "zero-size dimension": (_idx_header(3, [0, 28, 28]), "holds no data"),
}


@pytest.mark.parametrize("gz", [False, True], ids=["raw", "gz"])
@pytest.mark.parametrize("case", list(BAD_IDX))
def test_read_idx_refuses_malformed_files_naming_them(tmp_path, case, gz):
    raw, match = BAD_IDX[case]
    path = tmp_path / ("f.gz" if gz else "f")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    with pytest.raises(DataFileError, match=match) as err:
        read_idx(path)
    assert str(err.value).startswith(str(path))


@pytest.mark.parametrize("cut", [0.5, 0.9, 10])
def test_truncated_gz_is_a_clear_error_naming_the_file(tmp_path, cut):
    good = gzip.compress(idx_bytes(np.zeros((50, 28, 28), np.uint8)))
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(good[: int(len(good) * cut)] if cut < 1 else good[:cut])
    with pytest.raises(DataFileError, match="truncated or corrupt") as err:
        read_idx(path)
    assert str(path) in str(err.value)


def test_gz_suffix_on_a_file_that_is_not_gzip(tmp_path):
    path = tmp_path / "x.gz"
    path.write_bytes(idx_bytes(np.zeros((2, 2), np.uint8)))
    with pytest.raises(DataFileError, match="gzip"):
        read_idx(path)


def test_read_idx_missing_file_is_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_idx(tmp_path / "nope.gz")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(
    st.binary(max_size=64),
    st.tuples(st.integers(0, 4), st.lists(st.integers(0, 5), max_size=4), st.binary(max_size=200)).map(
        lambda t: bytes([0, 0, 8, t[0]]) + b"".join(d.to_bytes(4, "big") for d in t[1]) + t[2])))
def test_read_idx_on_arbitrary_bytes_reads_exactly_or_refuses(tmp_path, raw):
    path = tmp_path / "any"
    path.write_bytes(raw)
    try:
        t = read_idx(path)
    except DataFileError as err:
        assert str(err).startswith(str(path))
        return
    ndim = raw[3]
    dims = [int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
    assert list(t.shape) == dims and t.dtype == torch.uint8
    assert t.flatten().numpy().tobytes() == raw[4 + 4 * ndim:]


def test_idx_label_255_refused_instead_of_a_256_class_model(tmp_path):
    y = (np.arange(40) % 10).astype(np.uint8)
    y[7] = 255
    paths = make_idx_dir(tmp_path / "fm", override={"train_y": y})
    with pytest.raises(DataFileError, match=r"label 255 at index 7 is outside 0\.\.9") as err:
        load_fashion_mnist(tmp_path / "fm")
    assert str(paths["train_y"]) in str(err.value)


def test_a_stale_decoded_cache_with_extra_classes_is_not_reused(tmp_path):
    from mixkit.bench.data.base import save_cached, sources_key

    y = (np.arange(40) % 10).astype(np.uint8)
    y[0] = 255
    paths = make_idx_dir(tmp_path / "fm", override={"train_y": y})
    stale = ImageDataset("fashion-mnist", torch.zeros(40, 1, 28, 28, dtype=torch.uint8),
                         torch.from_numpy(y).long(), torch.zeros(20, 1, 28, 28, dtype=torch.uint8),
                         torch.arange(20) % 10, 256)
    save_cached(stale, sources_key(list(paths.values())))
    with pytest.raises(DataFileError, match="label 255"):
        load_fashion_mnist(tmp_path / "fm")


def test_idx_test_label_out_of_range_refused(tmp_path):
    y = (np.arange(20) % 10).astype(np.uint8)
    y[-1] = 10
    paths = make_idx_dir(tmp_path / "fm", override={"test_y": y})
    with pytest.raises(DataFileError, match="label 10") as err:
        load_fashion_mnist(tmp_path / "fm")
    assert str(paths["test_y"]) in str(err.value)


IDX_SET_FAULTS = {
    "labels do not match images": ({"train_y": np.zeros(39, np.uint8)}, "40 images, but"),
    "images 1-D": ({"train_x": np.zeros(40, np.uint8)}, "expected 3"),
    "labels 2-D": ({"test_y": np.zeros((20, 1), np.uint8)}, "expected 1"),
    "test images of another size": ({"test_x": np.zeros((20, 14, 14), np.uint8)}, "training images"),
    "empty training set": ({"train_x": np.zeros((0, 28, 28), np.uint8), "train_y": np.zeros(0, np.uint8)},
                           "holds no data"),
}


@pytest.mark.parametrize("case", list(IDX_SET_FAULTS))
def test_idx_dataset_inconsistencies_name_the_file(tmp_path, case):
    override, match = IDX_SET_FAULTS[case]
    make_idx_dir(tmp_path / "fm", override=override)
    with pytest.raises(DataFileError, match=match) as err:
        load_dataset("fashion-mnist", tmp_path / "fm")
    assert str(tmp_path / "fm") in str(err.value)


def test_truncated_gz_through_load_dataset(tmp_path):
    paths = make_idx_dir(tmp_path / "fm")
    raw = paths["train_x"].read_bytes()
    paths["train_x"].write_bytes(raw[: len(raw) // 2])
    with pytest.raises(DataFileError, match="truncated") as err:
        load_dataset("fashion-mnist", tmp_path / "fm")
    assert str(paths["train_x"]) in str(err.value)


def test_a_good_idx_dataset_still_loads(tmp_path):
    make_idx_dir(tmp_path / "fm")
    ds = load_dataset("fashion-mnist", tmp_path / "fm")
    assert ds.num_classes == 10 and ds.train_x.shape == (40, 1, 28, 28) and int(ds.train_y.max()) == 9


@pytest.mark.parametrize("kind", ["missing", "a file"])
@pytest.mark.parametrize("name", ["fashion-mnist", "mnist", "cifar10", "folder"])
def test_data_dir_that_is_not_a_folder_is_refused(tmp_path, kind, name):
    target = tmp_path / "data"
    if kind == "a file":
        target.write_text("x")
    with pytest.raises(DatasetNotFoundError, match="does not exist|is not a folder") as err:
        load_dataset(name, target)
    assert str(target) in str(err.value)


@pytest.mark.parametrize("name, data_dir", [(3, None), (None, None), ("mnist", 5), ("mnist", b"/tmp")])
def test_load_dataset_argument_types(name, data_dir):
    with pytest.raises(TypeError, match="dataset name|data_dir"):
        load_dataset(name, data_dir)


# ------------------------------------------------------------------------------------------------ CIFAR
class _RunsCode:
    def __init__(self, func, arg):
        self.func, self.arg = func, arg

    def __reduce__(self):
        return (self.func, (self.arg,))


def _cifar_folder(tmp_path: Path, batch1: bytes | None = None, n: int = 4, meta_names: int = 10) -> Path:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for f in [*(f"data_batch_{i}" for i in range(1, 6)), "test_batch"]:
        batch = {b"batch_label": b"x", b"labels": rng.integers(0, 10, n).tolist(),
                 b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
                 b"filenames": [b"f%d.png" % i for i in range(n)]}
        (folder / f).write_bytes(pickle.dumps(batch, protocol=2))
    if batch1 is not None:
        (folder / "data_batch_1").write_bytes(batch1)
    names = [b"c%d" % i for i in range(meta_names)]
    (folder / "batches.meta").write_bytes(pickle.dumps({b"label_names": names}))
    return folder


@pytest.mark.parametrize("func", [os.system, eval, exec, subprocess.call, shutil.rmtree, __import__],
                         ids=lambda f: f.__name__)
def test_cifar_pickle_that_would_run_code_is_refused_without_running(tmp_path, func):
    marker = tmp_path / "ran"
    arg = {os.system: f"touch {marker}", eval: f"open({str(marker)!r}, 'w')",
           exec: f"open({str(marker)!r}, 'w')", subprocess.call: ["touch", str(marker)],
           shutil.rmtree: str(tmp_path / "victim"), __import__: "antigravity"}[func]
    (tmp_path / "victim").mkdir()
    evil = pickle.dumps({b"data": _RunsCode(func, arg), b"labels": [0]})
    folder = _cifar_folder(tmp_path, batch1=evil)
    with pytest.raises(DataFileError, match="refused as a CIFAR batch") as err:
        load_cifar("cifar10", tmp_path)
    assert str(folder / "data_batch_1") in str(err.value)
    assert not marker.exists() and (tmp_path / "victim").is_dir()


def _py2_style_pickle(data: bytes, labels: list[int], rows: int) -> bytes:
    """A protocol-2 pickle as Python 2's cPickle wrote the CIFAR release: GLOBAL opcodes, byte strings."""
    def s(b: bytes) -> bytes:
        return b"U" + bytes([len(b)]) + b

    def i(n: int) -> bytes:
        return b"K" + bytes([n])

    arr = (b"cnumpy.core.multiarray\n_reconstruct\ncnumpy\nndarray\nK\x00\x85" + s(b"b") + b"\x87R"
           + b"(K\x01" + i(rows) + b"M\x00\x0c\x86cnumpy\ndtype\n" + s(b"u1") + b"K\x00K\x01\x87R(K\x03"
           + s(b"|") + b"NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89"
           + b"T" + len(data).to_bytes(4, "little") + data + b"tb")
    lab = b"]q\x01(" + b"".join(i(v) for v in labels) + b"e"
    return b"\x80\x02}q\x00(" + s(b"data") + arr + s(b"labels") + lab + b"u."


@pytest.mark.parametrize("proto", [0, 2, 4, 5, "py2"])
def test_genuine_cifar_batches_still_load(tmp_path, proto):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (3, 3072), dtype=np.uint8)
    y = [4, 0, 9]
    raw = _py2_style_pickle(x.tobytes(), y, 3) if proto == "py2" else \
        pickle.dumps({b"batch_label": b"b1", b"labels": y, b"data": x, b"filenames": [b"a", b"b", b"c"]},
                     protocol=proto)
    _cifar_folder(tmp_path, batch1=raw)
    ds = load_cifar("cifar10", tmp_path)
    assert np.array_equal(ds.train_x[:3].reshape(3, -1).numpy(), x)
    assert ds.train_y[:3].tolist() == y and ds.num_classes == 10 and ds.class_names[2] == "c2"


BAD_CIFAR = {
    "truncated": (lambda good: good[: len(good) // 2], "truncated or corrupt"),
    "not a pickle": (lambda good: b"hello, this is text\n", "not a readable CIFAR pickle"),
    "a list, not a dict": (lambda good: pickle.dumps([1, 2]), "dict with bytes or str keys"),
    "object array": (lambda good: pickle.dumps({b"data": np.array([None] * 4, dtype=object)}),
                     "not a plain number type"),
    "float data": (lambda good: pickle.dumps({b"data": np.zeros((4, 3072), np.float32), b"labels": [0] * 4}),
                   "uint8 array"),
    "wrong row length": (lambda good: pickle.dumps({b"data": np.zeros((4, 100), np.uint8),
                                                    b"labels": [0] * 4}), r"\[N, 3072\]"),
    "labels not ints": (lambda good: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8),
                                                   b"labels": ["a", 1]}), "list of ints"),
    "labels missing": (lambda good: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8)}), "list of ints"),
    "label count": (lambda good: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8), b"labels": [1]}),
                    "2 images but 1 labels"),
    "label out of range": (lambda good: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8),
                                                      b"labels": [1, 10]}), "label 10"),
    "negative label": (lambda good: pickle.dumps({b"data": np.zeros((2, 3072), np.uint8),
                                                  b"labels": [-1, 0]}), "label -1"),
    "empty batch": (lambda good: pickle.dumps({b"data": np.zeros((0, 3072), np.uint8), b"labels": []}),
                    "no images"),
}


@pytest.mark.parametrize("case", list(BAD_CIFAR))
def test_malformed_cifar_batches_are_refused_by_name(tmp_path, case):
    make, match = BAD_CIFAR[case]
    good = pickle.dumps({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 4})
    folder = _cifar_folder(tmp_path, batch1=make(good))
    with pytest.raises(DataFileError, match=match) as err:
        load_cifar("cifar10", tmp_path)
    assert str(folder / "data_batch_1") in str(err.value)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=st.one_of(st.binary(max_size=80), st.binary(max_size=40).map(
    lambda b: pickle.dumps({b"data": b, b"labels": [1]})[:-3] + b)))
def test_read_cifar_pickle_on_arbitrary_bytes_returns_a_dict_or_refuses(tmp_path, raw):
    path = tmp_path / "batch"
    path.write_bytes(raw)
    try:
        out = read_cifar_pickle(path)
    except DataFileError as err:
        assert str(err).startswith(str(path))
    else:
        assert isinstance(out, dict) and all(isinstance(k, str) for k in out)


def test_cifar_persistent_ids_refused(tmp_path):
    buf = io.BytesIO()

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return "x" if isinstance(obj, str) and obj == "secret" else None

    P(buf).dump({"data": "secret"})
    (tmp_path / "b").write_bytes(buf.getvalue())
    with pytest.raises(DataFileError, match="persistent"):
        read_cifar_pickle(tmp_path / "b")


def test_cifar_meta_with_the_wrong_class_count_is_refused(tmp_path):
    folder = _cifar_folder(tmp_path, meta_names=7)
    with pytest.raises(DataFileError, match="must list 10 class names") as err:
        load_cifar("cifar10", tmp_path)
    assert str(folder / "batches.meta") in str(err.value)


# ----------------------------------------------------------------------------------------- image folders
def _png(path: Path, value: int = 0) -> None:
    from PIL import Image

    Image.fromarray(np.full((6, 6, 3), value, np.uint8)).save(path)


@pytest.mark.parametrize("bad", ["garbage", "truncated"])
def test_image_folder_with_an_unreadable_image_names_it(tmp_path, bad):
    pytest.importorskip("PIL")
    for c in ("a", "b"):
        (tmp_path / c).mkdir()
        for i in range(3):
            _png(tmp_path / c / f"{i}.png", 40 * i)
    victim = tmp_path / "b" / "1.png"
    victim.write_bytes(b"not an image" if bad == "garbage" else victim.read_bytes()[:30])
    with pytest.raises(DataFileError, match="not a readable image") as err:
        load_image_folder(tmp_path)
    assert str(victim) in str(err.value)


@pytest.mark.parametrize("size", [0, -4, 2.5, True])
def test_image_folder_size_must_be_a_positive_int(tmp_path, size):
    (tmp_path / "a").mkdir()
    with pytest.raises(ValueError, match="image_size"):
        load_image_folder(tmp_path, image_size=size)


# ------------------------------------------------------------------------------------------ ImageDataset
def _ds(**kw) -> ImageDataset:
    args = dict(name="t", train_x=torch.zeros(6, 1, 4, 4, dtype=torch.uint8), train_y=torch.arange(6) % 3,
                test_x=torch.zeros(3, 1, 4, 4, dtype=torch.uint8), test_y=torch.arange(3), num_classes=3)
    args.update(kw)
    return ImageDataset(**args)


IMAGE_DATASET_FAULTS = {
    "empty training set": (dict(train_x=torch.zeros(0, 1, 4, 4, dtype=torch.uint8),
                                train_y=torch.zeros(0, dtype=torch.long)), "train split holds no images"),
    "empty test set": (dict(test_x=torch.zeros(0, 1, 4, 4, dtype=torch.uint8),
                            test_y=torch.zeros(0, dtype=torch.long)), "test split holds no images"),
    "negative label": (dict(train_y=torch.tensor([0, 1, 2, -1, 0, 1])), "outside 0..2"),
    "label past the class count": (dict(test_y=torch.tensor([0, 1, 3])), "outside 0..2"),
    "zero classes": (dict(num_classes=0), "num_classes"),
    "bool classes": (dict(num_classes=True), "num_classes"),
    "class names count": (dict(class_names=["a", "b"]), "class_names"),
    "float images": (dict(train_x=torch.zeros(6, 1, 4, 4)), "uint8"),
    "zero-width images": (dict(train_x=torch.zeros(6, 1, 4, 0, dtype=torch.uint8),
                               test_x=torch.zeros(3, 1, 4, 0, dtype=torch.uint8)), "empty shape"),
    "numpy labels": (dict(train_y=np.zeros(6, np.int64)), "tensors"),
}


@pytest.mark.parametrize("case", list(IMAGE_DATASET_FAULTS))
def test_image_dataset_refuses_inconsistent_data(case):
    kw, match = IMAGE_DATASET_FAULTS[case]
    with pytest.raises((ValueError, TypeError), match=match):
        _ds(**kw)


@pytest.mark.parametrize("train, test, exc", [(0, None, ValueError), (-3, None, ValueError),
                                              (2.5, None, TypeError), (True, None, TypeError),
                                              ("10", None, TypeError), (None, 0, ValueError)])
def test_subset_sizes_must_be_none_or_positive_ints(train, test, exc):
    name = "train_subset" if train is not None else "test_subset"
    with pytest.raises(exc, match=name):
        _ds().subset(train, test)


def test_subset_larger_than_the_split_keeps_it_whole():
    ds = _ds().subset(100, 1)
    assert ds.train_x.shape[0] == 6 and ds.test_x.shape[0] == 1


# ------------------------------------------------------------------------------------- run_all arguments
@pytest.fixture
def fm(tmp_path) -> Path:
    make_idx_dir(tmp_path / "fm")
    return tmp_path / "fm"


def _cfg(fm: Path, **kw) -> RunConfig:
    base = dict(dataset="fashion-mnist", method="none", epochs=1, batch_size=8, data_dir=str(fm),
                augment=False)
    base.update(kw)
    return RunConfig(**base)


def _never(cfg, progress=None):
    raise AssertionError("nothing may train when an argument is bad")


BAD_CONFIG = {
    "train_subset 0": (dict(train_subset=0), "train_subset"),
    "train_subset negative": (dict(train_subset=-5), "train_subset"),
    "train_subset float": (dict(train_subset=10.0), "train_subset"),
    "test_subset 0": (dict(test_subset=0), "test_subset"),
    "epochs 0": (dict(epochs=0), "epochs"),
    "batch_size 0": (dict(batch_size=0), "batch_size"),
    "seed negative": (dict(seed=-1), "seed"),
    "seed bool": (dict(seed=True), "seed"),
    "lr nan": (dict(lr=math.nan), "lr"),
    "lr inf": (dict(lr=math.inf), "lr"),
    "lr zero": (dict(lr=0.0), "lr"),
    "momentum 1": (dict(momentum=1.0), "momentum"),
    "weight_decay negative": (dict(weight_decay=-1e-4), "weight_decay"),
    "warmup nan": (dict(warmup_epochs=math.nan), "warmup_epochs"),
    "device bogus": (dict(device="bogus"), "device"),
    "method empty": (dict(method=""), "method"),
    "dataset blank": (dict(dataset="  "), "dataset"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIG))
def test_run_all_refuses_bad_configs_before_training(tmp_path, fm, case):
    kw, match = BAD_CONFIG[case]
    with pytest.raises((ValueError, TypeError), match=match):
        runner.run_all([_cfg(fm), _cfg(fm, **kw)], tmp_path / "cache", train_fn=_never)
    assert not list((tmp_path / "cache").glob("*.json"))


@pytest.mark.parametrize("kw, match", [(dict(workers=0), "workers"), (dict(workers=True), "workers"),
                                       (dict(workers=1.5), "workers"), (dict(threads=0), "threads")])
def test_run_all_refuses_bad_pool_settings(tmp_path, fm, kw, match):
    with pytest.raises(ValueError, match=match):
        runner.run_all([_cfg(fm)], tmp_path / "cache", train_fn=_never, **kw)


@pytest.mark.parametrize("configs", ["none", 5, [{"method": "none"}], (None,)], ids=str)
def test_run_all_refuses_configs_that_are_not_run_configs(tmp_path, configs):
    with pytest.raises(TypeError, match="RunConfig"):
        runner.run_all(configs, tmp_path / "cache", train_fn=_never)


def test_cache_root_under_a_regular_file_is_refused_before_training(tmp_path, fm):
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="cache_root .* cannot be created"):
        runner.run_all([_cfg(fm)], tmp_path / "file" / "cache", train_fn=_never)


def test_run_all_with_a_corrupt_dataset_names_the_file(tmp_path, fm):
    (fm / f"{FILES['test_y']}.gz").write_bytes(b"\x1f\x8b garbage")
    with pytest.raises(DataFileError, match=FILES["test_y"]):
        runner.run_all([_cfg(fm)], tmp_path / "cache", train_fn=_never)


# ----------------------------------------------------------------------------------------- result cache
def _corrupt_json(text: str):
    def apply(js: Path, pt: Path) -> None:
        js.write_text(text)
    return apply


def _edit_json(**changes):
    def apply(js: Path, pt: Path) -> None:
        d = json.loads(js.read_text())
        for dotted, v in changes.items():
            node = d
            *path, last = dotted.split("__")
            for p in path:
                node = node[p]
            if v is KeyError:
                node.pop(last)
            else:
                node[last] = v
        js.write_text(json.dumps(d))
    return apply


def _gallery_bytes(raw: bytes):
    def apply(js: Path, pt: Path) -> None:
        pt.write_bytes(raw)
    return apply


def _half_gallery(js: Path, pt: Path) -> None:
    pt.write_bytes(pt.read_bytes()[: pt.stat().st_size // 2])


def _gallery_object(obj):
    def apply(js: Path, pt: Path) -> None:
        torch.save(obj, pt)
    return apply


CACHE_FAULTS = {
    "replaced by {}": _corrupt_json("{}"),
    "truncated json": lambda js, pt: js.write_text(js.read_text()[:40]),
    "empty file": _corrupt_json(""),
    "null": _corrupt_json("null"),
    "a list": _corrupt_json("[1, 2]"),
    "not UTF-8": lambda js, pt: js.write_bytes(b"\xff\xfe{\x00"),
    "top1 NaN": _edit_json(metrics__top1=math.nan),
    "top1 Infinity": _edit_json(metrics__top1=math.inf),
    "top1 above 1": _edit_json(metrics__top1=2.0),
    "top1 a string": _edit_json(metrics__top1="0.9"),
    "metrics missing": _edit_json(metrics=KeyError),
    "a corruption missing": _edit_json(metrics__corruption={"noise": 0.1}),
    "curves ragged": _edit_json(curves__train_loss=[0.1, 0.2]),
    "curve with null": _edit_json(curves__test_top1=[None]),
    "status failed": _edit_json(status="failed"),
    "seed a string": _edit_json(seed="0"),
    "train_size 0": _edit_json(train_size=0),
    "reliability counts negative": _edit_json(reliability__counts=[-1, 0]),
    "another run's key": _edit_json(key="0" * 20),
    "gallery truncated": _half_gallery,
    "gallery garbage": _gallery_bytes(b"PK\x03\x04 nonsense"),
    "gallery wrong dtype": _gallery_object({"original": torch.zeros(2, 1, 4, 4),
                                            "labels": torch.tensor([0, 1])}),
    "gallery lam NaN": _gallery_object({"original": torch.zeros(2, 1, 4, 4, dtype=torch.uint8), "mixed": None,
                                        "lam": torch.tensor([math.nan, 0.5]), "index": None,
                                        "labels": torch.tensor([0, 1]), "note": ""}),
}


@pytest.mark.parametrize("case", list(CACHE_FAULTS))
def test_corrupt_cache_entries_are_rerun_with_a_warning(tmp_path, fm, case, caplog):
    cfgs = [_cfg(fm)]
    calls = []

    def train(cfg, progress=None):
        calls.append(cfg)
        return fake_result(cfg, top1=0.25 + 0.25 * len(calls))

    first = runner.run_all(cfgs, tmp_path / "cache", train_fn=train)
    js, pt = runner.cache_files(tmp_path / "cache", first[0]["key"])
    CACHE_FAULTS[case](js, pt)
    with caplog.at_level(logging.WARNING, logger="mixkit.bench"):
        again = runner.run_all(cfgs, tmp_path / "cache", train_fn=train)
    assert len(calls) == 2 and not again[0]["cached"] and again[0]["metrics"]["top1"] == 0.75
    warnings = [r.getMessage() for r in caplog.records if r.name == "mixkit.bench"]
    assert len(warnings) == 1 and "\n" not in warnings[0] and str(js) in warnings[0], warnings
    # the rerun rewrote a valid entry: the third call reuses it
    third = runner.run_all(cfgs, tmp_path / "cache", train_fn=_never)
    assert third[0]["cached"] and third[0]["metrics"]["top1"] == 0.75
    assert runner.load_gallery(tmp_path / "cache", third[0]["key"])["mixed"].dtype == torch.uint8


_json = st.recursive(st.none() | st.booleans() | st.integers(-3, 3) | st.floats() | st.text(max_size=3),
                     lambda kids: st.lists(kids, max_size=3)
                     | st.dictionaries(st.text(max_size=3), kids, max_size=3),
                     max_leaves=6)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.lists(st.sampled_from(["metrics", "curves", "reliability", "top1", "corruption", "counts",
                                      "train_loss", "seed", "status", "config", "noise", "0"]), min_size=1,
                     max_size=3),
       value=_json)
def test_any_mutation_of_a_cached_entry_is_reused_only_if_valid(tmp_path, fm, path, value):
    cache = tmp_path / "mutations"
    shutil.rmtree(cache, ignore_errors=True)
    cfgs = [_cfg(fm)]
    first = runner.run_all(cfgs, cache, train_fn=lambda c, progress=None: fake_result(c, gallery=False))
    js, _ = runner.cache_files(cache, first[0]["key"])
    d = json.loads(js.read_text())
    node = d
    for p in path[:-1]:
        node = node.get(p) if isinstance(node, dict) else None
    if isinstance(node, dict):
        node[path[-1]] = value
    js.write_text(json.dumps(d))
    again = runner.run_all(cfgs, cache,
                           train_fn=lambda c, progress=None: fake_result(c, top1=0.9, gallery=False))
    fresh = {k: v for k, v in again[0].items() if k != "cached"}
    assert runner.validate_result(fresh, first[0]["key"]) is None
    assert again[0]["cached"] == (runner.validate_result(d, first[0]["key"]) is None)


def test_gallery_pickle_that_would_run_code_is_not_loaded(tmp_path, fm):
    first = runner.run_all([_cfg(fm)], tmp_path / "cache", train_fn=quick_train)
    _, pt = runner.cache_files(tmp_path / "cache", first[0]["key"])
    marker = tmp_path / "ran"
    torch.save({"original": _RunsCode(os.system, f"touch {marker}")}, pt, _use_new_zipfile_serialization=True)
    assert runner.load_gallery(tmp_path / "cache", first[0]["key"]) is None
    assert not marker.exists()


def test_temp_files_in_the_cache_are_never_read(tmp_path, fm):
    first = runner.run_all([_cfg(fm)], tmp_path / "cache", train_fn=quick_train)
    js, _ = runner.cache_files(tmp_path / "cache", first[0]["key"])
    tmp = js.parent / f".{js.name}.4242.abcd.tmp"
    js.rename(tmp)
    calls = []
    runner.run_all([_cfg(fm)], tmp_path / "cache",
                   train_fn=lambda cfg, progress=None: calls.append(1) or fake_result(cfg))
    assert calls == [1]


def test_a_write_that_fails_midway_leaves_nothing_under_a_cached_name(tmp_path, fm, monkeypatch):
    cfg = _cfg(fm)

    def explode(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner.json, "dumps", explode)
    with pytest.raises(KeyboardInterrupt):
        runner.run_all([cfg], tmp_path / "cache", train_fn=lambda c, progress=None: fake_result(c))
    monkeypatch.undo()
    left = sorted(p.name for p in (tmp_path / "cache").iterdir())
    assert not [n for n in left if n.endswith((".json", ".tmp"))], left
    calls = []
    runner.run_all([cfg], tmp_path / "cache",
                   train_fn=lambda c, progress=None: calls.append(1) or fake_result(c))
    assert calls == [1]


def test_ctrl_c_in_a_sequential_run_keeps_the_finished_runs(tmp_path, fm):
    def train(cfg, progress=None):
        if cfg.seed == 1:
            raise KeyboardInterrupt
        return fake_result(cfg)

    cfgs = [_cfg(fm, seed=s) for s in range(3)]
    with pytest.raises(KeyboardInterrupt):
        runner.run_all(cfgs, tmp_path / "cache", train_fn=train)
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1 and not list((tmp_path / "cache").glob(".*"))
    again = runner.run_all(cfgs, tmp_path / "cache", train_fn=quick_train)
    assert [r["cached"] for r in again] == [True, False, False]


def test_invalid_fresh_results_are_returned_but_not_cached(tmp_path, fm, caplog):
    with caplog.at_level(logging.WARNING, logger="mixkit.bench"):
        res = runner.run_all([_cfg(fm)], tmp_path / "cache",
                             train_fn=lambda c, progress=None: fake_result(c, top1=math.nan))
    assert math.isnan(res[0]["metrics"]["top1"]) and "not caching" in caplog.text
    assert not list((tmp_path / "cache").glob("*.json"))


def test_an_unwritable_cache_costs_a_warning_not_the_result(tmp_path, fm, monkeypatch, caplog):
    def full(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(runner, "_atomic_write", full)
    with caplog.at_level(logging.WARNING, logger="mixkit.bench"):
        res = runner.run_all([_cfg(fm)], tmp_path / "cache", train_fn=lambda c, progress=None: fake_result(c))
    assert res[0]["status"] == "ok" and "could not cache" in caplog.text


# ------------------------------------------------------------------------------------------- cache key
def test_package_hash_covers_every_module(tmp_path):
    pkg = tmp_path / "mixkit"
    shutil.copytree(Path(runner.__file__).resolve().parents[1], pkg,
                    ignore=shutil.ignore_patterns("__pycache__"))
    before = runner.package_source_hash(str(pkg))
    assert before == runner.package_source_hash(str(pkg))
    target = pkg / "sample" / "functional" / "boxes.py"  # CutMix's boxes: not in the mixer's own module
    target.write_text(target.read_text() + "\n# edited\n")
    runner.package_source_hash.cache_clear()
    edited = runner.package_source_hash(str(pkg))
    assert edited != before
    (pkg / "domain" / "extra_module.py").write_text("X = 1\n")
    runner.package_source_hash.cache_clear()
    assert runner.package_source_hash(str(pkg)) not in (before, edited)
    # caches: pyc files do not count
    (pkg / "__pycache__").mkdir(exist_ok=True)
    (pkg / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"\x00")
    runner.package_source_hash.cache_clear()
    assert runner.package_source_hash(str(pkg)) == runner.package_source_hash(str(pkg))


def test_run_key_changes_with_the_package_source(monkeypatch):
    cfg = RunConfig(dataset="d", method="cutmix")
    key = runner.run_key(cfg, "fp")
    monkeypatch.setattr(runner, "package_source_hash", lambda root=None: "something-else")
    assert runner.run_key(cfg, "fp") != key
    assert runner.run_key(cfg, "fp") != runner.run_key(replace(cfg, seed=1), "fp")


def test_run_key_default_hashes_the_installed_package():
    runner.package_source_hash.cache_clear()
    assert runner.package_source_hash() == runner.package_source_hash(str(Path(runner.__file__).parents[1]))


# ------------------------------------------------------------------------------------ workers and Ctrl-C
def _script(tmp_path: Path, fm: Path, n_seeds: int, train: str, workers: int = 2) -> Path:
    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        from pathlib import Path
        sys.path[:0] = [{str(SRC)!r}, {str(HERE)!r}]
        import bench_fault_fakes as fakes
        from mixkit.bench import runner
        from mixkit.bench.train import RunConfig
        if __name__ == "__main__":
            cfgs = [RunConfig(dataset="fashion-mnist", method="none", seed=s, epochs=1, batch_size=8,
                              data_dir={str(fm)!r}, augment=False) for s in range({n_seeds})]
            try:
                res = runner.run_all(cfgs, Path({str(tmp_path / 'cache')!r}), workers={workers}, threads=1,
                                     train_fn=fakes.{train})
            except KeyboardInterrupt:
                print("interrupted", flush=True)
                sys.exit(130)
            print("statuses", [r["status"] for r in res], flush=True)
            print("reasons", [r.get("reason") for r in res], flush=True)
    """))
    return script


def _env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "marks").mkdir(exist_ok=True)
    return {**os.environ, "FAULT_MARKS": str(tmp_path / "marks"), "MIXKIT_CACHE": str(tmp_path / "decoded"),
            "PYTHONPATH": os.pathsep.join([str(SRC), str(HERE)])}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purpose
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "sigterm"])
def test_ctrl_c_stops_a_worker_pool_within_seconds_and_keeps_finished_runs(tmp_path, fm, how):
    script = _script(tmp_path, fm, n_seeds=5, train="slow_train")
    proc = subprocess.Popen([sys.executable, str(script)], env=_env(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline:  # seed 0 cached, and both workers busy on slow seeds
            done = list((tmp_path / "cache").glob("*.json"))
            started = list((tmp_path / "marks").glob("started-*"))
            if done and len(started) >= 1 or proc.poll() is not None:
                break
            time.sleep(0.2)
        assert proc.poll() is None, proc.communicate()
        assert done and started, "the pool never got going"
        time.sleep(0.5)
        t0 = time.monotonic()
        if how == "ctrl-c":
            os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C: the parent and its workers
        else:
            os.kill(proc.pid, signal.SIGTERM)  # kill / a scheduler's limit: the parent only
        out, err = proc.communicate(timeout=20)
        elapsed = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 130 and "interrupted" in out, (out, err)
    assert elapsed < 8, f"took {elapsed:.1f} s to stop"
    worker_pids = [int(p.name.split("-")[2]) for p in (tmp_path / "marks").glob("started-*")]
    time.sleep(0.5)
    assert not [p for p in worker_pids if _alive(p)], "workers outlived the interrupt"
    cache = tmp_path / "cache"
    entries = sorted(cache.glob("*.json"))
    assert len(entries) == 1 and not list(cache.glob(".*.tmp")), sorted(p.name for p in cache.iterdir())
    stored = json.loads(entries[0].read_text())
    assert stored["seed"] == 0 and runner.validate_result(stored, entries[0].stem) is None
    # rerun (sequentially, with a fast train function): seed 0 comes from the cache, the rest train
    cfgs = [_cfg(fm, seed=s) for s in range(5)]
    again = runner.run_all(cfgs, cache, train_fn=quick_train)
    assert [r["cached"] for r in again] == [True, False, False, False, False]
    assert all(r["status"] == "ok" for r in again) and len(list(cache.glob("*.json"))) == 5


@pytest.mark.slow
def test_a_worker_that_dies_gives_a_failed_result_not_a_crash(tmp_path, fm):
    script = _script(tmp_path, fm, n_seeds=6, train="dying_train")
    done = subprocess.run([sys.executable, str(script)], env=_env(tmp_path), capture_output=True, text=True,
                          timeout=400)
    assert done.returncode == 0, done.stderr
    assert "statuses ['ok', 'failed', 'ok', 'ok', 'failed', 'ok']" in done.stdout, done.stdout
    assert "worker process died" in done.stdout
    assert len(list((tmp_path / "cache").glob("*.json"))) == 4


# ------------------------------------------------------------------------------------------ text sources
def _docs(folder: Path, texts: dict[str, bytes]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in texts.items():
        (folder / name).write_bytes(raw)
    return folder


def _folder(files: dict[str, bytes]):
    return lambda t: f"folder:{_docs(t / 'f', files)}"


def _jsonl(raw: bytes):
    return lambda t: f"jsonl:{_docs(t, {'e.jsonl': raw}) / 'e.jsonl'}"


TEXT_FAULTS = {
    "folder missing": (lambda t: f"folder:{t / 'nope'}", DataMissingError, "does not exist"),
    "folder without text files": (_folder({"a.bin": b"x"}), DataMissingError, "no files matching"),
    "folder of empty files": (_folder({"a.txt": b"", "b.txt": b" "}), DataMissingError,
                              "0 non-empty documents"),
    "folder with one document": (_folder({"a.txt": b"hello"}), DataMissingError, "1 non-empty documents"),
    "folder with a latin-1 file": (_folder({"a.txt": b"ok text", "b.txt": b"caf\xe9"}), DataFileError,
                                   r"b\.txt: not UTF-8"),
    "jsonl missing": (lambda t: f"jsonl:{t / 'no.jsonl'}", DataMissingError, "does not exist"),
    "jsonl empty": (_jsonl(b""), DataMissingError, "0 non-empty documents"),
    "jsonl not UTF-8": (_jsonl(b'{"text": "\xff"}\n'), DataFileError, r"e\.jsonl:1: not UTF-8"),
    "jsonl bad JSON": (_jsonl(b'{"text": "a"}\n{oops\n'), DataFileError, r"e\.jsonl:2: not a JSON record"),
    "jsonl record a list": (_jsonl(b"[1, 2]\n"), DataFileError, "must be a JSON object"),
    "jsonl text a number": (_jsonl(b'{"text": 5}\n'), DataFileError, "must be a string"),
    "jsonl without text": (_jsonl(b'{"body": "x"}\n'), DataFileError, "got nothing"),
    "unknown kind": (lambda t: "bogus:x", ValueError, "unknown domain source"),
    "folder without a path": (lambda t: "folder:", ValueError, "unknown domain source"),
    "stdlib with an argument": (lambda t: "stdlib:x", ValueError, "unknown domain source"),
    "empty name": (lambda t: f"=folder:{t}", ValueError, "name before '=' is empty"),
    "empty spec": (lambda t: "", ValueError, "non-empty string"),
    "blank spec": (lambda t: "   ", ValueError, "non-empty string"),
    "not a string": (lambda t: 5, ValueError, "non-empty string"),
}


@pytest.mark.parametrize("case", list(TEXT_FAULTS))
def test_text_sources_refuse_empty_or_undecodable_input(tmp_path, case):
    make, exc, match = TEXT_FAULTS[case]
    with pytest.raises(exc, match=match):
        load_source(make(tmp_path))


def test_good_text_sources_still_load(tmp_path):
    f = _docs(tmp_path / "f", {"a.txt": "première ligne\n".encode() * 20, "b.md": b"# two\n" * 20})
    d = load_source(f"legal=folder:{f}")
    assert d.name == "legal" and d.train.numel() > 0 and d.val.numel() > 0
    j = _docs(tmp_path, {"d.jsonl": b"\n".join(json.dumps({"text": f"doc {i}"}).encode() for i in range(5))})
    assert load_source(f"jsonl:{j / 'd.jsonl'}").n_documents == 5


@pytest.mark.parametrize("max_bytes, seed, match", [(0, 0, "max_bytes"), (-1, 0, "max_bytes"),
                                                     (True, 0, "max_bytes"), (1.5, 0, "max_bytes"),
                                                     (None, "0", "seed")])
def test_load_source_numeric_arguments(tmp_path, max_bytes, seed, match):
    with pytest.raises((ValueError, TypeError), match=match):
        load_source("stdlib", max_bytes=max_bytes, seed=seed)


@pytest.mark.parametrize("text, exc", [(5, TypeError), ([1, "stdlib"], TypeError), (" , ", ValueError),
                                       (b"stdlib", TypeError)])
def test_parse_sources_refuses_non_strings(text, exc):
    with pytest.raises(exc):
        parse_sources(text)
