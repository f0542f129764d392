"""The lab on the command line: `plansync cluster` (any subtree as real node processes,
node.lab.harness) and `plansync demo` (node.lab.demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from node.cli.common import fail, run

cluster_app = typer.Typer(help="Run any subtree of divisions.json as real node processes.",
                          no_args_is_help=True)
ClusterDir = typer.Option(Path("plansync-cluster"), "--dir", help="cluster base directory")


@cluster_app.command("up")
def cluster_up(root: str = typer.Option("150000", help="GB/T 2260 code of the subtree root"),
               depth: int = typer.Option(None, help="levels below the root (default: all)"),
               children: int = typer.Option(None, help="at most N children per node"),
               pg_admin: str = typer.Option(None, help="PostgreSQL admin URL: one database "
                                            "per node (default: SQLite files)"),
               redis_url: str = typer.Option(None, help="Redis: arq workers per node"),
               enrol: bool = typer.Option(True, help="enrol every node with its parent"),
               base: Path = ClusterDir) -> None:
    """Start the subtree as `plansync serve` (and `worker`) processes; they keep running."""
    from node.lab.harness import ProcessCluster, pick

    try:
        codes = pick(root, depth, children)
    except KeyError as e:
        fail(str(e))
        return
    if (base / "cluster.json").exists():
        fail(f"{base} already holds a cluster: `plansync cluster down --dir {base}` first")

    def progress(i: int, n: int, what: str) -> None:
        typer.echo(f"  [{i}/{n}] {what}")

    async def go() -> Any:
        c = await ProcessCluster.create(base, codes, pg_admin=pg_admin, redis_url=redis_url,
                                        progress=progress)
        try:
            await c.start_all(progress=progress)
            if enrol:
                await c.enrol_all(progress=progress)
        except BaseException:  # leave nothing running behind a failed start
            c.stop_all()
            typer.secho(f"错误 error: cluster start failed; every process it started was "
                        f"stopped. Logs: {base}/<code>/serve.log; remove with "
                        f"`plansync cluster down --dir {base} --purge`",
                        fg=typer.colors.RED, err=True)
            raise
        c.save()
        return c

    c = run(go)
    typer.echo(f"集群已启动 cluster up: {len(c.members)} nodes in {base}")


@cluster_app.command("status")
def cluster_status(base: Path = ClusterDir) -> None:
    """Each node's readiness, outbox and address."""
    from node.lab.harness import ProcessCluster

    c = ProcessCluster.load(base)
    for m in c.members.values():
        typer.echo(f"{m.code} {m.name:<10} {m.level:<8} {m.url:<24} {m.state()}")


@cluster_app.command("down")
def cluster_down(base: Path = ClusterDir,
                 purge: bool = typer.Option(False, help="also delete data and databases")) -> None:
    """Stop the cluster's processes (and with --purge remove its data)."""
    import shutil

    from node.lab.harness import ProcessCluster

    c = ProcessCluster.load(base)
    n = c.down()
    if purge:
        run(c.drop_databases)
        shutil.rmtree(base, ignore_errors=True)
    else:
        (base / "cluster.json").rename(base / "cluster.stopped.json")
    typer.echo(f"集群已停止 cluster down: signalled {n} processes")


def demo(
    keep: bool = typer.Option(False, "--keep", help="leave the node processes running"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    workdir: Path = typer.Option(None, help="keep data here instead of a temp directory"),
) -> None:
    """Run a real province → city → county hierarchy on this machine and show it working."""
    from node.lab.demo import run_demo

    try:
        run(lambda: run_demo(keep=keep, as_json=as_json, workdir=workdir))
    except RuntimeError as e:
        fail(str(e), 1)
