"""The decode boundary: whatever bytes come in, only our own two errors come out."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from axolotl.protocol.prekeywhispermessage import PreKeyWhisperMessage
from axolotl.protocol.senderkeydistributionmessage import SenderKeyDistributionMessage
from axolotl.protocol.senderkeymessage import SenderKeyMessage
from axolotl.protocol.whispermessage import WhisperMessage
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from peerwave_tui.errors import MalformedMessageError, UndecryptableMessageError
from peerwave_tui.signal import KeyManager, boundary
from tests.signal.support import Account, Clock, KeyDirectory, table_digest

CRASHERS = (b"", bytes.fromhex("3738353b3404"))
GROUP = "5d1f8a54-0000-4000-8000-000000000002"
FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

PARSERS: dict[str, Callable[[Any], Any]] = {
    "SignalMessage": boundary.parse_whisper_message,
    "PreKeySignalMessage": boundary.parse_prekey_message,
    "SenderKeyMessage": boundary.parse_sender_key_message,
    "SenderKeyDistributionMessage": boundary.parse_distribution_message,
    "public key": boundary.parse_public_key,
}


@pytest.mark.parametrize(
    "library_class",
    [WhisperMessage, PreKeyWhisperMessage, SenderKeyMessage, SenderKeyDistributionMessage],
)
def test_bare_parsers_let_foreign_exceptions_escape_or_accept_junk(library_class: type) -> None:
    # Why the boundary exists: none of these is an error type callers could expect.
    outcomes = []
    for data in CRASHERS:
        try:
            library_class(serialized=data)
            outcomes.append("accepted")
        except Exception as exc:  # recording what escapes
            outcomes.append(type(exc).__name__)
    assert any(o in ("TypeError", "DecodeError", "AssertionError", "accepted") for o in outcomes)


@pytest.mark.parametrize("parser", PARSERS.values(), ids=PARSERS.keys())
@pytest.mark.parametrize("data", CRASHERS, ids=["empty", "protobuf-crasher"])
def test_known_crashers_become_malformed(parser: Callable[[Any], Any], data: bytes) -> None:
    with pytest.raises(MalformedMessageError):
        parser(data)


@pytest.mark.parametrize("parser", PARSERS.values(), ids=PARSERS.keys())
@pytest.mark.parametrize("value", [None, "text", 5, [1, 2]])
def test_non_bytes_become_malformed(parser: Callable[[Any], Any], value: object) -> None:
    with pytest.raises(MalformedMessageError):
        parser(value)


@FUZZ
@given(data=st.binary(max_size=600), name=st.sampled_from(sorted(PARSERS)))
@example(data=CRASHERS[0], name="SignalMessage")
@example(data=CRASHERS[1], name="SignalMessage")
def test_random_bytes_parse_or_become_malformed(data: bytes, name: str) -> None:
    try:
        PARSERS[name](data)
    except MalformedMessageError:
        pass


class _Pair:
    """Alice and Bob with a session, a group and valid messages to mutate."""

    def __init__(self, tmp_path: Path) -> None:
        clock, directory = Clock(), KeyDirectory()
        self.alice = Account(tmp_path, "alice", "alice", 1, clock)
        self.bob = Account(tmp_path, "bob", "bob", 1, clock)
        self.alice.setup(directory)
        self.bob.setup(directory)
        self.alice.connect_to(directory, "bob")
        self.prekey_message = self.alice.send(self.bob, b"first")[1]
        with self.alice.keys() as keys:
            self.distribution = keys.create_sender_key(GROUP)
            self.group_message = keys.group_encrypt(GROUP, b"group")
        assert self.bob.receive(self.alice, (3, self.prekey_message)) == b"first"
        self.bob.receive(self.alice, self.alice.send(self.bob, b"second"))
        assert self.alice.receive(self.bob, self.bob.send(self.alice, b"reply")) == b"reply"
        self.message = self.alice.send(self.bob, b"plain")[1]
        with self.bob.keys() as keys:
            keys.process_distribution(GROUP, "alice", 1, self.distribution)


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[tuple[_Pair, KeyManager, Any]]:
    p = _Pair(tmp_path)
    with p.bob.conn() as conn:
        yield p, KeyManager(conn, clock=p.bob.clock), conn


def _mutations(valid: Callable[[_Pair], bytes]) -> st.SearchStrategy[Callable[[_Pair], bytes]]:
    """A valid message with random bytes flipped, cut or appended; or random bytes."""

    def flip(positions: list[int], noise: bytes) -> Callable[[_Pair], bytes]:
        def build(p: _Pair) -> bytes:
            out = bytearray(valid(p))
            for i, pos in enumerate(positions):
                out[pos % len(out)] ^= noise[i % len(noise)] or 1
            return bytes(out)

        return build

    def cut(at: int) -> Callable[[_Pair], bytes]:
        return lambda p: valid(p)[: at % max(1, len(valid(p)))]

    def extend(extra: bytes) -> Callable[[_Pair], bytes]:
        return lambda p: valid(p) + extra

    return st.one_of(
        st.builds(
            flip,
            st.lists(st.integers(0, 10_000), min_size=1, max_size=4),
            st.binary(min_size=1, max_size=4),
        ),
        st.builds(cut, st.integers(0, 10_000)),
        st.builds(extend, st.binary(min_size=1, max_size=40)),
        st.binary(max_size=400).map(lambda b: lambda p: b),
    )


OUR_ERRORS = (MalformedMessageError, UndecryptableMessageError)


@FUZZ
@given(
    build=st.one_of(_mutations(lambda p: p.prekey_message), _mutations(lambda p: p.message)),
    cipher_type=st.sampled_from([2, 3, 3, 2, 0, 4, 1]),
)
@example(build=lambda p: CRASHERS[0], cipher_type=3)
@example(build=lambda p: CRASHERS[1], cipher_type=2)
def test_fuzzed_1to1_messages_fail_cleanly_and_change_nothing(
    pair: tuple[_Pair, KeyManager, Any], build: Callable[[_Pair], bytes], cipher_type: int
) -> None:
    p, keys, conn = pair
    data = build(p)
    before = table_digest(conn)
    try:
        keys.decrypt("alice", 1, cipher_type, data)
    except OUR_ERRORS:
        assert table_digest(conn) == before
    else:  # only an untouched valid message may decrypt (the plain one, once)
        assert data == p.message


@FUZZ
@given(build=_mutations(lambda p: p.group_message))
@example(build=lambda p: CRASHERS[0])
@example(build=lambda p: CRASHERS[1])
def test_fuzzed_group_messages_fail_cleanly_and_change_nothing(
    pair: tuple[_Pair, KeyManager, Any], build: Callable[[_Pair], bytes]
) -> None:
    p, keys, conn = pair
    data = build(p)
    before = table_digest(conn)
    try:
        keys.group_decrypt(GROUP, "alice", 1, data)
    except OUR_ERRORS:
        assert table_digest(conn) == before
    else:
        assert data == p.group_message


@FUZZ
@given(build=_mutations(lambda p: p.distribution))
@example(build=lambda p: CRASHERS[0])
@example(build=lambda p: CRASHERS[1])
def test_fuzzed_distributions_fail_cleanly(
    pair: tuple[_Pair, KeyManager, Any], build: Callable[[_Pair], bytes]
) -> None:
    p, keys, conn = pair
    data = build(p)
    before = table_digest(conn)
    try:
        stored = keys.process_distribution(GROUP, "mallory", 1, data)
    except OUR_ERRORS:
        assert table_digest(conn) == before
    else:
        # a mutation that is still a well-formed sender key is simply a sender key
        assert isinstance(stored, bool)


def test_oversized_input_is_refused_before_parsing() -> None:
    with pytest.raises(MalformedMessageError):
        boundary.parse_whisper_message(os.urandom(boundary.MAX_MESSAGE_BYTES + 1))


def test_store_failures_are_not_reported_as_undecryptable(
    pair: tuple[_Pair, KeyManager, Any],
) -> None:
    from peerwave_tui.errors import StoreError

    p, keys, conn = pair
    conn.execute("DROP TABLE sessions")
    with pytest.raises(StoreError):
        keys.decrypt("alice", 1, 2, p.message)


@FUZZ
@given(
    identity=st.binary(max_size=40),
    signed=st.binary(max_size=40),
    signature=st.binary(max_size=70),
    prekey=st.one_of(st.none(), st.binary(max_size=40)),
    numbers=st.tuples(
        st.integers(-5, 2**33),
        st.integers(-5, 2**33),
        st.integers(-5, 2**33),
        st.integers(-5, 2**33),
    ),
)
@example(identity=b"", signed=b"", signature=b"", prekey=b"", numbers=(0, 0, 0, 0))
def test_fuzzed_bundles_build_nothing(
    pair: tuple[_Pair, KeyManager, Any],
    identity: bytes,
    signed: bytes,
    signature: bytes,
    prekey: bytes | None,
    numbers: tuple[int, int, int, int],
) -> None:
    from peerwave_tui.signal import DeviceBundle, TrustEventKind

    _, keys, conn = pair
    device_id, registration_id, signed_id, prekey_id = numbers
    bundle = DeviceBundle(
        user_id="mallory",
        device_id=device_id,
        registration_id=registration_id,
        identity_key=b"\x05" + identity[:32] if len(identity) == 32 else identity,
        signed_prekey_id=signed_id,
        signed_prekey=b"\x05" + signed[:32] if len(signed) == 32 else signed,
        signed_prekey_signature=signature,
        prekey_id=prekey_id,
        prekey=prekey,
    )
    before = table_digest(conn)
    events = keys.process_bundle("mallory", [bundle])
    assert [e.kind for e in events] == [TrustEventKind.INVALID_BUNDLE]
    assert table_digest(conn) == before
