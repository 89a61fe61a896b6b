"""``provider: twilio``: Twilio Programmable Messaging.

* :mod:`~runner.providers.twilio.spec`: what it declares (settings, environment, capabilities), light;
* :mod:`~runner.providers.twilio.answers`: Twilio's error codes and the settings' value checks;
* :mod:`~runner.providers.twilio.receiver`: the signature check and status table the receiver uses;
* :mod:`~runner.providers.twilio.provider`: :class:`TwilioProvider` (the rules are in its docstring).
"""

from __future__ import annotations

import importlib
from typing import Any

from runner.providers.twilio.spec import PROVIDER

_LAZY = {
    "TwilioProvider": "provider", "is_unsubscribed": "provider",
    "UNSUBSCRIBED_REASON": "answers", "API_VERSION": "answers",
    "DELIVERY_STATUS": "receiver", "twilio_signature": "receiver", "verify_twilio_signature": "receiver",
    "ENV_ACCOUNT_SID": "spec", "ENV_AUTH_TOKEN": "spec", "DEFAULT_BASE_URL": "spec", "TwilioSettings": "spec",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{module}"), name)


__all__ = ["PROVIDER", *_LAZY]
