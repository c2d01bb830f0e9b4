"""Numba kernels for fastnn, installed as ``fastnn.kernels``.

Only ``fastnn.backends.numba_backend`` imports this package; it imports nothing from
fastnn, so every kernel can be read and tested on its own.
"""
