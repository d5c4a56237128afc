"""Sigstore bundles (v0.1-v0.3) as cosign 3 attaches them to images, key-based only.

    {"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json",
     "verificationMaterial":{"publicKey":{"hint":"<b64 sha256 of the DER key>"}},
     "dsseEnvelope":{"payload":"<b64>","payloadType":"application/vnd.in-toto+json",
                     "signatures":[{"sig":"<b64>"}]}}
or, instead of ``dsseEnvelope``,
     "messageSignature":{"messageDigest":{"algorithm":"SHA2_256","digest":"<b64>"},
                         "signature":"<b64>"}

Field order is protobuf JSON's (proto field numbers). Transparency-log entries and
certificates are carried by keyless bundles; hullcheck verifies signatures with a given key
and does not check a transparency log.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from hullcheck import untrusted
from hullcheck.errors import VerificationError
from hullcheck.sign import gojson
from hullcheck.sign.dsse import Envelope
from hullcheck.sign.keys import PublicKey

MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
MEDIA_TYPES = frozenset(
    {
        MEDIA_TYPE,
        "application/vnd.dev.sigstore.bundle+json;version=0.3",
        "application/vnd.dev.sigstore.bundle+json;version=0.2",
        "application/vnd.dev.sigstore.bundle+json;version=0.1",
    }
)
CONTENT_ANNOTATION = "dev.sigstore.bundle.content"
PREDICATE_ANNOTATION = "dev.sigstore.bundle.predicateType"
MAX_BUNDLE = 64 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class MessageSignature:
    digest: bytes  # SHA-256 of the signed message
    signature: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Bundle:
    media_type: str
    key_hint: str
    envelope: Envelope | None = None
    message: MessageSignature | None = None


def encode(key: PublicKey, envelope: Envelope) -> bytes:
    dsse: dict[str, Any] = {
        "payload": base64.b64encode(envelope.payload).decode("ascii"),
        "payloadType": envelope.payload_type,
        "signatures": [
            {"sig": base64.b64encode(s.sig).decode("ascii"), **({"keyid": s.keyid} if s.keyid else {})}
            for s in envelope.signatures
        ],
    }
    doc = {
        "mediaType": MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": key.hint}},
        "dsseEnvelope": dsse,
    }
    return gojson.dumps(doc)


def _b64(value: object, what: str, field: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationError(f"{what}: bundle has no {field}")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"{what}: bundle {field} is not base64") from None


def decode(data: bytes, *, what: str) -> Bundle:
    if len(data) > MAX_BUNDLE:
        raise VerificationError(f"{what}: bundle is {len(data)} bytes, too large")
    doc = untrusted.json_object(data, what=f"{what}: Sigstore bundle", error=VerificationError)
    kind = doc.get("mediaType")
    if not isinstance(kind, str) or kind not in MEDIA_TYPES:
        raise VerificationError(f"{what}: not a Sigstore bundle (mediaType {repr(kind)[:80]})")
    material = doc.get("verificationMaterial")
    public_key = material.get("publicKey") if isinstance(material, dict) else None
    hint = public_key.get("hint") if isinstance(public_key, dict) else ""
    envelope = message = None
    if "dsseEnvelope" in doc:
        envelope = Envelope.from_dict(doc["dsseEnvelope"], what=what)
    elif isinstance(doc.get("messageSignature"), dict):
        ms = doc["messageSignature"]
        md = ms.get("messageDigest")
        if not isinstance(md, dict) or md.get("algorithm") != "SHA2_256":
            raise VerificationError(f"{what}: bundle message digest is not SHA2_256")
        message = MessageSignature(
            digest=_b64(md.get("digest"), what, "message digest"),
            signature=_b64(ms.get("signature"), what, "signature"),
        )
    else:
        raise VerificationError(f"{what}: bundle holds neither a DSSE envelope nor a message signature")
    return Bundle(
        media_type=str(doc["mediaType"]),
        key_hint=hint if isinstance(hint, str) else "",
        envelope=envelope,
        message=message,
    )
