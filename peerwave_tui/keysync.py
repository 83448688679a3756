"""Publishing and refreshing this device's keys on its server (protocol.md §4.2), and
the account's periodic upkeep.

Start-up routine per server: read the key status, upload the identity if it differs,
a new signed prekey when the server's differs or ours is due for rotation, and
one-time prekeys when fewer than 20 remain. Generation runs in the store thread;
uploads run on the loop; the plan is committed locally only after the uploads worked.

Upkeep (``upkeep``), at most hourly while the client runs: the key routine at least
once a day (it is also the signed request that keeps the session sliding), deleting
retired signed prekeys and used one-time prekeys (``KeyManager.cleanup``), and pruning
the store: dedupe-ledger rows older than the server could re-deliver, and finished
outbox items.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass
from typing import Any

from peerwave_tui.api import ApiService
from peerwave_tui.signal import KeyManager, KeyUploadPlan
from peerwave_tui.storage.device_store import DeviceStore
from peerwave_tui.storage.history import History
from peerwave_tui.storage.tx import transaction

log = logging.getLogger(__name__)

DAY_S = 24 * 3600.0
# Items live on the server for at most 7 days; twice that is a safe ledger window.
LEDGER_KEEP_MS = 14 * 24 * 3600 * 1000
# Finished outbox items (their ciphertexts) are kept a day for diagnosis, then dropped.
OUTBOX_KEEP_MS = 24 * 3600 * 1000


async def maintain_keys(store: DeviceStore, api: ApiService) -> None:
    status = await api.key_status()

    def plan(conn: Any) -> KeyUploadPlan:
        return KeyManager(conn).plan_key_maintenance(status)

    key_plan = await store.run(plan)
    if key_plan.is_empty:
        return
    # The plan carries wire-ready base64; ApiService takes the raw bytes.
    if key_plan.identity is not None:
        await api.upload_identity(
            _raw(key_plan.identity.public_key), int(key_plan.identity.registration_id)
        )
    if key_plan.signed_prekey is not None:
        spk = key_plan.signed_prekey
        await api.upload_signed_prekey(spk.id, _raw(spk.data), _raw(spk.signature))
    if key_plan.prekeys:
        await api.upload_prekeys([(p.id, _raw(p.data)) for p in key_plan.prekeys])
    await store.run(lambda conn: KeyManager(conn).commit_key_maintenance(key_plan))
    log.info(
        "keys published: identity=%s signed_prekey=%s prekeys=%d",
        key_plan.identity is not None,
        key_plan.signed_prekey is not None,
        len(key_plan.prekeys),
    )


def _raw(b64: str) -> bytes:
    return base64.b64decode(b64, validate=True)


@dataclass(frozen=True)
class PruneResult:
    ledger_rows: int
    outbox_items: int
    signed_prekeys: int
    prekeys: int


def prune_store(conn: Any, now_ms: int) -> PruneResult:
    """Store-thread half of the upkeep: delete what is no longer needed."""
    cleaned = KeyManager(conn).cleanup()
    history = History(conn)
    with transaction(conn):
        ledger = history.forget_processed_before(now_ms - LEDGER_KEEP_MS)
        outbox = history.prune_outbox(now_ms - OUTBOX_KEEP_MS)
    return PruneResult(ledger, outbox, cleaned.signed_prekeys_deleted, cleaned.prekeys_deleted)
