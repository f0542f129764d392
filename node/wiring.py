"""Assembles what the layers below do not know of each other: the handler registry of every
domain. Called by the app, the arq worker's entry point and the CLI."""

from __future__ import annotations

from node.evaluations import handlers as evaluations
from node.filings import handlers as filings
from node.plans import handlers as plans
from node.protocol import handlers as protocol
from node.protocol.registry import Registry
from node.reports import handlers as reports


def build_registry() -> Registry:
    registry = Registry()
    for domain in (protocol, plans, reports, filings, evaluations):
        domain.register(registry)
    return registry
