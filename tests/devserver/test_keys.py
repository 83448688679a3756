"""Key publication, status and bundles (protocol.md sections 4.2, 4.3, 9, 10.2)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.devserver.conftest import b64, public_key, signature
from tests.devserver_fixtures import (
    ReadyAccount,
    RunningDevServer,
    SignedHttp,
    add_device,
    create_account,
    running_devserver,
)

HttpFactory = Callable[[ReadyAccount], SignedHttp]
ISO = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


async def publish(
    http: SignedHttp, *, prekey_ids: range = range(1, 6), signed_id: int = 1
) -> dict[str, Any]:
    """Identity, one signed prekey and some one-time prekeys; returns what was sent."""
    keys: dict[str, Any] = {
        "identity": public_key(),
        "signed": public_key(),
        "signature": signature(),
        "prekeys": {i: public_key() for i in prekey_ids},
    }
    assert (
        await http.post(
            "/signal/identity", {"publicKey": keys["identity"], "registrationId": "4242"}
        )
    )[0] == 200
    body = {"id": signed_id, "data": keys["signed"], "signature": keys["signature"]}
    assert (await http.post("/signal/signedprekey", body))[0] == 200
    if prekey_ids:
        batch = [{"id": i, "data": d} for i, d in keys["prekeys"].items()]
        assert (await http.post("/signal/prekeys/batch", {"preKeys": batch}))[0] == 200
    return keys


async def test_fresh_status_is_empty(alice: ReadyAccount, http_factory: HttpFactory) -> None:
    assert await http_factory(alice).get("/signal/status/minimal") == (
        200,
        {
            "identityKey": None,
            "signedPreKey": None,
            "signedPreKeySignature": None,
            "signedPreKeyId": None,
            "preKeysCount": 0,
            "preKeyFingerprints": {},
        },
    )


async def test_publish_and_status(alice: ReadyAccount, http_factory: HttpFactory) -> None:
    http = http_factory(alice)
    identity = public_key()
    status, body = await http.post(
        "/signal/identity", {"publicKey": identity, "registrationId": "77"}
    )
    assert status == 200 and body["status"] == "success" and isinstance(body["message"], str)
    signed = public_key()
    sig = signature()
    status, body = await http.post(
        "/signal/signedprekey", {"id": 9, "data": signed, "signature": sig}
    )
    assert status == 200 and body["status"] == "success"
    prekeys = [{"id": i, "data": public_key()} for i in (101, 102, 103)]
    assert await http.post("/signal/prekeys/batch", {"preKeys": prekeys}) == (
        200,
        {"status": "success", "stored": 3},
    )

    _, status_body = await http.get("/signal/status/minimal")
    assert status_body["identityKey"] == identity
    assert status_body["signedPreKey"] == signed
    assert status_body["signedPreKeySignature"] == sig
    assert isinstance(status_body["signedPreKeyId"], int)
    assert status_body["preKeysCount"] == 3
    assert status_body["preKeyFingerprints"] == {str(p["id"]): p["data"] for p in prekeys}

    # Identity overwrites; prekeys upsert by id.
    newer = public_key()
    await http.post("/signal/identity", {"publicKey": newer, "registrationId": "77"})
    replaced = public_key()
    await http.post("/signal/prekeys/batch", {"preKeys": [{"id": 101, "data": replaced}]})
    _, status_body = await http.get("/signal/status/minimal")
    assert status_body["identityKey"] == newer
    assert status_body["preKeysCount"] == 3 and status_body["preKeyFingerprints"]["101"] == replaced


async def test_signed_prekey_is_insert_if_absent(
    alice: ReadyAccount, http_factory: HttpFactory
) -> None:
    http = http_factory(alice)
    first = public_key()
    await http.post("/signal/signedprekey", {"id": 1, "data": first, "signature": signature()})
    _, status = await http.get("/signal/status/minimal")
    row = status["signedPreKeyId"]
    await http.post(
        "/signal/signedprekey", {"id": 1, "data": public_key(), "signature": signature()}
    )
    _, status = await http.get("/signal/status/minimal")
    assert status["signedPreKey"] == first and status["signedPreKeyId"] == row
    rotated = public_key()
    await http.post("/signal/signedprekey", {"id": 2, "data": rotated, "signature": signature()})
    _, status = await http.get("/signal/status/minimal")
    assert status["signedPreKey"] == rotated and status["signedPreKeyId"] != row


async def test_single_prekey_and_deletes(alice: ReadyAccount, http_factory: HttpFactory) -> None:
    http = http_factory(alice)
    status, body = await http.post("/signal/prekey", {"id": 5, "data": public_key()})
    assert status == 200 and body["status"] == "success"
    status, body = await http.post("/signal/prekey", {"id": 6, "data": b64(b"\x05" + bytes(31))})
    assert status == 400 and body["status"] == "error" and isinstance(body["message"], str)
    await http.post("/signal/prekey", {"id": 7, "data": public_key()})
    assert await http.delete("/signal/prekey/5") == (204, None)
    _, status_body = await http.get("/signal/status/minimal")
    assert list(status_body["preKeyFingerprints"]) == ["7"]

    await publish(http)
    status, body = await http.delete("/signal/keys")
    assert status == 200 and body["status"] == "success"
    _, status_body = await http.get("/signal/status/minimal")
    assert status_body["identityKey"] is None and status_body["signedPreKey"] is None
    assert status_body["preKeysCount"] == 0


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/signal/identity", {"publicKey": b64(bytes(32)), "registrationId": "1"}),
        ("/signal/identity", {"publicKey": b64(bytes(34)), "registrationId": "1"}),
        ("/signal/identity", {"publicKey": "BQ", "registrationId": "1"}),  # no padding
        ("/signal/identity", {"publicKey": "not base64!!", "registrationId": "1"}),
        (
            "/signal/identity",
            {"publicKey": b64(bytes(33)).replace("A", "-", 1), "registrationId": "1"},
        ),
        ("/signal/identity", {"publicKey": b64(bytes(33)), "registrationId": 4242}),
        ("/signal/identity", {"publicKey": b64(bytes(33))}),
        ("/signal/signedprekey", {"id": 1, "data": b64(bytes(33)), "signature": b64(bytes(63))}),
        ("/signal/signedprekey", {"id": "1", "data": b64(bytes(33)), "signature": b64(bytes(64))}),
        ("/signal/signedprekey", {"id": True, "data": b64(bytes(33)), "signature": b64(bytes(64))}),
        ("/signal/prekeys/batch", {"preKeys": [{"id": 1, "data": b64(bytes(32))}]}),
        (
            "/signal/prekeys/batch",
            {"preKeys": [{"id": i, "data": b64(bytes(33))} for i in range(101)]},
        ),
        ("/signal/prekeys/batch", {"preKeys": "nope"}),
        ("/signal/prekeys/batch", {"preKeys": [7]}),
    ],
)
async def test_bad_keys_are_400(
    alice: ReadyAccount, http_factory: HttpFactory, path: str, body: dict[str, Any]
) -> None:
    http = http_factory(alice)
    status, result = await http.post(path, body)
    assert status == 400 and isinstance(result["error"], str)
    _, status_body = await http.get("/signal/status/minimal")
    assert status_body["identityKey"] is None and status_body["preKeysCount"] == 0


async def test_bundle_shape_and_prekey_consumption(
    server: RunningDevServer, alice: ReadyAccount, bob: ReadyAccount, http_factory: HttpFactory
) -> None:
    """Target's devices first, then the caller's own (the calling device included); the
    handed-out prekey is deleted, also on the caller's devices; key-less devices are there."""
    clock = server.server.config.clock
    bob2 = await add_device(server.url, bob, clock)  # logged in, never publishes keys
    alice_http, bob_http = http_factory(alice), http_factory(bob)
    bob_keys = await publish(bob_http, prekey_ids=range(1, 3))
    alice_keys = await publish(alice_http, prekey_ids=range(50, 53))

    status, bundle = await alice_http.get(f"/signal/prekey_bundle/{bob.user_id}")
    assert status == 200
    assert [(e["userId"], e["device_id"]) for e in bundle] == [
        (bob.user_id, 1), (bob.user_id, 2), (alice.user_id, 1),
    ]  # fmt: skip
    full, keyless, own = bundle
    assert set(full) == {
        "clientid",
        "userId",
        "device_id",
        "public_key",
        "registration_id",
        "signedPreKey",
        "preKey",
    }
    assert full["clientid"] == bob.client_id
    assert full["public_key"] == bob_keys["identity"] and full["registration_id"] == "4242"
    signed = full["signedPreKey"]
    assert set(signed) == {
        "signed_prekey_id",
        "signed_prekey_data",
        "signed_prekey_signature",
        "createdAt",
        "updatedAt",
    }
    assert (signed["signed_prekey_id"], signed["signed_prekey_data"], signed["signed_prekey_signature"]) == (
        1, bob_keys["signed"], bob_keys["signature"],
    )  # fmt: skip
    prekey = full["preKey"]
    assert set(prekey) == {
        "id",
        "client",
        "owner",
        "prekey_id",
        "prekey_data",
        "createdAt",
        "updatedAt",
    }
    assert (prekey["client"], prekey["owner"]) == (bob.client_id, bob.user_id)
    assert prekey["prekey_data"] == bob_keys["prekeys"][prekey["prekey_id"]]
    assert isinstance(prekey["id"], int)
    assert keyless == {
        "clientid": bob2.client_id, "userId": bob.user_id, "device_id": 2, "public_key": None,
        "registration_id": None, "signedPreKey": None, "preKey": None,
    }  # fmt: skip
    assert own["clientid"] == alice.client_id and own["public_key"] == alice_keys["identity"]

    # The handed-out prekeys are gone, on both sides.
    _, bob_status = await bob_http.get("/signal/status/minimal")
    assert str(prekey["prekey_id"]) not in bob_status["preKeyFingerprints"]
    assert bob_status["preKeysCount"] == 1
    _, alice_status = await alice_http.get("/signal/status/minimal")
    assert str(own["preKey"]["prekey_id"]) not in alice_status["preKeyFingerprints"]
    assert alice_status["preKeysCount"] == 2

    # Until none are left: then preKey is null.
    await alice_http.get(f"/signal/prekey_bundle/{bob.user_id}")
    _, bundle = await alice_http.get(f"/signal/prekey_bundle/{bob.user_id}")
    assert bundle[0]["preKey"] is None and bundle[0]["public_key"] == bob_keys["identity"]


async def test_own_bundle_lists_own_devices_once(
    server: RunningDevServer, alice: ReadyAccount, http_factory: HttpFactory
) -> None:
    await add_device(server.url, alice, server.server.config.clock)
    _, bundle = await http_factory(alice).get(f"/signal/prekey_bundle/{alice.user_id}")
    assert [e["device_id"] for e in bundle] == [1, 2]


async def test_bundle_of_unknown_user(alice: ReadyAccount, http_factory: HttpFactory) -> None:
    http = http_factory(alice)
    assert (await http.get("/signal/prekey_bundle/0b6f3c1e-8a52-4c3e-9d0a-2f4b7e9c1a55"))[0] == 404
    assert (await http.get("/signal/prekey_bundle/not-a-uuid"))[0] == 400


async def test_wrong_identity_path_is_404(alice: ReadyAccount, http_factory: HttpFactory) -> None:
    status, _ = await http_factory(alice).post(
        "/api/signal/identity", {"publicKey": public_key(), "registrationId": "1"}
    )
    assert status == 404


async def test_quirk_prekey_random_deletes_another_prekey(tmp_path: Path) -> None:
    """With the quirk, a second random choice picks the prekey to delete, so a handed-out
    prekey can survive (and be handed out again)."""
    async with running_devserver(tmp_path, quirk_prekey_random=True) as server:
        alice = await create_account(server.url, server)
        bob = await create_account(server.url, server)
        async with (
            SignedHttp(server.url, alice) as alice_http,
            SignedHttp(server.url, bob) as bob_http,
        ):
            await publish(bob_http, prekey_ids=range(1, 41))
            survivors = 0
            for _ in range(12):
                _, bundle = await alice_http.get(f"/signal/prekey_bundle/{bob.user_id}")
                handed_out = bundle[0]["preKey"]["prekey_id"]
                _, status = await bob_http.get("/signal/status/minimal")
                survivors += str(handed_out) in status["preKeyFingerprints"]
            assert status["preKeysCount"] == 40 - 12  # still one deleted per fetch
            assert survivors > 0
