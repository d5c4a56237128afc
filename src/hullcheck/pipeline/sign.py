"""Signatures (cosign-compatible): keys, signing an image, verifying its signatures and
attestations with a public key or keylessly (``signers.Keyless``: Fulcio certificates, Rekor
entries, Sigstore bundles), a bundle file on its own. Making attestations, which may scan the
image first, is ``attest``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from hullcheck import untrusted
from hullcheck.errors import UsageError
from hullcheck.image import PullOptions
from hullcheck.signers import Keyless

if TYPE_CHECKING:
    from hullcheck.sign.cosign import Attached, VerifiedAttestation, VerifiedSignature
    from hullcheck.sign.keyless import KeylessAttestation, KeylessSignature
    from hullcheck.sign.store import Target
    from hullcheck.sign.trustroot import TrustRoot

_T = TypeVar("_T")
# Asks for a key's password (getpass); None where there is no terminal to ask at.
Prompt = Callable[[str], str]


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyPair:
    private: Path  # PREFIX.key, cosign-encrypted
    public: Path  # PREFIX.pub
    fingerprint: str


def generate_key_pair(prefix: Path, prompt: Prompt | None) -> KeyPair:
    """A new ECDSA P-256 pair written to PREFIX.key and PREFIX.pub (never over a file); the
    password from COSIGN_PASSWORD, HULLCHECK_PASSWORD, else asked twice."""
    from hullcheck.sign import keys

    source = keys.password_source(prompt=prompt, confirm=True)
    key = keys.generate()
    private, public = keys.write_key_pair(prefix, key, source())
    return KeyPair(private=private, public=public, fingerprint=key.public.fingerprint)


def attestation_type(name: str, *, sbom: bool = False, scan: bool = False) -> str:
    """The predicate type URI for a cosign ``--type`` name or a URI; ``sbom`` and ``scan``
    make their own predicate, so they need its type."""
    from hullcheck.sign import intoto

    ptype = intoto.predicate_type(name)
    if sbom and ptype not in intoto.SBOM_FORMATS:
        raise UsageError("--sbom makes a CycloneDX or SPDX predicate: use it with --type "
                         "cyclonedx, spdx or spdxjson")
    if scan and ptype != intoto.PREDICATE_TYPES["vuln"]:
        raise UsageError("--scan makes a vulnerability predicate: use it with --type vuln")
    return ptype


@dataclass(frozen=True, slots=True, kw_only=True)
class SignRequest:
    image: str  # a registry reference or oci:DIR[:TAG]
    key: Path  # private key: cosign-encrypted or PKCS#8 PEM
    prompt: Prompt | None = None  # asked only for an encrypted key without a password variable
    pull: PullOptions = field(default_factory=PullOptions)
    annotations: tuple[tuple[str, str], ...] = ()
    bundle: bool = False  # also attach a cosign 3 Sigstore bundle through the referrers API


def with_target(image: str, pull: PullOptions, action: Callable[[Target], _T]) -> _T:
    """Run ``action(target)`` on the resolved image, closing the registry client after."""
    from hullcheck.image import split_source
    from hullcheck.sign.store import open_target

    if split_source(image)[0] != "registry":
        return action(open_target(image))
    from hullcheck.image.remote import make_client

    with make_client(pull) as client:
        return action(open_target(image, client=client))


def sign_image(req: SignRequest) -> Attached:
    from hullcheck.sign import cosign, keys

    # The key is read before any network traffic.
    key = keys.read_private_key(req.key, keys.password_source(prompt=req.prompt))
    return with_target(req.image, req.pull, lambda t: cosign.sign_image(
        t, key, annotations=dict(req.annotations), bundle=req.bundle))


def trust_root(keyless: Keyless) -> TrustRoot:
    """The Sigstore trust material ``keyless`` names (its file, else the production root,
    refreshed through TUF when ``keyless.refresh``); read before any registry is asked."""
    from hullcheck.sign import trustroot

    return trustroot.load(keyless.trusted_root, refresh=keyless.refresh)


def verify_image(image: str, public_key: Path | Keyless,
                 pull: PullOptions | None = None) -> VerifiedSignature:
    """A signature of ``image`` by the key in ``public_key``, or keyless by one of its
    identities (``signers.Keyless``)."""
    from hullcheck.sign import cosign, keys

    if isinstance(public_key, Keyless):
        from hullcheck.sign import keyless

        root, accepted = trust_root(public_key), public_key  # the root: before any network
        return with_target(image, pull or PullOptions(),
                           lambda t: keyless.verify_image(t, accepted, root))
    key = keys.read_public_key(public_key)
    return with_target(image, pull or PullOptions(), lambda t: cosign.verify_image(t, key))


def verify_bundle(bundle: Path, digest: str, accepted: Keyless, *, attestation: bool = False,
                  predicate_type: str | None = None) -> KeylessSignature | KeylessAttestation:
    """A keyless Sigstore bundle file that signs (or attests to) the image ``digest``; no
    registry is contacted."""
    from hullcheck.digest import parse_digest
    from hullcheck.errors import InputError
    from hullcheck.sign import keyless, sigstore_bundle

    algo, _ = parse_digest(digest, what="--digest")
    if algo != "sha256":
        raise UsageError(f"--digest {digest}: image digests are sha256")
    root = trust_root(accepted)
    data = untrusted.read_file(bundle, what="bundle", limit=sigstore_bundle.MAX_BUNDLE,
                               error=InputError)
    what = f"bundle {bundle}"
    if attestation:
        return keyless.verify_bundle_attestation(data, digest, accepted, root, what=what,
                                                 predicate_type=predicate_type)
    return keyless.verify_bundle_signature(data, digest, accepted, root, what=what)


def verify_attestation(
    image: str, public_key: Path | Keyless, predicate_type: str | None = None,
    pull: PullOptions | None = None
) -> tuple[VerifiedAttestation, ...]:
    from hullcheck.sign import cosign, keys

    if isinstance(public_key, Keyless):
        from hullcheck.sign import keyless

        root, accepted = trust_root(public_key), public_key
        return with_target(image, pull or PullOptions(), lambda t: keyless.verify_attestations(
            t, accepted, root, predicate_type))
    key = keys.read_public_key(public_key)
    return with_target(image, pull or PullOptions(),
                       lambda t: cosign.verify_attestations(t, key, predicate_type))
