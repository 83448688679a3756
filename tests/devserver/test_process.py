"""``peerwave-tui devserver`` as a real process: the ready line, clean exits, state that
survives a restart (clean or SIGKILL), a frozen server, and start-up failures."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import sys
import uuid
from pathlib import Path

import aiohttp

from tests.devserver.conftest import ciphertext, public_key, signature
from tests.devserver_fixtures import REPO_ROOT, DevServerProcess, SignedHttp, create_account

SERVER_START_TIMEOUT = 60  # a loaded 2-core machine can be slow to import everything


async def _meta(url: str, timeout: float = 10) -> dict:
    async with aiohttp.ClientSession(url, timeout=aiohttp.ClientTimeout(total=timeout)) as http:
        async with http.get("/client/meta") as response:
            assert response.status == 200
            return await response.json()


async def test_ready_line_otps_and_clean_exit(tmp_path: Path) -> None:
    async with DevServerProcess(tmp_path, ["--name", "Proc Server"]) as proc:
        await proc.start(SERVER_START_TIMEOUT)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", proc.url) and proc.port > 0
        assert (await _meta(proc.url))["serverName"] == "Proc Server"
        account = await create_account(proc.url, proc)
        otp = await proc.read_otp(account.email)
        assert proc.otp_file.read_text().splitlines() == [f"{account.email} {otp}"]
        assert await proc.signal_and_wait(signal.SIGINT) == 0
        assert proc.proc is not None and proc.proc.stdout is not None
        assert await proc.proc.stdout.read() == b""  # exactly one line on stdout
    log = proc.log_text()
    assert f"OTP for {account.email}: {otp}" in log
    assert "Traceback" not in log


async def test_state_survives_restart(tmp_path: Path) -> None:
    async with DevServerProcess(tmp_path) as proc:
        await proc.start(SERVER_START_TIMEOUT)
        alice = await create_account(proc.url, proc)
        bob = await create_account(proc.url, proc)
        identity = public_key()
        async with SignedHttp(proc.url, alice) as http:
            await http.post("/signal/identity", {"publicKey": identity, "registrationId": "5"})
            await http.post(
                "/signal/signedprekey", {"id": 1, "data": public_key(), "signature": signature()}
            )
            status, channel = await http.post(
                "/client/channels",
                {"name": "kept", "description": "", "private": False, "type": "signal"},
            )
            assert status == 201
            body = {
                "groupId": channel["uuid"], "recipientId": bob.user_id, "recipientDeviceId": bob.device_id,
                "encryptedDistribution": ciphertext(), "messageType": 3,
            }  # fmt: skip
            assert (await http.post("/api/signal/distribute-sender-key", body))[1]["queued"] is True
        port = proc.port

        assert await proc.signal_and_wait(signal.SIGTERM) == 0
        await proc.start(SERVER_START_TIMEOUT)
        assert proc.port == port
        await _check_state(proc.url, alice, bob, identity, channel["uuid"])

        proc.kill()  # no clean shutdown this time
        await proc.restart(SERVER_START_TIMEOUT)
        await _check_state(proc.url, alice, bob, identity, channel["uuid"])
        # And it still takes new accounts.
        assert (await create_account(proc.url, proc)).device_id == 1
    assert "Traceback" not in proc.log_text()


async def _check_state(url: str, alice, bob, identity: str, channel_id: str) -> None:  # type: ignore[no-untyped-def]
    async with SignedHttp(url, alice) as http:
        assert (await http.get("/client/auth/test"))[0] == 200  # the session survived
        _, status = await http.get("/signal/status/minimal")
        assert status["identityKey"] == identity and status["signedPreKey"] is not None
        _, mine = await http.get("/client/channels")
        assert [c["uuid"] for c in mine["channels"]] == [channel_id]
        _, people = await http.get("/people/list")
        assert [p["uuid"] for p in people] == [bob.user_id]
    async with SignedHttp(url, bob) as http:
        _, pending = await http.get("/api/signal/pending-messages/v2")
        assert [i["type"] for i in pending["items"]] == ["signal:senderKeyDistribution"]


async def test_frozen_server(tmp_path: Path) -> None:
    async with DevServerProcess(tmp_path) as proc:
        await proc.start(SERVER_START_TIMEOUT)
        proc.stop()
        try:
            await _meta(proc.url, timeout=0.5)
        except TimeoutError:
            pass
        else:
            raise AssertionError("a frozen server answered")
        finally:
            proc.cont()
        assert (await _meta(proc.url))["serverName"] == "PeerWave dev server"


async def _run_cli(*args: str, timeout: float = SERVER_START_TIMEOUT) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "peerwave_tui", "devserver", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, cwd=REPO_ROOT,
    )  # fmt: skip


async def test_temporary_data_dir_is_removed_on_exit(tmp_path: Path) -> None:
    proc = await _run_cli("--port", "0")
    assert proc.stdout is not None and proc.stderr is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), SERVER_START_TIMEOUT)).decode()
        assert line.startswith("listening on http://127.0.0.1:")
        data_dir = None
        while data_dir is None:
            log_line = (await asyncio.wait_for(proc.stderr.readline(), 10)).decode()
            found = re.search(r"data in (\S+)\)", log_line)
            data_dir = Path(found.group(1)) if found else None
        assert (data_dir / "devserver.sqlite3").exists()
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        assert not data_dir.exists()
        assert b"Traceback" not in await proc.stderr.read()
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()


async def test_port_in_use_is_a_one_line_error(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = await _run_cli("--port", str(port), "--data", str(tmp_path / "d"))
        stdout, stderr = await asyncio.wait_for(proc.communicate(), SERVER_START_TIMEOUT)
    assert proc.returncode == 1 and stdout == b""
    text = stderr.decode()
    assert f"cannot listen on 127.0.0.1:{port}" in text and "Traceback" not in text


async def test_unusable_data_is_a_one_line_error(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("x")
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    (corrupt / "devserver.sqlite3").write_bytes(b"this is not a database" * 100)
    for data, expected in [(not_a_dir, "cannot use"), (corrupt, "cannot open the database")]:
        proc = await _run_cli("--port", "0", "--data", str(data))
        stdout, stderr = await asyncio.wait_for(proc.communicate(), SERVER_START_TIMEOUT)
        text = stderr.decode()
        assert proc.returncode == 1 and stdout == b""
        assert expected in text and "Traceback" not in text and len(text.splitlines()) == 1


async def test_bad_switch_values(tmp_path: Path) -> None:
    for args in (["--smtp", "no-port-here"], ["--purge-days", "0"]):
        proc = await _run_cli(*args, "--data", str(tmp_path / uuid.uuid4().hex))
        stdout, stderr = await asyncio.wait_for(proc.communicate(), SERVER_START_TIMEOUT)
        assert proc.returncode == 2 and stdout == b""
        assert stderr.decode().startswith("peerwave-tui devserver: ") and b"Traceback" not in stderr


async def test_log_file_switch(tmp_path: Path) -> None:
    log_file = tmp_path / "server.log"
    proc = await _run_cli("--port", "0", "--log-file", str(log_file))
    assert proc.stdout is not None
    try:
        line = (await asyncio.wait_for(proc.stdout.readline(), SERVER_START_TIMEOUT)).decode()
        assert line.startswith("listening on http://127.0.0.1:")
        proc.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(proc.communicate(), 20)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    assert proc.returncode == 0 and stderr == b""
    assert "dev server listening on" in log_file.read_text()
