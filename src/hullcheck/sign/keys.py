"""Signing keys: ECDSA P-256, in cosign's encrypted format or plain PKCS#8 PEM.

cosign's private-key file (``cosign generate-key-pair``) is a PEM block of type
``ENCRYPTED SIGSTORE PRIVATE KEY`` (older files: ``ENCRYPTED COSIGN PRIVATE KEY``) whose
body is the JSON document of go-securesystemslib's ``encrypted`` package, written by Go's
``encoding/json`` in this exact field order::

    {"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"<b64, 32 bytes>"},
     "cipher":{"name":"nacl/secretbox","nonce":"<b64, 24 bytes>"},
     "ciphertext":"<b64: secretbox(PKCS#8 DER) = 16-byte Poly1305 tag || XSalsa20 stream>"}

The box key is scrypt(password, salt, N, r, p, 32 bytes). Like the Go package we accept
only the three parameter sets it writes (N = 2^15, 2^16 or 2^17 with r=8, p=1): anything
else is refused before scrypt runs, so a hostile file cannot ask for gigabytes of memory.

The public key is a PKIX ``PUBLIC KEY`` PEM. Only ECDSA P-256 keys are supported (cosign's
default and the only scheme its signature spec requires): P-384, RSA and Ed25519 keys are
refused with a one-line error rather than half-supported.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from hullcheck import untrusted
from hullcheck.errors import InputError, UsageError, VerificationError

SIGSTORE_PEM_TYPE = "ENCRYPTED SIGSTORE PRIVATE KEY"
COSIGN_PEM_TYPE = "ENCRYPTED COSIGN PRIVATE KEY"
ENCRYPTED_TYPES = (SIGSTORE_PEM_TYPE, COSIGN_PEM_TYPE)
PASSWORD_ENV = ("COSIGN_PASSWORD", "HULLCHECK_PASSWORD")

# (N, r, p) that go-securesystemslib writes and reads: legacy, standard, OWASP.
SCRYPT_PARAMS = frozenset({(1 << 15, 8, 1), (1 << 16, 8, 1), (1 << 17, 8, 1)})
DEFAULT_SCRYPT = (1 << 15, 8, 1)
_SALT_SIZE = 32
_NONCE_SIZE = 24
_BOX_KEY_SIZE = 32
MAX_KEY_FILE = 64 * 1024  # a P-256 key PEM is < 1 KiB; a certificate chain fits easily
_PEM_RE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)

PasswordSource = Callable[[], bytes]


def _curve_error(what: str, key: object) -> InputError:
    if isinstance(key, ec.EllipticCurvePublicKey | ec.EllipticCurvePrivateKey):
        kind = f"ECDSA {key.curve.name}"
    elif isinstance(key, rsa.RSAPublicKey | rsa.RSAPrivateKey):
        kind = f"RSA-{key.key_size}"
    elif isinstance(key, ed25519.Ed25519PublicKey | ed25519.Ed25519PrivateKey):
        kind = "Ed25519"
    elif isinstance(key, ed448.Ed448PublicKey | ed448.Ed448PrivateKey):
        kind = "Ed448"
    else:
        kind = type(key).__name__
    return InputError(
        f"{what}: unsupported key type {kind}; hullcheck uses ECDSA P-256 (secp256r1) keys",
        hint="generate one with 'hullcheck key generate' or 'cosign generate-key-pair'",
    )


@dataclass(frozen=True, slots=True, eq=False)
class PublicKey:
    """An ECDSA P-256 verification key."""

    key: ec.EllipticCurvePublicKey
    der: bytes = field(repr=False)  # SubjectPublicKeyInfo DER: what fingerprints hash

    @classmethod
    def from_key(cls, key: object, *, what: str = "public key") -> PublicKey:
        if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
            raise _curve_error(what, key)
        der = key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return cls(key=key, der=der)

    @property
    def fingerprint(self) -> str:
        """``sha256:<hex>`` of the DER public key."""
        return "sha256:" + hashlib.sha256(self.der).hexdigest()

    @property
    def hint(self) -> str:
        """The Sigstore bundle ``publicKey.hint``: base64 of the SHA-256 of the DER key."""
        return base64.b64encode(hashlib.sha256(self.der).digest()).decode("ascii")

    def pem(self) -> bytes:
        return self.key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def verify(self, signature: bytes, data: bytes, *, what: str) -> None:
        """ECDSA-SHA256 over ``data``; VerificationError naming ``what`` when it does not verify."""
        try:
            self.key.verify(signature, data, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            raise VerificationError(
                f"{what}: signature invalid for key {self.fingerprint} "
                "(signed with another key, or the signed bytes were modified)"
            ) from None

    def verify_digest(self, signature: bytes, digest: bytes, *, what: str) -> None:
        """ECDSA over a precomputed SHA-256 digest (Sigstore ``messageSignature``)."""
        try:
            self.key.verify(signature, digest, ec.ECDSA(Prehashed(hashes.SHA256())))
        except (InvalidSignature, ValueError):
            raise VerificationError(
                f"{what}: signature invalid for key {self.fingerprint} "
                "(signed with another key, or the signed bytes were modified)"
            ) from None


@dataclass(frozen=True, slots=True, eq=False)
class SigningKey:
    """An ECDSA P-256 private key and its public half."""

    key: ec.EllipticCurvePrivateKey = field(repr=False)
    public: PublicKey

    @classmethod
    def from_key(cls, key: object, *, what: str = "private key") -> SigningKey:
        if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
            raise _curve_error(what, key)
        return cls(key=key, public=PublicKey.from_key(key.public_key(), what=what))

    def sign(self, data: bytes) -> bytes:
        """ECDSA-SHA256 signature (ASN.1 DER) over ``data``."""
        return self.key.sign(data, ec.ECDSA(hashes.SHA256()))

    def pkcs8(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )


def generate() -> SigningKey:
    return SigningKey.from_key(ec.generate_private_key(ec.SECP256R1()))


# -- PEM ---------------------------------------------------------------------------------


def _pem_blocks(data: bytes, what: str) -> list[tuple[str, bytes]]:
    blocks = []
    for m in _PEM_RE.finditer(data):
        body = b"".join(m.group(2).split())
        try:
            raw = base64.b64decode(body, validate=True)
        except (binascii.Error, ValueError):
            raise InputError(
                f"{what}: corrupted PEM block {m.group(1).decode()!r} (bad base64)"
            ) from None
        blocks.append((m.group(1).decode("ascii"), raw))
    if not blocks:
        raise InputError(f"{what}: not a PEM file (no -----BEGIN ...----- block)")
    return blocks


def _pem(pem_type: str, der: bytes) -> bytes:
    """PEM exactly as Go's ``pem.EncodeToMemory`` writes it: 64-character lines."""
    b64 = base64.b64encode(der).decode("ascii")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return (
        f"-----BEGIN {pem_type}-----\n"
        + "".join(f"{line}\n" for line in lines)
        + f"-----END {pem_type}-----\n"
    ).encode("ascii")


def _read(path: Path, what: str) -> bytes:
    # Capped while reading: a FIFO or /dev/zero given as --key stops at the cap.
    return untrusted.read_file(path, what=what, limit=MAX_KEY_FILE, error=InputError)


# -- cosign's encrypted format -------------------------------------------------------------


def _box_key(password: bytes, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(
        password, salt=salt, n=n, r=r, p=p, maxmem=256 * 1024 * 1024, dklen=_BOX_KEY_SIZE
    )


def encrypt_pkcs8(
    pkcs8: bytes, password: bytes, *, params: tuple[int, int, int] = DEFAULT_SCRYPT
) -> bytes:
    """The JSON body of an encrypted key, field for field as go-securesystemslib writes it."""
    from nacl.secret import SecretBox

    if params not in SCRYPT_PARAMS:
        raise ValueError(f"unsupported scrypt parameters {params}")
    n, r, p = params
    salt = secrets.token_bytes(_SALT_SIZE)
    nonce = secrets.token_bytes(_NONCE_SIZE)
    box = SecretBox(_box_key(password, salt, n, r, p))
    sealed = box.encrypt(pkcs8, nonce).ciphertext
    salt_b64, nonce_b64, sealed_b64 = (base64.b64encode(x).decode() for x in (salt, nonce, sealed))
    doc = (
        f'{{"kdf":{{"name":"scrypt","params":{{"N":{n},"r":{r},"p":{p}}},"salt":"{salt_b64}"}},'
        f'"cipher":{{"name":"nacl/secretbox","nonce":"{nonce_b64}"}},"ciphertext":"{sealed_b64}"}}'
    )
    return doc.encode("ascii")


def _b64_field(obj: Mapping[str, object], key: str, what: str, size: int | None = None) -> bytes:
    value = obj.get(key)
    if not isinstance(value, str):
        raise InputError(f"{what}: encrypted key has no {key!r}")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"{what}: encrypted key field {key!r} is not base64") from None
    if size is not None and len(raw) != size:
        raise InputError(f"{what}: encrypted key field {key!r} is {len(raw)} bytes, expected {size}")
    return raw


def _short(value: object) -> str:
    return repr(value)[:40]


def _scrypt_params(kdf: Mapping[str, object], what: str) -> tuple[int, int, int]:
    """(N, r, p) when they are one of the sets go-securesystemslib writes; InputError before
    scrypt runs otherwise. Only exact integers: 32768.0 equals 32768 (and True equals 1), so
    it would pass the set lookup and fail inside scrypt; Go's decoder refuses it too."""
    params = kdf.get("params")
    if not isinstance(params, dict):
        raise InputError(f"{what}: encrypted key has no scrypt 'params' object")
    n, r, p = (params.get(k) for k in ("N", "r", "p"))
    if type(n) is not int or type(r) is not int or type(p) is not int:
        raise InputError(
            f"{what}: scrypt parameters must be integers (N={_short(n)}, r={_short(r)}, "
            f"p={_short(p)})"
        )
    if (n, r, p) not in SCRYPT_PARAMS:
        raise InputError(f"{what}: unsupported scrypt parameters N={n}, r={r}, p={p}"[:200])
    return n, r, p


def decrypt_pkcs8(body: bytes, password: bytes, *, what: str) -> bytes:
    """The PKCS#8 DER inside an encrypted key; InputError for a wrong password or a bad file."""
    from nacl.exceptions import CryptoError
    from nacl.secret import SecretBox

    doc = untrusted.json_object(body, what=f"{what}: corrupted encrypted key", error=InputError)
    kdf, cipher = doc.get("kdf"), doc.get("cipher")
    if not isinstance(kdf, dict) or kdf.get("name") != "scrypt":
        name = kdf.get("name") if isinstance(kdf, dict) else kdf
        raise InputError(f"{what}: unsupported key derivation {_short(name)}")
    if not isinstance(cipher, dict) or cipher.get("name") != "nacl/secretbox":
        name = cipher.get("name") if isinstance(cipher, dict) else cipher
        raise InputError(f"{what}: unsupported cipher {_short(name)}")
    n, r, p = _scrypt_params(kdf, what)
    salt = _b64_field(kdf, "salt", what)
    nonce = _b64_field(cipher, "nonce", what, _NONCE_SIZE)
    sealed = _b64_field(doc, "ciphertext", what)
    try:
        return SecretBox(_box_key(password, salt, n, r, p)).decrypt(sealed, nonce)
    except CryptoError:
        raise InputError(
            f"{what}: wrong password (or the encrypted key is corrupted)",
            hint="the password comes from COSIGN_PASSWORD, then HULLCHECK_PASSWORD, else a prompt",
        ) from None


def encrypted_private_pem(key: SigningKey, password: bytes) -> bytes:
    """``ENCRYPTED SIGSTORE PRIVATE KEY`` PEM, as ``cosign generate-key-pair`` writes it."""
    return _pem(SIGSTORE_PEM_TYPE, encrypt_pkcs8(key.pkcs8(), password))


# -- loading -------------------------------------------------------------------------------


def load_private_key(data: bytes, password: PasswordSource, *, what: str = "private key") -> SigningKey:
    """A signing key from a cosign-encrypted PEM or a PKCS#8 / SEC1 PEM.

    ``password`` is only called for encrypted keys.
    """
    for pem_type, der in _pem_blocks(data, what):
        if pem_type in ENCRYPTED_TYPES:
            pkcs8 = decrypt_pkcs8(der, password(), what=what)
            try:
                key = serialization.load_der_private_key(pkcs8, password=None)
            except (ValueError, UnsupportedAlgorithm):
                raise InputError(f"{what}: decrypted key is not a PKCS#8 private key") from None
            return SigningKey.from_key(key, what=what)
        if pem_type in ("PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"):
            secret = password() if pem_type == "ENCRYPTED PRIVATE KEY" else None
            try:
                key = serialization.load_der_private_key(der, password=secret)
            except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
                reason = (
                    "wrong password"
                    if secret is not None and "password" in str(exc).lower()
                    else "corrupted"
                )
                raise InputError(f"{what}: {reason} {pem_type} PEM") from None
            return SigningKey.from_key(key, what=what)
    types = ", ".join(t for t, _ in _pem_blocks(data, what))
    raise InputError(f"{what}: no private key in the PEM file (found {types})")


def load_public_key(data: bytes, *, what: str = "public key") -> PublicKey:
    """A verification key from a PKIX ``PUBLIC KEY`` PEM (or a certificate's key)."""
    for pem_type, der in _pem_blocks(data, what):
        if pem_type == "PUBLIC KEY":
            try:
                key = serialization.load_der_public_key(der)
            except (ValueError, UnsupportedAlgorithm):
                raise InputError(f"{what}: corrupted PUBLIC KEY PEM") from None
            return PublicKey.from_key(key, what=what)
        if pem_type == "CERTIFICATE":
            from cryptography import x509

            try:
                cert_key = x509.load_der_x509_certificate(der).public_key()
            except (ValueError, UnsupportedAlgorithm):
                raise InputError(f"{what}: corrupted CERTIFICATE PEM") from None
            return PublicKey.from_key(cert_key, what=what)
        if pem_type in ENCRYPTED_TYPES or pem_type.endswith("PRIVATE KEY"):
            raise InputError(f"{what}: this is a private key; pass the public key (.pub)")
    raise InputError(f"{what}: no PUBLIC KEY block in the PEM file")


def read_private_key(path: Path, password: PasswordSource) -> SigningKey:
    return load_private_key(_read(path, "key file"), password, what=str(path))


def read_public_key(path: Path) -> PublicKey:
    return load_public_key(_read(path, "public key file"), what=str(path))


# -- passwords -----------------------------------------------------------------------------


def password_source(
    *,
    env: Mapping[str, str] | None = None,
    prompt: Callable[[str], str] | None = None,
    confirm: bool = False,
) -> PasswordSource:
    """Where a key password comes from: ``COSIGN_PASSWORD``, then ``HULLCHECK_PASSWORD`` (set
    but empty counts: cosign keys may have an empty password), else ``prompt`` (getpass).
    Never a command-line value. With ``confirm`` the prompt asks twice."""
    environ = os.environ if env is None else env

    def get() -> bytes:
        for name in PASSWORD_ENV:
            if name in environ:
                return environ[name].encode()
        if prompt is None:
            raise UsageError(
                "a key password is needed and there is no terminal to ask for it",
                hint="set COSIGN_PASSWORD (or HULLCHECK_PASSWORD) in the environment",
            )
        first = prompt("Enter password for private key: ")
        if confirm and prompt("Enter password for private key again: ") != first:
            raise UsageError("the two passwords differ")
        return first.encode()

    return get


def write_key_pair(prefix: Path, key: SigningKey, password: bytes) -> tuple[Path, Path]:
    """Write PREFIX.key (cosign-encrypted, mode 0600) and PREFIX.pub; never overwrites."""
    priv_path = prefix.with_name(prefix.name + ".key")
    pub_path = prefix.with_name(prefix.name + ".pub")
    for path in (priv_path, pub_path):
        if path.exists() or path.is_symlink():
            raise UsageError(
                f"{path} already exists; refusing to overwrite it",
                hint="choose another --output-prefix or move the old key away",
            )
    private_pem = encrypted_private_pem(key, password)
    try:
        fd = os.open(priv_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"{priv_path} already exists; refusing to overwrite it") from None
    except OSError as exc:
        raise InputError(f"cannot write {priv_path}: {exc.strerror}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(private_pem)
    try:
        fd = os.open(pub_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        priv_path.unlink(missing_ok=True)
        raise InputError(f"cannot write {pub_path}: {exc.strerror or exc}") from None
    with os.fdopen(fd, "wb") as f:
        f.write(key.public.pem())
    return priv_path, pub_path
