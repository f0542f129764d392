"""The shared pieces of the node's OpenAPI document: wire types for times, dates and division
codes, named components, and the documented error answers. Every layer's ``schemas.py`` builds on
these (the protocol's as well as the domains' and the office API's in ``node.api_schemas``), so
they import nothing of the node but pydantic."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, WithJsonSchema

REF = "#/components/schemas/"
CODE_PATTERN = r"^([1-9][0-9]{5}|000000)$"  # GB/T 2260 division code (000000: national)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

# ---- wire types -------------------------------------------------------------------------------

Timestamp = Annotated[str, WithJsonSchema({
    "type": "string", "format": "date-time",
    "description": "RFC 3339, UTC, milliseconds, e.g. 2022-06-10T07:59:00.000Z"})]
IsoDate = Annotated[str, WithJsonSchema({"type": "string", "format": "date",
                                         "description": "ISO 8601 date, e.g. 2022-06-10"})]
NodeCode = Annotated[str, WithJsonSchema({"type": "string", "pattern": CODE_PATTERN,
                                          "description": "GB/T 2260 division code"})]


NAMED = "x-plansync-component"


def named(name: str) -> dict[str, Any]:
    """For ``WithJsonSchema``: the value is described by the component ``name`` (node.app
    adds it). A placeholder that :func:`resolve_named` turns into a ``$ref``: pydantic looks
    up every ``$ref`` it meets among its own models."""
    return {NAMED: name}


def resolve_named(node: Any) -> Any:
    """``node`` with every :func:`named` placeholder turned into a ``$ref``."""
    if isinstance(node, dict):
        out = {k: resolve_named(v) for k, v in node.items() if k != NAMED}
        if NAMED in node:
            out = {"$ref": REF + node[NAMED], **out}
        return out
    if isinstance(node, list):
        return [resolve_named(v) for v in node]
    return node


def model_components(*models: type[BaseModel]) -> dict[str, Any]:
    """JSON Schemas of models FastAPI does not see (bodies read by hand), as components."""
    out: dict[str, Any] = {}
    for model in models:
        schema = model.model_json_schema(ref_template=REF + "{model}")
        out.update(schema.pop("$defs", {}))
        out[model.__name__] = schema
    resolved: dict[str, Any] = resolve_named(out)
    return resolved


def one_of(values: Any) -> dict[str, Any]:
    """``json_schema_extra`` of a string the service checks itself (with its own message):
    the document still lists the values it takes."""
    return {"enum": [str(v) for v in values]}


# ---- documented error answers (node.app puts the Error schema in the document) ----------------

ERROR_TEXT = {
    400: "请求无效 Invalid request (the message names the field)",
    401: "未登录 Sign in first: no API token, or an unknown or revoked one",
    403: "无权限 The role (or the presented token) does not allow this",
    404: "不存在 Not found",
    409: "冲突 The request collides with the current state",
    413: "过大 The request is too large",
    429: "尝试过多 Too many failed attempts; retry after Retry-After seconds",
    503: "暂不可用 Unavailable for now; retry later",
}
ERROR_CONTENT = {"application/json": {"schema": {"$ref": REF + "Error"}}}


def errors(*codes: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` of a route: the error answers it may give, each the common Error shape
    (``{"error": {"code", "message"}}``). 400 is added to every operation by node.app."""
    out: dict[int | str, dict[str, Any]] = {}
    for code in codes:
        resp: dict[str, Any] = {"description": ERROR_TEXT[code], "content": ERROR_CONTENT}
        if code == 429:
            resp["headers"] = {"Retry-After": {
                "description": "seconds until the next attempt is taken",
                "schema": {"type": "integer", "minimum": 1}}}
        out[code] = resp
    return out


SIGNED_IN = errors(401)  # any signed-in user
ROLE_CHECKED = errors(401, 403)  # a signed-in user whose role allows it
