"""fit's defaults live in one place, FitConfig: MLP.fit's keywords, the command line's
flags for the same options and evaluate's --val-size all take them from there."""

from __future__ import annotations

import argparse
import dataclasses
import inspect

from fastnn import MLP
from fastnn.cli import common
from fastnn.cli.fit_options import build_parser
from fastnn.cli.inputs import add_data_flags
from fastnn.fit_config import FitConfig


def _defaults() -> dict[str, object]:
    return {f.name: f.default for f in dataclasses.fields(FitConfig) if f.init}


def test_fit_keywords_default_to_the_config():
    params = inspect.signature(MLP.fit).parameters
    for name, default in _defaults().items():
        assert params[name].default is default, f"MLP.fit's {name} defaults apart from FitConfig"


def test_train_flags_default_to_the_config():
    args = build_parser().parse_args([])
    for name in ("lr", "optimizer", "momentum", "weight_decay", "lr_schedule", "lr_step", "lr_gamma", "tol"):
        assert getattr(args, name) == _defaults()[name], (
            f"--{name.replace('_', '-')} defaults apart from FitConfig"
        )
    assert args.val_size == common.VAL_SIZE


def test_evaluate_splits_the_data_as_train_does():
    parser = argparse.ArgumentParser()
    add_data_flags(parser.add_argument_group("data"), "what to score")
    assert parser.parse_args([]).val_size == build_parser().parse_args([]).val_size == common.VAL_SIZE
