"""Hostile MNIST-style (IDX) and MATLAB files for the data-set loaders, built by the tests.

Like :mod:`hostile`, each builder returns ``(name, content, expect)`` triples.
"""
import io
import struct
import zlib

import numpy as np

from hostile import bit_flips, gzip_bomb, gzip_of, mutated, stomps, zlib_bomb


# --- IDX files --------------------------------------------------------------------------

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
             np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_header(code, dims):
    return bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)


def idx_bytes(array):
    array = np.asarray(array)
    return idx_header(IDX_CODES[array.dtype], array.shape) + \
        array.astype(array.dtype.newbyteorder(">")).tobytes()


def mnist_arrays(n_train=3, n_test=2, seed=0):
    rng = np.random.RandomState(seed)
    return {"train-images-idx3-ubyte": rng.randint(0, 256, (n_train, 28, 28)).astype(np.uint8),
            "train-labels-idx1-ubyte": rng.randint(0, 10, n_train).astype(np.uint8),
            "t10k-images-idx3-ubyte": rng.randint(0, 256, (n_test, 28, 28)).astype(np.uint8),
            "t10k-labels-idx1-ubyte": rng.randint(0, 10, n_test).astype(np.uint8)}


def hostile_train_images():
    """``(name, content, expect)`` for the train-images file of an MNIST folder (the three
    other files valid): crafted headers, bombs, truncations and flips, plain and gzipped."""
    valid = idx_bytes(mnist_arrays()["train-images-idx3-ubyte"])
    big = 0xFFFFFFFF
    cases = [
        ("zero-images", idx_header(0x08, (0, 28, 28)), "error"),
        ("zero-width", idx_header(0x08, (3, 28, 0)), "error"),
        ("claims-2^96-bytes", idx_header(0x08, (big, big, big)) + bytes(100), "error"),
        ("claims-2^96-bytes-gz", gzip_of(idx_header(0x08, (big, big, big)) + bytes(100)),
         "error"),
        ("rank-255", bytes([0, 0, 8, 255]) + bytes(1020), "error"),
        ("bad-type", bytes([0, 0, 0x42, 3]) + valid[4:], "error"),
        ("float-images", idx_bytes(np.zeros((3, 28, 28), np.float32)), "error"),
        ("one-image-short", idx_header(0x08, (3, 28, 28)) + bytes(2 * 784), "error"),
        ("gzip-bomb-after-data", gzip_bomb(valid, 2048), "error"),
        ("gzip-bomb-claims-1GiB", gzip_bomb(idx_header(0x08, (1024, 1024, 1024)), 1100),
         "error"),
        ("gzip-bomb-claims-400MiB", gzip_bomb(idx_header(0x08, (400, 1024, 1024)), 600),
         "error"),
        ("gzip-garbage", b"\x1f\x8b" + bytes(50), "error"),
        ("empty", b"", "error"),
    ]
    cases += mutated("plain", valid, 60, 60, seed=1, region=(0, 16))
    cases += mutated("gz", gzip_of(valid), 60, 60, seed=2)
    return cases


def hostile_train_labels():
    labels = mnist_arrays()["train-labels-idx1-ubyte"]
    return [("label-10", idx_bytes(np.array([0, 10, 1], np.uint8)), "error"),
            ("label-255", idx_bytes(np.array([255, 0, 1], np.uint8)), "error"),
            ("label-negative", idx_bytes(np.array([0, -1, 1], np.int8)), "error"),
            ("label-float", idx_bytes(np.array([0, 1.5, 1], np.float32)), "error"),
            ("label-count", idx_bytes(np.array([0, 1], np.uint8)), "error"),
            ("label-2d", idx_bytes(np.zeros((3, 1), np.uint8)), "error")] + \
        mutated("labels", idx_bytes(labels), 12, 20, seed=3, region=(0, 8))


# --- MATLAB v5 files, assembled by hand --------------------------------------------------

def mat_element(kind, data, pad=True):
    out = struct.pack("<2I", kind, len(data)) + data
    return out + bytes(-len(out) % 8) if pad else out


def mat_matrix(array_class, dims, name=b"", body=b""):
    flags = mat_element(6, struct.pack("<2I", array_class, 0))
    dims_el = mat_element(5, struct.pack(f"<{len(dims)}i", *dims))
    return mat_element(14, flags + dims_el + mat_element(1, name) + body)


def mat_file(*variables):
    header = b"MATLAB 5.0 MAT-file, hostile test".ljust(116) + bytes(8) + b"\x00\x01IM"
    return header + b"".join(variables)


def mat_double(name, array):
    array = np.asarray(array, dtype=np.float64)
    dims = array.shape if array.ndim >= 2 else (1, array.size)
    return mat_matrix(6, dims, name, mat_element(9, array.tobytes(order="F")))


def hostile_mat_files(savemat):
    """``(name, content, expect)`` for :func:`glassnet.datasets.load_mat`; ``savemat`` is
    SciPy's writer (valid files to mutate)."""
    rng = np.random.RandomState(4)
    good = {"training_data": rng.rand(4, 3), "training_labels": np.array([[0], [1], [2], [1]])}
    valid, compressed = io.BytesIO(), io.BytesIO()
    savemat(valid, good)
    savemat(compressed, dict(good, test_data=rng.rand(2, 3)), do_compression=True)
    big = 2 ** 31 - 1
    x = mat_double(b"training_data", np.zeros((2, 2)))
    inflated = mat_double(b"training_data", np.zeros((2, 2)))
    cases = [
        ("empty", b"", "error"),
        ("header-only", mat_file(), "error"),
        ("string-labels", _saved(savemat, {"training_data": np.zeros((2, 2)),
                                           "training_labels": np.array(["a", "b"])}), "error"),
        ("label-1e12", _saved(savemat, {"training_data": np.zeros((2, 2)),
                                        "training_labels": np.array([0, 1e12])}), "error"),
        ("label-inf", _saved(savemat, {"training_data": np.zeros((2, 2)),
                                       "training_labels": np.array([0, np.inf])}), "error"),
        ("label-nan", _saved(savemat, {"training_data": np.zeros((2, 2)),
                                       "training_labels": np.array([0, np.nan])}), "error"),
        ("data-text", _saved(savemat, {"training_data": np.array(["ab", "cd"]),
                                       "training_labels": np.array([0, 1])}), "error"),
        ("data-cell", _saved(savemat, {"training_data": np.array([[1, "a"]], dtype=object),
                                       "training_labels": np.array([0])}), "error"),
        ("no-rows", _saved(savemat, {"training_data": np.zeros((0, 2)),
                                     "training_labels": np.zeros(0)}), "error"),
        ("v4", _saved(savemat, good, format="4"), "error"),
        ("hdf5", b"\x89HDF\r\n\x1a\n" + bytes(200), "error"),
        ("cell-2^62-elements", mat_file(x, mat_matrix(1, (big, big), b"training_labels")),
         "error"),
        ("struct-2^62-elements", mat_file(x, mat_matrix(
            2, (big, big), b"training_labels",
            struct.pack("<2HI", 5, 4, 4) + mat_element(1, b"abc\x00"))), "error"),
        ("double-claims-2^62", mat_file(x, mat_matrix(6, (big, big), b"training_labels",
                                                      mat_element(9, bytes(8)))), "error"),
        ("element-claims-4GiB", mat_file(x) + struct.pack("<2I", 14, 0xFFFFFFF0), "error"),
        ("nested-cells-1000", mat_file(x, _nested_cells(1000)), "error"),
        ("compressed-bomb", mat_file(x, mat_element(15, zlib_bomb(
            struct.pack("<2I", 14, 0xFFFFFFF0), 1024), pad=False)), "error"),
        ("compressed-lying-size", mat_file(x, mat_element(15, zlib.compress(
            struct.pack("<2I", 14, 1 << 30) + inflated[8:]), pad=False)), "error"),
    ]
    cases += mutated("plain", valid.getvalue(), 80, 80, seed=5)
    cases += mutated("compressed", compressed.getvalue(), 80, 80, seed=6)
    rich_plain, rich_compressed = (_saved(savemat, rich_mat_arrays(), do_compression=c)
                                   for c in (False, True))
    cases.append(("rich", rich_plain, "either"))
    cases += mutated("rich", rich_plain, 40, 150, seed=8)
    cases += [(f"rich-inner{i}", c, "either")
              for i, c in enumerate(inner_mutations(rich_compressed, 150, seed=9))]
    return cases


def rich_mat_arrays():
    """Training data next to every kind of variable glassnet must read past."""
    rng = np.random.RandomState(1)
    return {"training_data": rng.rand(4, 3), "training_labels": np.array([0, 1, 2, 1]),
            "test_data": rng.rand(2, 3).astype(np.float32),
            "cell": np.array([[1, "ab"]], dtype=object),
            "record": {"a": np.int16(3), "b": np.ones((2, 2), np.uint8)}, "text": "text",
            "logical": np.array([True, False]), "int64": np.arange(3, dtype=np.int64),
            "complex": np.array([1 + 2j])}


def inner_mutations(content, count, seed=0):
    """A v5 file whose compressed variables are, one at a time, inflated, mutated (bit flip
    or byte stomp) and deflated again: the mutation reaches the matrix structure itself."""
    variables, pos = [], 128
    while pos < len(content):
        _, nbytes = struct.unpack_from("<2I", content, pos)
        variables.append((pos, nbytes))
        pos += 8 + nbytes
    rng, out = np.random.RandomState(seed), []
    for i in range(count):
        at, nbytes = variables[rng.randint(len(variables))]
        inner = zlib.decompress(content[at + 8:at + 8 + nbytes])
        mutant = (bit_flips if i % 2 else stomps)(inner, 1, seed * 10000 + i)[0]
        packed = zlib.compress(mutant)
        out.append(content[:at] + struct.pack("<2I", 15, len(packed)) + packed
                   + content[at + 8 + nbytes:])
    return out


def _saved(savemat, arrays, **options):
    buf = io.BytesIO()
    savemat(buf, arrays, **options)
    return buf.getvalue()


def _nested_cells(depth):
    inner = mat_matrix(1, (0, 0))
    for _ in range(depth):
        inner = mat_matrix(1, (1, 1), b"", inner)
    return inner
