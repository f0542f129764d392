"""deploy/k8s: every overlay renders with `kubectl kustomize` and every rendered manifest is
valid against the Kubernetes schemas (kubernetes-validate, strict: unknown fields refused),
offline. Then what a schema cannot say: probes on /healthz and /readyz, selectors that match,
references that resolve, a non-root read-only container, an example-only Secret."""

from __future__ import annotations

import copy
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from tests.deploy.tools import DEPLOY, need, settings_errors

K8S = DEPLOY / "k8s"
OVERLAYS = sorted(p for p in (K8S / "overlays").iterdir() if p.is_dir())
# the oldest Kubernetes still supported upstream, and the newest the package knows
VERSIONS = ["1.31.0", kubernetes_validate.latest_version()]


def render(overlay: Path) -> list[dict[str, Any]]:
    kubectl = need("kubectl", "/usr/bin/kubectl")
    p = subprocess.run([kubectl, "kustomize", str(overlay)], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return [d for d in yaml.safe_load_all(p.stdout) if d]


def schema_errors(docs: list[dict[str, Any]], version: str) -> list[str]:
    out = []
    for d in docs:
        try:
            kubernetes_validate.validate(d, version, strict=True)
        except kubernetes_validate.ValidationError as e:
            out.append(f"{d.get('kind')}/{d.get('metadata', {}).get('name')}: {e.message} "
                       f"at {'/'.join(map(str, e.path))}")
    return out


def by_kind(docs: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in docs}


def problems(docs: list[dict[str, Any]]) -> list[str]:
    out: list[str] = []
    res = by_kind(docs)
    kinds = {k for k, _ in res}
    for kind in ("Deployment", "Job", "Service", "PodDisruptionBudget",
                 "HorizontalPodAutoscaler", "ConfigMap", "Secret", "Namespace"):
        if kind not in kinds:
            out.append(f"no {kind}")
    namespaces = {d["metadata"].get("namespace") for d in docs if d["kind"] != "Namespace"}
    if len(namespaces) != 1 or None in namespaces:
        out.append(f"every resource in one namespace, not {namespaces}")
    api = res.get(("Deployment", "plansync-api"))
    worker = res.get(("Deployment", "plansync-worker"))
    job = res.get(("Job", "plansync-migrate"))
    if not (api and worker and job):
        return out + ["plansync-api, plansync-worker and plansync-migrate are needed"]
    labels = api["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in selector.items())

    c = api["spec"]["template"]["spec"]["containers"][0]
    if c.get("livenessProbe", {}).get("httpGet", {}).get("path") != "/healthz":
        out.append("api: liveness probe must be GET /healthz")
    if c.get("readinessProbe", {}).get("httpGet", {}).get("path") != "/readyz":
        out.append("api: readiness probe must be GET /readyz")
    if c["args"][0] != "serve" or worker["spec"]["template"]["spec"]["containers"][0][
            "args"] != ["worker"]:
        out.append("api runs `plansync serve`, worker `plansync worker`")
    if job["spec"]["template"]["spec"]["containers"][0]["args"] != ["db", "upgrade"]:
        out.append("the Job runs `plansync db upgrade`")
    svc = res.get(("Service", "plansync"))
    if not svc or not selects(svc["spec"]["selector"]):
        out.append("the Service does not select the API pods")
    for d in docs:
        if d["kind"] == "PodDisruptionBudget" and not selects(
                d["spec"]["selector"]["matchLabels"]):
            out.append("the PodDisruptionBudget does not select the API pods")
        if d["kind"] == "HorizontalPodAutoscaler":
            ref = d["spec"]["scaleTargetRef"]
            if (ref["kind"], ref["name"]) not in res:
                out.append(f"the HPA scales {ref['name']}, which is not rendered")
            if d["spec"]["minReplicas"] > d["spec"]["maxReplicas"]:
                out.append("HPA minReplicas > maxReplicas")
    for d in (api, worker, job):
        name = d["metadata"]["name"]
        pod = d["spec"]["template"]["spec"]
        if not pod.get("securityContext", {}).get("runAsNonRoot"):
            out.append(f"{name}: pods must run as non-root")
        for ct in pod["containers"]:
            sc = ct.get("securityContext", {})
            if sc.get("allowPrivilegeEscalation") is not False or not sc.get(
                    "readOnlyRootFilesystem"):
                out.append(f"{name}: no privilege escalation, read-only root filesystem")
            for src in ct.get("envFrom", []):
                ref = src.get("configMapRef") or src.get("secretRef")
                kind = "ConfigMap" if "configMapRef" in src else "Secret"
                if (kind, ref["name"]) not in res:
                    out.append(f"{name}: {kind} {ref['name']} is not rendered")
        for vol in pod.get("volumes", []):
            if "configMap" in vol and ("ConfigMap", vol["configMap"]["name"]) not in res:
                out.append(f"{name}: ConfigMap {vol['configMap']['name']} is not rendered")
            if "secret" in vol and ("Secret", vol["secret"]["secretName"]) not in res:
                out.append(f"{name}: Secret {vol['secret']['secretName']} is not rendered")
    for d in docs:
        if d["kind"] == "Secret":
            values = " ".join(str(v) for v in d.get("stringData", {}).values())
            if "EXAMPLE" not in values or "example-only" not in str(d["metadata"]):
                out.append(f"Secret {d['metadata']['name']}: values must be marked examples")
    return out


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.name for p in OVERLAYS])
def test_overlay_renders_and_validates(overlay: Path) -> None:
    docs = render(overlay)
    for version in VERSIONS:
        assert schema_errors(docs, version) == [], version
    assert problems(docs) == []


def test_overlays_differ_where_they_should() -> None:
    small, ha = (by_kind(render(K8S / "overlays" / n)) for n in ("county-small", "province-ha"))
    assert small[("Deployment", "plansync-api")]["spec"]["replicas"] == 1
    assert ha[("Deployment", "plansync-api")]["spec"]["replicas"] >= 3
    assert ha[("PodDisruptionBudget", "plansync-api")]["spec"]["minAvailable"] >= 2
    node = yaml.safe_load(small[("ConfigMap", "plansync-node")]["data"]["node.json"])
    assert node["level"] == "county" and node["parent_url"]
    from node.config import build_config

    build_config({**node, "data_dir": "/var/lib/plansync",  # a node.json the node accepts
                  "database_url": "postgresql+asyncpg://u@h/db"})


def test_the_checks_catch_mistakes() -> None:
    docs = render(K8S / "overlays" / "province-ha")
    broken = copy.deepcopy(docs)
    api = next(d for d in broken if d["kind"] == "Deployment" and
               d["metadata"]["name"] == "plansync-api")
    api["spec"]["template"]["spec"]["containers"][0]["livenessProbe"]["httpGet"]["pth"] = "/"
    api["spec"]["replicas"] = "three"
    errors = schema_errors(broken, VERSIONS[-1])
    assert any("pth" in e for e in errors) or any("three" in e for e in errors), errors
    broken = copy.deepcopy(docs)
    api = next(d for d in broken if d["kind"] == "Deployment" and
               d["metadata"]["name"] == "plansync-api")
    api["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["path"] = "/"
    api["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/component"] = "web"
    found = problems(broken)
    assert "api: readiness probe must be GET /readyz" in found
    assert "the Service does not select the API pods" in found


@pytest.mark.parametrize("overlay", OVERLAYS, ids=[p.name for p in OVERLAYS])
def test_rendered_settings_are_accepted_by_the_node(overlay: Path) -> None:
    res = by_kind(render(overlay))
    values = {**res[("ConfigMap", "plansync-settings")]["data"],
              **{k: v for k, v in res[("Secret", "plansync-secrets")]["stringData"].items()
                 if k.startswith("PLANSYNC_")}}
    assert settings_errors(values) == []
