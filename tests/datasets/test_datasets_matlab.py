"""MATLAB .mat files with training_data, training_labels and test_data."""

import numpy as np
import pytest

from glassnet.datasets import dataset_info, load_dataset, load_mat, where

scipy_io = pytest.importorskip("scipy.io", reason="SciPy is needed to write .mat test files")


@pytest.fixture
def mat_file(tmp_path):
    rng = np.random.RandomState(0)
    arrays = {"training_data": rng.randint(0, 50, size=(20, 5)).astype(np.uint8),
              "training_labels": rng.randint(0, 3, size=(20, 1)),
              "test_data": rng.randint(0, 50, size=(7, 5)).astype(np.uint8)}
    path = tmp_path / "spam_data.mat"
    scipy_io.savemat(str(path), arrays)
    return path, arrays


def test_load_mat_round_trip(mat_file):
    path, arrays = mat_file
    out = load_mat(path)
    np.testing.assert_array_equal(out["X_train"], arrays["training_data"])
    np.testing.assert_array_equal(out["y_train"], arrays["training_labels"].ravel())
    np.testing.assert_array_equal(out["X_test"], arrays["test_data"])
    assert out["y_train"].dtype == np.int64


def test_load_dataset_mat_has_no_test_labels(mat_file):
    path, arrays = mat_file
    data = load_dataset(f"mat:{path}")
    assert set(data) == {"X_train", "y_train", "X_val", "y_val", "X_test"}
    assert data["X_train"].shape == (18, 5) and data["X_val"].shape == (2, 5)  # a tenth
    assert data["X_train"].dtype == np.float32
    np.testing.assert_array_equal(data["X_train"], arrays["training_data"][:18])
    np.testing.assert_array_equal(data["y_val"], arrays["training_labels"].ravel()[18:])
    np.testing.assert_array_equal(data["X_test"], arrays["test_data"])
    same = load_dataset("mat", path=str(path), num_validation=5, dtype=np.float64, seed=4)
    assert same["X_val"].shape == (5, 5) and same["X_val"].dtype == np.float64
    chosen = np.random.RandomState(4).choice(20, 5, replace=False)
    assert sorted(same["y_val"]) == sorted(arrays["training_labels"].ravel()[chosen])
    assert where(f"mat:{path}") == [str(path)]


def test_dataset_info_of_a_mat_file(mat_file):
    path, arrays = mat_file
    info = dataset_info(f"mat:{path}")
    assert info["input_shape"] == (5,) and info["num_train"] == 20 and info["num_test"] == 7
    assert info["num_classes"] == arrays["training_labels"].max() + 1


def test_bad_mat_files(tmp_path, mat_file):
    path = tmp_path / "other.mat"
    scipy_io.savemat(str(path), {"X": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="must hold 'training_data'; got variables \\['X'\\]"):
        load_dataset(f"mat:{path}")
    junk = tmp_path / "junk.mat"
    junk.write_bytes(b"not a matlab file at all" * 10)
    with pytest.raises(ValueError, match="cannot read MATLAB file"):
        load_mat(junk)
    with pytest.raises(FileNotFoundError, match="no MATLAB file"):
        load_mat(tmp_path / "absent.mat")
    with pytest.raises(ValueError, match="needs a file"):
        load_dataset("mat")
    scipy_io.savemat(str(path), {"training_data": np.zeros((3, 2)),
                                 "training_labels": np.array([0.5, 1, 2])})
    with pytest.raises(ValueError, match="non-negative integers"):
        load_mat(path)


# --- hostile and unusual files (hostile-file defects 4, 8 and 9) -------------------------

def test_empty_file_is_refused_clearly(tmp_path):
    path = tmp_path / "empty.mat"
    path.write_bytes(b"")
    with pytest.raises(ValueError, match="cannot read MATLAB file .*: it is empty"):
        load_mat(path)


@pytest.mark.parametrize("labels,message", [
    (np.array(["a", "b", "c"]), "training_labels must be a numeric array; got ndarray <U1"),
    (np.array([0, 1, 1e12]), "non-negative integers below 100000"),
    (np.array([0, 1, np.inf]), "non-negative integers below 100000"),
    (np.array([0, np.nan, 1]), "non-negative integers below 100000"),
    (np.array([0, -1, 1]), "non-negative integers below 100000"),
])
def test_bad_labels_are_refused(tmp_path, labels, message):
    path = tmp_path / "bad.mat"
    scipy_io.savemat(str(path), {"training_data": np.zeros((3, 2)), "training_labels": labels})
    with pytest.raises(ValueError, match=message):
        load_mat(path)
    with pytest.raises(ValueError, match=message):
        dataset_info(f"mat:{path}")  # never builds a list of 1e12 class names


def test_file_without_test_data_loads_without_test_keys(tmp_path):
    path = tmp_path / "train_only.mat"
    labels = np.array([0, 1, 2, 1, 0, 2, 1, 0, 1, 2])
    scipy_io.savemat(str(path), {"training_data": np.arange(20.0).reshape(10, 2),
                                 "training_labels": labels})
    assert set(load_mat(path)) == {"X_train", "y_train"}
    data = load_dataset(f"mat:{path}", num_validation=2)
    assert set(data) == {"X_train", "y_train", "X_val", "y_val"}
    assert data["X_train"].shape == (8, 2) and data["y_val"].tolist() == [1, 2]
    info = dataset_info(f"mat:{path}")
    assert info["num_test"] == 0 and info["num_classes"] == 3


def test_compressed_bomb_is_refused_within_max_bytes(tmp_path):
    import struct
    import tracemalloc

    import hostile
    import hostile_datasets
    x = hostile_datasets.mat_double(b"training_data", np.zeros((2, 2)))
    bomb = hostile_datasets.mat_element(
        15, hostile.zlib_bomb(struct.pack("<2I", 14, 0xFFFFFFF0), 256), pad=False)
    path = tmp_path / "bomb.mat"
    path.write_bytes(hostile_datasets.mat_file(x, bomb))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match="inflate to more than the bytes allowed"):
            load_mat(path, max_bytes=8 << 20)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 32 << 20


@pytest.mark.parametrize("variable,message", [
    ("cell", "declares 4611686014132420609 elements in 0 bytes"),
    ("nested", "nested more than 32 deep"),
    ("claims", "claims 4294967280 bytes"),
])
def test_declared_structure_is_checked_before_scipy(tmp_path, variable, message):
    import struct

    import hostile_datasets
    x = hostile_datasets.mat_double(b"training_data", np.zeros((2, 2)))
    big = 2 ** 31 - 1
    extra = {"cell": hostile_datasets.mat_matrix(1, (big, big), b"training_labels"),
             "nested": hostile_datasets._nested_cells(100),
             "claims": struct.pack("<2I", 14, 0xFFFFFFF0)}[variable]
    path = tmp_path / "crafted.mat"
    path.write_bytes(hostile_datasets.mat_file(x, extra))
    with pytest.raises(ValueError, match=message):
        load_mat(path)


def test_v4_and_v73_files_are_named(tmp_path):
    path = tmp_path / "v4.mat"
    scipy_io.savemat(str(path), {"training_data": np.zeros((2, 2)),
                                 "training_labels": np.array([0, 1])}, format="4")
    with pytest.raises(ValueError, match="MATLAB v4 file"):
        load_mat(path)
    path.write_bytes(b"MATLAB 7.3 MAT-file".ljust(124) + b"\x00\x02IM" + bytes(512))
    with pytest.raises(ValueError, match="v7.3 \\(HDF5\\)"):
        load_mat(path)
