"""Progress lines on standard error: which step runs, and how long it took."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def step(name: str) -> Iterator[None]:
    """``  <name>… 3.2 s`` on standard error once the step is done."""
    start = time.monotonic()
    try:
        yield
    finally:
        sys.stderr.write(f"  {name}: {time.monotonic() - start:.1f} s\n")
        sys.stderr.flush()
