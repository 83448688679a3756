"""A stalled scale probe is reported as a missed target, never as a crash."""

from __future__ import annotations

import pytest

from benchmarks.bench_scale import CONNECT_TIMEOUT, figures


def _probe(connect_s: float | None, **extra: object) -> dict[str, object]:
    return {"connect_s": connect_s, "rss_before_kib": 1000, "rss_after_kib": 1000 + 20 * 512,
            "cpu_percent": 0.0, **extra}  # fmt: skip


def test_a_stall_with_a_frozen_server_is_a_missed_delay_with_its_diagnosis() -> None:
    stall = {"not_connected": {"acc-7": "(CONNECTING, None)"}, "tasks": ["socket:x: wait"]}
    runs = [
        {"one": _probe(0.2), "healthy": _probe(0.7), "with_silent": _probe(0.75)},
        {"one": None, "healthy": _probe(0.7), "with_silent": _probe(None, stall=stall)},
    ]
    by_name = {f.name: f for f in figures(runs, 20)}
    delay = by_name["scale_unresponsive_delay"]
    assert delay.samples[0] == pytest.approx(50.0)
    assert delay.samples[1] == pytest.approx((CONNECT_TIMEOUT - 0.7) * 1000)
    assert delay.met is False
    assert delay.extra["stalls"] == [{"probe": "with_silent", "repetition": 1, **stall}]
    assert by_name["scale_connect_all"].met is True
    assert by_name["scale_rss_per_server"].value == pytest.approx(0.5)  # 10 MiB, 20 servers


def test_a_stall_without_a_frozen_server_misses_connect_all_and_skips_memory() -> None:
    runs = [{"one": _probe(0.2), "healthy": _probe(None, stall={}), "with_silent": _probe(0.8)}]
    by_name = {f.name: f for f in figures(runs, 20)}
    assert by_name["scale_connect_all"].value == CONNECT_TIMEOUT
    assert by_name["scale_connect_all"].met is False
    assert by_name["scale_rss_per_server"].value is None  # not measured, not invented
