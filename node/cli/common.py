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
Out = typer.Option(None, "--out", help="write to this file")


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


async def with_rt(cfg: NodeConfig, fn: Callable[[Any], Awaitable[T]]) -> T:
    from node.runtime import NodeRuntime

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
