"""Outgoing envelopes (`plansync outbox`)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from node.cli.common import DataDir, load_cfg, run, with_rt

outbox_app = typer.Typer(help="Outgoing envelopes.", no_args_is_help=True)


@outbox_app.command("status")
def outbox_status(data_dir: Path = DataDir) -> None:
    """Rows per status and the age of the oldest undelivered one."""
    from node.delivery.deliver import outbox_stats

    cfg = load_cfg(data_dir)
    counts, age = run(lambda: with_rt(cfg, outbox_stats))
    typer.echo(json.dumps({"counts": counts, "oldest_pending_seconds": round(age, 1)}))
