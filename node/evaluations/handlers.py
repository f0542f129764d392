"""Envelope listeners of the evaluations domain: a child's evaluation report (and relayed
ones from further down), and the filer's side of its receipt."""

from __future__ import annotations

from node.evaluations.service import on_evaluation, on_evaluation_receipt
from node.protocol.registry import Registry


def register(registry: Registry) -> None:
    registry.on("evaluation.filing", on_evaluation)
    registry.on("filing.receipt", on_evaluation_receipt)
