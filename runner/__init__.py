"""smsrun: SMS campaigns as code.

The library core lives in the sub-packages (campaign, sources, audience, message, plan, ledger,
providers, send); ``runner.cli`` is a thin command-line layer over it.
"""

from __future__ import annotations

__version__ = "0.1.0"
