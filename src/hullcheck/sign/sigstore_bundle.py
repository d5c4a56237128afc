"""Keyless Sigstore bundles (v0.1-v0.3), verified with sigstore-python.

cosign 3 (and ``--new-bundle-format``) attach a bundle
``application/vnd.dev.sigstore.bundle.v0.3+json`` to an image as an OCI referrer: a DSSE
envelope of an in-toto statement (an image signature has predicate
``https://sigstore.dev/cosign/sign/v1``; an attestation any other), or a message signature
over the manifest digest; a Fulcio certificate; one Rekor entry with its inclusion proof,
checkpoint and SET; optionally RFC 3161 timestamps.

``sigstore.verify.Verifier`` checks all of it offline against a trusted root: the times
(SET, timestamps), the chain at those times, the SCT, the log entry (inclusion proof,
checkpoint, SET) and its consistency with the signature, and the signature; the identity
is checked by hullcheck's ``IdentityPolicy`` through the verifier's policy hook. The in-toto
statement is parsed by ``sign.intoto`` (sigstore-python's own model requires Statement v1
and a subject name, which cosign's statements lack).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from hullcheck import untrusted
from hullcheck.errors import VerificationError
from hullcheck.sign.identity import signer_of
from hullcheck.sign.keyless_classic import check_identity
from hullcheck.sign.trustroot import TrustRoot
from hullcheck.signers import IdentityPolicy, Signer

if TYPE_CHECKING:
    from cryptography import x509

MAX_BUNDLE = 64 << 20
_MAX_REASON = 300


@dataclass(frozen=True, slots=True, kw_only=True)
class Verified:
    """A verified bundle: either a DSSE payload or the digest a message signature signs."""

    signer: Signer
    log_index: int
    integrated_time: dt.datetime | None  # None for entries with no SET (Rekor v2, timestamps)
    payload_type: str = ""
    payload: bytes = b""
    message_digest: bytes = b""  # SHA-256 of the signed message (a manifest)


class _Identity:
    """sigstore-python's ``VerificationPolicy``: hullcheck's identity check, so messages and
    the regexp and GitHub-claim semantics are cosign's."""

    def __init__(self, policies: tuple[IdentityPolicy, ...], what: str) -> None:
        self.policies = policies
        self.what = what

    def verify(self, cert: x509.Certificate) -> None:
        check_identity(signer_of(cert), self.policies, self.what)


def is_keyless(data: bytes) -> bool:
    """Whether bundle bytes carry a certificate (keyless) rather than a public-key hint."""
    try:
        doc = untrusted.json_object(data, what="bundle", error=VerificationError)
    except VerificationError:
        return False
    material = doc.get("verificationMaterial")
    return isinstance(material, dict) and ("certificate" in material
                                           or "x509CertificateChain" in material)


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= _MAX_REASON else text[:_MAX_REASON] + "…"


def _message_digest(doc: dict[str, Any], what: str) -> bytes:
    signature = doc.get("messageSignature")
    digest = signature.get("messageDigest") if isinstance(signature, dict) else None
    if not isinstance(digest, dict):
        raise VerificationError(f"{what}: bundle holds neither a DSSE envelope nor a message digest")
    if digest.get("algorithm") != "SHA2_256":
        raise VerificationError(f"{what}: bundle message digest is not SHA2_256")
    value = digest.get("digest")
    try:
        raw = base64.b64decode(value if isinstance(value, str) else "", validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != 32:
        raise VerificationError(f"{what}: bundle message digest is not a base64 SHA-256")
    return raw


def _log_entry(doc: dict[str, Any]) -> tuple[int, dt.datetime | None]:
    """logIndex and integratedTime of the (verified) bundle's one log entry (protobuf JSON:
    64-bit numbers as strings)."""
    material = doc.get("verificationMaterial")
    entries = material.get("tlogEntries") if isinstance(material, dict) else None
    entry = entries[0] if isinstance(entries, list) and entries else {}
    if not isinstance(entry, dict):
        return -1, None
    index, when = str(entry.get("logIndex", "")), str(entry.get("integratedTime", ""))
    integrated = (dt.datetime.fromtimestamp(int(when), tz=dt.UTC)
                  if when.isdigit() and 0 < int(when) < 1 << 40 else None)
    return (int(index) if index.isdigit() else -1), integrated


def verify(data: bytes, *, root: TrustRoot, policies: tuple[IdentityPolicy, ...],
           what: str) -> Verified:
    """Verify a keyless bundle's certificate, transparency log entry, timestamps, signature
    and signer; VerificationError (one line) when any of it fails."""
    from sigstore.errors import Error as SigstoreError
    from sigstore.hashes import Hashed
    from sigstore.models import Bundle
    from sigstore.verify import Verifier
    from sigstore_models.common.v1 import HashAlgorithm

    if len(data) > MAX_BUNDLE:
        raise VerificationError(f"{what}: bundle is {len(data)} bytes, too large")
    doc = untrusted.json_object(data, what=f"{what}: Sigstore bundle", error=VerificationError)
    if not is_keyless(data):
        raise VerificationError(f"{what}: the bundle is signed with a key, not a Fulcio "
                                "certificate; verify it with --key")
    digest = _message_digest(doc, what) if "dsseEnvelope" not in doc else b""
    try:
        bundle = Bundle.from_json(data)
        verifier = Verifier(trusted_root=root.sigstore())
        policy = _Identity(policies, what)
        if "dsseEnvelope" in doc:
            payload_type, payload = verifier.verify_dsse(bundle, policy)
        else:
            verifier.verify_artifact(Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest),
                                     bundle, policy)
            payload_type, payload = "", b""
        signer = signer_of(bundle.signing_certificate)
    except VerificationError:
        raise
    except (SigstoreError, ValueError) as exc:
        raise VerificationError(f"{what}: {_reason(exc)}") from None
    except Exception as exc:  # the library on hostile input: did not verify
        raise VerificationError(f"{what}: malformed bundle ({_reason(exc)})") from None
    index, integrated = _log_entry(doc)
    return Verified(signer=signer, log_index=index, integrated_time=integrated,
                    payload_type=payload_type, payload=payload, message_digest=digest)
