"""The plan: what a send would do, computed without sending anything."""

from __future__ import annotations

from runner.plan.build import build_plan
from runner.plan.model import Plan, PlanOptions
from runner.plan.problems import Problem

__all__ = ["Plan", "PlanOptions", "Problem", "build_plan"]
