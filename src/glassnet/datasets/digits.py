"""The small 8x8 handwritten digits set that scikit-learn ships (1797 images, no download).

scikit-learn is an optional dependency (``pip install scikit-learn``).
"""
import numpy as np

IMAGE_SHAPE = (1, 8, 8)
MAX_VALUE = 16  # pixel values are integers 0..16
NUM_TEST = 297  # the last 297 images form the test split, leaving 1500 for training


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
