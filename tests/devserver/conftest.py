"""Fixtures for the dev server's own tests: an in-process server on a manual clock,
accounts made over plain HTTP, signed HTTP clients and socket probes."""

from __future__ import annotations

import base64
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests.devserver_fixtures import (
    ManualClock,
    ReadyAccount,
    RunningDevServer,
    SignedHttp,
    SocketProbe,
    create_account,
    running_devserver,
)


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def public_key() -> str:
    """A well-formed (33-byte) serialized public key; the dev server checks sizes only."""
    return b64(b"\x05" + os.urandom(32))


def signature() -> str:
    return b64(os.urandom(64))


def ciphertext(size: int = 64) -> str:
    return b64(os.urandom(size))


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def server(tmp_path: Path, clock: ManualClock) -> AsyncIterator[RunningDevServer]:
    async with running_devserver(tmp_path / "server", clock=clock) as running:
        yield running


@pytest.fixture
async def make_account(
    server: RunningDevServer, clock: ManualClock
) -> Callable[..., Awaitable[ReadyAccount]]:
    async def make(**kwargs: object) -> ReadyAccount:
        return await create_account(server.url, server, clock=clock, **kwargs)  # type: ignore[arg-type]

    return make


@pytest.fixture
async def alice(make_account: Callable[..., Awaitable[ReadyAccount]]) -> ReadyAccount:
    return await make_account(display_name="Alice")


@pytest.fixture
async def bob(make_account: Callable[..., Awaitable[ReadyAccount]]) -> ReadyAccount:
    return await make_account(display_name="Bob")


@pytest.fixture
async def http_factory(
    server: RunningDevServer, clock: ManualClock
) -> AsyncIterator[Callable[[ReadyAccount], SignedHttp]]:
    opened: list[SignedHttp] = []

    def make(account: ReadyAccount) -> SignedHttp:
        client = SignedHttp(server.url, account, clock=clock)
        opened.append(client)
        return client

    yield make
    for client in opened:
        await client.close()


@pytest.fixture
async def probe_factory(
    server: RunningDevServer, clock: ManualClock
) -> AsyncIterator[Callable[[ReadyAccount | None], SocketProbe]]:
    opened: list[SocketProbe] = []

    def make(account: ReadyAccount | None = None) -> SocketProbe:
        probe = SocketProbe(server.url, account, clock=clock)
        opened.append(probe)
        return probe

    yield make
    for probe in opened:
        await probe.close()
