"""load_dataset's names, info and search order; digits; the real Fashion-MNIST files."""
import gzip
import os
import tracemalloc

import numpy as np
import pytest

from glassnet.datasets import (DatasetNotFoundError, dataset_info, find_dataset, list_datasets,
                               load_dataset, where)

FASHION_SYSTEM_DIR = "/usr/share/datasets/fashion-mnist"  # where Debian's package puts it


def test_names_and_info():
    assert list_datasets() == ["cifar10", "digits", "fashion-mnist", "mnist"]
    expected = {"cifar10": ((3, 32, 32), "airplane"), "mnist": ((1, 28, 28), "0"),
                "fashion-mnist": ((1, 28, 28), "T-shirt/top"), "digits": ((1, 8, 8), "0")}
    for name, (shape, first_class) in expected.items():
        info = dataset_info(name)
        assert info["input_shape"] == shape and info["num_classes"] == 10
        assert info["class_names"][0] == first_class and len(info["class_names"]) == 10
        assert info["source"] and info["name"] == name
    assert dataset_info("CIFAR-10")["name"] == "cifar10"
    assert dataset_info("fashion_mnist")["name"] == "fashion-mnist"
    with pytest.raises(ValueError, match="name must be one of .*'cifar10'.*got 'imagenet'"):
        load_dataset("imagenet")
    with pytest.raises(TypeError, match="name must be a string"):
        load_dataset(10)
    with pytest.raises(TypeError, match="dtype must be a floating dtype"):
        load_dataset("digits", dtype=np.int32)


def test_search_order(isolated, monkeypatch):
    sysdirs = [str(isolated / "a"), str(isolated / "b")]
    monkeypatch.setenv("XDG_DATA_DIRS", os.pathsep.join(sysdirs))
    monkeypatch.setenv("GLASSNET_DATA", str(isolated / "env"))
    assert where("mnist") == [
        str(isolated / "env" / "mnist"), str(isolated / "cache" / "glassnet" / "mnist"),
        str(isolated / "a" / "datasets" / "mnist"), str(isolated / "a" / "dataset-mnist"),
        str(isolated / "b" / "datasets" / "mnist"), str(isolated / "b" / "dataset-mnist")]
    assert where("mnist", path="/x") == ["/x", os.path.join("/x", "mnist")]
    monkeypatch.delenv("GLASSNET_DATA")
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.delenv("XDG_DATA_DIRS")
    home_cache = os.path.join(os.path.expanduser("~"), ".cache", "glassnet", "cifar10")
    assert where("cifar10") == [home_cache, "/usr/local/share/datasets/cifar10",
                                "/usr/local/share/dataset-cifar10",
                                "/usr/share/datasets/cifar10", "/usr/share/dataset-cifar10"]


def test_cache_folder_is_the_platforms(isolated, monkeypatch):
    import platformdirs

    from glassnet.datasets import cache_dir, locate
    # Linux: platformdirs honours XDG_CACHE_HOME, as the isolated fixture sets it
    assert cache_dir() == str(isolated / "cache" / "glassnet")
    assert cache_dir() == platformdirs.user_cache_dir("glassnet", appauthor=False)
    # another platform's folder (macOS, Windows) comes from platformdirs, after the
    # environment folder and before the system folders
    from platformdirs.macos import MacOS
    monkeypatch.delenv("XDG_CACHE_HOME")  # recent platformdirs honour it on macOS too
    mac = MacOS("glassnet", appauthor=False).user_cache_dir
    monkeypatch.setattr(locate.platformdirs, "user_cache_dir",
                        lambda appname, appauthor=None: mac)
    monkeypatch.setenv("GLASSNET_DATA", str(isolated / "env"))
    searched = where("mnist")
    assert searched[:2] == [str(isolated / "env" / "mnist"), os.path.join(mac, "mnist")]
    assert searched[2:] == [str(isolated / "system" / "datasets" / "mnist"),
                            str(isolated / "system" / "dataset-mnist")]
    assert mac.endswith(os.path.join("Library", "Caches", "glassnet"))
    assert where("mnist", path="/x") == ["/x", os.path.join("/x", "mnist")]


def test_digits(isolated):
    from glassnet.datasets.digits import load_digits_arrays
    data = load_dataset("digits")
    assert data["X_train"].shape == (1193, 1, 8, 8) and data["X_val"].shape == (300, 1, 8, 8)
    assert data["X_test"].shape == (304, 1, 8, 8) and data["X_train"].dtype == np.float32
    images, labels = load_digits_arrays()
    test = np.zeros(len(labels), dtype=bool)
    for c in range(10):   # every 6th image of each class, counted from its first
        test[np.flatnonzero(labels == c)[::6]] = True
    np.testing.assert_allclose(data["X_train"][:, 0], images[~test][:1193, 0] / 16, rtol=1e-6)
    np.testing.assert_array_equal(data["y_test"], labels[test])
    np.testing.assert_array_equal(np.bincount(data["y_test"]), np.bincount(labels[test]))
    assert 29 <= np.bincount(data["y_test"]).min() and np.bincount(data["y_test"]).max() <= 31
    assert data["X_train"].min() == 0 and data["X_train"].max() == 1
    assert set(np.unique(data["y_train"])) == set(range(10))
    flat = load_dataset("digits", num_validation=100, flatten=True, seed=0)
    assert flat["X_train"].shape == (1393, 64) and flat["X_val"].shape == (100, 64)
    with pytest.raises(ValueError, match="path must be None for 'digits'"):
        load_dataset("digits", path="/tmp")


def _raw_idx_uint8(path):
    """An independent parse: 16-byte image header / 8-byte label header, then bytes."""
    raw = gzip.open(path).read()
    offset = 16 if "images" in path else 8
    return np.frombuffer(raw, dtype=np.uint8, offset=offset)


@pytest.mark.requires("fashion-mnist")
@pytest.mark.skipif(not os.path.isdir(FASHION_SYSTEM_DIR),
                    reason="Debian package dataset-fashion-mnist is not installed "
                           "(apt-get install dataset-fashion-mnist)")
@pytest.mark.slow
def test_real_fashion_mnist(tmp_path, monkeypatch):
    monkeypatch.delenv("GLASSNET_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("XDG_DATA_DIRS", raising=False)
    tracemalloc.start()
    try:
        data = load_dataset("fashion-mnist", num_validation=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert data["X_train"].shape == (60000, 1, 28, 28) and data["X_val"].shape == (0, 1, 28, 28)
    assert data["X_test"].shape == (10000, 1, 28, 28) and data["X_train"].dtype == np.float32
    np.testing.assert_array_equal(np.bincount(data["y_train"]), [6000] * 10)
    np.testing.assert_array_equal(np.bincount(data["y_test"]), [1000] * 10)
    assert data["X_train"].min() == 0 and data["X_train"].max() == 1
    folder = FASHION_SYSTEM_DIR
    first = _raw_idx_uint8(os.path.join(folder, "train-images-idx3-ubyte.gz"))[:784]
    np.testing.assert_allclose(data["X_train"][0, 0].ravel(), first / 255, rtol=1e-6)
    last_labels = _raw_idx_uint8(os.path.join(folder, "t10k-labels-idx1-ubyte.gz"))[-5:]
    np.testing.assert_array_equal(data["y_test"][-5:], last_labels)
    # Memory: the float32 result plus at most the one uint8 buffer being converted.
    result_bytes = sum(a.nbytes for a in data.values())
    assert peak < result_bytes + 60000 * 784 + 8 * 2**20, (peak, result_bytes)
    split = load_dataset("fashion-mnist", seed=0)
    assert split["X_train"].shape == (50000, 1, 28, 28) and split["X_val"].shape[0] == 10000


@pytest.mark.parametrize("name", ["cifar10", "mnist", "fashion-mnist"])
def test_a_missing_data_set_names_the_command_that_gets_it(isolated, name):
    with pytest.raises(DatasetNotFoundError) as info:
        find_dataset(name)
    error = info.value
    assert isinstance(error, FileNotFoundError)
    assert error.name == name and error.searched == where(name)
    assert error.command == f"glassnet data download {name}"
    assert error.one_line() == (f"data set {name!r} not found; get it with: glassnet data "
                                f"download {name} (glassnet data where {name} lists the "
                                f"{len(where(name))} folders searched)")
    # the full message, for Python users: every folder, the command and the Python call
    for folder in where(name):
        assert folder in str(error)
    assert f"`glassnet data download {name}`" in str(error)
    assert f"glassnet.datasets.download('{name}')" in str(error)
    with pytest.raises(DatasetNotFoundError):
        load_dataset(name)


def test_find_dataset_names_the_folder_load_dataset_reads(isolated):
    from glassnet.datasets.idx import SPLIT_FILES
    folder = isolated / "cache" / "glassnet" / "mnist"
    folder.mkdir(parents=True)
    for stems in SPLIT_FILES.values():
        for stem in stems:
            (folder / stem).write_bytes(b"")
    assert find_dataset("mnist") == str(folder)
    assert find_dataset("digits").endswith("digits.csv.gz")
    assert os.path.isfile(find_dataset("digits"))
    with pytest.raises(FileNotFoundError, match="no MATLAB file"):
        find_dataset(f"mat:{isolated / 'none.mat'}")
    with pytest.raises(ValueError, match="name must be one of .*; got 'nope'"):
        find_dataset("nope")
