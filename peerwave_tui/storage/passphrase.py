"""Where a store passphrase comes from: given (environment, file) or asked (terminal).

A passphrase counts as *supplied* when the user set ``PEERWAVE_TUI_PASSPHRASE`` or gave
``--passphrase-file``: that alone chooses passphrase mode for new stores. The prompt is
a fallback that only exists on a terminal; it is used when passphrase mode is needed
(asked for, recorded in a store, or no secure keyring exists) and nothing was given.
Nothing is read or asked until a passphrase is actually needed.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

from peerwave_tui.errors import KeyCustodyError

T = TypeVar("T")

PASSPHRASE_ENV = "PEERWAVE_TUI_PASSPHRASE"
_MAX_FILE_BYTES = 64 * 1024

# prompt(new) -> passphrase or None; with new=True it asks twice (a new passphrase).
Prompt = Callable[[bool], "str | None"]


class PassphraseSource:
    """A callable: ``source(new=False)`` returns the passphrase, or None if there is none.

    ``given`` reads a passphrase the user supplied (None when nothing was supplied);
    ``prompt`` asks on the terminal (None when there is no terminal).
    """

    def __init__(
        self,
        *,
        given: Callable[[], str] | None = None,
        prompt: Prompt | None = None,
        description: str = "",
    ) -> None:
        self._given = given
        self._prompt = prompt
        self.description = description

    @classmethod
    def fixed(cls, passphrase: str | None, description: str = "given") -> PassphraseSource:
        """A source that returns ``passphrase`` (e.g. from a UI dialog or a test)."""
        if passphrase is None:
            return cls()
        return cls(given=lambda: passphrase, description=description)

    @property
    def supplied(self) -> bool:
        """Did the user supply a passphrase (environment or file, not the prompt)?"""
        return self._given is not None

    @property
    def can_prompt(self) -> bool:
        return self._prompt is not None

    def __call__(self, *, new: bool = False) -> str | None:
        """The passphrase (blocking: may read a file or ask on the terminal)."""
        passphrase: str | None
        if self._given is not None:
            passphrase = self._given()
        elif self._prompt is not None:
            passphrase = self._prompt(new)
        else:
            return None
        if passphrase is not None and not passphrase:
            raise KeyCustodyError("An empty passphrase cannot protect a store.")
        return passphrase


def passphrase_source_from(
    env: Mapping[str, str],
    passphrase_file: str | os.PathLike[str] | None,
    interactive: bool,
) -> PassphraseSource:
    """The CLI's source: ``--passphrase-file``, else ``PEERWAVE_TUI_PASSPHRASE``, else a
    getpass prompt when ``interactive`` (stdin is a terminal; never inside the TUI)."""
    prompt = _terminal_prompt if interactive else None
    if passphrase_file is not None:
        path = Path(passphrase_file).expanduser()
        return PassphraseSource(
            given=lambda: read_passphrase_file(path), prompt=prompt, description=f"file {path}"
        )
    value = env.get(PASSPHRASE_ENV)
    if value:
        return PassphraseSource(given=lambda: value, prompt=prompt, description=PASSPHRASE_ENV)
    return PassphraseSource(prompt=prompt, description="prompt" if interactive else "none")


def read_passphrase_file(path: Path) -> str:
    """The file's text without its final line break (``echo pw > file`` adds one)."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(_MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise KeyCustodyError(
            f"Cannot read the passphrase file {path}: {exc.strerror or exc}."
        ) from exc
    if len(raw) > _MAX_FILE_BYTES:
        raise KeyCustodyError(f"The passphrase file {path} is too large to be a passphrase.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise KeyCustodyError(f"The passphrase file {path} is not UTF-8 text.") from exc
    if text.endswith("\r\n"):
        text = text[:-2]
    elif text.endswith("\n"):
        text = text[:-1]
    if not text:
        raise KeyCustodyError(f"The passphrase file {path} is empty.")
    return text


def _terminal_prompt(new: bool) -> str | None:
    import getpass

    try:
        if not new:
            return getpass.getpass("Passphrase for peerwave-tui's stores: ") or None
        first = getpass.getpass("Choose a passphrase for peerwave-tui's stores: ")
        if not first:
            return None
        if getpass.getpass("Repeat the passphrase: ") != first:
            raise KeyCustodyError("The two passphrases differ; nothing was created.")
        return first
    except EOFError:
        return None


async def run_in_daemon_thread(fn: Callable[[], T]) -> T:
    """Run ``fn`` in a daemon thread: a prompt blocked on the terminal must not keep
    the interpreter alive after Ctrl+C (executor threads are joined at exit)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def deliver(result: T | None, error: BaseException | None) -> None:
        if future.cancelled():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        outcome: tuple[T | None, BaseException | None]
        try:
            outcome = (fn(), None)
        except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
            outcome = (None, exc)
        try:
            loop.call_soon_threadsafe(deliver, *outcome)
        except RuntimeError:
            pass  # the loop is gone (Ctrl+C during the prompt): nobody is waiting

    threading.Thread(target=target, name="peerwave-passphrase", daemon=True).start()
    return await future
