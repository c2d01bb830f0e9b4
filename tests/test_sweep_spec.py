"""Sweep specs: spec files as hostile input, --grid flags, grid and seeded samples, trial keys.

No cluster here: these are the parts that decide what runs, checked with train's parser.
"""

from __future__ import annotations

import json

import pytest

from fastnn.cli.sweep.spec import (
    MAX_SPEC_BYTES,
    SweepSpec,
    add_grid_flag,
    build_trials,
    read_spec_file,
    train_parser,
)
from fastnn.data import load_dataset
from fastnn.errors import DataError, InvalidParameterError
from fastnn.fit_config import FitConfig

BASE = ["--data", "embedded", "--epochs", "1", "--train-size", "500", "--batch-size", "32"]


@pytest.fixture(scope="module")
def data():
    return load_dataset("embedded")


def grid(*flags: str) -> SweepSpec:
    spec, parser = SweepSpec(), train_parser()
    for text in flags:
        add_grid_flag(spec, text, parser)
    return spec


def test_grid_flags_make_every_combination_parsed_by_train(data):
    spec = grid("lr=0.01,0.1", "batch-size=16,full", "layers=784,32,10;784,64,10")
    assert grid("layers=784,32,10").grid == {"layers": ["784,32,10"]}  # one value: list options split on ;
    assert grid("activations=relu;tanh").grid == {"activations": ["relu", "tanh"]}
    trials = build_trials(spec, BASE[:-2], data, "d")
    assert len(trials) == 8
    first = trials[0]
    assert first.settings == {"lr": 0.01, "batch_size": 16, "layers": [784, 32, 10]}
    assert trials[1].settings["layers"] == [784, 64, 10]  # the last option changes fastest
    assert {t.settings["batch_size"] for t in trials} == {16, None}  # 'full' is train's None
    assert first.options["epochs"] == 1 and first.options["threads"] == 1
    assert len({t.key for t in trials}) == 8


def test_preset_is_the_starting_point_and_flags_override_it(data):
    trials = build_trials(grid("lr=0.5,1.0"), ["--preset", "tutorial", *BASE], data, "d")
    assert [t.options["lr"] for t in trials] == [0.5, 1.0]
    assert trials[0].options["layers"] == [784, 10, 10]  # from the preset
    assert trials[0].options["epochs"] == 1  # the command line beats the preset


def test_key_is_stable_and_depends_on_the_numbers_and_the_data(data):
    a = build_trials(grid("lr=0.1,0.2"), BASE, data, "d")
    b = build_trials(grid("lr=0.2,0.1"), BASE, data, "d")
    assert {t.key for t in a} == {t.key for t in b}
    c = build_trials(grid("lr=0.1,0.2"), BASE, data, "other data")
    assert not {t.key for t in a} & {t.key for t in c}
    threads = build_trials(grid("lr=0.1,0.2"), [*BASE, "--threads", "2"], data, "d")
    assert {t.key for t in threads} == {t.key for t in a}  # threads do not change the numbers


def test_duplicate_trials_run_once(data):
    # 0.1 and 1e-1 are different texts but the same number: one trial, not two.
    trials = build_trials(grid("lr=0.1,1e-1,0.2"), BASE, data, "d")
    assert [t.settings["lr"] for t in trials] == [0.1, 0.2]


def test_seeded_sample_is_reproducible_and_a_subset(data):
    spec = grid("lr=0.01,0.02,0.05,0.1,0.2", "momentum=0.5,0.9,0.99", "optimizer=momentum,nesterov")
    spec.samples, spec.sample_seed = 4, 7
    first = build_trials(spec, BASE, data, "d")
    again = build_trials(spec, BASE, data, "d")
    assert [t.key for t in first] == [t.key for t in again]
    assert len(first) == 4
    everything = {
        t.key
        for t in build_trials(
            grid(*["lr=0.01,0.02,0.05,0.1,0.2", "momentum=0.5,0.9,0.99", "optimizer=momentum,nesterov"]),
            BASE,
            data,
            "d",
        )
    }
    assert {t.key for t in first} <= everything
    spec.sample_seed = 8
    assert [t.key for t in build_trials(spec, BASE, data, "d")] != [t.key for t in first]


@pytest.mark.parametrize(
    ("flag", "message"),
    [
        ("lr=0.1,abc", r"--grid lr: argument --lr: must be a finite number; got 'abc'"),
        ("optimizer=sgd,lion", r"--grid optimizer: argument --optimizer: invalid choice: 'lion'"),
        ("nope=1,2", r"'nope' is not a python -m fastnn.train option"),
        ("save=a.npz", r"--save cannot be set per trial"),
        ("data=embedded,mnist", r"--data cannot be swept: the data are loaded once"),
        ("lr", r"expected NAME=V1,V2"),
        ("lr=0.1,0.1", r"a value is listed twice"),
    ],
)
def test_bad_grid_flags_name_the_flag(flag, message):
    with pytest.raises(InvalidParameterError, match=message):
        grid(flag)


def test_bad_combination_names_the_trial(data):
    with pytest.raises(
        InvalidParameterError,
        match=r"trial --layers 784,32,10 --activations relu,tanh,relu: --activations needs one name",
    ):
        build_trials(grid("layers=784,32,10", "activations=relu,tanh,relu;relu"), BASE, data, "d")
    with pytest.raises(InvalidParameterError, match=r"--batch-size 5,000 is more than the 500"):
        build_trials(grid("batch-size=32,5000"), BASE[:-2], data, "d")
    with pytest.raises(InvalidParameterError, match=r"--lr is given on the command line and swept"):
        build_trials(grid("lr=0.1,0.2"), [*BASE, "--lr", "0.3"], data, "d")
    with pytest.raises(InvalidParameterError, match=r"--checkpoint is not a sweep option"):
        build_trials(grid("lr=0.1"), [*BASE, "--checkpoint", "c.npz"], data, "d")


def test_the_batch_size_check_is_the_library_one(data, monkeypatch):
    """split_data asks FitConfig.batch_size_for (what MLP.fit checks) rather than keeping a
    rule of its own: a stricter library rule is the command line's rule too."""

    def at_most_16(self, n_samples):
        if self.batch_size is not None and self.batch_size > 16:
            raise InvalidParameterError("stricter")
        return self.batch_size or n_samples

    monkeypatch.setattr(FitConfig, "batch_size_for", at_most_16)
    with pytest.raises(InvalidParameterError, match=r"^trial --lr 0.1: --batch-size 32 "):
        build_trials(grid("lr=0.1"), BASE, data, "d")
    assert len(build_trials(grid("batch-size=8,16"), BASE[:-2], data, "d")) == 2


def test_toml_and_json_specs_agree(tmp_path, data):
    toml = tmp_path / "s.toml"
    toml.write_text(
        'samples = 3\nsample_seed = 1\n[grid]\nlr = [0.01, 0.1]\nlayers = ["784,32,10", [784, 64, 10]]\n'
        'activations = ["relu", "tanh"]\n[fixed]\nbatch-size = 32\n'
    )
    js = tmp_path / "s.json"
    js.write_text(
        json.dumps(
            {
                "samples": 3,
                "sample_seed": 1,
                "grid": {
                    "lr": [0.01, 0.1],
                    "layers": [[784, 32, 10], "784,64,10"],
                    "activations": ["relu", "tanh"],
                },
                "fixed": {"batch_size": 32},
            }
        )
    )
    base = ["--data", "embedded", "--epochs", "1", "--train-size", "500"]
    a, b = (build_trials(read_spec_file(p), base, data, "d") for p in (toml, js))
    assert [t.key for t in a] == [t.key for t in b] and len(a) == 3
    assert all(t.options["batch_size"] == 32 for t in a)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        (
            "s.toml",
            "[grid]\nlr = [0.1]\n[extra]\nx = 1\n",
            r"s.toml: unknown key 'extra'; a sweep spec has only",
        ),
        ("s.toml", "grid = 3\n", r"s.toml: 'grid' must be a table"),
        ("s.toml", "[grid]\n", r"s.toml: 'grid' must name at least one option"),
        ("s.toml", "[grid]\nlr = 0.1\n", r"s.toml: grid.lr: expected a list of values"),
        ("s.toml", "[grid]\nlr = [true]\n", r"s.toml: grid.lr: expected a number, a string or a list"),
        ("s.toml", "[grid]\nlr = [nan]\n", r"s.toml: grid.lr: expected a finite number"),
        ("s.toml", '[grid]\nlr = ["fast"]\n', r"s.toml: grid.lr: argument --lr: must be a finite number"),
        ("s.toml", "[grid]\nlr = [0.1\n", r"s.toml: not valid TOML"),
        ("s.toml", "samples = -1\n[grid]\nlr = [0.1]\n", r"s.toml: 'samples' must be an int >= 1"),
        (
            "s.toml",
            '[grid]\nlr = [0.1]\n[fixed]\ndata = "/etc"\n',
            r"s.toml: fixed.data: the data are loaded",
        ),
        ("s.toml", '[grid]\nlr = [0.1]\n[fixed]\nresume = "x"\n', r"s.toml: fixed.resume: --resume cannot"),
        ("s.json", "[1, 2]", r"s.json: a sweep spec must be a table"),
        ("s.json", '{"grid": {"lr": [NaN]}}', r"s.json: NaN is not a valid value"),
        ("s.json", '{"grid": {"lr": [[[1]]]}}', r"s.json: grid.lr: expected a number"),
        ("s.json", "\xff", r"s.json: a sweep spec must be UTF-8"),
        ("s.yaml", "grid: {}", r"s.yaml: a sweep spec must be a .toml or .json file"),
    ],
)
def test_hostile_spec_files_get_errors_naming_the_file(tmp_path, name, content, message):
    path = tmp_path / name
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(DataError, match=message):
        read_spec_file(path)


def test_spec_file_size_is_bounded(tmp_path):
    path = tmp_path / "big.json"
    path.write_text('{"grid": {"lr": [' + "0.1," * MAX_SPEC_BYTES + "0.1]}}")
    with pytest.raises(DataError, match=r"big.json: a sweep spec is at most 64 KiB"):
        read_spec_file(path)
    with pytest.raises(DataError, match=r"missing.toml: cannot read the sweep spec"):
        read_spec_file(tmp_path / "missing.toml")


def test_too_many_trials_ask_for_a_sample(data):
    spec = grid(*(f"{o}=" + ",".join(str(v) for v in range(1, 23)) for o in ("seed", "lr", "val-size")))
    with pytest.raises(InvalidParameterError, match=r"10,648 trials .* pass --samples N"):
        build_trials(spec, BASE, data, "d")
    spec.samples = 5
    assert len(build_trials(spec, BASE, data, "d")) == 5
