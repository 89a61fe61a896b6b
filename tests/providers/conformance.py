"""The provider conformance suite (issue 12 §2): what every provider must do, written once.

A provider's test module subclasses :class:`ProviderConformance` and says how to reach its peer (the
real loopback fake of its API) through a :class:`Peer`; the tests below then run against it:

* send: one result per message, every message received by the peer exactly once, with the text the
  handset gets (the STOP mention the provider declares in its capabilities included, so the plan's
  parts are the peer's parts);
* partial batches: when a later request of a batch fails after an earlier one was accepted, nothing is
  raised and the accepted messages come back SENT, the others RETRY (or IN_DOUBT);
* classification: nothing received → :class:`RetryableError`; received but no answer →
  :class:`InDoubtError` (then, for a provider that can reconcile, :meth:`reconcile` finds exactly what
  the peer accepted); refused for good → REJECTED (or :class:`PermanentError` for a whole request);
* delivery reports pulled from the peer, for the providers that pull them;
* STOP: the mention is the declared one, and a recipient the peer knows opted out is reported so.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest

from runner.campaign.model import Sender
from runner.errors import InDoubtError, PermanentError, RetryableError
from runner.providers.base import Batch, Outcome, OutgoingMessage, Provider, RecipientResult


class Peer:
    """How the conformance tests drive and observe one provider's peer. Subclasses implement what their
    peer can do; what it cannot is a skip (``NotImplementedError``)."""

    def provider(self, state_dir: Path, **settings: Any) -> Provider:
        raise NotImplementedError

    def received(self) -> list[tuple[str, str]]:
        """(recipient, text as the handset gets it) of every message the peer accepted, in order."""
        raise NotImplementedError

    def fail_next(self, kind: str, *, after: int = 0) -> None:
        """The next request (once ``after`` requests went through) fails: ``"retryable"`` (refused,
        nothing accepted: 429/503 or the like) or ``"in_doubt"`` (accepted, then the connection drops)."""
        raise NotImplementedError

    def refuse(self, recipient: str) -> None:
        """The peer refuses ``recipient`` for good (an invalid number)."""
        raise NotImplementedError

    def opt_out(self, recipient: str) -> None:
        """``recipient`` replied STOP to the provider itself."""
        raise NotImplementedError

    def deliver(self, provider_ids: Sequence[str]) -> None:
        """The handsets report delivery of these messages."""
        raise NotImplementedError


def skip_unless(supported: bool, why: str) -> None:
    if not supported:
        pytest.skip(why)


class ProviderConformance:
    """Subclass with a ``peer`` fixture yielding a :class:`Peer`; see the module docstring."""

    #: recipients used by the tests (valid for every provider's peer)
    numbers: ClassVar[tuple[str, ...]] = ("+33612340001", "+33612340002", "+33612340003", "+33612340004")
    #: the provider sends a batch in several requests when texts differ (outbox: one transaction)
    several_requests: ClassVar[bool] = True
    #: delivery statuses are pulled from the provider (Kannel pushes them to the receiver instead)
    pulls_delivery_reports: ClassVar[bool] = True

    @pytest.fixture
    def peer(self) -> Iterator[Peer]:  # pragma: no cover - overridden
        raise NotImplementedError
        yield

    @pytest.fixture
    def provider(self, peer: Peer, tmp_path: Path) -> Iterator[Provider]:
        made = peer.provider(tmp_path)
        with made:
            yield made

    # -- helpers -------------------------------------------------------------------------------------------------

    def batch(self, texts: Sequence[str], *, commercial: bool = False, batch_id: str = "conf.1.1") -> Batch:
        recipients = self.numbers[: len(texts)]
        messages = [OutgoingMessage(r, t, f"conf:{r}") for r, t in zip(recipients, texts, strict=True)]
        return Batch("conf", batch_id, Sender("alphanumeric", "ACME"), commercial, "GSM-7", messages)

    @staticmethod
    def outcomes(results: Sequence[RecipientResult]) -> dict[str, Outcome]:
        return {r.recipient: r.outcome for r in results}

    # -- send --------------------------------------------------------------------------------------------------

    def test_send_delivers_each_message_once_with_one_result_each(self, peer: Peer, provider: Provider) -> None:
        batch = self.batch(["Hello", "Hello", "Hello"])
        results = provider.send(batch)
        assert sorted(r.recipient for r in results) == sorted(self.numbers[:3])
        assert all(r.outcome is Outcome.SENT for r in results), results
        assert sorted(peer.received()) == sorted((m.recipient, m.text) for m in batch.messages)

    def test_the_stop_mention_is_the_declared_one(self, peer: Peer, provider: Provider) -> None:
        """What the handset gets is the text plus the capabilities' stop_mention: the plan counts that."""
        batch = self.batch(["Promo -20%", "Promo -20%"], commercial=True)
        assert all(r.outcome is Outcome.SENT for r in provider.send(batch))
        mention = provider.capabilities.stop_mention or ""
        assert sorted(peer.received()) == sorted((m.recipient, m.text + mention) for m in batch.messages)

    def test_a_recipient_who_opted_out_at_the_provider_is_reported(self, peer: Peer, provider: Provider) -> None:
        try:
            peer.opt_out(self.numbers[1])
        except NotImplementedError:
            pytest.skip(f"{type(peer).__name__}'s provider keeps no opt-out list of its own")
        results = {r.recipient: r for r in provider.send(self.batch(["Hi", "Hi"]))}
        assert results[self.numbers[0]].outcome is Outcome.SENT
        assert results[self.numbers[1]].outcome is Outcome.REJECTED and results[self.numbers[1]].opted_out

    # -- classification --------------------------------------------------------------------------------------

    def test_refused_before_anything_was_accepted_is_retryable(self, peer: Peer, provider: Provider) -> None:
        try:
            peer.fail_next("retryable")
        except NotImplementedError:
            pytest.skip("this peer cannot refuse a request")
        with pytest.raises(RetryableError):
            provider.send(self.batch(["Hi"]))
        assert peer.received() == []

    def test_accepted_then_dropped_is_in_doubt_and_reconciled(self, peer: Peer, provider: Provider) -> None:
        try:
            peer.fail_next("in_doubt")
        except NotImplementedError:
            pytest.skip("this peer cannot drop a connection")
        since = datetime.now(UTC) - timedelta(seconds=5)
        batch = self.batch(["Hi", "Hi"]) if not self.several_requests or \
            provider.capabilities.one_text_many_recipients else self.batch(["Hi"])
        with pytest.raises(InDoubtError):
            provider.send(batch)
        accepted = {recipient for recipient, _ in peer.received()}
        assert accepted == {m.recipient for m in batch.messages}  # the peer did accept them
        found = provider.reconcile(batch, since)
        if not provider.capabilities.can_reconcile:
            assert found is None  # cannot tell: the engine reports them in doubt, never resends
            return
        assert found is not None
        assert {r for r, result in found.items() if result.outcome is Outcome.SENT} == accepted

    def test_a_refused_recipient_is_rejected_the_others_sent(self, peer: Peer, provider: Provider) -> None:
        skip_unless(self.several_requests, "one transaction per batch: nothing refuses a recipient")
        try:
            peer.refuse(self.numbers[1])
        except NotImplementedError:
            pytest.skip("this peer refuses no number")
        batch = self.batch(["First text", "Second text"])  # two requests where requests carry one text
        try:
            results = self.outcomes(provider.send(batch))
        except PermanentError:  # pragma: no cover - a provider may refuse the whole of a one-request batch
            assert not provider.capabilities.one_text_many_recipients
            return
        assert results == {self.numbers[0]: Outcome.SENT, self.numbers[1]: Outcome.REJECTED}
        assert [r for r, _ in peer.received()] == [self.numbers[0]]

    # -- partial batches -------------------------------------------------------------------------------------

    def test_a_later_request_refused_keeps_the_accepted_ones(self, peer: Peer, provider: Provider) -> None:
        skip_unless(self.several_requests, "one transaction per batch: no partial batch")
        peer.fail_next("retryable", after=1)
        results = self.outcomes(provider.send(self.batch(["First text", "Second text"])))  # nothing raised
        assert results == {self.numbers[0]: Outcome.SENT, self.numbers[1]: Outcome.RETRY}
        assert [r for r, _ in peer.received()] == [self.numbers[0]]

    def test_a_later_request_in_doubt_keeps_the_accepted_ones(self, peer: Peer, provider: Provider) -> None:
        skip_unless(self.several_requests, "one transaction per batch: no partial batch")
        peer.fail_next("in_doubt", after=1)
        results = self.outcomes(provider.send(self.batch(["First", "Second", "Third"])))
        assert results == {self.numbers[0]: Outcome.SENT, self.numbers[1]: Outcome.IN_DOUBT,
                           self.numbers[2]: Outcome.RETRY}
        assert [r for r, _ in peer.received()] == [self.numbers[0], self.numbers[1]]  # the third never sent

    # -- delivery reports ------------------------------------------------------------------------------------

    def test_delivery_reports(self, peer: Peer, provider: Provider) -> None:
        results = provider.send(self.batch(["Hi", "Hi"]))
        ids = [r.provider_id for r in results if r.provider_id]
        if not self.pulls_delivery_reports:
            assert provider.delivery_reports(ids) == []  # reports come to the receiver, or never
            return
        assert len(ids) == 2
        peer.deliver(ids[:1])
        statuses = {r.provider_id: r.status for r in provider.delivery_reports(ids)}
        assert statuses == {ids[0]: "delivered", ids[1]: "pending"}
