"""Getting a registration OTP from a shell command (``--otp-command``).

The command runs through the shell after ``POST /register`` and again every half
second until its output contains a 5-digit number (the last one is the code), for at
most 60 seconds.
"""

from __future__ import annotations

import asyncio
import re
import time

from peerwave_tui.errors import PeerwaveError

_CODE = re.compile(r"(?<!\d)(\d{5})(?!\d)")


def extract_otp(output: str) -> str | None:
    """The last free-standing 5-digit number in ``output``, if any."""
    found = _CODE.findall(output)
    return found[-1] if found else None


async def otp_from_command(command: str, *, timeout: float = 60.0, interval: float = 0.5) -> str:
    deadline = time.monotonic() + timeout
    while True:
        proc = await asyncio.create_subprocess_shell(
            command,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            remaining = max(0.1, deadline - time.monotonic())
            async with asyncio.timeout(remaining):
                out, _ = await proc.communicate()
        except TimeoutError:
            proc.kill()
            await proc.wait()
            out = b""
        code = extract_otp(out.decode("utf-8", errors="replace"))
        if code:
            return code
        if time.monotonic() + interval > deadline:
            raise PeerwaveError(f"The OTP command printed no 5-digit code within {timeout:g} s.")
        await asyncio.sleep(interval)
