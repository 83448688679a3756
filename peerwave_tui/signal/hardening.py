"""Fixes to python-axolotl 0.2.3 itself, applied once when ``peerwave_tui.signal`` loads.

Each patch replaces one library function (signal-notes.md, rows 4-6 and more):

- at most 2000 stored skipped message keys per receiving chain (1:1 sessions) and per
  sender-key state (groups), oldest dropped first, as libsignal does;
- at most 5 sender-key states per sender-key record, oldest dropped first; a
  distribution we already hold (same key id and signing key) is ignored instead of
  resetting that chain (which would let old group messages decrypt again);
- group messages more than 2000 iterations ahead are rejected (the library's check
  has its operands swapped and never fires, so a hostile member could make us
  derive ~2^32 keys);
- the MAC of a SignalMessage is compared in constant time (``hmac.compare_digest``);
- a PreKeySignalMessage without a one-time prekey keeps "no prekey" (the library
  reads the unset protobuf field as prekey id 0 and then fails to find prekey 0);
- a PreKeySignalMessage for a session we already have must carry that session's
  identity key. The library decrypts such a message with the session (its MAC covers
  the *stored* identity keys) and then saves whatever identity key the message
  claims: one flipped bit in a sender's second message would record a false
  identity change (found by our ratchet state machine).

One more replacement is for speed only, with the same result: finding a receiving
chain compares serialized keys instead of decoding every stored key into a key object
(three times per decrypt).

The one-time prekey "mark used, delete 7 days later" rule lives in our prekey store.

Every replacement keeps the library's original function as ``__wrapped__``, so tests
can run the same scenario against the bare library. Applying twice changes nothing.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from axolotl.groups.groupcipher import GroupCipher
from axolotl.groups.state.senderkeyrecord import SenderKeyRecord
from axolotl.groups.state.senderkeystate import SenderKeyState
from axolotl.invalidmessageexception import InvalidMessageException
from axolotl.protocol import whisperprotos_pb2
from axolotl.protocol.prekeywhispermessage import PreKeyWhisperMessage
from axolotl.protocol.whispermessage import WhisperMessage
from axolotl.sessionbuilder import SessionBuilder
from axolotl.state.sessionstate import SessionState

MAX_MESSAGE_KEYS = 2000  # stored skipped message keys per chain
MAX_SENDER_KEY_STATES = 5  # sender-key states per record
MAX_FUTURE_MESSAGES = 2000  # how far ahead a group message may jump

_MARKER = "__peerwave_hardened__"

Factory = Callable[[Callable[..., Any]], Callable[..., Any]]


@dataclass(frozen=True)
class Patch:
    owner: type
    name: str
    make: Factory
    why: str


def _capped_session_message_keys(original: Callable[..., Any]) -> Callable[..., Any]:
    def setMessageKeys(self: Any, senderEphemeral: Any, messageKeys: Any) -> None:
        original(self, senderEphemeral, messageKeys)
        found = self.getReceiverChain(senderEphemeral)
        if found is None:
            return
        keys = found[0].messageKeys
        excess = len(keys) - MAX_MESSAGE_KEYS
        if excess > 0:
            del keys[:excess]

    return setMessageKeys


def _capped_sender_message_keys(original: Callable[..., Any]) -> Callable[..., Any]:
    def addSenderMessageKey(self: Any, senderMessageKey: Any) -> None:
        original(self, senderMessageKey)
        keys = self.senderKeyStateStructure.senderMessageKeys
        excess = len(keys) - MAX_MESSAGE_KEYS
        if excess > 0:
            del keys[:excess]

    return addSenderMessageKey


def _bounded_sender_key_states(original: Callable[..., Any]) -> Callable[..., Any]:
    def addSenderKeyState(
        self: Any, id: int, iteration: int, chainKey: bytes, signatureKey: Any
    ) -> None:
        signing = signatureKey.serialize()
        kept = []
        for state in self.senderKeyStates:
            if state.getKeyId() != id:
                kept.append(state)
            elif state.getSigningKeyPublic().serialize() == signing:
                return  # already held: keep its progress, do not rewind the chain
            # else: same id under another signing key: replaced below (libsignal does too)
        self.senderKeyStates[:] = kept
        original(self, id, iteration, chainKey, signatureKey)
        excess = len(self.senderKeyStates) - MAX_SENDER_KEY_STATES
        if excess > 0:
            del self.senderKeyStates[:excess]  # appended last, so the oldest are first

    return addSenderKeyState


def _no_far_future_group_messages(original: Callable[..., Any]) -> Callable[..., Any]:
    def getSenderKey(self: Any, senderKeyState: Any, iteration: int) -> Any:
        current = senderKeyState.getSenderChainKey().getIteration()
        if iteration - current > MAX_FUTURE_MESSAGES:
            raise InvalidMessageException("Over 2000 messages into the future!")
        return original(self, senderKeyState, iteration)

    return getSenderKey


def _constant_time_mac(original: Callable[..., Any]) -> Callable[..., Any]:
    def verifyMac(
        self: Any,
        messageVersion: int,
        senderIdentityKey: Any,
        receiverIdentityKey: Any,
        macKey: bytes,
    ) -> None:
        serialized = bytes(self.serialized)
        cut = len(serialized) - WhisperMessage.MAC_LENGTH
        ours = self.getMac(
            messageVersion, senderIdentityKey, receiverIdentityKey, macKey, serialized[:cut]
        )
        if cut < 0 or not hmac.compare_digest(bytes(ours), serialized[cut:]):
            raise InvalidMessageException("Bad Mac!")

    return verifyMac


def _optional_one_time_prekey(original: Callable[..., Any]) -> Callable[..., Any]:
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        serialized = kwargs.get("serialized")
        if serialized and self.preKeyId == 0:
            proto = whisperprotos_pb2.PreKeyWhisperMessage()
            proto.ParseFromString(bytes(serialized[1:]))
            if not proto.HasField("preKeyId"):
                self.preKeyId = None

    return __init__


def _same_identity_for_known_sessions(original: Callable[..., Any]) -> Callable[..., Any]:
    def process(self: Any, sessionRecord: Any, message: Any) -> Any:
        version = message.getMessageVersion()
        base_key = message.getBaseKey().serialize()
        claimed = message.getIdentityKey().serialize()
        states = [sessionRecord.getSessionState(), *sessionRecord.getPreviousSessionStates()]
        for state in states:
            if state.getSessionVersion() == version and state.getAliceBaseKey() == base_key:
                if state.getStructure().remoteIdentityPublic != claimed:
                    raise InvalidMessageException("Identity key does not match the session")
                break
        return original(self, sessionRecord, message)

    return process


def _fast_receiver_chain_lookup(original: Callable[..., Any]) -> Callable[..., Any]:
    def getReceiverChain(self: Any, senderEphemeral: Any) -> Any:
        wanted = senderEphemeral.getPublicKey()
        for index, chain in enumerate(self.sessionStructure.receiverChains):
            stored = chain.senderRatchetKey
            if stored[:1] != b"\x05":  # not a key we wrote: let the library decide
                return original(self, senderEphemeral)
            if stored[1:33] == wanted:
                return (chain, index)
        return None

    return getReceiverChain


PATCHES: tuple[Patch, ...] = (
    Patch(SessionState, "setMessageKeys", _capped_session_message_keys, "1:1 key cap"),
    Patch(SenderKeyState, "addSenderMessageKey", _capped_sender_message_keys, "group key cap"),
    Patch(SenderKeyRecord, "addSenderKeyState", _bounded_sender_key_states, "5 states"),
    Patch(GroupCipher, "getSenderKey", _no_far_future_group_messages, "far future"),
    Patch(WhisperMessage, "verifyMac", _constant_time_mac, "constant-time MAC"),
    Patch(PreKeyWhisperMessage, "__init__", _optional_one_time_prekey, "no prekey id"),
    Patch(SessionBuilder, "process", _same_identity_for_known_sessions, "identity of a session"),
    Patch(SessionState, "getReceiverChain", _fast_receiver_chain_lookup, "speed"),
)


def apply() -> None:
    """Install every patch that is not installed yet."""
    for patch in PATCHES:
        current = patch.owner.__dict__[patch.name]
        if getattr(current, _MARKER, False):
            continue
        replacement = patch.make(current)
        functools.update_wrapper(replacement, current)
        setattr(replacement, _MARKER, True)
        setattr(patch.owner, patch.name, replacement)


def is_applied() -> bool:
    return all(getattr(p.owner.__dict__[p.name], _MARKER, False) for p in PATCHES)


def bare_functions() -> list[tuple[type, str, Callable[..., Any]]]:
    """``(owner, name, original)`` for every patched function: what the bare library
    does. For tests that show a patch is needed."""
    result = []
    for patch in PATCHES:
        current = patch.owner.__dict__[patch.name]
        result.append((patch.owner, patch.name, getattr(current, "__wrapped__", current)))
    return result
