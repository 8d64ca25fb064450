import numpy as np
import pytest
import torch
from bench_fakes import make_cifar_dir, make_fashion_dir, write_idx

from mixkit.bench.data import (
    DatasetNotFoundError,
    ImageDataset,
    canonical_name,
    load_cifar,
    load_digits,
    load_fashion_mnist,
    load_image_folder,
    read_idx,
)


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("MIXKIT_CACHE", str(tmp_path / "cache"))
    monkeypatch.delenv("MIXKIT_DATA", raising=False)


def test_read_idx_gz_and_raw_roundtrip(tmp_path):
    a = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", a)
    write_idx(tmp_path / "a", a, gz=False)
    for p in ("a.gz", "a"):
        t = read_idx(tmp_path / p)
        assert t.dtype == torch.uint8 and t.shape == (2, 3, 4)
        assert np.array_equal(t.numpy(), a)


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x01\x02\x08\x01\x00\x00\x00\x01\x00")
    with pytest.raises(ValueError, match="magic"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(bytes([0, 0, 8, 1]) + (5).to_bytes(4, "big") + b"\x00\x00")
    with pytest.raises(ValueError, match="promises 5 bytes"):
        read_idx(tmp_path / "short")


def test_fashion_mnist_loads_from_data_dir_and_caches_tensors(tmp_path):
    arrays = make_fashion_dir(tmp_path / "data" / "fashion-mnist", n_train=40, n_test=20)
    ds = load_fashion_mnist(tmp_path / "data")  # the fashion-mnist subfolder is searched too
    assert ds.train_x.shape == (40, 1, 28, 28) and ds.test_x.shape == (20, 1, 28, 28)
    assert ds.train_x.dtype == torch.uint8 and ds.train_y.dtype == torch.int64
    assert np.array_equal(ds.train_x[:, 0].numpy(), arrays["train_x"])
    assert np.array_equal(ds.test_y.numpy(), arrays["t10k_y"])
    assert ds.num_classes == 10 and ds.class_names[9] == "Ankle boot"
    cached = list((tmp_path / "cache").glob("fashion-mnist-*.pt"))
    assert len(cached) == 1
    # second load comes from the tensor cache: identical content even with the IDX files' bytes gone stale
    again = load_fashion_mnist(tmp_path / "data")
    assert torch.equal(again.train_x, ds.train_x) and torch.equal(again.test_y, ds.test_y)
    torch.testing.assert_close(ds.mean, torch.tensor([arrays["train_x"].mean() / 255], dtype=torch.float32))


def test_missing_fashion_mnist_says_where_it_looked_and_how_to_get_it(tmp_path, monkeypatch):
    import mixkit.bench.data.idx as idx

    monkeypatch.setattr(idx, "DEFAULT_FASHION_DIR", tmp_path / "nowhere")
    with pytest.raises(DatasetNotFoundError) as err:
        load_fashion_mnist(tmp_path / "empty")
    msg = str(err.value)
    assert str(tmp_path / "empty") in msg and str(tmp_path / "nowhere") in msg
    assert "apt-get install dataset-fashion-mnist" in msg and "--data-dir" in msg


@pytest.mark.parametrize("hundred", [False, True])
def test_cifar_pickles(tmp_path, hundred):
    arrays = make_cifar_dir(tmp_path, hundred=hundred)
    ds = load_cifar("cifar100" if hundred else "cifar10", tmp_path)
    n_train = 6 if hundred else 30
    assert ds.train_x.shape == (n_train, 3, 32, 32) and ds.test_x.shape == (6, 3, 32, 32)
    assert ds.num_classes == (100 if hundred else 10) and ds.class_names[3] == "class3"
    assert np.array_equal(ds.train_x.reshape(n_train, -1).numpy(), arrays["train_x"])
    assert np.array_equal(ds.test_y.numpy(), arrays["test_y"])


def test_missing_cifar_error(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="cifar-10-python.tar.gz"):
        load_cifar("cifar10", tmp_path)


def _png(path, color, size=(5, 7)):
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


def test_image_folder_single_tree_split_and_resize(tmp_path):
    for k, color in enumerate([(255, 0, 0), (0, 255, 0), (0, 0, 255)]):
        for i in range(5):
            _png(tmp_path / "tree" / f"c{k}" / f"{i}.png", color)
    ds = load_image_folder(tmp_path / "tree", image_size=8, test_fraction=0.2)
    assert ds.class_names == ["c0", "c1", "c2"]
    assert ds.train_x.shape == (12, 3, 8, 8) and ds.test_x.shape == (3, 3, 8, 8)
    assert sorted(ds.test_y.tolist()) == [0, 1, 2]
    # each class's colour survives decoding: class k is pure channel k
    for x, y in ((ds.train_x, ds.train_y), (ds.test_x, ds.test_y)):
        assert bool((x[torch.arange(len(y)), y] == 255).all())
        assert int(x.sum()) == 255 * len(y) * 64


def test_image_folder_train_test_layout_grayscale(tmp_path):
    for split, n in (("train", 3), ("val", 2)):
        for k, v in enumerate([(40, 40, 40), (200, 200, 200)]):
            for i in range(n):
                _png(tmp_path / split / f"k{k}" / f"{i}.jpg", v, size=(16, 16))
    ds = load_image_folder(tmp_path, image_size=16, grayscale=True)
    assert ds.train_x.shape == (6, 1, 16, 16) and ds.test_x.shape == (4, 1, 16, 16)
    assert ds.test_y.tolist() == [0, 0, 1, 1]
    assert abs(int(ds.test_x[-1].float().mean()) - 200) <= 2


def test_image_folder_errors(tmp_path):
    with pytest.raises(DatasetNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "missing")
    _png(tmp_path / "one" / "only" / "a.png", (0, 0, 0))
    with pytest.raises(DatasetNotFoundError, match="at least 2 class folders"):
        load_image_folder(tmp_path / "one")


def test_digits_and_names():
    ds = load_digits()
    assert ds.train_x.shape[1:] == (1, 8, 8) and ds.train_x.shape[0] + ds.test_x.shape[0] == 1797
    assert int(ds.train_x.max()) == 255 and ds.num_classes == 10
    assert canonical_name("FMNIST") == "fashion-mnist" and canonical_name("folder:/x") == "folder:/x"
    with pytest.raises(ValueError, match="dataset must be one of"):
        canonical_name("imagenet")


def test_image_dataset_validation_subset_and_normalize():
    x = torch.randint(0, 256, (10, 1, 4, 4), dtype=torch.uint8)
    y = torch.arange(10) % 2
    with pytest.raises(ValueError, match="train_x must be uint8"):
        ImageDataset("t", x.float(), y, x, y, 2)
    ds = ImageDataset("t", x, y, x[:4], y[:4], 2)
    sub = ds.subset(train=3, test=None, seed=1)
    assert sub.train_x.shape[0] == 3 and sub.test_x.shape[0] == 4
    assert torch.equal(sub.train_x, ds.subset(3, None, seed=1).train_x)  # seeded
    z = ds.normalize(ds.train_x)
    torch.testing.assert_close(z.mean(), torch.tensor(0.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(ds.denormalize(z), x.float() / 255)
