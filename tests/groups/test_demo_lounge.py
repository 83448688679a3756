"""``peerwave-tui demo``: each demo server has a channel with the demo contact in it,
which the user's account joins, and the contact answers there too."""

from __future__ import annotations

from pathlib import Path

from peerwave_tui import events as ev
from peerwave_tui.demo import DEMO_SERVERS, DemoEnvironment, lounge_name
from peerwave_tui.manager import SignalClientManager
from peerwave_tui.models import Direction, KeyMode
from peerwave_tui.paths import Paths
from peerwave_tui.storage.custody import KeyCustody
from tests.integration.helpers import EventLog


async def test_each_demo_server_has_a_lounge_where_the_contact_answers(tmp_path: Path) -> None:
    paths = Paths.from_home(tmp_path / "demo").ensure()
    environment = DemoEnvironment(paths, persistent=False)
    user = SignalClientManager(paths, KeyCustody(paths, KeyMode.MEMORY))
    log = EventLog(user)
    try:
        opened = await environment.start(user, lambda _text: None)
        assert len(opened) == len(DEMO_SERVERS)
        for (account_id, _conversation), spec in zip(opened, DEMO_SERVERS, strict=True):
            [lounge] = await user.channels(account_id)
            assert (lounge.name, lounge.member_count) == (lounge_name(spec), 2)
            await user.send(account_id, lounge.channel_id, f"hi {spec.contact_name}")
            answer = await log.wait_for(
                lambda e, a=account_id, c=lounge.channel_id, n=spec.contact_name: (
                    isinstance(e, ev.MessageReceived)
                    and e.account_id == a
                    and e.message.conversation_id == c
                    and e.message.text == f"echo: hi {n}"
                ),
                timeout=60,
            )
            assert isinstance(answer, ev.MessageReceived)
            assert answer.message.direction is Direction.IN
            assert answer.message.sender_name == spec.contact_name
    finally:
        await log.close()
        await user.aclose()
        await environment.aclose()
