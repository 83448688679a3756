"""Group tests: every client task a test starts must be gone when it ends (the same
check as the integration tests)."""

from __future__ import annotations

from tests.integration.conftest import no_leaked_client_tasks

__all__ = ["no_leaked_client_tasks"]
