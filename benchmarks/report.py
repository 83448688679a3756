"""The printed table and the ``--json`` file."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

COLUMNS = ("name", "value", "unit", "baseline", "ratio", "target", "met", "min..max", "runs")


def _number(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        return f"{value:.4g}"
    return str(value)


def _row(record: dict[str, Any]) -> list[str]:
    low, high = record.get("min"), record.get("max")
    spread = "-" if low is None else f"{_number(low)}..{_number(high)}"
    met = record.get("met")
    return [
        str(record["name"]),
        "not measured" if record.get("value") is None else _number(record["value"]),
        str(record.get("unit", "")),
        _number(record.get("baseline")),
        _number(record.get("ratio")),
        record.get("target") or "-",
        "-" if met is None else ("yes" if met else "NO"),
        spread,
        _number(record.get("runs")),
    ]


def render_table(records: Sequence[dict[str, Any]]) -> str:
    """A plain-text table, one row per figure; notes of unmeasured figures below it."""
    rows = [list(COLUMNS)] + [_row(r) for r in records]
    widths = [max(len(row[i]) for row in rows) for i in range(len(COLUMNS))]
    numeric = {1, 3, 4, 8}

    def line(row: list[str]) -> str:
        cells = [
            cell.rjust(widths[i]) if i in numeric else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        return "  ".join(cells).rstrip()

    out = [line(rows[0]), line(["-" * w for w in widths])]
    out += [line(row) for row in rows[1:]]
    notes = [f"  {r['name']}: {r['note']}" for r in records if r.get("value") is None]
    if notes:
        out += ["", "not measured:", *notes]
    missed = [r["name"] for r in records if r.get("met") is False]
    out += ["", f"targets missed: {', '.join(missed) if missed else 'none'}"]
    return "\n".join(out)


def write_json(path: Path, records: Sequence[dict[str, Any]]) -> None:
    """One JSON array, one record per figure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(list(records), indent=2) + "\n", "utf-8")
