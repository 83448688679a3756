"""Transactions and savepoints on a store connection.

Store connections run in autocommit mode (``isolation_level=None``) so that
transactions are explicit. ``transaction(conn)`` opens ``BEGIN IMMEDIATE`` at the
outermost level and a ``SAVEPOINT`` when nested, so pipeline code can wrap a decrypt
in its own savepoint inside a page-wide transaction: a failure rolls back exactly
the inner part and leaves every other row byte-identical.

Only the store thread ever touches a connection, so the depth counter needs no lock.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

_savepoint_names = itertools.count(1)


@contextmanager
def transaction(conn: Any) -> Iterator[Any]:
    """Run the block atomically: commit on success, roll back on any exception."""
    if not conn.in_transaction:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")
        return
    name = f"sp{next(_savepoint_names)}"
    conn.execute(f"SAVEPOINT {name}")
    try:
        yield conn
    except BaseException:
        conn.execute(f"ROLLBACK TO SAVEPOINT {name}")
        conn.execute(f"RELEASE SAVEPOINT {name}")
        raise
    else:
        conn.execute(f"RELEASE SAVEPOINT {name}")


savepoint = transaction
