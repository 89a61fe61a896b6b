"""Sending a plan: exactly once per recipient, resumable after any crash."""

from __future__ import annotations

from runner.send.engine import send_plan
from runner.send.options import SendOptions, SendReport

__all__ = ["SendOptions", "SendReport", "send_plan"]
