"""The app benchmark's machinery on a tiny world: the app in a real pseudo-terminal,
frames stamped by the hook, a conversation opened, keys typed and seen on screen.
Checks that the measurements come out and are ordered sensibly; never their size."""

from __future__ import annotations

from pathlib import Path

from benchmarks import bench_ui
from benchmarks.records import check_record


async def test_cold_start_and_key_presses_are_measured(tmp_path: Path) -> None:
    bench = bench_ui.UiBench(tmp_path, servers=2, stored=60, backlog=20)
    try:
        await bench.setup()
        cold = await bench.cold_start()
        keys = await bench.keypresses()
    finally:
        await bench.close()
    paint, shown = cold.first("paint"), cold.first("servers")
    assert paint is not None and shown is not None
    assert cold.spawned < float(paint[0]) <= float(shown[0])
    assert cold.opened("big") > 0 and cold.opened("small") > 0
    # 20 pending messages drain before the composer is ready: every key is "idle".
    assert len(keys.keys_idle) == bench_ui.IDLE_KEYS
    assert all(latency > 0 for latency in keys.keys_idle)
    assert any(kind == "backlog" and args[1] == "1" for kind, args in keys.lines)
    figures = bench_ui.figures([cold], [0.5], [keys], servers=2)
    records = {f.name: f.record() for f in figures}
    assert records["cold_start_first_paint"]["value"] is not None
    assert records["ui_keypress_during_drain_p95"]["value"] is None  # nothing during
    assert records["ui_keypress_during_drain_p95"]["baseline"] is not None
    assert all(check_record(r) == [] for r in records.values())
