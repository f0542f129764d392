"""docs/protocol.md stays true: its examples validate and it lists every error code."""

from __future__ import annotations

import json
import re
from pathlib import Path

import sync

DOC = (Path(__file__).resolve().parent.parent / "docs" / "protocol.md").read_text()


def test_protocol_examples_validate() -> None:
    blocks = re.findall(r"```json (\S+)\n(.*?)```", DOC, re.S)
    assert len(blocks) >= 4
    for tag, text in blocks:
        doc = json.loads(text)
        if tag == "envelope":
            sync.validate_envelope_shape(doc)
            sync.validate_body(doc["type"], doc["body"])
        else:
            sync.validate_body(tag.removeprefix("body:"), doc)


def test_every_error_code_is_documented() -> None:
    for code in sync.ErrorCode:
        assert f"| `{code.value}` |" in DOC, code


def test_every_type_is_documented() -> None:
    for t in sync.known_types():
        assert f"| `{t}` |" in DOC, t
