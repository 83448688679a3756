"""The suite's record format, target arithmetic and table: no speed is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks.records import (
    REQUIRED_FIELDS,
    Figure,
    Target,
    TargetError,
    check_record,
    not_measured,
    percentile,
    round_sig,
)
from benchmarks.report import render_table, write_json
from benchmarks.suite import GROUPS


def test_a_record_has_the_required_fields_and_the_median_as_value() -> None:
    record = Figure("backlog_drain", "msg/s", [900.0, 1100.0, 1000.0], [4000.0], ">= 5000").record()
    assert list(record)[: len(REQUIRED_FIELDS)] == list(REQUIRED_FIELDS)
    assert record["value"] == 1000.0
    assert record["baseline"] == 4000.0
    assert record["ratio"] == 0.25
    assert record["met"] is False
    assert (record["min"], record["max"], record["runs"]) == (900.0, 1100.0, 3)
    assert check_record(record) == []


@pytest.mark.parametrize(
    ("target", "value", "baseline", "met"),
    [
        ("<= 5", 5.0, None, True),
        ("<= 5", 5.01, None, False),
        (">= 5000", 4999.0, None, False),
        (">= 0.5 x baseline", 2000.0, 4000.0, True),
        (">= 0.5 x baseline", 1999.0, 4000.0, False),
        ("<= 3 x baseline", 6.0, 2.0, True),
        ("<= 3 x baseline", 6.5, 2.0, False),
        ("<= 3 x baseline", 6.5, None, None),  # nothing to compare with
        ("<= 1.0", None, None, None),  # not measured
    ],
)
def test_targets_compare_with_a_number_or_a_multiple_of_the_baseline(
    target: str, value: float | None, baseline: float | None, met: bool | None
) -> None:
    assert Target.parse(target).met(value, baseline) is met


def test_a_figure_without_target_or_baseline_has_nulls() -> None:
    record = Figure("passphrase_kdf", "s", [0.25, 0.27]).record()
    assert (record["target"], record["met"], record["baseline"], record["ratio"]) == (
        None,
        None,
        None,
        None,
    )
    assert check_record(record) == []


def test_an_unmeasured_figure_says_why_and_decides_nothing() -> None:
    record = not_measured("cold_start_first_paint", "s", "<= 1.0", "the app failed").record()
    assert record["value"] is None and record["met"] is None and record["ratio"] is None
    assert record["note"] == "not measured: the app failed"
    assert check_record(record) == []


def test_bad_targets_and_records_are_refused() -> None:
    with pytest.raises(TargetError):
        Figure("x", "ms", [1.0], target="at most 5")
    assert "missing 'met'" in check_record({"name": "x", "value": 1, "unit": "ms"})
    bad = Figure("x", "ms", [1.0], target="<= 5").record()
    bad["met"] = "yes"
    assert check_record(bad) == ["met must be a bool or null"]


def test_rounding_and_percentiles() -> None:
    assert round_sig(1234.5678) == 1235.0
    assert round_sig(0.000123456) == 0.0001235
    assert round_sig(None) is None
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.95) == 7.0


def test_table_and_json(tmp_path: Path) -> None:
    records = [
        Figure("latency_p50", "ms", [12.5], [1.9], "<= 5").record(),
        Figure("scale_idle_cpu", "%", [0.1], target="<= 1").record(),
        not_measured("open_conversation_first_paint", "ms", "<= 100", "no app").record(),
    ]
    table = render_table(records)
    lines = table.splitlines()
    assert lines[0].split()[:3] == ["name", "value", "unit"]
    assert any(line.startswith("latency_p50") and " NO " in line for line in lines)
    assert any(line.startswith("scale_idle_cpu") and " yes " in line for line in lines)
    assert "open_conversation_first_paint: not measured: no app" in table
    assert lines[-1] == "targets missed: latency_p50"
    path = tmp_path / "out" / "bench.json"
    write_json(path, records)
    loaded = json.loads(path.read_text())
    assert isinstance(loaded, list) and [r["name"] for r in loaded] == [r["name"] for r in records]
    assert all(check_record(r) == [] for r in loaded)


def test_every_group_lists_its_figures_with_valid_targets() -> None:
    names = [e.name for g in GROUPS for e in g.expected]
    assert len(names) == len(set(names))
    for group in GROUPS:
        for figure in group.unmeasured("test"):
            assert check_record(figure.record()) == []
