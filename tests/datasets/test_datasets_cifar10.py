"""CIFAR-10 readers on small synthesized batch trees in both official formats."""
import os
import pickle
import struct

import numpy as np
import pytest

from glassnet import data_utils
from glassnet.datasets import (get_CIFAR10_data, get_CIFAR10_linear_data, load_CIFAR10,
                               load_CIFAR_batch, load_dataset, where)

TRAIN_PER_BATCH = 4
TEST_SIZE = 3


def make_cifar_arrays(seed=0):
    """Known raw arrays: 5 train batches and a test batch of uint8 rows (N, 3072)."""
    rng = np.random.RandomState(seed)
    train = [(rng.randint(0, 256, size=(TRAIN_PER_BATCH, 3072)).astype(np.uint8),
              rng.randint(0, 10, size=TRAIN_PER_BATCH).tolist()) for _ in range(5)]
    test = (rng.randint(0, 256, size=(TEST_SIZE, 3072)).astype(np.uint8),
            rng.randint(0, 10, size=TEST_SIZE).tolist())
    return train, test


def write_python_batches(folder, seed=0):
    """A cifar-10-batches-py folder written like the real one (protocol 2, bytes keys)."""
    train, test = make_cifar_arrays(seed)
    os.makedirs(folder, exist_ok=True)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name, (data, labels) in zip(names, train + [test]):
        batch = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                 b"filenames": [f"img{i}.png".encode() for i in range(len(labels))]}
        with open(os.path.join(folder, name), "wb") as f:
            pickle.dump(batch, f, protocol=2)
    with open(os.path.join(folder, "batches.meta"), "wb") as f:
        pickle.dump({b"label_names": [b"airplane"] * 10, b"num_vis": 3072}, f, protocol=2)
    return train, test


def write_binary_batches(folder, seed=0):
    """A cifar-10-batches-bin folder: records of 1 label byte + 3072 pixel bytes."""
    train, test = make_cifar_arrays(seed)
    os.makedirs(folder, exist_ok=True)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    for name, (data, labels) in zip(names, train + [test]):
        records = np.hstack([np.array(labels, dtype=np.uint8)[:, None], data])
        records.tofile(os.path.join(folder, name))
    return train, test


def expected_nhwc(parts):
    data = np.concatenate([d for d, _ in parts])
    labels = np.concatenate([l for _, l in parts])
    return data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1).astype(np.float64), labels


@pytest.fixture(params=["py", "bin"])
def cifar_tree(request, isolated):
    folder = isolated / "data" / f"cifar-10-batches-{request.param}"
    writer = write_python_batches if request.param == "py" else write_binary_batches
    train, test = writer(str(folder))
    return folder, train, test


def test_load_CIFAR_batch_round_trip(cifar_tree):
    folder, train, _ = cifar_tree
    suffix = ".bin" if folder.name.endswith("bin") else ""
    X, Y = load_CIFAR_batch(str(folder / f"data_batch_2{suffix}"))
    X_expected, Y_expected = expected_nhwc(train[1:2])
    assert X.dtype == np.float64 and X.shape == (TRAIN_PER_BATCH, 32, 32, 3)
    assert Y.dtype == np.int64
    np.testing.assert_array_equal(X, X_expected)
    np.testing.assert_array_equal(Y, Y_expected)
    # channel order: the first 1024 bytes of a row are the red plane
    raw = train[1][0][0]
    np.testing.assert_array_equal(X[0, :, :, 0].ravel(), raw[:1024])
    np.testing.assert_array_equal(X[0, :, :, 2].ravel(), raw[2048:])


def test_load_CIFAR10_concatenates_batches_in_order(cifar_tree):
    folder, train, test = cifar_tree
    for root in (folder, folder.parent):  # the batches folder or the folder holding it
        Xtr, Ytr, Xte, Yte = load_CIFAR10(str(root))
        X_expected, Y_expected = expected_nhwc(train)
        np.testing.assert_array_equal(Xtr, X_expected)
        np.testing.assert_array_equal(Ytr, Y_expected)
        X_expected, Y_expected = expected_nhwc([test])
        np.testing.assert_array_equal(Xte, X_expected)
        np.testing.assert_array_equal(Yte, Y_expected)
        assert Xtr.shape == (5 * TRAIN_PER_BATCH, 32, 32, 3) and Xtr.dtype == np.float64


def test_get_CIFAR10_data_split_and_mean(cifar_tree):
    folder, train, test = cifar_tree
    Xtr, Ytr, Xte, Yte = load_CIFAR10(str(folder))
    data = get_CIFAR10_data(num_training=15, num_validation=4, num_test=2, path=str(folder))
    assert data["X_train"].shape == (15, 3, 32, 32)
    assert data["X_val"].shape == (4, 3, 32, 32)
    assert data["X_test"].shape == (2, 3, 32, 32)
    assert data["X_train"].dtype == np.float64
    nchw = Xtr.transpose(0, 3, 1, 2)
    mean = nchw[:15].mean(axis=0)
    np.testing.assert_allclose(data["X_train"], nchw[:15] - mean, atol=1e-12)
    np.testing.assert_allclose(data["X_val"], nchw[15:19] - mean, atol=1e-12)
    np.testing.assert_allclose(data["X_test"], Xte.transpose(0, 3, 1, 2)[:2] - mean, atol=1e-12)
    np.testing.assert_allclose(data["X_train"].mean(axis=0), 0, atol=1e-10)
    np.testing.assert_array_equal(data["y_train"], Ytr[:15])
    np.testing.assert_array_equal(data["y_val"], Ytr[15:19])
    np.testing.assert_array_equal(data["y_test"], Yte[:2])

    raw = get_CIFAR10_data(num_training=15, num_validation=4, num_test=2,
                           subtract_mean=False, path=str(folder))
    np.testing.assert_array_equal(raw["X_train"], nchw[:15])


def test_get_CIFAR10_data_found_through_environment(isolated, monkeypatch):
    root = isolated / "env"
    write_python_batches(str(root / "cifar10" / "cifar-10-batches-py"))
    monkeypatch.setenv("GLASSNET_DATA", str(root))
    data = get_CIFAR10_data(num_training=10, num_validation=10, num_test=3)
    assert data["X_train"].shape == (10, 3, 32, 32) and data["X_test"].shape == (3, 3, 32, 32)


def test_get_CIFAR10_data_found_in_cache(isolated):
    write_binary_batches(str(isolated / "cache" / "glassnet" / "cifar10" / "cifar-10-batches-bin"))
    data = get_CIFAR10_data(num_training=19, num_validation=1, num_test=1)
    assert data["X_val"].shape == (1, 3, 32, 32)


def test_get_CIFAR10_data_sizes_are_checked(cifar_tree):
    folder = str(cifar_tree[0])
    with pytest.raises(ValueError, match="num_training \\+ num_validation"):
        get_CIFAR10_data(num_training=19, num_validation=2, path=folder)
    with pytest.raises(ValueError, match="num_test"):
        get_CIFAR10_data(num_training=10, num_validation=1, num_test=4, path=folder)
    with pytest.raises(TypeError, match="num_training"):
        get_CIFAR10_data(num_training=2.5, path=folder)


def test_linear_classifier_data_matches_the_classic_recipe(cifar_tree):
    folder = str(cifar_tree[0])
    Xtr, Ytr, Xte, Yte = load_CIFAR10(folder)
    np.random.seed(3)
    data = get_CIFAR10_linear_data(num_training=12, num_validation=5, num_test=3,
                                   num_dev=4, path=folder)
    # the recipe, written out: dev rows from the global generator, rows, mean, bias
    np.random.seed(3)
    mask = np.random.choice(12, 4, replace=False)
    rows = lambda X: X.reshape(X.shape[0], -1)
    mean = rows(Xtr[:12]).mean(axis=0)
    bias = lambda X: np.hstack([X - mean, np.ones((X.shape[0], 1))])
    np.testing.assert_allclose(data["X_train"], bias(rows(Xtr[:12])), atol=1e-12)
    np.testing.assert_allclose(data["X_val"], bias(rows(Xtr[12:17])), atol=1e-12)
    np.testing.assert_allclose(data["X_test"], bias(rows(Xte[:3])), atol=1e-12)
    np.testing.assert_allclose(data["X_dev"], bias(rows(Xtr[mask])), atol=1e-12)
    np.testing.assert_array_equal(data["y_dev"], Ytr[mask])
    assert data["X_train"].shape == (12, 3073) and np.all(data["X_dev"][:, -1] == 1)
    seeded = get_CIFAR10_linear_data(12, 5, 3, num_dev=4, path=folder, seed=3)
    np.testing.assert_array_equal(seeded["X_dev"], data["X_dev"])


def test_load_dataset_cifar10_float32_nchw(cifar_tree):
    folder, train, test = cifar_tree
    data = load_dataset("cifar10", path=str(folder.parent), num_validation=5)
    raw = np.concatenate([d for d, _ in train]).reshape(-1, 3, 32, 32)
    assert data["X_train"].dtype == np.float32 and data["X_train"].shape == (15, 3, 32, 32)
    np.testing.assert_allclose(data["X_train"], raw[:15] / 255, rtol=1e-6)
    np.testing.assert_allclose(data["X_val"], raw[15:] / 255, rtol=1e-6)
    np.testing.assert_allclose(data["X_test"], test[0].reshape(-1, 3, 32, 32) / 255, rtol=1e-6)
    assert data["y_test"].dtype == np.int64
    flat = load_dataset("cifar10", path=str(folder), num_validation=5, flatten=True,
                        dtype=np.float64)
    assert flat["X_train"].shape == (15, 3072) and flat["X_train"].dtype == np.float64
    np.testing.assert_allclose(flat["X_train"], raw[:15].reshape(15, -1) / 255)
    seeded = load_dataset("cifar10", path=str(folder), num_validation=5, seed=1)
    chosen = np.random.RandomState(1).choice(20, 5, replace=False)
    assert sorted(map(tuple, seeded["X_val"].reshape(5, -1)[:, :8])) == \
        sorted(map(tuple, (raw[chosen] / 255).astype(np.float32).reshape(5, -1)[:, :8]))


def python2_style_batch(data, labels):
    """A batch pickled the way Python 2 wrote the official files, assembled opcode by
    opcode: byte strings (SHORT_BINSTRING / BINSTRING), numpy.core.multiarray names."""
    short = lambda b: b"U" + bytes([len(b)]) + b
    long_ = lambda b: b"T" + struct.pack("<i", len(b)) + b
    binint = lambda i: b"J" + struct.pack("<i", i)
    dtype = (b"cnumpy\ndtype\n" + short(b"u1") + binint(0) + binint(1) + b"\x87R"
             + b"(" + binint(3) + short(b"|") + b"NNN" + binint(-1) + binint(-1) + binint(0)
             + b"tb")
    array = (b"cnumpy.core.multiarray\n_reconstruct\n" + b"cnumpy\nndarray\n" + binint(0)
             + b"\x85" + short(b"b") + b"\x87R"
             + b"(" + binint(1) + binint(data.shape[0]) + binint(data.shape[1]) + b"\x86"
             + dtype + b"\x89" + long_(data.tobytes()) + b"tb")
    label_list = b"](" + b"".join(binint(int(v)) for v in labels) + b"e"
    return (b"\x80\x02}(" + short(b"data") + array + short(b"labels") + label_list
            + short(b"batch_label") + short(b"training batch 1 of 5") + b"u.")


def test_python2_written_batch_loads(tmp_path):
    data = np.random.RandomState(2).randint(0, 256, size=(3, 3072)).astype(np.uint8)
    path = tmp_path / "data_batch_1"
    path.write_bytes(python2_style_batch(data, [7, 0, 9]))
    X, Y = load_CIFAR_batch(str(path))
    np.testing.assert_array_equal(X, data.reshape(3, 3, 32, 32).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(Y, [7, 0, 9])


class _RunsACommand:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _Evaluates:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


@pytest.mark.parametrize("payload", ["system", "eval"])
def test_malicious_pickle_is_refused_and_nothing_runs(tmp_path, payload):
    marker = tmp_path / "pwned"
    evil = _RunsACommand(marker) if payload == "system" else _Evaluates()
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump({b"data": evil, b"labels": [0]}, f, protocol=2)
    with pytest.raises(ValueError, match="refusing to unpickle .*(system|eval)"):
        load_CIFAR_batch(str(path))
    assert not marker.exists()


def test_object_arrays_and_other_contents_are_refused(tmp_path):
    path = tmp_path / "batch"
    with open(path, "wb") as f:
        pickle.dump({b"data": np.array([object()] * 3, dtype=object), b"labels": [0]}, f,
                    protocol=2)
    with pytest.raises(ValueError, match="refusing"):
        load_CIFAR_batch(str(path))
    with open(path, "wb") as f:
        pickle.dump([1, 2, 3], f, protocol=2)
    with pytest.raises(ValueError, match="must hold a dict"):
        load_CIFAR_batch(str(path))
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 10]}, f, protocol=2)
    with pytest.raises(ValueError, match="labels must be in \\[0, 9\\]"):
        load_CIFAR_batch(str(path))
    with open(path, "wb") as f:
        pickle.dump({b"data": np.zeros((2, 100), np.uint8), b"labels": [0, 1]}, f, protocol=2)
    with pytest.raises(ValueError, match="'data' must be a uint8 array"):
        load_CIFAR_batch(str(path))


def test_truncated_batches_are_refused(cifar_tree):
    folder = cifar_tree[0]
    suffix = ".bin" if folder.name.endswith("bin") else ""
    path = folder / f"data_batch_3{suffix}"
    content = path.read_bytes()
    path.write_bytes(content[: len(content) - 100])
    with pytest.raises(ValueError, match="truncated"):
        load_CIFAR_batch(str(path))
    with pytest.raises(ValueError, match="truncated"):
        load_CIFAR10(str(folder))


def test_missing_data_lists_every_place_and_how_to_get_it(isolated, monkeypatch):
    monkeypatch.setenv("GLASSNET_DATA", str(isolated / "env"))
    with pytest.raises(FileNotFoundError) as info:
        get_CIFAR10_data()
    message = str(info.value)
    for place in where("cifar10"):
        assert place in message
    assert "download('cifar10')" in message
    with pytest.raises(FileNotFoundError, match="download"):
        load_CIFAR10(str(isolated / "nowhere"))


def test_data_utils_re_exports_the_classic_names():
    assert data_utils.load_CIFAR10 is load_CIFAR10
    assert data_utils.load_CIFAR_batch is load_CIFAR_batch
    assert data_utils.get_CIFAR10_data is get_CIFAR10_data
    assert data_utils.load_dataset is load_dataset


# --- the pickle is decoded, never unpickled (hostile-file defects 1, 2 and 15) -----------

def _real_batch(n=3, seed=5, labels_as=list):
    rng = np.random.RandomState(seed)
    data = rng.randint(0, 256, size=(n, 3072)).astype(np.uint8)
    labels = rng.randint(0, 10, size=n)
    return {b"batch_label": b"training batch 1 of 5", b"data": data,
            b"labels": labels_as(labels), b"filenames": [b"a.png"] * n}


@pytest.mark.parametrize("protocol", range(6))
@pytest.mark.parametrize("labels_as", [lambda y: y.tolist(), lambda y: y.astype(np.int64),
                                       lambda y: y.astype(np.int32),
                                       lambda y: [np.int64(v) for v in y]],
                         ids=["list", "int64-array", "int32-array", "numpy-scalars"])
def test_every_pickle_protocol_loads(tmp_path, protocol, labels_as):
    batch = _real_batch(labels_as=labels_as)
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump(batch, f, protocol=protocol)
    X, Y = load_CIFAR_batch(str(path))
    np.testing.assert_array_equal(X, batch[b"data"].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(Y, np.asarray(batch[b"labels"]))
    assert X.dtype == np.float64 and Y.dtype == np.int64


def test_protocol_5_buffers_in_band_and_out_of_band():
    from glassnet.datasets.plain_pickle import RawArray, decode
    data = np.arange(3 * 3072, dtype=np.uint8).reshape(3, 3072)
    fortran = np.asfortranarray(np.arange(6, dtype=np.int64).reshape(2, 3))
    for value in (data, fortran, data[:, ::2]):
        decoded = decode(pickle.dumps(value, protocol=5))
        assert isinstance(decoded, RawArray)
        np.testing.assert_array_equal(decoded.to_numpy(), value)
    buffers = []
    stream = pickle.dumps(data, protocol=5, buffer_callback=buffers.append)
    np.testing.assert_array_equal(decode(stream, [b.raw() for b in buffers]).to_numpy(), data)
    with pytest.raises(ValueError, match="out-of-band buffer that was not given"):
        decode(stream)


@pytest.mark.parametrize("protocol", range(6))
def test_an_array_referenced_twice_is_one_filled_array(protocol):
    from glassnet.datasets.plain_pickle import RawArray, decode
    labels = np.arange(5, dtype=np.int64)
    decoded = decode(pickle.dumps({"a": labels, "b": [labels]}, protocol=protocol))
    assert isinstance(decoded["a"], RawArray) and decoded["b"][0] is decoded["a"]
    np.testing.assert_array_equal(decoded["b"][0].to_numpy(), labels)


@pytest.mark.parametrize("protocol", range(6))
def test_plain_values_decode_as_pickle_loads_them(protocol):
    from glassnet.datasets.plain_pickle import decode
    value = {"text": "héllo \u20ac\n", b"bytes": bytes(range(256)), 3: [1.5, -2.25e300, None],
             "ints": [0, 1, -1, 255, 256, 65535, 2 ** 31, -(2 ** 31) - 1, 2 ** 100, -(2 ** 70)],
             "bools": (True, False), "nested": [[], (), {}, [[(1,)]]], "empty": ""}
    shared = [1, 2]
    value["shared"] = (shared, shared)
    decoded = decode(pickle.dumps(value, protocol=protocol))
    assert decoded == value
    assert decoded["shared"][0] is decoded["shared"][1]  # the memo keeps sharing


@pytest.mark.parametrize("name,content", [(n, c) for n, c, _ in
                                          __import__("hostile").crafted_cifar_pickles()],
                         ids=[n for n, _, _ in __import__("hostile").crafted_cifar_pickles()])
@pytest.mark.slow
def test_crafted_batches_are_refused(tmp_path, name, content):
    path = tmp_path / "data_batch_1"
    path.write_bytes(content)
    with pytest.raises(ValueError):
        load_CIFAR_batch(str(path))


def test_dtype_state_and_ndarray_calls_never_reach_numpy(tmp_path):
    import hostile
    cases = dict((n, c) for n, c, _ in hostile.crafted_cifar_pickles())
    for name, message in [("dtype-build-field-offset", "fields, offsets, sizes and flags"),
                          ("dtype-build-object-flags", "fields, offsets, sizes and flags"),
                          ("ndarray-zero-strides", "refusing to call numpy.ndarray"),
                          ("ndarray-no-buffer", "refusing to call numpy.ndarray"),
                          ("declared-1e12-elements", "needs 1000000002048 bytes"),
                          ("binbytes8-2^40", "claims 1099511627776 bytes; only 3"),
                          ("frame-2^40", "claims 1099511627776 bytes"),
                          ("codecs-encode-amplification", "far more data than the file")]:
        path = tmp_path / name
        path.write_bytes(cases[name])
        with pytest.raises(ValueError, match=message):
            load_CIFAR_batch(str(path))
