"""A small SMPP 3.4 SMSC simulator (``smpp34``) on 127.0.0.1, for failure delivery reports through Kannel.

Kannel's fake SMSC only ever reports "delivered"; pointed at this simulator (``KannelGateway(...,
smsc="smpp", smpp_port=sim.port)``) Kannel produces the other outcomes:

* destination starting ``999`` → ``submit_sm_resp`` ESME_RINVDSTADR: Kannel reports type 16 (SMSC
  reject) with ``%A = NACK/0x0000000b/Invalid Destination Address``; the sendsms answer is still 202;
* destination starting ``888`` → accepted, then a ``stat:UNDELIV`` receipt: type 2 (undelivered);
* anything else → accepted, then ``stat:DELIVRD``: type 1 (delivered).

Every submit is recorded (:attr:`SmscSimulator.submits`); :meth:`SmscSimulator.send_mo` pushes an MO.
The ``kannel_smpp`` fixture (module scope) gives ``(gateway, simulator)``; import
``kannel_smpp_fixture`` (and ``kannel_listener_fixture`` from ``tests.support.kannel``) to use it.
The simulator runs its asyncio loop in a thread of the test process. It is stopped *before* bearerbox,
its sessions unbound: Kannel's shutdown hangs while an SMSC that does not answer ``unbind`` (smpp34
does not) still holds the session (gateways.md §2.1).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, Literal

import pytest

from tests.support.kannel import (
    MO_PATH,
    KannelGateway,
    RecordingHttpServer,
    free_port,
    skip_if_kannel_missing,
)

Fate = Literal["deliver", "undeliver", "reject"]


def default_fate(destination: str) -> Fate:
    digits = destination.lstrip("+")
    if digits.startswith("999"):
        return "reject"
    if digits.startswith("888"):
        return "undeliver"
    return "deliver"


@dataclass(frozen=True)
class Submit:
    source: str
    destination: str
    data_coding: int
    short_message: bytes
    registered_delivery: int
    message_id: str | None  # None when rejected
    fate: Fate


class SmscSimulator:
    """``smpp34.Server`` on a free loopback port, answering submits by :func:`default_fate` (or ``fate``)."""

    def __init__(self, fate: Callable[[str], Fate] = default_fate) -> None:
        import smpp34  # imported here: the tests using it skip when it is missing

        self._smpp34: Any = smpp34
        self.fate = fate
        self.port = free_port()
        self.submits: list[Submit] = []
        self.binds: list[str] = []
        self._sessions: dict[Any, Any] = {}
        self._counter = 0
        self._pending: set[asyncio.Future[Any]] = set()
        self._loop = asyncio.new_event_loop()
        self._server: Any = None
        self._ready: Future[None] = Future()
        self._thread = threading.Thread(target=self._run, name="smsc-sim", daemon=True)
        self._main: asyncio.Task[None] | None = None

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self, timeout: float = 5.0) -> SmscSimulator:
        self._thread.start()
        self._ready.result(timeout)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._main = self._loop.create_task(self._serve())
        try:
            self._loop.run_until_complete(self._main)
        except asyncio.CancelledError:
            pass
        finally:
            self._loop.close()

    async def _serve(self) -> None:
        smpp34 = self._smpp34
        try:
            self._server = smpp34.Server(host="127.0.0.1", port=self.port, system_id="FakeSMSC")
            await self._server.start()
        except BaseException as exc:
            self._ready.set_exception(exc)
            raise
        self._ready.set_result(None)
        while True:
            event = await self._server.next()
            if isinstance(event, smpp34.Esme):
                self._sessions[event.session_id] = event
                self.binds.append(str(event.system_id))
            elif isinstance(event, smpp34.SubmitSmEvent):
                self._on_submit(event)
            elif isinstance(event, smpp34.Unbound):
                self._sessions.pop(event.session_id, None)

    def _on_submit(self, ev: Any) -> None:
        fate = self.fate(str(ev.destination_addr))
        if fate == "reject":
            ev.reject(self._smpp34.ESME_RINVDSTADR)
            self._record(ev, None, fate)
            return
        self._counter += 1
        message_id = f"{self._counter:010d}"  # decimal: Kannel's msg-id-type 0x00
        ev.accept(message_id=message_id)
        self._record(ev, message_id, fate)
        if ev.registered_delivery & 1:
            stat = "UNDELIV" if fate == "undeliver" else "DELIVRD"
            err = "001" if fate == "undeliver" else "000"
            dlvrd = "000" if fate == "undeliver" else "001"
            stamp = time.strftime("%y%m%d%H%M", time.gmtime())
            receipt = (
                f"id:{message_id} sub:001 dlvrd:{dlvrd} submit date:{stamp} done date:{stamp} "
                f"stat:{stat} err:{err} text:"
            ).encode()
            esme = self._sessions.get(ev.session_id)
            if esme is not None:
                # deliver_sm returns a Future; awaiting it inline would block the event loop. The receipt
                # goes a little later, as a real SMSC's does: sent at once, it can overtake Kannel's
                # handling of the submit_sm_resp, and Kannel drops a receipt for an id it does not know yet
                async def later(esme: Any = esme, source: Any = ev.destination_addr,
                                destination: Any = ev.source_addr, receipt: bytes = receipt) -> None:
                    await asyncio.sleep(0.3)
                    await esme.deliver_sm(source_addr=source, destination_addr=destination, esm_class=0x04,
                                          short_message=receipt)

                task = asyncio.ensure_future(later())
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

    def _record(self, ev: Any, message_id: str | None, fate: Fate) -> None:
        self.submits.append(
            Submit(
                str(ev.source_addr),
                str(ev.destination_addr),
                int(ev.data_coding),
                bytes(ev.short_message),
                int(ev.registered_delivery),
                message_id,
                fate,
            )
        )

    def send_mo(self, sender: str, receiver: str, text: str) -> None:
        """Deliver an MO (a handset's reply) to every bound ESME."""

        async def push() -> None:
            for esme in list(self._sessions.values()):
                await esme.deliver_sm(source_addr=sender, destination_addr=receiver, short_message=text.encode())

        asyncio.run_coroutine_threadsafe(push(), self._loop).result(5)

    def stop(self, timeout: float = 5.0) -> None:
        if not self._thread.is_alive():
            return

        async def shutdown() -> None:
            for esme in list(self._sessions.values()):
                with contextlib.suppress(Exception):  # best effort: the session may already be gone
                    await asyncio.wait_for(esme.unbind(), 1.0)
            if self._server is not None:
                await self._server.stop()
            if self._main is not None:
                self._main.cancel()

        with contextlib.suppress(Exception):  # the loop may already be closing: join below
            asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout)
        self._thread.join(timeout)

    def __enter__(self) -> SmscSimulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@pytest.fixture(scope="module", name="kannel_smpp")
def kannel_smpp_fixture(
    tmp_path_factory: pytest.TempPathFactory, kannel_listener: RecordingHttpServer
) -> Iterator[tuple[KannelGateway, SmscSimulator]]:
    """Kannel whose SMSC is an :class:`SmscSimulator` (no black-list, so 999… reaches the SMSC); MOs
    go to ``kannel_listener`` under ``/mo``. Skipped without Kannel or smpp34."""
    skip_if_kannel_missing()
    pytest.importorskip("smpp34", reason="smpp34 is not installed (pip install smpp34; in the test extra)")
    sim = SmscSimulator().start()
    gateway = KannelGateway(
        tmp_path_factory.mktemp("kannel-smpp"),
        mo_url=kannel_listener.url(MO_PATH),
        smsc="smpp",
        smpp_port=sim.port,
        black_list=None,
    )
    try:
        gateway.start()
        yield gateway, sim
    finally:
        sim.stop()  # first: bearerbox's shutdown hangs while the simulator holds the session
        gateway.stop()
