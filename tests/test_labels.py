"""One label check (fastnn.validation.check_y) behind every place that takes class labels."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

from fastnn import MLP
from fastnn.data import load_npz, one_hot
from fastnn.errors import DataError, InvalidParameterError
from fastnn.metrics import confusion_matrix
from fastnn.validation import check_y

RANGE = r"must hold labels in \[0, 2\] \(3 classes\); got values from 0 to 7 \(index 1 is 7\)"


def _fit(y: np.ndarray) -> None:
    X = np.zeros((len(y), 4))
    MLP([4, 3], activations=["softmax"], backend="numpy").fit(X, y, epochs=1)


@pytest.mark.parametrize(
    ("call", "subject"),
    [
        (lambda y: check_y(y, 3, 3), "the 'y' parameter"),
        (_fit, "the 'y' parameter"),
        (lambda y: confusion_matrix(y, [0, 0, 0], 3), "the 'y_true' parameter"),
        (lambda y: confusion_matrix([0, 0, 0], y, 3), "the 'y_pred' parameter"),
        (lambda y: one_hot(y, 3), "the 'y' parameter"),
    ],
    ids=["check_y", "fit", "y_true", "y_pred", "one_hot"],
)
def test_every_argument_check_says_the_same(call, subject):
    with pytest.raises(InvalidParameterError, match=f"^{subject} {RANGE}$"):
        call(np.array([0, 7, 1]))
    with pytest.raises(InvalidParameterError, match=f"^{subject} must hold integer class labels; got dtype"):
        call(np.array([0.0, 0.5, 1.0]))


@pytest.mark.parametrize("y", [[1e20, 0.0], [-1e30, 0.0]], ids=["huge", "huge-negative"])
def test_huge_float_labels_are_refused_not_wrapped(y):
    # main cast them to int64 first: a RuntimeWarning (an error under -W error), or a
    # wrapped value reported as a label it never was.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(
            InvalidParameterError, match=r"labels in \[0, 9\] \(10 classes\); got values from"
        ):
            check_y(np.array(y), 2, 10)


def test_whole_floats_and_any_integer_dtype_are_labels():
    np.testing.assert_array_equal(check_y(np.array([2.0, 0.0]), 2, 3), [2, 0])
    np.testing.assert_array_equal(check_y(np.array([2, 0], np.uint8), None, 3), [2, 0])
    assert check_y(np.array([1], np.uint64), 1, 3).dtype == np.int64
    np.testing.assert_array_equal(confusion_matrix([1.0, 0.0], [1, 1], 2), [[0, 1], [0, 1]])
    with pytest.raises(InvalidParameterError, match=r"labels in \[0, 2\] .* 18446744073709551615"):
        check_y(np.array([2**64 - 1], np.uint64), 1, 3)  # exact, and never wrapped to -1


def test_shape_errors_name_the_argument():
    with pytest.raises(InvalidParameterError, match=r"^the 'y_true' parameter must be 1-D .* \(2, 2\)$"):
        confusion_matrix(np.zeros((2, 2), int), [0, 1], 3)
    with pytest.raises(InvalidParameterError, match=r"one-hot array of shape \(2, 3\)"):
        one_hot(np.eye(3)[:2], 3)
    with pytest.raises(InvalidParameterError, match=r"^the 'y' parameter must hold integer class labels; "):
        check_y([[0], [1, 2]], None, 3)  # ragged: NumPy's own error, in our words


def test_label_files_get_the_same_check_naming_the_file(tmp_path):
    # An IDX label file: tests/test_data_bad_files.py::test_idx_count_mismatch_label_range_and_image_size.
    buf = io.BytesIO()
    flat = np.zeros((2, 784), np.uint8)
    np.savez(buf, x_train=flat, y_train=np.array([0.0, 2.5]), x_test=flat, y_test=np.array([0, 1]))
    (tmp_path / "m.npz").write_bytes(buf.getvalue())
    with pytest.raises(
        DataError, match=r"m.npz: 'y_train' must hold integer class labels; got dtype float64$"
    ):
        load_npz(tmp_path / "m.npz")
