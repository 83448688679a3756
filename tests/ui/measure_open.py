"""Measure how long a 100,000-message conversation takes to open, next to a 100-message
one (run by hand):

    .venv/bin/python -m tests.ui.measure_open

Uses the in-memory manager, so it measures the UI's part only (paging and drawing), not
the store's query. Prints the median of several runs and how many messages were read.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from peerwave_tui.paths import Paths
from peerwave_tui.settings import Settings
from peerwave_tui.ui.app import make_app
from tests.ui.memory_manager import MemoryManager

SIZES = (100, 100_000)
RUNS = 7


async def open_once(home: Path, size: int) -> tuple[float, int]:
    memory = MemoryManager()
    account = memory.add_account("Alpha", port=3001)
    memory.add_conversation(account, "u-big", "Big", messages=size)
    memory.add_conversation(account, "u-small", "Small", messages=3, minutes=5)
    app = make_app(Settings(), Paths.from_home(home).ensure(), manager=memory, env={})
    async with app.run_test(size=(120, 40)) as pilot:
        await asyncio.wait_for(app.started.wait(), 30)
        await pilot.pause()
        view = app.main.active_pane.message_view
        start = time.perf_counter()
        app.main.open_conversation(account.account_id, "u-big")
        while not (view.messages and view.messages[-1].local_id == size):
            await asyncio.sleep(0.001)
        await pilot.pause()  # until the screen has been drawn
        elapsed = time.perf_counter() - start
        return elapsed, memory.fetched


def main() -> None:
    for size in SIZES:
        timings = []
        fetched = 0
        for _ in range(RUNS):
            with tempfile.TemporaryDirectory() as home:
                elapsed, fetched = asyncio.run(open_once(Path(home), size))
                timings.append(elapsed)
        median = statistics.median(timings) * 1000
        print(
            f"open a {size:,}-message conversation: median {median:.0f} ms over {RUNS} runs"
            f" (min {min(timings) * 1000:.0f} ms); messages read: {fetched}"
        )


if __name__ == "__main__":
    main()
