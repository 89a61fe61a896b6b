"""Batch building: recipients into provider requests, requests into claim groups, claimed rows into a
:class:`~runner.providers.base.Batch`.

A request holds at most the provider's ``max_recipients_per_request`` recipients; a provider that sends
one text to many recipients (``one_text_many_recipients``) gets one text per request. Before the claim a
request is its rows: ``[(text, parts, numbers)]`` for recipients the ledger does not hold yet ("new"),
``[(rowid, recipient, text)]`` for the ledger's pending rows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from runner.plan.build import Plan
from runner.providers.base import Batch, OutgoingMessage

Group = list[tuple[Batch, list[int]]]  # claimed requests: (batch, its rowids)
Request = tuple[str, list[tuple[Any, ...]]]  # (batch_id, rows) before the claim
NewChunk = list[tuple[str, int, list[str]]]  # a request of new recipients, as [(text, parts, numbers)]


def build_batch(plan: Plan, batch_id: str, rows: list[tuple[int, str, str]]) -> Batch:
    """The batch of claimed ``rows`` (rowid, recipient, text), named ``batch_id``."""
    from runner.message.encoding import measure

    campaign = plan.campaign
    encoding = "UCS-2" if any(measure(text).encoding == "UCS-2" for text in {t for _, _, t in rows}) else "GSM-7"
    not_before = campaign.schedule.not_before
    return Batch(
        campaign_id=campaign.id,
        batch_id=batch_id,
        sender=campaign.sender,
        commercial=campaign.commercial,
        encoding=encoding,
        messages=[OutgoingMessage(recipient, text, f"{campaign.id}:{recipient}") for _, recipient, text in rows],
        not_before=not_before if not_before and not_before > datetime.now(UTC) else None,
    )


def new_requests(page: Sequence[int], numbers: Sequence[str], texts: Sequence[str], parts: Sequence[int],
                 size: int, one_text: bool) -> list[NewChunk]:
    """The requests of new recipients (indices ``page`` into the plan's ``numbers``, ``texts``, ``parts``)."""
    chunks: list[NewChunk] = []
    if one_text:  # one text per request
        by_text: dict[str, list[int]] = {}
        for i in page:
            by_text.setdefault(texts[i], []).append(i)
        for text, indices in by_text.items():
            count = parts[indices[0]]  # the parts follow from the text
            chunks += [[(text, count, [numbers[i] for i in indices[at:at + size]])]
                       for at in range(0, len(indices), size)]
    else:
        for at in range(0, len(page), size):
            mixed: dict[str, tuple[str, int, list[str]]] = {}
            for i in page[at:at + size]:
                mixed.setdefault(texts[i], (texts[i], parts[i], []))[2].append(numbers[i])
            chunks.append(list(mixed.values()))
    return chunks


def ledger_requests(ready: list[tuple[Any, ...]], size: int, one_text: bool) -> list[list[tuple[Any, ...]]]:
    """The requests of the ledger's pending rows ``ready`` (rowid, recipient, text)."""
    if one_text:  # one text per request where the provider sends one text to many: group by text
        by_text: dict[str, list[tuple[Any, ...]]] = {}
        for item in ready:
            by_text.setdefault(item[2], []).append(item)
        return [g[i:i + size] for g in by_text.values() for i in range(0, len(g), size)]
    return [ready[i:i + size] for i in range(0, len(ready), size)]


def claim_groups(chunks: list[tuple[Any, int]], rows: int, requests: int) -> Iterator[list[tuple[Any, int]]]:
    """Consecutive (chunk, its size) claimed in one transaction: at most ``requests`` chunks and ``rows``
    rows."""
    group: list[tuple[Any, int]] = []
    count = 0
    for chunk, size in chunks:
        if group and (len(group) >= requests or count + size > rows):
            yield group
            group, count = [], 0
        group.append((chunk, size))
        count += size
    if group:
        yield group


def group_recipients(group: tuple[bool, list[Request]]) -> int:
    """Recipients of a claim group (new, requests)."""
    new, requests = group
    return sum(request_size(rows, new) for _, rows in requests)


def request_size(rows: list[Any], new: bool) -> int:
    """Recipients of a request's rows: [(text, parts, numbers)] when new, else one row each."""
    return sum(len(numbers) for _, _, numbers in rows) if new else len(rows)
