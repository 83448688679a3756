"""Helpers shared by the storage tests."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from peerwave_tui.models import KeyMode
from peerwave_tui.storage.device_store import DeviceStore

REPO = Path(__file__).resolve().parents[2]
SERVER = "http://127.0.0.1:9"


def file_hashes(directory: Path, *, skip: tuple[str, ...] = ()) -> dict[str, str]:
    """sha256 of every file under ``directory`` (relative name -> digest)."""
    result: dict[str, str] = {}
    for path in sorted(directory.rglob("*")):
        if path.is_file() and path.name not in skip:
            result[str(path.relative_to(directory))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return result


async def new_store(
    directory: Path,
    key: bytes,
    *,
    mode: KeyMode = KeyMode.MEMORY,
    backend: str | None = None,
    **kwargs: Any,
) -> DeviceStore:
    return await DeviceStore.open(
        directory,
        key,
        server_url=SERVER,
        key_mode=mode,
        keyring_backend=backend,
        create=True,
        **kwargs,
    )


async def reopen(directory: Path, key: bytes, *, mode: KeyMode = KeyMode.MEMORY) -> DeviceStore:
    return await DeviceStore.open(
        directory, key, server_url=SERVER, key_mode=mode, keyring_backend=None, create=False
    )


def fill(conn: Any, rows: int = 300) -> None:
    """Enough data for a store of many pages."""
    conn.execute("BEGIN")
    for i in range(rows):
        conn.execute("INSERT INTO kv (key, value) VALUES (?, ?)", (f"k{i}", os.urandom(200)))
    conn.execute("COMMIT")


def run_python(code: str, *, env: dict[str, str] | None = None, timeout: float = 120) -> Any:
    """Run ``code`` in a fresh interpreter (cwd = repo); it prints one JSON line last."""
    full_env = dict(os.environ)
    if env:
        full_env.update(env)
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise AssertionError(
            f"subprocess failed ({done.returncode}):\n{done.stdout}\n{done.stderr}"
        )
    return json.loads(lines[-1]), done.stderr
