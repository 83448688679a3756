"""``--otp-command``: run through the shell until its output has a 5-digit number (the
last one is the code), every half second, for a bounded time."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from peerwave_tui.errors import PeerwaveError
from peerwave_tui.otp import extract_otp, otp_from_command


def test_the_last_free_standing_five_digit_number_is_the_code() -> None:
    assert extract_otp("Your OTP is 12345") == "12345"
    assert extract_otp("a@b.c 11111\na@b.c 22222\n") == "22222"
    assert extract_otp("123456 and 1234") is None
    assert extract_otp("") is None


async def test_the_command_is_polled_until_the_code_appears(tmp_path: Path) -> None:
    counter = tmp_path / "runs"
    # Prints the code only on its third run.
    command = (
        f"echo x >> {counter}; "
        f'if [ "$(wc -l < {counter})" -ge 3 ]; then echo "code: 54321"; else echo waiting; fi'
    )
    started = time.monotonic()
    assert await otp_from_command(command, timeout=30, interval=0.1) == "54321"
    assert counter.read_text().count("x") == 3
    assert time.monotonic() - started < 25


async def test_a_command_that_never_prints_a_code_gives_up(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(PeerwaveError, match="no 5-digit code within 1 s"):
        await otp_from_command("echo not yet", timeout=1, interval=0.2)
    assert time.monotonic() - started < 10
