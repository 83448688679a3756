"""Trust end to end: a contact's new device is announced (and gets copies), a changed
identity key blocks sending with a clear status until it is accepted, and then the
messages that waited go out."""

from __future__ import annotations

from pathlib import Path

from peerwave_tui import events as ev
from peerwave_tui.models import Direction, KeyMode, MessageKind, MessageStatus
from tests.devserver_fixtures import running_devserver
from tests.integration.helpers import (
    EventLog,
    connected,
    contact,
    new_manager,
    received,
    register,
    status_is,
)


def _notices(log: EventLog, account_id: str) -> list[str]:
    return [
        e.message.text
        for e in log.events
        if isinstance(e, ev.MessageReceived)
        and e.account_id == account_id
        and e.message.kind is MessageKind.NOTICE
    ]


async def test_new_device_of_a_contact_is_announced_and_gets_copies(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        a = new_manager(tmp_path / "alice")
        b1 = new_manager(tmp_path / "bob-laptop")
        b2 = new_manager(tmp_path / "bob-phone")
        logs = {"a": EventLog(a), "b1": EventLog(b1), "b2": EventLog(b2)}
        try:
            alice = await register(a, server, "alice@example.org", "Alice")
            bob = await register(b1, server, "bob@example.org", "Bob")
            await logs["a"].wait_for(connected(alice.account_id))
            await logs["b1"].wait_for(connected(bob.account_id))
            await a.open_conversation(alice.account_id, contact(bob))
            await a.send(alice.account_id, bob.user_id or "", "first contact")
            await logs["b1"].wait_for(received(bob.account_id, "first contact"))
            # A first contact is trusted on first use, quietly.
            assert not logs["a"].matching(lambda e: isinstance(e, ev.NewDeviceSeen))
            assert not logs["b1"].matching(lambda e: isinstance(e, ev.NewDeviceSeen))

            phone = await b2.link(await b1.magic_key(bob.account_id))
            await logs["b2"].wait_for(connected(phone.account_id))
            await b2.open_conversation(phone.account_id, contact(alice))
            await b2.send(phone.account_id, alice.user_id or "", "from the phone")
            await logs["a"].wait_for(received(alice.account_id, "from the phone"))
            seen = await logs["a"].wait_for(lambda e: isinstance(e, ev.NewDeviceSeen))
            assert isinstance(seen, ev.NewDeviceSeen)
            assert (seen.contact_id, seen.device_id) == (bob.user_id, phone.device_id)
            assert _notices(logs["a"], alice.account_id) == [
                f"This contact has a new device (device {phone.device_id})."
            ]
            # The laptop learns about its sibling from the sync copy.
            sync = await logs["b1"].wait_for(received(bob.account_id, "from the phone"))
            assert isinstance(sync, ev.MessageReceived)
            assert sync.message.direction is Direction.OUT

            # Alice's answer now reaches both of Bob's devices.
            await a.send(alice.account_id, bob.user_id or "", "to both of you")
            await logs["b1"].wait_for(received(bob.account_id, "to both of you"))
            await logs["b2"].wait_for(received(phone.account_id, "to both of you"))
        finally:
            for log in logs.values():
                await log.close()
            for m in (a, b1, b2):
                await m.aclose()


async def test_identity_change_blocks_sending_until_accepted(tmp_path: Path) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        a = new_manager(tmp_path / "alice")
        old_bob = new_manager(tmp_path / "bob-old")
        new_bob = new_manager(tmp_path / "bob-new", KeyMode.PASSPHRASE)
        logs = {"a": EventLog(a), "old": EventLog(old_bob), "new": EventLog(new_bob)}
        try:
            alice = await register(a, server, "alice@example.org", "Alice")
            pending = await old_bob.register_start(server.url, "bob@example.org")
            result = await old_bob.register_finish(
                pending, await server.read_otp("bob@example.org"), "Bob"
            )
            bob = result.account
            await logs["a"].wait_for(connected(alice.account_id))
            await logs["old"].wait_for(connected(bob.account_id))
            await a.open_conversation(alice.account_id, contact(bob))
            await a.send(alice.account_id, bob.user_id or "", "before")
            await logs["old"].wait_for(received(bob.account_id, "before"))

            # Bob loses his device and logs in anew: the server gives the new install
            # the same device number, with a new identity key.
            await old_bob.remove_account(bob.account_id)
            again = await new_bob.login(server.url, "bob@example.org", result.backup_codes[1])
            assert again.user_id == bob.user_id
            await logs["new"].wait_for(connected(again.account_id))
            assert again.device_id == bob.device_id

            number = await a.safety_number(alice.account_id, bob.user_id or "")
            assert number.changed and not number.verified
            changed = await logs["a"].wait_for(lambda e: isinstance(e, ev.IdentityChanged))
            assert isinstance(changed, ev.IdentityChanged)
            assert changed.contact_id == bob.user_id
            convs = await a.conversations(alice.account_id)
            assert next(c for c in convs if c.conversation_id == bob.user_id).identity_blocked
            assert len(_notices(logs["a"], alice.account_id)) == 1

            # Sending is blocked with a clear status; receiving is not.
            mark = logs["a"].mark()
            held = await a.send(alice.account_id, bob.user_id or "", "held back")
            failed = await logs["a"].wait_for(
                status_is(held.item_id, MessageStatus.FAILED), after=mark
            )
            assert isinstance(failed, ev.MessageStatusChanged)
            assert failed.detail is not None and "safety number" in failed.detail
            await new_bob.open_conversation(again.account_id, contact(alice))
            await new_bob.send(again.account_id, alice.user_id or "", "it is me, really")
            await logs["a"].wait_for(received(alice.account_id, "it is me, really"))
            assert not logs["new"].matching(received(again.account_id, "held back"))

            # Accepting the new key sends what waited.
            await a.accept_identity(alice.account_id, bob.user_id or "")
            await logs["new"].wait_for(received(again.account_id, "held back"))
            await logs["a"].wait_for(status_is(held.item_id, MessageStatus.STORED), after=mark)
            convs = await a.conversations(alice.account_id)
            assert not next(c for c in convs if c.conversation_id == bob.user_id).identity_blocked
            number = await a.safety_number(alice.account_id, bob.user_id or "")
            assert not number.changed
            await a.mark_verified(alice.account_id, bob.user_id or "")
            assert (await a.safety_number(alice.account_id, bob.user_id or "")).verified
            history = await a.messages(alice.account_id, bob.user_id or "")
            texts = [m.text for m in history if m.kind is MessageKind.TEXT]
            assert texts == ["before", "held back", "it is me, really"]
        finally:
            for log in logs.values():
                await log.close()
            for m in (a, old_bob, new_bob):
                await m.aclose()
