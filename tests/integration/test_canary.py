"""Nothing sensitive on disk in the clear: a unique message text, a unique contact name
and the account's secrets go through the client (and the CLI); afterwards no file under
either home contains them, except our own display name in servers.toml."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path

from peerwave_tui.models import KeyMode
from tests.devserver_fixtures import running_devserver
from tests.integration.helpers import (
    PASSPHRASE,
    EventLog,
    cli,
    cli_env,
    connected,
    contact,
    new_manager,
    received,
    register,
)


class _ClientLogs(logging.Filter):
    """The client's own log records (not the dev server's, which is no part of it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.name.startswith(("peerwave_tui.devserver", "aiohttp.access"))


def _log_into(homes: list[Path]) -> list[logging.Handler]:
    """Everything the in-process clients log goes to a file in each home, at DEBUG."""
    handlers: list[logging.Handler] = []
    for home in homes:
        (home / "logs").mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(home / "logs" / "in-process.log", encoding="utf-8")
        handler.setLevel(logging.DEBUG)
        handler.addFilter(_ClientLogs())
        handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
        logging.getLogger().addHandler(handler)
        handlers.append(handler)
    logging.getLogger().setLevel(logging.DEBUG)
    return handlers


def _files_containing(home: Path, needle: str) -> list[str]:
    raw = needle.encode("utf-8")
    found = []
    for path in home.rglob("*"):
        if path.is_file() and raw in path.read_bytes():
            found.append(str(path.relative_to(home)))
    return found


async def test_no_message_text_contact_name_or_secret_on_disk(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex
    text = f"canary-text-{tag}"
    alice_name = f"Canary Alice {tag[:12]}"
    bob_name = f"Canary Bob {tag[12:24]}"
    homes = {"alice": tmp_path / "alice", "bob": tmp_path / "bob"}
    secrets: list[str] = []
    handlers = _log_into(list(homes.values()))
    root_level = logging.getLogger().level
    async with running_devserver(tmp_path / "srv") as server:
        alice_mgr = new_manager(homes["alice"], KeyMode.PASSPHRASE)
        bob_mgr = new_manager(homes["bob"], KeyMode.PASSPHRASE)
        alice_log, bob_log = EventLog(alice_mgr), EventLog(bob_mgr)
        try:
            pending = await alice_mgr.register_start(server.url, f"alice-{tag}@example.org")
            result = await alice_mgr.register_finish(
                pending, await server.read_otp(f"alice-{tag}@example.org"), alice_name
            )
            alice = result.account
            secrets.extend(result.backup_codes)
            bob = await register(bob_mgr, server, f"bob-{tag}@example.org", bob_name)
            await alice_log.wait_for(connected(alice.account_id))
            await bob_log.wait_for(connected(bob.account_id))
            for mgr, acc in ((alice_mgr, alice), (bob_mgr, bob)):
                client = mgr.client(acc.account_id)
                assert client.secrets is not None and client.secrets.session_secret
                secrets.append(client.secrets.session_secret)
            await alice_mgr.open_conversation(alice.account_id, contact(bob, bob_name))
            await alice_mgr.send(alice.account_id, bob.user_id or "", text)
            await bob_log.wait_for(received(bob.account_id, text))
            await bob_mgr.mark_read(bob.account_id, alice.user_id or "")
            await bob_mgr.people(bob.account_id)
        finally:
            for log in (alice_log, bob_log):
                await log.close()
            await alice_mgr.aclose()
            await bob_mgr.aclose()
            for handler in handlers:
                logging.getLogger().removeHandler(handler)
                handler.close()
            logging.getLogger().setLevel(root_level)
        # The CLI prints the message (stdout is the user's), and writes nothing of it.
        rc, out, err = await cli(
            homes["bob"], "receive", "--json", env=cli_env(PEERWAVE_TUI_PASSPHRASE=PASSPHRASE)
        )
        assert rc == 0, err
        assert text in out and alice_name in out

    for name, home in homes.items():
        logs = list((home / "logs").glob("*.log"))
        assert logs and all(p.stat().st_size > 0 for p in logs)  # something was logged
        assert _files_containing(home, text) == [], name
        for secret in secrets:
            assert _files_containing(home, secret) == [], name
    assert _files_containing(homes["bob"], alice_name) == []
    assert _files_containing(homes["alice"], bob_name) == []
    assert _files_containing(homes["alice"], alice_name) == ["config/servers.toml"]
    assert _files_containing(homes["bob"], bob_name) == ["config/servers.toml"]
