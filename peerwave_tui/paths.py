"""Every path the app uses, from platformdirs or from one override root (``--home``)."""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from peerwave_tui.errors import ConfigError
from peerwave_tui.storage.fs import ensure_private_dir

APP_NAME = "peerwave-tui"
HOME_ENV = "PEERWAVE_TUI_HOME"


@dataclass(frozen=True)
class Paths:
    """The three roots and the well-known files inside them."""

    config_dir: Path
    data_dir: Path
    log_dir: Path
    home: Path | None = None

    @classmethod
    def from_home(cls, home: Path) -> Paths:
        home = home.expanduser().absolute()
        return cls(home / "config", home / "data", home / "logs", home)

    @classmethod
    def default(cls) -> Paths:
        import platformdirs

        dirs = platformdirs.PlatformDirs(APP_NAME, appauthor=False)
        return cls(Path(dirs.user_config_dir), Path(dirs.user_data_dir), Path(dirs.user_log_dir))

    @classmethod
    def resolve(cls, home: str | os.PathLike[str] | None) -> Paths:
        """``--home`` wins, then ``PEERWAVE_TUI_HOME``, then platformdirs."""
        chosen = home if home else os.environ.get(HOME_ENV)
        if chosen:
            return cls.from_home(Path(chosen))
        return cls.default()

    # --- well-known files ---------------------------------------------------------

    @property
    def config_file(self) -> Path:
        return self.config_dir / "config.toml"

    @property
    def servers_file(self) -> Path:
        return self.config_dir / "servers.toml"

    @property
    def log_file(self) -> Path:
        return self.log_dir / "peerwave-tui.log"

    @property
    def servers_dir(self) -> Path:
        return self.data_dir / "servers"

    @property
    def kdf_salt_file(self) -> Path:
        """Salt of the passphrase KDF (not secret), shared by every store of this root."""
        return self.data_dir / "passphrase.salt"

    def store_dir(self, server_key: str, client_id: str) -> Path:
        return self.servers_dir / server_key / client_id

    def ensure(self) -> Paths:
        """Create the roots (0700). With ``--home`` the home itself is created 0700 too."""
        roots = [self.config_dir, self.data_dir, self.log_dir]
        for root in [self.home, *roots] if self.home is not None else roots:
            try:
                ensure_private_dir(root)
            except OSError as exc:
                raise ConfigError(
                    f"Cannot create the directory {root}: {exc.strerror or exc}."
                ) from None
        return self


# --- server URLs -------------------------------------------------------------------

_LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1", "[::1]"}


def normalize_server_url(url: str) -> str:
    """Canonical origin of a server: ``scheme://host[:port]`` in lower case.

    A bare host gets ``https://`` (``http://`` for loopback). Paths, queries and a
    trailing slash are dropped: PeerWave paths are absolute from the origin.
    """
    text = url.strip()
    if not text:
        raise ConfigError("The server URL is empty.")
    if "://" not in text:
        host_part = text.split("/")[0].split(":")[0].lower()
        scheme = "http" if host_part in _LOOPBACK_HOSTS else "https"
        text = f"{scheme}://{text}"
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        raise ConfigError(f"Unsupported server URL scheme {parts.scheme!r}: use http or https.")
    if not parts.hostname:
        raise ConfigError(f"{url!r} is not a server URL.")
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    try:
        port = parts.port
    except ValueError as exc:
        raise ConfigError(f"{url!r} has an invalid port.") from exc
    default_port = 443 if scheme == "https" else 80
    netloc = host if port in (None, default_port) else f"{host}:{port}"
    return f"{scheme}://{netloc}"


def server_key(url: str) -> str:
    """A readable, unique directory name for a server: host (and port) plus a hash."""
    normalized = normalize_server_url(url)
    parts = urlsplit(normalized)
    readable = parts.netloc.replace(":", "_")
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", readable).strip("._") or "server"
    digest = hashlib.sha256(normalized.encode()).hexdigest()[:10]
    return f"{readable[:60]}-{digest}"
