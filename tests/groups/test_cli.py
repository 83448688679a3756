"""``peerwave-tui channel …``, ``send --channel`` and ``receive --json`` for channel
messages, end to end in subprocesses."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

from tests.devserver_fixtures import running_devserver
from tests.groups.helpers import close_all, register_member, until
from tests.integration.helpers import cli, one_line_error


async def _register(home: Path, server: object, email: str, name: str) -> None:
    url = server.url  # type: ignore[attr-defined]
    otp_file = server.otp_file  # type: ignore[attr-defined]
    rc, out, err = await cli(
        home, "account", "register", "--server", url, "--email", email, "--name", name,
        "--otp-command", f"grep '^{email} ' {otp_file} | tail -n 1",
    )  # fmt: skip
    assert rc == 0, err


def _json_lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


async def test_channel_commands_send_and_receive(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        alice, bob = tmp_path / "alice", tmp_path / "bob"
        await _register(alice, server, "alice@example.org", "Alice")
        await _register(bob, server, "bob@example.org", "Bob")
        carol = None
        try:
            rc, out, err = await cli(alice, "channel", "create", "lounge", "--description", "hi")
            assert rc == 0, err
            [created] = re.findall(
                r"^([0-9a-f-]{36})  lounge  \[public, 1 member\]  hi$", out, re.M
            )

            rc, out, err = await cli(bob, "channel", "discover", "--json")
            assert rc == 0, err
            [found] = _json_lines(out)
            assert (found["id"], found["name"], found["member"]) == (created, "lounge", False)

            rc, out, err = await cli(bob, "channel", "join", "lounge")
            assert rc == 0, err
            assert f"{created}  lounge  [public, 2 members]" in out

            rc, out, err = await cli(alice, "channel", "members", created, "--json")
            assert rc == 0, err
            names = sorted((m["displayName"], m["owner"]) for m in _json_lines(out))
            assert names == [("Alice", True), ("Bob", False)]

            rc, out, err = await cli(alice, "send", "--channel", "lounge", "hello lounge")
            assert (rc, out) == (0, ""), err

            rc, out, err = await cli(bob, "receive", "--json", "--read")
            assert rc == 0, err
            [line] = _json_lines(out)
            assert (line["text"], line["conversation"], line["channelId"]) == (
                "hello lounge",
                "lounge",
                created,
            )
            assert line["senderName"] == "Alice"

            # Another public channel with the same name: "lounge" is now ambiguous for
            # a join (the error lists both ids), not for Bob's own channels.
            carol = await register_member(tmp_path / "carol", server, "Carol")
            other = await carol.manager.create_channel(carol.account_id, "lounge")
            rc, out, err = await cli(bob, "channel", "join", "Lounge")
            one_line_error(rc, err)
            assert "You are in lounge" in err  # his own one matches first
            rc, out, err = await cli(alice, "channel", "leave", "lounge")
            assert rc == 0, err
            rc, out, err = await cli(alice, "channel", "join", "lounge")
            one_line_error(rc, err)
            assert "several channels" in err and created in err and other.channel_id in err

            rc, out, err = await cli(bob, "channel", "list")
            assert (rc, out.strip()) == (0, f"{created}  lounge  [public, 1 member]  hi"), err
            rc, out, err = await cli(bob, "send", "--channel", "nowhere", "lost")
            one_line_error(rc, err)
            assert "No channel matches 'nowhere'" in err
        finally:
            await close_all(carol)


async def test_send_with_a_member_offline_on_a_server_that_refuses_their_key(
    tmp_path: Path,
) -> None:
    """The current PeerWave server answers 500 to a distribution for an offline
    device: ``send --channel`` still exits 0 once the item is stored; the member's
    ``receive`` does not print what it cannot read yet, and prints it as soon as the
    key comes (the next time the sender writes while the member is online)."""
    async with running_devserver(tmp_path / "srv", quirk_offline_skdm_500=True) as server:
        alice, bob = tmp_path / "alice", tmp_path / "bob"
        await _register(alice, server, "alice@example.org", "Alice")
        await _register(bob, server, "bob@example.org", "Bob")
        rc, out, err = await cli(alice, "channel", "create", "quirky", "--json")
        assert rc == 0, err
        channel_id = _json_lines(out)[0]["id"]
        rc, out, err = await cli(bob, "channel", "join", "quirky")
        assert rc == 0, err
        rc, out, err = await cli(alice, "channel", "members", "quirky", "--json")
        assert rc == 0, err
        [bob_id] = [m["userId"] for m in _json_lines(out) if not m["owner"]]

        # Bob is offline (no process of his runs): his key is refused, the item stored.
        rc, out, err = await cli(alice, "send", "--channel", "quirky", "while you sleep")
        assert (rc, out) == (0, ""), err
        rc, out, err = await cli(bob, "receive", "--json")
        assert (rc, out) == (0, ""), err  # held: no key yet, and not 24 hours old

        listening = asyncio.create_task(cli(bob, "receive", "--json", "--timeout", "20"))
        hub = server.server.context.hub
        await until(lambda: hub.user_online(str(bob_id)), "Bob online", timeout=60)
        rc, out, err = await cli(alice, "send", "--channel", "quirky", "good morning")
        assert (rc, out) == (0, ""), err
        rc, out, err = await listening
        assert rc == 0, err
        lines = _json_lines(out)
        assert [(m["text"], m["conversation"], m["channelId"]) for m in lines] == [
            ("while you sleep", "quirky", channel_id),
            ("good morning", "quirky", channel_id),
        ]
