"""``send`` and ``receive`` end to end in subprocesses: a contact without keys (an error
at once, the message queued and sent by a later command), ambiguous contacts, arrivals
fetched by another command still reported, ``--timeout`` for both commands."""

from __future__ import annotations

import asyncio
import json
import re
import time
from pathlib import Path

from tests.devserver_fixtures import create_account, running_devserver
from tests.integration.helpers import (
    EventLog,
    cli,
    connected,
    new_manager,
    one_line_error,
    register,
)


async def _register(home: Path, server: object, email: str, name: str, *extra: str) -> list[str]:
    url = server.url  # type: ignore[attr-defined]
    otp_file = server.otp_file  # type: ignore[attr-defined]
    rc, out, err = await cli(
        home, "account", "register", "--server", url, "--email", email, "--name", name,
        "--otp-command", f"grep '^{email} ' {otp_file} | tail -n 1", *extra,
    )  # fmt: skip
    assert rc == 0, err
    return re.findall(r"^\s+([A-Z0-9]{16})$", out, re.M)


def _texts(out: str) -> list[str]:
    return [json.loads(line)["text"] for line in out.splitlines()]


async def test_queued_messages_and_arrivals_are_never_lost(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        alice, bob, carol = tmp_path / "alice", tmp_path / "bob", tmp_path / "carol"
        await _register(alice, server, "alice@example.org", "Alice")
        await _register(bob, server, "bob@example.org", "Bob", "--at-name", "bobby")
        bob_phone = tmp_path / "bob-phone"
        rc, key, err = await cli(bob, "account", "magic-key")
        assert rc == 0, err
        rc, out, err = await cli(bob_phone, "account", "link", "--magic-key", key.strip())
        assert rc == 0, err
        await create_account(server.url, server, display_name="Bobby")
        carol_web = await create_account(
            server.url, server, email="carol@example.org", display_name="Carol"
        )

        # "bobby" is Bob's @name and someone else's display name.
        rc, out, err = await cli(alice, "send", "--to", "bobby", "which one?")
        one_line_error(rc, err)
        assert "several contacts" in err and "Bob <" in err and "Bobby <" in err

        # Carol has no device with keys: an error at once, the message stays queued.
        started = time.monotonic()
        rc, out, err = await cli(alice, "send", "--to", "carol@example.org", "waiting for carol")
        one_line_error(rc, err)
        assert "no device that can receive encrypted messages" in err and "queued" in err
        assert time.monotonic() - started < 25  # not the 30 s timeout

        # Carol installs the app; Bob writes to Alice.
        rc, out, err = await cli(
            carol, "account", "login", "--server", server.url,
            "--email", "carol@example.org", "--backup-code", carol_web.backup_codes[0],
        )  # fmt: skip
        assert rc == 0, err
        rc, out, err = await cli(bob, "send", "--to", "Alice", "from bob")
        assert (rc, out) == (0, ""), err

        # Alice's next command fetches Bob's message and sends the queued one first.
        rc, out, err = await cli(alice, "send", "--to", "@bobby", "second to bob")
        assert (rc, out) == (0, ""), err
        rc, out, err = await cli(carol, "receive", "--json")
        assert rc == 0, err
        assert _texts(out) == ["waiting for carol"]
        # The arrival that `send` fetched is still reported by the next `receive`.
        rc, out, err = await cli(alice, "receive", "--json")
        assert rc == 0, err
        [line] = [json.loads(x) for x in out.splitlines()]
        assert (line["text"], line["senderName"], line["conversation"]) == (
            "from bob",
            "Bob",
            "Bob",
        )
        rc, out, err = await cli(bob, "receive", "--json")
        assert (rc, _texts(out)) == (0, ["second to bob"]), err
        # Bob's phone: the sync copy of what the laptop sent, then Alice's message.
        rc, out, err = await cli(bob_phone, "receive", "--json")
        assert rc == 0, err
        lines = [json.loads(x) for x in out.splitlines()]
        assert [(x["text"], x["direction"], x["conversation"]) for x in lines] == [
            ("from bob", "out", "Alice"),
            ("second to bob", "in", "Alice"),
        ]
        assert [x["senderName"] for x in lines] == ["Bob", "Alice"]


async def test_send_timeout_and_receive_listening(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv", data_dir=tmp_path / "srv-data") as server:
        dev = server.server
        port, url = dev.port, server.url
        bob = tmp_path / "bob"
        alice_mgr = new_manager(tmp_path / "alice")
        log = EventLog(alice_mgr)
        try:
            alice = await register(alice_mgr, server, "alice@example.org", "Alice")
            await log.wait_for(connected(alice.account_id))
            await _register(bob, server, "bob@example.org", "Bob")
            people = await alice_mgr.people(alice.account_id)
            bob_contact = next(p for p in people if p.display_name == "Bob")
            await alice_mgr.open_conversation(alice.account_id, bob_contact)
            await alice_mgr.send(alice.account_id, bob_contact.user_id, "before listening")

            # receive --timeout: the backlog, then whatever arrives while it listens.
            listener = asyncio.create_task(cli(bob, "receive", "--json", "--timeout", "6"))
            hub = dev.context.hub
            deadline = time.monotonic() + 60
            while not hub.user_online(bob_contact.user_id):
                assert time.monotonic() < deadline and not listener.done()
                await asyncio.sleep(0.05)
            await alice_mgr.send(alice.account_id, bob_contact.user_id, "while listening")
            rc, out, err = await listener
            assert rc == 0, err
            assert _texts(out) == ["before listening", "while listening"]

            # The server goes away: send gives up after --timeout, the message stays queued.
            rc, out, err = await cli(bob, "receive")  # Bob knows Alice now (contact cache)
            assert rc == 0, err
            await dev.stop()
            started = time.monotonic()
            rc, out, err = await cli(bob, "send", "--timeout", "3", "--to", "Alice", "offline")
            elapsed = time.monotonic() - started
            one_line_error(rc, err)
            assert "within 3 s" in err and "stays queued" in err
            assert elapsed < 25
            dev.config.port = port
            await dev.start()
            assert server.url == url
            # Any later command that connects sends it.
            rc, out, err = await cli(bob, "receive")
            assert rc == 0, err
            got = await log.wait_for(
                lambda e: getattr(getattr(e, "message", None), "text", None) == "offline", 30
            )
            assert got.account_id == alice.account_id
        finally:
            await log.close()
            await alice_mgr.aclose()
