"""Integration tests: every client task a test starts must be gone when it ends."""

from __future__ import annotations

from tests.leak_check import no_leaked_client_tasks

__all__ = ["no_leaked_client_tasks"]
