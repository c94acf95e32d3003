"""The digits data set that ships inside glassnet: read with NumPy alone, verified before
it is parsed, and the very arrays scikit-learn's ``load_digits`` gives; and the optional
packages it no longer needs (scikit-learn, SciPy)."""
import gzip
import hashlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from glassnet.datasets import dataset_info, load_dataset, load_mat
from glassnet.datasets import digits
from paths import ROOT

# SHA-256 of the arrays (little-endian bytes) that load_digits_arrays gave when it read
# them through sklearn.datasets.load_digits (scikit-learn 1.9.1): images (1797, 1, 8, 8)
# float64 and labels (1797,) int64; then of load_dataset("digits")'s default split.
IMAGES_SHA256 = "20def7f70a702f0af9732fbba4375e147a7d54fe70d8c45569b8e7c1c7010c10"
LABELS_SHA256 = "a3c91c262eddcf7ba8f0e37507c30284493c9b20412ffe4af30d536401f7ba21"
SPLIT_SHA256 = {
    "X_train": "56a34815a811388c470b7233bf7818b755817b3000e089cd8b8d01205316448d",
    "y_train": "0c4d7cd02b711a90a31a9b1a6051ec9a75f7dba33fe670229f70a5b832786e39",
    "X_val": "2ba429d6ccf357b6c064577e74aad824f4f39f5752ba24182d0bcda9645042f7",
    "y_val": "92cb29e8de9fe53a28926f7a744d76bfd6f0c9e8c2ab971583e956ff17210739",
    "X_test": "8bdf0ceeb2a7156a88c37af9400862f5cb8f186a78bbcb99a2d0cc668330a270",
    "y_test": "1f266eb3fc5cc9409c1fef00c38fe183a223443a6906f056e2a2ed7a59a40250",
}
PACKAGE_DATA = Path(digits.__file__).resolve().parent / "data"


def array_sha256(array):
    """SHA-256 of an array's values as little-endian bytes in C order."""
    array = np.ascontiguousarray(array)
    return hashlib.sha256(array.astype(array.dtype.newbyteorder("<")).tobytes()).hexdigest()


def shipped_bytes():
    return (PACKAGE_DATA / digits.DATA_FILE).read_bytes()


def test_arrays_are_the_ones_the_scikit_learn_loader_gave():
    images, labels = digits.load_digits_arrays()
    assert images.shape == (1797, 1, 8, 8) and images.dtype == np.float64
    assert labels.shape == (1797,) and labels.dtype == np.int64
    assert array_sha256(images) == IMAGES_SHA256
    assert array_sha256(labels) == LABELS_SHA256
    assert images.min() == 0 and images.max() == 16 and np.all(images == np.round(images))
    np.testing.assert_array_equal(np.bincount(labels),
                                  [178, 182, 177, 183, 181, 182, 181, 179, 174, 180])


def test_load_dataset_split_is_unchanged(isolated):
    data = load_dataset("digits")
    assert {key: array_sha256(value) for key, value in data.items()} == SPLIT_SHA256


@pytest.mark.slow
def test_same_arrays_as_scikit_learn_when_it_is_installed():
    sklearn_datasets = pytest.importorskip(
        "sklearn.datasets", reason="scikit-learn is not installed (glassnet does not need it); "
                                   "the stored checksums above are the comparison then")
    reference = sklearn_datasets.load_digits()
    images, labels = digits.load_digits_arrays()
    np.testing.assert_array_equal(images[:, 0], reference.images)
    np.testing.assert_array_equal(labels, reference.target)


def test_the_file_and_its_attribution_ship_in_the_package():
    assert digits.data_path().is_file()
    raw = shipped_bytes()
    assert len(raw) == 57523 and hashlib.sha256(raw).hexdigest() == digits.SHA256
    licence = (PACKAGE_DATA / "DIGITS-LICENSE.txt").read_text()
    for needed in ("Alpaydin", "Kaynak", "UCI Machine Learning Repository",
                   "10.24432/C50P49", "CC BY 4.0", digits.SHA256):
        assert needed in licence
    source = dataset_info("digits")["source"]
    assert "10.24432/C50P49" in source and "CC BY 4.0" in source
    assert "scikit-learn" not in source


def test_pyproject_declares_the_data_as_package_data():
    pyproject = ROOT / "pyproject.toml"
    try:
        import tomllib
    except ImportError:  # Python 3.10: the 'cli' extra installs tomli
        import tomli as tomllib
    declared = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]
    assert set(declared["glassnet.datasets"]) >= {"data/digits.csv.gz", "data/DIGITS-LICENSE.txt"}


def test_a_changed_byte_is_refused_before_parsing(monkeypatch):
    raw = bytearray(shipped_bytes())
    raw[100] ^= 1
    monkeypatch.setattr(np, "loadtxt", lambda *a, **k: pytest.fail("parsed unverified data"))
    with pytest.raises(ValueError, match=r"digits data file 'x.gz' has SHA-256 [0-9a-f]{64}, "
                                         r"expected 09f66e6d.*reinstall glassnet"):
        digits.parse_digits_csv(bytes(raw), "x.gz")
    with pytest.raises(ValueError, match="is over 1048576 bytes"):
        digits.parse_digits_csv(b"\0" * (digits.MAX_COMPRESSED_BYTES + 1), "x.gz")


@pytest.mark.parametrize("edit,message", [
    (lambda rows: rows[:-1], r"shape \(1797, 65\); got \(1796, 65\)"),
    (lambda rows: [r + ",0" for r in rows], r"shape \(1797, 65\); got \(1797, 66\)"),
    (lambda rows: ["17" + rows[0][1:]] + rows[1:], r"pixels must lie in 0..16; got 0..17"),
    (lambda rows: rows[:-1] + [rows[-1][:-1] + "10"], r"labels must lie in 0..9; got 0..10"),
])
@pytest.mark.slow
def test_a_wrong_table_is_refused_even_with_a_matching_checksum(monkeypatch, edit, message):
    """The table checks stand on their own: a file whose checksum matched (the constant is
    replaced here) but whose table is wrong is still refused, naming the check."""
    rows = gzip.decompress(shipped_bytes()).decode().splitlines()
    raw = gzip.compress(("\n".join(edit(rows)) + "\n").encode())
    monkeypatch.setattr(digits, "SHA256", hashlib.sha256(raw).hexdigest())
    with pytest.raises(ValueError, match=message):
        digits.parse_digits_csv(raw, "x.gz")


def test_a_missing_data_file_says_the_installation_is_incomplete(monkeypatch, tmp_path):
    monkeypatch.setattr(digits, "data_path", lambda: tmp_path / "digits.csv.gz")
    with pytest.raises(FileNotFoundError, match="ships with glassnet is missing.*reinstall"):
        load_dataset("digits")


def test_neither_scikit_learn_nor_scipy_is_imported_for_digits():
    """Loading and training on digits imports neither package, even where both are
    installed: they are blocked in a fresh interpreter, and nothing asks for them."""
    code = ("import sys\n"
            "for name in ('sklearn', 'scipy'):\n"
            "    sys.modules[name] = None\n"
            "from glassnet.datasets import load_dataset\n"
            "data = load_dataset('digits', flatten=True)\n"
            "from glassnet.classifiers import Softmax\n"
            "Softmax().train(data['X_train'], data['y_train'], num_iters=5, seed=0)\n"
            "print(data['X_train'].shape)\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "(1193, 64)"


def test_a_mat_file_without_scipy_names_the_mat_extra(tmp_path, monkeypatch):
    path = tmp_path / "data.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file")
    monkeypatch.setitem(sys.modules, "scipy.io", None)
    with pytest.raises(ImportError, match=r"needs SciPy.*pip install \"glassnet\[mat\]\"") as info:
        load_mat(path)
    assert info.value.name == "scipy"


@pytest.mark.slow
def test_the_command_line_names_the_mat_extra_when_scipy_is_missing(tmp_path):
    path = tmp_path / "data.mat"
    path.write_bytes(b"MATLAB 5.0 MAT-file")
    code = ("import sys; sys.modules['scipy.io'] = None; from glassnet.cli import main; "
            f"sys.exit(main(['train', '--data', 'mat:{path}', '--model', 'softmax', "
            f"'--out', {str(tmp_path / 'never')!r}]))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    assert ("glassnet: error: the Python package 'scipy' is not installed: "
            "pip install 'glassnet[mat]'") in result.stderr
    assert not (tmp_path / "never").exists()
