"""Optional sampling profiles of the measured phases (``--profile DIR``).

``py-spy`` (a dev tool, not a dependency: ``pip install py-spy``) attaches to this
process for exactly the measured phase and samples every thread, so the store
thread's work (decrypt, SQLCipher, fsync) shows next to the event loop's. The
collapsed stacks go to ``DIR/<phase>.txt``; ``summarize`` turns them into the
"where does the time go" table quoted in docs/performance.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import sys
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

PROFILE_ENV = "PEERWAVE_BENCH_PROFILE_DIR"
# Extra py-spy options, e.g. "--gil" (only the thread holding the GIL: where the
# process's one core of Python goes) or "--native" (C frames too: SQLCipher, OpenSSL).
ARGS_ENV = "PEERWAVE_BENCH_PROFILE_ARGS"
SAMPLE_RATE = 250  # Hz
ATTACH_DELAY = 0.5  # seconds for py-spy to attach before the phase starts


def profile_dir() -> Path | None:
    value = os.environ.get(PROFILE_ENV)
    return Path(value) if value else None


def py_spy_path() -> str | None:
    beside = Path(sys.executable).with_name("py-spy")
    if beside.exists():
        return str(beside)
    return shutil.which("py-spy")


@asynccontextmanager
async def profiled(
    phase: str, others: dict[str, int] | None = None, *, include_self: bool = True
) -> AsyncIterator[None]:
    """Sample this process (unless ``include_self`` is false) and ``others`` (name →
    pid, e.g. the dev server) with py-spy while the block runs, when profiling is on."""
    directory = profile_dir()
    tool = py_spy_path()
    if directory is None or tool is None:
        yield
        return
    directory.mkdir(parents=True, exist_ok=True)
    targets = {phase: os.getpid()} if include_self else {}
    targets.update({f"{phase}-{name}": pid for name, pid in (others or {}).items()})
    procs = [
        await asyncio.create_subprocess_exec(
            tool,
            "record",
            "--pid",
            str(pid),
            "--rate",
            str(SAMPLE_RATE),
            "--format",
            "raw",
            "--threads",
            "--nonblocking",  # never pause the target: a paused app would distort the run
            *os.environ.get(ARGS_ENV, "").split(),
            "--output",
            str(directory / f"{name}.txt"),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        for name, pid in targets.items()
    ]
    await asyncio.sleep(ATTACH_DELAY)
    try:
        yield
    finally:
        for proc in procs:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()
                await proc.wait()


# Leaf frames of a thread that is waiting, not working (py-spy cannot always tell).
IDLE_LEAVES = (
    "_worker (futures/thread.py)",
    "select (selectors.py)",
    "_do_waitpid (asyncio/unix_events.py)",
    "wait (threading.py)",
    "_wait_for_tstate_lock (threading.py)",
)


def summarize(collapsed: Path, top: int = 25, thread: str = "") -> str:
    """Self and inclusive sample shares per function from py-spy's raw output: busy
    samples only (idle waits dropped), of the threads whose name contains ``thread``."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    threads: Counter[str] = Counter()
    total = 0
    for line in collapsed.read_text("utf-8", "replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if thread not in frames[0] or _short(frames[-1]).endswith(IDLE_LEAVES):
            continue
        total += count
        threads[frames[0]] += count
        own[_short(frames[-1])] += count
        for name in {_short(f) for f in frames[1:]}:
            inclusive[name] += count
    if not total:
        return "no samples"
    lines = [f"{total} samples"]
    lines += [f"  thread {name}: {100 * n / total:.1f}%" for name, n in threads.most_common(6)]
    lines.append("self time:")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in own.most_common(top)]
    lines.append("inclusive time:")
    lines += [f"  {100 * n / total:5.1f}%  {name}" for name, n in inclusive.most_common(top)]
    return "\n".join(lines)


def _short(frame: str) -> str:
    """``func (path/to/module.py:12)`` → ``func (module.py)``."""
    name, _, where = frame.partition(" (")
    path = where.rstrip(")").rsplit(":", 1)[0]
    parts = Path(path).parts
    tail = "/".join(parts[-2:]) if parts else path
    return f"{name} ({tail})"


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.profiling FILE [THREAD-NAME-PART]``"""
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(main.__doc__)
        return 2
    print(summarize(Path(args[0]), thread=args[1] if len(args) > 1 else ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
