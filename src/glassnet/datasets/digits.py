"""The small 8x8 handwritten digits set, shipped inside glassnet (1797 images, no download).

The data are the UCI "Optical Recognition of Handwritten Digits" set (E. Alpaydin and
C. Kaynak, UCI Machine Learning Repository, doi:10.24432/C50P49, CC BY 4.0; see
``data/DIGITS-LICENSE.txt``): the 1797 test-set examples, each 64 pixel counts 0..16 of
an 8x8 grid followed by the class 0..9, one comma-separated line per example, gzipped.
It is the same file, byte for byte, as the one scikit-learn ships for
``sklearn.datasets.load_digits``, so the arrays are the ones that function gives.

The file is read with NumPy and the standard library only, and verified before it is
parsed: its size is bounded, its SHA-256 must equal :data:`SHA256`, and the parsed table
must have shape ``(1797, 65)`` with pixels in 0..16 and labels in 0..9. A file that fails
a check (a damaged installation) raises ``ValueError`` naming the file and the check.
"""
import gzip
import hashlib
import io
from importlib import resources

import numpy as np

IMAGE_SHAPE = (1, 8, 8)
MAX_VALUE = 16  # pixel values are integers 0..16
NUM_EXAMPLES = 1797
TEST_EVERY = 6  # every 6th image of each class (by position) is a test image
NUM_TEST = 304  # what that gives on the 1797 images, leaving 1493 for training

DATA_FILE = "digits.csv.gz"
SHA256 = "09f66e6debdee2cd2b5ae59e0d6abbb73fc2b0e0185d2e1957e9ebb51e23aa22"
MAX_COMPRESSED_BYTES = 1 << 20   # the file is 57523 bytes
MAX_TEXT_BYTES = 1 << 21         # and 264712 bytes once inflated


def data_path():
    """The shipped data file (a path-like resource inside the installed package)."""
    return resources.files("glassnet.datasets").joinpath("data", DATA_FILE)


def parse_digits_csv(raw, name=DATA_FILE):
    """Verify and parse the gzipped digits table ``raw`` (bytes).

    Returns ``(images, labels)``: images ``(1797, 1, 8, 8)`` float64 with integer values
    0..16, labels ``(1797,)`` int64 in 0..9. Raises ValueError (naming ``name``) when the
    bytes are not exactly the shipped file or do not parse to that table.
    """
    if len(raw) > MAX_COMPRESSED_BYTES:
        raise ValueError(f"digits data file {name!r} is over {MAX_COMPRESSED_BYTES} bytes; "
                         f"the installation is damaged: reinstall glassnet")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != SHA256:
        raise ValueError(f"digits data file {name!r} has SHA-256 {digest}, expected {SHA256}; "
                         f"the installation is damaged: reinstall glassnet")
    with gzip.GzipFile(fileobj=io.BytesIO(raw)) as f:
        text = f.read(MAX_TEXT_BYTES + 1)
    if len(text) > MAX_TEXT_BYTES:
        raise ValueError(f"digits data file {name!r} inflates to over {MAX_TEXT_BYTES} bytes")
    table = np.loadtxt(io.BytesIO(text), delimiter=",", dtype=np.int64, ndmin=2)
    expected = (NUM_EXAMPLES, int(np.prod(IMAGE_SHAPE)) + 1)
    if table.shape != expected:
        raise ValueError(f"digits data file {name!r} must hold a table of shape {expected}; "
                         f"got {table.shape}")
    pixels, labels = table[:, :-1], table[:, -1]
    if pixels.min() < 0 or pixels.max() > MAX_VALUE:
        raise ValueError(f"digits data file {name!r}: pixels must lie in 0..{MAX_VALUE}; got "
                         f"{pixels.min()}..{pixels.max()}")
    if labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"digits data file {name!r}: labels must lie in 0..9; got "
                         f"{labels.min()}..{labels.max()}")
    images = pixels.astype(np.float64).reshape((NUM_EXAMPLES,) + IMAGE_SHAPE)
    return images, labels.copy()


def load_digits_arrays():
    """All digits: images ``(1797, 1, 8, 8)`` float64 with values 0..16, labels int64
    (the arrays of ``sklearn.datasets.load_digits()``: ``images`` with a channel axis, and
    ``target``)."""
    resource = data_path()
    try:
        with resource.open("rb") as f:
            raw = f.read(MAX_COMPRESSED_BYTES + 1)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"the digits data file {str(resource)!r} that ships with "
                                f"glassnet is missing; the installation is incomplete: "
                                f"reinstall glassnet") from exc
    return parse_digits_csv(raw, str(resource))


def test_split_mask(labels):
    """Boolean mask of the test images: within each class, the 1st, 7th, 13th, ... image.

    The set has no official test split and its images come roughly grouped by writer, so
    a stratified split taken across the whole file (fixed, no random numbers) gives a
    test set with every class and every writer group in proportion: 304 test images.
    """
    labels = np.asarray(labels)
    mask = np.zeros(labels.shape, dtype=bool)
    for c in np.unique(labels):
        mask[np.flatnonzero(labels == c)[::TEST_EVERY]] = True
    return mask
