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
               national: bool = typer.Option(False, "--national",
                                             help="the national node 000000 above the "
                                             "provinces (or pass --root 000000)"),
               base: Path = ClusterDir) -> None:
    """Start the subtree as `plansync serve` (and `worker`) processes; they keep running."""
    from node.lab.harness import ProcessCluster, pick

    try:
        codes = pick(root, depth, children, national=national)
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


STOPPED = "cluster.stopped.json"


def _load(base: Path) -> tuple[Any, bool]:
    """The cluster in ``base`` and whether it was stopped (`cluster down` without --purge);
    one `错误 error:` line if there is none."""
    import json

    from node.lab.harness import STATE, Member, ProcessCluster

    for name, stopped in ((STATE, False), (STOPPED, True)):
        path = base / name
        if not path.exists():
            continue
        try:
            data = json.loads(path.read_text("utf-8"))
            c = ProcessCluster(base=base, redis_url=data["redis_url"], pg_admin=data["pg_admin"])
            for m in data["members"]:
                c.members[m["code"]] = Member(**m)
        except (ValueError, KeyError, TypeError) as e:
            fail(f"{path} is damaged ({type(e).__name__}: {e}); stop its processes by hand "
                 f"and remove {base}")
        return c, stopped
    fail(f"没有集群 no cluster in {base}: it holds no {STATE} (nothing is running from it). "
         "Start one with `plansync cluster up --dir DIR`, or name the folder that "
         "`plansync demo --keep` printed with --dir")
    raise AssertionError


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    import os

    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _ours(pid: int, member: Any) -> bool:
    """The process is still this member's `plansync serve`/`worker` (pids get reused)."""
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return str(member.data_dir).encode() in cmd


def _wait_stopped(c: Any, timeout: float = 20) -> None:
    """Wait until the cluster's processes exited (SIGKILL those that would not)."""
    import os
    import signal
    import time

    pids = {pid: m for m in c.members.values() for pid in (m.pid, m.worker_pid)
            if pid and _ours(pid, m)}
    deadline = time.monotonic() + timeout
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid, m in pids.items():
        if _alive(pid) and _ours(pid, m):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)


@cluster_app.command("status")
def cluster_status(base: Path = ClusterDir) -> None:
    """Each node's readiness, outbox and address."""
    c, stopped = _load(base)
    if stopped:
        typer.echo(f"集群已停止 the cluster in {base} was stopped; remove its data with "
                   f"`plansync cluster down --dir {base} --purge`")
    for m in c.members.values():
        typer.echo(f"{m.code} {m.name:<10} {m.level:<8} {m.url:<24} {m.state()}")


@cluster_app.command("down")
def cluster_down(base: Path = ClusterDir,
                 purge: bool = typer.Option(False, help="also delete data and databases")) -> None:
    """Stop the cluster's processes (and with --purge remove its data)."""
    import shutil

    from node.lab.harness import STATE

    c, stopped = _load(base)
    n = 0 if stopped else c.down()
    _wait_stopped(c)  # nothing may still write into the folder being removed
    if purge:
        run(c.drop_databases)
        shutil.rmtree(base)
        typer.echo(f"集群已停止并删除 cluster down: signalled {n} processes; removed {base}")
        return
    if not stopped:
        (base / STATE).rename(base / STOPPED)
    typer.echo(f"集群已停止 cluster down: signalled {n} processes; its data stays in {base} "
               f"(remove it with `plansync cluster down --dir {base} --purge`)")


def demo(
    keep: bool = typer.Option(False, "--keep", help="leave the node processes running"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
    workdir: Path = typer.Option(None, help="keep data here instead of a temp directory"),
    national: bool = typer.Option(False, "--national", help="with the national node 000000 "
                                  "(国务院妇儿工委) above the province"),
) -> None:
    """Run a real province → city → county hierarchy on this machine and show it working."""
    from node.lab.demo import run_demo

    try:
        run(lambda: run_demo(keep=keep, as_json=as_json, workdir=workdir, national=national))
    except RuntimeError as e:
        fail(str(e), 1)
