"""Sending a plan: exactly once per recipient, resumable after any crash."""

from __future__ import annotations

from runner.send.engine import SendOptions, SendReport, send_plan

__all__ = ["SendOptions", "SendReport", "send_plan"]
