"""Parsing server payloads at the edge: typed results, ProtocolError for anything else."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from peerwave_tui import wire
from peerwave_tui.errors import ProtocolError
from peerwave_tui.wire.fields import MAX_PAYLOAD_CHARS

KEY = base64.b64encode(b"\x05" + bytes(range(32))).decode()
SIG = base64.b64encode(bytes(64)).decode()
U1 = "11111111-1111-4111-8111-111111111111"
U2 = "22222222-2222-4222-8222-222222222222"


# --- base64 and numbers ---------------------------------------------------------------


@pytest.mark.parametrize("good", ["BQ==", "", "AAAA", KEY])
def test_b64_accepts_canonical_padded(good: str) -> None:
    assert base64.b64encode(wire.decode_b64(good)).decode() == good


@pytest.mark.parametrize("bad", ["BQ", "BQ=", "B Q==", "BR==", "-_8=", "BQ==BQ==", "é===", "=BQ="])
def test_b64_rejects_everything_else(bad: str) -> None:
    with pytest.raises(ProtocolError):
        wire.decode_b64(bad)


def _item(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "sender": U1,
        "senderDeviceId": 2,
        "recipient": U2,
        "type": "message",
        "payload": "AAAA",
        "cipherType": 3,
        "itemId": "item-1",
        "originalRecipient": None,
    }
    base.update(over)
    return base


def test_incoming_item_accepts_numbers_as_decimal_strings() -> None:
    item = wire.parse_incoming_item(_item(senderDeviceId="7", cipherType="2", extra="ignored"))
    assert item.sender_device_id == 7 and item.cipher_type == 2
    assert item.original_recipient is None and item.timestamp is None
    assert item.dedupe_key == (U1, 7, "item-1")
    assert not item.is_group


@pytest.mark.parametrize(
    "over",
    [
        {"senderDeviceId": "2.5"},
        {"senderDeviceId": True},
        {"senderDeviceId": -1},
        {"itemId": None},
        {"itemId": ""},
        {"itemId": 5},
        {"sender": ["x"]},
        {"cipherType": "three"},
        {"payload": None},
        {"payload": "A" * (MAX_PAYLOAD_CHARS + 1)},
        {"type": "t" * 1000},
    ],
)
def test_incoming_item_rejects_malformed(over: dict[str, object]) -> None:
    with pytest.raises(ProtocolError) as info:
        wire.parse_incoming_item(_item(**over))
    # the message never echoes the value
    assert "AAAA" not in str(info.value)


def test_incoming_item_payload_kept_raw_even_when_not_base64() -> None:
    # The item must still reach the consumer so it can be recorded and deleted.
    item = wire.parse_incoming_item(_item(payload="%%% not base64 %%%"))
    assert item.payload == "%%% not base64 %%%"


@pytest.mark.parametrize("data", [None, [], "x", 3, [_item()]])
def test_incoming_item_rejects_non_objects(data: object) -> None:
    with pytest.raises(ProtocolError):
        wire.parse_incoming_item(data)


def test_pending_page_with_group_item_and_skipped_entries() -> None:
    group = _item(
        cipherType=4, channel="c-1", channelId="c-1", timestamp="2026-01-01T12:00:00.000Z"
    )
    group.pop("recipient")
    page = wire.parse_pending_page(
        {
            "items": [_item(timestamp="2026-01-01T11:00:00.000Z"), group, {"bad": True}, 7],
            "messages": [],
            "hasMore": True,
            "offset": "40",
            "total": 4,
        }
    )
    assert page.has_more and page.offset == 40 and page.skipped == 2
    one, grp = page.items
    assert one.timestamp == datetime(2026, 1, 1, 11, 0, tzinfo=UTC) and not one.is_group
    assert grp.channel_id == "c-1" and grp.is_group and grp.recipient is None


def test_pending_page_falls_back_to_messages() -> None:
    page = wire.parse_pending_page({"messages": [_item()], "hasMore": False, "offset": 0})
    assert len(page.items) == 1 and not page.has_more


def test_pending_page_rejects_missing_list() -> None:
    with pytest.raises(ProtocolError):
        wire.parse_pending_page({"hasMore": False})


# --- keys ---------------------------------------------------------------------------


def _device(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "clientid": "c1",
        "userId": U1,
        "device_id": 1,
        "public_key": KEY,
        "registration_id": "4242",
        "signedPreKey": {
            "signed_prekey_id": 3,
            "signed_prekey_data": KEY,
            "signed_prekey_signature": SIG,
            "createdAt": "2026-01-01T00:00:00.000Z",
            "updatedAt": "2026-01-01T00:00:00.000Z",
        },
        "preKey": {"id": 99, "client": "c1", "owner": U1, "prekey_id": 17, "prekey_data": KEY},
    }
    base.update(over)
    return base


def test_bundle_parses_full_keyless_and_broken_devices() -> None:
    devices = wire.parse_bundle(
        [
            _device(),
            _device(
                clientid="c2",
                device_id=2,
                public_key=None,
                registration_id=None,
                signedPreKey=None,
                preKey=None,
            ),
            _device(clientid="c3", device_id=3, preKey=None),
            _device(clientid="c4", device_id="4", public_key=base64.b64encode(b"short").decode()),
            {"clientid": "c5"},  # cannot even be named: skipped
        ]
    )
    full, keyless, no_prekey, broken = devices
    assert full.has_keys and full.registration_id == 4242 and full.prekey_id == 17
    assert full.identity_key == base64.b64decode(KEY) and full.signature == bytes(64)
    assert not keyless.has_keys and not keyless.keys_malformed
    assert no_prekey.has_keys and no_prekey.prekey is None and no_prekey.prekey_id is None
    assert broken.device_id == 4 and not broken.has_keys and broken.keys_malformed


def test_bundle_must_be_a_list() -> None:
    with pytest.raises(ProtocolError):
        wire.parse_bundle({"devices": []})


def test_key_status() -> None:
    status = wire.parse_key_status(
        {
            "identityKey": KEY,
            "signedPreKey": None,
            "signedPreKeySignature": None,
            "signedPreKeyId": 17,
            "preKeysCount": "87",
            "preKeyFingerprints": {"101": KEY, "x": KEY},
        }
    )
    assert status.identity_key == base64.b64decode(KEY)
    assert status.signed_prekey is None and status.prekeys_count == 87
    assert status.prekey_ids == frozenset({101})
    with pytest.raises(ProtocolError):
        wire.parse_key_status({"identityKey": "not base64!", "preKeysCount": 1})


# --- events -------------------------------------------------------------------------


def test_sender_key_distribution_event_and_item_payload() -> None:
    body = {
        "groupId": "g",
        "senderId": U1,
        "senderDeviceId": "3",
        "distributionMessage": "AAAA",
        "messageType": 3,
    }
    skd = wire.parse_sender_key_distribution(body)
    assert skd.sender_device_id == 3 and skd.ciphertext == b"\x00\x00\x00"
    assert wire.parse_sender_key_item_payload(json.dumps(body)) == skd
    with pytest.raises(ProtocolError):
        wire.parse_sender_key_distribution({**body, "distributionMessage": "AAA"})
    with pytest.raises(ProtocolError):
        wire.parse_sender_key_item_payload("{not json")
    with pytest.raises(ProtocolError):
        wire.parse_sender_key_item_payload("[1, 2]")


def test_group_events() -> None:
    item = wire.parse_group_item(
        {
            "itemId": "i",
            "channel": "c",
            "sender": U1,
            "senderDevice": 2,
            "type": "message",
            "payload": "AAAA",
            "cipherType": 4,
            "timestamp": "garbage",
        }
    )
    assert item.channel_id == "c" and item.sender_device == 2 and item.timestamp is None
    assert wire.parse_group_item_delivered({"itemId": "i", "existing": True}).existing
    delivered = wire.parse_group_item_delivered(
        {"itemId": "i", "deliveredCount": 2, "totalDevices": 3}
    )
    assert (delivered.delivered_count, delivered.total_devices) == (2, 3)
    assert wire.parse_group_item_error({}).error == "unknown error"
    update = wire.parse_group_item_read_update(
        {
            "itemId": "i",
            "readBy": U2,
            "readByDevice": "ab12",
            "readCount": 1,
            "totalMembers": 2,
            "allRead": False,
        }
    )
    assert update.read_by_device is None and update.read_count == 1


def test_presence_and_receipts() -> None:
    online = wire.parse_presence_update({"user_id": U1, "status": "online", "last_seen": None})
    away = wire.parse_presence_update(
        {"user_id": U1, "status": "away", "last_seen": "2026-01-01T00:00:00Z"}
    )
    gone = wire.parse_user_disconnected({"user_id": U1, "last_seen": "2026-01-01T00:00:00.000Z"})
    assert online.online and not away.online and not gone.online
    assert gone.last_seen == datetime(2026, 1, 1, tzinfo=UTC)
    receipt = wire.parse_delivery_receipt(
        {
            "itemId": "i",
            "recipientUserId": U2,
            "recipientDeviceId": 1,
            "deliveredAt": "2026-01-01T00:00:00.000Z",
        }
    )
    assert receipt.recipient_device_id == 1
    ack = wire.parse_delete_ack({"success": True, "deletedCount": 0})
    assert ack.success and ack.deleted_count == 0
    with pytest.raises(ProtocolError):
        wire.parse_delete_ack({"deletedCount": 1})


def test_authenticated() -> None:
    ok = wire.parse_authenticated(
        {"authenticated": True, "uuid": U1, "deviceId": 3, "clientId": "c"}
    )
    assert isinstance(ok, wire.AuthSuccess) and ok.device_id == 3
    bad = wire.parse_authenticated({"authenticated": False, "error": "no_session"})
    assert bad == wire.AuthFailure("no_session")
    assert wire.parse_authenticated(
        {"authenticated": False, "error": "x\n" * 100}
    ) == wire.AuthFailure("unknown")
    with pytest.raises(ProtocolError):
        wire.parse_authenticated({"authenticated": True, "uuid": U1})


# --- accounts, users, channels ------------------------------------------------------------


def test_meta_is_read_defensively() -> None:
    meta = wire.parse_meta(
        "http://127.0.0.1:3000",
        {"serverName": "Dev", "version": "1.4.4", "registrationMode": "open", "extra": {}},
    )
    assert (meta.name, meta.version, meta.registration_mode) == ("Dev", "1.4.4", "open")
    bare = wire.parse_meta("http://127.0.0.1:3000", {"registrationMode": "weird", "serverName": 5})
    assert bare.name == "127.0.0.1:3000" and bare.version is None and bare.registration_mode is None
    with pytest.raises(ProtocolError):
        wire.parse_meta("http://h", [])


def test_login_results_never_show_secrets() -> None:
    login = wire.parse_login(
        {
            "status": "ok",
            "message": "m",
            "sessionSecret": "s3cr3t-value",
            "userId": U1,
            "email": "a@b.c",
        }
    )
    assert login.refresh_token is None and "s3cr3t-value" not in repr(login)
    with pytest.raises(ProtocolError):
        wire.parse_login({"userId": U1})
    refresh = wire.parse_refresh({"sessionSecret": "n", "refreshToken": "t0ken", "userId": U1})
    assert "t0ken" not in repr(refresh)


def test_contacts_from_people_list_and_profiles() -> None:
    people = wire.parse_contacts(
        [
            {
                "uuid": U1,
                "displayName": "Ann",
                "email": "a@x",
                "picture": None,
                "atName": None,
                "isOnline": True,
            },
            {"displayName": "no uuid"},
        ]
    )
    assert len(people) == 1 and people[0].online and people[0].display_name == "Ann"
    profiles = wire.parse_profiles(
        {
            "profiles": [
                {
                    "uuid": U2,
                    "displayName": None,
                    "picture": None,
                    "atName": "bob",
                    "presence": {"status": "offline", "last_seen": "2026-01-01T00:00:00.000Z"},
                }
            ]
        }
    )
    assert profiles[0].display_name == "bob" and not profiles[0].online
    assert profiles[0].last_seen is not None


def test_magic_key_server_url() -> None:
    key = f"http://127.0.0.1:4000/|{'a' * 64}|1767225600000|{'b' * 64}"
    assert wire.magic_key_server_url(f"  {key}\n") == "http://127.0.0.1:4000"
    for bad in ("", "a|b|c", "ftp://x|a|b|c", "|a|b|c", "http://x|a||c"):
        with pytest.raises(ProtocolError):
            wire.magic_key_server_url(bad)


def test_channels_keep_only_signal_ones() -> None:
    chan = {
        "uuid": "c1",
        "name": "general",
        "description": "d",
        "owner": U1,
        "private": False,
        "type": "signal",
        "defaultRoleId": "r",
        "createdAt": "2026-01-01T00:00:00.000Z",
    }
    listed = wire.parse_channel_list(
        {"status": "success", "channels": [chan, {**chan, "uuid": "c2", "type": "webrtc"}]}
    )
    assert [c.channel_id for c in listed] == ["c1"]
    page = wire.parse_channel_page({"channels": [chan], "total": 1, "hasMore": False})
    assert page.total == 1 and not page.has_more
    devices = wire.parse_member_devices(
        [{"userId": U1, "deviceId": 1}, {"userId": U2, "deviceId": "2"}]
    )
    assert [d.device_id for d in devices] == [1, 2]
    with pytest.raises(ProtocolError):
        wire.parse_member_devices([{"userId": U1}])
    members = wire.parse_members(
        {
            "members": [
                {"userId": U1, "displayName": "A", "email": "a", "isOwner": True, "roles": []}
            ]
        }
    )
    assert members[0].is_owner


# --- fuzzing: every parser fails only with ProtocolError ---------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                [
                    "itemId",
                    "sender",
                    "senderDeviceId",
                    "payload",
                    "cipherType",
                    "type",
                    "items",
                    "hasMore",
                    "offset",
                    "uuid",
                    "deviceId",
                    "authenticated",
                    "error",
                    "user_id",
                    "status",
                    "clientid",
                    "userId",
                    "device_id",
                    "public_key",
                    "registration_id",
                    "signedPreKey",
                    "preKey",
                    "channel",
                    "groupId",
                    "senderId",
                    "distributionMessage",
                    "messageType",
                    "readBy",
                    "readCount",
                    "totalMembers",
                    "success",
                    "members",
                    "channels",
                    "name",
                    "profiles",
                    "identityKey",
                    "preKeysCount",
                ]
            ),
            children,
            max_size=8,
        )
    ),
    max_leaves=20,
)

PARSERS = [
    wire.parse_incoming_item,
    wire.parse_group_item,
    wire.parse_pending_page,
    wire.parse_delivery_receipt,
    wire.parse_delete_ack,
    wire.parse_sender_key_distribution,
    wire.parse_group_item_delivered,
    wire.parse_group_item_error,
    wire.parse_group_item_read_update,
    wire.parse_presence_update,
    wire.parse_user_disconnected,
    wire.parse_authenticated,
    wire.parse_bundle,
    wire.parse_key_status,
    wire.parse_contacts,
    wire.parse_profiles,
    wire.parse_login,
    wire.parse_refresh,
    wire.parse_register,
    wire.parse_channel,
    wire.parse_channel_list,
    wire.parse_channel_page,
    wire.parse_members,
    wire.parse_member_devices,
    wire.parse_pending_available,
    wire.parse_group_items,
]


@settings(max_examples=300, deadline=None)
@given(data=json_values)
def test_parsers_raise_only_protocol_error(data: object) -> None:
    for parser in PARSERS:
        try:
            parser(data)
        except ProtocolError:
            pass


def test_bundle_device_cache_round_trip_and_signal_view() -> None:
    full, keyless = wire.parse_bundle(
        [
            _device(),
            _device(
                clientid="c2",
                device_id=2,
                public_key=None,
                registration_id=None,
                signedPreKey=None,
                preKey=None,
            ),
        ]
    )
    for device in (full, keyless):
        assert wire.BundleDevice.from_cache(json.loads(json.dumps(device.to_cache()))) == device
    bundle = full.to_device_bundle()
    assert (bundle.user_id, bundle.device_id, bundle.registration_id) == (U1, 1, 4242)
    assert bundle.signed_prekey_signature == bytes(64) and bundle.prekey_id == 17
    with pytest.raises(ValueError):
        keyless.to_device_bundle()
    with pytest.raises(ProtocolError):
        wire.BundleDevice.from_cache({"clientid": "c1"})
