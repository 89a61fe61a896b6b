"""Remote CSV files, fetched with care: a campaign file must not make a CI runner read its internal
network or hang on a slow server.

* https only, unless the source says ``allow_http: true``;
* private, loopback and link-local addresses refused (``SourceContext.allow_private_urls`` lifts it for
  tests), checked on every address the name resolves to and again on every redirect target;
* caps on size, connect/read time, total time and redirects;
* the pinned ``sha256`` checked; query strings (tokens) never shown.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin, urlsplit, urlunsplit

from runner.errors import SourceError
from runner.sources.base import Row, Source, SourceContext
from runner.sources.csvfile import CsvSource

MAX_REDIRECTS = 5


def redact(url: str) -> str:
    """The URL without credentials, query string or fragment (they may carry tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def check_address(url: str, *, allow_http: bool, allow_private: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http"):
        raise SourceError(f"{redact(url)}: error: only https:// URLs can be fetched")
    if parts.scheme == "http" and not allow_http:
        raise SourceError(f"{redact(url)}: error: plain http:// is refused; use https:// "
                          "(or set allow_http: true on this source)")
    host = parts.hostname
    if not host:
        raise SourceError(f"{redact(url)}: error: the URL has no host")
    if allow_private:
        return
    try:
        infos = socket.getaddrinfo(host, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise SourceError(f"{redact(url)}: error: cannot resolve {host}: {exc}") from None
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
                or address.is_reserved or address.is_unspecified):
            raise SourceError(f"{redact(url)}: error: {host} resolves to a private, loopback or link-local "
                              f"address ({address}); refused")


class RemoteCsvSource(Source):
    def __init__(self, url: str, *, ctx: SourceContext, sha256: str | None = None, allow_http: bool = False,
                 max_bytes: int | None = None, timeout: float | None = None,
                 csv_options: dict[str, object] | None = None, region: str | None = None,
                 wanted_fields: frozenset[str] = frozenset()) -> None:
        self.url = url
        self.label = redact(url)
        self.ctx = ctx
        self.sha256 = sha256.lower() if sha256 else None
        self.allow_http = allow_http
        self.max_bytes = max_bytes or ctx.max_bytes
        self.timeout = timeout or ctx.timeout
        self.csv_options = csv_options or {}
        self.region = region
        self.wanted_fields = wanted_fields
        self._file: Path | None = None
        self._digest: str | None = None

    def _fetch(self) -> Path:
        if self._file is not None:
            return self._file
        import httpx

        deadline = time.monotonic() + max(self.timeout * 6, 60.0)
        url = self.url
        digest = hashlib.sha256()
        folder = self.ctx.cache_dir
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
        handle = tempfile.NamedTemporaryFile(  # noqa: SIM115 - kept past this function, removed by close()
            prefix="smsrun-remote-", suffix=".csv", dir=folder, delete=False)
        size = 0
        timeout = httpx.Timeout(self.timeout, connect=self.timeout)
        try:
            with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
                for _ in range(MAX_REDIRECTS + 1):
                    check_address(url, allow_http=self.allow_http, allow_private=self.ctx.allow_private_urls)
                    with client.stream("GET", url) as response:
                        if response.is_redirect:
                            location = response.headers.get("location")
                            if not location:
                                raise SourceError(f"{self.label}: error: redirect without a location")
                            url = urljoin(url, location)
                            continue
                        if response.status_code != 200:
                            raise SourceError(f"{self.label}: error: the server answered HTTP {response.status_code}")
                        declared = response.headers.get("content-length")
                        if declared and declared.isdigit() and int(declared) > self.max_bytes:
                            raise SourceError(f"{self.label}: error: file is larger than {self.max_bytes} bytes")
                        for chunk in response.iter_bytes():
                            size += len(chunk)
                            if size > self.max_bytes:
                                raise SourceError(f"{self.label}: error: file is larger than {self.max_bytes} bytes")
                            if time.monotonic() > deadline:
                                raise SourceError(f"{self.label}: error: download took too long")
                            digest.update(chunk)
                            handle.write(chunk)
                        break
                else:
                    raise SourceError(f"{self.label}: error: more than {MAX_REDIRECTS} redirects")
        except httpx.TimeoutException:
            raise SourceError(f"{self.label}: error: timed out after {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise SourceError(f"{self.label}: error: download failed: {type(exc).__name__}") from None
        except BaseException:
            handle.close()
            Path(handle.name).unlink(missing_ok=True)
            raise
        handle.close()
        self._digest = digest.hexdigest()
        if self.sha256 and self._digest != self.sha256:
            Path(handle.name).unlink(missing_ok=True)
            raise SourceError(f"{self.label}: error: content changed: sha256 is {self._digest}, "
                              f"the campaign pins {self.sha256}")
        self._file = Path(handle.name)
        return self._file

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
