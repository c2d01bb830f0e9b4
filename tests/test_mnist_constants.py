"""MNIST's geometry is defined once, in the library (fastnn.mnist_format): the data layer
re-exports it and the library's MNIST defaults (confusion_matrix's class count) use it."""

from __future__ import annotations

import ast
from pathlib import Path

import fastnn
import fastnn.data.mnist_format as data_format
import fastnn.mnist_format as library_format
from fastnn.metrics import confusion_matrix

NAMES = ("IMAGE_SIDE", "N_PIXELS", "N_CLASSES")


def test_each_constant_is_assigned_in_one_module():
    package = Path(fastnn.__file__).parent
    assigned: dict[str, list[str]] = {name: [] for name in NAMES}
    for path in sorted(package.rglob("*.py")):
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Name) and leaf.id in assigned:
                        assigned[leaf.id].append(path.relative_to(package).as_posix())
    assert assigned == {name: ["mnist_format.py"] for name in NAMES}, assigned


def test_the_data_layer_re_exports_the_library_constants():
    for name in NAMES:
        assert getattr(data_format, name) == getattr(library_format, name)
    assert library_format.N_PIXELS == library_format.IMAGE_SIDE**2 == 784


def test_confusion_matrix_counts_mnist_classes_by_default():
    cm = confusion_matrix([0, 9, 9], [0, 9, 3])
    assert cm.shape == (library_format.N_CLASSES, library_format.N_CLASSES)
    assert cm[9, 9] == 1 and cm[9, 3] == 1 and cm.sum() == 3
