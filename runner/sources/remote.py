"""Remote CSV files, fetched with care: a campaign file must not make a CI runner read its internal
network or hang on a slow server.

* https only, unless the source says ``allow_http: true``;
* private, loopback, link-local and other non-global addresses refused (``SourceContext.allow_private_urls``
  lifts it for tests), checked on every address the name resolves to and again on every redirect target;
  the connection then goes to the addresses that were checked, not to a second DNS answer;
* caps on size (declared and streamed), connect/read time, total time (enforced on every socket read,
  so a server trickling its headers or body one byte at a time is cut off too) and redirects;
* the raw bytes are fetched (``Accept-Encoding: identity``; a compressed answer is refused), so a small
  gzip bomb cannot expand in memory before the size cap applies;
* the pinned ``sha256`` checked; credentials, query strings and fragments (tokens) never shown.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from runner.campaign.model import Position
from runner.errors import SourceError
from runner.sources.base import Row, Source, SourceContext
from runner.sources.csvfile import CsvSource

MAX_REDIRECTS = 5
REDIRECTS = (301, 302, 303, 307, 308)

#: ``(url, hop) -> addresses``: checks one URL before it is fetched (hop 0 is the campaign's URL, then
#: each redirect target) and returns the IP addresses to connect to, or None to resolve the name
#: normally; raises :class:`SourceError` to refuse it. The default is :func:`check_address` with the
#: source's ``allow_http`` and the context's ``allow_private_urls``.
UrlCheck = Callable[[str, int], "list[str] | None"]


def redact(url: str) -> str:
    """The URL without credentials, query string or fragment (they may carry tokens)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        port = parts.port
    except ValueError:
        return "(invalid URL)"
    if port:
        host += f":{port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def _scrub(text: str, url: str) -> str:
    """``text`` (an error from a library) with the URL's secrets replaced."""
    text = text.replace(url, redact(url))
    try:
        parts = urlsplit(url)
        secrets = [parts.query, parts.fragment, parts.password or "", parts.username or ""]
    except ValueError:
        return text
    for secret in secrets:
        if secret:
            text = text.replace(secret, "…")
    return text


def address_refused(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    """Whether a remote CSV may not be fetched from ``address``: anything but a global unicast address
    (private, loopback, link-local such as 169.254.169.254, shared, reserved, multicast...)."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        elif any(address in net for net in _REFUSED_V6):
            return True
        else:  # issue 15: an IPv6 form of an IPv4 address is judged as that address too
            embedded = _embedded_ipv4(address)
            if embedded is not None and address_refused(embedded):
                return True
    return not address.is_global or address.is_multicast


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052 well-known prefix: the last 32 bits are the IPv4
_COMPATIBLE = ipaddress.IPv6Network("::/96")  # deprecated IPv4-compatible addresses (::a.b.c.d)
_REFUSED_V6 = (ipaddress.IPv6Network("64:ff9b:1::/48"),)  # RFC 8215 local-use NAT64: any IPv4 behind it


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address an IPv6 address stands for: NAT64 (64:ff9b::/96), 6to4 (2002::/16), Teredo's
    client, IPv4-compatible (::a.b.c.d); None for a plain IPv6 address."""
    if address in _NAT64 or (address in _COMPATIBLE and int(address) > 1):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def check_address(url: str, *, allow_http: bool, allow_private: bool) -> list[str] | None:
    """Refuse ``url`` unless it is https (or http with ``allow_http``) and, unless ``allow_private``, every
    address its host resolves to is public. Returns those addresses (None with ``allow_private``)."""
    import httpx

    shown = redact(url)
    try:
        parsed = httpx.URL(url)
        scheme = parsed.scheme
        host = parsed.raw_host.decode("ascii")
        port = parsed.port or (443 if scheme == "https" else 80)
    except (httpx.InvalidURL, ValueError, UnicodeError):
        raise SourceError.at(shown, 0, 0, "not a valid URL") from None
    if scheme not in ("https", "http"):
        raise SourceError.at(shown, 0, 0, "only https:// URLs can be fetched")
    if scheme == "http" and not allow_http:
        raise SourceError.at(shown, 0, 0, "plain http:// is refused; use https:// "
                          "(or set allow_http: true on this source)")
    if not host:
        raise SourceError.at(shown, 0, 0, "the URL has no host")
    if allow_private:
        return None
    try:
        literal: ipaddress.IPv4Address | ipaddress.IPv6Address | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is not None:
        addresses = [str(literal)]
    else:
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise SourceError.at(shown, 0, 0, f"cannot resolve {host}: {exc}") from None
        addresses = list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))
    for text in addresses:
        address = ipaddress.ip_address(text)
        if address_refused(address):
            raise SourceError.at(shown, 0, 0, f"{host} resolves to a private, loopback or link-local "
                              f"address ({address}); refused")
    return addresses


class _DeadlineStream:
    """A network stream whose every read and write ends by the download's deadline."""

    def __init__(self, inner: Any, deadline: float) -> None:
        self._inner = inner
        self._deadline = deadline

    def _left(self, timeout: float | None, error: type[Exception]) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise error("the download's total time is over")
        return left if timeout is None else min(timeout, left)

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        import httpcore

        data: bytes = self._inner.read(max_bytes, self._left(timeout, httpcore.ReadTimeout))
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        import httpcore

        self._inner.write(buffer, self._left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(self, ssl_context: Any, server_hostname: str | None = None,
                  timeout: float | None = None) -> _DeadlineStream:
        import httpcore

        inner = self._inner.start_tls(ssl_context, server_hostname, self._left(timeout, httpcore.ConnectTimeout))
        return _DeadlineStream(inner, self._deadline)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _guarded_backend(deadline: float, pinned: dict[tuple[str, int], list[str]]) -> Any:
    """An httpcore network backend that connects only to the checked addresses of a host (when the
    check returned some) and bounds every socket operation by ``deadline``."""
    import httpcore

    class GuardedBackend(httpcore.NetworkBackend):
        def __init__(self) -> None:
            self._inner = httpcore.SyncBackend()

        def connect_tcp(self, host: str, port: int, timeout: float | None = None,
                        local_address: str | None = None,
                        socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
            last: Exception = httpcore.ConnectError(f"no address to connect to for {host}")
            for address in pinned.get((host, port), [host]):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise httpcore.ConnectTimeout("the download's total time is over")
                try:
                    stream = self._inner.connect_tcp(address, port, min(timeout or left, left), local_address,
                                                     socket_options)
                except (httpcore.ConnectError, httpcore.ConnectTimeout) as exc:
                    last = exc
                    continue
                return _DeadlineStream(stream, deadline)  # type: ignore[return-value]
            raise last

        def connect_unix_socket(self, path: str, timeout: float | None = None,
                                socket_options: Iterable[Any] | None = None) -> httpcore.NetworkStream:
            raise httpcore.ConnectError("unix sockets are not used for remote CSV files")

        def sleep(self, seconds: float) -> None:
            time.sleep(seconds)

    return GuardedBackend()


class RemoteCsvSource(Source):
    def __init__(self, url: str, *, ctx: SourceContext, sha256: str | None = None, allow_http: bool = False,
                 max_bytes: int | None = None, timeout: float | None = None,
                 csv_options: dict[str, object] | None = None, region: str | None = None,
                 wanted_fields: frozenset[str] = frozenset(), total_timeout: float | None = None,
                 url_check: UrlCheck | None = None, position: Position | None = None) -> None:
        self.url = url
        self.label = redact(url)
        self.position = position  # where the campaign declares the source: download errors point there
        self.ctx = ctx
        self.sha256 = sha256.lower() if sha256 else None
        self.allow_http = allow_http
        self.max_bytes = max_bytes or ctx.max_bytes
        self.timeout = timeout or ctx.timeout
        #: the whole download, redirects included (default: 6 times the connect/read timeout, 60 s at least)
        self.total_timeout = total_timeout or max(self.timeout * 6, 60.0)
        self.url_check: UrlCheck = url_check or self._default_check
        self.csv_options = csv_options or {}
        self.region = region
        self.wanted_fields = wanted_fields
        self._file: Path | None = None
        self._digest: str | None = None

    def _default_check(self, url: str, hop: int) -> list[str] | None:
        return check_address(url, allow_http=self.allow_http, allow_private=self.ctx.allow_private_urls)

    def _fetch(self) -> Path:
        if self._file is not None:
            return self._file
        folder = self.ctx.cache_dir
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(prefix="smsrun-remote-", suffix=".csv", dir=folder, delete=False) as handle:
            path = Path(handle.name)
            try:
                digest = self._download(handle)
            except BaseException as exc:
                handle.close()
                path.unlink(missing_ok=True)
                if isinstance(exc, SourceError) and self.position is not None \
                        and not any(d.line for d in exc.diagnostics):
                    # "URL: error: why" -> "campaign.yaml:7:12: error: URL: why"
                    found = exc.as_diagnostics()[0]
                    message = f"{found.path}: {found.message}" if found.path else found.message
                    at = self.position
                    raise SourceError.at(at.path, at.line, at.col, message) from None
                raise
        self._digest = digest
        if self.sha256 and self._digest != self.sha256:
            path.unlink(missing_ok=True)
            message = f"content changed: sha256 is {self._digest}, the campaign pins {self.sha256}"
            if self.position is None:
                raise SourceError.at(self.label, 0, 0, message)
            at = self.position
            raise SourceError.at(at.path, at.line, at.col, f"{self.label}: {message}")
        self._file = path
        return self._file

    def _download(self, handle: Any) -> str:
        import httpcore
        import httpx

        deadline = time.monotonic() + self.total_timeout
        pinned: dict[tuple[str, int], list[str]] = {}
        digest = hashlib.sha256()
        timeouts = {"connect": self.timeout, "read": self.timeout, "write": self.timeout, "pool": self.timeout}
        url = self.url
        where = self.label
        network_errors = (httpcore.NetworkError, httpcore.ProtocolError, httpcore.UnsupportedProtocol,
                          httpcore.ProxyError, httpcore.ConnectionNotAvailable)
        try:
            with httpcore.ConnectionPool(network_backend=_guarded_backend(deadline, pinned), retries=0) as pool:
                for hop in range(MAX_REDIRECTS + 1):
                    where = redact(url)
                    addresses = self.url_check(url, hop)
                    parsed = httpx.URL(url)
                    host = parsed.raw_host.decode("ascii")
                    port = parsed.port or (443 if parsed.scheme == "https" else 80)
                    if addresses is not None:
                        pinned[(host, port)] = addresses
                    target = httpcore.URL(scheme=parsed.raw_scheme, host=parsed.raw_host, port=parsed.port,
                                          target=parsed.raw_path)
                    headers = [(b"Host", parsed.netloc), (b"Accept-Encoding", b"identity"),
                               (b"User-Agent", b"smsrun")]
                    with pool.stream("GET", target, headers=headers, extensions={"timeout": timeouts}) as response:
                        fields = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in response.headers}
                        if response.status in REDIRECTS:
                            location = fields.get("location")
                            if not location:
                                raise SourceError.at(where, 0, 0, "redirect without a location")
                            url = urljoin(url, location.strip())
                            continue
                        if response.status != 200:
                            raise SourceError.at(where, 0, 0, f"the server answered HTTP {response.status}")
                        encoding = fields.get("content-encoding", "identity").strip().lower()
                        if encoding not in ("", "identity"):
                            raise SourceError.at(where, 0, 0, f"the server sent compressed content "
                                              f"(Content-Encoding: {encoding[:40]}) although none was asked for; "
                                              "refused")
                        declared = fields.get("content-length", "").strip()
                        if declared.isdigit() and int(declared) > self.max_bytes:
                            raise SourceError.at(where, 0, 0, f"file is larger than {self.max_bytes} bytes "
                                              f"(Content-Length: {declared})")
                        size = 0
                        for chunk in response.iter_stream():
                            size += len(chunk)
                            if size > self.max_bytes:
                                raise SourceError.at(where, 0, 0, f"file is larger than {self.max_bytes} bytes")
                            digest.update(chunk)
                            handle.write(chunk)
                        return digest.hexdigest()
                raise SourceError.at(self.label, 0, 0, f"more than {MAX_REDIRECTS} redirects")
        except httpcore.TimeoutException:
            if time.monotonic() >= deadline:
                raise SourceError.at(where, 0, 0, f"download took longer than {self.total_timeout:g} s") from None
            raise SourceError.at(where, 0, 0, f"timed out after {self.timeout:g} s") from None
        except network_errors as exc:
            reason = _scrub(str(exc), url)[:200] or type(exc).__name__
            raise SourceError.at(where, 0, 0, f"download failed: {reason}") from None
        except (httpx.InvalidURL, ValueError, UnicodeError):
            raise SourceError.at(redact(url), 0, 0, "not a valid URL") from None

    def digest(self) -> str:
        self._fetch()
        assert self._digest is not None
        return self._digest

    def rows(self) -> Iterator[Row]:
        path = self._fetch()
        inner = CsvSource(path, label=self.label, region=self.region, wanted_fields=self.wanted_fields,
                          **self.csv_options)  # type: ignore[arg-type]
        yield from inner.rows()

    def close(self) -> None:
        if self._file is not None:
            self._file.unlink(missing_ok=True)
            self._file = None
