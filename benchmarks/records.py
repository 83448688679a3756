"""Figures and their JSON records: one record per figure, the same shape every time.

A ``Figure`` holds the samples of one measurement (one per repetition) and what it is
compared with. Its record has exactly the fields the issue asks for::

    name, value, unit, baseline, ratio, target, met

and keeps a few more (``median``, ``min``, ``max``, ``runs``, ``note``, ...). ``value``
is the median of the samples. Targets are text: ``"<= 5"`` compares the value with a
number; ``">= 0.5 x baseline"`` compares it with that multiple of the baseline.
A figure that could not be measured has ``value`` null and so ``met`` null.
"""

from __future__ import annotations

import math
import operator
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

REQUIRED_FIELDS = ("name", "value", "unit", "baseline", "ratio", "target", "met")

_TARGET = re.compile(r"^\s*(<=|>=|<|>)\s*([0-9]+(?:\.[0-9]+)?)\s*(x\s*baseline)?\s*$")
_OPERATORS: dict[str, Callable[[float, float], bool]] = {
    "<=": operator.le,
    ">=": operator.ge,
    "<": operator.lt,
    ">": operator.gt,
}


class TargetError(ValueError):
    """A target text that does not follow the grammar above."""


@dataclass(frozen=True)
class Target:
    op: str
    number: float
    relative: bool  # compared with ``number`` × baseline

    @classmethod
    def parse(cls, text: str) -> Target:
        match = _TARGET.match(text)
        if match is None:
            raise TargetError(f"not a target: {text!r} (e.g. '<= 5' or '>= 0.5 x baseline')")
        return cls(match.group(1), float(match.group(2)), match.group(3) is not None)

    def met(self, value: float | None, baseline: float | None) -> bool | None:
        """None when it cannot be decided (no value, or no baseline to compare with)."""
        if value is None:
            return None
        bound = self.number
        if self.relative:
            if baseline is None:
                return None
            bound = self.number * baseline
        return _OPERATORS[self.op](value, bound)


def round_sig(value: float | None, digits: int = 4) -> float | None:
    """Round to ``digits`` significant digits (JSON stays readable, nothing is lost
    that the machine's noise has not already made meaningless)."""
    if value is None or value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def percentile(values: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile (``fraction`` in 0..1) of a non-empty sample."""
    if not values:
        raise ValueError("no values")
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass
class Figure:
    """One reported figure. ``samples``: one value per repetition (empty: not measured)."""

    name: str
    unit: str
    samples: list[float] = field(default_factory=list)
    baseline_samples: list[float] = field(default_factory=list)
    target: str | None = None
    note: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.target is not None:
            Target.parse(self.target)  # fail early on a typo

    @property
    def value(self) -> float | None:
        return statistics.median(self.samples) if self.samples else None

    @property
    def baseline(self) -> float | None:
        return statistics.median(self.baseline_samples) if self.baseline_samples else None

    @property
    def ratio(self) -> float | None:
        value, baseline = self.value, self.baseline
        if value is None or baseline is None or baseline == 0:
            return None
        return value / baseline

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        return Target.parse(self.target).met(self.value, self.baseline)

    def record(self) -> dict[str, Any]:
        record: dict[str, Any] = {
            "name": self.name,
            "value": round_sig(self.value),
            "unit": self.unit,
            "baseline": round_sig(self.baseline),
            "ratio": round_sig(self.ratio),
            "target": self.target,
            "met": self.met,
            "median": round_sig(self.value),
            "min": round_sig(min(self.samples)) if self.samples else None,
            "max": round_sig(max(self.samples)) if self.samples else None,
            "runs": len(self.samples),
        }
        if self.baseline_samples:
            record["baseline_min"] = round_sig(min(self.baseline_samples))
            record["baseline_max"] = round_sig(max(self.baseline_samples))
        if self.note:
            record["note"] = self.note
        for key, value in self.extra.items():
            if key not in record:
                record[key] = round_sig(value) if isinstance(value, float) else value
        return record


def not_measured(name: str, unit: str, target: str | None, reason: str) -> Figure:
    """A figure the suite could not measure this time: value null, said why."""
    return Figure(name, unit, target=target, note=f"not measured: {reason}")


def check_record(record: Any) -> list[str]:
    """Problems with one JSON record (empty when it has the required shape)."""
    if not isinstance(record, dict):
        return ["not an object"]
    problems = [f"missing {name!r}" for name in REQUIRED_FIELDS if name not in record]
    if problems:
        return problems
    if not isinstance(record["name"], str) or not record["name"]:
        problems.append("name must be a non-empty string")
    if not isinstance(record["unit"], str):
        problems.append("unit must be a string")
    for name in ("value", "baseline", "ratio"):
        if record[name] is not None and not isinstance(record[name], int | float):
            problems.append(f"{name} must be a number or null")
    if record["target"] is not None:
        try:
            Target.parse(record["target"])
        except TargetError as exc:
            problems.append(str(exc))
    if record["met"] is not None and not isinstance(record["met"], bool):
        problems.append("met must be a bool or null")
    if record["target"] is None and record["met"] is not None:
        problems.append("met must be null without a target")
    if record["value"] is None and record["met"] is not None:
        problems.append("met must be null without a value")
    if (record["baseline"] is None or record["value"] is None) and record["ratio"] is not None:
        problems.append("ratio must be null without value and baseline")
    return problems
