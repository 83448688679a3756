"""One exception tree for everything a user can see go wrong.

Every exception here carries a message written for the user (``str(exc)``). Code
that reports failures (the CLI, the UI) shows that text and nothing else: no
tracebacks. Messages never contain secrets, message text or contact names.
"""

from __future__ import annotations


class PeerwaveError(Exception):
    """Base class: ``str(exc)`` is a complete, user-readable sentence."""


# --- configuration and local state -------------------------------------------------


class ConfigError(PeerwaveError):
    """A config file or a command-line value is not usable."""


class UsageError(PeerwaveError):
    """The command was called in a way that cannot work (missing option, ambiguity)."""


class NotFoundError(PeerwaveError):
    """A named account, contact, channel or conversation does not exist."""


class AmbiguousError(UsageError):
    """A name matched more than one thing; the message lists the candidates."""


# --- storage and key custody -------------------------------------------------------


class StoreError(PeerwaveError):
    """A device store cannot be opened or used."""


class StoreLockedError(StoreError):
    """Another process holds this account's store open."""

    def __init__(self, pid: int | None, path: str = "") -> None:
        self.pid = pid
        who = f"process {pid}" if pid else "another process"
        super().__init__(f"This account's store is in use by {who}; close that program first.")


class StoreWrongKeyError(StoreError):
    """The key does not open the store (wrong passphrase or replaced keyring entry)."""


class StoreCorruptError(StoreError):
    """The store's files are damaged."""


class KeyCustodyError(StoreError):
    """The database key cannot be obtained (keyring missing, entry gone, no passphrase)."""


class NoSecureKeyringError(KeyCustodyError):
    """No secure OS keyring exists and no passphrase was given."""


# --- Signal ------------------------------------------------------------------------


class SignalError(PeerwaveError):
    """A cryptographic operation failed."""


class MalformedMessageError(SignalError):
    """Input could not even be parsed as a Signal message."""


class UndecryptableMessageError(SignalError):
    """A well-formed message could not be decrypted (bad MAC, no session, replay, ...)."""


class UntrustedIdentityError(SignalError):
    """Sending is blocked: a contact's identity key changed and was not accepted yet."""

    def __init__(self, user_id: str, device_ids: list[int] | None = None) -> None:
        self.user_id = user_id
        self.device_ids = device_ids or []
        super().__init__(
            "This contact's safety number changed. Verify it, then accept the new key "
            "before sending (peerwave-tui verify --accept)."
        )


class NoRecipientDevicesError(SignalError):
    """The contact has no device that can receive encrypted messages yet."""


# --- network -----------------------------------------------------------------------


class NetworkError(PeerwaveError):
    """Talking to a server failed."""


class ServerUnreachableError(NetworkError):
    """The server could not be reached at all."""


class RequestTimeoutError(NetworkError):
    """The server did not answer in time."""


class ProtocolError(NetworkError):
    """The server answered with something that does not follow the protocol."""


class ApiError(NetworkError):
    """The server answered a request with a non-2xx status."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        self.status = status
        self.code = code
        super().__init__(message)


class RateLimitedError(ApiError):
    """HTTP 429: too many requests; ``retry_after`` seconds, when the server said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(429, message, "rate_limited")


class ServerFailureError(ApiError):
    """HTTP 5xx."""


class AuthError(ApiError):
    """HTTP 401 (or a socket authentication failure): the session is not usable."""


class SessionExpiredError(AuthError):
    """The session is past its expiry: refresh it or log in again."""


class LoggedOutError(AuthError):
    """No usable session: the user has to log in again."""


class ServerDefectError(AuthError):
    """The server is known-broken in a way only its operator can fix."""


# --- appended by the network services (api.py, socket.py) ----------------------------


class LoginRejectedError(AuthError):
    """A login credential (backup code, magic key, OTP, refresh token) was refused."""


class NotConnectedError(NetworkError):
    """A socket operation was asked for while the server's socket is not connected."""


# --- Signal (added with peerwave_tui/signal) ----------------------------------------


class NoSessionError(SignalError):
    """There is no Signal session (or own sender key) to encrypt with yet."""


class MissingSenderKeyError(UndecryptableMessageError):
    """A group message came from a member whose sender key we do not have (yet).

    Keep the item and try again after that member's next key distribution arrives.
    """


class NoLocalIdentityError(SignalError):
    """This account has no Signal keys yet (they are made when the account is set up)."""


# --- key custody (added with peerwave_tui/storage/custody.py) ----------------------


class WrongPassphraseError(StoreWrongKeyError, KeyCustodyError):
    """The passphrase does not match the one that protects this data root's stores."""


# --- accounts (added with the client layer) ------------------------------------------


class RegistrationIncompleteError(PeerwaveError):
    """Registration stopped after the server created the account (e.g. the display
    name was refused). The same registration can be finished with another name;
    ``backup_codes`` (the account's only way in until then) are never in the message."""

    def __init__(self, message: str, backup_codes: list[str]) -> None:
        super().__init__(message)
        self.backup_codes = list(backup_codes)


class RemovedLocallyOnlyError(PeerwaveError):
    """An account was removed from this device, but its server could not delete this
    device's keys: contacts may keep encrypting messages to a device that is gone."""
