"""DSSE envelopes (Dead Simple Signing Envelope v1): sign the PAE of the payload bytes.

    PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body   (LEN: ASCII decimal)

Serialised as cosign writes it (Go struct order, base64 standard encoding)::

    {"payloadType":"application/vnd.in-toto+json","payload":"<b64>","signatures":[{"keyid":"","sig":"<b64>"}]}

The payload is kept as the exact bytes that were signed; verification decodes the
envelope, checks a signature over the PAE, and only then hands the payload on.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from hullcheck import untrusted
from hullcheck.errors import VerificationError
from hullcheck.sign import gojson
from hullcheck.sign.keys import PublicKey, SigningKey

MEDIA_TYPE = "application/vnd.dsse.envelope.v1+json"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
MAX_ENVELOPE = 64 << 20


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode("utf-8")
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


@dataclass(frozen=True, slots=True, kw_only=True)
class Signature:
    keyid: str
    sig: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Envelope:
    payload_type: str
    payload: bytes
    signatures: tuple[Signature, ...]

    def to_json(self) -> bytes:
        return gojson.dumps(self.to_dict())

    def to_dict(self) -> dict[str, Any]:
        return {
            "payloadType": self.payload_type,
            "payload": base64.b64encode(self.payload).decode("ascii"),
            "signatures": [
                {"keyid": s.keyid, "sig": base64.b64encode(s.sig).decode("ascii")}
                for s in self.signatures
            ],
        }

    @classmethod
    def from_json(cls, data: bytes, *, what: str) -> Envelope:
        if len(data) > MAX_ENVELOPE:
            raise VerificationError(f"{what}: envelope is {len(data)} bytes, too large")
        doc = untrusted.json_document(data, what=f"{what}: DSSE envelope", error=VerificationError)
        return cls.from_dict(doc, what=what)

    @classmethod
    def from_dict(cls, doc: object, *, what: str) -> Envelope:
        if not isinstance(doc, dict):
            raise VerificationError(f"{what}: DSSE envelope is not a JSON object")
        payload_type, payload, sigs = doc.get("payloadType"), doc.get("payload"), doc.get("signatures")
        if not isinstance(payload_type, str) or not isinstance(payload, str):
            raise VerificationError(f"{what}: DSSE envelope without payloadType or payload")
        if not isinstance(sigs, list) or not sigs:
            raise VerificationError(f"{what}: DSSE envelope has no signatures")
        signatures = []
        for s in sigs:
            if not isinstance(s, dict) or not isinstance(s.get("sig"), str):
                raise VerificationError(f"{what}: DSSE signature entry without 'sig'")
            keyid = s.get("keyid")
            signatures.append(
                Signature(
                    keyid=keyid if isinstance(keyid, str) else "", sig=_b64(s["sig"], what, "signature")
                )
            )
        return cls(
            payload_type=payload_type,
            payload=_b64(payload, what, "payload"),
            signatures=tuple(signatures),
        )


def _b64(text: str, what: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        try:  # DSSE allows URL-safe base64 too
            return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except (binascii.Error, ValueError):
            raise VerificationError(f"{what}: DSSE {field} is not base64") from None


def sign(
    payload: bytes, key: SigningKey, payload_type: str = INTOTO_PAYLOAD_TYPE, keyid: str = ""
) -> Envelope:
    return Envelope(
        payload_type=payload_type,
        payload=payload,
        signatures=(Signature(keyid=keyid, sig=key.sign(pae(payload_type, payload))),),
    )


def verify(envelope: Envelope, key: PublicKey, *, what: str) -> bytes:
    """The payload when one of the envelope's signatures verifies with ``key``."""
    message = pae(envelope.payload_type, envelope.payload)
    for s in envelope.signatures:
        try:
            key.verify(s.sig, message, what=what)
        except VerificationError:
            continue
        return envelope.payload
    raise VerificationError(
        f"{what}: no DSSE signature verifies with key {key.fingerprint} (wrong key or modified payload)"
    )
