"""smsrun: SMS campaigns as code.

The library core lives in the sub-packages, each a stage that imports only the stages below it:
campaign (the file alone) and ledger; sources and providers; audience; message; check (what needs
several stages: loading a campaign to plan or send it, validate's offline checks) and plan; send (plan
still asks send's history module: the one cycle left); commands (the commands' typed results).
``runner.cli`` is a thin command-line layer over it.
``tests/test_architecture.py`` keeps the packages free of import cycles.
"""

from __future__ import annotations

__version__ = "0.1.0"
