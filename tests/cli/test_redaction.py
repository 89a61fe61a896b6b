"""Issue 15, group 5: a secret value never reaches what smsrun prints or stores, whatever its source - here
a gateway whose error bodies quote the password it received, in every way it can answer."""

from __future__ import annotations

import http.server
import threading
import urllib.parse
from collections.abc import Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runner.redaction import MASK, redact, secret_values
from tests.support.repo import Repo, french_mobiles

PASSWORD = "kannelPass2f8a0eRt"


class _Echo(http.server.BaseHTTPRequestHandler):
    status = 400

    def do_POST(self) -> None:
        self.do_GET()

    def do_GET(self) -> None:
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            query.update(urllib.parse.parse_qs(self.rfile.read(length).decode("latin-1")))
        if "password" not in query and self.headers.get("X-Kannel-Password"):  # how smsrun sends it
            query["password"] = [self.headers["X-Kannel-Password"]]
        body = f"Authorization failed for user {query.get('username')} password={query.get('password')} " \
               f"raw={urllib.parse.quote(query.get('password', [''])[0])}"
        data = body.encode()
        self.send_response(type(self).status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(params=[400, 404, 500, 202])
def gateway(request: pytest.FixtureRequest) -> Iterator[tuple[str, int]]:
    handler = type("Echo", (_Echo,), {"status": request.param})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/cgi-bin/sendsms", request.param
    finally:
        server.shutdown()
        server.server_close()


def test_a_gateway_quoting_the_password_never_gets_it_printed_or_stored(repo: Repo, gateway: tuple[str, int]) -> None:
    url, status = gateway
    repo.write("list.csv", "phone\n" + "\n".join(french_mobiles(3)) + "\n")
    repo.write("c.yaml", "id: c\nsender: ACME\nmessage: Hi\ncommercial: false\nrecipients:\n  - csv: list.csv\n"
                         f"provider: {{name: kannel, url: '{url}'}}\nlimits: {{max_consecutive_failures: 2}}\n")
    env = {"KANNEL_USERNAME": "smsrun", "KANNEL_PASSWORD": PASSWORD}
    outputs = [repo.run("send", "c.yaml", "--yes", **env), repo.run("send", "c.yaml", "--yes", "--json", **env),
               repo.run("status", "c.yaml", **env), repo.run("status", "c.yaml", "--json", **env)]
    for result in outputs:
        assert PASSWORD not in result.both and urllib.parse.quote(PASSWORD) not in result.both, result.both
        assert "Traceback" not in result.both
    if status != 202:  # an error body was there to leak, and was shown redacted
        assert any(MASK in r.both for r in outputs), [r.both for r in outputs]
    for path in repo.state.rglob("*"):
        if path.is_file():
            assert PASSWORD.encode() not in path.read_bytes(), path


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=4, max_size=30),
       st.text(max_size=40), st.text(max_size=40))
def test_redact_removes_every_form_of_a_secret(secret: str, before: str, after: str) -> None:
    env = {"SOME_API_TOKEN": secret, "KANNEL_USERNAME": "smsrun"}
    values = secret_values(env)
    for form in (secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)):
        assert form not in redact(before + form + after, values).replace(MASK, "\x00") or form in MASK


def test_not_secrets_are_kept() -> None:
    values = secret_values({"KANNEL_USERNAME": "smsrun", "TWILIO_ACCOUNT_SID": "AC123456", "HOME": "/root"})
    assert values == []
    ledger = secret_values({"SMSRUN_LEDGER_URL": "postgresql://smsrun:hunter22@db/ledger"})
    assert ledger == ["hunter22"]
