"""plansync sync protocol v1: envelopes, canonical JSON, signing, verification, transport.

This package imports nothing from FastAPI or ``node``; the node wires it into endpoints and
worker tasks. Everything public is listed in ``__all__``.
"""

from ._canonical import canonical, content_hash
from ._envelope import (
    PROTOCOL_VERSION,
    Directory,
    Envelope,
    KeyInfo,
    Recipient,
    Route,
    Verified,
    envelope_hash,
    route,
    route_outgoing,
    seal,
    signing_bytes,
    verify,
)
from ._errors import ErrorCode, PeerRejected, Rejected, SyncError, TransportError
from ._ids import format_ts, new_id, parse_ts, utcnow
from ._json import MAX_DEPTH, check_value, loads
from ._keys import Signer, b64u_decode, b64u_encode, key_id_of, verify_signature
from ._schemas import (
    Direction,
    direction_of,
    known_types,
    schemas_dir,
    type_schema,
    validate_body,
    validate_envelope_shape,
)
from ._transport import (
    HDR_DATE,
    HDR_KEY,
    HDR_NODE,
    HDR_SIG,
    SyncClient,
    backoff,
    sign_request,
    verify_request,
)

__all__ = [
    "HDR_DATE",
    "HDR_KEY",
    "HDR_NODE",
    "HDR_SIG",
    "MAX_DEPTH",
    "PROTOCOL_VERSION",
    "Direction",
    "Directory",
    "Envelope",
    "ErrorCode",
    "KeyInfo",
    "PeerRejected",
    "Recipient",
    "Rejected",
    "Route",
    "Signer",
    "SyncClient",
    "SyncError",
    "TransportError",
    "Verified",
    "b64u_decode",
    "b64u_encode",
    "backoff",
    "canonical",
    "check_value",
    "content_hash",
    "direction_of",
    "envelope_hash",
    "format_ts",
    "key_id_of",
    "loads",
    "known_types",
    "new_id",
    "parse_ts",
    "route",
    "route_outgoing",
    "schemas_dir",
    "seal",
    "sign_request",
    "signing_bytes",
    "type_schema",
    "utcnow",
    "validate_body",
    "validate_envelope_shape",
    "verify",
    "verify_request",
    "verify_signature",
]
