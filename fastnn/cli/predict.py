"""``python -m fastnn.predict``: classify your own digit images, or look at the test set's.

``IMAGE...`` files (PNG, JPEG, ... read with Pillow, the ``images`` extra) are
brought into MNIST's form by :func:`fastnn.data.images.preprocess_digit` (gray, inverted
if the background is light, cropped, scaled to 20 px, centred by centre of mass in
28x28). ``--sample N`` instead takes image N of the data set's test split (or
``--split``) and draws it as ASCII art next to its true and predicted label, as the
from-scratch tutorials do. ``--show`` draws what the network sees for image files too.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from fastnn.cli import common as cli
from fastnn.cli.inputs import (
    add_data_flags,
    class_names_for,
    describe_model,
    load_data,
    load_model_and_labels,
    select_split,
    split_name,
    warning,
)
from fastnn.data import N_CLASSES, scale_pixels
from fastnn.data.images import SIDE, ImageWarning, MissingDependencyError, load_digit
from fastnn.errors import FastnnError, InvalidParameterError

#: Gray levels of the ASCII art, dark to light (each pixel is two characters wide, so
#: the 28x28 digit keeps its proportions in a terminal).
ART_LEVELS = " .:-=+*#%@"


def ascii_art(image: np.ndarray, levels: str = ART_LEVELS) -> list[str]:
    """A 28x28 image (floats in [0, 1] or uint8) as framed text lines, two characters per pixel.

    Returns ``SIDE + 2`` lines: a ``+---+`` frame line, one ``|...|`` line per image row,
    and the closing frame line.
    """
    x = np.asarray(image, dtype=np.float64).reshape(SIDE, SIDE)
    if np.asarray(image).dtype == np.uint8:
        x = x / 255.0
    idx = np.clip(np.rint(x * (len(levels) - 1)), 0, len(levels) - 1).astype(np.int64)
    edge = "+" + "-" * (2 * SIDE) + "+"
    return [edge, *("|" + "".join(levels[i] * 2 for i in row) + "|" for row in idx), edge]


def _label(k: int, names: Sequence[str] | None) -> str:
    """``7``, or ``7 Sneaker`` when the classes have names."""
    return str(k) if names is None else f"{k} {names[k]}"


def _probabilities_line(proba: np.ndarray, top: int | None, names: Sequence[str] | None = None) -> str:
    if top is None:
        return "  p: " + " | ".join(f"{_label(k, names)} {p:.4f}" for k, p in enumerate(proba))
    best = np.argsort(-proba, kind="stable")[:top]
    return f"  top {top}: " + " | ".join(f"{_label(int(k), names)} {proba[k]:.4f}" for k in best)


def _record(
    source: str, proba: np.ndarray, top: int | None, names: Sequence[str] | None = None
) -> dict[str, Any]:
    pred = int(np.argmax(proba))
    rec: dict[str, Any] = {
        "source": source,
        "predicted": pred,
        "probability": float(proba[pred]),
        "probabilities": [float(p) for p in proba],
    }
    if names is not None:
        rec["predicted_name"] = names[pred]
    if top is not None:
        rec["top"] = [
            {"digit": int(k), "probability": float(proba[k])} for k in np.argsort(-proba, kind="stable")[:top]
        ]
        if names is not None:
            for entry in rec["top"]:
                entry["name"] = names[entry["digit"]]
    return rec


def top_k(text: str) -> int:
    """argparse type: 1..N_CLASSES."""
    value = cli.positive_int(text)
    if value > N_CLASSES:
        raise argparse.ArgumentTypeError(
            f"must be between 1 and {N_CLASSES} (there are {N_CLASSES} classes); got {text!r}"
        )
    return value


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fastnn.predict",
        formatter_class=cli.HelpFormatter,
        description="Classify digit images with a saved model: each IMAGE is converted to grayscale, "
        "inverted if its background is light, cropped to the ink, scaled to 20 pixels and "
        "centred by centre of mass in 28x28, as MNIST was made. --sample N shows test image "
        "N as ASCII art with its true and predicted label.",
        epilog="Exit status: 0 done, 2 bad flags, model, data or image file. Reading image files needs "
        "Pillow: pip install 'fastnn[images]'.",
    )
    p.add_argument(
        "images",
        metavar="IMAGE",
        nargs="*",
        type=Path,
        help="digit image files (PNG, JPEG, BMP, ...); either polarity, any size",
    )
    cli.add_model_flags(p)
    inp = p.add_argument_group("input")
    inp.add_argument(
        "--invert",
        choices=("auto", "yes", "no"),
        default="auto",
        help="whether IMAGE files are dark ink on a light background; auto decides from the border pixels",
    )
    inp.add_argument(
        "--sample",
        metavar="N",
        type=cli.nonnegative_int,
        action="append",
        default=None,
        help="show image N of the data set (repeatable), as ASCII art, with its labels",
    )
    add_data_flags(inp, "where --sample takes its images from")
    out = p.add_argument_group("output")
    out.add_argument(
        "--top",
        metavar="K",
        type=top_k,
        default=None,
        help=f"print only the K most probable digits (default: all {N_CLASSES} probabilities)",
    )
    out.add_argument(
        "--show", action="store_true", help="also draw each IMAGE as the network sees it (28x28 ASCII art)"
    )
    out.add_argument(
        "--json", action="store_true", help="print one JSON document with every prediction instead of text"
    )
    return p


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit status (see the --help epilog)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.images and not args.sample:
        parser.error("nothing to predict: give IMAGE files and/or --sample N")
    return cli.command(lambda: run(args))


def run(args: argparse.Namespace) -> int:
    invert = {"auto": None, "yes": True, "no": False}[args.invert]
    try:
        model, model_labels = load_model_and_labels(args)
        data = None
        # Read every file before printing anything, and report every bad one at once.
        inputs, errors = [], []
        for path in args.images:
            try:
                with warnings.catch_warnings(record=True) as caught:
                    warnings.simplefilter("always", ImageWarning)
                    inputs.append(load_digit(path, invert))
                for w in caught:
                    warning(str(w.message))
            except FastnnError as exc:
                if isinstance(exc, MissingDependencyError):  # Pillow missing: one message
                    raise
                errors.append(str(exc))
        if errors:
            for message in errors[:-1]:
                print(f"fastnn: error: {message}", file=sys.stderr)
            return cli.error(errors[-1])
        samples: list[tuple[int, np.ndarray, int]] = []
        source = ""
        if args.sample:
            data = load_data(args)
            source = f"data: {data.source}: {split_name(args)}"
            images, labels = select_split(args, data)
            for n in args.sample:
                if n >= len(images):
                    raise InvalidParameterError(
                        f"--sample {n}: the {split_name(args)} of {data.source} has {len(images):,} images "
                        f"(0..{len(images) - 1:,})"
                    )
                samples.append((n, images[n], int(labels[n])))
        x = np.empty((len(inputs) + len(samples), SIDE * SIDE), dtype=model.dtype)
        for i, image in enumerate(inputs):
            x[i] = image.reshape(-1)
        if samples:  # exactly as training scaled them
            x[len(inputs) :] = scale_pixels(np.stack([s[1] for s in samples]), model.dtype)
        proba = model.predict_proba(x)
        names = class_names_for(model, model_labels, data)
    except FastnnError as exc:
        return cli.error(str(exc))

    records = []
    if not args.json:
        print(f"model: {describe_model(model, args.model)}")
    for i, path in enumerate(args.images):
        rec = _record(str(path), proba[i], args.top, names)
        records.append(rec)
        if args.json:
            continue
        print(f"{path}: predicted {_label(rec['predicted'], names)} (p {rec['probability']:.4f})")
        if args.show:
            print("\n".join(ascii_art(inputs[i])))
        print(_probabilities_line(proba[i], args.top, names))
    if samples and not args.json:
        print(source)
    for j, (n, image, label) in enumerate(samples):
        p = proba[len(inputs) + j]
        rec = _record(f"{args.split}[{n}]", p, args.top, names)
        rec.update(split=args.split, index=n, label=label, correct=rec["predicted"] == label)
        if names is not None:
            rec["label_name"] = names[label]
        records.append(rec)
        if args.json:
            continue
        verdict = "correct" if rec["correct"] else "WRONG"
        print(
            f"{args.split} image {n}: true {_label(label, names)}, predicted "
            f"{_label(rec['predicted'], names)} (p {rec['probability']:.4f}): {verdict}"
        )
        print("\n".join(ascii_art(image)))
        print(_probabilities_line(p, args.top, names))
    if args.json:
        doc = {"model": str(args.model), "backend": model.backend.name, "predictions": records}
        print(json.dumps(cli.json_safe(doc), indent=2, allow_nan=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
