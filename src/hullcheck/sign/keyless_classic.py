"""cosign's classic keyless layout, verified offline: the part sigstore-python cannot do.

cosign 1.x/2.x store a keyless signature as a layer of the ``.sig`` (simple-signing payload)
or ``.att`` (DSSE envelope) manifest, with these annotations::

    dev.cosignproject.cosign/signature   base64 signature over the payload ("" for DSSE)
    dev.sigstore.cosign/certificate      the Fulcio leaf certificate (PEM)
    dev.sigstore.cosign/chain            its intermediates and root (PEM), optional
    dev.sigstore.cosign/bundle           the Rekor signed entry timestamp (SET):
        {"SignedEntryTimestamp":"<b64>",
         "Payload":{"body":"<b64 Rekor entry>","integratedTime":N,"logIndex":N,"logID":"<hex>"}}

sigstore-python 4.x verifies only Sigstore bundles whose log entry carries an inclusion proof
with a checkpoint; this layout carries the SET alone, so the steps are written out here with
``cryptography`` (X.509 path building, ECDSA) and ``rfc8785`` (the SET's canonical JSON):

1. the signature over the payload bytes (simple signing) or over the DSSE PAE, by the leaf key;
2. the SET, by the key of the Rekor log its ``logID`` names in the trusted root, at a time the
   log is trusted; it fixes the integrated time;
3. the leaf valid at that time and chaining to a Fulcio CA trusted then (KeyUsage digital
   signature, ExtendedKeyUsage code signing);
4. the embedded SCT, by a CT log of the trusted root (RFC 6962 precertificate entry);
5. the Rekor entry body (``hashedrekord`` or ``dsse`` 0.0.1) names this payload's hash, this
   signature and this certificate (and, for DSSE, the envelope's hash);
6. the identity, by the caller's ``IdentityPolicy``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import struct
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.certificate_transparency import LogEntryType
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
)
from cryptography.x509.verification import (
    VerificationError as X509VerificationError,
)

from hullcheck import untrusted
from hullcheck.errors import VerificationError
from hullcheck.sign import dsse, simplesigning
from hullcheck.sign.identity import signer_of
from hullcheck.sign.trustroot import TrustRoot
from hullcheck.signers import IdentityPolicy, Signer

SIGNATURE_ANNOTATION = "dev.cosignproject.cosign/signature"
CERTIFICATE_ANNOTATION = "dev.sigstore.cosign/certificate"
CHAIN_ANNOTATION = "dev.sigstore.cosign/chain"
BUNDLE_ANNOTATION = "dev.sigstore.cosign/bundle"

MAX_ANNOTATION = 256 << 10  # a certificate chain or a SET is a few KiB
MAX_CHAIN = 8  # certificates in a chain annotation


@dataclass(frozen=True, slots=True, kw_only=True)
class LogEntry:
    """The Rekor entry a verified SET vouches for."""

    log_index: int
    log_id: str  # hex
    integrated_time: dt.datetime
    log_url: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Proof:
    """What a verified classic keyless layer establishes."""

    signer: Signer
    entry: LogEntry


def has_certificate(annotations: Mapping[str, object]) -> bool:
    """Whether a layer is signed keylessly (it carries a Fulcio certificate)."""
    return bool(annotations.get(CERTIFICATE_ANNOTATION))


# -- small readers ---------------------------------------------------------------------------


def _annotation(annotations: Mapping[str, object], name: str, what: str) -> str:
    value = annotations.get(name)
    if not isinstance(value, str) or not value:
        raise VerificationError(f"{what}: layer has no {name} annotation")
    if len(value) > MAX_ANNOTATION:
        raise VerificationError(f"{what}: {name} annotation is too large")
    return value


def _b64(value: object, what: str, field: str) -> bytes:
    if not isinstance(value, str):
        raise VerificationError(f"{what}: {field} is missing")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise VerificationError(f"{what}: {field} is not base64") from None


def _certificates(pem: str, what: str, field: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem.encode("utf-8", errors="replace"))
    except ValueError:
        raise VerificationError(f"{what}: the {field} is not a PEM certificate") from None
    if not certs or len(certs) > MAX_CHAIN:
        raise VerificationError(f"{what}: the {field} holds {len(certs)} certificates")
    return certs


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _same_certificate(encoded: object, leaf: x509.Certificate, what: str, field: str) -> None:
    """``encoded`` (base64 of a PEM certificate, as Rekor bodies hold it) is ``leaf``."""
    pem = _b64(encoded, what, field)
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError:
        raise VerificationError(f"{what}: {field} in the Rekor entry is not a certificate") from None
    if len(certs) != 1 or _der(certs[0]) != _der(leaf):
        raise VerificationError(f"{what}: the Rekor entry names another certificate ({field})")


def _when(seconds: object, what: str) -> dt.datetime:
    if not isinstance(seconds, int) or isinstance(seconds, bool) or not 0 < seconds < 1 << 40:
        raise VerificationError(f"{what}: the SET has no valid integratedTime")
    return dt.datetime.fromtimestamp(seconds, tz=dt.UTC)


# -- the steps -------------------------------------------------------------------------------


def _check_signature(leaf: x509.Certificate, signature: bytes, message: bytes, what: str) -> None:
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise VerificationError(f"{what}: certificate key is {type(key).__name__}, not ECDSA")
    algorithm = hashes.SHA384() if key.curve.key_size >= 384 else hashes.SHA256()
    try:
        key.verify(signature, message, ec.ECDSA(algorithm))
    except InvalidSignature:
        raise VerificationError(
            f"{what}: signature does not verify with the certificate's key (modified payload?)"
        ) from None


def _check_set(bundle_text: str, root: TrustRoot, what: str) -> tuple[LogEntry, dict[str, object]]:
    """The Rekor entry (and its decoded body) a SET vouches for, once the SET verified."""
    import rfc8785

    doc = untrusted.json_object(bundle_text, what=f"{what}: Rekor bundle annotation",
                                error=VerificationError)
    payload = doc.get("Payload")
    if not isinstance(payload, dict):
        raise VerificationError(f"{what}: Rekor bundle annotation has no Payload")
    body, index, log_id = payload.get("body"), payload.get("logIndex"), payload.get("logID")
    integrated = _when(payload.get("integratedTime"), what)
    if not isinstance(body, str) or not isinstance(log_id, str) or not isinstance(index, int):
        raise VerificationError(f"{what}: the SET payload lacks body, logIndex or logID")
    try:
        log_key_id = bytes.fromhex(log_id)
    except ValueError:
        raise VerificationError(f"{what}: the SET's logID is not hex") from None
    log = root.rekor_log(log_key_id)
    if log is None:
        raise VerificationError(
            f"{what}: the SET is from a transparency log not in the trusted root "
            f"(logID {log_id[:64]}; trusted root {root.source})")
    canonical = rfc8785.dumps({"body": body, "integratedTime": payload["integratedTime"],
                               "logID": log_id, "logIndex": index})
    signed = _b64(doc.get("SignedEntryTimestamp"), what, "SignedEntryTimestamp")
    if not log.verifies(signed, canonical):
        raise VerificationError(f"{what}: the SET does not verify with the key of {log.url} "
                                f"(logIndex {index})")
    if not log.covers(integrated):
        raise VerificationError(f"{what}: the SET's time {integrated:%Y-%m-%dT%H:%M:%SZ} is "
                                f"outside the period {log.url} is trusted for")
    decoded = untrusted.json_object(_b64(body, what, "Rekor entry body"),
                                    what=f"{what}: Rekor entry body", error=VerificationError)
    entry = LogEntry(log_index=index, log_id=log_id, integrated_time=integrated, log_url=log.url)
    return entry, decoded


def _check_chain(leaf: x509.Certificate, chain: list[x509.Certificate], root: TrustRoot,
                 when: dt.datetime, what: str) -> list[x509.Certificate]:
    """The verified chain above ``leaf`` (issuer first), valid at ``when``."""
    if not leaf.not_valid_before_utc <= when <= leaf.not_valid_after_utc:
        raise VerificationError(
            f"{what}: certificate is valid {leaf.not_valid_before_utc:%Y-%m-%dT%H:%M:%SZ} to "
            f"{leaf.not_valid_after_utc:%Y-%m-%dT%H:%M:%SZ}, not at the Rekor integrated time "
            f"{when:%Y-%m-%dT%H:%M:%SZ}")
    anchors = root.fulcio_certificates(when)
    if not anchors:
        raise VerificationError(f"{what}: no Fulcio CA of the trusted root is valid at "
                                f"{when:%Y-%m-%dT%H:%M:%SZ}")
    # As sigstore-python: web-PKI defaults, except that Fulcio leaves carry code signing, not
    # client auth, in their ExtendedKeyUsage (checked below).
    eku = (x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    verifier = (PolicyBuilder().store(Store(anchors)).time(when)
                .extension_policies(ca_policy=ExtensionPolicy.webpki_defaults_ca().may_be_present(*eku),
                                    ee_policy=ExtensionPolicy.webpki_defaults_ee().may_be_present(*eku))
                .build_client_verifier())
    try:
        verified = verifier.verify(leaf, chain).chain[1:]
    except (X509VerificationError, x509.UnsupportedGeneralNameType, ValueError) as exc:
        raise VerificationError(f"{what}: certificate does not chain to a Fulcio CA of the "
                                f"trusted root at {when:%Y-%m-%dT%H:%M:%SZ} ({exc})") from None
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        extended = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    except x509.ExtensionNotFound:
        raise VerificationError(f"{what}: certificate lacks KeyUsage or ExtendedKeyUsage") from None
    if not usage.digital_signature or ExtendedKeyUsageOID.CODE_SIGNING not in extended:
        raise VerificationError(f"{what}: certificate is not for code signing")
    return verified


def _u24(n: int) -> bytes:
    return n.to_bytes(3, "big")


def _check_sct(leaf: x509.Certificate, issuer: x509.Certificate, root: TrustRoot, what: str) -> None:
    """One embedded SCT verifies with a CT log of the trusted root (RFC 6962 §3.2: the
    ``digitally-signed`` struct over the precertificate TBS and the issuer's key hash)."""
    try:
        scts = leaf.extensions.get_extension_for_class(
            x509.PrecertificateSignedCertificateTimestamps).value
    except x509.ExtensionNotFound:
        raise VerificationError(f"{what}: certificate has no embedded SCT") from None
    issuer_key_hash = hashlib.sha256(issuer.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)).digest()
    tbs = leaf.tbs_precertificate_bytes
    for sct in scts:
        log = root.ct_log(sct.log_id)
        if log is None or sct.entry_type != LogEntryType.PRE_CERTIFICATE:
            continue
        stamp = sct.timestamp.replace(tzinfo=dt.UTC)
        signed = (struct.pack(">BBQH", sct.version.value, 0, int(stamp.timestamp() * 1000), 1)
                  + issuer_key_hash + _u24(len(tbs)) + tbs
                  + struct.pack(">H", len(sct.extension_bytes)) + sct.extension_bytes)
        if log.verifies(sct.signature, signed) and log.covers(stamp):
            return
    raise VerificationError(f"{what}: no embedded SCT verifies with a CT log of the trusted root")


def _sha256_field(spec: object, what: str, field: str) -> str:
    value = spec.get("value") if isinstance(spec, dict) else None
    if not isinstance(spec, dict) or spec.get("algorithm") != "sha256" or not isinstance(value, str):
        raise VerificationError(f"{what}: the Rekor entry has no sha256 {field}")
    return value.lower()


def _check_hashedrekord(body: dict[str, object], leaf: x509.Certificate, signature: bytes,
                        payload: bytes, what: str) -> None:
    spec = body.get("spec")
    data = spec.get("data") if isinstance(spec, dict) else None
    sig = spec.get("signature") if isinstance(spec, dict) else None
    if not isinstance(data, dict) or not isinstance(sig, dict):
        raise VerificationError(f"{what}: the hashedrekord entry lacks data or signature")
    if _sha256_field(data.get("hash"), what, "data hash") != hashlib.sha256(payload).hexdigest():
        raise VerificationError(f"{what}: the Rekor entry is for another payload (hash differs)")
    if _b64(sig.get("content"), what, "Rekor signature") != signature:
        raise VerificationError(f"{what}: the Rekor entry holds another signature")
    key = sig.get("publicKey")
    _same_certificate(key.get("content") if isinstance(key, dict) else None, leaf, what,
                      "publicKey")


def _check_dsse_entry(body: dict[str, object], leaf: x509.Certificate, envelope: dsse.Envelope,
                      blob: bytes, what: str) -> None:
    spec = body.get("spec")
    if not isinstance(spec, dict):
        raise VerificationError(f"{what}: the dsse entry has no spec")
    if _sha256_field(spec.get("payloadHash"), what, "payloadHash") != hashlib.sha256(
            envelope.payload).hexdigest():
        raise VerificationError(f"{what}: the Rekor entry is for another payload (hash differs)")
    if _sha256_field(spec.get("envelopeHash"), what, "envelopeHash") != hashlib.sha256(
            blob).hexdigest():
        raise VerificationError(f"{what}: the Rekor entry is for another envelope (hash differs)")
    logged = spec.get("signatures")
    if not isinstance(logged, list) or len(logged) != len(envelope.signatures):
        raise VerificationError(f"{what}: the Rekor entry lists other signatures")
    for entry, signature in zip(logged, envelope.signatures, strict=True):
        if not isinstance(entry, dict) or _b64(entry.get("signature"), what,
                                               "Rekor signature") != signature.sig:
            raise VerificationError(f"{what}: the Rekor entry lists other signatures")
        _same_certificate(entry.get("verifier"), leaf, what, "verifier")


def verify_layer(*, blob: bytes, dsse_layer: bool, annotations: Mapping[str, object],
                 root: TrustRoot, policies: tuple[IdentityPolicy, ...],
                 what: str) -> tuple[str, bytes, Proof]:
    """The payload type and signed payload of a classic keyless layer (the simple-signing
    payload, or the DSSE envelope's payload) and what verified; VerificationError naming the
    failed step."""
    leaf, *chain = _certificates(_annotation(annotations, CERTIFICATE_ANNOTATION, what), what,
                                 "certificate")
    if annotations.get(CHAIN_ANNOTATION):
        chain += _certificates(_annotation(annotations, CHAIN_ANNOTATION, what), what,
                               "certificate chain")
    envelope: dsse.Envelope | None = None
    if dsse_layer:
        envelope = dsse.Envelope.from_json(blob, what=what)
        message = dsse.pae(envelope.payload_type, envelope.payload)
        problems = []
        for s in envelope.signatures:
            try:
                _check_signature(leaf, s.sig, message, what)
                break
            except VerificationError as exc:
                problems.append(str(exc))
        else:
            raise VerificationError(problems[0])
        payload_type, payload = envelope.payload_type, envelope.payload
        signature = b""
    else:
        signature = _b64(_annotation(annotations, SIGNATURE_ANNOTATION, what), what, "signature")
        _check_signature(leaf, signature, blob, what)
        payload_type, payload = simplesigning.MEDIA_TYPE, blob
    bundle = annotations.get(BUNDLE_ANNOTATION)
    if not isinstance(bundle, str) or not bundle:
        raise VerificationError(
            f"{what}: no Rekor SET ({BUNDLE_ANNOTATION}); a keyless signature is verified "
            "offline through its transparency-log entry")
    if len(bundle) > MAX_ANNOTATION:
        raise VerificationError(f"{what}: {BUNDLE_ANNOTATION} annotation is too large")
    entry, body = _check_set(bundle, root, what)
    verified = _check_chain(leaf, chain, root, entry.integrated_time, what)
    _check_sct(leaf, verified[0], root, what)
    kind, version = body.get("kind"), body.get("apiVersion")
    if kind == "hashedrekord" and version == "0.0.1" and envelope is None:
        _check_hashedrekord(body, leaf, signature, payload, what)
    elif kind == "dsse" and version == "0.0.1" and envelope is not None:
        _check_dsse_entry(body, leaf, envelope, blob, what)
    else:
        raise VerificationError(f"{what}: Rekor entry kind {str(kind)[:40]} {str(version)[:20]} "
                                f"is not supported for this layer")
    signer = signer_of(leaf)
    check_identity(signer, policies, what)
    return payload_type, payload, Proof(signer=signer, entry=entry)


def check_identity(signer: Signer, policies: tuple[IdentityPolicy, ...], what: str) -> None:
    """``signer`` meets one of ``policies``; VerificationError with the (first) reason else."""
    if not policies:
        raise VerificationError(f"{what}: no identity to accept was given")
    reasons = []
    for policy in policies:
        try:
            policy.check(signer, what=what)
            return
        except VerificationError as exc:
            reasons.append(str(exc))
    raise VerificationError(reasons[0] if len(reasons) == 1 else
                            f"{what}: signer {signer.identity} (issuer {signer.issuer}) is none "
                            f"of the {len(policies)} accepted identities")
