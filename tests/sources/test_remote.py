"""Remote CSV sources against real HTTP servers on 127.0.0.1: what is refused, what is capped, what is
never shown.

Every server runs in a thread of the test (``http.server``). Because it listens on loopback, the tests
that need a fetch to happen use ``allow_private_urls=True``, and the redirect tests use the
``url_check`` seam to allow loopback for the first hop only, so the re-check of each redirect target is
what refuses the second hop.
"""

from __future__ import annotations

import gzip
import hashlib
import http.server
import json
import os
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from runner.errors import SourceError
from runner.sources.base import SourceContext
from runner.sources.remote import MAX_REDIRECTS, RemoteCsvSource, address_refused, check_address, redact

CSV = b"phone;first_name\n+33612345678;Alice\n+33698765432;Bruno\n"

Handler = Callable[["_RequestHandler"], None]


@dataclass
class Server:
    """A loopback HTTP server whose paths answer with the handlers of ``routes``."""

    port: int = 0
    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)  # (path with query, headers)
    stop: threading.Event = field(default_factory=threading.Event)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    @property
    def paths(self) -> list[str]:
        return [p.split("?")[0] for p, _ in self.requests]


class _RequestHandler(http.server.BaseHTTPRequestHandler):
    server_state: Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        state = self.server_state
        state.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
        handler = state.routes.get(self.path.split("?")[0])
        if handler is None:
            self.send_error(404)
            return
        handler(self)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server()
    handler_class = type("Handler", (_RequestHandler,), {"server_state": state})
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    httpd.daemon_threads = True
    state.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield state
    state.stop.set()
    httpd.shutdown()
    httpd.server_close()


# -- handlers -------------------------------------------------------------------------------------------------
def body(data: bytes, *, status: int = 200, headers: dict[str, str] | None = None) -> Handler:
    def handle(h: _RequestHandler) -> None:
        h.send_response(status)
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        if "Content-Length" not in (headers or {}):
            h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)
    return handle


def redirect(location: str, status: int = 302) -> Handler:
    def handle(h: _RequestHandler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()
    return handle


def chunked(data: bytes, chunk: int = 4096) -> Handler:
    """No Content-Length: the size is only known while streaming."""
    def handle(h: _RequestHandler) -> None:
        h.send_response(200)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        for i in range(0, len(data), chunk):
            part = data[i:i + chunk]
            h.wfile.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
        h.wfile.write(b"0\r\n\r\n")
    return handle


def silent(state: Server) -> Handler:
    """Reads the request and never answers."""
    def handle(h: _RequestHandler) -> None:
        state.stop.wait(30)
    return handle


def trickle_body(state: Server, every: float) -> Handler:
    """Headers at once (a large Content-Length), then one byte of body every ``every`` seconds."""
    def handle(h: _RequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "1000000")
        h.end_headers()
        try:
            while not state.stop.wait(every):
                h.wfile.write(b"0")
        except OSError:
            pass
    return handle


def trickle_headers(state: Server, every: float) -> Handler:
    """The status line and headers one byte at a time, forever: no single read ever times out."""
    def handle(h: _RequestHandler) -> None:
        data = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 100_000
        try:
            for byte in data:
                if state.stop.wait(every):
                    return
                h.wfile.write(bytes([byte]))
        except OSError:
            pass
    return handle


# -- helpers --------------------------------------------------------------------------------------------------
def ctx(tmp_path: Path, *, private: bool = True) -> SourceContext:
    return SourceContext(repo_root=tmp_path, allow_private_urls=private, cache_dir=tmp_path / "cache")


def fetch_error(source: RemoteCsvSource) -> str:
    with pytest.raises(SourceError) as caught:
        list(source.rows())
    message = str(caught.value)
    assert "Traceback" not in message
    return message


def no_leftovers(tmp_path: Path) -> None:
    """A refused download leaves no partial file behind."""
    cache = tmp_path / "cache"
    assert not cache.exists() or list(cache.iterdir()) == []


# -- scheme and addresses --------------------------------------------------------------------------------------
def test_plain_http_is_refused_unless_allowed(server: Server, tmp_path: Path) -> None:
    server.routes["/list.csv"] = body(CSV)
    message = fetch_error(RemoteCsvSource(server.url("/list.csv"), ctx=ctx(tmp_path)))
    assert "plain http:// is refused" in message and "allow_http" in message
    assert server.requests == []  # refused before connecting
    rows = list(RemoteCsvSource(server.url("/list.csv"), ctx=ctx(tmp_path), allow_http=True).rows())
    assert [r.raw for r in rows] == ["+33612345678", "+33698765432"]


@pytest.mark.parametrize("url", ["ftp://127.0.0.1/list.csv", "file:///etc/passwd", "gopher://127.0.0.1:70/_x",
                                 "javascript:alert(1)", "//127.0.0.1/list.csv"])
def test_other_schemes_are_refused(url: str, tmp_path: Path) -> None:
    message = fetch_error(RemoteCsvSource(url, ctx=ctx(tmp_path), allow_http=True))
    assert "only https:// URLs" in message or "not a valid URL" in message


@pytest.mark.parametrize("host", ["127.0.0.1", "127.1.2.3", "localhost", "[::1]", "169.254.169.254", "10.0.0.1",
                                  "172.16.5.4", "192.168.1.1", "100.64.0.1", "0.0.0.0", "[::ffff:127.0.0.1]",
                                  "[fe80::1]", "[fc00::1]", "224.0.0.1", "240.0.0.1"])
def test_private_loopback_and_link_local_addresses_are_refused_by_default(host: str, server: Server,
                                                                          tmp_path: Path) -> None:
    url = f"http://{host}:{server.port}/list.csv"
    message = fetch_error(RemoteCsvSource(url, ctx=ctx(tmp_path, private=False), allow_http=True))
    assert "private, loopback or link-local" in message and "refused" in message
    assert server.requests == []
    no_leftovers(tmp_path)


def test_private_addresses_are_allowed_with_allow_private_urls(server: Server, tmp_path: Path) -> None:
    server.routes["/list.csv"] = body(CSV)
    source = RemoteCsvSource(server.url("/list.csv"), ctx=ctx(tmp_path), allow_http=True)
    rows = list(source.rows())
    assert [(r.raw, r.line) for r in rows] == [("+33612345678", 2), ("+33698765432", 3)]
    assert source.digest() == hashlib.sha256(CSV).hexdigest()
    assert server.requests[0][1]["accept-encoding"] == "identity"
    source.close()


@pytest.mark.parametrize(("address", "refused"), [
    ("93.184.216.34", False), ("2606:2800:220:1:248:1893:25c8:1946", False), ("8.8.8.8", False),
    ("127.0.0.1", True), ("169.254.169.254", True), ("10.1.2.3", True), ("::1", True), ("::ffff:10.0.0.1", True),
    ("::ffff:8.8.8.8", False), ("100.64.1.1", True), ("198.18.0.1", True), ("ff02::1", True), ("0.0.0.0", True),
])
def test_address_policy(address: str, refused: bool) -> None:
    import ipaddress

    assert address_refused(ipaddress.ip_address(address)) is refused


@pytest.mark.parametrize(("host", "answers"), [
    ("0x7f000001", ["127.0.0.1"]),  # what the C resolver makes of hex, octal or short forms
    ("2130706433", ["127.0.0.1"]),
    ("metadata.internal", ["169.254.169.254"]),
    ("rebind.example", ["93.184.216.34", "10.0.0.7"]),  # one private answer among public ones is enough
])
def test_every_address_a_name_resolves_to_is_checked(host: str, answers: list[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    def fake_getaddrinfo(name: str, port: int, *args: object, **kwargs: object) -> list[tuple[object, ...]]:
        assert name == host
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port)) for address in answers]

    monkeypatch.setattr(socket, "getaddrinfo", fake_getaddrinfo)
    with pytest.raises(SourceError, match="private, loopback or link-local"):
        check_address(f"https://{host}/list.csv", allow_http=False, allow_private=False)


def test_a_public_name_is_pinned_to_its_checked_addresses(monkeypatch: pytest.MonkeyPatch) -> None:
    import socket

    monkeypatch.setattr(socket, "getaddrinfo", lambda name, port, *a, **k: [
        (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port)),
        (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2606:2800:220:1:248:1893:25c8:1946", port, 0, 0))])
    assert check_address("https://lists.example/x.csv", allow_http=False, allow_private=False) == [
        "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"]


def test_a_public_ip_literal_passes_the_check_without_dns() -> None:
    # no resolution happens for a literal (the test guard would refuse one), and it is the address pinned
    assert check_address("https://93.184.216.34/x.csv", allow_http=False, allow_private=False) == ["93.184.216.34"]


def test_the_connection_goes_to_the_checked_addresses_not_a_second_dns_answer(server: Server,
                                                                                 tmp_path: Path) -> None:
    """DNS rebinding: the check's answer is the one connected to. 'csv.example' cannot be resolved in
    tests at all, so the fetch only works if the connection uses the pinned address."""
    server.routes["/list.csv"] = body(CSV)
    source = RemoteCsvSource(f"http://csv.example:{server.port}/list.csv", ctx=ctx(tmp_path, private=False),
                             allow_http=True, url_check=lambda url, hop: ["127.0.0.1"])
    assert len(list(source.rows())) == 2
    assert server.requests[0][1]["host"] == f"csv.example:{server.port}"


# -- redirects ------------------------------------------------------------------------------------------------------
def test_redirects_are_followed_up_to_the_limit(server: Server, tmp_path: Path) -> None:
    for i in range(MAX_REDIRECTS):
        server.routes[f"/r{i}"] = redirect(f"/r{i + 1}" if i + 1 < MAX_REDIRECTS else "/list.csv")
    server.routes["/list.csv"] = body(CSV)
    assert len(list(RemoteCsvSource(server.url("/r0"), ctx=ctx(tmp_path), allow_http=True).rows())) == 2

    server.routes["/r0"] = redirect("/extra")
    server.routes["/extra"] = redirect("/r1")  # one more hop: 6 redirects
    message = fetch_error(RemoteCsvSource(server.url("/r0"), ctx=ctx(tmp_path), allow_http=True))
    assert f"more than {MAX_REDIRECTS} redirects" in message


def test_a_redirect_loop_stops(server: Server, tmp_path: Path) -> None:
    server.routes["/a"] = redirect("/b", 301)
    server.routes["/b"] = redirect("/a", 307)
    message = fetch_error(RemoteCsvSource(server.url("/a"), ctx=ctx(tmp_path), allow_http=True))
    assert "more than 5 redirects" in message
    assert len(server.requests) == MAX_REDIRECTS + 1


def first_hop_only(url: str, hop: int) -> list[str] | None:
    """The campaign's own URL may be on loopback (it is the test server); every redirect target is
    checked with the real policy."""
    return check_address(url, allow_http=True, allow_private=hop == 0)


@pytest.mark.parametrize("target", ["http://127.0.0.1:{port}/secret", "http://169.254.169.254/latest/meta-data/",
                                    "http://[::1]:{port}/secret", "http://localhost:{port}/secret",
                                    "http://10.0.0.5/admin"])
def test_every_redirect_target_is_checked_again(target: str, server: Server, tmp_path: Path) -> None:
    server.routes["/list.csv"] = redirect(target.format(port=server.port))
    server.routes["/secret"] = body(b"phone\n+33600000000\n")
    source = RemoteCsvSource(server.url("/list.csv"), ctx=ctx(tmp_path, private=False), allow_http=True,
                             url_check=first_hop_only)
    message = fetch_error(source)
    assert "private, loopback or link-local" in message and "refused" in message
    assert server.paths == ["/list.csv"]  # the redirect target was never requested


def test_a_redirect_cannot_downgrade_to_http_or_change_scheme(server: Server, tmp_path: Path) -> None:
    def https_after_first_hop(url: str, hop: int) -> list[str] | None:
        return check_address(url, allow_http=hop == 0, allow_private=True)

    server.routes["/list.csv"] = redirect(server.url("/other.csv"))
    message = fetch_error(RemoteCsvSource(server.url("/list.csv"), ctx=ctx(tmp_path), url_check=https_after_first_hop))
    assert "plain http:// is refused" in message
    server.routes["/list.csv"] = redirect("file:///etc/passwd")
    message = fetch_error(RemoteCsvSource(server.url("/list.csv"), ctx=ctx(tmp_path), allow_http=True))
    assert "only https:// URLs" in message


def test_a_redirect_without_location_is_an_error(server: Server, tmp_path: Path) -> None:
    server.routes["/list.csv"] = body(b"", status=302)
    assert "redirect without a location" in fetch_error(
        RemoteCsvSource(server.url("/list.csv"), ctx=ctx(tmp_path), allow_http=True))


# -- caps -----------------------------------------------------------------------------------------------------------
def test_a_declared_size_over_the_cap_is_refused(server: Server, tmp_path: Path) -> None:
    server.routes["/big.csv"] = body(b"0" * 10_000)
    message = fetch_error(RemoteCsvSource(server.url("/big.csv"), ctx=ctx(tmp_path), allow_http=True,
                                          max_bytes=1000))
    assert "larger than 1000 bytes" in message and "Content-Length: 10000" in message
    no_leftovers(tmp_path)


def test_a_streamed_size_over_the_cap_is_refused(server: Server, tmp_path: Path) -> None:
    server.routes["/big.csv"] = chunked(b"+33612345678\n" * 10_000)
    message = fetch_error(RemoteCsvSource(server.url("/big.csv"), ctx=ctx(tmp_path), allow_http=True,
                                          max_bytes=50_000))
    assert "larger than 50000 bytes" in message
    no_leftovers(tmp_path)
    # under the cap, the same stream is read in full
    rows = list(RemoteCsvSource(server.url("/big.csv"), ctx=ctx(tmp_path), allow_http=True,
                                max_bytes=1_000_000).rows())
    assert len(rows) == 10_000


def test_a_compressed_answer_is_refused_before_it_can_expand(server: Server, tmp_path: Path) -> None:
    """A 500-byte double-gzip bomb expands to 200 MB; it is refused without being decompressed."""
    bomb = gzip.compress(gzip.compress(b"0" * 200_000_000))
    server.routes["/bomb.csv"] = body(bomb, headers={"Content-Encoding": "gzip, gzip"})
    tracemalloc.start()
    try:
        message = fetch_error(RemoteCsvSource(server.url("/bomb.csv"), ctx=ctx(tmp_path), allow_http=True,
                                              max_bytes=1_000_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert "compressed content" in message and "gzip" in message
    assert peak < 30_000_000, f"peak memory {peak / 1e6:.0f} MB"


def test_a_silent_server_times_out(server: Server, tmp_path: Path) -> None:
    server.routes["/list.csv"] = silent(server)
    message = fetch_error(RemoteCsvSource(server.url("/list.csv"), ctx=ctx(tmp_path), allow_http=True, timeout=0.5))
    assert "timed out after 0.5 s" in message  # the silent server would hold it 30 s: the timeout cut it


@pytest.mark.timeout(30)
def test_a_server_trickling_its_body_is_cut_off_by_the_total_time(server: Server, tmp_path: Path) -> None:
    # each byte comes well within the read timeout: only the total time can stop it
    server.routes["/list.csv"] = trickle_body(server, every=0.05)
    start = time.monotonic()
    message = fetch_error(RemoteCsvSource(server.url("/list.csv"), ctx=ctx(tmp_path), allow_http=True, timeout=1,
                                          total_timeout=1.5))
    elapsed = time.monotonic() - start
    assert "download took longer than 1.5 s" in message
    assert elapsed > 1.4, elapsed  # not cut early (a lower bound: a busy machine only makes it longer)
    no_leftovers(tmp_path)


@pytest.mark.timeout(30)
def test_a_server_trickling_its_headers_is_cut_off_by_the_total_time(server: Server, tmp_path: Path) -> None:
    """The headers never finish (100 kB at one byte per 0.05 s); the old code only checked the clock
    between body chunks and waited for them forever."""
    server.routes["/list.csv"] = trickle_headers(server, every=0.05)
    message = fetch_error(RemoteCsvSource(server.url("/list.csv"), ctx=ctx(tmp_path), allow_http=True, timeout=1,
                                          total_timeout=1.5))
    assert "download took longer than 1.5 s" in message  # 100 kB of headers would take 5,000 s: the total cut it


def test_the_total_time_defaults_to_six_read_timeouts_and_at_least_a_minute(tmp_path: Path) -> None:
    assert RemoteCsvSource("https://a.example/x", ctx=ctx(tmp_path), timeout=2).total_timeout == 60
    assert RemoteCsvSource("https://a.example/x", ctx=ctx(tmp_path), timeout=20).total_timeout == 120


def test_a_closed_port_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    message = fetch_error(RemoteCsvSource(f"http://127.0.0.1:{port}/x.csv", ctx=ctx(tmp_path), allow_http=True))
    assert "download failed" in message


@pytest.mark.parametrize("status", [403, 404, 500])
def test_an_error_status_is_reported(status: int, server: Server, tmp_path: Path) -> None:
    server.routes["/list.csv"] = body(b"nope", status=status)
    assert f"HTTP {status}" in fetch_error(RemoteCsvSource(server.url("/list.csv"), ctx=ctx(tmp_path),
                                                           allow_http=True))


# -- sha256 -----------------------------------------------------------------------------------------------------------
def test_the_pinned_sha256_is_verified(server: Server, tmp_path: Path) -> None:
    server.routes["/list.csv"] = body(CSV)
    good = hashlib.sha256(CSV).hexdigest()
    pinned = RemoteCsvSource(server.url("/list.csv"), ctx=ctx(tmp_path), allow_http=True, sha256=good.upper())
    assert len(list(pinned.rows())) == 2
    pinned.close()
    wrong = hashlib.sha256(b"something else").hexdigest()
    message = fetch_error(RemoteCsvSource(server.url("/list.csv"), ctx=ctx(tmp_path), allow_http=True, sha256=wrong))
    assert "content changed" in message and good in message and wrong in message
    no_leftovers(tmp_path)


# -- secrets in URLs --------------------------------------------------------------------------------------------------
SECRETS = ("hunter2", "TOKEN123", "FRAGSECRET", "alice")


@pytest.mark.parametrize(("url", "shown"), [
    ("https://alice:hunter2@lists.example/x.csv?token=TOKEN123#FRAGSECRET", "https://lists.example/x.csv"),
    ("https://lists.example:8443/a/b.csv?sig=TOKEN123", "https://lists.example:8443/a/b.csv"),
    ("https://[2001:db8::1]:8443/x.csv?t=TOKEN123", "https://[2001:db8::1]:8443/x.csv"),
    ("https://alice@lists.example/x.csv", "https://lists.example/x.csv"),
    ("https://lists.example:99999/x.csv?t=TOKEN123", "(invalid URL)"),
    ("https://[::1/x.csv?t=TOKEN123", "(invalid URL)"),
])
def test_redact_strips_credentials_query_and_fragment(url: str, shown: str) -> None:
    assert redact(url) == shown


def scenario_status(server: Server) -> str:
    server.routes["/x.csv"] = body(b"no", status=404)
    return server.url("/x.csv")


def scenario_redirect_to_private(server: Server) -> str:
    server.routes["/x.csv"] = redirect("http://alice:hunter2@169.254.169.254/?token=TOKEN123#FRAGSECRET")
    return server.url("/x.csv")


def scenario_too_big(server: Server) -> str:
    server.routes["/x.csv"] = body(b"0" * 5000)
    return server.url("/x.csv")


def scenario_closed_port(server: Server) -> str:
    return "http://127.0.0.1:1/x.csv"


def scenario_sha(server: Server) -> str:
    server.routes["/x.csv"] = body(CSV)
    return server.url("/x.csv")


def scenario_bad_csv(server: Server) -> str:
    server.routes["/x.csv"] = body(b"phone\n\"+3361234\x00", headers={"Content-Type": "text/csv"})
    return server.url("/x.csv")


@pytest.mark.parametrize("scenario", [scenario_status, scenario_redirect_to_private, scenario_too_big,
                                      scenario_closed_port, scenario_sha, scenario_bad_csv])
def test_errors_never_show_credentials_or_tokens(scenario: Callable[[Server], str], server: Server,
                                                 tmp_path: Path) -> None:
    base = scenario(server)
    url = base.replace("http://", "http://alice:hunter2@") + "?token=TOKEN123#FRAGSECRET"
    source = RemoteCsvSource(url, ctx=ctx(tmp_path, private=False), allow_http=True, max_bytes=1000,
                             sha256="0" * 64, url_check=first_hop_only)
    assert not any(secret in source.label for secret in SECRETS)
    try:
        list(source.rows())
    except SourceError as exc:
        message = str(exc)
    else:  # pragma: no cover - every scenario fails
        pytest.fail("the scenario did not fail")
    assert message, scenario.__name__
    for secret in SECRETS:
        assert secret not in message, (secret, message)


# -- through the CLI ---------------------------------------------------------------------------------------------------
def write_campaign(repo: Path, url: str) -> Path:
    (repo / ".git").mkdir(exist_ok=True)
    campaign = repo / "remote.yaml"
    campaign.write_text(f"""\
id: remote-list
message: Hello
commercial: false
recipients:
  - csv:
      url: {json.dumps(url)}
      allow_http: true
""", encoding="utf-8")
    return campaign


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    from runner.cli.main import run

    with pytest.raises(SystemExit) as caught:
        run(args)
    out, err = capsys.readouterr()
    return int(caught.value.code or 0), out, err


def test_plan_refuses_a_loopback_url_with_the_campaign_position_and_allows_it_on_request(
        server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    server.routes["/list.csv"] = body(CSV)
    write_campaign(tmp_path, server.url("/list.csv") + "?token=TOKEN123")
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["plan", "remote.yaml", "--json"], capsys)
    assert code == 1
    assert "Traceback" not in out + err and "TOKEN123" not in out + err
    assert err.startswith("remote.yaml:6:7: error: http://127.0.0.1:")  # the csv: {url: ...} value
    assert "loopback" in err
    assert server.requests == []
    code, out, err = run_cli(["plan", "remote.yaml", "--json", "--allow-private-urls"], capsys)
    assert code == 0, err
    assert json.loads(out)["recipients"]["valid"] == 2
    assert "TOKEN123" not in out + err


def test_no_temporary_file_survives_a_plan(server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    import tempfile

    temp = tmp_path / "tmp"
    temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    server.routes["/list.csv"] = body(CSV)
    repo = tmp_path / "repo"
    repo.mkdir()
    write_campaign(repo, server.url("/list.csv"))
    monkeypatch.chdir(repo)
    code, _, err = run_cli(["plan", "remote.yaml", "--allow-private-urls"], capsys)
    assert code == 0, err
    assert os.listdir(temp) == []
