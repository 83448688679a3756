"""HMAC signing (protocol.md §3.1): the three published vectors and the header set."""

from __future__ import annotations

import pytest

from peerwave_tui.wire import SOCKET_AUTH_PATH, Credentials, auth_headers, sign

CLIENT_ID = "0b6f3c1e-8a52-4c3e-9d0a-2f4b7e9c1a55"
SECRET = "q3Yt9mVxL2bKcR8nPz4wE1uJ6hSfA0dG7iOlTyBvXk4"
TIMESTAMP = 1767225600000
NONCE = "7d3c2b9e-1f4a-4e8b-a6c5-0e9d8f7a6b5c"


@pytest.mark.parametrize(
    ("path", "body", "expected"),
    [
        (
            "/people/profiles",
            b"",
            "a9a09ecaef84d25e4b266319ea53409e8da6ebd2645b2e56f8bafd37a14aabb2",
        ),
        (
            "/signal/identity",
            b'{"publicKey":"BQ==","registrationId":"4242"}',
            "ae0ec1557a9c72620beece61170bf1f858f8523353f5ae23d1c2538b4a86edce",
        ),
        (
            "/socket.io/auth",
            b"",
            "7ead9794c59993b512d13e547a0092d0a17357ca663121b77dac241675e86a94",
        ),
    ],
)
def test_protocol_vectors(path: str, body: bytes, expected: str) -> None:
    assert sign(CLIENT_ID, SECRET, TIMESTAMP, NONCE, path, body) == expected


def test_secret_is_used_as_utf8_text_not_decoded() -> None:
    # A hex-looking secret must not be hex-decoded: the key is its UTF-8 bytes.
    hex_secret = "00" * 32
    a = sign(CLIENT_ID, hex_secret, TIMESTAMP, NONCE, "/x", b"")
    b = sign(CLIENT_ID, "\x00" * 32, TIMESTAMP, NONCE, "/x", b"")
    assert a != b
    assert len(a) == 64 and a == a.lower()


def test_non_ascii_body_is_signed_as_sent() -> None:
    body = '{"name":"Grüße"}'.encode()
    assert sign(CLIENT_ID, SECRET, TIMESTAMP, NONCE, "/p", body) != sign(
        CLIENT_ID, SECRET, TIMESTAMP, NONCE, "/p", b'{"name":"Gruse"}'
    )


def test_socket_authenticate_payload_has_exactly_the_four_headers() -> None:
    creds = Credentials(CLIENT_ID, SECRET, "user-1")
    payload = auth_headers(creds, TIMESTAMP, SOCKET_AUTH_PATH, b"", nonce=NONCE)
    assert set(payload) == {"X-Client-ID", "X-Timestamp", "X-Nonce", "X-Signature"}
    assert payload["X-Timestamp"] == str(TIMESTAMP)
    assert payload["X-Signature"] == (
        "7ead9794c59993b512d13e547a0092d0a17357ca663121b77dac241675e86a94"
    )


def test_fresh_nonce_per_call() -> None:
    creds = Credentials(CLIENT_ID, SECRET, "user-1")
    first = auth_headers(creds, TIMESTAMP, "/p", b"")
    second = auth_headers(creds, TIMESTAMP, "/p", b"")
    assert first["X-Nonce"] != second["X-Nonce"]
    assert first["X-Signature"] != second["X-Signature"]


def test_credentials_repr_hides_secrets() -> None:
    creds = Credentials(CLIENT_ID, SECRET, "user-1", refresh_token="refresh-token-value")
    text = repr(creds)
    assert SECRET not in text and "refresh-token-value" not in text
    assert CLIENT_ID in text
