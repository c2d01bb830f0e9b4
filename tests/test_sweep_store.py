"""The sweep's results file: whole lines, a torn last line tolerated and cut, hostile lines refused."""

from __future__ import annotations

import json

import pytest

from fastnn.cli.sweep.store import ResultsFile
from fastnn.errors import DataError


def record(key: str, status: str = "ok", acc: float | None = 0.9) -> dict:
    return {"key": key, "status": status, "settings": {"lr": 0.1}, "val_accuracy": acc}


def test_append_writes_whole_lines_that_read_back(tmp_path):
    store = ResultsFile(tmp_path / "r.jsonl")
    assert store.read() == []
    store.append(record("a"))
    store.append({**record("b", "diverged", None), "error": "loss became nan", "val_loss": float("nan")})
    raw = (tmp_path / "r.jsonl").read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 2
    back = store.read()
    assert [r["key"] for r in back] == ["a", "b"]
    assert back[1]["val_loss"] is None  # NaN is written as null: the file stays valid JSON


def test_torn_last_line_is_ignored_then_cut_before_appending(tmp_path):
    path = tmp_path / "r.jsonl"
    store = ResultsFile(path)
    store.append(record("a"))
    with open(path, "ab") as fh:
        fh.write(json.dumps(record("b")).encode()[:25])  # a write cut short
    assert [r["key"] for r in store.read()] == ["a"] and store.torn
    assert [r["key"] for r in store.open()] == ["a"]
    store.append(record("c"))
    assert [r["key"] for r in ResultsFile(path).read()] == ["a", "c"]
    assert path.read_bytes().count(b"\n") == 2


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"not json", r"line 2: not a JSON line"),
        (b"[1, 2]", r"line 2: expected a JSON object; got list"),
        (b'{"key": "", "status": "ok", "settings": {}}', r"line 2: 'key' must be a string"),
        (b'{"key": "k", "status": "done", "settings": {}}', r"line 2: 'status' must be one of"),
        (b'{"key": "k", "status": "ok", "settings": []}', r"line 2: 'settings' must be an object"),
        (
            b'{"key": "k", "status": "ok", "settings": {}, "val_accuracy": "high"}',
            r"line 2: 'val_accuracy' must be",
        ),
        (b"\xff\xfe", r"line 2: not a JSON line"),
    ],
)
def test_a_bad_complete_line_is_an_error_naming_file_and_line(tmp_path, line, message):
    path = tmp_path / "r.jsonl"
    path.write_bytes(json.dumps(record("a")).encode() + b"\n" + line + b"\n")
    with pytest.raises(DataError, match=rf"r.jsonl, {message}"):
        ResultsFile(path).read()
