"""The node itself: `plansync init`, `serve`, `worker`, `enroll` and `db`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from node.cli.common import (
    DataDir,
    check_database,
    check_redis,
    fail,
    load_cfg,
    require_key,
    run,
    with_rt,
)
from node.config import (
    CONFIG_FILE,
    SQLITE_PREFIX,
    ConfigError,
    NodeConfig,
    Settings,
    build_config,
    default_database_url,
    resolve_data_dir,
    sqlite_path,
)

db_app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


def init(
    code: str = typer.Option(..., help="6-digit GB/T 2260 division code, e.g. 150603 "
                             "(000000: the national level)"),
    name: str = typer.Option(..., help="office name, e.g. 康巴什区"),
    level: str = typer.Option(..., help="national | province | city | county"),
    parent_url: str = typer.Option(None, help="base URL of the parent node (none for the "
                                   "national node; optional for a province)"),
    base_url: str = typer.Option("http://127.0.0.1:8000", help="this node's own base URL"),
    database_url: str = typer.Option(None, envvar="PLANSYNC_DATABASE_URL",
                                     help="default: $PLANSYNC_DATABASE_URL, else the SQLite "
                                          "file plansync.db in the data directory"),
    redis_url: str = typer.Option(None, help="Redis for arq delivery (default: in-process)"),
    timezone: str = typer.Option("Asia/Shanghai"),
    data_dir: Path = DataDir,
    force: bool = typer.Option(False, help="overwrite an existing node.json (keeps the key)"),
) -> None:
    """Create a node: config file, Ed25519 key pair (owner-only), migrated database. A
    failed init leaves nothing behind: run it again once the cause is fixed."""
    ddir = resolve_data_dir(data_dir)
    if (ddir / CONFIG_FILE).exists() and not force:
        fail(f"{ddir / CONFIG_FILE} already exists; use --force to rewrite it")
    cfg = _validated({"code": code, "name": name, "level": level, "parent_url": parent_url,
                      "base_url": base_url, "redis_url": redis_url, "timezone": timezone,
                      "database_url": _absolute(database_url) or default_database_url(ddir),
                      "data_dir": str(ddir)})
    from node.provision import provision

    signer = run(lambda: provision(cfg))
    typer.echo(f"已创建节点 node created: {cfg.code} {cfg.name} ({cfg.level.value})")
    typer.echo(f"  data dir: {ddir}\n  key id:   {signer.key_id}\n  listens:  {cfg.base_url}")
    if cfg.parent_url:
        typer.echo(f"  next: ask the parent office for an invite token, then "
                   f"`plansync enroll --token TOKEN --data-dir {ddir}`")


def _absolute(url: str | None) -> str | None:
    """A relative SQLite path on the command line means the working directory (as
    everywhere on a command line); node.json then stores it relative to the data directory
    when it lies inside it."""
    path = sqlite_path(url) if url else None
    if url is None or path is None or path.is_absolute():
        return url
    return SQLITE_PREFIX + str(path.resolve()) + ("?" + url.split("?", 1)[1] if "?" in url
                                                  else "")


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
    from node.ops.logs import setup_logging

    cfg = load_cfg(data_dir)
    settings = Settings()
    require_key(cfg)
    _port_free(host, port)  # before anything starts (or logs that it did)
    check_database(cfg)
    if cfg.redis_url:
        check_redis(cfg.redis_url)
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
    require_key(cfg)
    check_database(cfg)
    check_redis(cfg.redis_url)
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
    from node.db import check_file, create_engine, current_revision, head_revision, upgrade

    cfg = load_cfg(data_dir)

    async def go() -> tuple[str | None, str | None]:
        engine = create_engine(cfg.database_url)
        try:
            check_file(engine)  # never create an empty database in place of a missing one
            before = await current_revision(engine)
            await upgrade(engine)
            return before, await current_revision(engine)
        finally:
            await engine.dispose()

    before, after = run(go)
    typer.echo(f"数据库已升级 database upgraded: {before or 'empty'} -> {after} "
               f"(head {head_revision()})")


def _port_free(host: str, port: int) -> None:
    """Fail with one line, before the server starts, if ``host:port`` cannot be listened on
    (the port is taken, the address is not this machine's)."""
    import errno
    import socket

    try:
        family, kind, proto, _, addr = socket.getaddrinfo(host, port,
                                                          type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as e:
        fail(f"--host {host!r} is not an address of this machine ({e}); use 127.0.0.1 or "
             "0.0.0.0", 1)
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does
        try:
            sock.bind(addr)
        except OSError as e:
            if e.errno == errno.EADDRINUSE:
                fail(f"端口已被占用 port {port} on {host} is already in use (another `plansync "
                     "serve` or another program): stop that one, or choose another port with "
                     "--port N and set base_url (node.json or PLANSYNC_BASE_URL) to match", 1)
            fail(f"cannot listen on {host}:{port} ({e.strerror}): choose another --host or "
                 "--port", 1)
