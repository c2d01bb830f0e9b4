"""Numbers derived from the race's records: per-epoch medians, time to a target accuracy, ratios.

Every figure comes from the records of one run; nothing here measures anything.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from benchmarks.race.entrants import RATIO_PEERS

#: The entrant a ratio is about.
FASTNN = "numba"


@dataclass(frozen=True)
class Outcome:
    """One record boiled down to what the tables show."""

    entrant: str
    recipe: str
    threads: int
    first_epoch: float | None
    median: float | None  # of the epochs after the first
    epochs: int
    final_accuracy: float | None
    target_seconds: float | None  # training wall time until the target accuracy
    target_epoch: int | None
    skipped: str | None
    stopped: str | None


def median_after_first(seconds: list[float]) -> float | None:
    """Median epoch time without the first epoch (which includes compiling), or None."""
    return statistics.median(seconds[1:]) if len(seconds) > 1 else None


def time_to_target(seconds: list[float], accuracy: list[float], target: float) -> tuple[float, int] | None:
    """Training seconds (every epoch up to and including it) and the number of the first
    epoch whose test accuracy reaches ``target``; None if none does."""
    total = 0.0
    for epoch, (s, acc) in enumerate(zip(seconds, accuracy, strict=True), start=1):
        total += s
        if acc >= target:
            return total, epoch
    return None


def outcome(record: dict[str, Any], target: float) -> Outcome:
    seconds, accuracy = record["epoch_seconds"], record["test_accuracy"]
    reached = time_to_target(seconds, accuracy, target)
    return Outcome(
        entrant=record["entrant"],
        recipe=record["recipe"],
        threads=record["threads"],
        first_epoch=seconds[0] if seconds else None,
        median=median_after_first(seconds),
        epochs=len(seconds),
        final_accuracy=accuracy[-1] if accuracy else None,
        target_seconds=reached[0] if reached else None,
        target_epoch=reached[1] if reached else None,
        skipped=record.get("skipped"),
        stopped=record.get("stopped"),
    )


def by_key(outcomes: list[Outcome]) -> dict[tuple[str, int], dict[str, Outcome]]:
    """``{(recipe, threads): {entrant: outcome}}`` in the order the race ran them."""
    table: dict[tuple[str, int], dict[str, Outcome]] = {}
    for o in outcomes:
        table.setdefault((o.recipe, o.threads), {})[o.entrant] = o
    return table


def fastest_peer(row: dict[str, Outcome]) -> Outcome | None:
    """The ratio peer (PyTorch or JAX) with the lowest median epoch time in this row."""
    timed = [row[p] for p in RATIO_PEERS if p in row and row[p].median is not None]
    return min(timed, key=lambda o: o.median or 0.0) if timed else None


def speed_ratio(row: dict[str, Outcome]) -> tuple[float, Outcome] | None:
    """Faster peer's median / fastnn numba's median (above 1: fastnn is faster), and that peer."""
    ours, peer = row.get(FASTNN), fastest_peer(row)
    if ours is None or ours.median is None or peer is None or peer.median is None:
        return None
    return peer.median / ours.median, peer
