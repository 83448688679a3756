"""The receive pipeline's store-thread half: decrypt, dispatch, store, exactly once.

``process_items`` runs in the account's store thread, in one transaction for the
whole batch (a page of pending messages, or the live items that queued up). Each
item gets its own savepoint inside the Signal decrypt, so a failed decrypt changes no
Signal row; the failure is recorded as an undecryptable message instead. Only after
the commit does the async side delete the items on the server (architecture.md §4).
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from peerwave_tui.errors import MalformedMessageError, SignalError
from peerwave_tui.models import (
    ChatMessage,
    ConversationKind,
    Direction,
    MessageKind,
    MessageStatus,
)
from peerwave_tui.signal import KeyManager, TrustEvent
from peerwave_tui.storage.history import History
from peerwave_tui.storage.tx import transaction
from peerwave_tui.wire import IncomingItem

log = logging.getLogger(__name__)

MESSAGE = "message"
READ_RECEIPT = "read_receipt"
EMOTE = "emote"
SENDER_KEY_DISTRIBUTION = "signal:senderKeyDistribution"


@dataclass
class ItemOutcome:
    """What happened to one item, for the async side (events, deletion)."""

    item_id: str
    delete: bool = True  # safe to delete on the server (committed or irrelevant)
    message: ChatMessage | None = None  # a new history row to show
    read_item_ids: list[str] = field(default_factory=list)  # our messages now read
    seen_conversation: str | None = None  # a conversation read on another device
    trust_events: list[TrustEvent] = field(default_factory=list)
    peer: str | None = None  # conversation partner (for trust events)
    duplicate: bool = False


@dataclass(frozen=True)
class Me:
    user_id: str
    device_id: int


def process_items(conn: Any, items: list[IncomingItem], me: Me, now_ms: int) -> list[ItemOutcome]:
    """Decrypt and store a batch of 1:1 items in one transaction."""
    outcomes: list[ItemOutcome] = []
    history = History(conn)
    keys = KeyManager(conn)
    with transaction(conn):
        for item in items:
            outcomes.append(_process_one(history, keys, item, me, now_ms))
    return outcomes


def _process_one(
    history: History, keys: KeyManager, item: IncomingItem, me: Me, now_ms: int
) -> ItemOutcome:
    outcome = ItemOutcome(item_id=item.item_id)
    if history.is_processed(item.sender, item.sender_device_id, item.item_id):
        outcome.duplicate = True
        return outcome
    history.mark_processed(item.sender, item.sender_device_id, item.item_id, now_ms)
    if item.sender == me.user_id and item.sender_device_id == me.device_id:
        return outcome  # our own device's item echoed back: nothing to do
    if item.cipher_type == 0:
        # Unauthenticated server/system plaintext: never shown as a user's message.
        log.info("dropped a plaintext system item")
        return outcome
    sync_copy = item.sender == me.user_id
    peer = (item.original_recipient or me.user_id) if sync_copy else item.sender
    outcome.peer = peer
    created_at = _timestamp_ms(item, now_ms)
    try:
        result = keys.decrypt(
            item.sender, item.sender_device_id, item.cipher_type, _decode_payload(item)
        )
    except SignalError as exc:
        log.info("item from a device could not be decrypted (%s)", type(exc).__name__)
        outcome.message = _record_undecryptable(history, item, peer, sync_copy, created_at)
        return outcome
    outcome.trust_events = list(result.trust_events)
    _dispatch(history, item, result.plaintext, peer, sync_copy, created_at, outcome)
    return outcome


def _decode_payload(item: IncomingItem) -> bytes:
    try:
        return base64.b64decode(item.payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedMessageError("The message payload is not valid base64.") from exc


def _timestamp_ms(item: IncomingItem, now_ms: int) -> int:
    if item.timestamp is None:
        return now_ms  # live items carry no timestamp: use the arrival time
    return int(item.timestamp.timestamp() * 1000)


def _dispatch(
    history: History,
    item: IncomingItem,
    plaintext: bytes,
    peer: str,
    sync_copy: bool,
    created_at: int,
    outcome: ItemOutcome,
) -> None:
    if item.type == MESSAGE:
        try:
            text = plaintext.decode("utf-8")
        except UnicodeDecodeError:
            outcome.message = _record_undecryptable(history, item, peer, sync_copy, created_at)
            return
        outcome.message = history.insert_message(
            conversation_id=peer,
            conversation_kind=ConversationKind.DIRECT,
            item_id=item.item_id,
            sender=item.sender,
            sender_device=item.sender_device_id,
            direction=Direction.OUT if sync_copy else Direction.IN,
            kind=MessageKind.TEXT,
            body=text,
            status=MessageStatus.STORED if sync_copy else MessageStatus.RECEIVED,
            created_at=created_at,
            unread=not sync_copy,
        )
        return
    if item.type == READ_RECEIPT:
        target = _read_receipt_target(plaintext)
        if target is None:
            log.info("ignored a malformed read receipt")
            return
        if sync_copy:
            # Our other device read the peer's message: it is read here too.
            outcome.seen_conversation = history.mark_incoming_seen(target, peer)
        elif history.set_status(target, MessageStatus.READ):
            outcome.read_item_ids.append(target)
        return
    if item.type == EMOTE:
        return  # reactions are not shown yet; decrypting kept the session in step
    outcome.message = history.insert_message(
        conversation_id=peer,
        conversation_kind=ConversationKind.DIRECT,
        item_id=item.item_id,
        sender=item.sender,
        sender_device=item.sender_device_id,
        direction=Direction.OUT if sync_copy else Direction.IN,
        kind=MessageKind.UNSUPPORTED,
        body="",
        detail=item.type[:64],
        status=MessageStatus.STORED if sync_copy else MessageStatus.RECEIVED,
        created_at=created_at,
        unread=not sync_copy,
    )


def _read_receipt_target(plaintext: bytes) -> str | None:
    try:
        data = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("itemId"), str):
        return None
    return data["itemId"]


def _record_undecryptable(
    history: History, item: IncomingItem, peer: str, sync_copy: bool, created_at: int
) -> ChatMessage | None:
    if item.type not in (MESSAGE,) and item.type in (READ_RECEIPT, EMOTE):
        return None  # a lost receipt or reaction is not worth a placeholder
    return history.insert_message(
        conversation_id=peer,
        conversation_kind=ConversationKind.DIRECT,
        item_id=item.item_id,
        sender=item.sender,
        sender_device=item.sender_device_id,
        direction=Direction.OUT if sync_copy else Direction.IN,
        kind=MessageKind.UNDECRYPTABLE,
        body="",
        status=MessageStatus.STORED if sync_copy else MessageStatus.RECEIVED,
        created_at=created_at,
        unread=not sync_copy,
    )
