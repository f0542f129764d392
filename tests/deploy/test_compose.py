"""deploy/compose: valid against the Compose specification's JSON Schema (vendored, see
tests/deploy/README.md), and put together as the docs say: every referenced service exists,
volumes are named, PostgreSQL, Redis and the API have health checks, the API and the
workers wait for the one-shot migration, every ${VAR} has an example value."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from tests.deploy.tools import DEPLOY, HERE, env_file, settings_errors

COMPOSE = DEPLOY / "compose" / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "compose" / ".env.example"


def load(path: Path = COMPOSE) -> dict[str, Any]:
    doc = yaml.safe_load(path.read_text("utf-8"))  # resolves the `<<: *plansync` merges
    assert isinstance(doc, dict)
    return doc


def schema_errors(doc: dict[str, Any]) -> list[str]:
    schema = json.loads((HERE / "compose_spec.json").read_text("utf-8"))
    # it declares draft 2019-09 (as `…/schema#`, a spelling jsonschema does not look up)
    assert schema["$schema"].startswith("http://json-schema.org/draft/2019-09/schema")
    cls = jsonschema.Draft201909Validator
    cls.check_schema(schema)
    v = cls(schema, format_checker=cls.FORMAT_CHECKER)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in v.iter_errors(doc)]


def problems(doc: dict[str, Any]) -> list[str]:
    """What the schema cannot say: references, named volumes, health checks, start order."""
    out: list[str] = []
    services: dict[str, Any] = doc.get("services", {})
    declared = set(doc.get("volumes") or {})
    for name, svc in services.items():
        deps = svc.get("depends_on") or {}
        for dep, cond in (deps.items() if isinstance(deps, dict) else ((d, {}) for d in deps)):
            if dep not in services:
                out.append(f"{name}: depends on unknown service {dep}")
                continue
            condition = (cond or {}).get("condition")
            if condition == "service_healthy" and "test" not in (
                    services[dep].get("healthcheck") or {}):
                out.append(f"{name}: waits for {dep} to be healthy, which has no healthcheck")
        for vol in svc.get("volumes") or []:
            source = vol.split(":", 1)[0] if isinstance(vol, str) else vol.get("source", "")
            if source.startswith((".", "/", "~")):
                out.append(f"{name}: bind mount {source}: use a named volume")
            elif source not in declared:
                out.append(f"{name}: volume {source} is not declared under volumes:")
    for name in ("postgres", "redis", "api"):
        hc = (services.get(name) or {}).get("healthcheck") or {}
        if "test" not in hc or hc.get("disable"):
            out.append(f"{name}: no healthcheck")
    migrate = services.get("migrate") or {}
    if migrate.get("command") != ["db", "upgrade"]:
        out.append("migrate: must run `plansync db upgrade`")
    for name in ("api", "worker"):
        cond = ((services.get(name) or {}).get("depends_on") or {}).get("migrate") or {}
        if cond.get("condition") != "service_completed_successfully":
            out.append(f"{name}: must start after the migration completed")
        if ((services.get(name) or {}).get("deploy") or {}).get("replicas", 1) < 2:
            out.append(f"{name}: the layout runs at least two replicas")
    return out


def test_compose_file_is_valid_against_the_compose_spec() -> None:
    doc = load()
    assert schema_errors(doc) == []
    assert problems(doc) == []
    assert set(doc["services"]) == {"postgres", "redis", "migrate", "api", "worker"}
    assert doc["services"]["api"]["command"][0] == "serve"
    assert doc["services"]["worker"]["command"] == ["worker"]


@pytest.mark.parametrize("breakage, expect", [
    (lambda d: d["services"]["api"].update(replicas="two"), "replicas"),
    (lambda d: d["services"]["redis"]["healthcheck"].update(interval=5), "interval"),
    (lambda d: d.update(nonsense=1), "nonsense"),
    (lambda d: d["services"]["worker"].update(restart_policy="always"), "restart_policy"),
])
def test_the_schema_check_catches_mistakes(breakage: Any, expect: str) -> None:
    doc = copy.deepcopy(load())
    breakage(doc)
    errors = schema_errors(doc)
    assert errors and any(expect in e for e in errors), errors


@pytest.mark.parametrize("breakage, expect", [
    (lambda d: d["services"]["api"]["depends_on"].update(cache={"condition": "service_started"}),
     "unknown service cache"),
    (lambda d: d["services"]["worker"].update(volumes=["./data:/var/lib/plansync"]),
     "bind mount ./data"),
    (lambda d: d["volumes"].pop("redis-data"), "redis-data is not declared"),
    (lambda d: d["services"]["postgres"].pop("healthcheck"), "postgres: no healthcheck"),
    (lambda d: d["services"]["worker"]["depends_on"].pop("migrate"), "worker: must start after"),
])
def test_the_layout_check_catches_mistakes(breakage: Any, expect: str) -> None:
    doc = copy.deepcopy(load())
    breakage(doc)
    assert any(expect in p for p in problems(doc)), problems(doc)


def test_every_variable_has_an_example_value() -> None:
    text = COMPOSE.read_text("utf-8")
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)", text))
    example = {line.split("=", 1)[0] for line in ENV_EXAMPLE.read_text("utf-8").splitlines()
               if "=" in line and not line.lstrip().startswith("#")}
    assert used and used <= example, used - example
    assert "CHANGE-ME" in ENV_EXAMPLE.read_text("utf-8")  # example values, clearly marked


def test_example_settings_are_accepted_by_the_node() -> None:
    values = env_file(ENV_EXAMPLE.read_text("utf-8"))
    values.update(load()["x-plansync"]["environment"])
    values = {k: v for k, v in values.items() if "${" not in v}  # interpolated by compose
    assert settings_errors(values) == []
    assert settings_errors({"PLANSYNC_METRICS_TOKEN": "short"})  # the check can fail
    assert settings_errors({"PLANSYNC_NO_SUCH_SETTING": "1"}) == ["PLANSYNC_NO_SUCH_SETTING"]
