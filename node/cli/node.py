"""The node itself: `plansync init`, `serve`, `worker`, `enroll` and `db`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from node.cli.common import DataDir, fail, load_cfg, run, with_rt
from node.config import (
    CONFIG_FILE,
    ConfigError,
    NodeConfig,
    Settings,
    build_config,
    default_database_url,
    resolve_data_dir,
)

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


def init(
    code: str = typer.Option(..., help="6-digit GB/T 2260 division code, e.g. 150603"),
    name: str = typer.Option(..., help="office name, e.g. 康巴什区"),
    level: str = typer.Option(..., help="province | city | county"),
    parent_url: str = typer.Option(None, help="base URL of the parent node (not for a province)"),
    base_url: str = typer.Option("http://127.0.0.1:8000", help="this node's own base URL"),
    database_url: str = typer.Option(None, help="default: SQLite file in the data directory"),
    redis_url: str = typer.Option(None, help="Redis for arq delivery (default: in-process)"),
    timezone: str = typer.Option("Asia/Shanghai"),
    data_dir: Path = DataDir,
    force: bool = typer.Option(False, help="overwrite an existing node.json (keeps the key)"),
) -> None:
    """Create a node: config file, Ed25519 key pair (owner-only), migrated database."""
    ddir = resolve_data_dir(data_dir)
    if (ddir / CONFIG_FILE).exists() and not force:
        fail(f"{ddir / CONFIG_FILE} already exists; use --force to rewrite it")
    cfg = _validated({"code": code, "name": name, "level": level, "parent_url": parent_url,
                      "base_url": base_url, "redis_url": redis_url, "timezone": timezone,
                      "database_url": database_url or default_database_url(ddir),
                      "data_dir": str(ddir)})
    from node.provision import provision

    signer = run(lambda: provision(cfg))
    typer.echo(f"已创建节点 node created: {cfg.code} {cfg.name} ({cfg.level.value})")
    typer.echo(f"  data dir: {ddir}\n  key id:   {signer.key_id}\n  listens:  {cfg.base_url}")
    if cfg.parent_url:
        typer.echo(f"  next: ask the parent office for an invite token, then "
                   f"`plansync enroll --token TOKEN --data-dir {ddir}`")


def _validated(raw: dict[str, Any]) -> NodeConfig:
    try:
        return build_config(raw)
    except ConfigError as e:
        fail(str(e))
        raise AssertionError from None


def serve(
    data_dir: Path = DataDir,
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
) -> None:
    """Run the node's HTTP server (and in-process delivery when no Redis is configured)."""
    import uvicorn

    from node.app import create_app
    from node.db import SchemaBehind, create_engine, ensure_current
    from node.ops.logs import setup_logging

    cfg = load_cfg(data_dir)
    settings = Settings()

    async def check() -> None:
        engine = create_engine(cfg.database_url)
        try:
            await ensure_current(engine)
        finally:
            await engine.dispose()

    try:
        run(check)
    except SchemaBehind as e:
        fail(str(e), 1)
    except OSError as e:
        fail(f"database unreachable ({e}); check database_url in {CONFIG_FILE}", 1)
    setup_logging(settings.log_level, settings.log_json)
    uvicorn.run(create_app(cfg, settings), host=host, port=port, log_config=None,
                access_log=False)


def worker(data_dir: Path = DataDir) -> None:
    """Run the arq worker that delivers this node's outbox (needs redis_url)."""
    from arq.worker import run_worker

    from node.delivery.worker import worker_settings
    from node.ops.logs import setup_logging

    cfg = load_cfg(data_dir)
    if not cfg.redis_url:
        fail("no redis_url configured: without Redis, `plansync serve` delivers in-process "
             "and no worker is needed")
    settings = Settings()
    setup_logging(settings.log_level, settings.log_json)
    from node.wiring import build_registry

    run_worker(worker_settings(cfg, settings, build_registry()))


def enroll(token: str = typer.Option(..., help="one-time token from the parent office"),
           data_dir: Path = DataDir) -> None:
    """Enrol this node with its parent (parent URL from the config)."""
    from node.protocol.enrol import enroll_with_parent
    from sync import SyncError

    cfg = load_cfg(data_dir)
    try:
        answer = run(lambda: with_rt(cfg, lambda rt: enroll_with_parent(rt, token)))
    except SyncError as e:
        fail(f"enrolment failed: {e}", 1)
    p = answer["parent"]
    typer.echo(f"已加入 enrolled under {p['code']} {p['name']} ({p['level']}); "
               f"trusted ancestors: {', '.join(a['code'] for a in answer['ancestors'])}")


@db_app.command("upgrade")
def db_upgrade(data_dir: Path = DataDir) -> None:
    """Migrate the database schema to this version of plansync."""
    from node.db import create_engine, current_revision, head_revision, upgrade

    cfg = load_cfg(data_dir)

    async def go() -> tuple[str | None, str | None]:
        engine = create_engine(cfg.database_url)
        try:
            before = await current_revision(engine)
            await upgrade(engine)
            return before, await current_revision(engine)
        finally:
            await engine.dispose()

    before, after = run(go)
    typer.echo(f"数据库已升级 database upgraded: {before or 'empty'} -> {after} "
               f"(head {head_revision()})")
