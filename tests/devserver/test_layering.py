"""The dev server can be doubted independently: it never imports client code."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.devserver_fixtures import REPO_ROOT

FORBIDDEN = (
    "peerwave_tui.api", "peerwave_tui.socket", "peerwave_tui.client", "peerwave_tui.manager",
    "peerwave_tui.signal", "peerwave_tui.storage", "peerwave_tui.ui", "textual", "rich", "axolotl",
)  # fmt: skip


def test_devserver_imports_no_client_code() -> None:
    code = (
        "import json, sys, peerwave_tui.devserver.main, peerwave_tui.devserver.app;"
        "print(json.dumps(sorted(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(result.stdout)
    offenders = [m for m in loaded if any(m == f or m.startswith(f + ".") for f in FORBIDDEN)]
    assert offenders == []
    assert "peerwave_tui.devserver.sockets" in loaded  # the check looked at the real thing
