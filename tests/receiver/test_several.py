"""Several receivers behind one URL, on one ledger: each report and each reply is stored once."""

from __future__ import annotations

from pathlib import Path

import httpx

from tests.receiver.test_server import N, seed, start, statuses, table


def test_two_receivers_store_each_report_and_reply_once(tmp_path: Path) -> None:
    state = tmp_path / "state"
    seed(state, "c", N[:2], batch_id="c.r.1", provider_ids=["4242", "4243"])
    receivers = [start(state), start(state)]
    try:
        for receiver in receivers * 2:  # a gateway's retry lands on the other receiver, and again
            assert httpx.get(receiver.url("ovh/dlr"), params={"id": "4242", "description": "1"}).status_code == 200
            assert httpx.get(receiver.url("kannel/mo"), params={"from": N[1], "text": "STOP",
                                                                 "id": "mo-77"}).status_code == 200
    finally:
        for receiver in receivers:
            receiver.stop()
    assert statuses(state, "c") == {N[0]: "delivered", N[1]: "sent"}
    assert len(table(state, "reports")) == 1
    assert len(table(state, "replies")) == 1
    assert [row[0] for row in table(state, "optouts")] == [N[1]]
