"""Insecure keyring backends are never used for keys: fail, null, plaintext, chainers.

keyrings.alt must not be imported into the test process (importing it registers its
backends with keyring for everyone), so the plaintext cases run in subprocesses with
keyrings.alt on their PYTHONPATH only.
"""

from __future__ import annotations

from pathlib import Path

from keyring.backends import SecretService, Windows, fail, kwallet, libsecret, macOS, null

from peerwave_tui.storage.keyring_backends import (
    describe_backend,
    is_secure_backend,
    select_secure_backend,
)

from .helpers import run_python


def test_os_keyrings_are_accepted_and_fail_and_null_refused() -> None:
    for secure in (
        SecretService.Keyring(),
        libsecret.Keyring(),
        macOS.Keyring(),
        Windows.WinVaultKeyring(),
        kwallet.DBusKeyring(),
        kwallet.DBusKeyringKWallet4(),
    ):
        assert is_secure_backend(secure), type(secure)
        assert select_secure_backend(secure) is secure
    for insecure in (fail.Keyring(), null.Keyring(), None):
        assert not is_secure_backend(insecure)
        assert select_secure_backend(insecure) is None
    assert "fail backend" in describe_backend(fail.Keyring())
    assert "null backend" in describe_backend(null.Keyring())


REFUSAL = """
import asyncio, json
from pathlib import Path
from peerwave_tui.errors import NoSecureKeyringError
from peerwave_tui.models import KeyMode
from peerwave_tui.paths import Paths
from peerwave_tui.storage.custody import KeyCustody

async def main():
    import keyring
    custody = KeyCustody(Paths.from_home(Path(HOME)))
    result = {"default": type(keyring.get_keyring()).__name__}
    for attempt in ("settle", "new_store_key"):
        try:
            if attempt == "settle":
                await custody.settle_for_new_store()
            else:
                await custody.new_store_key("example-0123456789/client", KeyMode.KEYRING)
        except NoSecureKeyringError as exc:
            result[attempt] = str(exc)
    print(json.dumps(result))

asyncio.run(main())
"""


def _refusal(tmp_path: Path, alt: Path, backend: str, *, dbus: bool) -> dict[str, str]:
    user = tmp_path / "user"
    env = {
        "PYTHONPATH": str(alt),
        "HOME": str(user),
        "XDG_DATA_HOME": str(user / "share"),
        "XDG_CONFIG_HOME": str(user / "config"),
        "PYTHON_KEYRING_BACKEND": backend,
    }
    if not dbus:
        env["DBUS_SESSION_BUS_ADDRESS"] = "unix:path=" + str(tmp_path / "no-bus")
    home = tmp_path / "home"
    result, _ = run_python(f"HOME = {str(home)!r}\n" + REFUSAL, env=env)
    assert not home.exists(), "a refused custody created files"
    assert not [p for p in user.rglob("*") if p.is_file()], "a plaintext keyring file appeared"
    return result  # type: ignore[no-any-return]


def test_plaintext_backend_is_refused(tmp_path: Path, keyrings_alt_dir: Path) -> None:
    result = _refusal(tmp_path, keyrings_alt_dir, "keyrings.alt.file.PlaintextKeyring", dbus=True)
    assert result["default"] == "PlaintextKeyring"
    for attempt in ("settle", "new_store_key"):
        assert "keeps secrets in a file" in result[attempt]
        assert "--key-mode passphrase" in result[attempt]


def test_chainer_over_plaintext_is_refused(tmp_path: Path, keyrings_alt_dir: Path) -> None:
    # Headless (no D-Bus): keyring's chainer holds only keyrings.alt's file backends.
    result = _refusal(
        tmp_path, keyrings_alt_dir, "keyring.backends.chainer.ChainerBackend", dbus=False
    )
    assert result["default"] == "ChainerBackend"
    assert (
        "chainer backend holds no OS keyring, only [keyrings.alt.file.PlaintextKeyring"
        in result["settle"]
    )
    assert "new_store_key" in result


CLASSIFY = """
import json
from keyring.backends import SecretService, chainer
from keyrings.alt import file
from peerwave_tui.storage.keyring_backends import is_secure_backend, select_secure_backend

class FileSecretService(SecretService.Keyring):
    "Derives from an allowed class but keeps secrets in a file: refused by its name."

secret_service = SecretService.Keyring()
chained = chainer.ChainerBackend()
print(json.dumps({
    "plaintext": is_secure_backend(file.PlaintextKeyring()),
    # its __init__ needs pycryptodome; the check only looks at the class
    "encrypted": is_secure_backend(object.__new__(file.EncryptedKeyring)),
    "file_subclass": is_secure_backend(FileSecretService()),
    "chainer_members": [type(b).__name__ for b in chained.backends],
    "chainer": is_secure_backend(chained),
    "chainer_pick": select_secure_backend(chained) is None,
}))
"""


def test_plaintext_classes_and_mixed_chainers(tmp_path: Path, keyrings_alt_dir: Path) -> None:
    # No D-Bus, so the chainer holds keyrings.alt's backends only (the chainer that also
    # holds the Secret Service is tested in test_keyring.py).
    env = {
        "PYTHONPATH": str(keyrings_alt_dir),
        "HOME": str(tmp_path),
        "DBUS_SESSION_BUS_ADDRESS": "unix:path=" + str(tmp_path / "no-bus"),
    }
    result, _ = run_python(CLASSIFY, env=env)
    assert result["plaintext"] is False
    assert result["encrypted"] is False
    assert result["file_subclass"] is False
    assert "PlaintextKeyring" in result["chainer_members"]
    assert result["chainer"] is False
    assert result["chainer_pick"] is True  # nothing secure inside to pick
