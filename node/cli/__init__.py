"""The `plansync` command line (typer).

One module per command group; every command calls the same service function as the
endpoint, never the HTTP layer. Shared options and helpers are in ``node.cli.common``.
The whole command tree is assembled here, in the order `plansync --help` lists it.
"""

from __future__ import annotations

import sys

import typer

from node import __version__
from node.cli import (
    audit,
    children,
    cluster,
    filings,
    framework,
    keys,
    outbox,
    plan,
    report,
    users,
)
from node.cli import node as node_cmds

app = typer.Typer(help="plansync — one node of the women's and children's plan sync network "
                       "(妇女儿童发展规划同步节点)", no_args_is_help=True)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"plansync {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                 help="print the version and exit"),
) -> None:
    pass


app.command()(node_cmds.init)
app.command()(node_cmds.serve)
app.command()(node_cmds.worker)
app.command()(node_cmds.enroll)
app.command()(cluster.demo)
app.command("aggregate")(report.aggregate_cmd)
app.command("warnings")(report.warnings_cmd)
app.add_typer(node_cmds.db_app, name="db")
app.add_typer(users.users_app, name="users")
app.add_typer(audit.audit_app, name="audit")
app.add_typer(children.children_app, name="children")
app.add_typer(keys.keys_app, name="keys")
app.add_typer(outbox.outbox_app, name="outbox")
app.add_typer(plan.plan_app, name="plan")
app.add_typer(framework.framework_app, name="framework")
app.add_typer(filings.filings_app, name="filings")
app.add_typer(report.report_app, name="report")
app.add_typer(cluster.cluster_app, name="cluster")


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        sys.exit(130)
