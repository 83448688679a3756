"""python-axolotl on today's protobuf: fast backend, no warnings, nothing on the terminal."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import peerwave_tui.signal
from peerwave_tui.signal import compat

ROOT = Path(__file__).resolve().parents[2]
COMPAT_FILE = Path(compat.__file__)

# Alice sends two PreKey messages before Bob replies; the second one makes
# python-axolotl log a warning ("already setup a session") through logger.warn.
SCENARIO = """
from axolotl.ecc.curve import Curve
from axolotl.protocol.prekeywhispermessage import PreKeyWhisperMessage
from axolotl.sessionbuilder import SessionBuilder
from axolotl.sessioncipher import SessionCipher
from axolotl.state.prekeybundle import PreKeyBundle
from axolotl.state.prekeyrecord import PreKeyRecord
from axolotl.state.signedprekeyrecord import SignedPreKeyRecord
from axolotl.tests.inmemoryaxolotlstore import InMemoryAxolotlStore

alice, bob = InMemoryAxolotlStore(), InMemoryAxolotlStore()
prekey, signed = Curve.generateKeyPair(), Curve.generateKeyPair()
signature = Curve.calculateSignature(
    bob.getIdentityKeyPair().getPrivateKey(), signed.getPublicKey().serialize())
bob.storePreKey(1, PreKeyRecord(1, prekey))
bob.storeSignedPreKey(1, SignedPreKeyRecord(1, 0, signed, signature))
SessionBuilder(alice, alice, alice, alice, "bob", 1).processPreKeyBundle(PreKeyBundle(
    bob.getLocalRegistrationId(), 1, 1, prekey.getPublicKey(), 1, signed.getPublicKey(),
    signature, bob.getIdentityKeyPair().getPublicKey()))
sender = SessionCipher(alice, alice, alice, alice, "bob", 1)
receiver = SessionCipher(bob, bob, bob, bob, "alice", 1)
for text in (b"one", b"two"):
    message = PreKeyWhisperMessage(serialized=sender.encrypt(text).serialize())
    assert receiver.decryptPkmsg(message) == text
print("decrypted")
"""

HARDENED = "import peerwave_tui.signal\n" + SCENARIO
BARE = (
    f"""
import importlib.util
spec = importlib.util.spec_from_file_location("compat_only", {str(COMPAT_FILE)!r})
compat = importlib.util.module_from_spec(spec)
spec.loader.exec_module(compat)
compat.rebuild_protobuf_modules()  # only what it takes to import axolotl at all
"""
    + SCENARIO
)


def _run(code: str, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PROTOCOL_BUFFERS")}
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, *flags, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )


def test_import_gives_upb_and_no_warnings() -> None:
    code = (
        "import peerwave_tui.signal\n"
        "from google.protobuf.internal import api_implementation\n"
        "print(api_implementation.Type())\n"
    )
    result = _run(code, "-W", "error")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "upb"
    assert result.stderr == ""


def test_messaging_prints_nothing_on_the_terminal() -> None:
    result = _run(HARDENED, "-W", "error")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "decrypted"
    assert result.stderr == ""


def test_bare_library_prints_on_the_terminal() -> None:
    result = _run(BARE, "-W", "default")
    assert result.stdout.strip() == "decrypted"
    assert "already setup a session" in result.stderr
    assert "DeprecationWarning" in result.stderr


def test_install_is_idempotent_and_the_modules_are_ours() -> None:
    import axolotl.protocol.whisperprotos_pb2 as whisper
    import axolotl.state.storageprotos_pb2 as storage

    compat.install()
    assert sys.modules["axolotl.protocol.whisperprotos_pb2"] is whisper
    assert sys.modules["axolotl.state.storageprotos_pb2"] is storage
    assert getattr(whisper, "__peerwave_rebuilt__", False)
    assert whisper.WhisperMessage.DESCRIPTOR.full_name == "textsecure.WhisperMessage"
    assert (
        storage.SessionStructure.Chain.DESCRIPTOR.full_name == "textsecure.SessionStructure.Chain"
    )
    assert peerwave_tui.signal.hardening.is_applied()


def test_upb_refuses_bytearray_for_bytes_fields() -> None:
    # signal-notes.md row 10, the reason our stores hand python-axolotl only `bytes`.
    from axolotl.state.storageprotos_pb2 import PreKeyRecordStructure

    record = PreKeyRecordStructure()
    record.publicKey = b"\x05" * 33
    with pytest.raises(TypeError):
        record.publicKey = bytearray(b"\x05" * 33)  # type: ignore[assignment]
