"""The PeerWave server's per-IP rate limits (protocol.md section 9), off by default.

Counts live in memory, in sliding windows, like express-rate-limit's memory store.
Several rules can match one path (``/api/signal/...`` counts against ``/api/*`` and
``/api/signal``); the request is refused when any matching rule is exhausted.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

MINUTE_MS = 60_000


@dataclass(frozen=True)
class Rule:
    name: str
    limit: int
    window_ms: int
    patterns: tuple[str, ...]
    failures_only: bool = False

    def matches(self, path: str) -> bool:
        """``/api`` covers ``/api`` and everything under it; ``/signal/prekey*`` is a
        plain prefix (it covers ``/signal/prekeys/batch`` and ``/signal/prekey_bundle``)."""
        for pattern in self.patterns:
            if pattern.endswith("*"):
                if path.startswith(pattern[:-1]):
                    return True
            elif path == pattern or path.startswith(pattern + "/"):
                return True
        return False


RULES: tuple[Rule, ...] = (
    Rule("register", 15, 60 * MINUTE_MS, ("/register",)),
    Rule("otp", 12, 15 * MINUTE_MS, ("/otp",), failures_only=True),
    Rule("login", 20, 15 * MINUTE_MS, ("/backupcode/mobile-verify", "/magic/generate")),
    Rule("api", 100, 15 * MINUTE_MS, ("/api",)),
    Rule("api-hot", 30, MINUTE_MS, ("/api/signal", "/api/presence", "/api/group-items")),
    Rule(
        "signal-keys",
        100,
        5 * MINUTE_MS,
        ("/signal/identity", "/signal/signedprekey", "/signal/prekey*", "/signal/keys"),
    ),
    Rule("token-refresh", 15, 60 * MINUTE_MS, ("/token/refresh",)),
)


class RateLimiter:
    def __init__(self, now_ms: Callable[[], int], rules: tuple[Rule, ...] = RULES) -> None:
        self._now_ms = now_ms
        self._rules = rules
        self._hits: dict[tuple[str, str], deque[int]] = {}

    def _window(self, rule: Rule, ip: str, now: int) -> deque[int]:
        hits = self._hits.setdefault((rule.name, ip), deque())
        while hits and now - hits[0] >= rule.window_ms:
            hits.popleft()
        return hits

    def admit(self, path: str, ip: str) -> int | None:
        """Count this request; None when admitted, else seconds until it would be."""
        now = self._now_ms()
        matching = [r for r in self._rules if r.matches(path)]
        wait_ms = 0
        for rule in matching:
            hits = self._window(rule, ip, now)
            if len(hits) >= rule.limit:
                wait_ms = max(wait_ms, rule.window_ms - (now - hits[0]))
        if wait_ms:
            return max(1, math.ceil(wait_ms / 1000))
        for rule in matching:
            if not rule.failures_only:
                self._hits[(rule.name, ip)].append(now)
        return None

    def record_failure(self, path: str, ip: str) -> None:
        now = self._now_ms()
        for rule in self._rules:
            if rule.failures_only and rule.matches(path):
                self._window(rule, ip, now).append(now)
