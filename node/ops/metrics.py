"""Prometheus metrics: one registry per app, so several nodes can live in one process."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "plansync_http_requests", "HTTP requests", ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "plansync_http_request_seconds", "HTTP request latency", ["method", "route"],
            registry=self.registry,
        )
        self.envelopes = Counter(
            "plansync_envelopes_received", "Envelopes received, by result", ["type", "result"],
            registry=self.registry,
        )
        self.rejections = Counter(
            "plansync_envelopes_rejected", "Envelopes rejected, by error code", ["code"],
            registry=self.registry,
        )
        self.key_alarm = Gauge(
            "plansync_key_transparency_alarm",
            "1 when an ancestor does not hold exactly this node's current key (last check)",
            ["ancestor"], registry=self.registry,
        )
        self.outbox_depth = Gauge(
            "plansync_outbox_depth", "Outbox rows not yet delivered", ["status"],
            registry=self.registry,
        )
        self.outbox_oldest = Gauge(
            "plansync_outbox_oldest_pending_seconds", "Age of the oldest undelivered outbox row",
            registry=self.registry,
        )
        self.deliveries = Counter(
            "plansync_deliveries", "Outbox delivery attempts, by outcome", ["outcome"],
            registry=self.registry,
        )
