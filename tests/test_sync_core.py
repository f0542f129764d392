"""The protocol core without a node: canonical JSON, signatures, schemas, routing."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

import sync
from sync import Directory, ErrorCode, KeyInfo, Rejected, Signer, canonical, seal


def test_rfc8785_canonical_form() -> None:
    # RFC 8785 §3.2.2/3.2.3: sorted keys, no whitespace, ECMAScript number form
    assert canonical({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'.encode()
    assert canonical({"n": 1.0, "m": 1e21, "s": "\u2028"}) == \
        '{"m":1e+21,"n":1,"s":"\u2028"}'.encode()
    assert canonical({"\u20ac": 1, "\r": 2}) == '{"\\r":2,"€":1}'.encode()


def test_sign_verify_and_tamper() -> None:
    s = Signer.generate()
    sig = s.sign(b"hello")
    assert sync.verify_signature(s.public_key, sig, b"hello")
    assert not sync.verify_signature(s.public_key, sig, b"hellO")
    assert not sync.verify_signature(Signer.generate().public_key, sig, b"hello")
    assert not sync.verify_signature(s.public_key, "not-base64!", b"hello")


def test_ids_are_unique_and_time_ordered() -> None:
    ids = [sync.new_id() for _ in range(2000)]
    assert len(set(ids)) == 2000
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)  # ms prefix never decreases


@pytest.mark.parametrize("type_name", sorted(sync.known_types()))
def test_every_type_has_examples_that_validate(type_name: str) -> None:
    schema = sync.type_schema(type_name)
    assert schema["x-direction"] in ("up", "down", "both")
    assert schema.get("examples"), f"{type_name} needs at least one example"
    for ex in schema["examples"]:
        sync.validate_body(type_name, ex)


def test_envelope_schema_example_validates() -> None:
    doc = json.loads((sync.schemas_dir() / "envelope.schema.json").read_text())
    for ex in doc["examples"]:
        sync.validate_envelope_shape(ex)
        sync.validate_body(ex["type"], ex["body"])


def test_schema_errors_name_the_json_pointer() -> None:
    with pytest.raises(Rejected) as e:
        sync.validate_body("plan.filing", {"plan_id": "x", "kind": "men", "version": 1,
                                           "title": "t", "released_on": "2022-01-01",
                                           "document": {}})
    assert e.value.code is ErrorCode.schema_violation and e.value.pointer == "/body/kind"


def _tree() -> tuple[Directory, dict[str, Signer]]:
    keys = {c: Signer.generate() for c in ("150000", "150600", "150603", "150602")}
    parents: dict[str, str | None] = {"150000": None, "150600": "150000", "150603": "150600",
                                      "150602": "150600"}
    d = Directory("150600", parents,
                  {(c, s.key_id): KeyInfo(s.public_key) for c, s in keys.items()})
    return d, keys


def test_routing_at_a_middle_node() -> None:
    d, keys = _tree()
    kw = {"directory": d, "max_body_bytes": 10_000, "max_skew": timedelta(minutes=5)}
    down = seal(signer=keys["150000"], origin="150000", type="framework.release",
                recipient="150000", scope="subtree",
                body=sync.type_schema("framework.release")["examples"][0])
    assert sync.verify(down, **kw) == sync.Route(True, False, ("150602", "150603"))
    up = seal(signer=keys["150603"], origin="150603", type="ledger.entry", recipient="150603",
              scope="ancestors", body=sync.type_schema("ledger.entry")["examples"][0])
    assert sync.verify(up, **kw) == sync.Route(True, True, ())
    to_prov = seal(signer=keys["150603"], origin="150603", type="plan.filing",
                   recipient="150000", body=sync.type_schema("plan.filing")["examples"][0])
    assert sync.verify(to_prov, **kw) == sync.Route(False, True, ())
