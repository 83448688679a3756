"""Small worlds for the UI tests, built on the in-memory manager."""

from __future__ import annotations

from dataclasses import dataclass

from peerwave_tui.models import AccountRecord, Contact
from tests.ui.memory_manager import MemoryManager


@dataclass
class ThreeServers:
    alpha: AccountRecord
    beta: AccountRecord
    gamma: AccountRecord


def three_servers(memory: MemoryManager) -> ThreeServers:
    """Alpha (Alice, Bob), Beta (Carol with 2 unread), Gamma (Dave); a few messages each."""
    alpha = memory.add_account("Alpha", port=3001)
    beta = memory.add_account("Beta", port=3002)
    gamma = memory.add_account("Gamma", port=3003)
    memory.add_conversation(alpha, "u-alice", "Alice", online=True, minutes=50, messages=6)
    memory.add_conversation(alpha, "u-bob", "Bob", minutes=40, messages=4)
    memory.add_conversation(beta, "u-carol", "Carol", unread=2, minutes=30, messages=5)
    memory.add_conversation(gamma, "u-dave", "Dave", minutes=20, messages=3)
    for account in (alpha, beta, gamma):
        memory.add_person(account, Contact("u-erin", "Erin Example", "erin", "erin@example.org"))
        memory.add_person(
            account, Contact("u-frank", "Frank Fuller", "ffuller", "frank@example.org", online=True)
        )
        memory.add_person(account, Contact("u-grace", "Grace Hopper", "amazing", "grace@navy.mil"))
    return ThreeServers(alpha, beta, gamma)
