"""The one integration point between base trust and the sign room.

``verifier(pull)`` returns the ``SignatureVerifier`` that ``trust.evaluate`` calls for a
source whose trust entry lists public keys: it resolves the base by digest in its registry
and asks ``hullcheck.sign.cosign.verify_image`` (cosign ``.sig`` tag and cosign 3 Sigstore
bundle referrers) whether any of the keys signed exactly that digest.
"""

from __future__ import annotations

from pathlib import Path

from hullcheck.base.trust import SignatureVerifier
from hullcheck.errors import FormatError, HullcheckError, InputError, VerificationError
from hullcheck.image import PullOptions
from hullcheck.registry.reference import Reference


def verifier(pull: PullOptions) -> SignatureVerifier | None:
    """A key-based image signature verifier; None when the sign room is not installed."""
    try:
        from hullcheck.sign import cosign, keys, store
    except ImportError:  # pragma: no cover - the sign room ships with hullcheck
        return None

    def verify(ref: Reference, key_paths: tuple[Path, ...]) -> tuple[str, ...]:
        if ref.digest is None:
            raise VerificationError(f"{ref}: a signature can only be checked for a digest")
        target = store.open_target(f"registry:{ref}", pull=pull)
        if target.digest != ref.digest:
            raise VerificationError(f"{ref}: the registry serves {target.digest}")
        signers: list[str] = []
        reasons: list[str] = []
        for path in key_paths:
            try:
                key = keys.read_public_key(path)
            except InputError as exc:
                raise FormatError(f"trust file key {path}: {exc}", hint=exc.hint) from None
            try:
                verified = cosign.verify_image(target, key)
            except VerificationError as exc:
                reasons.append(str(exc))
                continue
            except HullcheckError as exc:
                reasons.append(f"{path.name}: {exc}")
                continue
            signers.append(f"{path.name} ({verified.key_fingerprint})")
        if not signers:
            raise VerificationError("; ".join(reasons) or f"{ref}: no keys to verify with")
        return tuple(signers)

    return verify
