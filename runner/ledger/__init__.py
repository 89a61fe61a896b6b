"""The ledger: one row per (campaign, recipient), claimed before the provider is called, settled after."""

from __future__ import annotations

from runner.ledger.store import FINAL_STATUSES, Ledger, LedgerRow, Status, state_dir_for

__all__ = ["FINAL_STATUSES", "Ledger", "LedgerRow", "Status", "state_dir_for"]
