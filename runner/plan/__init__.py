"""The plan: what a send would do, computed without sending anything."""

from __future__ import annotations

from runner.plan.build import Plan, PlanOptions, Problem, build_plan

__all__ = ["Plan", "PlanOptions", "Problem", "build_plan"]
