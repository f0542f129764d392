"""deploy/docker/Dockerfile, checked statically (Docker does not run on these machines, and
the image has not been built here): the stages, a non-root runtime, nothing fetched from a
CDN or piped into a shell, every copied path present in the checkout and let through by the
.dockerignore, settings consistent with where things are copied."""

from __future__ import annotations

import fnmatch
import io
import re
from typing import Any

import pytest
from dockerfile_parse import DockerfileParser

from tests.deploy.tools import DEPLOY
from tests.paths import ROOT

DOCKERFILE = DEPLOY / "docker" / "Dockerfile"
IGNORE = DEPLOY / "docker" / "Dockerfile.dockerignore"


def parse(text: str) -> DockerfileParser:
    return DockerfileParser(fileobj=io.BytesIO(text.encode()))


def stages(df: DockerfileParser) -> list[dict[str, Any]]:
    """[{image, name, instructions: [(INSTRUCTION, value)]}] with ARG defaults substituted."""
    args = {}
    out: list[dict[str, Any]] = []
    for ins in df.structure:
        kind, value = ins["instruction"], ins["value"]
        if kind == "ARG" and not out and "=" in value:
            k, v = value.split("=", 1)
            args[k] = v
        elif kind == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?", value, re.I)
            assert m
            image = re.sub(r"\$\{(\w+)\}", lambda g: args[g.group(1)], m.group(1))
            out.append({"image": image, "name": m.group(2), "instructions": []})
        elif kind != "COMMENT" and out:
            out[-1]["instructions"].append((kind, value))
    return out


def problems(text: str) -> list[str]:
    found: list[str] = []
    st = stages(parse(text))
    if len(st) < 2:
        return ["a multi-stage build is expected"]
    names = [s["name"] for s in st]
    console = [s for s in st if s["image"].startswith("node:20")]
    if not console or not any(k == "RUN" and "npm ci" in v
                              for k, v in console[0]["instructions"]):
        found.append("the console is built in a node:20 stage with `npm ci`")
    final = st[-1]
    if not re.match(r"python:3\.1[1-9]-slim", final["image"]):
        found.append(f"the runtime stage is a slim Python image, not {final['image']}")
    users = [v for k, v in final["instructions"] if k == "USER"]
    if not users or users[-1].split(":")[0] in ("root", "0"):
        found.append("the runtime runs as a non-root USER")
    kinds = {k for k, _ in final["instructions"]}
    for needed in ("HEALTHCHECK", "VOLUME", "ENTRYPOINT"):
        if needed not in kinds:
            found.append(f"the runtime has no {needed}")
    for s in st:
        for kind, value in s["instructions"]:
            if kind == "RUN" and re.search(r"\b(curl|wget)\b[^|]*\|\s*(ba|z|da)?sh\b", value):
                found.append(f"stage {s['name']}: a download piped into a shell: {value[:60]}")
            if kind in ("RUN", "ADD") and re.search(r"https?://", value):
                found.append(f"stage {s['name']}: fetches a URL (CDN?): {value[:60]}")
            if kind in ("COPY", "ADD"):
                m = re.match(r"--from=(\S+)", value)
                if m and m.group(1) not in names[:names.index(s["name"])]:
                    found.append(f"COPY --from={m.group(1)}: no earlier stage of that name")
    return found


def test_dockerfile_is_sound() -> None:
    assert problems(DOCKERFILE.read_text("utf-8")) == []


@pytest.mark.parametrize("edit, expect", [
    (lambda t: t.replace("USER 10001:10001", "USER root"), "non-root USER"),
    (lambda t: t.replace("RUN npm run build",
                         "RUN curl -fsSL https://deb.nodesource.com/setup_20.x | bash -"),
     "piped into a shell"),
    (lambda t: t.replace("RUN npm run build",
                         "RUN wget https://cdn.jsdelivr.net/npm/vue@3/dist/vue.js"), "CDN"),
    (lambda t: t.replace("node:20-bookworm-slim", "node:18-bookworm-slim"), "node:20"),
    (lambda t: t.replace("--from=console", "--from=konsole"), "no earlier stage"),
    (lambda t: re.sub(r"HEALTHCHECK[^\n]*\n[^\n]*\n", "", t), "no HEALTHCHECK"),
])
def test_the_checks_catch_mistakes(edit: Any, expect: str) -> None:
    found = problems(edit(DOCKERFILE.read_text("utf-8")))
    assert any(expect in p for p in found), found


def _ignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule: the last matching pattern wins (``!`` re-includes)."""
    ignored = False
    for pat in patterns:
        neg = pat.startswith("!")
        pat = pat.lstrip("!").rstrip("/")
        if (fnmatch.fnmatch(path, pat) or path.startswith(pat + "/") or pat == "**"
                or fnmatch.fnmatch(path, pat.replace("**/", "*/"))):
            ignored = not neg
    return ignored


def test_copied_paths_exist_and_are_in_the_context() -> None:
    patterns = [line.strip() for line in IGNORE.read_text("utf-8").splitlines()
                if line.strip() and not line.startswith("#")]
    for s in stages(parse(DOCKERFILE.read_text("utf-8"))):
        for kind, value in s["instructions"]:
            if kind != "COPY" or value.startswith("--from"):
                continue
            for src in value.split()[:-1]:
                path = src.rstrip("/")
                assert (ROOT / path).exists(), src
                assert not _ignored(path, patterns), f"{src} is excluded by the .dockerignore"
    # and what must stay out does
    for path in ("console/node_modules", "console/dist", ".venv", "plansync-data", "tests"):
        assert _ignored(path, patterns), path


def test_runtime_settings_match_the_copied_places() -> None:
    df = parse(DOCKERFILE.read_text("utf-8"))
    final = stages(df)[-1]["instructions"]
    assert ("COPY", f"--from=console /console/dist {df.envs['PLANSYNC_CONSOLE_DIR']}") in final
    volume = next(v for k, v in final if k == "VOLUME")
    assert df.envs["PLANSYNC_DATA_DIR"] in volume
    assert next(v for k, v in final if k == "ENTRYPOINT") == '["plansync"]'
