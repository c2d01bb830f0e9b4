"""fastnn.atomic: the one atomic-write helper (models, reports, plots, downloads, package data)."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest

from fastnn.atomic import atomic_part, atomic_write
from fastnn.data.embedded.rebuild import write_npz


@pytest.fixture
def umask_077():
    old = os.umask(0o077)
    yield
    os.umask(old)


def _mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_a_block_that_refuses_what_it_wrote_leaves_the_target_alone(tmp_path):
    target = tmp_path / "f.gz"
    target.write_bytes(b"old")
    with pytest.raises(ValueError, match="checksum"), atomic_part(target) as part:
        part.file.write(b"new bytes")
        part.file.flush()
        assert part.path.parent == tmp_path and part.path.read_bytes() == b"new bytes"
        raise ValueError("checksum mismatch")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f.gz"]
    with atomic_part(target) as part:
        part.file.write(b"verified")
    assert target.read_bytes() == b"verified" and os.listdir(tmp_path) == ["f.gz"]


def test_permissions_default_to_open_and_can_be_set_exactly(tmp_path, umask_077):
    with atomic_write(tmp_path / "a", "w") as fh:
        fh.write("a")
    assert _mode(tmp_path / "a") == 0o600  # 0o666 less the umask, as open() creates it
    with atomic_write(tmp_path / "b", "w", permissions=0o640) as fh:
        fh.write("b")
    assert _mode(tmp_path / "b") == 0o640


def test_rebuilt_package_data_is_readable_by_all_whatever_the_umask(tmp_path, umask_077):
    # main chmodded it to 0o644 less the umask afterwards: 0o600 here, unreadable to others.
    path = tmp_path / "mnist_5k.npz"
    write_npz(path, np.zeros((2, 784), np.uint8), np.array([0, 1], np.uint8))
    assert _mode(path) == 0o644
    with np.load(path) as npz:
        np.testing.assert_array_equal(npz["labels"], [0, 1])
