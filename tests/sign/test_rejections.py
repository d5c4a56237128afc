"""What the sign room refuses, and the one line it says: Sigstore bundles (DSSE and message
signatures), DSSE envelopes, in-toto statements and simple-signing payloads that are not what
a signer wrote. A message-signature bundle (cosign 3 ``sign --new-bundle-format`` over the
manifest bytes) is stored as a referrer of a real OCI layout and verified end to end."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from hullcheck.errors import FormatError, ImageError, UsageError, VerificationError
from hullcheck.registry.media import OCI_EMPTY, OCI_MANIFEST
from hullcheck.sign import bundle, cosign, dsse, intoto, keys, simplesigning
from hullcheck.sign.store import open_target
from tests.fixtures.images import build, write

DIGEST = "sha256:" + "ab" * 32


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def one_line(exc: pytest.ExceptionInfo[Exception]) -> str:
    text = str(exc.value)
    assert "\n" not in text
    return text


@pytest.fixture(scope="module")
def key() -> keys.SigningKey:
    return keys.generate()


# -- Sigstore bundles -------------------------------------------------------------------------


def _message_bundle(md: Any = None, signature: Any = "c2ln") -> bytes:
    md = {"algorithm": "SHA2_256", "digest": b64(b"\x01" * 32)} if md is None else md
    return json.dumps({"mediaType": bundle.MEDIA_TYPE,
                       "verificationMaterial": {"publicKey": {"hint": "aGludA=="}},
                       "messageSignature": {"messageDigest": md, "signature": signature}}).encode()


@pytest.mark.parametrize("data, says", [
    (b"[]", "referrer: Sigstore bundle"),
    (b'{"mediaType": "application/json"}', "referrer: not a Sigstore bundle (mediaType 'application/json')"),
    (b'{"mediaType": 3}', "referrer: not a Sigstore bundle (mediaType 3)"),
    (json.dumps({"mediaType": bundle.MEDIA_TYPE}).encode(),
     "referrer: bundle holds neither a DSSE envelope nor a message signature"),
    (json.dumps({"mediaType": bundle.MEDIA_TYPE, "messageSignature": "sig"}).encode(),
     "referrer: bundle holds neither a DSSE envelope nor a message signature"),
    (_message_bundle(md={"algorithm": "SHA2_512", "digest": b64(b"\x01" * 64)}),
     "referrer: bundle message digest is not SHA2_256"),
    (_message_bundle(md="SHA2_256"), "referrer: bundle message digest is not SHA2_256"),
    (_message_bundle(md={"algorithm": "SHA2_256", "digest": "not base64!"}),
     "referrer: bundle message digest is not base64"),
    (_message_bundle(md={"algorithm": "SHA2_256"}), "referrer: bundle has no message digest"),
    (_message_bundle(signature=None), "referrer: bundle has no signature"),
    (_message_bundle(signature="%%%"), "referrer: bundle signature is not base64"),
    (json.dumps({"mediaType": bundle.MEDIA_TYPE, "dsseEnvelope": []}).encode(),
     "referrer: DSSE envelope is not a JSON object"),
], ids=["array", "other-media-type", "media-type-number", "empty", "message-not-object",
        "sha512", "digest-not-object", "digest-not-b64", "no-digest", "no-signature",
        "signature-not-b64", "envelope-array"])
def test_bundle_refused(data: bytes, says: str) -> None:
    with pytest.raises(VerificationError) as exc:
        bundle.decode(data, what="referrer")
    assert one_line(exc).startswith(says)


def test_bundle_too_large_is_refused_before_parsing() -> None:
    data = b" " * (bundle.MAX_BUNDLE + 1)
    with pytest.raises(VerificationError, match=r"^referrer: bundle is \d+ bytes, too large$"):
        bundle.decode(data, what="referrer")


@pytest.mark.parametrize("version", ["0.1", "0.2", "0.3"])
def test_bundle_media_types_of_every_version_decode(version: str) -> None:
    kind = f"application/vnd.dev.sigstore.bundle+json;version={version}"
    b = bundle.decode(_message_bundle().replace(bundle.MEDIA_TYPE.encode(), kind.encode()),
                      what="referrer")
    assert (b.media_type, b.key_hint, b.envelope) == (kind, "aGludA==", None)
    assert b.message == bundle.MessageSignature(digest=b"\x01" * 32, signature=b"sig")


def _push_message_bundle(tmp_path: Path, key: keys.SigningKey, *, signed: bytes | None = None,
                         digest_of_image: bool = False) -> str:
    """A layout image with a message-signature bundle referrer, as cosign 3 stores it: the
    signature over ``signed`` (the manifest), the digest of ``signed`` or of the manifest."""
    img = build({"etc/os-release": "ID=test\nVERSION_ID=msg\n"})
    ref = write(img, tmp_path / "msg")
    target = open_target(ref)
    manifest = target.store.manifest(target.digest).data
    signed = manifest if signed is None else signed
    digest = hashlib.sha256(manifest if digest_of_image else signed).digest()
    data = _message_bundle(md={"algorithm": "SHA2_256", "digest": b64(digest)},
                           signature=b64(key.sign(signed)))
    store = target.store
    store.put_blob(cosign.EMPTY_CONFIG)
    layer = store.put_blob(data)
    referrer = {
        "schemaVersion": 2, "mediaType": OCI_MANIFEST, "artifactType": bundle.MEDIA_TYPE,
        "config": {"mediaType": OCI_EMPTY, "size": len(cosign.EMPTY_CONFIG),
                   "digest": "sha256:" + hashlib.sha256(cosign.EMPTY_CONFIG).hexdigest()},
        "layers": [{"mediaType": bundle.MEDIA_TYPE, "size": len(data), "digest": layer}],
        "subject": target.subject(),
        "annotations": {bundle.CONTENT_ANNOTATION: "message-signature"},
    }
    store.put_referrer(json.dumps(referrer).encode(), OCI_MANIFEST)
    return ref


def test_a_message_signature_bundle_over_the_manifest_verifies(tmp_path: Path,
                                                               key: keys.SigningKey) -> None:
    ref = _push_message_bundle(tmp_path, key)
    v = cosign.verify_image(open_target(ref), key.public)
    assert (v.format, v.claims.type) == ("sigstore-bundle", "sigstore message signature")
    assert v.claims.manifest_digest == open_target(ref).digest
    with pytest.raises(VerificationError):
        cosign.verify_image(open_target(ref), keys.generate().public)


def test_a_message_signature_for_another_manifest_does_not_verify(tmp_path: Path,
                                                                  key: keys.SigningKey) -> None:
    other = b'{"schemaVersion":2}'
    ref = _push_message_bundle(tmp_path, key, signed=other)
    with pytest.raises(VerificationError) as exc:
        cosign.verify_image(open_target(ref), key.public)
    assert "digest mismatch, message signature is for sha256:" + hashlib.sha256(other).hexdigest() \
        in one_line(exc)


def test_a_message_signature_whose_digest_is_right_but_signature_is_not(
        tmp_path: Path, key: keys.SigningKey) -> None:
    # The digest names this image; the signature is over other bytes.
    ref = _push_message_bundle(tmp_path, key, signed=b"something else", digest_of_image=True)
    with pytest.raises(VerificationError) as exc:
        cosign.verify_image(open_target(ref), key.public)
    assert "digest mismatch" not in one_line(exc)


# -- DSSE envelopes ---------------------------------------------------------------------------


@pytest.mark.parametrize("doc, says", [
    ("[]", "att: DSSE envelope is not a JSON object"),
    ({"payload": "e30="}, "att: DSSE envelope without payloadType or payload"),
    ({"payloadType": "x", "payload": 1}, "att: DSSE envelope without payloadType or payload"),
    ({"payloadType": "x", "payload": "e30="}, "att: DSSE envelope has no signatures"),
    ({"payloadType": "x", "payload": "e30=", "signatures": []}, "att: DSSE envelope has no signatures"),
    ({"payloadType": "x", "payload": "e30=", "signatures": ["sig"]},
     "att: DSSE signature entry without 'sig'"),
    ({"payloadType": "x", "payload": "e30=", "signatures": [{"sig": 5}]},
     "att: DSSE signature entry without 'sig'"),
    ({"payloadType": "x", "payload": "e30=", "signatures": [{"sig": "a"}]},
     "att: DSSE signature is not base64"),
    ({"payloadType": "x", "payload": "abcde", "signatures": [{"sig": "c2ln"}]},
     "att: DSSE payload is not base64"),
], ids=["array", "no-type", "payload-number", "no-signatures", "empty-signatures",
        "signature-string", "sig-number", "sig-not-b64", "payload-not-b64"])
def test_envelope_refused(doc: object, says: str) -> None:
    data = doc.encode() if isinstance(doc, str) else json.dumps(doc).encode()
    with pytest.raises(VerificationError) as exc:
        dsse.Envelope.from_json(data, what="att")
    assert one_line(exc) == says


def test_envelope_too_large_and_url_safe_base64() -> None:
    with pytest.raises(VerificationError, match=r"^att: envelope is \d+ bytes, too large$"):
        dsse.Envelope.from_json(b" " * (dsse.MAX_ENVELOPE + 1), what="att")
    # DSSE allows URL-safe base64 without padding: b"\xfb\xff" is "-_8" there, "+/8=" in standard.
    env = dsse.Envelope.from_json(json.dumps({"payloadType": "x", "payload": "-_8",
                                              "signatures": [{"sig": "-_8", "keyid": 7}]}).encode(),
                                  what="att")
    assert env.payload == b"\xfb\xff" and env.signatures[0] == dsse.Signature(keyid="", sig=b"\xfb\xff")


# -- in-toto statements -----------------------------------------------------------------------


def _statement(**fields: Any) -> bytes:
    doc: dict[str, Any] = {"_type": intoto.STATEMENT_V1, "predicateType": "https://example.com/p",
                           "subject": [{"name": "r", "digest": {"sha256": "ab" * 32}}],
                           "predicate": {}}
    doc.update(fields)
    return json.dumps({k: v for k, v in doc.items() if v is not None}).encode()


@pytest.mark.parametrize("data, says", [
    (b"[1]", "att: statement"),
    (_statement(_type="https://in-toto.io/Statement/v2"),
     "att: not an in-toto statement (_type 'https://in-toto.io/Statement/v2')"),
    (_statement(_type=7), "att: not an in-toto statement (_type 7)"),
    (_statement(predicateType=""), "att: statement has no predicateType"),
    (_statement(predicateType=["x"]), "att: statement has no predicateType"),
    (_statement(subject=[]), "att: statement has no subject"),
    (_statement(subject={"name": "r"}), "att: statement has no subject"),
    (_statement(subject=[{"name": "r", "digest": {"sha256": "AB" * 32}}]),
     "att: subject has an invalid sha256 '" + "AB" * 32 + "'"),
    (_statement(subject=[{"name": "r", "digest": {"sha256": "ab" * 32 + "/../x"}}]),
     "att: subject has an invalid sha256"),
], ids=["array", "v2", "type-number", "empty-predicate-type", "predicate-type-list",
        "no-subjects", "subject-object", "upper-hex", "hex-with-tail"])
def test_statement_refused(data: bytes, says: str) -> None:
    with pytest.raises(VerificationError) as exc:
        intoto.parse(data, what="att")
    assert one_line(exc).startswith(says)


def test_statement_keeps_only_sha256_subjects_and_reads_v01() -> None:
    s = intoto.parse(_statement(_type="https://in-toto.io/Statement/v0.1", subject=[
        {"name": "by-sha512", "digest": {"sha512": "cd" * 64}},
        "not an object",
        {"digest": {"sha256": "ab" * 32}},
        {"name": "r", "digest": {"sha256": "ef" * 32}},
    ]), what="att")
    assert s.type == "https://in-toto.io/Statement/v0.1"
    assert s.subjects == (intoto.Subject(name="", sha256="ab" * 32),
                          intoto.Subject(name="r", sha256="ef" * 32))


def test_predicate_types_and_statement_subjects() -> None:
    assert intoto.predicate_type("slsaprovenance02") == "https://slsa.dev/provenance/v0.2"
    assert intoto.predicate_type("https://example.com/p") == "https://example.com/p"
    with pytest.raises(UsageError, match="unknown attestation type 'sbom'") as exc:
        intoto.predicate_type("sbom")
    assert "cyclonedx" in (exc.value.hint or "")
    with pytest.raises(UsageError, match="only sha256 subjects are supported"):
        intoto.statement("r", "sha512:" + "ab" * 64, "https://example.com/p", {})
    with pytest.raises(FormatError, match=r"^p\.json: predicate"):
        intoto.load_predicate(b"{unclosed", what="p.json")


# -- simple-signing payloads ------------------------------------------------------------------


def _payload(critical: Any, optional: Any = None) -> bytes:
    return json.dumps({"critical": critical, "optional": optional}).encode()


def _critical(**fields: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"identity": {"docker-reference": "r"},
                           "image": {"docker-manifest-digest": DIGEST},
                           "type": simplesigning.SIGNATURE_TYPE}
    doc.update(fields)
    return {k: v for k, v in doc.items() if v is not None}


@pytest.mark.parametrize("data, says", [
    (b"null", "sig: payload"),
    (json.dumps({"optional": None}).encode(), "sig: payload has no 'critical' section"),
    (_payload("critical"), "sig: payload has no 'critical' section"),
    (_payload(_critical(image=None)), "sig: payload names no docker-manifest-digest"),
    (_payload(_critical(image="sha256:x")), "sig: payload names no docker-manifest-digest"),
    (_payload(_critical(image={"docker-manifest-digest": 5})),
     "sig: payload names no docker-manifest-digest"),
    (_payload(_critical(image={"docker-manifest-digest": DIGEST + "/../../etc/passwd"})),
     "sig: payload has an invalid digest"),
], ids=["null", "no-critical", "critical-string", "no-image", "image-string", "digest-number",
        "digest-with-tail"])
def test_payload_refused(data: bytes, says: str) -> None:
    with pytest.raises(VerificationError) as exc:
        simplesigning.parse(data, what="sig")
    assert one_line(exc).startswith(says)


def test_payload_too_large() -> None:
    with pytest.raises(VerificationError, match=r"^sig: payload is \d+ bytes, too large$"):
        simplesigning.parse(b" " * (simplesigning.MAX_PAYLOAD + 1), what="sig")


def test_payload_field_names_as_go_reads_them_and_optional_values() -> None:
    # Go's json matches field names case-insensitively; values are kept as written.
    claims = simplesigning.parse(_payload(
        {"Identity": {"Docker-Reference": "reg/repo"}, "IMAGE": {"Docker-Manifest-Digest": DIGEST},
         "type": simplesigning.SIGNATURE_TYPE},
        optional={"z": "last", "a": {"nested": [1]}, "n": 3}), what="sig")
    assert (claims.docker_reference, claims.manifest_digest) == ("reg/repo", DIGEST)
    assert claims.optional == (("a", '{"nested": [1]}'), ("n", "3"), ("z", "last"))
    no_identity = simplesigning.parse(_payload(_critical(identity={"docker-reference": 1})),
                                      what="sig")
    assert no_identity.docker_reference == "" and no_identity.optional == ()


# -- what is written, and multi-signature envelopes (mutation testing found these open) ---------


@pytest.mark.parametrize("keyid", ["", "k1"])
def test_a_bundle_is_written_in_cosigns_layout(key: keys.SigningKey, keyid: str) -> None:
    envelope = dsse.sign(b'{"x":1}', key, keyid=keyid)
    doc = json.loads(bundle.encode(key.public, envelope))
    signature = {"sig": b64(envelope.signatures[0].sig)} | ({"keyid": keyid} if keyid else {})
    assert doc == {
        "mediaType": bundle.MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key.public.hint}},
        "dsseEnvelope": {"payload": b64(b'{"x":1}'), "payloadType": dsse.INTOTO_PAYLOAD_TYPE,
                         "signatures": [signature]},
    }


def test_an_envelope_verifies_when_any_of_its_signatures_is_by_the_key(key: keys.SigningKey) -> None:
    other = keys.generate()
    by_other, by_key = dsse.sign(b"p", other), dsse.sign(b"p", key)
    both = dsse.Envelope(payload_type=by_key.payload_type, payload=b"p",
                         signatures=(*by_other.signatures, *by_key.signatures))
    assert dsse.verify(both, key.public, what="e") == b"p"
    with pytest.raises(VerificationError, match="no DSSE signature verifies with key"):
        dsse.verify(by_other, key.public, what="e")


@pytest.mark.parametrize("material", [{}, {"publicKey": "k"}, {"publicKey": {"hint": 3}}])
def test_a_bundle_without_a_readable_key_hint_has_an_empty_one(material: object) -> None:
    doc = json.loads(_message_bundle())
    doc["verificationMaterial"] = material
    assert bundle.decode(json.dumps(doc).encode(), what="b").key_hint == ""
    assert bundle.decode(_message_bundle(), what="b").key_hint == "aGludA=="


def test_envelope_key_ids_and_url_safe_base64_read_back() -> None:
    doc = {"payloadType": "t", "payload": "-__-",  # b"\xfb\xff\xfe" in URL-safe base64
           "signatures": [{"keyid": "k1", "sig": "c2ln"}, {"keyid": 7, "sig": "c2ln"}, {"sig": "c2ln"}]}
    envelope = dsse.Envelope.from_dict(doc, what="e")
    assert envelope.payload == b"\xfb\xff\xfe"
    assert [s.keyid for s in envelope.signatures] == ["k1", "", ""]
    assert dsse.sign(b"p", keys.generate()).signatures[0].keyid == ""


def test_a_statement_as_written_and_its_subject_digest_checked() -> None:
    digest = "sha256:" + "ab" * 32
    assert json.loads(intoto.statement("reg/app", digest, "https://t", {"a": 1})) == {
        "_type": intoto.STATEMENT_V1, "subject": [{"name": "reg/app", "digest": {"sha256": "ab" * 32}}],
        "predicateType": "https://t", "predicate": {"a": 1}}
    with pytest.raises(ImageError) as caught:
        intoto.statement("reg/app", "sha256:xyz", "https://t", {})
    assert str(caught.value) == "invalid subject digest 'sha256:xyz': expected sha256:<64 hex digits>"


@pytest.mark.parametrize("identity", ["r", None, ["r"]])
def test_a_payload_whose_identity_is_no_object_names_no_reference(identity: Any) -> None:
    claims = simplesigning.parse(_payload(_critical(identity=identity) | (
        {"identity": identity} if identity is None else {})), what="sig")
    assert claims.docker_reference == "" and claims.manifest_digest == DIGEST


def test_optional_values_that_are_not_strings_read_back_as_sorted_json() -> None:
    claims = simplesigning.parse(_payload(_critical(), {"b": {"y": 1, "x": [2]}, "a": "s", "c": 3}),
                                 what="sig")
    assert claims.optional == (("a", "s"), ("b", '{"x": [2], "y": 1}'), ("c", "3"))


def test_a_payload_is_only_written_for_a_valid_manifest_digest() -> None:
    with pytest.raises(ImageError) as caught:
        simplesigning.payload("reg/app", DIGEST + "/../x")
    assert str(caught.value).startswith("invalid manifest digest ")


def test_an_unknown_attestation_type_lists_the_known_names() -> None:
    with pytest.raises(UsageError) as caught:
        intoto.predicate_type("sbom")
    assert str(caught.value) == "unknown attestation type 'sbom'"
    names = sorted(intoto.PREDICATE_TYPES)
    assert "cyclonedx" in names and "spdxjson" in names
    assert caught.value.hint == f"use one of {', '.join(names)} or a predicate type URI"
