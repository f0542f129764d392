"""Envelope listeners of the plans domain: an ancestor's framework release, a child's plan
filing."""

from __future__ import annotations

from node.plans.service import on_filing, on_framework
from node.protocol.registry import Registry


def register(registry: Registry) -> None:
    registry.on("framework.release", on_framework)
    registry.on("plan.filing", on_filing)
