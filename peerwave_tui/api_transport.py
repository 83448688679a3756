"""The signed HTTP transport under ApiService (protocol.md §0, §3.1, §3.2).

One instance per server: two aiohttp sessions (a cookie-less one for public and
signed requests, one cookie jar for the registration steps), our clock offset, and the
single request path that serializes once, signs those exact bytes, retries the two
401s that allow it, and maps every failure into the exception tree.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from peerwave_tui import __version__
from peerwave_tui.errors import (
    ConfigError,
    LoggedOutError,
    NetworkError,
    ProtocolError,
    RequestTimeoutError,
    ServerUnreachableError,
)
from peerwave_tui.wire import http_errors as he
from peerwave_tui.wire.signing import Credentials, auth_headers

log = logging.getLogger(__name__)

APP_SECRET_HEADER = "X-PeerWave-App-Secret"
APP_SECRET_VALUE = "peerwave-mobile-app"
MAX_RESPONSE_BYTES = 64 * 1024 * 1024  # people lists carry data-URL pictures
_SEGMENT = re.compile(r"[A-Za-z0-9._~-]{1,200}")


def normalize_base_url(url: str) -> str:
    """``scheme://host[:port]`` without a trailing slash; ``ConfigError`` otherwise."""
    split = urlsplit(url.strip())
    if split.scheme not in ("http", "https") or not split.netloc:
        raise ConfigError("A server address must look like https://chat.example.org.")
    if split.query or split.fragment or split.path not in ("", "/"):
        raise ConfigError("A server address is only scheme, host and port, without a path.")
    return f"{split.scheme}://{split.netloc}"


def segment(value: str) -> str:
    """An id used as a path segment: ids from a server must not reshape our URLs."""
    if not isinstance(value, str) or not _SEGMENT.fullmatch(value) or value in (".", ".."):
        raise ProtocolError("An identifier from the server is not usable in a request.")
    return value


class HttpTransport:
    """Requests to one server, signed with the current credentials."""

    def __init__(
        self,
        base_url: str,
        *,
        credentials: Credentials | None = None,
        request_timeout: float = 15.0,
        connect_timeout: float = 10.0,
        send_app_secret: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self.host = urlsplit(self.base_url).netloc
        self.credentials = credentials
        self._request_timeout = request_timeout
        self._timeout = aiohttp.ClientTimeout(
            total=request_timeout, sock_connect=min(connect_timeout, request_timeout)
        )
        self._send_app_secret = send_app_secret
        self._session: aiohttp.ClientSession | None = None  # signed/public: no cookies
        self._registration: aiohttp.ClientSession | None = None  # one cookie jar
        self._clock = clock  # Unix seconds; injectable for tests
        self._clock_offset_ms = 0
        self._closed = False

    async def aclose(self) -> None:
        """Close both HTTP sessions; idempotent."""
        self._closed = True
        for session in (self._session, self._registration):
            if session is not None and not session.closed:
                await session.close()
        self._session = self._registration = None

    def clear_cookies(self) -> None:
        if self._registration is not None:
            self._registration.cookie_jar.clear()

    @property
    def clock_offset_ms(self) -> int:
        """Server clock minus ours, learned from a ``request_expired`` answer."""
        return self._clock_offset_ms

    def server_time_ms(self) -> int:
        """Our best idea of the server's clock, for ``X-Timestamp``."""
        return int(self._clock() * 1000) + self._clock_offset_ms

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: object | None = None,
        query: Mapping[str, str] | None = None,
        signed: bool = True,
        cookies: bool = False,
    ) -> Any:
        """Send one request and return the decoded JSON body (``None`` for an empty one).

        ``body`` is serialized once; the same bytes are signed and sent. With no body the
        signature covers ``""`` and no ``Content-Type`` is sent. ``path`` never carries the
        query string (that goes in ``query``), since the signature covers the path only.
        """
        _status, data = await self.exchange(
            method, path, body=body, query=query, signed=signed, cookies=cookies
        )
        return data

    def _http(self, *, cookies: bool) -> aiohttp.ClientSession:
        if self._closed:
            raise NetworkError(f"The connection to {self.host} was closed.")
        if cookies:
            if self._registration is None:
                # unsafe=True: a jar otherwise ignores cookies from IP-address hosts.
                self._registration = self._new_session(aiohttp.CookieJar(unsafe=True))
            return self._registration
        if self._session is None:
            self._session = self._new_session(aiohttp.DummyCookieJar())
        return self._session

    def _new_session(self, jar: aiohttp.abc.AbstractCookieJar) -> aiohttp.ClientSession:
        headers = {"User-Agent": f"peerwave-tui/{__version__}", "Accept": "application/json"}
        if self._send_app_secret:
            headers[APP_SECRET_HEADER] = APP_SECRET_VALUE
        return aiohttp.ClientSession(
            headers=headers,
            cookie_jar=jar,
            timeout=self._timeout,
            connector=aiohttp.TCPConnector(limit_per_host=8),
        )

    async def exchange(
        self,
        method: str,
        path: str,
        *,
        body: object | None,
        query: Mapping[str, str] | None,
        signed: bool,
        cookies: bool,
        login: str | None = None,
    ) -> tuple[int, Any]:
        body_bytes = (
            json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
            if body is not None
            else b""
        )
        retried: set[str] = set()
        creds: Credentials | None = None
        while True:
            headers: dict[str, str] = {}
            if body is not None:
                headers["Content-Type"] = "application/json"
            if signed:
                creds = self.credentials
                if creds is None:
                    raise LoggedOutError(401, f"Not logged in to {self.host}.", "no_session")
                headers.update(auth_headers(creds, self.server_time_ms(), path, body_bytes))
            status, raw, resp_headers = await self._send(
                method, path, headers, body_bytes if body is not None else None, query, cookies
            )
            if 200 <= status < 300:
                return status, self._decode(raw)
            parsed = he.body_json(raw)
            code = he.error_code(parsed)
            if signed and status == 401:
                if code == "request_expired" and code not in retried:
                    retried.add(code)
                    self._correct_clock(resp_headers.get("Date"))
                    continue
                if code == "duplicate_request" and code not in retried:
                    retried.add(code)
                    continue
                if (
                    code == "invalid_signature"
                    and code not in retried
                    and self.credentials is not creds
                ):  # a token refresh replaced the secret while this request was out
                    retried.add(code)
                    continue
            error = he.http_error(
                self.host, status, parsed, resp_headers, signed=signed, login=login
            )
            log.info(
                "%s %s → %d %s", method, path.split("/")[1] if "/" in path else path, status, code
            )
            raise error

    async def _send(
        self,
        method: str,
        path: str,
        headers: dict[str, str],
        data: bytes | None,
        query: Mapping[str, str] | None,
        cookies: bool,
    ) -> tuple[int, bytes, Mapping[str, str]]:
        session = self._http(cookies=cookies)
        url = self.base_url + path
        try:
            async with session.request(
                method,
                url,
                params=query,
                data=data,
                headers=headers,
                allow_redirects=False,
                # aiohttp would label an empty POST application/octet-stream; the
                # protocol wants no Content-Type at all when there is no body.
                skip_auto_headers=("Content-Type",) if data is None else None,
            ) as resp:
                raw = await self._read_limited(resp)
                return resp.status, raw, resp.headers
        except TimeoutError:
            raise RequestTimeoutError(
                f"{self.host} did not answer within {self._request_timeout:g} s."
            ) from None
        except aiohttp.ClientConnectorCertificateError:
            raise ServerUnreachableError(
                f"Cannot reach {self.host}: its TLS certificate is not trusted."
            ) from None
        except aiohttp.ClientConnectorDNSError:
            raise ServerUnreachableError(
                f"Cannot reach {self.host}: the name does not resolve."
            ) from None
        except aiohttp.ClientConnectorError:
            raise ServerUnreachableError(
                f"Cannot reach {self.host}: the connection was refused or failed."
            ) from None
        except aiohttp.ServerDisconnectedError:
            raise NetworkError(f"{self.host} closed the connection without answering.") from None
        except aiohttp.ClientError as exc:
            raise NetworkError(
                f"The connection to {self.host} failed ({type(exc).__name__})."
            ) from None

    async def _read_limited(self, resp: aiohttp.ClientResponse) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.content.iter_chunked(65536):
            size += len(chunk)
            if size > MAX_RESPONSE_BYTES:
                raise ProtocolError(f"{self.host} sent an answer that is too large.")
            chunks.append(chunk)
        return b"".join(chunks)

    def _decode(self, raw: bytes) -> Any:
        if not raw.strip():
            return None
        data = he.body_json(raw)
        if data is None:
            raise ProtocolError(f"{self.host} sent an answer that is not JSON.")
        return data

    def _correct_clock(self, date_header: str | None) -> None:
        server_ms = he.date_header_ms(date_header)
        if server_ms is None:
            return
        # Date has 1 s resolution; that is far inside the ±5 min window.
        self._clock_offset_ms = server_ms - int(self._clock() * 1000)
        log.info("clock offset for %s set to %d ms", self.host, self._clock_offset_ms)
