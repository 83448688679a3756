"""Group channels with sender keys (protocol.md §6).

- ``tables``: the store's group tables (schema version 3).
- ``inbound``: receiving group items and key distributions (store thread).
- ``outbound``: membership, our sender key and the group outbox (store thread).
- ``sender``: the group send lane (a task per server) and the distribution pacer.
- ``channels``: list, discover, create, join, leave, members, find by name.
- ``service``: ``Groups``, what a ``SignalClient`` uses of all this.
"""

from __future__ import annotations
