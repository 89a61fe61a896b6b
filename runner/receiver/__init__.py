"""``smsrun receive``: delivery reports and replies from Kannel, Twilio and OVHcloud, into the ledger.

* :mod:`runner.receiver.server`: the HTTP server (:class:`Receiver`, :func:`serve`): uvicorn, signals;
* :mod:`runner.receiver.protocol`: uvicorn's h11 protocol with a deadline on receiving each request;
* :mod:`runner.receiver.app`: the Starlette application: token, routes, bounded bodies, log lines;
* :mod:`runner.receiver.handlers`: one function per endpoint;
* :mod:`runner.receiver.params`: checks of the values gateways send (400 for what cannot be used);
* :mod:`runner.receiver.writer`: the ledger thread, delivery reports committed in groups;
* :mod:`runner.receiver.store`: the ledger writes (reports, replies), shared with ``smsrun replies``.
"""

from __future__ import annotations

from runner.receiver.server import ENV_TOKEN, Receiver, ReceiverConfig, serve

__all__ = ["ENV_TOKEN", "Receiver", "ReceiverConfig", "serve"]
