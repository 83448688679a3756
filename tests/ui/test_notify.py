"""Bell and desktop notifications: sent only when they should be, and safely."""

from __future__ import annotations

import itertools

from peerwave_tui.settings import Settings
from peerwave_tui.ui.notify import (
    BURST_ALERTS,
    QUIET_SECONDS,
    DesktopProtocol,
    IncomingMessage,
    Notifier,
    desktop_sequence,
    detect_desktop_protocol,
)
from peerwave_tui.ui.state import conversation_key
from tests.ui.conftest import started, until
from tests.ui.worlds import three_servers

WEZTERM = {"TERM_PROGRAM": "WezTerm", "TERM": "xterm-256color"}


def test_the_terminal_decides_the_protocol() -> None:
    assert detect_desktop_protocol(WEZTERM) is DesktopProtocol.OSC777
    assert detect_desktop_protocol({"TERM": "foot"}) is DesktopProtocol.OSC777
    assert detect_desktop_protocol({"VTE_VERSION": "7200"}) is DesktopProtocol.OSC777
    assert detect_desktop_protocol({"TERM_PROGRAM": "iTerm.app"}) is DesktopProtocol.OSC9
    assert detect_desktop_protocol({"TERM": "xterm-kitty"}) is DesktopProtocol.OSC9
    assert detect_desktop_protocol({"TERM": "xterm-256color"}) is None
    assert detect_desktop_protocol({**WEZTERM, "TMUX": "/tmp/tmux-0/default,1,0"}) is None


def test_a_peer_cannot_inject_escape_sequences() -> None:
    evil = "hi\x07\x1b]777;notify;pwned;x\x07\x1b[2J; and more"
    for protocol in DesktopProtocol:
        sequence = desktop_sequence(protocol, "Alice;x", evil)
        body = sequence[len("\x1b]") : -1]
        assert "\x1b" not in body and "\x07" not in body
        assert sequence.endswith("\x07") and sequence.count("\x07") == 1
    osc777 = desktop_sequence(DesktopProtocol.OSC777, "Alice;x", "a;b")
    assert osc777 == "\x1b]777;notify;Alice,x;a,b\x07"
    assert desktop_sequence(DesktopProtocol.OSC9, "4 cats", "x") == "\x1b]9; 4 cats: x\x07"


def _incoming(**overrides) -> IncomingMessage:
    fields = dict(
        account_id="acct",
        conversation_id="conv",
        server_name="Alpha",
        title="Alice",
        text="the secret text",
    )
    fields.update(overrides)
    return IncomingMessage(**fields)  # type: ignore[arg-type]


def _minutes_apart():
    """A clock on which every alert comes a minute after the previous one."""
    return itertools.count(0.0, 60.0).__next__


def test_rules_for_mute_show_text_and_switches() -> None:
    settings = Settings()
    written: list[str] = []
    notifier = Notifier(settings, written.append, WEZTERM, clock=_minutes_apart())
    assert notifier.message_arrived(_incoming(), viewing=False)
    assert written == ["\a", "\x1b]777;notify;peerwave-tui;New message on Alpha\x07"]
    assert not any("secret" in w or "Alice" in w for w in written)  # show_text is off

    written.clear()
    settings.notifications.show_text = True
    notifier.message_arrived(_incoming(), viewing=False)
    assert written[1] == "\x1b]777;notify;Alice · Alpha;the secret text\x07"

    for case in (
        {"viewing": True},
        {"muted": True},
    ):
        written.clear()
        viewing = bool(case.pop("viewing", False))
        assert not notifier.message_arrived(_incoming(**case), viewing=viewing)
        assert written == []

    settings.muted_conversations.append(conversation_key("acct", "conv"))
    assert not notifier.message_arrived(_incoming(), viewing=False)
    assert notifier.message_arrived(_incoming(conversation_id="other"), viewing=False)
    settings.muted_servers.append("acct")
    written.clear()
    assert not notifier.message_arrived(_incoming(conversation_id="other"), viewing=False)
    assert written == []

    settings.muted_servers.clear()
    settings.notifications.enabled = False
    assert not notifier.message_arrived(_incoming(conversation_id="other"), viewing=False)
    settings.notifications.enabled = True
    settings.notifications.bell = False
    written.clear()
    notifier.message_arrived(_incoming(conversation_id="other"), viewing=False)
    assert written and written[0].startswith("\x1b]777;")  # desktop only, no bell


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_alerts_once_per_conversation_and_a_few_times_overall() -> None:
    clock = _Clock()
    written: list[str] = []
    notifier = Notifier(Settings(), written.append, WEZTERM, clock=clock)
    assert notifier.message_arrived(_incoming(), viewing=False, count=50)
    assert written == ["\a", "\x1b]777;notify;peerwave-tui;50 new messages on Alpha\x07"]
    for _ in range(20):  # the rest of the backlog, a moment later
        clock.now += 0.1
        assert not notifier.message_arrived(_incoming(), viewing=False, count=50)
    assert len(written) == 2
    clock.now += QUIET_SECONDS
    assert notifier.message_arrived(_incoming(), viewing=False)
    assert written[-1] == "\x1b]777;notify;peerwave-tui;New message on Alpha\x07"

    # Many conversations at once (a backlog from many people): a few alerts, then quiet.
    written.clear()
    clock.now += 60
    sent = [
        notifier.message_arrived(_incoming(conversation_id=f"c{n}"), viewing=False)
        for n in range(10)
    ]
    assert sent == [True] * BURST_ALERTS + [False] * (10 - BURST_ALERTS)
    assert written.count("\a") == BURST_ALERTS
    clock.now += 60
    assert notifier.message_arrived(_incoming(conversation_id="c9"), viewing=False)


def test_a_suppressed_message_is_not_counted_as_an_alert() -> None:
    clock = _Clock()
    settings = Settings()
    written: list[str] = []
    notifier = Notifier(settings, written.append, WEZTERM, clock=clock)
    settings.notifications.show_text = True
    # Looked at, or muted: no alert, and no quiet period started by it.
    assert not notifier.message_arrived(_incoming(), viewing=True)
    assert not notifier.message_arrived(_incoming(muted=True), viewing=False)
    assert notifier.message_arrived(_incoming(), viewing=False, count=3)
    assert written[-1] == "\x1b]777;notify;Alice · Alpha;3 new messages: the secret text\x07"


def test_bell_only_where_the_terminal_has_no_notifications() -> None:
    written: list[str] = []
    notifier = Notifier(Settings(), written.append, {"TERM": "xterm-256color"})
    assert notifier.message_arrived(_incoming(), viewing=False)
    assert written == ["\a"]


async def test_the_app_notifies_for_other_conversations_only(build_app, memory, settings) -> None:
    world = three_servers(memory)
    app = build_app(env=WEZTERM)
    written: list[str] = []
    app.write_terminal = written.append  # type: ignore[method-assign]
    async with app.run_test(size=(120, 36)) as pilot:
        await started(app, pilot)
        app.main.open_conversation(world.alpha.account_id, "u-alice")
        await pilot.pause()
        memory.deliver(world.alpha, "u-alice", "seen right away")
        await until(pilot, lambda: memory.called("mark_read"), "read while looking")
        assert written == []
        memory.deliver(world.beta, "u-carol", "private words")
        await until(pilot, lambda: len(written) == 2, "bell and desktop notification")
        assert written[0] == "\a"
        assert written[1] == "\x1b]777;notify;peerwave-tui;New message on Beta\x07"
        written.clear()
        app.main.open_conversation(world.beta.account_id, "u-carol")
        await until(pilot, lambda: app.main.tabs[world.beta.account_id].unread == 0, "read")
        app.main.toggle_mute_conversation()
        app.main.open_conversation(world.alpha.account_id, "u-alice")
        memory.deliver(world.beta, "u-carol", "muted now")
        await until(pilot, lambda: app.main.tabs[world.beta.account_id].unread == 1)
        assert written == []
        assert conversation_key(world.beta.account_id, "u-carol") in settings.muted_conversations
        memory.deliver(world.gamma, "u-dave", "loud")
        await until(pilot, lambda: len(written) == 2)
        app.main.toggle_mute_server(world.gamma.account_id)
        written.clear()
        memory.deliver(world.gamma, "u-dave", "quiet")
        await until(pilot, lambda: app.main.tabs[world.gamma.account_id].unread == 2)
        assert written == []
