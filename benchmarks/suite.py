"""The groups of the suite, how often each repeats, and what each reports.

Every group runs in its own worker process (``benchmarks.worker``), one after the
other, so no group's leftovers (memory, threads, a warm cache) bend another's
figures, and a group that fails costs only its own figures. ``--quick`` keeps the
workload sizes of the issue's table and repeats less.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from benchmarks.records import Figure, not_measured


@dataclass(frozen=True)
class Mode:
    name: str
    key_samples: int
    kdf_samples: int
    drain_reps: int
    latency_reps: int
    scale_reps: int
    scale_idle_s: float
    cold_starts: int
    keypress_runs: int
    timeout_scale: float  # multiplies every group's time limit
    idle_reps: int
    idle_s: float  # seconds of the idle app measured per repetition


QUICK = Mode("quick", 10, 3, 1, 1, 2, 5.0, 3, 1, 1.0, 1, 10.0)
FULL = Mode("full", 30, 5, 5, 3, 5, 10.0, 7, 3, 2.0, 3, 30.0)

# Workload sizes (the same in both modes).
DRAIN_MESSAGES = 10_000
MESSAGE_BYTES = 1024
LATENCY_MESSAGES = 1000
SCALE_SERVERS = 20
UI_SERVERS = 5
UI_STORED_MESSAGES = 100_000
UI_DRAIN_MESSAGES = 10_000

Runner = Callable[[Path, Mode], Awaitable[list[Figure]]]


@dataclass(frozen=True)
class Expected:
    """A figure a group reports (so a failed group still lists it, unmeasured)."""

    name: str
    unit: str
    target: str | None


@dataclass(frozen=True)
class Group:
    name: str
    # Seconds in quick mode, before ``Mode.timeout_scale``: a guard against a hang,
    # generous enough for a machine loaded by other work (3-4 times slower).
    time_limit: float
    expected: tuple[Expected, ...]

    def unmeasured(self, reason: str) -> list[Figure]:
        return [not_measured(e.name, e.unit, e.target, reason) for e in self.expected]


GROUPS = (
    Group(
        "keys",
        300,
        (Expected("fresh_account_keys", "ms", "<= 50"), Expected("passphrase_kdf", "s", None)),
    ),
    Group(
        "drain",
        900,
        (
            Expected("backlog_drain", "msg/s", ">= 5000"),
            Expected("backlog_drain_vs_bare_decrypt", "msg/s", ">= 0.5 x baseline"),
            Expected("bare_axolotl_decrypt", "msg/s", None),
        ),
    ),
    Group(
        "latency",
        600,
        (
            Expected("latency_p50", "ms", "<= 5"),
            Expected("latency_p99", "ms", "<= 20"),
            Expected("latency_vs_socketio", "ms", "<= 3 x baseline"),
        ),
    ),
    Group(
        "scale",
        900,
        (
            Expected("scale_connect_all", "s", "<= 2"),
            Expected("scale_rss_per_server", "MB", "<= 3"),
            Expected("scale_idle_cpu", "%", "<= 1"),
            Expected("scale_unresponsive_delay", "ms", "<= 100"),
        ),
    ),
    Group(
        "ui",
        1200,
        (
            Expected("cold_start_first_paint", "s", "<= 1.0"),
            Expected("cold_start_servers_shown", "s", None),
            Expected("open_conversation_first_paint", "ms", "<= 100"),
            Expected("ui_keypress_during_drain_p95", "ms", "<= 100"),
        ),
    ),
    Group("idle", 300, (Expected("ui_idle_cpu", "%", None),)),
)


def group_named(name: str) -> Group:
    for group in GROUPS:
        if group.name == name:
            return group
    raise KeyError(name)


async def run_group(name: str, work: Path, mode: Mode) -> list[Figure]:
    """Run one group in this process (the worker calls this)."""
    if name == "keys":
        from benchmarks import bench_keys

        return await bench_keys.run(work, mode.key_samples, mode.kdf_samples)
    if name == "drain":
        from benchmarks import bench_drain

        return await bench_drain.run(work, mode.drain_reps, DRAIN_MESSAGES, MESSAGE_BYTES)
    if name == "latency":
        from benchmarks import bench_latency

        return await bench_latency.run(work, mode.latency_reps, LATENCY_MESSAGES)
    if name == "scale":
        from benchmarks import bench_scale

        return await bench_scale.run(work, mode.scale_reps, SCALE_SERVERS, mode.scale_idle_s)
    if name == "ui":
        from benchmarks import bench_ui

        return await bench_ui.run(
            work,
            cold_starts=mode.cold_starts,
            keypress_runs=mode.keypress_runs,
            servers=UI_SERVERS,
            stored=UI_STORED_MESSAGES,
            backlog=UI_DRAIN_MESSAGES,
        )
    if name == "idle":
        from benchmarks import bench_idle

        return await bench_idle.run(work, mode.idle_reps, mode.idle_s)
    raise KeyError(name)
