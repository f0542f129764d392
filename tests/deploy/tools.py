"""Shared by the deploy tests: where the deployment files are, and the rule for a missing tool
(skipped with a loud summary line; a failure with CI=true, as for services in tests/services)."""

from __future__ import annotations

import shutil

from tests import services
from tests.paths import ROOT

DEPLOY = ROOT / "deploy"
HERE = ROOT / "tests" / "deploy"


def need(tool: str, path: str | None = None) -> str:
    """The path of ``tool`` (or the given absolute path), else skip/fail loudly."""
    found = shutil.which(tool) or (path if path and shutil.which(path) else None)
    if found is None:
        services._missing(tool, f"{tool} is not installed: its checks of deploy/ did not run")
    assert found is not None
    return found


def settings_errors(values: dict[str, str]) -> list[str]:
    """What the node's Settings say about these PLANSYNC_* values (an example file's)."""
    from pydantic import ValidationError

    from node.config import Settings

    fields = {k.removeprefix("PLANSYNC_").lower(): v for k, v in values.items()
              if k.startswith("PLANSYNC_")}
    unknown = sorted(f"PLANSYNC_{k.upper()}" for k in fields if k not in Settings.model_fields)
    try:
        Settings(**fields)  # type: ignore[arg-type]
    except ValidationError as e:
        return unknown + [str(err["msg"]) for err in e.errors()]
    return unknown


def env_file(text: str) -> dict[str, str]:
    return dict(line.split("=", 1) for line in text.splitlines()
                if "=" in line and not line.lstrip().startswith("#"))
