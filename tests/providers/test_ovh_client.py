"""OvhClient against the loopback fake: error classification, retries of reads, transport failures,
the rate limiter."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Any

import pytest

from runner.errors import ConfigError, CredentialsError, InDoubtError, PermanentError, RetryableError
from runner.providers.ovh import OvhClient, OvhNotFoundError, RateLimiter, api, client_from_env
from tests.support.fake_ovh import FakeOvh

JOB = {"message": "Hello", "receivers": ["+33600000001"], "sender": "ACME", "noStopClause": True}


@pytest.fixture
def fake() -> Iterator[FakeOvh]:
    with FakeOvh() as server:
        yield server


class Sleeps(list[float]):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


def make_client(fake: FakeOvh, sleeps: Sleeps | None = None, /, **overrides: Any) -> OvhClient:
    options: dict[str, Any] = {"requests_per_minute": None, "sleep": sleeps if sleeps is not None else Sleeps()}
    options.update(overrides)
    keys = {
        "application_key": fake.application_key,
        "application_secret": fake.application_secret,
        "consumer_key": fake.consumer_key,
    }
    for name in list(keys):
        if name in options:
            keys[name] = options.pop(name)
    return OvhClient(
        fake.base_url, keys["application_key"], keys["application_secret"], keys["consumer_key"], **options
    )


def jobs_path(fake: FakeOvh) -> str:
    return f"/sms/{fake.service_name}/jobs"


def test_config_from_env_names_the_missing_variable(fake: FakeOvh) -> None:
    env = dict(fake.credentials)
    secret = env.pop("OVH_APPLICATION_SECRET")
    with pytest.raises(ConfigError) as info:
        client_from_env({}, env)
    assert "OVH_APPLICATION_SECRET" in str(info.value)
    assert secret not in str(info.value)
    with pytest.raises(ConfigError, match="only from the environment"):
        client_from_env({"application_secret": "x"}, fake.credentials)
    with pytest.raises(ConfigError, match="unknown OVHcloud endpoint"):
        client_from_env({"endpoint": "ovh-mars"}, fake.credentials)
    with client_from_env({"endpoint": "ovh-ca"}, fake.credentials) as client:
        assert client.base_url == "https://ca.api.ovh.com/1.0"


def test_400_is_permanent_with_query_id(fake: FakeOvh) -> None:
    with make_client(fake) as client, pytest.raises(PermanentError) as info:
        client.post(jobs_path(fake), {**JOB, "sender": "UNKNOWN"})
    assert "HTTP 400" in str(info.value) and "UNKNOWN" in str(info.value)
    assert info.value.query_id and info.value.query_id in str(info.value)


def test_401_without_authentication_headers(fake: FakeOvh) -> None:
    with make_client(fake) as client, pytest.raises(CredentialsError, match="401"):
        client.get("/sms", auth=False)


@pytest.mark.parametrize("wrong", ["application_key", "application_secret", "consumer_key"])
def test_403_wrong_credentials(fake: FakeOvh, wrong: str) -> None:
    with make_client(fake, **{wrong: "this-is-wrong-0123456789"}) as client, pytest.raises(CredentialsError) as info:
        client.get("/sms")
    message = str(info.value)
    assert "403" in message and "refused the credentials" in message
    assert "this-is-wrong-0123456789" not in message


def test_bad_signature_as_400_is_still_a_credentials_error() -> None:
    with (
        FakeOvh(bad_signature_status=400) as fake,
        make_client(fake, application_secret="nope") as client,
        pytest.raises(CredentialsError),
    ):
        client.get("/sms")


def test_not_granted_call() -> None:
    with FakeOvh(granted=[("GET", "/sms*")]) as fake, make_client(fake) as client:
        assert client.get("/sms") == [fake.service_name]
        with pytest.raises(CredentialsError, match="NOT_GRANTED_CALL"):
            client.post(jobs_path(fake), JOB)


def test_404_unknown_service(fake: FakeOvh) -> None:
    with make_client(fake) as client, pytest.raises(OvhNotFoundError, match="This service does not exist"):
        client.post("/sms/sms-zz99999-1/jobs", JOB)
    assert issubclass(OvhNotFoundError, ConfigError)


def test_query_out_of_time_is_retryable_and_resyncs() -> None:
    with FakeOvh(time_tolerance=30) as fake, make_client(fake) as client:
        client.time_delta()
        client._delta = -3600  # as if the server clock had jumped since
        with pytest.raises(RetryableError, match="QUERY_TIME_OUT"):
            client.post(jobs_path(fake), JOB)
        assert client.post(jobs_path(fake), JOB)["validReceivers"] == ["+33600000001"]


@pytest.mark.parametrize("kind", ["http_500", "http_502", "http_503"])
def test_5xx_on_post_is_retryable_and_not_retried_here(fake: FakeOvh, kind: str) -> None:
    fake.fail_next(kind, where="POST")
    with make_client(fake) as client, pytest.raises(RetryableError) as info:
        client.post(jobs_path(fake), JOB)
    assert info.value.retry_after is None
    assert fake.jobs == []
    assert [r.method for r in fake.requests].count("POST") == 1


def test_504_on_post_is_in_doubt(fake: FakeOvh) -> None:
    fake.fail_next("http_504", where="POST")
    with make_client(fake) as client, pytest.raises(InDoubtError):
        client.post(jobs_path(fake), JOB)


def test_429_with_and_without_retry_after_on_post(fake: FakeOvh) -> None:
    fake.fail_next("http_429", where="POST", retry_after=7)
    fake.fail_next("http_429", where="POST")
    with make_client(fake) as client:
        with pytest.raises(RetryableError) as info:
            client.post(jobs_path(fake), JOB)
        assert info.value.retry_after == 7
        with pytest.raises(RetryableError) as info:
            client.post(jobs_path(fake), JOB)
        assert info.value.retry_after is None
        assert client.post(jobs_path(fake), JOB)["ids"]
    assert len(fake.jobs) == 1


def test_reads_retry_with_backoff_and_honour_retry_after(fake: FakeOvh) -> None:
    fake.fail_next("http_429", where="GET /sms$", retry_after=2)
    fake.fail_next("http_500", where="GET /sms$")
    fake.fail_next("http_503", where="GET /sms$")
    sleeps = Sleeps()
    with make_client(fake, sleeps, max_retries=4) as client:
        assert client.get("/sms") == [fake.service_name]
    assert len(sleeps) == 3
    assert sleeps[0] >= 2
    assert all(0 <= s <= 30 for s in sleeps)


def test_reads_give_up_after_max_retries(fake: FakeOvh) -> None:
    fake.fail_next("http_500", 10, where="GET /sms$")
    sleeps = Sleeps()
    with make_client(fake, sleeps, max_retries=2) as client, pytest.raises(RetryableError):
        client.get("/sms")
    assert len(sleeps) == 2
    assert [r.path for r in fake.requests].count("/sms") == 3


def test_reads_do_not_sleep_through_a_long_retry_after(fake: FakeOvh) -> None:
    fake.fail_next("http_429", where="GET /sms$", retry_after=3600)
    sleeps = Sleeps()
    with make_client(fake, sleeps) as client, pytest.raises(RetryableError) as info:
        client.get("/sms")
    assert info.value.retry_after == 3600 and sleeps == []


def test_timeout_after_the_job_was_recorded_is_in_doubt(fake: FakeOvh) -> None:
    fake.fail_next("slow", where="POST", delay=1.5)
    with make_client(fake, timeout=0.3) as client, pytest.raises(InDoubtError, match="may have been accepted"):
        client.post(jobs_path(fake), JOB)
    assert len(fake.jobs) == 1 and fake.jobs[0].accepted


def test_dropped_connection_after_accept_is_in_doubt(fake: FakeOvh) -> None:
    fake.fail_next("drop_after_accept", where="POST")
    with make_client(fake) as client, pytest.raises(InDoubtError):
        client.post(jobs_path(fake), JOB)
    assert [j.answered for j in fake.jobs] == [False]
    assert [o["receiver"] for o in fake.outgoing] == ["+33600000001"]


def test_dropped_connection_on_a_read_is_retried(fake: FakeOvh) -> None:
    fake.fail_next("drop_before_accept", where="GET /sms$")
    fake.fail_next("slow", where="GET /sms$", delay=1.0)
    with make_client(fake, timeout=0.3) as client:
        assert client.get("/sms") == [fake.service_name]


def test_connect_error_is_retryable_nothing_sent() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    client = OvhClient(f"http://127.0.0.1:{port}/1.0", "ak", "as", "ck", requests_per_minute=None, max_retries=0)
    with client, pytest.raises(RetryableError, match="nothing was sent"):
        client.post("/sms/x/jobs", JOB, auth=False)


def test_rate_limiter_sliding_window() -> None:
    now = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    limiter = RateLimiter(3, 60.0, clock=lambda: now[0], sleep=sleep)
    for _ in range(3):
        assert limiter.acquire() == 0
    now[0] = 10.0
    assert limiter.acquire() == pytest.approx(50.0)
    assert now[0] == pytest.approx(60.0)
    assert limiter.acquire() == 0 and limiter.acquire() == 0  # the slots of t=0 are free again
    assert limiter.acquire() == pytest.approx(60.0)  # 3 in [60, 120): the next waits for t=120
    assert waits == [pytest.approx(50.0), pytest.approx(60.0)]


def test_client_is_rate_limited_per_consumer_key(fake: FakeOvh) -> None:
    with make_client(fake, requests_per_minute=60) as one, make_client(fake, requests_per_minute=60) as two:
        assert one.limiter is two.limiter  # shared by every client of the same consumer key
        assert one.limiter is not None and one.limiter.limit == 60


def test_api_functions_parse_shapes(fake: FakeOvh) -> None:
    with make_client(fake) as client:
        assert api.find_service_name(client, None) == fake.service_name
        account = api.get_account(client, fake.service_name)
        assert account.status == "enable" and account.credits_left == fake.credits
        estimate = api.estimate(client, "Hello", no_stop_clause=False, sender_type="alpha")
        assert estimate.parts == 1 and estimate.characters_class == "7bits"
        estimate = api.estimate(client, "Zoë ✓" * 20, no_stop_clause=True, sender_type="shortcode")
        assert estimate.characters_class == "unicode" and estimate.parts == 2


def test_the_provider_loads_httpx_only_when_a_client_is_made() -> None:
    """``smsrun plan`` imports the provider's class (settings, parts, cost) but sends nothing: httpx's
    ~0.15 s of imports waits for the first client (checked in a fresh interpreter)."""
    import subprocess
    import sys

    code = ("import sys; from runner.providers import provider_class; provider_class('ovh'); "
            "print('httpx' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
