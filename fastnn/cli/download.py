"""``python -m fastnn.data download``: fetch and verify MNIST, Fashion-MNIST or KMNIST into the cache."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from fastnn.cli.common import command
from fastnn.data.cache import ENV_DATA_DIR, default_cache_dir
from fastnn.data.datasets import dataset_cache_dir, download_dataset, get_dataset
from fastnn.data.download import ENV_MIRRORS
from fastnn.errors import DataError, InvalidParameterError


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m fastnn.data download [--data NAME] [--dir DIR]``; returns the exit status.

    Prints the directory holding the verified files on stdout (progress on stderr).
    Exit 0 on success, 1 when the download failed (one ``fastnn: error:`` message, no
    traceback), 2 for bad arguments, 130 when interrupted.
    """
    parser = argparse.ArgumentParser(
        prog="python -m fastnn.data",
        description="fastnn data tools.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    download = commands.add_parser(
        "download",
        help="download the full MNIST (or Fashion-MNIST, KMNIST) into the cache and verify it",
        description="Download the four IDX gz files of MNIST (70,000 digits), Fashion-MNIST or KMNIST, "
        "verify their published checksums and print the directory that holds them. Files already "
        "there and verified are kept.",
        epilog=f"Mirrors are tried in order; {ENV_MIRRORS}=URL[,URL...] replaces them for MNIST "
        "(FASTNN_FASHION_MNIST_MIRRORS, FASTNN_KMNIST_MIRRORS for the others), e.g. an internal "
        "mirror. Exit status: 0 done, 1 download failed, 2 bad arguments.",
    )
    download.add_argument(
        "--data",
        metavar="NAME",
        default="mnist",
        choices=("mnist", "fashion-mnist", "kmnist"),
        help="which data set: mnist (default), fashion-mnist or kmnist",
    )
    download.add_argument(
        "--dir",
        metavar="DIR",
        type=Path,
        default=None,
        help=f"where to put the files (default for mnist: ${ENV_DATA_DIR} if set, else "
        f"{default_cache_dir()}; for the others a folder of their name beside it)",
    )
    download.add_argument("-q", "--quiet", action="store_true", help="no progress output")
    args = parser.parse_args(argv)
    return command(lambda: _download_command(args))


def _download_command(args: argparse.Namespace) -> int:
    try:
        where = download_dataset(args.data, args.dir, progress=False if args.quiet else None)
    except DataError as exc:
        print(f"fastnn: error: {exc}", file=sys.stderr)
        return 1
    except InvalidParameterError as exc:
        print(f"fastnn: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted; no partial file was kept", file=sys.stderr)
        return 130
    print(where)
    if not args.quiet:
        use = f"--data {args.data}" if where == dataset_cache_dir(args.data) else f"--data {where}"
        print(f"fastnn: {get_dataset(args.data).title} verified; train on it with {use}", file=sys.stderr)
    return 0
