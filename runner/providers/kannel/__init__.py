"""``provider: kannel``: a Kannel smsbox's sendsms interface.

* :mod:`~runner.providers.kannel.spec`: what it declares (settings, environment, capabilities), light;
* :mod:`~runner.providers.kannel.dlr`: the dlr-url template and :func:`parse_dlr` (the receiver's route);
* :mod:`~runner.providers.kannel.provider`: :class:`KannelProvider` (the rules are in its docstring).
"""

from __future__ import annotations

from runner.providers.kannel.spec import PROVIDER
from runner.providers.lazy import lazy_getattr

_LAZY = {
    "KannelProvider": "provider", "NOT_E164": "provider", "E164": "provider",
    "KannelDlr": "dlr", "parse_dlr": "dlr", "DLR_TYPES": "dlr", "PLACEHOLDERS": "dlr", "STANDARD_DLR_QUERY": "dlr",
    "ENV_USERNAME": "spec", "ENV_PASSWORD": "spec", "KannelSettings": "spec",
}


__getattr__ = lazy_getattr(__name__, _LAZY)


__all__ = ["PROVIDER", *_LAZY]
