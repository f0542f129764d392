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
    assert not sync.verify_signature(s.public_key, sig[:10], b"hello")  # truncated
    assert not sync.verify_signature("AAAA", sig, b"hello")  # not a 32-byte key
    # verification (libsodium) and signing (OpenSSL) agree on RFC 8032 test vector 1
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    seed = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
    pk = sync.b64u_encode(bytes.fromhex(
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"))
    sig1 = Ed25519PrivateKey.from_private_bytes(seed).sign(b"")
    assert sig1.hex().startswith("e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065")
    assert sync.verify_signature(pk, sync.b64u_encode(sig1), b"")


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
    assert sync.verify(down, **kw).route == sync.Route(True, False, ("150602", "150603"))
    up = seal(signer=keys["150603"], origin="150603", type="ledger.entry", recipient="150603",
              scope="ancestors", body=sync.type_schema("ledger.entry")["examples"][0])
    assert sync.verify(up, **kw).route == sync.Route(True, True, ())
    to_prov = seal(signer=keys["150603"], origin="150603", type="plan.filing",
                   recipient="150000", body=sync.type_schema("plan.filing")["examples"][0])
    assert sync.verify(to_prov, **kw).route == sync.Route(False, True, ())


def _random_doc(rng, depth: int = 0):  # type: ignore[no-untyped-def]
    kinds = ["int", "str", "bool", "null", "float", "bigint"] + (["list", "dict"] * 2
                                                                 if depth < 4 else [])
    k = rng.choice(kinds)
    if k == "int":
        return rng.randint(-10**9, 10**9)
    if k == "bigint":
        return rng.choice([2**53, -(2**53) + 1, 10**15, 12345678901234567])
    if k == "float":
        return rng.choice([0.5, 98.5, 1e21, 1e-7, 1.0, -0.0, 123456789012345680000.0, 1e16,
                           0.0001, 3.14159, 5e-324, 1.7976931348623157e308])
    if k == "str":
        alphabet = "ab\"\\\n\t\x01\x1f\u2028€妇女儿童\U0001f600\ue000"
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
    if k == "bool":
        return rng.random() < 0.5
    if k == "null":
        return None
    if k == "list":
        return [_random_doc(rng, depth + 1) for _ in range(rng.randint(0, 4))]
    keys = ["a", "b", "é", "\ue000", "\U0001f600", "Z", "10", "1", "妇女", "\r"]
    return {rng.choice(keys): _random_doc(rng, depth + 1) for _ in range(rng.randint(0, 5))}


def test_fast_canonical_agrees_with_the_reference() -> None:
    import random

    import rfc8785

    from sync._canonical import canonical_reference

    rng = random.Random(8785)
    checked = 0
    for _ in range(3000):
        doc = _random_doc(rng)
        try:
            ref = canonical_reference(doc)
        except rfc8785.CanonicalizationError:
            continue
        assert canonical(doc) == ref, doc
        checked += 1
    assert checked > 1000
    # a realistic envelope takes the fast path and still matches
    s = Signer.generate()
    env = seal(signer=s, origin="150603", type="plan.filing", recipient="150600",
               body=sync.type_schema("plan.filing")["examples"][0])
    assert canonical(env) == canonical_reference(env)


def test_fast_schema_gate_agrees_with_jsonschema() -> None:
    from jsonschema import Draft202012Validator

    from sync._schemas import _passes

    for name in sorted(sync.known_types()):
        schema = sync.type_schema(name)
        ref = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        docs = list(schema["examples"])
        for ex in schema["examples"]:
            for key in ex:
                broken = dict(ex)
                broken[key] = {"wrong": [1]}
                docs.append(broken)
                missing = dict(ex)
                del missing[key]
                docs.append(missing)
            docs.append({**ex, "unexpected": 1})
        for doc in docs:
            assert _passes(name, doc) == ref.is_valid(doc), (name, doc)
