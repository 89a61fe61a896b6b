"""The ledger's public face: ``from runner.ledger.store import Ledger`` opens the configured backend.

The code lives in :mod:`runner.ledger.model` (statuses, settle shapes, rows), :mod:`runner.ledger.base`
(the API both backends share), :mod:`runner.ledger.sqlite` (the embedded default) and
:mod:`runner.ledger.pg` (PostgreSQL); this module keeps the names every caller imports in one place.
"""

from __future__ import annotations

from runner.ledger.model import FINAL_STATUSES, LedgerRow, SettleGroups, SettleUpdate, Status, now_iso
from runner.ledger.sqlite.backend import DATABASE_ERRORS, Ledger
from runner.ledger.sqlite.schema import EXPECTED_COLUMNS, MIGRATIONS, SCHEMA, SCHEMA_VERSION
from runner.ledger.statedir import state_dir_for

__all__ = ["DATABASE_ERRORS", "EXPECTED_COLUMNS", "FINAL_STATUSES", "MIGRATIONS", "SCHEMA", "SCHEMA_VERSION",
           "Ledger", "LedgerRow", "SettleGroups", "SettleUpdate", "Status", "now_iso", "state_dir_for"]
