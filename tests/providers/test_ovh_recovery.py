"""Issue 11: reconciling an in-doubt OVHcloud batch costs requests per batch, never per recipient; 429s
pause the client's limiter; recovery reads go first. Counted in requests, never timed."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest

from runner.errors import InDoubtError
from runner.providers.base import Outcome
from runner.providers.ovh import OvhClient, RateLimiter
from tests.providers.test_ovh_reconcile import make_batch, make_provider, numbers
from tests.support.fake_ovh import FakeOvh


@pytest.fixture
def fake() -> Iterator[FakeOvh]:
    with FakeOvh() as server:
        yield server


def api_requests(fake: FakeOvh, mark: int = 0) -> list[str]:
    """``METHOD /path`` of the API requests since ``mark`` (``/auth/time`` left out: once per client)."""
    return [f"{r.method} {r.path.split('/')[-1] if r.path.split('/')[-1].isdigit() else r.path}"
            for r in fake.requests[mark:] if r.path != "/auth/time"]


def test_an_accepted_batch_of_500_is_reconciled_in_one_request_with_its_ids(fake: FakeOvh) -> None:
    recipients = numbers(500)
    batch = make_batch(recipients)
    provider = make_provider(fake, timeout=0.3)
    since = datetime.now(UTC)
    fake.fail_next("slow", where="POST", delay=1.0)
    with pytest.raises(InDoubtError):
        provider.send(batch)
    mark = len(fake.requests)
    found = provider.reconcile(batch, since)
    assert found is not None and set(found) == set(recipients)
    assert api_requests(fake, mark) == ["GET /sms/sms-ab12345-1/outgoing"]
    ids = {o["receiver"]: str(o["id"]) for o in fake.outgoing}
    assert all(r.outcome is Outcome.SENT and r.provider_id == ids[n] for n, r in found.items())


def test_a_batch_never_accepted_costs_two_requests_outgoing_then_jobs(fake: FakeOvh) -> None:
    batch = make_batch(numbers(500))
    provider = make_provider(fake)
    mark = len(fake.requests)
    found = provider.reconcile(batch, datetime.now(UTC))
    assert found == {}
    assert api_requests(fake, mark) == ["GET /sms/sms-ab12345-1/outgoing", "GET /sms/sms-ab12345-1/jobs"]


def test_a_deferred_batch_is_found_in_jobs_which_carry_no_tag(fake: FakeOvh) -> None:
    recipients = numbers(300)
    batch = make_batch(recipients, not_before=datetime.now(UTC) + timedelta(hours=3))
    provider = make_provider(fake, timeout=0.3)
    since = datetime.now(UTC)
    fake.fail_next("drop_after_accept", where="POST")
    with pytest.raises(InDoubtError):
        provider.send(batch)
    assert len(fake.pending) == 300 and not fake.outgoing
    mark = len(fake.requests)
    found = provider.reconcile(batch, since)
    assert found is not None and set(found) == set(recipients)
    assert len(api_requests(fake, mark)) == 2
    pending_ids = {str(p["id"]) for p in fake.pending}
    assert {r.provider_id for r in found.values()} == pending_ids


def test_a_deferred_job_with_another_text_is_not_taken_for_the_batch(fake: FakeOvh) -> None:
    recipients = numbers(5)
    provider = make_provider(fake)
    other = make_batch(recipients, batch_id="other", text="Another text",
                       not_before=datetime.now(UTC) + timedelta(hours=3))
    provider.send(other)
    found = provider.reconcile(make_batch(recipients), datetime.now(UTC) - timedelta(minutes=1))
    assert found == {}


def test_without_expanded_listings_a_complete_batch_still_costs_one_request(tmp_path: object) -> None:
    with FakeOvh(expanded_listings=False) as fake:
        recipients = numbers(500)
        batch = make_batch(recipients)
        provider = make_provider(fake, timeout=0.3)
        since = datetime.now(UTC)
        fake.fail_next("slow", where="POST", delay=1.0)
        with pytest.raises(InDoubtError):
            provider.send(batch)
        mark = len(fake.requests)
        found = provider.reconcile(batch, since)
        assert found is not None and set(found) == set(recipients)
        assert all(r.outcome is Outcome.SENT for r in found.values())
        assert api_requests(fake, mark) == ["GET /sms/sms-ab12345-1/outgoing"]
        # not accepted: the listing and the (empty) jobs list
        mark = len(fake.requests)
        assert provider.reconcile(make_batch(numbers(500, 1000), batch_id="b2"), since) == {}
        assert len(api_requests(fake, mark)) == 2


def test_without_expanded_listings_a_partial_batch_is_told_by_the_bulk_export(fake: FakeOvh) -> None:
    fake.expanded_listings = False
    recipients = numbers(10)
    provider = make_provider(fake)
    since = datetime.now(UTC)
    provider.send(make_batch(recipients[:4]))  # same batch id, so same tag: 4 of the 10 were accepted
    mark = len(fake.requests)
    found = provider.reconcile(make_batch(recipients), since)
    assert found is not None and set(found) == set(recipients[:4])
    ids = {o["receiver"]: str(o["id"]) for o in fake.outgoing}
    assert all(r.provider_id == ids[n] for n, r in found.items())
    # the listing, the export (its request, two polls: the first sees it still empty), then /jobs;
    # never one GET /outgoing/{id} per SMS
    assert api_requests(fake, mark) == ["GET /sms/sms-ab12345-1/outgoing", "GET /sms/sms-ab12345-1/document",
                                        f"GET /me/document/{fake_document(fake)}",
                                        f"GET /me/document/{fake_document(fake)}", "GET /sms/sms-ab12345-1/jobs"]


def fake_document(fake: FakeOvh) -> str:
    [ident] = [k for k, v in fake.documents.items() if v["name"] == "outgoing.csv"]
    return ident


def test_ids_left_unpaired_are_learnt_later_in_bulk(fake: FakeOvh) -> None:
    fake.expanded_listings = False
    recipients = numbers(300)
    batch = make_batch(recipients)
    provider = make_provider(fake, timeout=0.3)
    since = datetime.now(UTC)
    fake.fail_next("slow", where="POST", delay=1.0)
    with pytest.raises(InDoubtError):
        provider.send(batch)
    found = provider.reconcile(batch, since)
    assert found is not None and all(r.provider_id is None for r in found.values())  # counted, not paired
    mark = len(fake.requests)
    learnt = provider.provider_ids("spring-sale", {"b1": recipients}, since)
    assert learnt == {o["receiver"]: str(o["id"]) for o in fake.outgoing}
    assert len(api_requests(fake, mark)) == 4  # listing (not expanded), export, 2 polls: for 300 SMS


def test_a_429_pauses_the_limiter_for_its_retry_after_and_the_read_is_retried(fake: FakeOvh) -> None:
    slept: list[float] = []
    client = OvhClient(fake.base_url, fake.application_key, fake.application_secret, fake.consumer_key,
                       requests_per_minute=6000, max_retries=2, sleep=slept.append)
    now = [0.0]
    paused: list[float] = []

    def limiter_sleep(seconds: float) -> None:
        paused.append(seconds)
        now[0] += seconds

    client.limiter = RateLimiter(6000, 60.0, clock=lambda: now[0], sleep=limiter_sleep)
    client.time_delta()
    fake.fail_next("http_429", where="GET /sms$", retry_after=7)
    assert client.get("/sms") == [fake.service_name]
    assert 7 in slept  # the retry waited Retry-After...
    assert sum(paused) == pytest.approx(7)  # ...and the limiter, which every request of the key goes through


def test_429_on_a_send_pauses_the_limiter_and_is_retryable(fake: FakeOvh) -> None:
    provider = make_provider(fake)
    limiter = RateLimiter(100, 60.0)
    provider.client.limiter = limiter
    fake.fail_next("http_429", where="POST", retry_after=3)
    from runner.errors import RetryableError

    with pytest.raises(RetryableError) as caught:
        provider.send(make_batch(numbers(3)))
    assert caught.value.retry_after == 3
    assert limiter._paused_until > time.monotonic() + 2
    assert not fake.outgoing


def test_urgent_acquisitions_take_the_next_slot_before_waiting_ordinary_ones() -> None:
    limiter = RateLimiter(1, 0.5)
    limiter.acquire()  # the only slot of this window is taken
    order: list[str] = []
    ordinary = threading.Thread(target=lambda: (limiter.acquire(), order.append("ordinary")))
    ordinary.start()
    time.sleep(0.05)  # the ordinary one waits first...
    urgent = threading.Thread(target=lambda: (limiter.acquire(urgent=True), order.append("urgent")))
    urgent.start()
    urgent.join(5)
    ordinary.join(5)
    assert order == ["urgent", "ordinary"]  # ...the urgent one goes first


def test_the_fake_pages_and_filters_expanded_listings(fake: FakeOvh) -> None:
    provider = make_provider(fake)
    provider.send(make_batch(numbers(3), batch_id="x1"))
    provider.send(make_batch(numbers(2, 100), batch_id="x2"))
    client = provider.client
    path = f"/sms/{fake.service_name}/outgoing"
    tag = provider.tag(make_batch([], batch_id="x2"))
    items, headers = client.get_page(path, headers={"X-Pagination-Mode": "CachedObjectList-Pages",
                                                    "X-Pagination-Size": "1", "X-Pagination-Number": "2",
                                                    "X-Pagination-Filter": f"tag:eq={tag}"})
    assert headers["X-Pagination-Elements"] == "2" and len(items) == 1 and items[0]["tag"] == tag
    jobs, _ = client.get_page(f"/sms/{fake.service_name}/jobs", headers={"X-Pagination-Mode":
                                                                         "CachedObjectList-Pages"})
    assert jobs == []
    plain = client.get(path)
    assert sorted(plain) == sorted(o["id"] for o in fake.outgoing)
