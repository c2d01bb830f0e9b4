"""``python -m fastnn.export MODEL.npz MODEL.onnx``: a saved model as an ONNX file.

The graph is built by :mod:`fastnn.onnx_export` (standard operators, opset 17,
dynamic batch, checked by ``onnx.checker``) and written atomically; the model's
dataset and class names, when its file records them, go into the ONNX metadata.
Needs the ``onnx`` extra (``pip install 'fastnn[onnx]'``).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from fastnn.cli import common as cli
from fastnn.errors import DataError, FastnnError
from fastnn.onnx_export import OPSET, OUTPUT_NAMES, export_onnx


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m fastnn.export",
        description=f"Export a model saved by fastnn (.npz) to ONNX (opset {OPSET}, standard operators, "
        "any batch size). The graph takes pixels scaled to [0, 1] in the model's dtype and returns "
        "class probabilities, or the logits with --logits.",
        epilog="Needs the onnx extra: pip install 'fastnn[onnx]'. Exit status: 0 done, 2 bad flags, "
        "model file, output path or onnx missing.",
    )
    p.add_argument("model", metavar="MODEL.npz", type=Path, help="a model written by fastnn (--save)")
    p.add_argument("output", metavar="MODEL.onnx", type=Path, help="the ONNX file to write")
    p.add_argument(
        "--logits",
        action="store_true",
        help=f"output the logits (pre-softmax) as '{OUTPUT_NAMES[True]}' instead of '{OUTPUT_NAMES[False]}'",
    )
    return p


def check_output_path(model: Path, output: Path) -> None:
    """Refuse an output that is the model file itself or a directory (DataError)."""
    if output.is_dir():
        raise DataError(f"{output}: is a directory; give the path of the .onnx file to write")
    try:
        same = output.exists() and model.exists() and os.path.samefile(model, output)
    except OSError:
        same = False
    if same or (not output.exists() and output.resolve() == model.resolve()):
        raise DataError(f"{output}: is the input model file; choose another output path")
    if not (output.parent if str(output.parent) else Path(".")).is_dir():
        raise DataError(f"{output}: cannot write, directory {output.parent} does not exist")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command; returns the exit status (see the --help epilog)."""
    from fastnn.model_loading import load_model_and_labels

    args = build_parser().parse_args(argv)
    try:
        check_output_path(args.model, args.output)
        try:
            model, labels = load_model_and_labels(args.model)
        except FastnnError as exc:
            raise type(exc)(f"MODEL: {exc}") from None
        export_onnx(
            model,
            args.output,
            logits=args.logits,
            class_names=labels.class_names,
            dataset=labels.dataset,
        )
    except (FastnnError, OSError) as exc:
        return cli.error(str(exc))
    except KeyboardInterrupt:
        print("interrupted; no partial file was kept", file=sys.stderr)
        return cli.EXIT_INTERRUPTED
    what = OUTPUT_NAMES[args.logits]
    names = f", class names of {labels.dataset or 'the model'}" if labels.class_names else ""
    print(
        f"wrote {args.output}: {'-'.join(map(str, model.layer_sizes))} {model.dtype.name}, "
        f"opset {OPSET}, output '{what}'{names}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
