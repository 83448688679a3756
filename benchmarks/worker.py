"""One group of the suite in its own process (started by ``benchmarks.__main__``).

    python -m benchmarks.worker GROUP MODE WORK_DIR RESULT.json

Writes ``{"records": [...]}`` on success, ``{"error": "..."}`` on failure (and exits
with status 1). Nothing of the client logs to the terminal: the client modules log
to loggers without handlers, and python-axolotl's logger is routed by our signal
package.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import traceback
from pathlib import Path

from benchmarks.suite import FULL, QUICK, run_group


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    group, mode_name, work, result = args[0], args[1], Path(args[2]), Path(args[3])
    mode = QUICK if mode_name == QUICK.name else FULL
    work.mkdir(parents=True, exist_ok=True)
    # The client's log (and the libraries' warnings) go to a file, not the table.
    logging.basicConfig(
        filename=work / "worker.log",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        figures = asyncio.run(run_group(group, work, mode))
    except BaseException as exc:  # reported to the parent, which reports it to the user
        detail = "".join(traceback.format_exception(exc)[-6:]) + _log_tail(work / "worker.log")
        result.write_text(json.dumps({"error": f"{type(exc).__name__}: {exc}", "trace": detail}))
        return 1
    result.write_text(json.dumps({"records": [f.record() for f in figures]}))
    return 0


def _log_tail(path: Path, lines: int = 20) -> str:
    if not path.exists():
        return ""
    tail = path.read_text("utf-8", "replace").splitlines()[-lines:]
    return "\nlast log lines:\n" + "\n".join(tail)


if __name__ == "__main__":
    raise SystemExit(main())
