"""MNIST's files: the four IDX files of its standard 60,000 / 10,000 split and their sizes,
with the geometry they hold (28x28 gray images, 784 pixels, 10 classes), which is the
library's :mod:`fastnn.mnist_format` and re-exported here.

Every reader, check and plot of the data layer and the commands uses these names
(Fashion-MNIST and KMNIST share the format).
"""

from fastnn.mnist_format import IMAGE_SIDE, N_CLASSES, N_PIXELS

__all__ = ["IDX_FILES", "IDX_SIZES", "IMAGE_SIDE", "N_CLASSES", "N_PIXELS"]

#: Field of MnistData -> standard MNIST IDX file name (each may also end in ".gz").
IDX_FILES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}
#: Field -> bytes of that IDX file uncompressed: a header of 4 bytes plus 4 per
#: dimension, then one byte per pixel or label.
IDX_SIZES = {
    "x_train": 16 + 60_000 * N_PIXELS,
    "y_train": 8 + 60_000,
    "x_test": 16 + 10_000 * N_PIXELS,
    "y_test": 8 + 10_000,
}
