"""A server that accepts TCP but never answers (a dev server stopped with SIGSTOP), in
the same manager as a healthy one: the healthy account's messages flow without delay,
the frozen one shows CONNECTING/OFFLINE, and nothing of it reaches the other."""

from __future__ import annotations

import asyncio
from pathlib import Path

from peerwave_tui import events as ev
from peerwave_tui.models import ConnectionState, KeyMode, MessageStatus
from tests.devserver_fixtures import DevServerProcess, running_devserver
from tests.integration.helpers import (
    EventLog,
    connected,
    contact,
    new_manager,
    received,
    register,
)

PROMPT = 20.0  # "without delay", generously: far below any timeout of the frozen server


async def test_frozen_server_does_not_hold_up_the_healthy_one(tmp_path: Path) -> None:
    async with (
        running_devserver(tmp_path / "healthy") as healthy,
        DevServerProcess(tmp_path / "frozen") as frozen,
    ):
        await frozen.start()
        me = new_manager(tmp_path / "me", KeyMode.PASSPHRASE)
        peers = new_manager(tmp_path / "peers")
        my_log, peer_log = EventLog(me), EventLog(peers)
        me2 = None
        try:
            good = await register(me, healthy, "me@example.org", "Me")
            stuck = await register(me, frozen, "me@example.org", "Me Too")
            good_peer = await register(peers, healthy, "peer@example.org", "Peer")
            stuck_peer = await register(peers, frozen, "peer2@example.org", "Peer Two")
            for acc in (good, stuck):
                await my_log.wait_for(connected(acc.account_id))
            for acc in (good_peer, stuck_peer):
                await peer_log.wait_for(connected(acc.account_id))
            await me.open_conversation(good.account_id, contact(good_peer))
            await me.open_conversation(stuck.account_id, contact(stuck_peer))
            await peers.open_conversation(good_peer.account_id, contact(good))

            # 1. It freezes while connected.
            frozen.stop()
            stalled = await me.send(stuck.account_id, stuck_peer.user_id or "", "stalled")
            await me.send(good.account_id, good_peer.user_id or "", "while frozen")
            await peer_log.wait_for(received(good_peer.account_id, "while frozen"), PROMPT)
            await peers.send(good_peer.account_id, good.user_id or "", "answer while frozen")
            await my_log.wait_for(received(good.account_id, "answer while frozen"), PROMPT)
            await me.aclose()  # the app is closed (and restarted below), still frozen

            # 2. It is frozen from the start: connecting never completes.
            me2 = new_manager(tmp_path / "me", KeyMode.PASSPHRASE)
            log2 = EventLog(me2)
            try:
                await me2.start()
                await log2.wait_for(connected(good.account_id), PROMPT)
                await peers.send(good_peer.account_id, good.user_id or "", "after restart")
                await log2.wait_for(received(good.account_id, "after restart"), PROMPT)
                await me2.send(good.account_id, good_peer.user_id or "", "reply after restart")
                await peer_log.wait_for(
                    received(good_peer.account_id, "reply after restart"), PROMPT
                )
                state, _detail = me2.connection_state(stuck.account_id)
                assert state in (ConnectionState.CONNECTING, ConnectionState.OFFLINE)
                assert not log2.matching(connected(stuck.account_id))
                assert not log2.matching(
                    lambda e: (
                        isinstance(e, ev.ConnectionChanged)
                        and e.account_id == good.account_id
                        and e.state is not ConnectionState.CONNECTED
                        and e.state is not ConnectionState.CONNECTING
                    )
                )

                # 3. It thaws: the account connects and its queued message goes out.
                frozen.cont()
                await log2.wait_for(connected(stuck.account_id), 90)
                await peer_log.wait_for(received(stuck_peer.account_id, "stalled"), 60)
                await log2.wait_for(
                    lambda e: (
                        isinstance(e, ev.MessageStatusChanged)
                        and e.item_id == stalled.item_id
                        and e.status is MessageStatus.STORED
                    ),
                    60,
                )
            finally:
                await log2.close()
        finally:
            frozen.cont()
            for log in (my_log, peer_log):
                await log.close()
            await asyncio.gather(
                me.aclose(), peers.aclose(), *([me2.aclose()] if me2 is not None else [])
            )
