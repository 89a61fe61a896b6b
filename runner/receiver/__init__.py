"""``smsrun receive``: delivery reports and replies from Kannel, Twilio and OVHcloud, into the ledger.

* :mod:`runner.receiver.server`: the HTTP server (:class:`Receiver`, :func:`serve`);
* :mod:`runner.receiver.handlers`: one function per endpoint;
* :mod:`runner.receiver.store`: the ledger writes (reports, replies), shared with ``smsrun replies``.
"""

from __future__ import annotations

from runner.receiver.server import ENV_TOKEN, Receiver, ReceiverConfig, serve

__all__ = ["ENV_TOKEN", "Receiver", "ReceiverConfig", "serve"]
