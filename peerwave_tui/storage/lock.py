"""One process per account: an exclusive ``flock`` on the store's lock file.

Two processes on one account would advance one ratchet from two copies and replace
each other's socket, so the second one must stop before touching anything. The lock
file holds the holder's pid so the refusal can say who holds it. The lock belongs to
the open file description: it goes away when the holder closes it or dies, so a
crashed process never leaves a stale lock behind.

The lock file is never deleted while the store exists (deleting lock files races);
only ``DeviceStore.delete`` removes it, together with the whole directory, while
holding it.
"""

from __future__ import annotations

import errno
import fcntl
import os
from pathlib import Path

from peerwave_tui.errors import StoreError, StoreLockedError
from peerwave_tui.storage.fs import FILE_MODE

LOCK_FILE_NAME = "store.lock"
_MAX_ATTEMPTS = 5


class StoreLock:
    """A held lock; ``release()`` (idempotent) gives it up."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, path: Path) -> StoreLock:
        """Take the lock at ``path`` without waiting.

        Raises ``StoreLockedError`` (with the holder's pid when it can be read) if
        another open file description holds it: another process, or this process
        opening the same store twice. A refused attempt writes nothing.
        """
        for _ in range(_MAX_ATTEMPTS):
            fd = _open_lock_file(path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_pid(fd)
                os.close(fd)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise StoreLockedError(holder, str(path)) from None
                raise StoreError(
                    f"Cannot lock the store at {path.parent}: {exc.strerror}."
                ) from exc
            if _same_file(fd, path):
                break
            # The directory was deleted (account removal) between our open and flock:
            # the lock we hold is on an unlinked file. Start again on the new path.
            os.close(fd)
        else:
            raise StoreError(f"Cannot lock the store at {path.parent}: it keeps changing.")
        try:
            os.fchmod(fd, FILE_MODE)
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError as exc:
            os.close(fd)
            raise StoreError(f"Cannot write the store's lock file {path}: {exc.strerror}.") from exc
        return cls(path, fd)

    def __del__(self) -> None:
        # A store dropped without aclose() must not keep its account locked for the
        # rest of the process.
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to do
            pass

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Give the lock up (closing the descriptor releases the flock)."""
        fd, self._fd = self._fd, None
        if fd is not None:
            os.close(fd)


def holder_pid(path: Path) -> int | None:
    """The pid written by the last holder of the lock at ``path`` (None if unknown)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return _read_pid(fd)
    finally:
        os.close(fd)


def _open_lock_file(path: Path) -> int:
    try:
        # O_CREAT with 0600 never loosens an existing file and does not modify one.
        return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, FILE_MODE)
    except FileNotFoundError as exc:
        raise StoreError(f"The store directory {path.parent} does not exist.") from exc
    except OSError as exc:
        raise StoreError(f"Cannot open the store's lock file {path}: {exc.strerror}.") from exc


def _read_pid(fd: int) -> int | None:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def _same_file(fd: int, path: Path) -> bool:
    try:
        on_disk = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)
