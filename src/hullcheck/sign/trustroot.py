"""Sigstore trust material: the Fulcio CAs, Rekor logs, CT logs and timestamp authorities a
keyless signature must chain to, read from a ``trusted_root.json``::

    {"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1",
     "tlogs":[{"baseUrl":"https://rekor.sigstore.dev","hashAlgorithm":"SHA2_256",
               "publicKey":{"rawBytes":"<b64 DER>","keyDetails":"PKIX_ECDSA_P256_SHA_256",
                            "validFor":{"start":"2021-01-12T11:53:27Z"}},
               "logId":{"keyId":"<b64 sha256 of the DER key>"}}],
     "certificateAuthorities":[{"certChain":{"certificates":[{"rawBytes":"<b64 DER>"}, ...]},
                                "validFor":{"start":"...","end":"..."}, ...}],
     "ctlogs":[...same shape as tlogs...], "timestampAuthorities":[...same shape as CAs...]}

``load(path)`` reads a given file. ``load(None)`` is the public-good production root: the
copy sigstore-python keeps in its TUF cache when a refresh succeeded earlier, else the copy
its wheel ships. With ``refresh=True`` (the CLI, unless ``--offline`` or ``HULLCHECK_OFFLINE``)
the cache is first refreshed through Sigstore's TUF repository, at most once a day and for at
most ``REFRESH_SECONDS``; a failure is a note, never an error: offline verification always
works with the shipped or given root. The admission server never refreshes inline.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import importlib.resources
import os
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import load_der_public_key

from hullcheck import deadline, untrusted
from hullcheck.errors import FormatError

if TYPE_CHECKING:
    from sigstore.models import TrustedRoot as SigstoreTrustedRoot
    from sigstore_models.common.v1 import PublicKey as PublicKeyModel
    from sigstore_models.trustroot.v1 import TransparencyLogInstance
    from sigstore_models.trustroot.v1 import TrustedRoot as Model

PRODUCTION_TUF = "https://tuf-repo-cdn.sigstore.dev"
REFRESH_URL = PRODUCTION_TUF  # where a refresh asks (a module variable: tests point it elsewhere)
OFFLINE_ENV = "HULLCHECK_OFFLINE"
REFRESH_SECONDS = 10.0  # a TUF refresh that takes longer is abandoned (the cached root is used)
REFRESH_EVERY = 24 * 3600  # seconds between attempts, successful or not
MAX_TRUSTED_ROOT = 4 << 20  # the production root is 7 KiB

_HASHES: dict[str, hashes.HashAlgorithm] = {
    "PKIX_ECDSA_P256_SHA_256": hashes.SHA256(),
    "PKIX_ECDSA_P384_SHA_384": hashes.SHA384(),
    "PKIX_ECDSA_P521_SHA_512": hashes.SHA512(),
    "PKIX_RSA_PKCS1V15_2048_SHA256": hashes.SHA256(),
    "PKIX_RSA_PKCS1V15_3072_SHA256": hashes.SHA256(),
    "PKIX_RSA_PKCS1V15_4096_SHA256": hashes.SHA256(),
    "PKCS1_RSA_PKCS1V5": hashes.SHA256(),
}

PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey


@dataclass(frozen=True, slots=True, kw_only=True)
class Log:
    """A Rekor transparency log or a certificate-transparency log."""

    log_id: bytes  # the key id: SHA-256 of the DER public key
    url: str
    key: PublicKey = field(repr=False)
    hash_algorithm: hashes.HashAlgorithm | None = field(repr=False)  # None: Ed25519
    start: dt.datetime
    end: dt.datetime | None = None

    def covers(self, when: dt.datetime) -> bool:
        return self.start <= when and (self.end is None or when <= self.end)

    def verifies(self, signature: bytes, data: bytes) -> bool:
        try:
            if isinstance(self.key, ed25519.Ed25519PublicKey):
                self.key.verify(signature, data)
            elif isinstance(self.key, rsa.RSAPublicKey) and self.hash_algorithm is not None:
                self.key.verify(signature, data, padding.PKCS1v15(), self.hash_algorithm)
            elif isinstance(self.key, ec.EllipticCurvePublicKey) and self.hash_algorithm is not None:
                self.key.verify(signature, data, ec.ECDSA(self.hash_algorithm))
            else:
                return False
        except InvalidSignature:
            return False
        return True


@dataclass(frozen=True, slots=True, kw_only=True)
class Authority:
    """A Fulcio CA (or a timestamp authority): its chain, leaf-most first, and when it is
    trusted."""

    certificates: tuple[x509.Certificate, ...] = field(repr=False)
    start: dt.datetime
    end: dt.datetime | None = None

    def covers(self, when: dt.datetime) -> bool:
        return self.start <= when and (self.end is None or when <= self.end)


@dataclass(frozen=True, slots=True, kw_only=True)
class TrustRoot:
    source: str  # for messages: a path, or where the production root came from
    rekor: tuple[Log, ...]
    ct: tuple[Log, ...]
    fulcio: tuple[Authority, ...]
    timestamp_authorities: int
    notes: tuple[str, ...] = ()  # e.g. why a TUF refresh did not happen
    model: Model = field(compare=False, repr=False)  # as parsed, for sigstore-python

    def sigstore(self) -> SigstoreTrustedRoot:
        """The root as sigstore-python's type (bundles only: importing it takes ~1 s, which the
        classic layout does not pay)."""
        from sigstore.models import TrustedRoot as SigstoreTrustedRoot

        return SigstoreTrustedRoot(self.model)

    def rekor_log(self, log_id: bytes) -> Log | None:
        return next((log for log in self.rekor if log.log_id == log_id), None)

    def ct_log(self, log_id: bytes) -> Log | None:
        return next((log for log in self.ct if log.log_id == log_id), None)

    def fulcio_certificates(self, when: dt.datetime) -> list[x509.Certificate]:
        """The CA certificates trusted at ``when`` (a CA retired before then vouches for
        nothing signed then)."""
        return [c for a in self.fulcio if a.covers(when) for c in a.certificates]


# -- parsing ---------------------------------------------------------------------------------


def _log(model: TransparencyLogInstance) -> Log | None:
    """A log whose key hullcheck can use; None for key types it cannot (never trusted)."""
    key_model: PublicKeyModel = model.public_key
    if not key_model.raw_bytes or key_model.valid_for is None:
        return None
    details = key_model.key_details.value
    try:
        key = load_der_public_key(key_model.raw_bytes)
    except (ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey | rsa.RSAPublicKey):
        return None
    algorithm = _HASHES.get(details)
    if algorithm is None and details != "PKIX_ED25519":
        return None
    return Log(log_id=bytes(model.log_id.key_id), url=model.base_url, key=key,
               hash_algorithm=algorithm, start=key_model.valid_for.start,
               end=key_model.valid_for.end)


def parse(data: bytes, *, source: str, notes: tuple[str, ...] = ()) -> TrustRoot:
    """A trust root from ``trusted_root.json`` bytes; FormatError (one line) when malformed."""
    from pydantic import ValidationError
    from sigstore_models.trustroot.v1 import TrustedRoot as Model

    what = f"{source}: Sigstore trusted root"
    untrusted.json_object(data, what=what, error=FormatError)  # size, depth, duplicate keys
    try:
        model = Model.from_json(data)
        fulcio = tuple(
            Authority(certificates=tuple(x509.load_der_x509_certificate(c.raw_bytes)
                                         for c in ca.cert_chain.certificates),
                      start=ca.valid_for.start, end=ca.valid_for.end)
            for ca in model.certificate_authorities)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise FormatError(f"{what}: {where}: {first.get('msg', 'invalid')}") from None
    except ValueError as exc:
        raise FormatError(f"{what}: {exc}") from None
    rekor = tuple(log for m in model.tlogs if (log := _log(m)) is not None)
    ct = tuple(log for m in model.ctlogs if (log := _log(m)) is not None)
    if not fulcio or not rekor:
        raise FormatError(f"{what}: it names no Fulcio certificate authority or no Rekor log "
                          "hullcheck can use")
    return TrustRoot(source=source, rekor=rekor, ct=ct, fulcio=fulcio,
                     timestamp_authorities=len(model.timestamp_authorities), notes=notes,
                     model=model)


def load(path: Path | None = None, *, refresh: bool = False) -> TrustRoot:
    """The given trusted root, or the production one (see the module docstring)."""
    if path is not None:
        data = untrusted.read_file(path, what="trusted root", limit=MAX_TRUSTED_ROOT,
                                   error=FormatError)
        return parse(data, source=str(path))
    notes: tuple[str, ...] = ()
    if refresh and not os.environ.get(OFFLINE_ENV):
        notes = _refresh_if_due(REFRESH_URL)
    cached = _tuf_cache(PRODUCTION_TUF)
    if cached.is_file():
        with contextlib.suppress(OSError, FormatError):
            data = untrusted.read_file(cached, what="trusted root", limit=MAX_TRUSTED_ROOT,
                                       error=FormatError)
            return parse(data, source=f"Sigstore production root (TUF cache {cached})", notes=notes)
    return parse(_embedded(PRODUCTION_TUF), source="Sigstore production root (shipped with "
                 "sigstore-python)", notes=notes)


# -- where sigstore-python keeps the production root ------------------------------------------


def _embedded(url: str) -> bytes:
    """The trusted root sigstore-python's wheel ships for ``url``."""
    resource = importlib.resources.files("sigstore") / "_store" / urllib.parse.quote(url, safe="")
    return (resource / "trusted_root.json").read_bytes()


def _tuf_cache(url: str) -> Path:
    """Where sigstore-python's TUF client stores the targets it verified (its layout)."""
    import platformdirs

    base = Path(platformdirs.user_cache_dir("sigstore-python", "sigstore")) / "tuf"
    return base / urllib.parse.quote(url, safe="") / "trusted_root.json"


def _stamp() -> Path:
    import platformdirs

    return Path(platformdirs.user_cache_dir("hullcheck")) / "sigstore-tuf-attempt"


def _refresh_if_due(url: str) -> tuple[str, ...]:
    """Refresh sigstore-python's TUF cache when the last attempt is a day old; a note when it
    did not work. The attempt runs in a daemon thread so a silent network cannot hold the
    command beyond ``REFRESH_SECONDS`` (nor its deadline)."""
    stamp = _stamp()
    try:
        if time.time() - stamp.stat().st_mtime < REFRESH_EVERY:
            return ()
    except OSError:
        pass  # never tried
    with contextlib.suppress(OSError):
        stamp.parent.mkdir(parents=True, exist_ok=True)
        stamp.touch()
    failure: list[str] = []

    def refresh() -> None:
        from sigstore.models import ClientTrustConfig

        try:
            ClientTrustConfig.from_tuf(url, offline=False)
        except Exception as exc:  # any failure: use the cached root
            cause = exc.__cause__ or exc
            failure.append(" ".join(f"{exc}: {cause}".split())[:200])

    worker = threading.Thread(target=refresh, name="sigstore-tuf-refresh", daemon=True)
    worker.start()
    worker.join(deadline.clamp(REFRESH_SECONDS))
    if worker.is_alive():
        return (f"Sigstore TUF refresh from {url} did not finish in {REFRESH_SECONDS:.0f}s; "
                "using the trusted root already here",)
    if failure:
        return (f"Sigstore TUF refresh from {url} failed ({failure[0]}); using the trusted root "
                "already here",)
    return ()
