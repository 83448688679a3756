"""Owner-only files and directories, whatever the process umask is.

Every directory the app creates is 0700 and every file 0600. Permissions are set
explicitly after creation because ``os.makedirs(mode=...)`` is filtered by the umask
and does not apply to parents.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def ensure_private_dir(path: Path) -> Path:
    """Create ``path`` and any missing parents as 0700; return it.

    Directories that already exist are left alone: only the ones created here are
    chmodded (an existing directory may be the user's, e.g. ``~/.local/share``).
    """
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            # Another thread or process of ours created it between the check and here.
            continue
        os.chmod(directory, DIR_MODE)
    return path


def create_private_file(path: Path) -> None:
    """Create ``path`` empty with mode 0600 if it does not exist (never truncates)."""
    ensure_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)


def write_private_file(path: Path, data: bytes) -> None:
    """Atomically replace ``path`` with ``data``, mode 0600 (temp file + fsync + rename)."""
    ensure_private_dir(path.parent)
    tmp = _write_temp(path, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _fsync_dir(path.parent)


def write_private_file_exclusive(path: Path, data: bytes) -> bool:
    """Create ``path`` with ``data`` (0600) only if it does not exist yet.

    The file appears complete or not at all (temp file + ``link``), and of two
    processes racing to create it exactly one wins. Returns False, writing nothing,
    when ``path`` already exists.
    """
    ensure_private_dir(path.parent)
    if path.exists():
        return False
    tmp = _write_temp(path, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        _unlink_quietly(tmp)
    _fsync_dir(path.parent)
    return True


def _write_temp(path: Path, data: bytes) -> Path:
    """Write ``data`` to a fresh 0600 temp file beside ``path`` and fsync it.

    The random suffix keeps two threads of one process from sharing a temp file.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink_quietly(tmp)
        raise
    os.close(fd)
    return tmp


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _fsync_dir(directory: Path) -> None:
    """Make a rename durable (best effort: some filesystems refuse directory fsync)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
