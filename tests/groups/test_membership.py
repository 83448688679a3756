"""Membership changes: a member offline while messages are sent catches up; a member
who left cannot decrypt what follows (shown by handing them the ciphertext directly);
a new member reads what follows and nothing from before."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest

from peerwave_tui.errors import MissingSenderKeyError, UndecryptableMessageError
from peerwave_tui.models import KeyMode, MessageKind, MessageStatus
from peerwave_tui.signal import KeyManager
from tests.devserver_fixtures import running_devserver
from tests.groups.helpers import close_all, outbox_payload, register_member, reopen


@pytest.mark.parametrize("quirk", [False, True], ids=["stored-skdm", "offline-skdm-500"])
async def test_offline_member_catches_up(tmp_path: Path, quirk: bool) -> None:
    async with running_devserver(tmp_path / "srv", quirk_offline_skdm_500=quirk) as server:
        alice = bob = carol = None
        try:
            alice = await register_member(tmp_path / "alice", server, "Alice")
            bob = await register_member(tmp_path / "bob", server, "Bob")
            carol = await register_member(tmp_path / "carol", server, "Carol", KeyMode.PASSPHRASE)
            channel = await alice.manager.create_channel(alice.account_id, "team")
            for member in (bob, carol):
                await member.manager.join_channel(member.account_id, channel.channel_id)
            await carol.close()  # Carol goes offline before anyone wrote
            carol = None

            texts = [f"while you were away {n}" for n in range(3)]
            for text in texts:
                sent = await alice.manager.send(alice.account_id, channel.channel_id, text)
                await alice.wait_status(sent.item_id, MessageStatus.STORED)
            await bob.wait_text(texts[-1])

            carol = await reopen(tmp_path / "carol", "Carol")
            for text in texts:
                await carol.wait_text(text)
            assert await carol.texts(channel.channel_id) == texts
            # Nothing was shown as undecryptable on the way.
            messages = await carol.manager.messages(carol.account_id, channel.channel_id)
            assert all(m.kind is MessageKind.TEXT for m in messages)
        finally:
            await close_all(alice, bob, carol)


async def test_former_member_cannot_decrypt_and_new_member_reads_what_follows(
    tmp_path: Path,
) -> None:
    async with running_devserver(tmp_path / "srv") as server:
        alice = bob = carol = dave = None
        try:
            alice = await register_member(tmp_path / "alice", server, "Alice")
            bob = await register_member(tmp_path / "bob", server, "Bob")
            carol = await register_member(tmp_path / "carol", server, "Carol")
            channel = await alice.manager.create_channel(alice.account_id, "circle")
            for member in (bob, carol):
                await member.manager.join_channel(member.account_id, channel.channel_id)

            before = await alice.manager.send(alice.account_id, channel.channel_id, "before")
            await carol.wait_text("before")
            await bob.wait_text("before")
            before_payload = await outbox_payload(alice, before.item_id)

            await carol.manager.leave_channel(carol.account_id, channel.channel_id)
            after = await alice.manager.send(alice.account_id, channel.channel_id, "after")
            await bob.wait_text("after")
            after_payload = await outbox_payload(alice, after.item_id)

            # Handed directly to Carol's client, bypassing the server: the message after
            # her leave is under a new sender key she never got.
            group, sender, device = channel.channel_id, alice.user_id, alice.account.device_id
            assert device is not None

            def decrypt(payload: str) -> object:
                def run(conn: object) -> bytes:
                    return KeyManager(conn).group_decrypt(
                        group, sender, device, base64.b64decode(payload)
                    )

                return carol.client.store.run(run)  # type: ignore[union-attr]

            with pytest.raises(MissingSenderKeyError):
                await decrypt(after_payload)
            # The one before the leave was under the old key, which she holds: it fails
            # only because she decrypted it already, not for want of a key.
            with pytest.raises(UndecryptableMessageError) as old:
                await decrypt(before_payload)
            assert not isinstance(old.value, MissingSenderKeyError)

            # Dave joins later: he reads what follows, and nothing from before, also
            # when the items from before come with his pending list (a reconnect).
            dave = await register_member(tmp_path / "dave", server, "Dave", KeyMode.PASSPHRASE)
            await dave.manager.join_channel(dave.account_id, channel.channel_id)
            await alice.manager.send(alice.account_id, channel.channel_id, "welcome dave")
            await dave.wait_text("welcome dave")
            await dave.close()
            dave = await reopen(tmp_path / "dave", "Dave")
            await dave.client.wait_drained(60)
            reply = await dave.manager.send(dave.account_id, channel.channel_id, "thanks")
            await alice.wait_text("thanks")
            await bob.wait_text("thanks")
            await dave.wait_status(reply.item_id, MessageStatus.STORED)
            assert await dave.texts(channel.channel_id) == ["welcome dave", "thanks"]
            messages = await dave.manager.messages(dave.account_id, channel.channel_id)
            assert [m.kind for m in messages] == [MessageKind.TEXT, MessageKind.TEXT]
            # The items from before his join did come (the pending list has them) and
            # were dropped quietly: seen, but neither shown nor kept.
            old_ids = {before.item_id, after.item_id}
            seen = await dave.client.store.run(
                lambda c: {r[0] for r in c.execute("SELECT item_id FROM processed_items")}
            )
            assert old_ids <= seen
            held = await dave.client.store.run(
                lambda c: c.execute("SELECT COUNT(*) FROM group_held").fetchone()[0]
            )
            assert held == 0
            convs = await carol.manager.conversations(carol.account_id)
            left = next(c for c in convs if c.conversation_id == channel.channel_id)
            assert left.title == "circle (left)"
            assert "after" not in await carol.texts(channel.channel_id)
        finally:
            await close_all(alice, bob, carol, dave)
