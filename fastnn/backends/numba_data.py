"""What the numba backend derives from the training data once per fit.

Zero-skipping needs each row's non-zero inputs; full-batch runs want X transposed.
Both depend only on X and the batch size, so ``NumbaBackend.prepare`` makes them once
per ``fit`` and every epoch reuses them. They are used only with the very array they
were made from (``Prepared.is_for``): only that is safe to index X with.
"""

from __future__ import annotations

import numpy as np

from fastnn.kernels import sparse as k_sparse

#: Per-sample runs skip zero inputs when at least this fraction of them is zero. Skipping
#: is exact, so this only decides speed: the list costs an index load per input, and
#: pays once about a third of the inputs are zero (MNIST: ~80%).
SPARSE_THRESHOLD = 0.3

#: Mini-batch runs skip zero inputs in the first layer when at least this fraction of
#: them is zero. The sparse products stream one weight row per non-zero input instead
#: of a blocked GEMM, so they need more zeros to win than per-sample runs do
#: (``python -m benchmarks.sparsity`` measures the crossover).
BATCH_SPARSE_THRESHOLD = 0.5

#: Mini-batches larger than this skip zeros only when the first layer has at least
#: ``WIDE_FIRST_LAYER`` units. A list walk costs per non-zero input whatever the width,
#: and BLAS gets more efficient with more rows: measured on MNIST (one thread, fit wall
#: per epoch, dense / sparse), 784-128-64-10 won 1.08x at batch 64 but lost (0.95x) at
#: batch 256, while 784-256-128-10 won 1.20x, 1.17x and 1.15x at batch 64, 128 and 256.
NARROW_MAX_BATCH = 128
WIDE_FIRST_LAYER = 256

#: Full-batch training keeps a transposed copy of X (once per fit) when X is at most
#: this big: the first layer's gradient is then ``X.T`` stored C-contiguous times the
#: delta, a product BLAS runs faster than the same product on the F-ordered view.
#: Above it, the copy's memory is not worth the time saved; the view is used.
TRANSPOSE_MAX_BYTES = 1 << 30


def zero_fraction(X: np.ndarray, max_rows: int = 2048) -> float:
    """Fraction of exact zeros in (up to) the first ``max_rows`` rows of X."""
    head = X[:max_rows]
    return float(np.count_nonzero(head == 0)) / max(head.size, 1)


class BufferPool:
    """Scratch arrays kept from one fit to the next, grown when too small.

    The non-zero lists of full MNIST take 75 MB; allocating them afresh every fit cost
    more in page faults (the kernel zeroing each new page) than filling them, and a
    loop of ``fit(epochs=1)`` calls, as benchmarks and callbacks-by-hand use, paid it
    every epoch. Each fill starts a new ``generation``: lists made earlier from the same
    pool are then stale (``NonzeroRows.current``) and are never read again, since the
    kernels index X and the weights with them and Numba does not bounds-check.
    """

    def __init__(self) -> None:
        self._arrays: dict[str, np.ndarray] = {}
        self.generation = 0

    def take(self, name: str, size: int, dtype: np.dtype | type) -> np.ndarray:
        """A 1-D array of ``size`` elements of ``dtype`` (contents undefined)."""
        dtype = np.dtype(dtype)
        have = self._arrays.get(name)
        if have is None or have.dtype != dtype or have.shape[0] < size:
            have = self._arrays[name] = np.empty(size, dtype=dtype)
        return have[:size]


class NonzeroRows:
    """Each row's non-zero column indices (int32) and values in CSR form.

    Built by compiled kernels (count, then fill: two passes over X and no intermediate
    index arrays) once per fit: ``np.nonzero`` over MNIST's 47 million pixels alone
    took 0.22 s.
    """

    def __init__(self, X: np.ndarray, pool: BufferPool | None = None) -> None:
        pool = pool or BufferPool()
        pool.generation += 1
        self._pool, self._generation = pool, pool.generation
        self.indptr = pool.take("indptr", X.shape[0] + 1, np.int64)
        k_sparse.count_nonzeros(X, self.indptr)
        nnz = int(self.indptr[-1])
        indices = pool.take("indices", nnz + 1, np.int32)
        values = pool.take("values", nnz + 1, X.dtype)
        k_sparse.list_nonzeros(X, self.indptr, indices, values)
        self.indices, self.values = indices[:nnz], values[:nnz]

    def current(self) -> bool:
        """False once a later fill of the same pool has overwritten these lists."""
        return self._pool.generation == self._generation

    def max_batch_nonzeros(self, order: np.ndarray, batch_size: int) -> int:
        """The most non-zeros in one batch of ``order`` (the scratch a batch needs).

        Summed over the batches as they come, not over the ``batch_size`` fullest rows:
        an order may repeat a row (the backend API allows any in-range order), and the
        kernel writes every non-zero of every row of a batch into this scratch.
        """
        per_row = np.diff(self.indptr)[order]
        if per_row.shape[0] == 0:
            return 0
        return int(np.add.reduceat(per_row, np.arange(0, per_row.shape[0], batch_size)).max())


class Prepared:
    """What ``NumbaBackend.prepare`` made from the training inputs X.

    ``nonzero``: the zero-skipping lists (None when X is too dense to skip zeros, or the
    run is full-batch); ``transposed``: X.T as a C-contiguous copy for full-batch runs
    (else None).
    """

    def __init__(self, X: np.ndarray, nonzero: NonzeroRows | None, transposed: np.ndarray | None) -> None:
        self.source = X
        self.shape = X.shape
        self.nonzero = nonzero
        self.transposed = transposed

    def is_for(self, X: np.ndarray) -> bool:
        return self.source is X and self.shape == X.shape


def skips_zeros(
    X: np.ndarray, batch_size: int | None, skip_zeros: bool | None, first_units: int | None = None
) -> bool:
    """Whether a run with this batch size (and first layer width, if known) takes the
    zero-skipping first layer.

    ``skip_zeros`` True or False forces it (benchmarks compare the two paths); None
    decides by the measured fraction of zeros, and for large mini-batches by the first
    layer's width (see ``NARROW_MAX_BATCH``). Full-batch runs never skip zeros: their
    first layer is two tall BLAS products, which a list walk does not beat (measured
    0.77x on MNIST 784-10-10).
    """
    n = X.shape[0]
    if batch_size is not None and batch_size >= n > 1:
        return False
    if skip_zeros is not None:
        return skip_zeros
    if batch_size in (None, 1):
        return zero_fraction(X) >= SPARSE_THRESHOLD
    if batch_size > NARROW_MAX_BATCH and first_units is not None and first_units < WIDE_FIRST_LAYER:
        return False
    return zero_fraction(X) >= BATCH_SPARSE_THRESHOLD


def prepare(
    X: np.ndarray,
    batch_size: int | None,
    skip_zeros: bool | None,
    pool: BufferPool | None = None,
    first_units: int | None = None,
) -> Prepared | None:
    """The per-fit data for ``X`` and ``batch_size`` (None: per-sample or unknown), or
    None when the run needs none."""
    nonzero = NonzeroRows(X, pool) if skips_zeros(X, batch_size, skip_zeros, first_units) else None
    transposed = None
    if batch_size is not None and batch_size >= X.shape[0] > 1 and X.nbytes <= TRANSPOSE_MAX_BYTES:
        transposed = np.ascontiguousarray(X.T)
    if nonzero is None and transposed is None:
        return None
    return Prepared(X, nonzero, transposed)


def nonzero_rows(
    X: np.ndarray, prepared: object, batch_size: int, skip_zeros: bool | None, first_units: int | None = None
) -> NonzeroRows | None:
    """The non-zero lists to skip zeros with, or None for the dense path.

    Lists ``prepare`` made for this very array are reused (they already settled that X
    is sparse enough); otherwise they are made here when this run should skip zeros.
    """
    if isinstance(prepared, Prepared) and prepared.is_for(X):
        if prepared.nonzero is not None and not prepared.nonzero.current():
            return NonzeroRows(X) if skip_zeros is not False else None  # lists overwritten since
        if prepared.nonzero is not None and skip_zeros is not False:
            return prepared.nonzero
        if skip_zeros is None:
            return None
    return NonzeroRows(X) if skips_zeros(X, batch_size, skip_zeros, first_units) else None


def transposed(X: np.ndarray, prepared: object) -> np.ndarray:
    """X.T stored C-contiguous if ``prepare`` made it for this X, else an empty array
    (the kernels then use the F-ordered view ``X.T``)."""
    if isinstance(prepared, Prepared) and prepared.is_for(X) and prepared.transposed is not None:
        return prepared.transposed
    return np.empty((0, 0), dtype=X.dtype)
