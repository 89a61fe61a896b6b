"""``provider: twilio``: Twilio Programmable Messaging.

* :mod:`~runner.providers.twilio.spec`: what it declares (settings, environment, capabilities), light;
* :mod:`~runner.providers.twilio.answers`: Twilio's error codes and the settings' value checks;
* :mod:`~runner.providers.twilio.receiver`: the signature check and status table the receiver uses;
* :mod:`~runner.providers.twilio.provider`: :class:`TwilioProvider` (the rules are in its docstring).
"""

from __future__ import annotations

from runner.providers.lazy import lazy_getattr
from runner.providers.twilio.spec import PROVIDER

_LAZY = {
    "TwilioProvider": "provider", "is_unsubscribed": "provider",
    "UNSUBSCRIBED_REASON": "answers", "API_VERSION": "answers",
    "DELIVERY_STATUS": "receiver", "twilio_signature": "receiver", "verify_twilio_signature": "receiver",
    "ENV_ACCOUNT_SID": "spec", "ENV_AUTH_TOKEN": "spec", "DEFAULT_BASE_URL": "spec", "TwilioSettings": "spec",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = ["PROVIDER", *_LAZY]
