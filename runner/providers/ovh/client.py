"""A small, strict client of the OVHcloud REST API (``/1.0``) over httpx.

What it does, and where each rule comes from (``ovh-sms-api.md``):

* **Signing** (§1.2): every authenticated call carries ``X-Ovh-Application``, ``X-Ovh-Consumer``,
  ``X-Ovh-Timestamp`` and ``X-Ovh-Signature = "$1$" + sha1_hex(AS+"+"+CK+"+"+METHOD+"+"+URL+"+"+BODY
  +"+"+TS)`` where URL is the full URL *as sent* (query string included) and BODY the exact bytes sent.
  Bodies are serialised like python-ovh (compact JSON, ASCII escapes) so our signatures equal the
  official SDK's for the same call.
* **Clock** (§1.3): the offset to the server clock is read once per client from ``GET /auth/time``.
* **Errors** (§4): the JSON body ``{"class", "message", "errorCode"?}`` and the ``X-OVH-QUERYID``
  header are turned into the classified errors of :mod:`runner.errors`:

  ======================================  ====================================================
  answer                                  raised
  ======================================  ====================================================
  401, 403, or an authentication          :class:`CredentialsError` (whatever the status: a bad
  ``errorCode`` (INVALID_KEY,             signature is reported by some deployments as a 400)
  INVALID_CREDENTIAL, INVALID_SIGNATURE,
  NOT_CREDENTIAL, NOT_GRANTED_CALL...)
  ``QUERY_TIME_OUT``                      :class:`RetryableError` (the clock offset is re-read)
  404                                     :class:`OvhNotFoundError` (a :class:`ConfigError`)
  460 (expired service)                   :class:`OvhServiceExpiredError` (a :class:`ConfigError`)
  other 4xx                               :class:`PermanentError`
  429, 500, 502, 503                      :class:`RetryableError` (``retry_after`` from Retry-After)
  504 on a write                          :class:`InDoubtError` (a gateway timed out *waiting* for
                                          the backend, which may have done the work)
  ======================================  ====================================================

* **Transport failures**: nothing was sent (connect error/timeout, pool timeout) →
  :class:`RetryableError`; the request may have reached the server (read timeout, connection dropped
  before the answer, write error) → :class:`InDoubtError` for writes, :class:`RetryableError` for GETs.
* **Retries**: only reads (GET, and ``/auth/time``) are retried here, a bounded number of times with
  exponential backoff and full jitter, honouring ``Retry-After`` (up to :attr:`OvhClient.max_wait`).
  Writes (``POST /jobs``...) are never retried here: the error goes up classified and the send
  engine decides (it retries :class:`RetryableError` with its own backoff and reconciles
  :class:`InDoubtError`).
* **Politeness** (§4, "60 req/min by consumer key"): a sliding-window limiter shared by every client
  of the process using the same consumer key keeps at most ``requests_per_minute`` requests in any
  60-second window. That is a polite default, not OVHcloud's law: a 429 pauses the limiter for its
  ``Retry-After`` (else a short backoff) and is retried like any retryable answer; requests made inside
  :meth:`OvhClient.urgent` (crash-recovery reads) take the next slot before ordinary ones.

Secrets never appear in messages, logs or reprs: errors name the environment variables, never values.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from runner.errors import (
    ConfigError,
    CredentialsError,
    InDoubtError,
    PermanentError,
    RetryableError,
)
from runner.providers.http import (
    Backoff,
    RateLimiter,
    read_bounded,
    retry_after,
    shared_limiter,
    status_error,
    timeouts,
    transport_failure,
)
from runner.providers.ovh.config import (
    _AUTH_ERROR_CODES,
    _CREDENTIALS_HINT,
    CREDENTIAL_VARIABLES,
    DEFAULT_REQUESTS_PER_MINUTE,
    DEFAULT_TIMEOUT,
    ENDPOINTS,
    ENV_APPLICATION_KEY,
    ENV_APPLICATION_SECRET,
    ENV_CONSUMER_KEY,
    ENV_REQUESTS_PER_MINUTE,
    OvhConfig,
    OvhNotFoundError,
    OvhServiceExpiredError,
    _lookup,
    encode_body,
    encode_query,
    path_segment,
    resolve_config,
    resolve_endpoint,
    sign,
)

if TYPE_CHECKING:
    import httpx  # imported when a client is made: a plan need not load it (~0.15 s)


def client_from_env(
    settings: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    *,
    transport: httpx.BaseTransport | None = None,
) -> OvhClient:
    """Build a client from provider/source settings and credentials from the environment.

    Raises :class:`ConfigError` naming the first missing variable (never a value).
    Settings read: ``endpoint``, ``timeout``, ``requests_per_minute`` (else ``OVH_REQUESTS_PER_MINUTE``,
    else 60), ``max_retries``.
    """
    settings = settings or {}
    config = resolve_config(settings, env)
    if config.missing:
        raise ConfigError(
            f"{config.missing[0]} is not set: OVHcloud credentials come from the environment "
            f"({', '.join(CREDENTIAL_VARIABLES)})"
        )
    if "requests_per_minute" in settings:  # 0 or null: no client-side limit
        rpm: Any = settings["requests_per_minute"]
    else:
        rpm = _lookup(env, ENV_REQUESTS_PER_MINUTE) or DEFAULT_REQUESTS_PER_MINUTE
    return OvhClient(
        config.endpoint,
        _lookup(env, ENV_APPLICATION_KEY) or "",
        _lookup(env, ENV_APPLICATION_SECRET) or "",
        _lookup(env, ENV_CONSUMER_KEY) or "",
        timeout=float(settings.get("timeout", DEFAULT_TIMEOUT)),
        transport=transport,
        requests_per_minute=float(rpm) if rpm else None,
        max_retries=int(settings.get("max_retries", 4)),
    )


# --------------------------------------------------------------------------------------------------
# the client


class OvhClient:
    """Signed calls to one OVHcloud API endpoint.

    ``get`` retries internally; ``post``/``put``/``delete`` never do (see the module docstring).
    """

    def __init__(
        self,
        endpoint: str,
        application_key: str,
        application_secret: str,
        consumer_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
        requests_per_minute: float | None = DEFAULT_REQUESTS_PER_MINUTE,
        max_retries: int = 4,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        max_wait: float = 60.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        for name, value in (
            (ENV_APPLICATION_KEY, application_key),
            (ENV_APPLICATION_SECRET, application_secret),
            (ENV_CONSUMER_KEY, consumer_key),
        ):
            if not value:
                raise ConfigError(f"{name} is empty")
        self.base_url = resolve_endpoint(endpoint)
        self._ak = application_key
        self._as = application_secret
        self._ck = consumer_key
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff_base = backoff_base
        self.backoff = Backoff(backoff_base, backoff_cap, max_wait=max_wait)
        self.max_wait = max_wait
        self._sleep = sleep
        self._clock = clock
        self._delta: int | None = None
        self._delta_lock = threading.Lock()
        self.limiter: RateLimiter | None = (
            shared_limiter(self.base_url, consumer_key, requests_per_minute) if requests_per_minute else None
        )
        # the client builds requests (default headers, timeouts); they go straight to the transport, whose
        # handle_request is httpx's public seam: Client.send's redirect, auth, cookie and event-hook layers
        # cost ~0.05 ms a request and a personalised send makes one request per recipient
        import httpx

        self._transport: httpx.BaseTransport = transport if transport is not None else httpx.HTTPTransport()
        self._http = httpx.Client(timeout=timeouts(timeout), transport=self._transport, follow_redirects=False)
        self._urls: dict[str, tuple[httpx.URL, str]] = {}  # url -> (parsed, as sent): parsed once
        self.requests_sent = 0  # observability for tests and the CLI
        self._urgent = threading.local()  # set by urgent(): this thread's requests go first

    def __repr__(self) -> str:  # never the secrets
        return f"OvhClient({self.base_url!r})"

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> OvhClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- clock -------------------------------------------------------------------------------------

    def time_delta(self) -> int:
        """Server time minus local time, read once from ``GET /auth/time``."""
        with self._delta_lock:
            if self._delta is None:
                server = self.get("/auth/time", auth=False)
                if not isinstance(server, int):
                    raise RetryableError(f"OVHcloud /auth/time answered {server!r}, not a timestamp")
                self._delta = server - int(self._clock())
            return self._delta

    def reset_time_delta(self) -> None:
        with self._delta_lock:
            self._delta = None

    def sleep(self, seconds: float) -> None:
        """Wait as this client waits (tests give it a fake sleep)."""
        self._sleep(seconds)

    # -- public verbs ------------------------------------------------------------------------------

    @contextmanager
    def urgent(self) -> Iterator[None]:
        """Requests made by this thread inside the block take the rate limiter's next slot before any
        ordinary request waiting (the reads a crash recovery needs, so that it is not queued behind
        other sends sharing the consumer key)."""
        before = getattr(self._urgent, "on", False)
        self._urgent.on = True
        try:
            yield
        finally:
            self._urgent.on = before

    def get_page(
        self, path: str, params: Mapping[str, Any] | None = None, *, headers: Mapping[str, str] | None = None
    ) -> tuple[Any, httpx.Headers]:
        """A GET with extra request headers (signature unchanged: it covers method, URL, body and
        timestamp only), returning the payload and the answer's headers. Retried like :meth:`get`."""
        answer: tuple[Any, httpx.Headers] = self._retrying("GET", path, params, None, True, headers)
        return answer

    def get(self, path: str, params: Mapping[str, Any] | None = None, *, auth: bool = True) -> Any:
        return self.request("GET", path, params=params, auth=auth)

    def post(self, path: str, body: Any = None, *, auth: bool = True) -> Any:
        return self.request("POST", path, body=body, auth=auth)

    def put(self, path: str, body: Any = None) -> Any:
        return self.request("PUT", path, body=body)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        auth: bool = True,
    ) -> Any:
        return self._retrying(method.upper(), path, params, body, auth, None)

    def _retrying(self, method: str, path: str, params: Mapping[str, Any] | None, body: Any, auth: bool,
                  headers: Mapping[str, str] | None) -> Any:
        """One call, GETs retried; with ``headers`` the answer is (payload, response headers)."""
        attempts = 1 + (self.max_retries if method == "GET" else 0)
        for attempt in range(attempts):
            try:
                return self._once(method, path, params, body, auth, headers)
            except RetryableError as exc:
                if attempt + 1 >= attempts:
                    raise
                wait = self.backoff.delay(attempt, exc.retry_after)
                if wait is None:
                    raise
                self._sleep(wait)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- one attempt -------------------------------------------------------------------------------

    def build_request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        *,
        auth: bool = True,
        timestamp: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> httpx.Request:
        """The exact request that would be sent (signed when ``auth``)."""
        if not path.startswith("/"):
            raise ValueError("path must start with '/'")
        url = self.base_url + path
        query = encode_query(params)
        if query:
            url += ("&" if "?" in url else "?") + query
        text = "" if body is None else encode_body(body)
        parsed = self._urls.get(url)
        if parsed is None:
            if len(self._urls) > 1024:
                self._urls.clear()
            import httpx

            built = httpx.URL(url)
            parsed = self._urls[url] = (built, str(built))
        headers = {"X-Ovh-Application": self._ak, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        if extra_headers:
            headers.update(extra_headers)
        if auth:
            ts = timestamp if timestamp is not None else int(self._clock()) + self.time_delta()
            # Sign the URL httpx will actually put on the wire: the parsed URL, as httpx writes it.
            headers["X-Ovh-Consumer"] = self._ck
            headers["X-Ovh-Timestamp"] = str(ts)
            headers["X-Ovh-Signature"] = sign(self._as, self._ck, method, parsed[1], text, ts)
        return self._http.build_request(method, parsed[0], headers=headers, content=text.encode("utf-8"))

    def _send(self, request: httpx.Request) -> httpx.Response:
        """Send a built request through the transport and read the whole answer, within ``timeout``."""
        started = time.monotonic()
        return read_bounded(self._transport.handle_request(request), request, started, self.timeout)

    def _once(self, method: str, path: str, params: Mapping[str, Any] | None, body: Any, auth: bool,
              headers: Mapping[str, str] | None = None) -> Any:
        what = f"OVHcloud {method} {path}"
        write = method != "GET"
        if self.limiter is not None:  # before signing: a long wait must not age the timestamp
            self.limiter.acquire(urgent=getattr(self._urgent, "on", False))
        import httpx

        request = self.build_request(method, path, params, body, auth=auth, extra_headers=headers)
        self.requests_sent += 1
        try:
            response = self._send(request)
        except httpx.TransportError as exc:  # (timeouts included)
            raise transport_failure(exc, what, write=write) from exc
        payload = self._handle(response, what, write)
        return (payload, response.headers) if headers is not None else payload

    def _handle(self, response: httpx.Response, what: str, write: bool) -> Any:
        qid = response.headers.get("X-OVH-QUERYID")
        status = response.status_code
        if 200 <= status < 300:
            if status == 204 or not response.content:
                return None
            try:
                return response.json()
            except ValueError as exc:
                if write:
                    raise InDoubtError(f"{what}: unreadable answer (HTTP {status})", query_id=qid) from exc
                raise RetryableError(f"{what}: unreadable answer (HTTP {status})", query_id=qid) from exc

        klass, message, code = "", "", ""
        try:
            payload = response.json()
        except ValueError:
            payload = None
        if isinstance(payload, dict):
            klass = str(payload.get("class") or "")
            message = str(payload.get("message") or "")
            code = str(payload.get("errorCode") or "")
        detail = ", ".join(x for x in (klass, code) if x)
        text = f"{what}: HTTP {status}" + (f" {detail}" if detail else "") + (f": {message}" if message else "")

        if code == "QUERY_TIME_OUT":
            self.reset_time_delta()
            raise RetryableError(f"{text} (clock offset will be re-read)", query_id=qid)
        if status in (401, 403) or code in _AUTH_ERROR_CODES:
            raise CredentialsError(f"OVHcloud refused the credentials ({text}); {_CREDENTIALS_HINT}", query_id=qid)
        if status == 404:
            raise OvhNotFoundError(text, query_id=qid)
        if status == 460:
            raise OvhServiceExpiredError(f"{text} (the OVHcloud service has expired)", query_id=qid)
        if status == 429:  # the whole consumer key is over the server's limit: everyone waits
            wait = retry_after(response.headers)
            if self.limiter is not None:  # (capped: an hour's Retry-After must not freeze the process silently)
                self.limiter.pause(min(wait if wait is not None else self.backoff_base, self.max_wait))
            raise RetryableError(text, retry_after=wait, query_id=qid)
        raise status_error(status, text, write=write, retry_after=retry_after(response.headers), query_id=qid) or \
            PermanentError(text, query_id=qid)


# configuration and signing live in runner.providers.ovh.config; their names stay importable from here
__all__ = [
    "CREDENTIAL_VARIABLES", "ENDPOINTS", "OvhClient", "OvhConfig", "OvhNotFoundError", "OvhServiceExpiredError",
    "RateLimiter", "client_from_env", "encode_body", "encode_query", "path_segment", "resolve_config",
    "resolve_endpoint", "shared_limiter", "sign",
]
