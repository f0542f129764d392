from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from tests import services

DbFactory = Callable[[], Awaitable[str]]


@pytest.fixture(params=["sqlite", "postgres"])
async def db_factory(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[DbFactory]:
    """Makes fresh, empty databases of one backend; PostgreSQL ones are dropped afterwards."""
    created: list[str] = []
    counter = iter(range(10_000))

    async def make() -> str:
        if request.param == "sqlite":
            return f"sqlite+aiosqlite:///{tmp_path / f'db{next(counter)}.sqlite'}"
        url = await services.create_pg_database()
        created.append(url)
        return url

    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
    yield make
    for url in created:
        await services.drop_pg_database(url)


@pytest.fixture
async def db_url(db_factory: DbFactory) -> str:
    return await db_factory()


@pytest.fixture
async def redis_url() -> str:
    return await services.redis_url_for_test()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if services.SKIPPED:
        tr = terminalreporter
        tr.section("SERVICES SKIPPED", sep="!", red=True, bold=True)
        for service, why in services.SKIPPED.items():
            tr.write_line(f"!!! {service} tests were SKIPPED: {why}", red=True, bold=True)
        tr.write_line("!!! Start the services (see README) for a full run; CI=true makes this "
                      "a failure.", red=True, bold=True)


if sys.platform != "win32":
    os.environ.setdefault("PLANSYNC_LOG_JSON", "true")
