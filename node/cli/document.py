"""`plansync report document`: the annual monitoring report as a Word document (.docx)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import typer

from node.cli.common import DataDir, fail, tx


def report_document(kind: str = typer.Option(..., "--kind", help="women | children"),
                    year: int = typer.Option(..., "--year", help="the report year"),
                    out: Path = typer.Option(..., "--out", help="the .docx file to write"),
                    data_dir: Path = DataDir) -> None:
    """Write this office's annual monitoring report of the year as a .docx (监测报告)."""
    from node.reports.document import monitoring_report

    if out.suffix.lower() != ".docx":
        fail(f"--out 须为 .docx 文件 must end in .docx: {out}")
    if not out.parent.is_dir():
        fail(f"目录不存在 folder does not exist: {out.parent} (create it first)")

    async def go(s: Any, rt: Any) -> tuple[str, bytes]:
        return await monitoring_report(
            session=s, code=rt.cfg.code, name=rt.cfg.name, kind=kind, year=year,
            volatility=rt.settings.volatility_threshold, now=datetime.now(rt.cfg.zone))

    name, data = tx(data_dir, go)
    try:
        out.write_bytes(data)
    except OSError as e:
        fail(f"无法写入 cannot write {out}: {e.strerror}")
    typer.echo(f"已导出 written {out}（{name}）")
