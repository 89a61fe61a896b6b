"""The exactly-once proofs' other peers (issue 12 §2): Twilio and Kannel beside the outbox and OVHcloud.

* Twilio: the loopback fake written from Twilio's OpenAPI spec (:mod:`tests.support.fake_twilio`); its
  record is the messages it created. Twilio can tell what it created (the Messages list), so a dead
  run's batches are reconciled and nothing stays in doubt.
* Kannel: the **real** gateway (bearerbox + smsbox + fakesmsc, :mod:`tests.support.kannel`) for the kill
  -9 proof, its record being what fakesmsc received; the loopback fake (:mod:`tests.support.fake_kannel`)
  for the fault proof, since the real one cannot be made to fail on cue. Kannel cannot say after a
  crash what it accepted: a request cut by a kill (or lost on the wire) leaves its recipients in doubt,
  reported and never resent, and the engine claims one request at a time for it so that a crash leaves
  at most one request in doubt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from tests.support.fake_kannel import FakeKannel
from tests.support.fake_twilio import FakeTwilio
from tests.support.kannel import KannelGateway

TWILIO_FROM = "+15005550006"


# -- Twilio -------------------------------------------------------------------------------------------


def twilio_provider(fake: FakeTwilio, **extra: Any) -> dict[str, Any]:
    return {"name": "twilio", "base_url": fake.url, "from": TWILIO_FROM, "timeout": 5, **extra}


def twilio_env(fake: FakeTwilio) -> dict[str, str]:
    return {"TWILIO_ACCOUNT_SID": fake.account_sid, "TWILIO_AUTH_TOKEN": fake.auth_token}


class TwilioStaller:
    """``in_call`` on the Twilio fake: the message is created, then the answer waits 30 s."""

    def __init__(self, fake: FakeTwilio) -> None:
        self.fake = fake

    def stall_next(self) -> Callable[[], bool]:
        before = len(self.fake.messages)
        self.fake.hang_next(seconds=30.0)
        return lambda: len(self.fake.messages) > before

    def release(self) -> None:
        self.fake.clear_faults()


# -- Kannel -------------------------------------------------------------------------------------------


def kannel_provider(url: str, **extra: Any) -> dict[str, Any]:
    return {"name": "kannel", "url": url, "timeout": 5, **extra}


def kannel_env(username: str, password: str) -> dict[str, str]:
    return {"KANNEL_USERNAME": username, "KANNEL_PASSWORD": password}


class KannelStaller:
    """``in_call`` on the Kannel fake: the request is recorded, then its answer waits until released."""

    def __init__(self, fake: FakeKannel) -> None:
        self.fake = fake

    def stall_next(self) -> Callable[[], bool]:
        before = self.fake.requests
        self.fake.fail_next("hang")
        return lambda: self.fake.requests > before

    def release(self) -> None:
        self.fake.clear_faults()


def e164(number: str) -> str:
    return number if number.startswith("+") else "+" + number


def gateway_record(gateway: KannelGateway, since: int) -> list[tuple[str, str]]:
    """(recipient, text) of every MT fakesmsc received after ``since`` (see ``KannelGateway.mark``)."""
    return [(e164(m.receiver), m.text) for m in gateway.messages(since)]


def drained(gateway: KannelGateway, since: int, *, quiet: float = 1.0, timeout: float = 60.0) -> Callable[[], None]:
    """A wait until Kannel has delivered what it accepted: bearerbox queues MTs and hands them to
    fakesmsc asynchronously, so the record is judged once it has stopped growing for ``quiet`` s."""

    def wait() -> None:
        deadline = time.monotonic() + timeout
        seen, still_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            count = len(gateway.messages(since))
            if count != seen:
                seen, still_since = count, time.monotonic()
            elif time.monotonic() - still_since >= quiet:
                return
            time.sleep(0.05)
        raise AssertionError(f"Kannel kept delivering for {timeout}s")

    return wait


def gateway_credentials(gateway: KannelGateway) -> Mapping[str, str]:
    return kannel_env(gateway.username, gateway.password)
