"""A real Kannel 1.4.5 (bearerbox + smsbox + fakesmsc) on 127.0.0.1 for tests.

What it gives:

* :class:`KannelGateway`: writes a ``kannel.conf`` with free ports into a directory of its own (every
  listener on 127.0.0.1, no store file, so nothing survives a run), starts bearerbox, waits on its admin
  ``status.txt`` (it never probes the fake SMSC port: bearerbox hands its queue to whatever connects
  there), starts ``fakesmsc -v 0`` with a pipe on its stdin (to inject MOs) and its output in a file,
  then smsbox; stops with SIGTERM to bearerbox and a KILL fallback.  fakesmsc's
  ``Got message N: <from> <to> <type> <payload>`` lines are the truth about what was sent:
  :meth:`KannelGateway.messages`, :meth:`KannelGateway.wait_for_messages`, :func:`reassemble`.
  ``smsc="smpp"`` points bearerbox at an SMPP SMSC instead (see ``tests/support/smsc_sim.py``).
* :class:`RecordingHttpServer`: a small HTTP listener on 127.0.0.1 recording every request, for the
  ``dlr-url`` (delivery reports) and the MO ``get-url`` (replies such as STOP). It can relay requests
  under a path prefix to another server (:meth:`RecordingHttpServer.relay`).
* :func:`inject_mo`: make a handset "reply" through fakesmsc and wait until the MO reaches the listener.
* pytest fixtures ``kannel_listener`` and ``kannel`` (session scope), skipped with a clear reason when
  Kannel is not installed (``.ci/install-kannel.sh`` installs it). To use them in a test module::

      from tests.support.kannel import kannel_fixture, kannel_listener_fixture  # noqa: F401

The MO get-url is ``http://127.0.0.1:<listener>/mo?from=%p&to=%P&text=%a&smsc=%i&ts=%T`` (Kannel
escapes: %p the handset, %P the short code, %a the text, %i the SMSC id, %T the time).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import IO, Literal

import pytest

BEARERBOX = Path("/usr/sbin/bearerbox")
SMSBOX = Path("/usr/sbin/smsbox")
FAKESMSC = Path("/usr/lib/kannel/test/fakesmsc")
LOOPBACK = "127.0.0.1"

MO_PATH = "/mo"
MO_QUERY = "from=%p&to=%P&text=%a&smsc=%i&ts=%T"


def kannel_missing() -> str | None:
    """Why the Kannel tests cannot run here, or None when the binaries are present."""
    missing = [str(p) for p in (BEARERBOX, SMSBOX, FAKESMSC) if not os.access(p, os.X_OK)]
    if missing:
        return (
            f"Kannel is not installed ({', '.join(missing)} missing); "
            "run .ci/install-kannel.sh (apt-get install kannel kannel-extras)"
        )
    return None


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        port: int = s.getsockname()[1]
        return port


def wait_until(check: Callable[[], bool], timeout: float, what: str, interval: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if check():
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.1f} s waiting for {what}")
        time.sleep(interval)


# --------------------------------------------------------------------------------------------------
# HTTP listener for dlr-url / get-url


@dataclass(frozen=True)
class Hit:
    """One request the listener received."""

    method: str
    path: str  # without the query
    query: dict[str, str]  # last value of each parameter, decoded
    raw_target: str  # path and query exactly as received
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)


class RecordingHttpServer:
    """``ThreadingHTTPServer`` on 127.0.0.1 answering 200 "OK" and recording every request."""

    def __init__(self) -> None:
        self._hits: list[Hit] = []
        self._cond = threading.Condition()
        self._relays: dict[str, str] = {}
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
                hit = Hit(
                    self.command,
                    parts.path,
                    query,
                    self.path,
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                status, answer = outer._answer(hit)
                with outer._cond:
                    outer._hits.append(hit)
                    outer._cond.notify_all()
                self.send_response(status)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = _handle
            do_POST = _handle

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
        self._server.daemon_threads = True
        self.port: int = self._server.server_address[1]
        self.base_url = f"http://{LOOPBACK}:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="recording-http", daemon=True)
        self._thread.start()

    def _answer(self, hit: Hit) -> tuple[int, bytes]:
        for prefix, target in self._relays.items():
            if hit.path.startswith(prefix):
                url = target + hit.raw_target[len(prefix) :]
                request = urllib.request.Request(url, data=hit.body or None, method=hit.method)
                try:
                    with urllib.request.urlopen(request, timeout=10) as response:
                        return int(response.status), bytes(response.read())
                except urllib.error.HTTPError as exc:
                    return int(exc.code), exc.read()
                except OSError as exc:
                    return 502, f"relay failed: {exc}".encode()
        return 200, b"OK"

    def relay(self, prefix: str, target: str) -> None:
        """Forward requests whose path starts with ``prefix`` to ``target`` + the rest of the path and
        query (``relay("/mo", "http://127.0.0.1:9999/kannel/mo")``): lets a later test point the MOs of
        the shared Kannel at its own server. They are still recorded here."""
        self._relays[prefix] = target.rstrip("/") if target.endswith("/") and prefix.endswith("/") else target

    def unrelay(self, prefix: str) -> None:
        self._relays.pop(prefix, None)

    def url(self, path: str) -> str:
        return self.base_url + path

    def hits(self, path: str | None = None, since: int = 0) -> list[Hit]:
        """Requests received so far (those under ``path``; from index ``since``)."""
        with self._cond:
            found = self._hits[since:]
        return [h for h in found if path is None or h.path == path]

    def mark(self) -> int:
        """Index to pass as ``since`` to see only later requests."""
        with self._cond:
            return len(self._hits)

    def wait_for(
        self, predicate: Callable[[Hit], bool], count: int = 1, timeout: float = 10.0, since: int = 0
    ) -> list[Hit]:
        """Wait until ``count`` requests (after ``since``) satisfy ``predicate``; return them."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [h for h in self._hits[since:] if predicate(h)]
                if len(found) >= count:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = "\n".join(h.raw_target for h in self._hits[since:][-20:])
                    raise TimeoutError(
                        f"only {len(found)} of {count} expected requests arrived in {timeout} s; "
                        f"last requests received:\n{seen or '(none)'}"
                    )
                self._cond.wait(left)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


# --------------------------------------------------------------------------------------------------
# fakesmsc output

# The sender may contain spaces (alphanumeric "ACME Shop"); the receiver never does; the payload is last.
_GOT = re.compile(r"Got message (\d+): <(.+?) (\S+) (text|data|ucs-2|udh) (.*)>$")


@dataclass(frozen=True)
class FakeSmscMessage:
    """One MT as fakesmsc received it (``Got message N: <sender> <receiver> <type> <payload>``)."""

    number: int
    sender: str
    receiver: str
    kind: str  # text | data | ucs-2 (the type of the payload, after any udh)
    udh: bytes | None
    payload: bytes  # raw octets (UTF-8 for text, UTF-16BE for ucs-2)

    @property
    def text(self) -> str:
        """The payload as text (UTF-16BE for ``ucs-2``; concatenated UCS-2 parts say ``data``: decode
        their payload yourself or use :func:`reassemble` with ``ucs2=True``). Note: the fake SMSC's
        line protocol cannot carry a newline in a ``text`` payload (it splits the message)."""
        if self.kind == "ucs-2":
            return self.payload.decode("utf-16-be")
        return self.payload.decode("utf-8", errors="replace")

    @property
    def concat(self) -> tuple[int, int, int] | None:
        """(reference, total, sequence) of a concatenated part, from the UDH; None otherwise."""
        return _concat_info(self.udh) if self.udh else None


def _concat_info(udh: bytes) -> tuple[int, int, int] | None:
    i = 1  # udh[0] is the UDH length
    while i + 1 < len(udh):
        iei, length = udh[i], udh[i + 1]
        data = udh[i + 2 : i + 2 + length]
        if iei == 0x00 and length == 3:
            return data[0], data[1], data[2]
        if iei == 0x08 and length == 4:
            return (data[0] << 8) | data[1], data[2], data[3]
        i += 2 + length
    return None


def parse_fakesmsc_line(line: str) -> FakeSmscMessage | None:
    """Parse one fakesmsc ``-v 0`` output line; None for any other line."""
    m = _GOT.search(line.rstrip("\r\n"))
    if not m:
        return None
    number, sender, receiver, kind, rest = int(m[1]), m[2], m[3], m[4], m[5]
    udh: bytes | None = None
    if kind == "udh":
        udh_enc, _, rest = rest.partition(" ")
        udh = urllib.parse.unquote_to_bytes(udh_enc.replace("+", " "))
        kind, _, rest = rest.partition(" ")
    # data/ucs-2 payloads are URL-encoded by Kannel, which writes a space as '+' (and '+' as %2B)
    payload = rest.encode("utf-8") if kind == "text" else _unquote_plus_bytes(rest)
    return FakeSmscMessage(number, sender, receiver, kind, udh, payload)


def _unquote_plus_bytes(text: str) -> bytes:
    return urllib.parse.unquote_to_bytes(text.replace("+", " "))


def reassemble(parts: Sequence[FakeSmscMessage], *, ucs2: bool = False) -> list[tuple[str, str, str, int]]:
    """Join concatenated parts: one ``(sender, receiver, text, number_of_parts)`` per logical SMS,
    in order of first appearance. Raises ValueError on a missing or duplicated part.

    fakesmsc types every concatenated part ``udh ... data`` whatever the coding, so say ``ucs2=True``
    when the parts carry UTF-16BE."""
    groups: dict[tuple[str, str, int, int], dict[int, FakeSmscMessage]] = {}
    order: list[tuple[str, str, int, int] | int] = []
    singles: dict[int, FakeSmscMessage] = {}
    for msg in parts:
        info = msg.concat
        if info is None:
            singles[msg.number] = msg
            order.append(msg.number)
            continue
        ref, total, seq = info
        key = (msg.sender, msg.receiver, ref, total)
        if key not in groups:
            groups[key] = {}
            order.append(key)
        if seq in groups[key]:
            raise ValueError(f"part {seq}/{total} of message ref {ref} to {msg.receiver} received twice")
        groups[key][seq] = msg
    out: list[tuple[str, str, str, int]] = []
    for item in order:
        if isinstance(item, int):
            m = singles[item]
            out.append((m.sender, m.receiver, m.text, 1))
            continue
        sender, receiver, ref, total = item
        got = groups[item]
        if sorted(got) != list(range(1, total + 1)):
            raise ValueError(f"message ref {ref} to {receiver}: got parts {sorted(got)} of {total}")
        ordered = [got[i] for i in range(1, total + 1)]
        if ucs2 or ordered[0].kind == "ucs-2":
            text = b"".join(p.payload for p in ordered).decode("utf-16-be")
        else:
            text = "".join(p.text for p in ordered)
        out.append((sender, receiver, text, total))
    return out


# --------------------------------------------------------------------------------------------------
# the gateway


def _die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the test process dies, even by SIGKILL (Linux), so that
    no bearerbox is left behind."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


@dataclass
class _Proc:
    name: str
    popen: subprocess.Popen[bytes]
    out: IO[bytes]


class KannelGateway:
    """bearerbox + fakesmsc (or an SMPP SMSC) + smsbox on free loopback ports; see the module docstring.

    ``mo_url``: the sms-service get-url base (the MO query is appended); ``None``: no sms-service.
    ``black_list``: smsbox's ``black-list-regex`` (numbers answered with HTTP 400), or None.
    ``smsc="smpp"``: talk SMPP to ``127.0.0.1:smpp_port`` instead of running fakesmsc.
    """

    def __init__(
        self,
        directory: Path,
        *,
        mo_url: str | None = None,
        black_list: str | None = r"^\+?999",
        smsc: Literal["fake", "smpp"] = "fake",
        smpp_port: int | None = None,
        max_messages: int = 10,
    ) -> None:
        self.dir = directory
        self.dir.mkdir(parents=True, exist_ok=True)
        self.mo_url = mo_url
        self.black_list = black_list
        self.smsc = smsc
        self.smpp_port = smpp_port
        self.max_messages = max_messages
        self.admin_port = free_port()
        self.box_port = free_port()
        self.fake_port = free_port()
        self.sendsms_port = free_port()
        self.admin_password = secrets.token_hex(8)
        self.username = "smsrun"
        self.password = secrets.token_hex(12)
        # sendsms-user default-sender, not smsbox global-sender: with a global-sender Kannel reports it
        # as %P (the number the handset wrote to) in MO get-urls
        self.default_sender = "1234"
        self.sendsms_url = f"http://{LOOPBACK}:{self.sendsms_port}/cgi-bin/sendsms"
        self.config_path = self.dir / "kannel.conf"
        self.fakesmsc_out = self.dir / "fakesmsc.out"
        self._procs: dict[str, _Proc] = {}
        self._parsed: list[FakeSmscMessage] = []
        self._read_offset = 0
        self._partial = b""
        self._lock = threading.Lock()
        self._mo_lock = threading.Lock()

    # -- configuration ------------------------------------------------------------------------------

    def config_text(self) -> str:
        d = self.dir
        core = f"""\
group = core
admin-port = {self.admin_port}
admin-interface = {LOOPBACK}
admin-password = {self.admin_password}
status-password = {self.admin_password}
admin-allow-ip = "{LOOPBACK}"
smsbox-port = {self.box_port}
smsbox-interface = {LOOPBACK}
box-allow-ip = "{LOOPBACK}"
log-file = "{d}/bearerbox.log"
log-level = 1
access-log = "{d}/access.log"
dlr-storage = internal
"""
        if self.smsc == "fake":
            smsc = f"""\
group = smsc
smsc = fake
smsc-id = fake
port = {self.fake_port}
our-host = {LOOPBACK}
connect-allow-ip = "{LOOPBACK}"
"""
        else:
            if self.smpp_port is None:
                raise ValueError("smsc='smpp' needs smpp_port")
            smsc = f"""\
group = smsc
smsc = smpp
smsc-id = smpp1
host = {LOOPBACK}
port = {self.smpp_port}
transceiver-mode = true
smsc-username = esme1
smsc-password = secret
system-type = ""
source-addr-ton = 1
source-addr-npi = 1
dest-addr-ton = 1
dest-addr-npi = 1
msg-id-type = 0x00
reconnect-delay = 1
"""
        smsbox = f"""\
group = smsbox
bearerbox-host = {LOOPBACK}
bearerbox-port = {self.box_port}
sendsms-port = {self.sendsms_port}
sendsms-interface = {LOOPBACK}
log-file = "{d}/smsbox.log"
log-level = 1
access-log = "{d}/smsbox-access.log"

group = sendsms-user
username = {self.username}
password = {self.password}
max-messages = {self.max_messages}
concatenation = true
default-sender = {self.default_sender}
"""
        if self.black_list:
            smsbox += f'black-list-regex = "{self.black_list}"\n'
        service = ""
        if self.mo_url:
            service = f"""
group = sms-service
keyword = default
get-url = "{self.mo_url}?{MO_QUERY}"
max-messages = 0
catch-all = true
"""
        return f"{core}\n{smsc}\n{smsbox}{service}"

    # -- processes ----------------------------------------------------------------------------------

    def _spawn(self, name: str, argv: Sequence[str], *, stdin: int | None = None) -> _Proc:
        out = (self.dir / f"{name}.out").open("wb")
        popen = subprocess.Popen(
            list(argv),
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=self.dir,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        proc = _Proc(name, popen, out)
        self._procs[name] = proc
        return proc

    def _alive(self, name: str) -> None:
        proc = self._procs[name]
        if proc.popen.poll() is not None:
            log = (self.dir / f"{name}.out").read_text(errors="replace")[-2000:]
            raise RuntimeError(f"{name} exited with {proc.popen.returncode}:\n{log}")

    def status(self) -> str:
        """bearerbox's ``status.txt`` ("" when it does not answer)."""
        url = f"http://{LOOPBACK}:{self.admin_port}/status.txt?password={self.admin_password}"
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bytes(response.read()).decode(errors="replace")
        except OSError:
            return ""

    def smsc_online(self) -> bool:
        label = f"FAKE:{self.fake_port}" if self.smsc == "fake" else "smpp1"
        return any(label in line and "(online" in line for line in self.status().splitlines())

    def _smsbox_configured(self) -> bool:
        """smsbox has loaded its sendsms users: it logs "Connected to bearerbox" after that. It opens its
        sendsms port *before* creating them (gw/smsbox.c: init_smsbox, then urltrans_create), and a request
        in between is refused with a 403 or crashes it (SIGSEGV in urltrans_find_username, seen once)."""
        try:
            return "Connected to bearerbox" in (self.dir / "smsbox.out").read_text(errors="replace")
        except OSError:
            return False

    def _sendsms_answers(self) -> bool:
        """smsbox answers sendsms *and* knows our sendsms-user: a request with the credentials and no
        receiver gets "Missing receiver number" (nothing is sent), where a 403 "Authorization failed"
        would mean the users are not loaded yet (once seen as a 403 in the middle of a test)."""
        query = urllib.parse.urlencode({"username": self.username, "password": self.password})
        try:
            with urllib.request.urlopen(f"http://{LOOPBACK}:{self.sendsms_port}/cgi-bin/sendsms?{query}", timeout=2):
                return True
        except urllib.error.HTTPError as exc:
            return exc.code != 403
        except OSError:
            return False

    def start(self, timeout: float = 15.0) -> None:
        self.config_path.write_text(self.config_text())
        for stale in self.dir.glob("kannel.store*"):
            stale.unlink()
        self._spawn("bearerbox", [str(BEARERBOX), "-v", "1", str(self.config_path)])

        def admin_up() -> bool:
            self._alive("bearerbox")
            return bool(self.status())

        wait_until(admin_up, timeout, "bearerbox admin status.txt")
        if self.smsc == "fake":
            # interactive fakesmsc: no message argument, MOs come on stdin (inject_mo); -v 0 prints MTs
            self._spawn(
                "fakesmsc",
                [str(FAKESMSC), "-H", LOOPBACK, "-r", str(self.fake_port), "-i", "0", "-v", "0"],
                stdin=subprocess.PIPE,
            )
        self._spawn("smsbox", [str(SMSBOX), "-v", "1", str(self.config_path)])

        def ready() -> bool:
            self._alive("bearerbox")
            self._alive("smsbox")
            if "fakesmsc" in self._procs:
                self._alive("fakesmsc")
            return (self._smsbox_configured() and self._sendsms_answers()
                    and (self.smsc != "fake" or self.smsc_online()))

        wait_until(ready, timeout, "smsbox sendsms port and the fake SMSC online")

    def stop(self, timeout: float = 8.0) -> None:
        """SIGTERM to bearerbox (it tells smsbox to die; fakesmsc exits on EOF); KILL whatever is left."""
        bb = self._procs.get("bearerbox")
        if bb is not None and bb.popen.poll() is None:
            bb.popen.send_signal(signal.SIGTERM)
        fake = self._procs.get("fakesmsc")
        if fake is not None and fake.popen.stdin is not None:
            with contextlib.suppress(OSError):
                fake.popen.stdin.close()
        deadline = time.monotonic() + timeout
        for proc in self._procs.values():
            try:
                proc.popen.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.popen.kill()
                proc.popen.wait(5)
            proc.out.close()
        self._procs.clear()

    def __enter__(self) -> KannelGateway:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- what fakesmsc saw --------------------------------------------------------------------------

    def messages(self, since: int = 0) -> list[FakeSmscMessage]:
        """Every MT fakesmsc printed so far (``since``: skip the first N, see :meth:`mark`)."""
        with self._lock:
            try:
                with self.fakesmsc_out.open("rb") as f:
                    f.seek(self._read_offset)
                    chunk = f.read()
            except FileNotFoundError:
                chunk = b""
            self._read_offset += len(chunk)
            data = self._partial + chunk
            *lines, self._partial = data.split(b"\n")
            for raw in lines:
                parsed = parse_fakesmsc_line(raw.decode("utf-8", errors="replace"))
                if parsed is not None:
                    self._parsed.append(parsed)
            return list(self._parsed[since:])

    def mark(self) -> int:
        """Number of MTs seen so far: pass it as ``since`` to look only at later ones."""
        return len(self.messages())

    def wait_for_messages(
        self, count: int, since: int = 0, timeout: float = 20.0, settle: float = 0.3
    ) -> list[FakeSmscMessage]:
        """Wait until at least ``count`` MTs arrived after ``since``, then ``settle`` seconds more (so that
        extra, unexpected MTs show up too); return them all."""
        wait_until(lambda: len(self.messages(since)) >= count, timeout, f"{count} MTs at fakesmsc", interval=0.05)
        if settle:
            time.sleep(settle)
        return self.messages(since)

    def inject_mo(self, sender: str, receiver: str, text: str) -> None:
        """Make fakesmsc deliver one MO (a handset's reply) to bearerbox."""
        fake = self._procs.get("fakesmsc")
        if fake is None or fake.popen.stdin is None:
            raise RuntimeError("MO injection needs the fake SMSC")
        if any(c.isspace() for c in sender + receiver) or "\n" in text:
            raise ValueError("sender/receiver without spaces, text on one line")
        with self._mo_lock:
            before = self._mo_received()
            fake.popen.stdin.write(f"{sender} {receiver} text {text}\n".encode())
            fake.popen.stdin.flush()
            # fakesmsc handles one line per read of its stdin: wait until bearerbox got this MO before
            # another line may be written (two lines in one read lose the second).
            wait_until(lambda: self._mo_received() > before, 5.0, "bearerbox to receive the MO")

    def _mo_received(self) -> int:
        try:
            data = (self.dir / "access.log").read_bytes()
        except FileNotFoundError:
            return 0
        return data.count(b"Receive SMS [")


def inject_mo(
    gateway: KannelGateway,
    listener: RecordingHttpServer,
    sender: str,
    text: str,
    *,
    receiver: str | None = None,
    timeout: float = 10.0,
) -> Hit:
    """Send an MO (``sender`` → ``receiver``, default the gateway's short code) through fakesmsc and
    wait for Kannel's sms-service get-url to reach ``listener``; returns that request (query keys
    ``from``, ``to``, ``text``, ``smsc``, ``ts``)."""
    since = listener.mark()
    to = receiver or gateway.default_sender
    gateway.inject_mo(sender, to, text)
    found = listener.wait_for(
        lambda h: h.path == MO_PATH and h.query.get("from") == sender and h.query.get("text") == text,
        timeout=timeout,
        since=since,
    )
    return found[0]


# --------------------------------------------------------------------------------------------------
# pytest fixtures (import the functions into a test module; they register as ``kannel``/``kannel_listener``)


def skip_if_kannel_missing() -> None:
    reason = kannel_missing()
    if reason:
        pytest.skip(reason)


@pytest.fixture(scope="session", name="kannel_listener")
def kannel_listener_fixture() -> Iterator[RecordingHttpServer]:
    """Session-wide HTTP listener on 127.0.0.1 for dlr-url and MO get-url requests."""
    server = RecordingHttpServer()
    yield server
    server.close()


@pytest.fixture(scope="session", name="kannel")
def kannel_fixture(
    tmp_path_factory: pytest.TempPathFactory, kannel_listener: RecordingHttpServer
) -> Iterator[KannelGateway]:
    """Session-wide Kannel with fakesmsc; MOs go to ``kannel_listener`` under ``/mo``."""
    skip_if_kannel_missing()
    gateway = KannelGateway(tmp_path_factory.mktemp("kannel"), mo_url=kannel_listener.url(MO_PATH))
    try:
        gateway.start()
    except BaseException:
        gateway.stop()
        raise
    yield gateway
    gateway.stop()


def kannel_env(gateway: KannelGateway) -> Mapping[str, str]:
    """The environment variables KannelProvider reads, for this gateway."""
    return {"KANNEL_USERNAME": gateway.username, "KANNEL_PASSWORD": gateway.password}
