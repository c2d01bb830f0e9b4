"""MNIST's geometry, defined once: 28x28 gray images (784 pixels) in 10 classes.

Every reader, check and plot of the data layer and the commands uses these names
(Fashion-MNIST and KMNIST share the format).
"""

#: Side of an image in pixels.
IMAGE_SIDE = 28
#: Pixels per image, the network's input size.
N_PIXELS = IMAGE_SIDE * IMAGE_SIDE
#: Classes (digits 0-9, or the ten Fashion-MNIST / KMNIST classes).
N_CLASSES = 10
