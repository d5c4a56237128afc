"""in-toto Statement v1: subjects (name + sha256 digest), a predicate type, a predicate.

    {"_type":"https://in-toto.io/Statement/v1",
     "subject":[{"name":"<repository>","digest":{"sha256":"<hex>"}}],
     "predicateType":"<URI>","predicate":{...}}

Statements are built once as bytes (the predicate is embedded from the bytes the user gave,
re-encoded only by parsing it as JSON once) and parsed only after their envelope verified.
Statement v0.1 (what cosign 1.x/2.x attest) is accepted when reading.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hullcheck import untrusted
from hullcheck.digest import parse_digest
from hullcheck.errors import FormatError, ImageError, UsageError, VerificationError
from hullcheck.sign import gojson

STATEMENT_V1 = "https://in-toto.io/Statement/v1"
STATEMENT_TYPES = frozenset({STATEMENT_V1, "https://in-toto.io/Statement/v0.1"})

# cosign's --type names and the predicate types they stand for, as cosign maps them
# (pkg/cosign/attestation): plain "slsaprovenance" is SLSA v0.2, "slsaprovenance1" is v1.
PREDICATE_TYPES: dict[str, str] = {
    "cyclonedx": "https://cyclonedx.org/bom",
    "spdx": "https://spdx.dev/Document",
    "spdxjson": "https://spdx.dev/Document",
    "slsaprovenance": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance02": "https://slsa.dev/provenance/v0.2",
    "slsaprovenance1": "https://slsa.dev/provenance/v1",
    "openvex": "https://openvex.dev/ns",
    "vuln": "https://cosign.sigstore.dev/attestation/vuln/v1",
    "custom": "https://cosign.sigstore.dev/attestation/v1",
}
# The SBOM formats ``attest --sbom`` writes, by predicate type.
SBOM_FORMATS: dict[str, str] = {PREDICATE_TYPES["cyclonedx"]: "cyclonedx-json",
                                PREDICATE_TYPES["spdx"]: "spdx-json"}
COSIGN_SIGN_PREDICATE = "https://sigstore.dev/cosign/sign/v1"


def predicate_type(name_or_uri: str) -> str:
    """A predicate type URI from a cosign ``--type`` name or a URI."""
    if name_or_uri in PREDICATE_TYPES:
        return PREDICATE_TYPES[name_or_uri]
    if "://" in name_or_uri:
        return name_or_uri
    raise UsageError(
        f"unknown attestation type {name_or_uri!r}",
        hint=f"use one of {', '.join(sorted(PREDICATE_TYPES))} or a predicate type URI",
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Subject:
    name: str
    sha256: str  # hex


@dataclass(frozen=True, slots=True, kw_only=True)
class Statement:
    type: str
    subjects: tuple[Subject, ...]
    predicate_type: str
    predicate: Any  # decoded JSON


def statement(subject_name: str, subject_digest: str, ptype: str, predicate: Any) -> bytes:
    algo, hexpart = parse_digest(subject_digest, what="subject digest")
    if algo != "sha256":
        raise UsageError(f"subject digest {subject_digest}: only sha256 subjects are supported")
    doc = {
        "_type": STATEMENT_V1,
        "subject": [{"name": subject_name, "digest": {"sha256": hexpart}}],
        "predicateType": ptype,
        "predicate": predicate,
    }
    return gojson.dumps(doc)


def load_predicate(data: bytes, *, what: str) -> Any:
    return untrusted.json_document(data, what=f"{what}: predicate", error=FormatError)


def parse(data: bytes, *, what: str) -> Statement:
    """A statement from verified payload bytes; VerificationError when malformed."""
    doc = untrusted.json_object(data, what=f"{what}: statement", error=VerificationError)
    kind = doc.get("_type")
    if not isinstance(kind, str) or kind not in STATEMENT_TYPES:
        raise VerificationError(f"{what}: not an in-toto statement (_type {kind!r:.80})")
    ptype = doc.get("predicateType")
    if not isinstance(ptype, str) or not ptype:
        raise VerificationError(f"{what}: statement has no predicateType")
    subjects = []
    raw_subjects = doc.get("subject")
    if not isinstance(raw_subjects, list) or not raw_subjects:
        raise VerificationError(f"{what}: statement has no subject")
    for s in raw_subjects:
        digest = s.get("digest") if isinstance(s, dict) else None
        hexpart = digest.get("sha256") if isinstance(digest, dict) else None
        if not isinstance(hexpart, str):
            continue  # subjects by other algorithms cannot match a sha256 image
        try:
            parse_digest(f"sha256:{hexpart}")
        except ImageError:
            raise VerificationError(f"{what}: subject has an invalid sha256 {hexpart!r}") from None
        name = s.get("name")
        subjects.append(Subject(name=name if isinstance(name, str) else "", sha256=hexpart))
    return Statement(
        type=kind, subjects=tuple(subjects), predicate_type=ptype, predicate=doc.get("predicate")
    )
