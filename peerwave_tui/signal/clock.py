"""Time for key lifecycle decisions, injectable so tests never sleep."""

from __future__ import annotations

import time
from collections.abc import Callable

Clock = Callable[[], int]  # Unix time in milliseconds

DAY_MS = 24 * 60 * 60 * 1000


def system_clock() -> int:
    return time.time_ns() // 1_000_000
