"""Getting OTPs to people without a mail server (protocol.md section 10.3).

Every OTP goes to the log (``OTP for {email}: {otp}`` at INFO); with an OTP file it
is also appended there as ``{email} {otp}``; with ``--smtp`` it is also mailed, as
the PeerWave server does, in the background so a slow mail server never stalls a
request.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage
from pathlib import Path

from peerwave_tui.devserver.config import parse_smtp

log = logging.getLogger(__name__)

SENDER = "peerwave-devserver@localhost"
SMTP_TIMEOUT_S = 10


class OtpDelivery:
    def __init__(self, otp_file: Path | None, smtp: str | None) -> None:
        self._otp_file = otp_file
        self._smtp = parse_smtp(smtp) if smtp else None
        self._tasks: set[asyncio.Task[None]] = set()

    def deliver(self, email: str, otp: str) -> None:
        log.info("OTP for %s: %s", email, otp)
        if self._otp_file is not None:
            try:
                with self._otp_file.open("a", encoding="utf-8") as handle:
                    handle.write(f"{email} {otp}\n")
            except OSError as exc:
                log.warning("cannot append to the OTP file: %s", exc.strerror or exc)
        if self._smtp is not None:
            task = asyncio.get_running_loop().create_task(self._mail(email, otp))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _mail(self, email: str, otp: str) -> None:
        assert self._smtp is not None
        host, port = self._smtp
        message = EmailMessage()
        message["From"] = SENDER
        message["To"] = email
        message["Subject"] = "Your OTP"
        message.set_content(f"Your OTP is {otp}")
        try:
            await asyncio.to_thread(_send, host, port, message)
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("could not mail the OTP via %s:%d: %s", host, port, exc.__class__.__name__)

    async def aclose(self) -> None:
        """Wait briefly for mails still on their way."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=SMTP_TIMEOUT_S)


def _send(host: str, port: int, message: EmailMessage) -> None:
    with smtplib.SMTP(host, port, timeout=SMTP_TIMEOUT_S) as client:
        client.send_message(message)
