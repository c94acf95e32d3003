"""The small 8x8 handwritten digits set that scikit-learn ships (1797 images, no download).

scikit-learn is an optional dependency (``pip install scikit-learn``).
"""
import numpy as np

IMAGE_SHAPE = (1, 8, 8)
MAX_VALUE = 16  # pixel values are integers 0..16
TEST_EVERY = 6  # every 6th image of each class (by position) is a test image
NUM_TEST = 304  # what that gives on the 1797 images, leaving 1493 for training


def load_digits_arrays():
    """All digits: images ``(1797, 1, 8, 8)`` float64 with values 0..16, labels int64."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise ImportError("the 'digits' data set comes with scikit-learn, which is not "
                          "installed; install it with `pip install scikit-learn` (or "
                          "`pip install glassnet[cli]`)", name="sklearn") from exc
    bunch = load_digits()
    images = np.asarray(bunch.images, dtype=np.float64)
    return images.reshape((len(images),) + IMAGE_SHAPE), np.asarray(bunch.target, dtype=np.int64)


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
