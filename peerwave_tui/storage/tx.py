"""Transactions and savepoints on a store connection.

Store connections run in autocommit mode (``isolation_level=None``) so that
transactions are explicit. ``transaction(conn)`` opens ``BEGIN IMMEDIATE`` at the
outermost level and a ``SAVEPOINT`` when nested, so pipeline code can wrap a decrypt
in its own savepoint inside a page-wide transaction: a failure rolls back exactly
the inner part and leaves every other row byte-identical.

Only the store thread ever touches a connection, so nothing here needs a lock.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

# Every savepoint has the same name: SQLite resolves ROLLBACK TO / RELEASE to the most
# recent savepoint of that name, which with properly nested blocks is always this
# block's own. So no counter (no module state) is needed.
_SAVEPOINT = "peerwave_sp"


@contextmanager
def transaction(conn: Any) -> Iterator[Any]:
    """Run the block atomically: commit on success, roll back on any exception."""
    if not conn.in_transaction:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            _rollback(conn)
            raise
        try:
            conn.execute("COMMIT")
        except BaseException:
            # A failed COMMIT (disk full, I/O error) may leave the transaction open;
            # close it so the next transaction() does not nest inside a dead one.
            _rollback(conn)
            raise
        return
    conn.execute(f"SAVEPOINT {_SAVEPOINT}")
    try:
        yield conn
    except BaseException:
        # SQLite rolls a whole transaction back by itself on some errors (SQLITE_FULL,
        # SQLITE_IOERR, ...); then there is no savepoint left to roll back to, and the
        # original error is the one worth raising.
        if conn.in_transaction:
            with contextlib.suppress(Exception):
                conn.execute(f"ROLLBACK TO SAVEPOINT {_SAVEPOINT}")
                conn.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")
        raise
    conn.execute(f"RELEASE SAVEPOINT {_SAVEPOINT}")


def _rollback(conn: Any) -> None:
    if conn.in_transaction:
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")


savepoint = transaction
