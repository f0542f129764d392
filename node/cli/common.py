"""What the CLI's command groups share: the common options, running a command against the
node (its runtime, one transaction), and turning typed errors into one `错误 error:` line with a
non-zero exit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import typer

from node.config import ConfigError, NodeConfig, load_config

T = TypeVar("T")

DataDir = typer.Option(None, "--data-dir", help="node data directory "
                       "(default: $PLANSYNC_DATA_DIR or ./plansync-data)")
Actor = typer.Option(None, "--as", help="the office user doing this: a real, enabled user "
                     "whose role may do it (recorded in history)")
Fmt = typer.Option("table", "--format", help="table | csv | xlsx | json")


def out_path(value: Path | None) -> Path | None:
    """``--out``: the folder must exist (checked before any work is done)."""
    if value is not None:
        folder = value.parent
        if not folder.is_dir():
            raise typer.BadParameter(f"folder {folder} does not exist: create it first "
                                     f"(mkdir -p {folder}) or write elsewhere")
        if value.is_dir():
            raise typer.BadParameter(f"{value} is a folder: name a file in it")
    return value


Out = typer.Option(None, "--out", help="write to this file", callback=out_path)


def fail(msg: str, code: int = 2) -> NoReturn:
    typer.secho(f"错误 error: {msg}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


def load_cfg(data_dir: Path | None) -> NodeConfig:
    try:
        return load_config(data_dir)
    except ConfigError as e:
        fail(str(e))
        raise AssertionError from None


def run(factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(factory())  # type: ignore[arg-type]


def key_missing(cfg: NodeConfig) -> str:
    return (f"节点密钥丢失 the node key {cfg.key_path} is missing: put node_key.pem back from "
            "the backup of this data directory (check --data-dir); if it is lost for good, "
            "follow \"Lost key\" in docs/operations.md (a recovery invite from the parent)")


def require_key(cfg: NodeConfig) -> None:
    """Fail with one line if the node's private key file is missing."""
    if not cfg.key_path.exists():
        fail(key_missing(cfg), 1)


def check_database(cfg: NodeConfig) -> None:
    """The database exists, answers and is migrated (for `serve` and `worker`, before they
    start); its errors are put into words by :func:`explain`."""
    from node.db import create_engine, ensure_current

    async def go() -> None:
        engine = create_engine(cfg.database_url)
        try:
            await ensure_current(engine)
        finally:
            await engine.dispose()

    run(go)


def shown_redis(url: str) -> str:
    """A Redis URL without its password."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.netloc.rsplit("@", 1)[1]
    return parts._replace(netloc=f"{parts.username or ''}:***@{host}").geturl()


def check_redis(url: str) -> None:
    """Fail with one line if Redis does not answer within a few seconds."""
    from redis.asyncio import Redis

    async def ping() -> None:
        r = Redis.from_url(url, socket_connect_timeout=3, socket_timeout=3)
        try:
            await r.ping()
        finally:
            await r.aclose()

    try:
        run(ping)
    except Exception as e:
        fail(f"无法连接 Redis cannot reach Redis at {shown_redis(url)} ({e}): start it, or fix "
             "redis_url (node.json or PLANSYNC_REDIS_URL); without redis_url `serve` delivers "
             "in-process and needs no worker", 1)


def explain(exc: BaseException) -> str | None:
    """The one line a person reads for an error the CLI knows (None: unexpected). The one
    place every command's errors are put into words (``node.cli.main`` calls it)."""
    from node.db import DatabaseUnavailable, SchemaBehind
    from node.errors import NodeError
    from sync import SyncError

    if isinstance(exc, NodeError):
        return exc.message
    if isinstance(exc, (DatabaseUnavailable, SchemaBehind, ConfigError, SyncError)):
        return str(exc)
    from pydantic import ValidationError

    if isinstance(exc, ValidationError) and exc.title == "Settings":  # PLANSYNC_* variables
        return "无效的环境变量 invalid setting: " + "; ".join(
            f"PLANSYNC_{'_'.join(str(p) for p in e['loc']).upper()}: "
            f"{str(e['msg']).removeprefix('Value error, ')}" for e in exc.errors()) + \
            " (see the table in docs/operations.md)"
    from redis.exceptions import ConnectionError as RedisDown
    from redis.exceptions import TimeoutError as RedisSlow

    if isinstance(exc, (RedisDown, RedisSlow)):
        return (f"无法连接 Redis cannot reach Redis ({exc}): is it running and is redis_url "
                "(node.json or PLANSYNC_REDIS_URL) right?")
    if isinstance(exc, FileNotFoundError) and str(exc.filename or "").endswith("node_key.pem"):
        return (f"节点密钥丢失 the node key {exc.filename} is missing: put it back from the "
                "backup of this data directory (check --data-dir)")
    if isinstance(exc, OSError) and exc.filename:
        return (f"文件错误 cannot use {exc.filename}: {exc.strerror or exc}; check the path "
                "and its permissions")
    return None


async def with_rt(cfg: NodeConfig, fn: Callable[[Any], Awaitable[T]]) -> T:
    from node.runtime import NodeRuntime

    require_key(cfg)
    rt = NodeRuntime.open(cfg)
    try:
        from node.db import ensure_current

        await ensure_current(rt.engine)
        return await fn(rt)
    finally:
        await rt.close()


def tx(data_dir: Path | None, fn: Callable[[Any, Any], Awaitable[T]]) -> T:
    """Run ``fn(session, rt)`` in one transaction; print typed errors and exit non-zero."""
    from node.db import transaction
    from node.errors import NodeError

    cfg = load_cfg(data_dir)

    async def go(rt: Any) -> T:
        async with transaction(rt.sessions) as session:
            return await fn(session, rt)

    try:
        return run(lambda: with_rt(cfg, go))
    except NodeError as e:
        fail(e.message, 1)
        raise AssertionError from None


async def acting(session: Any, name: str | None, perm: str) -> Any:
    """The real user ``--as`` names, with the permission ``perm`` (node.auth.service.Perm
    value); a typed error otherwise (printed as one line by ``tx``)."""
    from node.auth.service import Perm, acting_user

    return await acting_user(session=session, name=name, perm=Perm(perm))


def echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def emit_table(fmt: str, out: Path | None, payload: Any,
               sheets: list[tuple[str, Any, Any]]) -> None:
    from node.reports import exports

    if fmt == "json":
        text = json.dumps(payload, ensure_ascii=False, indent=2, default=str)
    elif fmt == "csv":
        _, rows, cols = sheets[0]
        text = exports.to_csv(rows, cols)
    elif fmt == "xlsx":
        if out is None:
            fail("--format xlsx needs --out FILE.xlsx")
        assert out is not None
        out.write_bytes(exports.to_xlsx(sheets))
        typer.echo(f"已导出 written {out}")
        return
    elif fmt == "table":
        _, rows, cols = sheets[0]
        table = exports.table(rows, cols)
        widths = [max(len(str(r[i])) for r in table) for i in range(len(cols))]
        text = "\n".join("  ".join(str(v if v is not None else "-").ljust(w)
                                    for v, w in zip(r, widths, strict=True)) for r in table)
    else:
        fail("--format must be table, csv, xlsx or json")
        return
    if out is not None:
        out.write_text(text, "utf-8")
        typer.echo(f"已导出 written {out}")
    else:
        typer.echo(text)
