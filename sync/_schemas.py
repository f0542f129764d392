"""JSON Schemas of exchanged documents: found at run time, compiled once, cached.

``schemas/envelope.schema.json`` describes the envelope; ``schemas/types/<type>.schema.json``
describes the body of each envelope type and carries ``x-direction`` (``up``, ``down`` or
``both``): which way through the tree that type may travel.
"""

from __future__ import annotations

import json
from enum import StrEnum
from functools import cache
from pathlib import Path
from typing import Any

import fastjsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from ._errors import ErrorCode, Rejected


class Direction(StrEnum):
    up = "up"
    down = "down"
    both = "both"


def schemas_dir() -> Path:
    """The schemas folder: inside the installed package, or at the top of a checkout."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "schemas", here.parent / "schemas"):
        if (candidate / "envelope.schema.json").is_file():
            return candidate
    raise FileNotFoundError("plansync JSON Schemas not found (expected sync/schemas or schemas/)")


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@cache
def envelope_validator() -> Draft202012Validator:
    schema = _load(schemas_dir() / "envelope.schema.json")
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@cache
def _fast(name: str) -> Any:
    """fastjsonschema-compiled validator: the quick gate on the hot path. When it refuses a
    document, the reference validator (jsonschema) explains why, with a JSON pointer."""
    if name == "envelope":
        return fastjsonschema.compile(_load(schemas_dir() / "envelope.schema.json"))
    return fastjsonschema.compile(_type_schemas()[name])


def _passes(name: str, doc: Any) -> bool:
    try:
        _fast(name)(doc)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


@cache
def _type_schemas() -> dict[str, dict[str, Any]]:
    out = {}
    for path in sorted((schemas_dir() / "types").glob("*.schema.json")):
        name = path.name.removesuffix(".schema.json")
        schema = _load(path)
        Draft202012Validator.check_schema(schema)
        out[name] = schema
    return out


@cache
def body_validator(type_name: str) -> Draft202012Validator:
    schema = _type_schemas()[type_name]
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def known_types() -> frozenset[str]:
    return frozenset(_type_schemas())


def direction_of(type_name: str) -> Direction:
    return Direction(_type_schemas()[type_name]["x-direction"])


def type_schema(type_name: str) -> dict[str, Any]:
    return _type_schemas()[type_name]


def _pointer(path: Any) -> str:
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def validate_envelope_shape(doc: Any) -> None:
    """Raise ``Rejected(invalid_envelope)`` naming the failing field's JSON pointer."""
    if _passes("envelope", doc):
        return
    err = best_match(envelope_validator().iter_errors(doc))
    if err is None:
        raise Rejected(ErrorCode.invalid_envelope, "envelope does not match its schema")
    else:
        pointer = _pointer(err.absolute_path)
        raise Rejected(ErrorCode.invalid_envelope, f"{pointer or '/'}: {err.message}", pointer)


def validate_body(type_name: str, body: Any) -> None:
    """Raise ``Rejected(schema_violation)`` naming the failing field's JSON pointer."""
    if type_name not in known_types():
        raise Rejected(ErrorCode.unknown_type, f"unknown envelope type {type_name!r}")
    if _passes(type_name, body):
        return
    err = best_match(body_validator(type_name).iter_errors(body))
    if err is None:
        raise Rejected(ErrorCode.schema_violation, f"body does not match {type_name}", "/body")
    else:
        pointer = "/body" + _pointer(err.absolute_path)
        raise Rejected(ErrorCode.schema_violation, f"{pointer}: {err.message}", pointer)
