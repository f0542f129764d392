"""The `plansync` command line (typer).

One module per command group; every command calls the same service function as the
endpoint, never the HTTP layer. Shared options and helpers are in ``node.cli.common``.
The whole command tree is assembled here, in the order `plansync --help` lists it.
"""

from __future__ import annotations

import os
import sys

import typer
import typer.main

from node import __version__
from node.cli import (
    audit,
    backup,
    children,
    cluster,
    document,
    evaluation,
    filings,
    framework,
    keys,
    outbox,
    plan,
    reminders,
    report,
    tasks,
    units,
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
    debug: bool = typer.Option(False, "--debug", help="show the Python traceback of an "
                               "unexpected error (developers; or PLANSYNC_DEBUG=1)"),
) -> None:
    pass


app.command()(node_cmds.init)
app.command()(node_cmds.serve)
app.command()(node_cmds.worker)
app.command()(node_cmds.enroll)
app.command()(cluster.demo)
app.command("aggregate")(report.aggregate_cmd)
app.command("warnings")(report.warnings_cmd)
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)
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
app.add_typer(units.units_app, name="units")
app.add_typer(tasks.tasks_app, name="tasks")
report.report_app.command("document")(document.report_document)
app.add_typer(reminders.reminders_app, name="reminders")
app.add_typer(evaluation.evaluation_app, name="evaluation")
app.add_typer(cluster.cluster_app, name="cluster")


DEBUG_ENV = "PLANSYNC_DEBUG"


def main(argv: list[str] | None = None) -> None:
    """The `plansync` entry point. A person never sees a traceback: usage mistakes and every
    error the CLI knows (node.cli.common.explain) print one `错误 error:` line; anything else
    prints one line pointing to a log file with the details. Developers get the traceback
    with ``--debug`` (anywhere on the command line) or ``PLANSYNC_DEBUG=1``."""
    from typer._click import exceptions as click  # typer's own copy of click

    from node.cli.common import explain

    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args or os.environ.get(DEBUG_ENV, "") not in ("", "0", "false")
    args = [a for a in args if a != "--debug"]
    command = typer.main.get_command(app)
    try:
        rv = command.main(args=args, prog_name="plansync", standalone_mode=False)
    except click.NoArgsIsHelpError as e:
        e.show()  # the group's help, as `plansync GROUP` always printed
        sys.exit(e.exit_code)
    except click.UsageError as e:
        where = e.ctx.command_path if e.ctx is not None else "plansync"
        _error(f"{' '.join(e.format_message().split())} (see `{where} --help`)")
        sys.exit(e.exit_code)
    except click.ClickException as e:
        _error(" ".join(e.format_message().split()))
        sys.exit(e.exit_code)
    except (KeyboardInterrupt, typer.Abort):
        sys.exit(130)
    except Exception as e:
        if debug:
            raise
        known = explain(e)
        if known is not None:
            _error(" ".join(known.split()))
            sys.exit(1)
        _error(f"意外错误 unexpected error: {type(e).__name__}: {' '.join(str(e).split())[:300]}"
               f" — details in {_crash_log(e)}; run again with --debug to see them")
        sys.exit(1)
    sys.exit(rv if isinstance(rv, int) else 0)


def _error(line: str) -> None:
    typer.secho(f"错误 error: {line}", fg=typer.colors.RED, err=True)


def _crash_log(exc: BaseException) -> str:
    """Write the traceback of an unexpected error to a file; return its path."""
    import tempfile
    import time
    import traceback

    path = f"{tempfile.gettempdir()}/plansync-error-{time.strftime('%Y%m%d-%H%M%S')}-" \
           f"{os.getpid()}.log"
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(f"plansync {__version__}: {' '.join(sys.argv)}\n")
            traceback.print_exception(exc, file=f)
    except OSError:
        return "(no log: the temp folder is not writable)"
    return path
