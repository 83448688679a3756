"""``python -m benchmarks [--quick] [--json FILE]``: run the suite, print the table.

The suite always runs inside its own throwaway D-Bus session with an unlocked
gnome-keyring Secret Service (``scripts/_in-keyring-session``): the measured stores
are in keyring mode, and their keys never land in the keyring of the person running
it. Each group runs in its own worker process, one after the other, under a time
limit; dev servers run as processes of their own. A missed target is reported, never
an error: the exit status is 0 when every group ran (1 when a group failed, 2 for a
usage or environment problem).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import machine
from benchmarks.profiling import PROFILE_ENV
from benchmarks.records import Figure
from benchmarks.report import render_table, write_json
from benchmarks.suite import FULL, GROUPS, QUICK, Group, Mode

REPO_ROOT = Path(__file__).resolve().parent.parent
SESSION_ENV = "PEERWAVE_BENCH_KEYRING_SESSION"
KILL_GRACE = 10.0


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="peerwave-tui benchmarks against real dev servers on 127.0.0.1.",
    )
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (same sizes)")
    parser.add_argument("--json", metavar="FILE", type=Path, help="write the records to FILE")
    parser.add_argument(
        "--only",
        metavar="GROUP",
        action="append",
        choices=[g.name for g in GROUPS],
        help="run only this group (repeatable): " + ", ".join(g.name for g in GROUPS),
    )
    parser.add_argument(
        "--profile",
        metavar="DIR",
        type=Path,
        help="sample the measured phases with py-spy (pip install py-spy) into DIR",
    )
    return parser.parse_args(argv)


def in_keyring_session(argv: list[str]) -> int:
    """Run this same command again inside a private D-Bus session and keyring."""
    missing = [t for t in ("dbus-run-session", "gnome-keyring-daemon") if not shutil.which(t)]
    if missing:
        sys.stderr.write(
            "benchmarks: need a private Secret Service; install the Debian packages "
            "dbus, dbus-daemon and gnome-keyring (scripts/test does).\n"
        )
        return 2
    script = REPO_ROOT / "scripts" / "_in-keyring-session"
    command = ["dbus-run-session", "--", str(script), sys.executable, "-m", "benchmarks", *argv]
    env = {**os.environ, SESSION_ENV: "1", "PYTHONPATH": _pythonpath()}
    return subprocess.call(command, env=env, cwd=REPO_ROOT)


def _pythonpath() -> str:
    current = os.environ.get("PYTHONPATH")
    return f"{REPO_ROOT}{os.pathsep}{current}" if current else str(REPO_ROOT)


def run_worker(group: Group, mode: Mode, work: Path, profile: Path | None) -> dict[str, Any]:
    """One group in its own process group, within its time limit."""
    result = work / "result.json"
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "PYTHONPATH": _pythonpath()}
    if profile is not None:
        env[PROFILE_ENV] = str(profile.resolve() / group.name)
    command = [sys.executable, "-m", "benchmarks.worker", group.name, mode.name, str(work)]
    proc = subprocess.Popen(
        [*command, str(result)],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        start_new_session=True,  # its dev servers are in its process group: one kill ends all
    )
    limit = group.time_limit * mode.timeout_scale
    try:
        proc.wait(timeout=limit)
    except subprocess.TimeoutExpired:
        _kill_group(proc)
        return {"error": f"did not finish within {limit:.0f} s"}
    except BaseException:
        _kill_group(proc)
        raise
    if result.exists():
        outcome: dict[str, Any] = json.loads(result.read_text("utf-8"))
        return outcome
    return {"error": f"the worker exited with status {proc.returncode} and no result"}


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    for signum in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, signum)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=KILL_GRACE)
            return
        except subprocess.TimeoutExpired:
            continue


def main(argv: list[str] | None = None) -> int:
    args_list = sys.argv[1:] if argv is None else argv
    args = parse_args(args_list)
    if os.environ.get(SESSION_ENV) != "1":
        return in_keyring_session(args_list)
    mode = QUICK if args.quick else FULL
    groups = [g for g in GROUPS if not args.only or g.name in args.only]
    print(machine.describe())
    print(f"command: python -m benchmarks {' '.join(args_list)}".rstrip())
    print(f"mode: {mode.name}", flush=True)
    root = Path(tempfile.mkdtemp(prefix="peerwave-bench-"))
    records: list[dict[str, Any]] = []
    failed: list[str] = []
    started = time.monotonic()
    try:
        for group in groups:
            sys.stderr.write(f"benchmarks: {group.name}…\n")
            began = time.monotonic()
            outcome = run_worker(group, mode, root / group.name, args.profile)
            took = time.monotonic() - began
            if "records" in outcome:
                records.extend(outcome["records"])
                sys.stderr.write(f"benchmarks: {group.name} done in {took:.0f} s\n")
            else:
                failed.append(group.name)
                reason = f"the {group.name} benchmark failed: {outcome.get('error')}"
                sys.stderr.write(f"benchmarks: {reason}\n{outcome.get('trace', '')}\n")
                records.extend(_records(group.unmeasured(reason)))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print()
    print(render_table(records))
    print(f"total time: {time.monotonic() - started:.0f} s")
    if args.json is not None:
        write_json(args.json, records)
    if failed:
        sys.stderr.write(f"benchmarks: failed groups: {', '.join(failed)}\n")
        return 1
    return 0


def _records(figures: list[Figure]) -> list[dict[str, Any]]:
    return [f.record() for f in figures]


if __name__ == "__main__":
    raise SystemExit(main())
