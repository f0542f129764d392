"""What the /sync/v1 endpoints take and answer, for the OpenAPI document.

Those endpoints read their raw bodies on purpose (strict I-JSON, size limits, the protocol's
own error codes: node.protocol.endpoints), so the models here only document them: request
bodies go into ``openapi_extra``, answers into ``responses``. The envelope itself is
described by the protocol's JSON Schema (schemas/envelope.schema.json), added to the
document as the ``Envelope`` component by node.app (``components()``)."""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from node.protocol.enrol import BASE_URL_MAX, INVITE_NAME_MAX
from node.schema_types import REF, NodeCode, Timestamp, model_components, named, one_of
from sync import HDR_DATE, HDR_KEY, HDR_NODE, HDR_SIG, ErrorCode, schemas_dir

EnvelopeJson = Annotated[dict[str, Any], WithJsonSchema(named("Envelope"))]
KEY_ID = r"^[A-Za-z0-9_-]{16}$"


def envelope_schema() -> dict[str, Any]:
    """schemas/envelope.schema.json as an OpenAPI component: its ``$defs`` inlined (a
    component's local references would point into the OpenAPI document)."""
    raw: dict[str, Any] = json.loads((schemas_dir() / "envelope.schema.json")
                                     .read_text(encoding="utf-8"))
    defs = raw.pop("$defs", {})
    for key in ("$schema", "$id"):
        raw.pop(key, None)

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                return inline(defs[ref.removeprefix("#/$defs/")])
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    out: dict[str, Any] = inline(raw)
    out["description"] = ("a signed envelope (docs/protocol.md); its body is checked against "
                          "schemas/types/<type>.schema.json")
    return out


def components() -> dict[str, Any]:
    """Envelope, and the request bodies read by the endpoints themselves."""
    return {"Envelope": envelope_schema(), **model_components(EnrolRequest, AttestRequest)}


def body(schema: dict[str, Any], description: str) -> dict[str, Any]:
    """``openapi_extra`` of an endpoint that reads its JSON body itself."""
    return {"requestBody": {"required": True, "description": description,
                            "content": {"application/json": {"schema": schema}}}}


def model_body(model: type[BaseModel], description: str) -> dict[str, Any]:
    return body({"$ref": REF + model.__name__}, description)


def answer(model: type[BaseModel], description: str) -> dict[int | str, dict[str, Any]]:
    """``responses=`` entry of a 200 answer documented (not validated) by ``model``."""
    return {200: {"model": model, "description": description}}


ENVELOPES_BODY = body({
    "title": "EnvelopeBatch", "type": "object", "required": ["envelopes"],
    "properties": {"envelopes": {"type": "array", "items": {"$ref": REF + "Envelope"},
                                 "description": "at most max_batch (default 500) envelopes"}},
}, "a batch of envelopes, applied in order; at most 4 × max_body_bytes")

SIGNED_REQUEST = {"parameters": [
    {"name": h, "in": "header", "required": True, "schema": {"type": "string", **extra},
     "description": text}
    for h, extra, text in [
        (HDR_NODE, {"pattern": r"^[1-9][0-9]{5}$"}, "the calling child's code"),
        (HDR_KEY, {"pattern": KEY_ID}, "the id of the key that signed the request"),
        (HDR_DATE, {"format": "date-time"}, "when the request was signed (RFC 3339)"),
        (HDR_SIG, {}, "Ed25519 signature of the request (docs/protocol.md)"),
    ]]}


class ProtocolError(BaseModel):
    code: str = Field(json_schema_extra=one_of(ErrorCode))
    message: str
    pointer: str | None = Field(default=None, description="JSON pointer of the field at fault")


class EnvelopeResult(BaseModel):
    """One envelope's result: its receipt (accepted, or duplicate with the first receipt) or
    why it was rejected. A handler may add facts to the receipt (e.g. a filing's outcome)."""

    model_config = ConfigDict(extra="allow")

    id: str | None = Field(description="the envelope's id (null if it had none)")
    status: Literal["accepted", "duplicate", "rejected"]
    receiver: NodeCode | None = None
    received_at: Timestamp | None = None
    error: ProtocolError | None = None
    outcome: str | None = Field(default=None, description="a filing's outcome here")
    due_on: str | None = None
    late_days: int | None = None
    findings: int | None = Field(default=None, description="compliance findings (count)")
    epoch: str | None = Field(default=None, description="the receiver's outbox epoch; a new "
                              "one means it was restored from a backup (docs/protocol.md)")


class EnvelopeResults(BaseModel):
    results: list[EnvelopeResult] = Field(description="one per envelope, in order")


class Identity(BaseModel):
    code: NodeCode
    name: str
    level: Literal["national", "province", "city", "county"]
    public_key: str = Field(description="Ed25519 public key, base64url")
    key_id: str = Field(pattern=KEY_ID)
    protocol_version: int
    software_version: str


class FeedEntry(BaseModel):
    seq: int
    envelope: EnvelopeJson


class FeedPage(BaseModel):
    entries: list[FeedEntry]
    next_cursor: int = Field(description="pass as `after` next time")
    more: bool
    epoch: str | None = Field(default=None, description="this node's outbox epoch: cursors "
                              "hold within one epoch; a new one means read again from 0")


class EnrolRequest(BaseModel):
    """A child enrols with a one-time token; ``proof`` is its new key's signature over the
    token, its code and the key (node.protocol.enrol.proof_bytes)."""

    token: str = Field(max_length=200)
    code: NodeCode
    name: str = Field(min_length=1, max_length=INVITE_NAME_MAX)
    level: Literal["national", "province", "city", "county"]
    base_url: str | None = Field(default=None, max_length=BASE_URL_MAX,
                                 pattern=r"^https?://[^\s/]+\S*$")
    public_key: str = Field(pattern=r"^[A-Za-z0-9_-]{43}$")
    proof: str = Field(max_length=200, pattern=r"^[A-Za-z0-9_-]+$")


class KnownKey(BaseModel):
    key_id: str
    public_key: str
    valid_until: Timestamp | None


class Ancestor(BaseModel):
    code: NodeCode
    name: str
    level: Literal["national", "province", "city", "county"]
    parent: str | None
    keys: list[KnownKey]


class EnrolAnswer(BaseModel):
    parent: Identity
    ancestors: list[Ancestor] = Field(description="the parent and its ancestors, with keys")


class AttestRequest(BaseModel):
    subject: NodeCode = Field(description="this node or a node below it")
    nonce: str = Field(min_length=16, max_length=128, description="ASCII, chosen by the asker")


class Attestation(BaseModel):
    """A node's signed statement of the keys it holds for ``subject``."""

    model_config = ConfigDict(extra="allow")

    purpose: Literal["plansync-key-attestation"]
    attester: NodeCode
    key_id: str
    subject: NodeCode
    keys: list[str]
    nonce: str
    at: Timestamp
    signature: str


class AttestAnswer(BaseModel):
    attestations: list[Attestation] = Field(description="this node's, then its ancestors'")
