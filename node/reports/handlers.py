"""Envelope listeners of the reports domain: a child's annual report (and relayed ones from
further down), and the filer's side of a report's receipt."""

from __future__ import annotations

from node.protocol.registry import Registry
from node.reports.service import on_report, on_report_receipt


def register(registry: Registry) -> None:
    registry.on("report.filing", on_report)
    registry.on("filing.receipt", on_report_receipt)
