"""The dev server's configuration: one field per command-line switch, plus a clock.

The clock is injectable so tests can move time (expiry, sliding extension, the
±5 minute window, nonce memory, OTP expiry, purge) without sleeping.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_NAME = "PeerWave dev server"
REGISTRATION_MODES = ("open", "email_suffix", "invitation_only")

#: A clock returns Unix time in seconds, like ``time.time``.
Clock = Callable[[], float]


@dataclass
class DevServerConfig:
    """Everything a :class:`~peerwave_tui.devserver.app.DevServer` needs to run."""

    host: str = "127.0.0.1"
    port: int = 3000
    data_dir: Path | None = None
    otp_file: Path | None = None
    smtp: str | None = None
    name: str = DEFAULT_NAME
    public_url: str | None = None
    admin_emails: tuple[str, ...] = ()
    registration_mode: str = "open"
    email_suffixes: tuple[str, ...] = ()
    invitation_tokens: tuple[str, ...] = ()
    rate_limits: bool = False
    purge_days: int | None = None
    quirk_offline_skdm_500: bool = False
    quirk_prekey_random: bool = False
    quirk_no_session: bool = False
    clock: Clock = field(default=time.time)

    def __post_init__(self) -> None:
        if self.registration_mode not in REGISTRATION_MODES:
            raise ValueError(f"unknown registration mode {self.registration_mode!r}")
        if self.purge_days is not None and self.purge_days < 1:
            raise ValueError("purge days must be at least 1")
        if self.smtp is not None:
            parse_smtp(self.smtp)

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> DevServerConfig:
        """Build a config from the switches of :mod:`peerwave_tui.devserver.options`."""
        return cls(
            host=args.host,
            port=args.port,
            data_dir=Path(args.data) if args.data else None,
            otp_file=Path(args.otp_file) if args.otp_file else None,
            smtp=args.smtp,
            name=args.name,
            public_url=args.public_url,
            admin_emails=tuple(e.lower() for e in args.admin_email),
            registration_mode=args.registration_mode,
            email_suffixes=tuple(s.lower() for s in args.email_suffix),
            invitation_tokens=tuple(getattr(args, "invitation_token", []) or []),
            rate_limits=args.rate_limits,
            purge_days=args.purge_days,
            quirk_offline_skdm_500=args.quirk_offline_skdm_500,
            quirk_prekey_random=args.quirk_prekey_random,
            quirk_no_session=args.quirk_no_session,
        )


def parse_smtp(value: str) -> tuple[str, int]:
    """``HOST:PORT`` → ``(host, port)``; raises ValueError on anything else."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--smtp wants HOST:PORT, got {value!r}")
    return host.strip("[]"), int(port)
