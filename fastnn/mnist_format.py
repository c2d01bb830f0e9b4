"""MNIST's geometry, defined once for every layer: 28x28 gray images (784 pixels) in 10 classes.

The library is not tied to MNIST, but its defaults are (``metrics.confusion_matrix``'s
class count); the data layer (:mod:`fastnn.data.mnist_format`, which adds the IDX files)
and the commands read the same names. Fashion-MNIST and KMNIST share the format.
"""

#: Side of an image in pixels.
IMAGE_SIDE = 28
#: Pixels per image, the network's input size.
N_PIXELS = IMAGE_SIDE * IMAGE_SIDE
#: Classes (digits 0-9, or the ten Fashion-MNIST / KMNIST classes).
N_CLASSES = 10
