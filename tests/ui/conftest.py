"""Fixtures for the UI tests: an app over the in-memory manager, fixed dates, UTC."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import pytest_textual_snapshot
from pytest_textual_snapshot import SVGImageExtension

from peerwave_tui.paths import Paths
from peerwave_tui.settings import Settings
from peerwave_tui.ui.app import PeerwaveApp, make_app
from tests.ui.memory_manager import MemoryManager

TODAY = date(2025, 3, 4)  # the day after memory_manager.BASE_TIME
SNAPSHOT_DIR = Path(__file__).resolve().parent.parent / "__snapshots__"


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Times on screen are local times: pin the zone so screens are reproducible."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()


@pytest.fixture
def memory() -> MemoryManager:
    return MemoryManager()


@pytest.fixture
def paths(hermetic_home: Path) -> Paths:
    return Paths.from_home(hermetic_home).ensure()


@pytest.fixture
def settings() -> Settings:
    return Settings()


@pytest.fixture
def build_app(
    settings: Settings, paths: Paths, memory: MemoryManager
) -> Callable[..., PeerwaveApp]:
    def build(**overrides: object) -> PeerwaveApp:
        options: dict[str, object] = {"env": {}, "today": lambda: TODAY}
        options.update(overrides)
        return make_app(settings, paths, manager=memory, **options)  # type: ignore[arg-type]

    return build


async def until(pilot, predicate: Callable[[], object], what: str = "", timeout: float = 20.0):
    """Let the app run until ``predicate()`` holds (a functional deadline, not a sleep)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await pilot.pause(0.02)


async def started(app: PeerwaveApp, pilot) -> None:
    await asyncio.wait_for(app.started.wait(), 30)
    await pilot.pause()


class _SnapshotsUnderTests(SVGImageExtension):
    """Keep SVG snapshots in tests/__snapshots__/ (not next to the test module)."""

    @classmethod
    def dirname(cls, *, test_location) -> str:  # type: ignore[no-untyped-def, override]
        return str(SNAPSHOT_DIR / test_location.basename)


class _RedirectExtension:
    def __init__(self, snapshot) -> None:  # type: ignore[no-untyped-def]
        self._snapshot = snapshot

    def use_extension(self, _extension_class):  # type: ignore[no-untyped-def]
        return self._snapshot.use_extension(_SnapshotsUnderTests)


@pytest.fixture
def snap_compare(snapshot, request):  # type: ignore[no-untyped-def]
    """pytest-textual-snapshot's fixture, with the snapshots under tests/__snapshots__/."""
    original = pytest_textual_snapshot.snap_compare.__wrapped__  # type: ignore[attr-defined]
    return original(_RedirectExtension(snapshot), request)


def screen_text(app: PeerwaveApp) -> str:
    """The screen as plain text: what a user reads."""
    import io

    from rich.console import Console

    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        record=True,
        color_system=None,
        legacy_windows=False,
        force_terminal=True,
    )
    console.print(
        app.screen._compositor.render_update(
            full=True, screen_stack=app._background_screens, simplify=True
        )
    )
    return console.export_text()


async def feed_terminal(app: PeerwaveApp, pilot, data: str) -> None:
    """Send raw terminal input through Textual's own input parser, as a real terminal would
    (Pilot's ``press`` builds key events itself and cannot send ESC+digit or a typed '£')."""
    from textual import events
    from textual._xterm_parser import XTermParser

    parser = XTermParser()
    tokens = [*parser.feed(data), *parser.feed("")]
    for token in tokens:
        if isinstance(token, events.Key):
            token.set_sender(app)
            app._driver.send_message(token)  # type: ignore[union-attr]
            await pilot.pause()


def toasts(app: PeerwaveApp) -> list[str]:
    """The text of every notification currently shown."""
    return [notification.message for notification in app._notifications]


async def click(pilot, widget) -> None:
    """Click a widget once it is laid out on screen."""
    await until(pilot, lambda: widget.region.area > 0, f"{widget!r} on screen")
    await pilot.click(widget)
