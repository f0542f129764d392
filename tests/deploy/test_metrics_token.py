"""PLANSYNC_METRICS_TOKEN: /metrics only with `Authorization: Bearer <token>`, answered with
the typed 401 otherwise; unset (or empty), /metrics stays open. SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from node.config import Settings
from tests.cluster import cluster
from tests.conftest import DbFactory

ONE = [("150000", "内蒙古自治区", "province", None)]
TOKEN = "0123456789abcdef0123456789abcdef"


# another part of the tree may momentarily define an operation id twice (FastAPI warns when
# /openapi.json is built): not what this test is about
@pytest.mark.filterwarnings("ignore:Duplicate Operation ID")
async def test_metrics_behind_a_token(tmp_path: Path, db_factory: DbFactory) -> None:
    settings = Settings(delivery_loop=False, pull_interval_seconds=3600, metrics_token=TOKEN)
    async with cluster(tmp_path, db_factory, ONE, settings=settings) as c, \
            c.client("150000") as cl:
        for headers in ({}, {"Authorization": "Bearer wrong"},
                        {"Authorization": f"Bearer {TOKEN}x"}, {"Authorization": TOKEN},
                        {"Authorization": f"Basic {TOKEN}"}):
            r = await cl.get("/metrics", headers=headers)
            assert r.status_code == 401, headers
            assert r.json()["error"]["code"] == "metrics_token_required"
            assert "PLANSYNC_METRICS_TOKEN" in r.json()["error"]["message"]
            assert r.headers["WWW-Authenticate"] == "Bearer"
        r = await cl.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
        assert r.status_code == 200 and "plansync_outbox_depth" in r.text
        # the refused scrapes were counted like any request
        assert 'route="/metrics",status="401"} 5.0' in r.text
        # nothing else needs it: health and readiness stay open for probes
        assert (await cl.get("/healthz")).status_code == 200
        assert (await cl.get("/readyz")).status_code == 200
        spec = (await cl.get("/openapi.json")).json()
        assert "401" in spec["paths"]["/metrics"]["get"]["responses"]


async def test_metrics_open_without_a_token(tmp_path: Path, db_factory: DbFactory) -> None:
    async with cluster(tmp_path, db_factory, ONE) as c, c.client("150000") as cl:
        assert (await cl.get("/metrics")).status_code == 200


def test_the_setting_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLANSYNC_METRICS_TOKEN", TOKEN)
    token = Settings().metrics_token
    assert token is not None and token.get_secret_value() == TOKEN
    assert TOKEN not in repr(Settings())  # kept out of reprs and logs
    monkeypatch.setenv("PLANSYNC_METRICS_TOKEN", "")  # `PLANSYNC_METRICS_TOKEN=` in a .env
    assert Settings().metrics_token is None
    for weak in ("short", f" {TOKEN} "):
        monkeypatch.setenv("PLANSYNC_METRICS_TOKEN", weak)
        with pytest.raises(ValidationError, match="at least 16 characters"):
            Settings()
