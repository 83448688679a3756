"""The same e-mail on two servers, in one manager and one home: two accounts that
share nothing (clientId, identity key, store directory), and a message on one server
never shows up on the other."""

from __future__ import annotations

from pathlib import Path

from peerwave_tui import events as ev
from peerwave_tui.models import KeyMode
from peerwave_tui.signal import KeyManager
from tests.devserver_fixtures import running_devserver
from tests.integration.helpers import (
    EventLog,
    connected,
    contact,
    new_manager,
    received,
    register,
)


async def test_same_email_on_two_servers_shares_nothing(tmp_path: Path) -> None:
    async with (
        running_devserver(tmp_path / "one") as one,
        running_devserver(tmp_path / "two", name="Second server") as two,
    ):
        me = new_manager(tmp_path / "me", KeyMode.PASSPHRASE)
        peers = new_manager(tmp_path / "peers")
        my_log, peer_log = EventLog(me), EventLog(peers)
        try:
            a1 = await register(me, one, "same@example.org", "Same One")
            a2 = await register(me, two, "same@example.org", "Same Two")
            p1 = await register(peers, one, "peer1@example.org", "Peer One")
            p2 = await register(peers, two, "peer2@example.org", "Peer Two")
            for acc in (a1, a2):
                await my_log.wait_for(connected(acc.account_id))
            for acc in (p1, p2):
                await peer_log.wait_for(connected(acc.account_id))

            # Two accounts, nothing shared.
            assert a1.email == a2.email
            assert a1.client_id != a2.client_id
            assert a1.user_id != a2.user_id
            assert a1.server_key != a2.server_key
            assert a2.server_name == "Second server"
            dir1 = me.paths.store_dir(a1.server_key, a1.client_id)
            dir2 = me.paths.store_dir(a2.server_key, a2.client_id)
            assert dir1.is_dir() and dir2.is_dir() and dir1 != dir2
            assert not dir1.is_relative_to(dir2.parent) and not dir2.is_relative_to(dir1.parent)
            key1 = await me.client(a1.account_id).store.run(lambda c: KeyManager(c).identity_key())
            key2 = await me.client(a2.account_id).store.run(lambda c: KeyManager(c).identity_key())
            assert key1 != key2
            saved = (me.paths.servers_file).read_text()
            assert saved.count("same@example.org") == 2
            assert "s3cret" not in saved and "session" not in saved

            # A message on server one reaches only the account on server one.
            await peers.open_conversation(p1.account_id, contact(a1, "Same One"))
            await peers.send(p1.account_id, a1.user_id or "", "only on one")
            await my_log.wait_for(received(a1.account_id, "only on one"))
            await me.open_conversation(a2.account_id, contact(p2, "Peer Two"))
            await me.send(a2.account_id, p2.user_id or "", "only on two")
            await peer_log.wait_for(received(p2.account_id, "only on two"))
            # ... and a reply on server two comes back only there.
            await peers.open_conversation(p2.account_id, contact(a2, "Same Two"))
            await peers.send(p2.account_id, a2.user_id or "", "back on two")
            await my_log.wait_for(received(a2.account_id, "back on two"))

            on_one = [
                e.message.text
                for e in my_log.events
                if isinstance(e, ev.MessageReceived) and e.account_id == a1.account_id
            ]
            on_two = [
                e.message.text
                for e in my_log.events
                if isinstance(e, ev.MessageReceived) and e.account_id == a2.account_id
            ]
            assert on_one == ["only on one"]
            assert on_two == ["back on two"]
            assert [c.conversation_id for c in await me.conversations(a1.account_id)] == [
                p1.user_id
            ]
            assert [c.conversation_id for c in await me.conversations(a2.account_id)] == [
                p2.user_id
            ]
            # The peer on server one cannot even see the account on server two.
            people_one = {p.user_id for p in await peers.people(p1.account_id)}
            assert a1.user_id in people_one and a2.user_id not in people_one
        finally:
            for log in (my_log, peer_log):
                await log.close()
            await me.aclose()
            await peers.aclose()
