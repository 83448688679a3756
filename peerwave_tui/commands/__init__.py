"""Subcommands. Each module has ``register(subparsers, parent)``, which adds its parser
and sets ``handler`` (a function taking the ``Context`` and returning an exit code)."""

from __future__ import annotations

import argparse
from typing import Protocol

from peerwave_tui.commands import (
    account,
    channel,
    demo,
    devserver,
    locate,
    receive,
    send,
    verify,
)


class Command(Protocol):
    def register(
        self, subparsers: argparse._SubParsersAction, parent: argparse.ArgumentParser
    ) -> None: ...


COMMANDS: list[Command] = [account, send, receive, channel, verify, locate, devserver, demo]
