"""Keys: cosign's encrypted format (real vectors), PKCS#8, wrong passwords, bad files, curves."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa, x25519
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed

from hullcheck.errors import InputError, UsageError, VerificationError
from hullcheck.sign import keys

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sign"
# go-securesystemslib encrypted/encrypted_test.go TestDecrypt: "reallyimportant" under "supersecret".
GO_VECTOR = (
    b'{"kdf":{"name":"scrypt","params":{"N":32768,"r":8,"p":1},"salt":"N9a7x5JFGbrtB2uBR81jPwp0eiLR4A7FV3mjVAQrg1g="},'
    b'"cipher":{"name":"nacl/secretbox","nonce":"2h8HxMmgRfuYdpswZBQaU3xJ1nkA/5Ik"},'
    b'"ciphertext":"SEW6sUh0jf2wfdjJGPNS9+bkk2uB+Cxamf32zR8XkQ=="}'
)


def _pem_body(pem: bytes) -> bytes:
    return base64.b64decode(b"".join(pem.strip().splitlines()[1:-1]))


def test_cosign_vector_loads_with_empty_password() -> None:
    key = keys.read_private_key(FIXTURES / "empty-password.key", lambda: b"")
    pub = keys.read_public_key(FIXTURES / "empty-password.pub")
    assert key.public.fingerprint == pub.fingerprint
    pub.verify(key.sign(b"payload"), b"payload", what="round trip")


def test_cosign_vector_refuses_other_password() -> None:
    with pytest.raises(InputError, match="wrong password"):
        keys.read_private_key(FIXTURES / "empty-password.key", lambda: b"not-empty")


def test_go_securesystemslib_vector_decrypts() -> None:
    assert keys.decrypt_pkcs8(GO_VECTOR, b"supersecret", what="vector") == b"reallyimportant"


def test_generated_key_has_cosigns_layout_and_round_trips() -> None:
    key = keys.generate()
    pem = keys.encrypted_private_pem(key, b"pw")
    lines = pem.decode().splitlines()
    assert lines[0] == "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----"
    assert lines[-1] == "-----END ENCRYPTED SIGSTORE PRIVATE KEY-----"
    assert all(len(line) == 64 for line in lines[1:-2])  # Go's pem line width
    doc = json.loads(_pem_body(pem))
    assert list(doc) == ["kdf", "cipher", "ciphertext"]
    assert doc["kdf"]["params"] == {"N": 32768, "r": 8, "p": 1}
    assert list(doc["kdf"]) == ["name", "params", "salt"] and doc["cipher"]["name"] == "nacl/secretbox"
    assert len(base64.b64decode(doc["kdf"]["salt"])) == 32
    assert len(base64.b64decode(doc["cipher"]["nonce"])) == 24
    loaded = keys.load_private_key(pem, lambda: b"pw")
    assert loaded.public.fingerprint == key.public.fingerprint


def test_unsupported_scrypt_parameters_refused_before_scrypt() -> None:
    doc = json.loads(GO_VECTOR)
    doc["kdf"]["params"] = {"N": 1 << 30, "r": 8, "p": 1}
    with pytest.raises(InputError, match="unsupported scrypt parameters"):
        keys.decrypt_pkcs8(json.dumps(doc).encode(), b"supersecret", what="hostile")


def test_unencrypted_pkcs8_loads_without_asking_for_a_password() -> None:
    raw = ec.generate_private_key(ec.SECP256R1())
    pem = raw.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    def no_password() -> bytes:
        raise AssertionError("password asked for an unencrypted key")

    key = keys.load_private_key(pem, no_password)
    assert key.public.der == raw.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize(
    ("make", "name"),
    [
        (lambda: ec.generate_private_key(ec.SECP384R1()), "secp384r1"),
        (ed25519.Ed25519PrivateKey.generate, "Ed25519"),
    ],
)
def test_unsupported_curves_are_refused(make: object, name: str) -> None:
    raw = make()  # type: ignore[operator]
    pem = raw.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(InputError, match=f"unsupported key type .*{name}.*P-256"):
        keys.load_private_key(pem, lambda: b"")
    pub = raw.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(InputError, match="unsupported key type"):
        keys.load_public_key(pub)


def test_corrupted_pem_is_one_clear_error() -> None:
    good = (FIXTURES / "empty-password.key").read_bytes()
    broken = good.replace(b"eyJrZGYi", b"ey!!ZGYi", 1)
    with pytest.raises(InputError, match="corrupted PEM block"):
        keys.load_private_key(broken, lambda: b"")
    with pytest.raises(InputError, match="not a PEM file"):
        keys.load_private_key(b"hello", lambda: b"")
    truncated = _pem_body(good)[:100]
    with pytest.raises(InputError, match="corrupted encrypted key"):
        keys.load_private_key(keys._pem(keys.SIGSTORE_PEM_TYPE, truncated), lambda: b"")


def test_public_key_file_given_a_private_key() -> None:
    with pytest.raises(InputError, match="this is a private key"):
        keys.read_public_key(FIXTURES / "empty-password.key")


def test_password_order_cosign_then_hullcheck_then_prompt() -> None:
    assert keys.password_source(env={"COSIGN_PASSWORD": "", "HULLCHECK_PASSWORD": "h"})() == b""
    assert keys.password_source(env={"HULLCHECK_PASSWORD": "h"})() == b"h"
    assert keys.password_source(env={}, prompt=lambda _: "typed")() == b"typed"
    with pytest.raises(UsageError, match="no terminal"):
        keys.password_source(env={})()
    answers = iter(["a", "b"])
    with pytest.raises(UsageError, match="differ"):
        keys.password_source(env={}, prompt=lambda _: next(answers), confirm=True)()


def test_write_key_pair_refuses_to_overwrite(tmp_path: Path) -> None:
    key = keys.generate()
    priv, pub = keys.write_key_pair(tmp_path / "k", key, b"pw")
    assert priv.stat().st_mode & 0o777 == 0o600
    assert keys.read_public_key(pub).fingerprint == key.public.fingerprint
    before = priv.read_bytes()
    with pytest.raises(UsageError, match="already exists"):
        keys.write_key_pair(tmp_path / "k", keys.generate(), b"pw")
    assert priv.read_bytes() == before


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda: ec.generate_private_key(ec.SECP384R1()), "ECDSA secp384r1"),
        (lambda: rsa.generate_private_key(public_exponent=65537, key_size=1024), "RSA-1024"),
        (ed25519.Ed25519PrivateKey.generate, "Ed25519"),
        (ed448.Ed448PrivateKey.generate, "Ed448"),
        (x25519.X25519PrivateKey.generate, "X25519PrivateKey"),
    ],
)
def test_each_unsupported_key_type_is_named_exactly(make: object, kind: str) -> None:
    raw = make()  # type: ignore[operator]
    with pytest.raises(InputError) as caught:
        keys.SigningKey.from_key(raw, what="key k.key")
    assert str(caught.value) == (f"key k.key: unsupported key type {kind}; "
                                 "hullcheck uses ECDSA P-256 (secp256r1) keys")
    assert caught.value.hint == "generate one with 'hullcheck key generate' or 'cosign generate-key-pair'"
    with pytest.raises(InputError) as public:
        keys.PublicKey.from_key(raw.public_key(), what="key k.pub")
    assert str(public.value) == str(caught.value).replace("k.key", "k.pub").replace(
        "X25519PrivateKey", "X25519PublicKey")


def test_a_digest_signed_by_another_key_names_the_key() -> None:
    import hashlib

    signer, other = keys.generate(), keys.generate()
    digest = hashlib.sha256(b"payload").digest()
    signature = signer.key.sign(digest, ec.ECDSA(Prehashed(hashes.SHA256())))
    signer.public.verify_digest(signature, digest, what="bundle b")
    with pytest.raises(VerificationError) as caught:
        other.public.verify_digest(signature, digest, what="bundle b")
    assert str(caught.value) == (f"bundle b: signature invalid for key {other.public.fingerprint} "
                                 "(signed with another key, or the signed bytes were modified)")


def test_odd_key_derivation_names_are_quoted_shortened() -> None:
    body = json.dumps({"kdf": {"name": "x" * 100}, "cipher": {"name": "nacl/secretbox"}}).encode()
    with pytest.raises(InputError) as caught:
        keys.decrypt_pkcs8(body, b"", what="key k.key")
    assert str(caught.value) == "key k.key: unsupported key derivation " + repr("x" * 100)[:40]


@pytest.mark.parametrize("existing", ["k.key", "k.pub", "dangling"])
def test_write_key_pair_touches_nothing_when_either_file_is_there(tmp_path: Path, existing: str) -> None:
    if existing == "dangling":
        (tmp_path / "k.key").symlink_to(tmp_path / "nowhere")
    else:
        (tmp_path / existing).write_text("old")
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UsageError) as caught:
        keys.write_key_pair(tmp_path / "k", keys.generate(), b"pw")
    assert str(caught.value).endswith(" already exists; refusing to overwrite it")
    assert caught.value.hint == "choose another --output-prefix or move the old key away"
    assert sorted(p.name for p in tmp_path.iterdir()) == before
    assert not (tmp_path / "nowhere").exists()


def test_write_key_pair_modes_and_a_missing_directory(tmp_path: Path) -> None:
    import os

    umask = os.umask(0o022)  # the usual one; the modes asked for show through it
    try:
        priv, pub = keys.write_key_pair(tmp_path / "k", keys.generate(), b"pw")
    finally:
        os.umask(umask)
    assert (priv.stat().st_mode & 0o777, pub.stat().st_mode & 0o777) == (0o600, 0o644)
    with pytest.raises(InputError) as caught:
        keys.write_key_pair(tmp_path / "missing" / "k", keys.generate(), b"pw")
    assert str(caught.value) == f"cannot write {tmp_path / 'missing' / 'k.key'}: No such file or directory"


def test_the_password_prompts_and_their_refusals_word_for_word() -> None:
    asked: list[str] = []

    def prompt(text: str) -> str:
        asked.append(text)
        return "same"

    assert keys.password_source(env={}, prompt=prompt)() == b"same"
    assert asked == ["Enter password for private key: "]  # once, unless asked to confirm
    asked.clear()
    assert keys.password_source(env={}, prompt=prompt, confirm=True)() == b"same"
    assert asked == ["Enter password for private key: ", "Enter password for private key again: "]
    with pytest.raises(UsageError) as none:
        keys.password_source(env={})()
    assert str(none.value) == "a key password is needed and there is no terminal to ask for it"
    assert none.value.hint == "set COSIGN_PASSWORD (or HULLCHECK_PASSWORD) in the environment"
    answers = iter(["a", "b"])
    with pytest.raises(UsageError) as differ:
        keys.password_source(env={}, prompt=lambda _: next(answers), confirm=True)()
    assert str(differ.value) == "the two passwords differ"


def _pem(kind: str, der: bytes) -> bytes:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN {kind}-----\n{body}-----END {kind}-----\n".encode()


def test_public_key_files_each_refusal_word_for_word() -> None:
    raw = ec.generate_private_key(ec.SECP384R1())
    cert_pem = _self_signed(raw)
    cases = [
        (_pem("PUBLIC KEY", b"\x30\x03junk"), "k.pub: corrupted PUBLIC KEY PEM"),
        (_pem("CERTIFICATE", b"\x30\x03junk"), "k.pub: corrupted CERTIFICATE PEM"),
        (_pem("EC PRIVATE KEY", b"x"), "k.pub: this is a private key; pass the public key (.pub)"),
        (_pem("ENCRYPTED SIGSTORE PRIVATE KEY", b"x"),
         "k.pub: this is a private key; pass the public key (.pub)"),
        (_pem("SOMETHING ELSE", b"x"), "k.pub: no PUBLIC KEY block in the PEM file"),
        (raw.public_key().public_bytes(serialization.Encoding.PEM,
                                       serialization.PublicFormat.SubjectPublicKeyInfo),
         "k.pub: unsupported key type ECDSA secp384r1; hullcheck uses ECDSA P-256 (secp256r1) keys"),
        (cert_pem,
         "k.pub: unsupported key type ECDSA secp384r1; hullcheck uses ECDSA P-256 (secp256r1) keys"),
    ]
    for pem, message in cases:
        with pytest.raises(InputError) as caught:
            keys.load_public_key(pem, what="k.pub")
        assert str(caught.value) == message
    with pytest.raises(InputError) as default:
        keys.load_public_key(_pem("SOMETHING ELSE", b"x"))
    assert str(default.value) == "public key: no PUBLIC KEY block in the PEM file"


def _self_signed(key: ec.EllipticCurvePrivateKey) -> bytes:
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "t")])
    now = datetime.now(UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(1).not_valid_before(now)
            .not_valid_after(now + timedelta(days=1)).sign(key, hashes.SHA256()))
    return cert.public_bytes(serialization.Encoding.PEM)


def _p256_pem(fmt: serialization.PrivateFormat, encryption: serialization.KeySerializationEncryption
              ) -> tuple[ec.EllipticCurvePrivateKey, bytes]:
    raw = ec.generate_private_key(ec.SECP256R1())
    return raw, raw.private_bytes(serialization.Encoding.PEM, fmt, encryption)


def _der_public(raw: ec.EllipticCurvePrivateKey) -> bytes:
    return raw.public_key().public_bytes(serialization.Encoding.DER,
                                         serialization.PublicFormat.SubjectPublicKeyInfo)


def test_private_keys_in_sec1_and_password_protected_pkcs8_load() -> None:
    raw, sec1 = _p256_pem(serialization.PrivateFormat.TraditionalOpenSSL,
                          serialization.NoEncryption())
    assert b"BEGIN EC PRIVATE KEY" in sec1
    assert keys.load_private_key(sec1, lambda: b"").public.der == _der_public(raw)
    raw, locked = _p256_pem(serialization.PrivateFormat.PKCS8,
                            serialization.BestAvailableEncryption(b"pw"))
    assert b"BEGIN ENCRYPTED PRIVATE KEY" in locked
    assert keys.load_private_key(locked, lambda: b"pw").public.der == _der_public(raw)
    with pytest.raises(InputError) as wrong:
        keys.load_private_key(locked, lambda: b"other", what="k.key")
    assert str(wrong.value) == "k.key: wrong password ENCRYPTED PRIVATE KEY PEM"


def test_private_key_files_each_refusal_word_for_word() -> None:
    corrupted = b"-----BEGIN PRIVATE KEY-----\nMAMCAQA=\n-----END PRIVATE KEY-----\n"
    with pytest.raises(InputError) as caught:
        keys.load_private_key(corrupted, lambda: b"", what="k.key")
    assert str(caught.value) == "k.key: corrupted PRIVATE KEY PEM"
    not_pkcs8 = keys.encrypt_pkcs8(b"not a key", b"pw")
    sealed = (b"-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\n" + base64.encodebytes(not_pkcs8)
              + b"-----END ENCRYPTED SIGSTORE PRIVATE KEY-----\n")
    with pytest.raises(InputError) as caught:
        keys.load_private_key(sealed, lambda: b"pw", what="k.key")
    assert str(caught.value) == "k.key: decrypted key is not a PKCS#8 private key"
    public = b"-----BEGIN PUBLIC KEY-----\nMAMCAQA=\n-----END PUBLIC KEY-----\n"
    with pytest.raises(InputError) as caught:
        keys.load_private_key(public, lambda: b"")
    assert str(caught.value) == "private key: no private key in the PEM file (found PUBLIC KEY)"
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    with pytest.raises(InputError) as caught:
        keys.load_private_key(p384, lambda: b"", what="k.key")
    assert str(caught.value).startswith("k.key: unsupported key type ECDSA secp384r1;")
    with pytest.raises(InputError) as caught:
        keys.SigningKey.from_key(ed25519.Ed25519PrivateKey.generate())
    assert str(caught.value).startswith("private key: unsupported key type Ed25519;")


def test_a_signature_by_another_key_names_the_key() -> None:
    signer, other = keys.generate(), keys.generate()
    signature = signer.sign(b"data")
    signer.public.verify(signature, b"data", what="sig")
    with pytest.raises(VerificationError) as caught:
        other.public.verify(signature, b"data", what="sig")
    assert str(caught.value) == (f"sig: signature invalid for key {other.public.fingerprint} "
                                 "(signed with another key, or the signed bytes were modified)")


def test_a_key_file_that_is_no_pem_is_named() -> None:
    with pytest.raises(InputError) as caught:
        keys.load_private_key(b"junk", lambda: b"", what="k.key")
    assert str(caught.value) == "k.key: not a PEM file (no -----BEGIN ...----- block)"


def test_encrypted_key_fields_with_characters_outside_base64_are_refused() -> None:
    doc = json.loads(keys.encrypt_pkcs8(b"k", b"pw"))
    doc["kdf"]["salt"] = doc["kdf"]["salt"][:4] + "*" + doc["kdf"]["salt"][4:]
    with pytest.raises(InputError) as caught:
        keys.decrypt_pkcs8(json.dumps(doc).encode(), b"pw", what="k.key")
    assert str(caught.value) == "k.key: encrypted key field 'salt' is not base64"


def test_more_refusals_word_for_word() -> None:
    two = (b"-----BEGIN PUBLIC KEY-----\nMAMCAQA=\n-----END PUBLIC KEY-----\n"
           b"-----BEGIN CERTIFICATE-----\nMAMCAQA=\n-----END CERTIFICATE-----\n")
    with pytest.raises(InputError) as caught:
        keys.load_private_key(two, lambda: b"", what="k.key")
    assert str(caught.value) == "k.key: no private key in the PEM file (found PUBLIC KEY, CERTIFICATE)"
    with pytest.raises(InputError) as caught:
        keys.PublicKey.from_key(ed25519.Ed25519PrivateKey.generate().public_key())
    assert str(caught.value).startswith("public key: unsupported key type Ed25519;")
    corrupted = b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nMAMCAQA=\n-----END ENCRYPTED PRIVATE KEY-----\n"
    with pytest.raises(InputError) as caught:
        keys.load_private_key(corrupted, lambda: b"pw", what="k.key")
    assert str(caught.value) == "k.key: corrupted ENCRYPTED PRIVATE KEY PEM"


def test_a_missing_key_file_is_an_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        keys.read_public_key(tmp_path / "none.pub")


# -- refusals of malformed encrypted keys, word for word (the `sign` mutation group's survivors)


def _sealed_pem(body: bytes) -> bytes:
    return keys._pem(keys.SIGSTORE_PEM_TYPE, body)


def test_characters_outside_base64_in_a_pem_body_are_refused_not_skipped() -> None:
    """Four stray characters keep the body's length a multiple of four: a lenient decoder
    would drop them and load the key."""
    good = (FIXTURES / "empty-password.key").read_bytes()
    lines = good.splitlines(keepends=True)
    lines[1] = lines[1][:8] + b"!*!*" + lines[1][8:]
    with pytest.raises(InputError) as caught:
        keys.load_private_key(b"".join(lines), lambda: b"", what="k.key")
    assert str(caught.value) == "k.key: corrupted PEM block 'ENCRYPTED SIGSTORE PRIVATE KEY' (bad base64)"


def _vector(**changes: object) -> bytes:
    """GO_VECTOR with some fields replaced (a path of keys joined by "__"; None removes it)."""
    doc = json.loads(GO_VECTOR)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = doc
        for key in parents:
            node = node[key]
        if value is None:
            del node[last]
        else:
            node[last] = value
    return json.dumps(doc).encode()


@pytest.mark.parametrize(("body", "message"), [
    (_vector(cipher__name="aes-gcm"), "k.key: unsupported cipher 'aes-gcm'"),
    (_vector(cipher="nacl/secretbox"), "k.key: unsupported cipher 'nacl/secretbox'"),
    (_vector(cipher__nonce=base64.b64encode(bytes(23)).decode()),
     "k.key: encrypted key field 'nonce' is 23 bytes, expected 24"),
    (_vector(cipher__nonce=None), "k.key: encrypted key has no 'nonce'"),
    (_vector(ciphertext=None), "k.key: encrypted key has no 'ciphertext'"),
    (_vector(ciphertext="**"), "k.key: encrypted key field 'ciphertext' is not base64"),
])
def test_malformed_encrypted_keys_are_refused_word_for_word(body: bytes, message: str) -> None:
    with pytest.raises(InputError) as caught:
        keys.decrypt_pkcs8(body, b"supersecret", what="k.key")
    assert str(caught.value) == message


def test_a_wrong_password_says_where_the_password_came_from() -> None:
    with pytest.raises(InputError) as caught:
        keys.decrypt_pkcs8(GO_VECTOR, b"not it", what="k.key")
    assert str(caught.value) == "k.key: wrong password (or the encrypted key is corrupted)"
    assert caught.value.hint == ("the password comes from COSIGN_PASSWORD, then HULLCHECK_PASSWORD, "
                                 "else a prompt")


def test_huge_scrypt_parameters_are_quoted_in_at_most_200_characters() -> None:
    n = 10**250
    with pytest.raises(InputError) as caught:
        keys.decrypt_pkcs8(_vector(kdf__params={"N": n, "r": 8, "p": 1}), b"", what="k.key")
    assert str(caught.value) == f"k.key: unsupported scrypt parameters N={n}"[:200]


def test_an_encrypted_key_of_another_curve_is_named_with_the_file() -> None:
    p384 = ec.generate_private_key(ec.SECP384R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    pem = _sealed_pem(keys.encrypt_pkcs8(p384, b"pw"))
    with pytest.raises(InputError) as caught:
        keys.load_private_key(pem, lambda: b"pw", what="k.key")
    assert str(caught.value) == ("k.key: unsupported key type ECDSA secp384r1; "
                                 "hullcheck uses ECDSA P-256 (secp256r1) keys")
