"""The receive pipeline: decrypt, dispatch, store, then delete on the server.

``process_items`` runs in the account's store thread, in one transaction for the
whole batch (a page of pending messages, or the live items that queued up). Each
item gets its own savepoint inside the Signal decrypt, so a failed decrypt changes no
Signal row; the failure is recorded as an undecryptable message instead. Only after
the commit does ``Inbound`` (the async half, on the loop) delete the items on the
server (architecture.md §4), emit events and learn the names of new senders.

Pending group items (``channel_id`` set) go through the same batch, in page order,
handled by ``groups.inbound``: they are never deleted (``deleteItem`` does not apply to
them); one marked read in this pass counts as gone, any other as remaining
(protocol.md §5.5). Stored sender-key distributions release the group items held for
that key, in the same transaction.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from peerwave_tui import events as ev
from peerwave_tui.errors import MalformedMessageError, PeerwaveError, ProtocolError, SignalError
from peerwave_tui.groups.inbound import (
    DistributionGate,
    accept_distribution,
    from_pending,
    process_group_item,
)
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
from peerwave_tui.trust import TrustNews, record_trust_events
from peerwave_tui.wire import (
    IncomingItem,
    PendingPage,
    parse_sender_key_item_payload,
)

if TYPE_CHECKING:
    from peerwave_tui.client import SignalClient

log = logging.getLogger(__name__)

MESSAGE = "message"
READ_RECEIPT = "read_receipt"
EMOTE = "emote"
SENDER_KEY_DISTRIBUTION = "signal:senderKeyDistribution"

PENDING_PAGE = 100  # the server's maximum page size (protocol.md §10.4)
CHUNK = 50  # items per store transaction while draining


@dataclass
class ItemOutcome:
    """What happened to one item, for the async side (events, deletion)."""

    item_id: str
    delete: bool = True  # safe to delete on the server (committed or irrelevant)
    message: ChatMessage | None = None  # a new history row to show
    read_item_ids: list[str] = field(default_factory=list)  # our messages now read
    seen_conversation: str | None = None  # a conversation read on another device
    trust: TrustNews = field(default_factory=TrustNews)
    peer: str | None = None  # conversation partner
    sender_key_group: str | None = None  # a group whose sender key arrived
    duplicate: bool = False
    nameless: set[str] = field(default_factory=set)  # people here we have no name for
    group: bool = False  # a pending group item (never deleted, maybe marked read)
    mark_group_read: bool = False  # a group item to mark read on the server now
    new_channel: str | None = None  # a group item of a channel we did not know
    released: list[ChatMessage] = field(default_factory=list)  # held items now readable
    release_marks: list[str] = field(default_factory=list)  # ... to mark read at once

    @property
    def gone(self) -> bool:
        """Off this device's pending list once this pass is done (§5.5 counting)."""
        return self.mark_group_read if self.group else self.delete


@dataclass(frozen=True)
class Me:
    user_id: str
    device_id: int


# --- store-thread half ----------------------------------------------------------------


def process_items(
    conn: Any,
    items: list[IncomingItem],
    me: Me,
    now_ms: int,
    gate: DistributionGate | None = None,
) -> list[ItemOutcome]:
    """Decrypt and store a batch of items (1:1 and pending group items, in their
    order) in one transaction."""
    outcomes: list[ItemOutcome] = []
    history = History(conn)
    keys = KeyManager(conn)
    gate = gate if gate is not None else DistributionGate()
    # Session records stay in memory for the batch and are written once, before the
    # commit (and before any other code reads the Signal tables with its own stores).
    with transaction(conn), keys.sessions.batch() as sessions:
        history.defer_touches()  # one conversation update per batch, not per message
        for item in items:
            if item.channel_id is not None:
                sessions.flush()
                outcomes.append(_process_group(history, item, me, now_ms))
                continue
            outcome = _process_one(history, keys, item, me, now_ms, gate)
            if outcome.trust.events:
                sessions.flush()
                forget_stale_bundles(history, outcome.trust.events, me)
                outcome.trust = record_trust_events(conn, outcome.trust.events, me.user_id, now_ms)
            if outcome.message is not None:
                people = {outcome.message.sender_id, outcome.peer or outcome.message.sender_id}
                outcome.nameless = {p for p in people if history.contact_name(p) is None}
            outcomes.append(outcome)
        history.flush_touches()
    return outcomes


def _process_group(history: History, item: IncomingItem, me: Me, now_ms: int) -> ItemOutcome:
    result = process_group_item(history, from_pending(item), me, now_ms, live=False)
    return ItemOutcome(
        item_id=item.item_id,
        delete=False,
        message=result.message,
        group=True,
        mark_group_read=result.mark_read,
        new_channel=item.channel_id if result.new_channel else None,
        nameless=result.nameless,
    )


def _process_one(
    history: History,
    keys: KeyManager,
    item: IncomingItem,
    me: Me,
    now_ms: int,
    gate: DistributionGate,
) -> ItemOutcome:
    outcome = ItemOutcome(item_id=item.item_id)
    if not history.mark_processed(item.sender, item.sender_device_id, item.item_id, now_ms):
        outcome.duplicate = True  # processed before: not decrypted twice, deleted again
        return outcome
    if item.sender == me.user_id and item.sender_device_id == me.device_id:
        return outcome  # our own device's item echoed back: nothing to do
    if item.cipher_type == 0:
        # Unauthenticated server/system plaintext: never shown as a user's message.
        log.info("dropped a plaintext system item")
        return outcome
    sync_copy = item.sender == me.user_id
    peer = (item.original_recipient or me.user_id) if sync_copy else item.sender
    outcome.peer = peer
    if item.type == SENDER_KEY_DISTRIBUTION:
        _sender_key_distribution(history, keys, item, outcome, me, now_ms, gate)
        return outcome
    created_at = _timestamp_ms(item, now_ms)
    try:
        result = keys.decrypt(
            item.sender, item.sender_device_id, item.cipher_type, _decode_payload(item)
        )
    except SignalError as exc:
        log.info("item from a device could not be decrypted (%s)", type(exc).__name__)
        outcome.message = _record_undecryptable(history, item, peer, sync_copy, created_at)
        return outcome
    outcome.trust.events.extend(result.trust_events)
    _dispatch(history, item, result.plaintext, peer, sync_copy, created_at, outcome)
    return outcome


def forget_stale_bundles(history: History, events: list[TrustEvent], me: Me) -> None:
    """A message came from a device the cached bundle may not list (a new device, or a
    new key): the next send fetches a fresh one, so that device gets its copy too."""
    for event in events:
        if event.user_id == me.user_id:
            history.forget_all_bundles()  # our own new device: every conversation's sync copies
        else:
            history.forget_bundle(event.user_id)


def _decode_payload(item: IncomingItem) -> bytes:
    try:
        return base64.b64decode(item.payload, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedMessageError("The message payload is not valid base64.") from exc


def _timestamp_ms(item: IncomingItem, now_ms: int) -> int:
    if item.timestamp is None:
        return now_ms  # live items carry no timestamp: use the arrival time
    return int(item.timestamp.timestamp() * 1000)


def _sender_key_distribution(
    history: History,
    keys: KeyManager,
    item: IncomingItem,
    outcome: ItemOutcome,
    me: Me,
    now_ms: int,
    gate: DistributionGate,
) -> None:
    """A stored sender-key distribution (protocol.md §6.2): its 1:1 part is decrypted
    (which also keeps the session with that device in step) and the sender key kept;
    group items held for it are decrypted now. It is never shown; a broken one is
    only logged."""
    try:
        dist = parse_sender_key_item_payload(item.payload)
        if (dist.sender_id, dist.sender_device_id) != (item.sender, item.sender_device_id):
            raise MalformedMessageError("The key distribution names another sender.")
        result = keys.decrypt(
            item.sender, item.sender_device_id, dist.message_type, dist.ciphertext
        )
    except (SignalError, ProtocolError) as exc:
        log.info("a sender key distribution could not be used (%s)", type(exc).__name__)
        return
    keys.sessions.flush()  # the group code below reads Signal tables with its own stores
    released = accept_distribution(
        history, dist.group_id, item.sender, item.sender_device_id, result.plaintext, me,
        now_ms, gate,
    )  # fmt: skip
    outcome.trust.events.extend(result.trust_events)
    outcome.sender_key_group = dist.group_id
    outcome.released = released.messages
    outcome.release_marks = released.mark_read
    outcome.nameless |= released.nameless


def _dispatch(
    history: History,
    item: IncomingItem,
    plaintext: bytes,
    peer: str,
    sync_copy: bool,
    created_at: int,
    outcome: ItemOutcome,
) -> None:
    direction = Direction.OUT if sync_copy else Direction.IN
    status = MessageStatus.STORED if sync_copy else MessageStatus.RECEIVED
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
            direction=direction,
            kind=MessageKind.TEXT,
            body=text,
            status=status,
            created_at=created_at,
            unread=not sync_copy,
        )
        return
    if item.type == READ_RECEIPT:
        target = _read_receipt_target(plaintext)
        if target is None:
            log.info("ignored a malformed read receipt")
        elif sync_copy:
            # Our other device read the peer's message: it is read here too.
            outcome.seen_conversation = history.mark_incoming_seen(target, peer)
        elif history.mark_read_by_peer(target, peer):
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
        direction=direction,
        kind=MessageKind.UNSUPPORTED,
        body="",
        detail=_printable(item.type)[:64],
        status=status,
        created_at=created_at,
        unread=not sync_copy,
    )


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() else "?" for c in text)


def _read_receipt_target(plaintext: bytes) -> str | None:
    try:
        data = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("itemId"), str):
        return None
    return data["itemId"]


def _record_undecryptable(
    history: History, item: IncomingItem, peer: str, sync_copy: bool, created_at: int
) -> ChatMessage | None:
    if item.type in (READ_RECEIPT, EMOTE):
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


def _batch(
    items: list[IncomingItem], me: Me, now_ms: int, gate: DistributionGate
) -> Callable[[Any], list[ItemOutcome]]:
    return lambda conn: process_items(conn, items, me, now_ms, gate)


# --- async half -----------------------------------------------------------------------


class Inbound:
    """Drains pending items and handles live ones for one client (its consumer task
    calls these one at a time, so they never interleave)."""

    def __init__(self, client: SignalClient) -> None:
        self._client = client
        self.drained_once = asyncio.Event()
        self.processed_total = 0
        self.chunk = CHUNK

    async def drain(self) -> int:
        """Fetch and process every pending item (protocol.md §5.5); returns how many.

        Pipelined: while the store thread decrypts and commits page k, the loop waits
        for the acks of page k-1's deletes and then fetches page k+1. Page k's deletes
        are sent only after both: after its commit (the durability rule), and after
        page k+1 was fetched, whose offset therefore still counts page k's items
        (every delete that was sent is acknowledged before any fetch, as §5.5 asks)."""
        client = self._client
        processed = 0
        kept = 0  # entries left on the server by pages whose deletes were sent
        deleting: asyncio.Future[Any] | None = None
        page: PendingPage | None = await client.socket.fetch_pending(PENDING_PAGE, 0)
        try:
            while page is not None:
                items = list(page.items)
                # Malformed entries the parser skipped stay on the server.
                skipped = page.skipped
                entries = len(items) + skipped
                more = page.has_more and bool(page.items)
                storing = asyncio.ensure_future(self._store(items))
                fetching = asyncio.ensure_future(self._next_page(deleting, more, kept + entries))
                try:
                    outcomes = await storing
                except BaseException:
                    fetching.cancel()
                    raise
                await self._tell(outcomes)
                page = await fetching
                deleting = self._delete(outcomes)
                # Group items stay until marked read: only those marked in this pass
                # count as gone (§5.5).
                kept += skipped + sum(1 for o in outcomes if not o.gone)
                # (unread group items come with every fetch: only new ones count)
                processed += sum(1 for o in outcomes if not o.group or o.message is not None)
                client.publish(ev.BacklogProgress(client.account_id, processed))
        finally:
            if deleting is not None:
                await deleting
        client.publish(ev.BacklogProgress(client.account_id, processed, done=True))
        self.drained_once.set()
        return processed

    async def _next_page(
        self, deleting: asyncio.Future[Any] | None, more: bool, offset: int
    ) -> PendingPage | None:
        if deleting is not None:
            await deleting  # every delete sent so far is acknowledged first
        if not more:
            return None
        return await self._client.socket.fetch_pending(PENDING_PAGE, offset)

    async def _store(self, items: list[IncomingItem]) -> list[ItemOutcome]:
        if not items:
            return []
        client = self._client
        outcomes = await client.store.run(
            _batch(items, client.me, client.now_ms(), client.groups.gate)
        )
        self.processed_total += len(outcomes)
        return outcomes

    def _delete(self, outcomes: list[ItemOutcome]) -> asyncio.Future[Any]:
        """Send the deletes of committed items (and the read marks of group items);
        the returned future ends when every ack is in (a failed delete is logged: the
        item comes again, and is skipped)."""
        socket = self._client.socket
        groups = self._client.groups

        async def delete_all() -> None:
            await groups.mark_read_on_server(_group_marks(outcomes))
            failed = await _delete_on_server(socket, [o.item_id for o in outcomes if o.delete])
            if failed:
                log.info("%d deleteItem calls failed; those items will come again", failed)

        return asyncio.ensure_future(delete_all())

    async def _tell(self, outcomes: list[ItemOutcome]) -> None:
        await self._learn_senders(outcomes)
        self._emit(outcomes)

    async def process(self, items: list[IncomingItem]) -> int:
        """Store items and delete them on the server (every ack awaited); returns how
        many were kept on the server on purpose. A delete that failed counts as done:
        seeing an item again is harmless, while counting a vanished item as remaining
        would skip one (protocol.md §5.5).

        Items are committed in chunks, and each chunk's deletes go out as soon as it is
        committed (never before), so the server works on them while the next chunk is
        decrypted."""
        client = self._client
        me = client.me
        now = client.now_ms()
        deleting: list[asyncio.Future[int]] = []
        kept = 0
        try:
            for start in range(0, len(items), self.chunk):
                chunk = items[start : start + self.chunk]
                outcomes = await client.store.run(_batch(chunk, me, now, client.groups.gate))
                self.processed_total += len(outcomes)
                ids = [o.item_id for o in outcomes if o.delete]
                # (scheduled now, sent after the events below: the UI hears first)
                deleting.append(asyncio.ensure_future(_delete_on_server(client.socket, ids)))
                kept += len(outcomes) - len(ids)
                await client.groups.mark_read_on_server(_group_marks(outcomes))
                await self._learn_senders(outcomes)
                self._emit(outcomes)
        finally:
            results = await asyncio.gather(*deleting, return_exceptions=True)
        failed = sum(r if isinstance(r, int) else 1 for r in results)
        if failed:
            log.info("%d deleteItem calls failed; those items will come again", failed)
        return kept

    async def mark_seen(self, conversation_id: str, send_receipts: bool) -> int:
        """Everything in the conversation is seen; with ``send_receipts`` a read receipt
        for each incoming message not yet receipted goes to the outbox (the normal
        fan-out gives our other devices a sync copy). Returns how many were queued."""
        client = self._client
        now = client.now_ms()
        device = client.me.device_id

        def seen(conn: Any) -> int:
            history = History(conn)
            with transaction(conn):
                targets = history.mark_conversation_seen(conversation_id)
                if not send_receipts:
                    return 0
                for item_id, sender in targets:
                    body = json.dumps({"itemId": item_id, "readByDeviceId": str(device)})
                    history.enqueue(
                        item_id=str(uuid.uuid4()),
                        peer=sender,
                        type=READ_RECEIPT,
                        created_at=now,
                        plaintext=body.encode("utf-8"),
                    )
                return len(targets)

        return await client.store.run(seen)

    async def _learn_senders(self, outcomes: list[ItemOutcome]) -> None:
        """Fetch the profiles of people we have no name for yet, so conversations have
        a title (once per person; a failure leaves the id shown)."""
        names = await self._client.learn_names(set().union(*(o.nameless for o in outcomes)))
        if not names:
            return
        for outcome in outcomes:
            for message in [outcome.message, *outcome.released]:
                if message is not None and message.sender_name is None:
                    message.sender_name = names.get(message.sender_id)

    def _emit(self, outcomes: list[ItemOutcome]) -> None:
        client = self._client
        account = client.account_id
        touched: set[str] = set()
        for outcome in outcomes:
            for notice in outcome.trust.notices:
                client.publish(ev.MessageReceived(account, notice))
                touched.add(notice.conversation_id)
            if outcome.trust.events:
                client.on_trust_events(outcome.trust.events)
            for message in [outcome.message, *outcome.released]:
                if message is not None:
                    client.publish(ev.MessageReceived(account, message))
                    touched.add(message.conversation_id)
            if outcome.new_channel is not None:
                client.groups.channel_seen(outcome.new_channel)
            for item_id in outcome.read_item_ids:
                client.publish(
                    ev.MessageStatusChanged(
                        account, outcome.peer or "", item_id, MessageStatus.READ
                    )
                )
            if outcome.seen_conversation:
                touched.add(outcome.seen_conversation)
        for conversation_id in sorted(touched):
            client.schedule_conversation_update(conversation_id)


async def _delete_on_server(socket: Any, item_ids: list[str]) -> int:
    """``deleteItem`` for committed items, every ack awaited; returns how many failed
    (those come again and are skipped by the ledger)."""
    if not item_ids:
        return 0
    try:
        results = await socket.delete_items(item_ids)
    except PeerwaveError:
        return len(item_ids)
    return sum(1 for r in results if isinstance(r, BaseException))


def _group_marks(outcomes: list[ItemOutcome]) -> list[str]:
    """Group items to mark read on the server now: those this pass is done with, and
    our other devices' items that a distribution just released."""
    marks = [o.item_id for o in outcomes if o.group and o.mark_group_read]
    for outcome in outcomes:
        marks.extend(outcome.release_marks)
    return marks
