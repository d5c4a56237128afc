"""Who signed, keylessly: the identity a Fulcio certificate carries.

A Fulcio certificate names its signer in the Subject Alternative Name (an e-mail address, a
URI such as a GitHub Actions workflow ``https://github.com/ORG/REPO/.github/workflows/
release.yml@refs/tags/v1``, or Sigstore's "other name") and the OIDC issuer that vouched for
it in an extension (``1.3.6.1.4.1.57264.1.8``, a DER UTF8String, or the older
``…1.1``, raw bytes). GitHub Actions certificates add the workflow claims (``…1.2``-``…1.6``).
What is read becomes a ``signers.Signer``, which ``signers.IdentityPolicy.check`` judges.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from hullcheck.errors import VerificationError
from hullcheck.signers import GITHUB_CLAIMS, Signer

if TYPE_CHECKING:  # cryptography is imported when a certificate is read (CLI start-up time)
    from cryptography import x509

_OID_ISSUER_V1 = "1.3.6.1.4.1.57264.1.1"
_OID_ISSUER_V2 = "1.3.6.1.4.1.57264.1.8"
_OID_OTHERNAME = "1.3.6.1.4.1.57264.1.7"
_MAX_VALUE = 4096  # longer extension values are not identities


def _text(raw: bytes) -> str:
    return raw[:_MAX_VALUE].decode("utf-8", errors="replace")


def _extension_bytes(cert: x509.Certificate, oid: str) -> bytes | None:
    from cryptography import x509

    try:
        value = cert.extensions.get_extension_for_oid(x509.ObjectIdentifier(oid)).value
    except x509.ExtensionNotFound:
        return None
    return value.value if isinstance(value, x509.UnrecognizedExtension) else None


def _issuer(cert: x509.Certificate) -> str:
    """The v2 issuer (DER UTF8String) when present, else the v1 one (raw bytes), as cosign."""
    from cryptography.hazmat import asn1

    v2 = _extension_bytes(cert, _OID_ISSUER_V2)
    if v2 is not None:
        try:
            return asn1.decode_der(str, v2)[:_MAX_VALUE]
        except ValueError:
            raise VerificationError("certificate's OIDC issuer extension is not a UTF8String") from None
    v1 = _extension_bytes(cert, _OID_ISSUER_V1)
    return _text(v1) if v1 is not None else ""


def _sans(cert: x509.Certificate) -> tuple[str, ...]:
    from cryptography import x509
    from cryptography.hazmat import asn1

    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return ()
    except ValueError:  # a SAN that cryptography cannot parse
        raise VerificationError("certificate's subject alternative name is malformed") from None
    found = [*san.get_values_for_type(x509.RFC822Name),
             *san.get_values_for_type(x509.UniformResourceIdentifier)]
    for other in san.get_values_for_type(x509.OtherName):
        if other.type_id.dotted_string == _OID_OTHERNAME:
            try:
                found.append(asn1.decode_der(str, other.value))
            except ValueError:
                found.append(_text(other.value))
    return tuple(s[:_MAX_VALUE] for s in found)


def signer_of(cert: x509.Certificate) -> Signer:
    """The identity a certificate carries (not yet checked against anything)."""
    github = []
    for name, oid in GITHUB_CLAIMS.items():
        raw = _extension_bytes(cert, oid)
        if raw is not None:
            github.append((name, _text(raw)))
    return Signer(identities=_sans(cert), issuer=_issuer(cert), github=tuple(github))
