"""The suite's machinery end to end on tiny workloads: real dev server processes, a
keyring-mode store (needs the Secret Service of scripts/test), real sockets. Checks
that the figures come out and are well formed; never how fast anything is."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from benchmarks import bench_drain, bench_keys
from benchmarks.records import check_record

REPO_ROOT = Path(__file__).resolve().parents[2]


async def test_a_tiny_drain_is_decrypted_committed_and_deleted(tmp_path: Path) -> None:
    # bench_drain checks, and raises otherwise, that all 20 messages were committed
    # as text in order and that the server holds none of them afterwards.
    figures = await bench_drain.run(tmp_path, reps=1, count=20, size=1024)
    records = {f.name: f.record() for f in figures}
    assert set(records) == {
        "backlog_drain",
        "backlog_drain_vs_bare_decrypt",
        "bare_axolotl_decrypt",
    }
    for record in records.values():
        assert check_record(record) == []
        assert record["value"] > 0 and record["runs"] == 1
    assert records["backlog_drain"]["baseline"] == records["bare_axolotl_decrypt"]["value"]
    assert records["backlog_drain"]["count"] == 20


async def test_key_figures(tmp_path: Path) -> None:
    figures = await bench_keys.run(tmp_path, key_samples=2, kdf_samples=1)
    records = {f.name: f.record() for f in figures}
    assert records["fresh_account_keys"]["runs"] == 2
    assert records["fresh_account_keys"]["baseline"] > 0
    assert records["passphrase_kdf"]["target"] is None
    assert all(check_record(r) == [] for r in records.values())


def test_the_command_writes_one_json_array(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    env.pop("PEERWAVE_BENCH_KEYRING_SESSION", None)
    result = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--only", "keys", "--json", str(out)],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "fresh_account_keys" in result.stdout and "targets missed" in result.stdout
    records = json.loads(out.read_text())
    assert [r["name"] for r in records] == ["fresh_account_keys", "passphrase_kdf"]
    assert all(check_record(r) == [] for r in records)
