"""Real-format but fake secrets, generated per test run (nothing secret-looking is checked in)."""

from __future__ import annotations

import base64
import json
import random
import string

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

ALNUM = string.ascii_letters + string.digits
B64 = ALNUM + "+/"


def rand(alphabet: str, n: int, seed: int = 0) -> str:
    rng = random.Random(f"{seed}-{alphabet}-{n}")
    return "".join(rng.choice(alphabet) for _ in range(n))


def aws_key_id(seed: int = 0) -> str:
    return "AKIA" + rand(string.ascii_uppercase + "234567", 16, seed)


def aws_secret(seed: int = 0) -> str:
    return rand(B64, 40, seed)


def pem_private_key() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption()).decode()


def openssh_private_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption()).decode()


def public_key_pem() -> str:
    key = ec.generate_private_key(ec.SECP256R1())
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def jwt(seed: int = 0) -> str:
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    payload = b64url(json.dumps({"sub": rand(ALNUM, 12, seed), "iat": 1700000000}).encode())
    return f"{header}.{payload}.{rand(ALNUM + '-_', 43, seed)}"
