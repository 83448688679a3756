"""The dev server's command-line switches (protocol.md section 10.1).

Kept free of heavy imports: the CLI builds its parser from this at every start.
"""

from __future__ import annotations

import argparse


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535, not {port}")
    return port


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=3000, help="port (default 3000; 0 picks a free one)"
    )
    parser.add_argument(
        "--data",
        metavar="DIR",
        default=None,
        help="keep state in DIR (created if missing); default: a temporary directory",
    )
    parser.add_argument(
        "--otp-file", metavar="FILE", default=None, help="append '<email> <otp>' lines to FILE"
    )
    parser.add_argument("--smtp", metavar="HOST:PORT", default=None, help="also mail OTPs")
    parser.add_argument(
        "--name", default="PeerWave dev server", help="serverName reported by /client/meta"
    )
    parser.add_argument(
        "--public-url", metavar="URL", default=None, help="server URL inside magic keys"
    )
    parser.add_argument(
        "--admin-email", metavar="EMAIL", action="append", default=[], help="an administrator"
    )
    parser.add_argument(
        "--registration-mode",
        choices=["open", "email_suffix", "invitation_only"],
        default="open",
    )
    parser.add_argument(
        "--email-suffix",
        metavar="SUFFIX",
        action="append",
        default=[],
        help="allowed e-mail suffix (with --registration-mode email_suffix)",
    )
    parser.add_argument(
        "--invitation-token",
        metavar="TOKEN",
        action="append",
        default=[],
        help="an invitation token accepted by /register (with --registration-mode invitation_only)",
    )
    parser.add_argument(
        "--log-file",
        metavar="FILE",
        default=None,
        help="append the log to FILE instead of standard error",
    )
    parser.add_argument(
        "--rate-limits", action="store_true", help="enforce the PeerWave server's rate limits"
    )
    parser.add_argument(
        "--purge-days", type=int, default=None, metavar="N", help="purge items after N days"
    )
    parser.add_argument(
        "--quirk-offline-skdm-500",
        action="store_true",
        help="answer 500 to sender-key distribution for offline devices",
    )
    parser.add_argument(
        "--quirk-prekey-random",
        action="store_true",
        help="delete a random one-time prekey instead of the one handed out",
    )
    parser.add_argument(
        "--quirk-no-session",
        action="store_true",
        help="simulate the fresh-install defect: logins succeed, signed requests get no_session",
    )
