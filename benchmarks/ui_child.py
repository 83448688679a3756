"""The app under measurement, in a real terminal (run by ``bench_ui`` inside a pty).

    python -m benchmarks.ui_child SETTINGS.json REPORT_FD CONTROL_FD

It builds the app the way ``peerwave-tui`` does (the command line's parser and
``Context``, then ``commands.app.build_app``: file logging, settings, ``make_app`` over
a ``LazyManager`` that imports and builds the client stack in a thread after the first
paint) and runs it on the pty it was given as its terminal. A hook after Textual's ``App._display`` (the
method that writes each frame to the terminal; Textual is pinned) stamps every frame
with ``time.monotonic()`` (CLOCK_MONOTONIC: comparable with the parent's clock) and
reports, one line each on REPORT_FD:

    paint T                      the first frame written to the terminal
    servers T                    the first frame with every saved server's tab (in the DOM)
    opened NAME T0 T1            open_conversation called at T0; first frame with its messages
    text N T                     the first frame where the composer holds N characters
    backlog PROCESSED DONE T     the drain account's progress (from the manager's events)
    ready T                      the composer of the conversation ``focus`` has focus
    error TEXT                   something went wrong (the parent stops)

Heavy imports happen inside ``main`` so that they count as part of the cold start,
as they would in the real program. CONTROL_FD takes ``quit`` from the parent.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

SETTLE_S = 1.0  # after every account connected, before opening anything
OPEN_TIMEOUT = 60.0


class Reporter:
    def __init__(self, fd: int) -> None:
        self._fd = fd

    def line(self, *parts: object) -> None:
        text = " ".join(str(p) for p in parts) + "\n"
        try:
            os.write(self._fd, text.encode("utf-8"))
        except OSError:
            pass  # the parent is gone; the app ends on its own


class FrameWatch:
    """What each frame showed, for the harness to wait on."""

    def __init__(self, app: Any, report: Reporter, servers: int) -> None:
        self.app = app
        self.report = report
        self.servers = servers
        self.painted = False
        self.servers_shown = False
        # The widgets are looked up once by the harness, never per frame: a DOM query per
        # frame would add the harness's own cost to every figure.
        self.opening: tuple[str, Any, str, float] | None = None  # name, pane, conv, t0
        self.opened = asyncio.Event()
        self.text_len = 0
        self.composer: Any | None = None

    def frame(self) -> None:
        now = time.monotonic()
        if not self.painted:
            self.painted = True
            self.report.line("paint", now)
        main = self.app.main
        if not self.servers_shown and self._tabs_shown(main):
            self.servers_shown = True
            self.report.line("servers", now)
        if self.opening is not None:
            name, pane, conversation_id, started = self.opening
            if pane.conversation_id == conversation_id and pane.message_view.messages:
                self.opening = None
                self.report.line("opened", name, started, now)
                self.opened.set()
        if self.composer is not None:
            length = len(self.composer.text)
            if length != self.text_len:
                self.text_len = length
                self.report.line("text", length, now)

    def _tabs_shown(self, main: Any) -> bool:
        """Every saved server's tab is in the DOM (so in this frame). The app draws the
        tabs from servers.toml before its manager exists; they need not be connected."""
        if len(main.tabs) < self.servers:
            return False
        return all(main.server_tabs.pane_for(account) is not None for account in main.tabs)


def install_frame_hook(app: Any, watch: FrameWatch) -> None:
    """Call ``watch.frame()`` after every frame Textual writes to the terminal."""
    display = app._display

    def hooked(screen: Any, renderable: Any) -> None:
        wrote = renderable is not None and not app._batch_count and screen is app.screen
        display(screen, renderable)
        if wrote:
            try:
                watch.frame()
            except Exception as exc:  # noqa: BLE001 - a harness problem is reported, not raised
                watch.report.line("error", f"frame hook: {type(exc).__name__}: {exc}")

    app._display = hooked


def settled(app: Any) -> bool:
    from peerwave_tui.models import ConnectionState

    tabs = app.main.tabs.values()
    return app.started.is_set() and all(t.state is ConnectionState.CONNECTED for t in tabs)


async def wait_until(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


async def open_and_wait(app: Any, watch: FrameWatch, name: str, account: str, conv: str) -> None:
    tab = app.main.tabs.get(account)
    await wait_until(
        lambda: tab is not None and conv in tab.conversations, OPEN_TIMEOUT, f"{name} listed"
    )
    pane = app.main.server_tabs.pane_for(account)
    if pane is None:
        raise RuntimeError(f"no pane for {name}")
    watch.opened.clear()
    watch.opening = (name, pane, conv, time.monotonic())
    app.call_later(app.main.open_conversation, account, conv)
    await asyncio.wait_for(watch.opened.wait(), OPEN_TIMEOUT)


async def harness(app: Any, watch: FrameWatch, settings: dict[str, Any], control: int) -> None:
    """Drive the measurements inside the running app, then end it."""
    from textual._context import active_app  # this task started before the app did

    active_app.set(app)
    report = watch.report
    quit_requested = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_control() -> None:
        data = os.read(control, 1024)
        if not data or b"quit" in data:
            quit_requested.set()

    loop.add_reader(control, on_control)
    try:
        await wait_until(lambda: watch.servers_shown, OPEN_TIMEOUT, "the servers")
        # The tabs show before the manager exists. The openings are measured in a
        # settled app: every account connected, its start-up work (pending messages,
        # key checks, presence) given a moment; otherwise an opening would be timed
        # against whatever part of it happens to run at the same time.
        await wait_until(lambda: settled(app), OPEN_TIMEOUT, "every account connected")
        await asyncio.sleep(SETTLE_S)
        for name, account, conv in settings.get("open", []):
            await open_and_wait(app, watch, name, account, conv)
        focus = settings.get("focus")
        if focus:
            account, conv = focus
            await open_and_wait(app, watch, "focus", account, conv)
            pane = app.main.server_tabs.pane_for(account)
            await wait_until(lambda: pane.composer.has_focus, OPEN_TIMEOUT, "the composer")
            watch.text_len = len(pane.composer.text)
            watch.composer = pane.composer
            report.line("ready", time.monotonic())
            await quit_requested.wait()
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        report.line("error", f"{type(exc).__name__}: {exc}")
    finally:
        loop.remove_reader(control)
        app.call_later(app.exit)


async def watch_backlog(manager: Any, account_id: str, report: Reporter) -> None:
    from peerwave_tui import events as ev

    async for event in manager.events():
        if isinstance(event, ev.BacklogProgress) and event.account_id == account_id:
            report.line("backlog", event.processed, int(event.done), time.monotonic())


async def run(settings: dict[str, Any], report: Reporter, control: int) -> None:
    # The real program's path: its argument parser (which imports every command
    # module), its Context, and ``commands.app.build_app``, whose LazyManager imports
    # and builds the client stack in a thread after the first paint.
    from peerwave_tui.cli import Context, build_parser
    from peerwave_tui.commands.app import build_app
    from peerwave_tui.paths import Paths

    args = build_parser().parse_args(["--home", settings["home"]])
    app = build_app(Context(args=args, paths=Paths.resolve(args.home)))
    watch = FrameWatch(app, report, int(settings["servers"]))
    install_frame_hook(app, watch)
    tasks = [asyncio.create_task(harness(app, watch, settings, control))]
    if settings.get("backlog_account"):
        # An early subscription: LazyManager attaches it once the manager exists.
        tasks.append(
            asyncio.create_task(watch_backlog(app.manager, settings["backlog_account"], report))
        )
    try:
        await app.run_async()  # closes the manager on its way out
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    settings = json.loads(Path(args[0]).read_text("utf-8"))
    report = Reporter(int(args[1]))
    try:
        asyncio.run(run(settings, report, int(args[2])))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        report.line("error", f"{type(exc).__name__}: {exc}")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
