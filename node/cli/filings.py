"""Filings received from child offices (`plansync filings`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from node.cli.common import Actor, DataDir, acting, echo_json, tx

filings_app = typer.Typer(help="Filings received from child offices (下级报送).",
                          no_args_is_help=True)


@filings_app.command("list")
def filings_list(as_json: bool = typer.Option(False, "--json"),
                 data_dir: Path = DataDir) -> None:
    """Filings received from children, with due date, lateness and outcome."""
    from node.filings.service import list_plan_filings

    rows = tx(data_dir, lambda s, rt: list_plan_filings(s))
    if as_json:
        echo_json(rows)
        return
    for f in rows:
        late = f"late {f['late_days']} d" if f["late_days"] else "on time"
        typer.echo(f"{f['id']}  {f['filer']} {f['plan_id']} v{f['version']}  due {f['due_on']} "
                   f"received {f['received_at']} ({late})  {f['outcome']}")


@filings_app.command("return")
def filings_return(filing_id: str, reasons: str = typer.Option(...), as_: str = Actor,
                   data_dir: Path = DataDir) -> None:
    """Return a filing to the child office for correction, with reasons (signed)."""
    from node.filings import service

    async def go(s: Any, rt: Any) -> None:
        user = await acting(s, as_, "filings.review")
        await service.return_filing(session=s, rt=rt, filing_id=filing_id, reasons=reasons,
                                    actor=user.name)

    tx(data_dir, go)
    typer.echo(f"已退回 returned {filing_id}")
