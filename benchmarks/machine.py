"""What the figures were measured on (printed above the table, quoted in the docs)."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata
from pathlib import Path

LIBRARIES = (
    "textual",
    "aiohttp",
    "python-socketio",
    "python-engineio",
    "python-axolotl",
    "python-axolotl-curve25519",
    "protobuf",
    "sqlcipher3",
    "cryptography",
    "keyring",
)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def memory_gib() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    return None


def versions() -> dict[str, str]:
    found = {}
    for name in LIBRARIES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


def describe() -> str:
    memory = memory_gib()
    load = os.getloadavg()
    libraries = ", ".join(f"{name} {version}" for name, version in versions().items())
    return "\n".join(
        [
            f"machine: {cpu_model()}, {os.cpu_count()} cores"
            + (f", {memory:.0f} GiB" if memory else ""),
            f"system: {platform.platform()}; load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
            f"python: {sys.version.split()[0]} ({platform.python_implementation()})",
            f"libraries: {libraries}",
        ]
    )
