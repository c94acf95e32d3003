"""IDX reading (MNIST / Fashion-MNIST format) on synthesized files, gzipped and raw."""
import gzip
import os
import struct

import numpy as np
import pytest

from glassnet.datasets import load_dataset, read_idx, where

TYPE_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
              np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(array):
    """The IDX encoding of ``array``: magic, big-endian dims, big-endian values."""
    header = bytes([0, 0, TYPE_CODES[array.dtype], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_idx(path, array, gz):
    data = idx_bytes(np.asarray(array))
    if gz:
        data = gzip.compress(data)
        path = str(path) + ".gz"
    with open(path, "wb") as f:
        f.write(data)
    return path


def write_mnist_folder(folder, n_train=30, n_test=8, gz=True, seed=0):
    """A folder with the four MNIST files holding known random images and labels."""
    rng = np.random.RandomState(seed)
    os.makedirs(folder, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.randint(0, 256, size=(n_train, 28, 28)).astype(np.uint8),
        "train-labels-idx1-ubyte": rng.randint(0, 10, size=n_train).astype(np.uint8),
        "t10k-images-idx3-ubyte": rng.randint(0, 256, size=(n_test, 28, 28)).astype(np.uint8),
        "t10k-labels-idx1-ubyte": rng.randint(0, 10, size=n_test).astype(np.uint8),
    }
    for stem, array in arrays.items():
        write_idx(os.path.join(folder, stem), array, gz)
    return arrays


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype,shape", [(np.uint8, (5, 4, 3)), (np.int8, (7,)),
                                         (np.int16, (3, 2)), (np.int32, (4,)),
                                         (np.float32, (2, 3)), (np.float64, (2, 2, 2))])
def test_round_trip_every_type(tmp_path, gz, dtype, shape):
    rng = np.random.RandomState(1)
    array = (rng.randn(*shape) * 100).astype(dtype)
    path = write_idx(tmp_path / "a-idx", array, gz)
    back = read_idx(path)
    assert back.dtype == np.dtype(dtype) and back.dtype.isnative
    np.testing.assert_array_equal(back, array)


def test_bad_magic_is_refused(tmp_path):
    path = tmp_path / "x"
    path.write_bytes(b"\x00\x01\x08\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(path)
    path.write_bytes(b"\x00\x00\x42\x01" + struct.pack(">I", 1) + b"\x00")
    with pytest.raises(ValueError, match="not an IDX file"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("keep", [3, 10, 16 + 27])  # inside magic, inside dims, in payload
def test_truncated_files_are_refused(tmp_path, gz, keep):
    full = idx_bytes(np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    data = full[:keep]
    path = tmp_path / "cut"
    path.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)


def test_cut_gzip_stream_and_trailing_bytes_are_refused(tmp_path):
    full = idx_bytes(np.arange(600, dtype=np.int16))
    compressed = gzip.compress(full)
    path = tmp_path / "cut.gz"
    path.write_bytes(compressed[: len(compressed) // 2])
    with pytest.raises(ValueError, match="truncated"):
        read_idx(path)
    path = tmp_path / "long"
    path.write_bytes(full + b"\x00\x00")
    with pytest.raises(ValueError, match="extra bytes"):
        read_idx(path)


@pytest.mark.parametrize("gz", [True, False])
def test_load_dataset_mnist_from_environment_folder(isolated, monkeypatch, gz):
    arrays = write_mnist_folder(str(isolated / "env" / "mnist"), gz=gz)
    monkeypatch.setenv("GLASSNET_DATA", str(isolated / "env"))
    data = load_dataset("mnist", num_validation=6)
    images = arrays["train-images-idx3-ubyte"]
    labels = arrays["train-labels-idx1-ubyte"]
    assert data["X_train"].shape == (24, 1, 28, 28) and data["X_train"].dtype == np.float32
    assert data["X_val"].shape == (6, 1, 28, 28)
    assert data["X_test"].shape == (8, 1, 28, 28)
    np.testing.assert_allclose(data["X_train"][:, 0], images[:24] / 255, rtol=1e-6)
    np.testing.assert_allclose(data["X_val"][:, 0], images[24:] / 255, rtol=1e-6)
    np.testing.assert_array_equal(data["y_train"], labels[:24])
    assert data["y_train"].dtype == np.int64 and data["y_test"].dtype == np.int64
    np.testing.assert_array_equal(data["y_test"], arrays["t10k-labels-idx1-ubyte"])
    flat = load_dataset("mnist", num_validation=6, flatten=True, dtype=np.float64)
    assert flat["X_test"].shape == (8, 784) and flat["X_test"].dtype == np.float64


def test_load_dataset_mnist_from_cache_and_explicit_path(isolated):
    write_mnist_folder(str(isolated / "cache" / "glassnet" / "mnist"), seed=1)
    assert load_dataset("mnist", num_validation=3)["X_train"].shape == (27, 1, 28, 28)
    write_mnist_folder(str(isolated / "mine"), n_train=12, seed=2)
    assert load_dataset("mnist", path=str(isolated / "mine"),
                        num_validation=2)["X_train"].shape == (10, 1, 28, 28)


def test_mismatched_counts_and_missing_files(isolated):
    folder = isolated / "bad"
    write_mnist_folder(str(folder))
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(29, np.uint8), gz=True)
    with pytest.raises(ValueError, match="30 images but 29 labels"):
        load_dataset("mnist", path=str(folder), num_validation=2)
    os.remove(folder / "t10k-images-idx3-ubyte.gz")
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("mnist", path=str(folder))
    assert str(folder) in str(info.value) and "download('mnist')" in str(info.value)


def test_not_found_lists_every_place(isolated, monkeypatch):
    monkeypatch.setenv("GLASSNET_DATA", str(isolated / "env"))
    with pytest.raises(FileNotFoundError) as info:
        load_dataset("fashion-mnist")
    for place in where("fashion-mnist"):
        assert place in str(info.value)
    assert "apt-get install dataset-fashion-mnist" in str(info.value)


def test_validation_larger_than_training_is_an_error(isolated):
    write_mnist_folder(str(isolated / "m"))
    with pytest.raises(ValueError, match="num_validation must be smaller than the 30"):
        load_dataset("mnist", path=str(isolated / "m"))  # default 10000 > 30


# --- bounded and checked reading (hostile-file defects 4 and 9) --------------------------

@pytest.mark.parametrize("gz", [False, True])
def test_zero_dimension_gives_an_empty_array(tmp_path, gz):
    path = write_idx(tmp_path / "empty-idx", np.zeros((0, 28, 28), np.uint8), gz)
    out = read_idx(path)
    assert out.shape == (0, 28, 28) and out.dtype == np.uint8
    out = read_idx(write_idx(tmp_path / "e16", np.zeros((3, 0), np.int16), gz))
    assert out.shape == (3, 0) and out.dtype == np.int16


def test_empty_split_is_refused_at_load(isolated):
    folder = isolated / "m"
    write_mnist_folder(str(folder))
    write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((0, 28, 28), np.uint8), gz=True)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(0, np.uint8), gz=True)
    with pytest.raises(ValueError, match="test IDX images .* are empty: shape \\(0, 28, 28\\)"):
        load_dataset("mnist", path=str(folder), num_validation=2)


@pytest.mark.parametrize("labels", [[0, 10, 3], [255, 0, 1]])
def test_labels_outside_the_classes_are_refused_at_load(isolated, labels):
    folder = isolated / "m"
    write_mnist_folder(str(folder), n_train=3)
    write_idx(folder / "train-labels-idx1-ubyte", np.array(labels, np.uint8), gz=True)
    with pytest.raises(ValueError, match="train IDX labels .* must be in 0..9; got values "
                                         f"from {min(labels)} to {max(labels)}"):
        load_dataset("mnist", path=str(folder), num_validation=1)


def test_float_labels_are_refused(isolated):
    folder = isolated / "m"
    write_mnist_folder(str(folder), n_train=3)
    write_idx(folder / "train-labels-idx1-ubyte", np.array([0, 1.5, 2], np.float32), gz=False)
    os.remove(folder / "train-labels-idx1-ubyte.gz")
    with pytest.raises(ValueError, match="labels .* must be integers; got float32"):
        load_dataset("mnist", path=str(folder), num_validation=1)


@pytest.mark.parametrize("gz", [False, True])
def test_declared_size_is_capped_before_allocating(tmp_path, gz):
    import tracemalloc

    import hostile
    import hostile_datasets
    header = hostile_datasets.idx_header(0x08, (4096, 1024, 1024))  # 4 GiB promised
    content = header + bytes(1000)
    path = tmp_path / "big"
    path.write_bytes(hostile.gzip_of(content) if gz else content)
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="truncated|max_bytes"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20
    small = write_idx(tmp_path / "small", np.zeros((10, 10), np.uint8), gz)
    with pytest.raises(ValueError, match="promises shape \\(10, 10\\) \\(100 bytes\\), more "
                                         "than max_bytes=99"):
        read_idx(small, max_bytes=99)
    assert read_idx(small, max_bytes=100).shape == (10, 10)


def test_gzip_bomb_after_the_data_is_refused_early(tmp_path):
    import hostile
    data = np.arange(32, dtype=np.uint8).reshape(2, 4, 4)
    path = tmp_path / "bomb.gz"
    path.write_bytes(hostile.gzip_bomb(idx_bytes(data), 4096))  # 4 GiB of zeros follow
    with pytest.raises(ValueError, match="extra bytes after the 32 bytes"):
        read_idx(path)


def test_missing_files_and_devices_are_not_read(tmp_path):
    from glassnet.datasets import load_CIFAR_batch
    for path in (str(tmp_path / "absent"), "/dev/zero", str(tmp_path)):
        with pytest.raises(FileNotFoundError, match="no IDX file at"):
            read_idx(path)
        with pytest.raises(FileNotFoundError, match="no CIFAR-10 batch file at"):
            load_CIFAR_batch(path)
    os.symlink("/dev/zero", tmp_path / "data_batch_1.bin")
    with pytest.raises(FileNotFoundError, match="no CIFAR-10 batch file at"):
        load_CIFAR_batch(tmp_path / "data_batch_1.bin")
